import Custody
import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

@Suite("firmchain custody verify and trace")
struct CustodyCommandLineTests {
    static func checks(_ r: ProcessResult) throws -> [JSONValue] {
        try JSONReader().parse(Array(r.out.utf8))["checks"]?.arrayValue ?? []
    }

    @Test("custody verify prints numbered checks, exits 0 on a good release and 1 with the failed check named for each ledger tampering")
    func verifyDetectsLedgerTampering() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let good = try runProcess(TestEnv.firmchain, ["custody", "verify", fixture.out])
        #expect(good.status == 0, "\(good.out)\(good.err)")
        #expect(good.out.contains("1. [ok  ] custody.layout.read"), "\(good.out)")
        #expect(good.out.contains("custody evidence agrees with itself (no trust anchor was given: not verified)"), "\(good.out)")
        #expect(try JSONReader().parse(Array(try runProcess(TestEnv.firmchain, ["custody", "verify", fixture.out, "--json"]).stdout))["anchored"] == false)
        let anchored = try runProcess(TestEnv.firmchain, ["custody", "verify", fixture.out, "--owner-key", fixture.out + "/keys/owner.pub.pem"])
        #expect(anchored.out.contains("custody evidence verified"), "\(anchored.out)")
        let json = try runProcess(TestEnv.firmchain, ["custody", "verify", fixture.out, "--json", "--strict", "--owner-key", fixture.out + "/keys/owner.pub.pem"])
        #expect(json.status == 0)
        let doc = try JSONReader().parse(Array(json.out.utf8))
        #expect(doc["media_type"] == .string(VerificationReport.mediaType) && doc["passed"] == true)
        #expect(try Self.checks(json).allSatisfy { $0["id"]?.stringValue?.hasPrefix("custody.") == true && $0["status"] != nil })

        // Ledger lines of the fixture: layout.sign, step.delta, step.manifest, step.sign,
        // step.publish, provenance.sign ×2, ledger.checkpoint.
        let ledgerPath = "custody/ledger.jsonl"
        let rows: [(String, String, ([String]) -> [String])] = [
            ("an edited entry", "custody.ledger.chain", { l in var l = l; l[1] = l[1].replacingOccurrences(of: "step.delta", with: "step.delte"); return l }),
            ("a deleted entry", "custody.ledger.sequence", { l in var l = l; l.remove(at: 2); return l }),
            ("two reordered entries", "custody.ledger.sequence", { l in var l = l; l.swapAt(2, 3); return l }),
            ("an inserted entry", "custody.ledger.chain", { l in var l = l; l.insert(l[1], at: 3); return l }),
            ("a ledger truncated at a line boundary", "custody.ledger.anchor", { l in Array(l.prefix(4)) + [""] }),
            ("a ledger truncated mid-line", "custody.ledger.anchor", { l in Array(l.prefix(7)) + [String(l[7].prefix(50))] }),
        ]
        for (name, failed, apply) in rows {
            let copy = try fixture.copy()
            let path = copy + "/" + ledgerPath
            let lines = String(decoding: try FileIO.read(path), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.count == 9, "the fixture's ledger has 8 entries")
            try Data(apply(lines).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
            let r = try runProcess(TestEnv.firmchain, ["custody", "verify", copy, "--json"])
            #expect(r.status == 1, "\(name): custody verify exited \(r.status)")
            let failedIDs = try Self.checks(r).filter { $0["status"] == "failed" }.compactMap { $0["id"]?.stringValue }
            #expect(failedIDs.contains(failed), "\(name): failed checks were \(failedIDs)")
            let text = try runProcess(TestEnv.firmchain, ["custody", "verify", copy])
            #expect(text.status == 1 && text.out.contains("[FAIL] " + failed) && text.out.contains("FAILED verification"), "\(name): \(text.out)")
        }
    }

