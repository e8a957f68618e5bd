import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Testing
import TestSupport

@Suite("Policy and pipeline files")
struct PolicyFileTests {
    private let root = TestEnv.packageRoot.path

    @Test("the example policy and pipeline parse into typed values")
    func examplesParse() throws {
        let policy = try Policy(contentsOf: root + "/Policies/release.yml")
        #expect(policy.roles.timestamp.expiry == 86_400)
        #expect(policy.roles.root.threshold == 2 && policy.roles.root.keys.count == 3, "a 2-of-3 root")
        #expect(policy.encryption?.kinds == [.full, .delta] && policy.encryption?.recipients.count == 3)
        #expect(policy.hardwareClasses.keys.contains("acme-gw-v2"))
        #expect(policy.rollback == .strictlyIncreasing)
        let pipeline = try PipelineSpec(contentsOf: root + "/Pipelines/release.yml", baseDirectory: root)
        #expect(pipeline.steps.map(\.name) == ["delta", "encrypt", "manifest", "sign", "publish"])
        #expect((pipeline.steps[1].step as? EncryptStep)?.recipients.count == 3)
        #expect(pipeline.bases.map(\.version) == ["1.0.0", "1.1.0"])
        #expect(pipeline.versionNumber == 10200)
        #expect((pipeline.steps[0].step as? DeltaStep)?.format == .bsdiff40)
    }

    /// A malformed policy, the line the error must name, and words the message must contain.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let edit: @Sendable (String) -> String
        let line: Int
        let mentions: String
        var code: ErrorCode = .pipelineBadValue
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "wrong type", edit: { $0.replacingOccurrences(of: "threshold: 1\n    expiry_days: 90", with: "threshold: two\n    expiry_days: 90") },
             line: 19, mentions: "roles.targets.threshold: expected a whole number"),
        Case(name: "unknown key", edit: { $0.replacingOccurrences(of: "max_key_age_days: 365", with: "max_key_age_dayz: 365") },
             line: 34, mentions: "max_key_age_dayz: unknown key"),
        Case(name: "missing key", edit: { $0.replacingOccurrences(of: "    threshold: 1\n    expiry_hours: 24", with: "    threshold: 1") },
             line: 26, mentions: "roles.timestamp: give exactly one of expiry_days or expiry_hours"),
        Case(name: "bad YAML", edit: { $0.replacingOccurrences(of: "name: acme-gateway-release", with: "name: [unclosed") },
             line: 7, mentions: "not valid YAML", code: .pipelineBadYAML),
        Case(name: "threshold above the key count", edit: { $0.replacingOccurrences(of: "threshold: 2\n    expiry_days: 365", with: "threshold: 4\n    expiry_days: 365") },
             line: 15, mentions: "must be between 1 and 3"),
        Case(name: "unknown algorithm", edit: { $0.replacingOccurrences(of: "allowed: [ecdsa-p256-sha256,", with: "allowed: [dsa-sha1,") },
             line: 31, mentions: "\"dsa-sha1\" is not one of"),
        Case(name: "unknown schema", edit: { $0.replacingOccurrences(of: "schema: 1", with: "schema: 9") },
             line: 4, mentions: "schema 9 is not supported", code: .pipelineUnknownSchema),
    ]

    @Test("a malformed policy gets one line naming the file, line and problem", arguments: cases)
    func malformedPolicy(_ c: Case) throws {
        let text = try String(contentsOfFile: root + "/Policies/release.yml", encoding: .utf8)
        let edited = c.edit(text)
        try #require(edited != text, "the edit did not apply")
        do {
            _ = try Policy(yaml: edited, path: "Policies/broken.yml")
            Issue.record("accepted a policy with \(c.name)")
        } catch let e as FirmchainError {
            #expect(e.path == "Policies/broken.yml")
            #expect(e.code == c.code, "\(e.code) for \(c.name)")
            #expect(e.reason.hasPrefix("line \(c.line):"), "\(e.reason)")
            #expect(e.reason.contains(c.mentions), "\(e.reason)")
            #expect(!e.description.contains("\n"))
        }
    }

    @Test("a key URI in a policy may not load a module outside the job's allow-list, and a malformed URI names its line (issue 18, items 5 and 13)")
    func policyURIs() throws {
        let text = try String(contentsOfFile: root + "/Policies/release.yml", encoding: .utf8)
        let evil = text.replacingOccurrences(of: "\"pkcs11:token=firmchain-demo;object=targets\"",
                                             with: "\"pkcs11:token=firmchain-demo;object=targets?module-path=/tmp/evil.so\"")
        try #require(evil != text)
        #expect {
            _ = try Policy(yaml: evil, path: "p.yml")
        } throws: { e in
            let e = e as? FirmchainError
            return e?.code == .policyViolation && e?.reason.hasPrefix("line 18: roles.targets.keys[0]: the key URI names module-path=/tmp/evil.so") == true
        }
        #expect(try Policy(yaml: evil, path: "p.yml", allowedModules: ["/tmp/evil.so"]).roles.targets.keys.count == 1, "an allow-listed module is accepted")
        let malformed = text.replacingOccurrences(of: "\"pkcs11:token=firmchain-demo;object=owner\"", with: "\"pkcs11:token=%zz\"")
        #expect {
            _ = try Policy(yaml: malformed, path: "p.yml")
        } throws: { e in
            let e = e as? FirmchainError
            return e?.code == .signingUriMalformed && e?.reason.contains("line 8: owner.keys[0]: the key URI \"pkcs11:token=%zz\"") == true
        }
    }

    @Test("a malformed pipeline names the file, line and key", arguments: [
        ("schema: 1\n", "schema: 2\n", "schema 2 is not supported"),
        ("name: acme-gateway-1.2.0\n", "name: [unclosed\n", "not valid YAML"),
        ("  - sign:\n", "  - sing:\n", "unknown step \"sing\""),
        ("  version_number: 10200\n", "  version_number: -3\n", "release.version_number: must be between 1"),
        ("  priority: high\n", "  priority: urgent\n", "\"urgent\" is not one of"),
        ("      format: bsdiff40\n", "      formats: bsdiff40\n", "unknown key"),
        ("output: .firmchain/demo/release\n", "", "missing required key \"output\""),
        ("      version: 1.1.0\n", "      version: 1.0.0\n", "is listed twice"),
        ("      version: 1.1.0\n", "      version: 1.2.0\n", "is the release itself"),
        ("image: .firmchain/demo/images/fw-1.1.0.bin", "image: .firmchain/demo/images/fw-1.2.0.bin", "the base image is the release image"),
        ("  hardware: [acme-gw-v2]\n", "  hardware: [acme-gw-v2, acme-gw-v2]\n", "listed twice"),
    ])
    func malformedPipeline(_ find: String, _ replace: String, _ mentions: String) throws {
        let text = try String(contentsOfFile: root + "/Pipelines/release.yml", encoding: .utf8)
        let edited = text.replacingOccurrences(of: find, with: replace)
        try #require(edited != text)
        #expect {
            _ = try PipelineSpec(yaml: edited, path: "Pipelines/broken.yml")
        } throws: { error in
            guard let e = error as? FirmchainError else { return false }
            let code: ErrorCode = mentions.contains("schema") ? .pipelineUnknownSchema : mentions.contains("YAML") ? .pipelineBadYAML : .pipelineBadValue
            return e.code == code && e.path == "Pipelines/broken.yml" && e.reason.hasPrefix("line ") && e.reason.contains(mentions)
        }
    }
}
