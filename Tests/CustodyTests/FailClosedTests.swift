import Custody
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// Regression tests for issue 18's trust anchors and secrets (items 3 and 5): each refusal
/// names what would be lost or leaked, exits with its documented code, and changes nothing.
@Suite("Fail closed: trust anchors are never replaced, ledgers never started, secrets never recorded by accident", .serialized)
struct FailClosedTests {

    @Test("keys generate --out refuses to overwrite an existing private key; --force replaces it")
    func keysGenerateRefusesOverwrite() throws {
        let dir = try TemporaryDirectory()
        let key = dir.file("dev.pem")
        #expect(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", key]).status == 0)
        let before = try FileIO.read(key)
        let again = try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", key])
        #expect(again.status == 73 && again.err.contains("[io.would-replace]") && again.err.contains("--force"), "\(again.err)")
        #expect(try FileIO.read(key) == before, "the existing key is untouched")
        #expect(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", key, "--force"]).status == 0)
        #expect(try FileIO.read(key) != before)
    }

    @Test("custody layout refuses to replace root.layout and keys/owner.pub.pem of an existing release")
    func layoutRefusesReplacement() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let before = try TestEnv.fileDigests(under: fixture.out)
        let r = try runProcess(TestEnv.firmchain, ["custody", "layout", "--out", fixture.out, "--owner-key", fixture.keys["mallory"]!,
                                                   "--functionary", "delta=\(fixture.keys["mallory"]!)", "--functionary", "manifest=\(fixture.keys["mallory"]!)",
                                                   "--functionary", "sign=\(fixture.keys["mallory"]!)", "--functionary", "publish=\(fixture.keys["mallory"]!)"])
        #expect(r.status == 73 && r.err.contains("[io.would-replace]") && r.err.contains("custody/root.layout") && r.err.contains("keys/owner.pub.pem"), "\(r.err)")
        #expect(try TestEnv.fileDigests(under: fixture.out) == before)
    }

    @Test("custody checkpoint and custody provenance refuse a key the layout does not name", arguments: ["checkpoint", "provenance"])
    func checkpointRefusesForeignKey(_ command: String) throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let before = try TestEnv.fileDigests(under: fixture.out)
        var args = ["custody", command, "--out", fixture.out, "--key", fixture.keys["mallory"]!]
        if command == "provenance" { args += ["--builder-id", "https://ci.example.com/x"] }
        let r = try runProcess(TestEnv.firmchain, args)
        #expect(r.status == 3 && r.err.contains("[custody.key-not-in-layout]"), "\(r.err)")
        #expect(try TestEnv.fileDigests(under: fixture.out) == before, "the ledger and provenance are unchanged")
    }

    @Test("sign --custody, keys generate --custody and custody record into a mistyped directory start no new ledger")
    func mistypedCustodyDirectory() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let typo = fixture.dir.file("OUTT")
        let file = fixture.dir.file("image.bin")
        try AtomicFile.write(Array("firmware".utf8), to: file)
        let sign = try runProcess(TestEnv.firmchain, ["sign", "--key", fixture.keys["release"]!, "--in", file, "--out", fixture.dir.file("image.sig"), "--custody", typo])
        #expect(sign.status == 66 && sign.err.contains("[custody.no-evidence]") && sign.err.contains("--new-ledger"), "\(sign.err)")
        #expect(!FileManager.default.fileExists(atPath: fixture.dir.file("image.sig")), "nothing was signed")
        let gen = try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", fixture.dir.file("k2.pem"), "--custody", typo])
        #expect(gen.status == 66 && !FileManager.default.fileExists(atPath: fixture.dir.file("k2.pem")), "\(gen.err)")
        let record = try runProcess(TestEnv.firmchain, ["custody", "record", "--out", typo, "--step", "delta", "--key", fixture.keys["builder"]!])
        #expect(record.status == 66 && record.err.contains("[custody.no-evidence]"), "\(record.err)")
        #expect(!FileManager.default.fileExists(atPath: typo))
        // On purpose, a new ledger is one flag away.
        #expect(try runProcess(TestEnv.firmchain, ["sign", "--key", fixture.keys["release"]!, "--in", file, "--out", fixture.dir.file("image.sig"),
                                                   "--custody", typo, "--new-ledger"]).status == 0)
        #expect(try CustodyStore(out: typo).ledger.entries().map(\.record.action) == ["key.sign"])
    }

    @Test("custody record refuses a secret variable in --environment and a PIN's value under any name", arguments: [
        ("FIRMCHAIN_PKCS11_PIN", "4711-secret"), ("DEPLOY_TOKEN", "abc"), ("db_password", "x"), ("BUILD_NOTE", "pin is 4711-secret!"),
    ])
    func recordRefusesSecrets(_ name: String, _ value: String) throws {
        let fixture = try ReleaseFixture()
        try fixture.layout()
        let before = try TestEnv.fileDigests(under: fixture.out)
        let r = try runProcess(TestEnv.firmchain, ["custody", "record", "--out", fixture.out, "--step", "delta", "--key", fixture.keys["builder"]!,
                                                   "--environment", "\(name)=\(value)"],
                               environment: ["FIRMCHAIN_PKCS11_PIN": "4711-secret"])
        #expect(r.status == 2 && r.err.contains("[custody.secret-in-environment]"), "\(r.err)")
        #expect(!r.err.contains(value) && !r.out.contains(value), "the value is never echoed")
        #expect(try TestEnv.fileDigests(under: fixture.out) == before)
        // An ordinary variable is recorded.
        let ok = try runProcess(TestEnv.firmchain, ["custody", "record", "--out", fixture.out, "--step", "delta", "--key", fixture.keys["builder"]!,
                                                    "--environment", "CI_JOB=42"])
        #expect(ok.status == 0, "\(ok.err)")
    }

    @Test("custody trace verifies before it shows: a broken ledger is refused and a link no functionary signed is never shown (issue 18, item 4)")
    func traceShowsOnlyVerifiedEvidence() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let delta = fixture.out + "/build/deltas/fw-1.1.0-from-1.0.0.bsdiff"
        // A link by a key with no role in the layout, under the delta step's name.
        try fixture.firmchain(["custody", "record", "--out", fixture.out, "--step", "delta", "--key", fixture.keys["mallory"]!,
                               "--material", "inputs/evil.bin=\(fixture.inputs)/fw-1.0.0.bin", "--product", "build/deltas"])
        let mallory = try SoftwareSigner(pemFile: fixture.keys["mallory"]!, passphrase: { nil }).publicKey.keyid
        let r = try runProcess(TestEnv.firmchain, ["custody", "trace", delta, "--owner-key", fixture.out + "/keys/owner.pub.pem"])
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.out.contains(String(mallory.prefix(8))) && !r.out.contains("inputs/evil.bin"), "the unauthorised link is not shown: \(r.out)")
        // Without --owner-key the output says where trust came from.
        #expect(try runProcess(TestEnv.firmchain, ["custody", "trace", delta]).err.contains("pass --owner-key"))

        // An edited ledger line: nothing is shown, the failed check is named.
        let ledger = fixture.out + "/custody/ledger.jsonl"
        var lines = String(decoding: try FileIO.read(ledger), as: UTF8.self).components(separatedBy: "\n")
        lines[1] = lines[1].replacingOccurrences(of: "step.delta", with: "step.delte")
        try AtomicFile.write(Array(lines.joined(separator: "\n").utf8), to: ledger)
        let broken = try runProcess(TestEnv.firmchain, ["custody", "trace", delta, "--owner-key", fixture.out + "/keys/owner.pub.pem"])
        #expect(broken.status == 1 && broken.err.contains("[custody.unverified]") && broken.err.contains("custody.ledger"), "\(broken.err)")
        #expect(broken.out.isEmpty)
    }
}
