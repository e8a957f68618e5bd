import FirmchainCore
import Foundation
import Testing

@Suite("Verification reports: one vocabulary, one JSON document, one text rendering")
struct VerificationReportTests {
    static let report = VerificationReport(
        subject: "OUT", referenceTime: Date(timeIntervalSince1970: 1_800_000_000), trust: ["trusted root Keys/1.root.json"],
        checks: [Check("repo.root.trusted", .passed, "signed by its own threshold", subject: "1.root.json"),
                 Check("custody.ledger.coverage", .warning, "two entries not yet covered"),
                 Check("repo.target", .failed, "sha256 does not match", subject: "fw.bin", details: ["copy 3f2a…"])])

    @Test("the JSON document carries its media type, the reference time, every check in order and a summary")
    func json() throws {
        let doc = Self.report.json
        #expect(doc["media_type"] == .string("application/vnd.firmchain.verification+json;version=1"))
        #expect(doc["reference_time"] == "2027-01-15T08:00:00Z")
        #expect(doc["passed"] == false)
        #expect(doc["checks"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["repo.root.trusted", "custody.ledger.coverage", "repo.target"])
        #expect(doc["checks"]?.arrayValue?[2]["subject"] == "fw.bin")
        #expect(doc["summary"]?["failed"] == 1 && doc["summary"]?["warning"] == 1 && doc["summary"]?["passed"] == 1)
        _ = try JSONEncoding.canonical(doc)  // no floats: canonical JSON can encode it
    }

    @Test("the text names where trust came from, numbers every check with its id and ends with the verdict")
    func text() {
        let lines = Self.report.text(verdict: "release").split(separator: "\n").map(String.init)
        #expect(lines.first == "trust: trusted root Keys/1.root.json")
        #expect(lines[1].hasPrefix("1. [ok  ] repo.root.trusted"))
        #expect(lines[2].hasPrefix("2. [warn] custody.ledger.coverage"))
        #expect(lines[3].contains("[FAIL] repo.target") && lines[3].hasSuffix("(fw.bin)"))
        #expect(lines[4] == "      copy 3f2a…")
        #expect(lines.last == "release FAILED verification: 1 passed, 1 failed, 1 warning(s), 0 skipped")
    }

    @Test("a report with no checks, or with a failure, has not passed; a warning fails only the strict reading")
    func verdicts() {
        #expect(!VerificationReport(subject: "x", referenceTime: Date()).passed)
        var r = VerificationReport(subject: "x", referenceTime: Date(), checks: [Check("a.b", .passed, "ok")])
        #expect(r.passed && r.passedStrictly)
        r.append(Check("a.c", .warning, "hm"))
        #expect(r.passed && !r.passedStrictly)
        r.skip(["a.d"], because: "earlier failure")
        #expect(r.check("a.d")?.status == .skipped)
    }
}
