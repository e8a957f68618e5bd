import Custody
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport
import Verification

@Suite("firmchain verify beside python-tuf and in-toto-verify (issue 21)")
struct VerifyInteropTests {
    /// python-tuf's client (bootstrapped with the trusted root) downloads every target; true when it accepts.
    static func pythonTUF(_ out: String, root: String, _ scratch: String) throws -> Bool {
        try? FileManager.default.removeItem(atPath: scratch)
        try FileIO.makeDirectories(scratch)
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path
        return try runProcess(TestEnv.python, [script, out + "/repository", root, scratch]).status == 0
    }

    /// in-toto-verify run in OUT with the release's own owner key, as Docs/custody.md shows it; true when it accepts.
    static func inTotoVerify(_ out: String) throws -> Bool {
        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        let r = try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                               currentDirectory: out)
        try? FileManager.default.removeItem(atPath: out + "/delivered.link")
        return r.status == 0
    }

    @Test("the good release is accepted by all three; each change the issue found accepted by the other checkers is refused by firmchain verify")
    func mutationsTheOthersMiss() throws {
        let fx = try Fixture("verify-interop")
        let root = fx.directory.file("trusted-1.root.json")
        try AtomicFile.write(fx.trustedRoot, to: root)
        let verifier = ReleaseVerifier(trust: fx.trust(), now: fx.built.now, baseImages: fx.bases)
        let good = fx.built.release.path
        #expect(try Self.pythonTUF(good, root: root, fx.directory.file("device")))
        #expect(try Self.inTotoVerify(good))
        #expect(verifier.verify(out: good).report.passedStrictly)

        let cases: [(String, (String) throws -> Void)] = [
            ("one of a target's hash-named copies deleted", { out in
                let copy = try FileManager.default.contentsOfDirectory(atPath: out + "/repository/targets").filter { $0.hasSuffix(".fw.bin") }
                    .max { $0.count < $1.count }!   // the sha512 copy
                try FileManager.default.removeItem(atPath: out + "/repository/targets/" + copy)
            }),
            ("a file planted in repository/targets", { out in try AtomicFile.write(Array("evil".utf8), to: out + "/repository/targets/evil.bin") }),
            ("an extra link file the layout does not name", { out in
                let link = try FileManager.default.contentsOfDirectory(atPath: out + "/custody").first { $0.hasPrefix("publish.") }!
                try AtomicFile.write(try FileIO.read(out + "/custody/" + link), to: out + "/custody/publish.00000000.link")
            }),
            ("the SLSA provenance deleted", { out in try FileManager.default.removeItem(atPath: out + "/custody/provenance.intoto.jsonl") }),
            ("well-formed ledger entries appended after the last checkpoint", { out in
                _ = try CustodyStore(out: out).ledger.append([LedgerRecord(action: "step.sign", actor: "someone"),
                                                             LedgerRecord(action: "step.publish", actor: "someone")], now: fx.built.now)
            }),
            ("the owner key replaced inside the release (layout re-signed with it)", { out in
                let attacker = try SoftwareSigner(generating: .ed25519)
                let layout = try SignedLayout(file: out + "/custody/root.layout").layout
                try AtomicFile.write(try layout.signed(by: [attacker]).fileBytes, to: out + "/custody/root.layout")
                try AtomicFile.write(Array(attacker.publicKey.pem.utf8), to: out + "/keys/owner.pub.pem")
            }),
        ]
        var table = ["mutation | python-tuf | in-toto-verify | firmchain verify"]
        for (i, (name, mutate)) in cases.enumerated() {
            let out = fx.directory.file("interop-\(i)")
            #expect(try runProcess("/bin/cp", ["-a", good, out]).status == 0)
            try mutate(out)
            let v = verifier.verify(out: out)
            let tuf = try Self.pythonTUF(out, root: root, fx.directory.file("device-\(i)"))
            let inToto = try Self.inTotoVerify(out)
            #expect(!v.report.passed, "firmchain verify accepted: \(name)")
            let failed = v.report.failures.map(\.id).joined(separator: ", ")
            table.append("\(name) | \(tuf ? "accepts" : "refuses") | \(inToto ? "accepts" : "refuses") | refuses (\(failed))")
        }
        print(table.joined(separator: "\n"))
    }
}
