import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport

/// Issue 18, item 10: `repo refresh` keeps a release fresh with only its online keys, records the
/// refresh in custody so every verifier still accepts the release, and refuses a release that
/// does not verify.
@Suite("repo refresh re-signs the timestamp or snapshot of a verified release", .serialized)
struct RepoRefreshTests {
    static func refresh(_ b: ReleaseBuilder.Built, _ args: [String]) throws -> ProcessResult {
        try runProcess(TestEnv.firmchain, ["repo", "refresh", "--out", b.release.path] + args)
    }

    /// python-tuf's client, bootstrapped with the first root, downloads every target.
    static func pythonTUFAccepts(_ b: ReleaseBuilder.Built) throws -> Bool {
        let device = try TemporaryDirectory("refresh-device")
        let r = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                b.release.path + "/repository", b.release.repository.metadataDirectory + "/1.root.json", device.path])
        return r.status == 0 && r.out.contains("\"ok\": true")
    }

    @Test("a timestamp refresh bumps only the timestamp; python-tuf, in-toto-verify and both Firmchain verifiers accept the release, and a run afterwards changes nothing",
          arguments: ["timestamp", "snapshot"])
    func refreshKeepsEveryVerifierHappy(_ role: String) throws {
        // Released an hour ago: the refresh (now) must move the expiry.
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("refresh-\(role)").path, now: Date().addingTimeInterval(-3600)).build()
        let before = try b.release.repository.current()
        let keys = role == "snapshot" ? ["--key", b.keyFiles["snapshot"]!, "--key", b.keyFiles["timestamp"]!] : ["--key", b.keyFiles["timestamp"]!]
        let r = try Self.refresh(b, ["--role", role, "--json"] + keys)
        #expect(r.status == 0, "\(r.err)")
        let after = try b.release.repository.current()
        #expect(after.timestamp.signed.version == before.timestamp.signed.version + 1)
        #expect(after.timestamp.signed.expires > before.timestamp.signed.expires)
        #expect(after.snapshot.signed.version == before.snapshot.signed.version + (role == "snapshot" ? 1 : 0))
        #expect(after.targets.signed == before.targets.signed, "targets are untouched")

        let now = Date()
        let tuf = RepositoryVerifier(store: b.release.repository, now: now).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: now).verify(out: b.release.path)
        #expect(custody.report.passedStrictly, "custody after a refresh: \(custody.report.checks.filter { $0.status != .passed }.map { "\($0.id): \($0.details)" })")
        let actions = try b.release.custody.ledger.entries().map(\.record.action)
        #expect(actions.suffix(2) == ["repo.refresh", "ledger.checkpoint"], "\(actions.suffix(3))")
        #expect(try Self.pythonTUFAccepts(b), "python-tuf refused the refreshed release")
        let inToto = try runProcess(URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path,
                                    ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: b.release.path)
        #expect(inToto.status == 0, "in-toto-verify after a refresh: \(inToto.err.suffix(600))")
        try? FileManager.default.removeItem(atPath: b.release.path + "/delivered.link")

        let rerun = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: now))
        #expect(!rerun.changed, "a run after a refresh has nothing to do: \(rerun.steps)")
    }

    @Test("a refresh of a release holding a planted file, or with a key that is not the role's, is refused and changes nothing",
          arguments: ["planted", "wrong key", "targets role"])
    func refusals(_ kind: String) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("refresh-refused").path).build()
        var args = ["--role", "timestamp", "--key", b.keyFiles["timestamp"]!]
        switch kind {
        case "planted": try AtomicFile.write(Array("planted".utf8), to: b.release.repository.targetsDirectory + "/evil.bin")
        case "wrong key": args = ["--role", "timestamp", "--key", b.keyFiles["snapshot"]!]
        default: args = ["--role", "targets", "--key", b.keyFiles["targets"]!]
        }
        let before = try TestEnv.fileDigests(under: b.release.path)
        let r = try Self.refresh(b, args)
        let expected: (Int32, String) = switch kind {
        case "planted": (1, "[repo.unverified]")
        case "wrong key": (3, "[repo.threshold-not-met]")
        default: (64, "[usage.invalid]")
        }
        #expect(r.status == expected.0 && r.err.contains(expected.1), "\(kind): rc \(r.status), \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
        #expect(try TestEnv.fileDigests(under: b.release.path) == before, "\(kind): the refused refresh changed the release")
    }
}