    @Test("a link in custody/ replaced by a symbolic link to the same bytes outside the release is refused, naming the link (issue 18)")
    func symlinkedLinkRefused() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let copy = try fixture.copy()
        let outside = try TemporaryDirectory()
        let link = try #require(try FileManager.default.contentsOfDirectory(atPath: copy + "/custody").first { $0.hasSuffix(".link") })
        try FileManager.default.moveItem(atPath: copy + "/custody/" + link, toPath: outside.file(link))
        try FileManager.default.createSymbolicLink(atPath: copy + "/custody/" + link, withDestinationPath: outside.file(link))
        let r = try runProcess(TestEnv.firmchain, ["custody", "verify", copy, "--owner-key", fixture.out + "/keys/owner.pub.pem"])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.out.contains("\(link): skipped, it cannot be read (is a symbolic link inside the release"), "\(r.out)")
    }

    @Test("custody verify without custody evidence exits 66 with custody.no-evidence")
    func verifyNothing() throws {
        let dir = try TemporaryDirectory()
        let r = try runProcess(TestEnv.firmchain, ["custody", "verify", dir.path])
        #expect(r.status == 66)
        #expect(r.err.contains("[custody.no-evidence]"))
    }

    @Test("custody trace walks a delivered delta back through publish, sign, manifest and delta to the input images")
    func traceLineage() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let targets = try FileManager.default.contentsOfDirectory(atPath: fixture.out + "/repository/targets")
        let delta = fixture.out + "/repository/targets/" + targets.first { $0.hasSuffix(".bsdiff") && $0.split(separator: ".")[0].count == 64 }!
        let r = try runProcess(TestEnv.firmchain, ["custody", "trace", delta])
        #expect(r.status == 0, "\(r.err)")
        for expected in ["1. publish: passed on", "2. sign: passed on", "3. manifest: wrote", "4. delta: wrote build/deltas/fw-1.1.0-from-1.0.0.bsdiff",
                         "inputs/fw-1.0.0.bin", "an input: no step produced it", "step.manifest", "provenance: fw-1.1.0-from-1.0.0.bsdiff"] {
            #expect(r.out.contains(expected), "trace lacks \"\(expected)\":\n\(r.out)")
        }
        let sha = try DigestCalculator.file(delta).sha256!
        let j = try runProcess(TestEnv.firmchain, ["custody", "trace", "--release", fixture.out, sha, "--json"])
        #expect(j.status == 0)
        let doc = try JSONReader().parse(Array(j.out.utf8))
        #expect(doc["sha256"]?.stringValue == sha)
        let delivered = doc["lineage"]?.arrayValue?.first { $0["name"]?.stringValue?.hasPrefix("repository/targets/") == true }
        let first = delivered?["produced_by"]?.arrayValue?.first
        #expect(first?["step"] == "publish" && first?["passed_through"] == true)

        let unknown = try runProcess(TestEnv.firmchain, ["custody", "trace", "--release", fixture.out, String(repeating: "ab", count: 32)])
        #expect(unknown.status == 1 && unknown.err.contains("[custody.unknown-artifact]"))
    }

    @Test("custody record --run leaves no link when the step's command fails")
    func failedStep() throws {
        let fixture = try ReleaseFixture()
        try fixture.layout()
        let r = try runProcess(TestEnv.firmchain, ["custody", "record", "--out", fixture.out, "--step", "delta", "--key", fixture.keys["builder"]!,
                                                   "--run", "--product", "keys", "--", "false"])
        #expect(r.status == 1 && r.err.contains("[custody.step-failed]"), "\(r.err)")
        #expect(CustodyStore(out: fixture.out).linkFileNames().isEmpty)
        let bad = try runProcess(TestEnv.firmchain, ["custody", "record", "--out", fixture.out, "--step", "../evil", "--key", fixture.keys["builder"]!])
        #expect(bad.status == 64)
    }

    @Test("keys generate and sign record key.generate and key.sign in the ledger with the key as actor (software and SoftHSM keys)")
    func keyOperationsInLedger() throws {
        let dir = try TemporaryDirectory()
        let out = dir.file("OUT")
        let token = try SoftHSMToken()
        let gen = try runProcess(TestEnv.firmchain, ["keys", "generate", "--token", "pkcs11:token=\(token.label)", "--type", "ecdsa-p256",
                                                     "--label", "release", "--custody", out, "--new-ledger"], environment: token.environment)
        #expect(gen.status == 0, "\(gen.err)")
        let soft = dir.file("dev.pem")
        #expect(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", soft, "--custody", out]).status == 0)
        let file = dir.file("image.bin")
        try Data("firmware".utf8).write(to: URL(fileURLWithPath: file))
        let sign = try runProcess(TestEnv.firmchain, ["sign", "--key", token.uri("release"), "--in", file, "--out", dir.file("image.sig"), "--custody", out],
                                  environment: token.environment)
        #expect(sign.status == 0, "\(sign.err)")
        let entries = try CustodyStore(out: out).ledger.entries()
        #expect(entries.map(\.record.action) == ["key.generate", "key.generate", "key.sign"])
        let export = try runProcess(TestEnv.firmchain, ["keys", "export-public", "--key", token.uri("release"), "--out", dir.file("r.pub.pem")],
                                    environment: token.environment)
        #expect(export.status == 0)
        let hsmKey = try PublicKey(pem: String(contentsOfFile: dir.file("r.pub.pem"), encoding: .utf8))
        let keyid = hsmKey.keyid
        #expect(entries[0].record.actor == keyid && entries[0].record.subjects[0].name.hasPrefix("pkcs11:token=\(token.label)"))
        #expect(!entries[0].record.subjects[0].name.contains("pin"), "no PIN in the ledger")
        #expect(entries[2].record.actor == keyid)
        #expect(entries[2].record.subjects == [LedgerSubject(name: file, sha256: DigestCalculator.sha256Hex(Array("firmware".utf8)))])
    }

    @Test("every single-byte change to a checkpointed ledger fails Ledger.verify, and none crashes it")
    func damagedLedgers() throws {
        let dir = try TemporaryDirectory()
        let signer = try SoftwareSigner(generating: .ecdsaP256)
        let ledger = Ledger(path: dir.file("ledger.jsonl"))
        for i in 0..<6 {
            try ledger.append(LedgerRecord(action: "test.\(i)", actor: signer.publicKey.keyid, subjects: [LedgerSubject(name: "f\(i)", sha256: String(repeating: "a", count: 64))]), now: Date())
        }
        try ledger.checkpoint(signer: signer, now: Date())
        let pristine = try FileIO.read(ledger.path)
        var rng = SeededGenerator(seed: 17)
        var detected = 0
        for _ in 0..<200 {
            var b = pristine
            let i = Int(rng.next() % UInt64(b.count))
            b[i] = b[i] == 0x41 ? 0x42 : 0x41
            try Data(b).write(to: URL(fileURLWithPath: ledger.path))
            let v = try ledger.verify(ring: KeyRing(trusting: [signer.publicKey], for: [.checkpoint]))
            if !v.holds { detected += 1 }
        }
        #expect(detected == 200, "every single-byte change to a checkpointed ledger must fail verification (\(detected)/200)")
    }
}

