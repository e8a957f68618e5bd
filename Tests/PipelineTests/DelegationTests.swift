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

/// Issue 19, point 8: a policy delegates one product line's targets (a path pattern and its
/// hardware classes) to that team's keys; the pipeline signs them in the delegated role, python-tuf
/// resolves the delegation, the team cannot sign for another board, and a rotated team key is
/// published by the next run.
@Suite("Delegations per product line", .serialized)
struct DelegationTests {
    static func builder(_ dir: String, team: String = "team", paths: String = "[\"board-a/*\", \"deltas/board-a/*\"]") -> ReleaseBuilder {
        var b = ReleaseBuilder(directory: dir)
        b.targetName = "board-a/fw.bin"
        b.extraKeys = ["team", "team-2"]
        b.hardwareClasses = ["board-a", "board-b"]
        b.policyExtra = """
            delegations:
              board-a-team: {paths: \(paths), hardware: [board-a], keys: ["\(dir)/keys/\(team).pem"], threshold: 1}
            """
        return b
    }

    static let names = ["board-a/fw.bin", "deltas/board-a/fw.bin.from-1.0.0.bsdiff", "deltas/board-a/fw.bin.from-1.1.0.bsdiff"]

    static func pythonTUF(_ b: ReleaseBuilder.Built, _ names: [String]) throws -> JSONValue {
        let device = try TemporaryDirectory("deleg-device")
        let r = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                b.release.path + "/repository", b.release.repository.metadataDirectory + "/1.root.json", device.path] + names)
        return try JSONReader().parse(Array((r.out.split(separator: "\n").last.map(String.init) ?? "").utf8))
    }

    @Test("the team's role signs the board's image and deltas; python-tuf resolves them through the delegation; custody and in-toto-verify accept; a re-run changes nothing")
    func delegatedRelease() throws {
        let dir = try TemporaryDirectory("deleg")
        let b = try Self.builder(dir.path).build()
        let tuf = RepositoryVerifier(store: b.release.repository, now: b.now).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        #expect(tuf.targets?.targets.isEmpty == true, "the top-level role lists no target of the delegated board")
        #expect(Set(tuf.trusted?.delegated["board-a-team"]?.signed.targets.keys.map { $0 } ?? []) == Set(Self.names))
        let team = try SoftwareSigner(pemFile: b.keyFiles["team"]!, passphrase: { nil })
        #expect(tuf.targets?.delegations?.roles.first?.keys.keyids == [team.publicKey.keyid])

        let client = try Self.pythonTUF(b, Self.names)
        #expect(client["ok"] == true, "\(client)")
        #expect(client["targets"]?.objectValue?.count == 3)
        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: b.now).verify(out: b.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.checks.filter { $0.status != .passed }.map { "\($0.id) \($0.details)" })")
        let inToto = try runProcess(URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path,
                                    ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: b.release.path)
        #expect(inToto.status == 0, "\(inToto.err.suffix(500))")
        try? FileManager.default.removeItem(atPath: b.release.path + "/delivered.link")
        let rerun = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: b.now))
        #expect(!rerun.changed, "\(rerun.steps)")
    }

    @Test("a team key rotated in the policy is published by the next run: the role's next version is signed by the new key alone, and python-tuf follows")
    func rotatedTeamKey() throws {
        let dir = try TemporaryDirectory("deleg-rotate")
        let b = try Self.builder(dir.path).build()
        let policy = String(decoding: try FileIO.read(b.policy), as: UTF8.self).replacingOccurrences(of: "/keys/team.pem", with: "/keys/team-2.pem")
        try AtomicFile.write(Array(policy.utf8), to: b.policy)
        let later = b.now.addingTimeInterval(60)
        let r = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: later))
        #expect(r.changed, "\(r.steps)")
        let tuf = RepositoryVerifier(store: b.release.repository, now: later).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        let role = try #require(tuf.trusted?.delegated["board-a-team"])
        let team2 = try SoftwareSigner(pemFile: b.keyFiles["team-2"]!, passphrase: { nil })
        #expect(role.signed.version == 2 && role.signatures.map(\.keyid) == [team2.publicKey.keyid])
        #expect(try Self.pythonTUF(b, Self.names)["ok"] == true)
    }

    @Test("the team cannot sign for another board: a target outside its paths, signed by its own key, is refused by Firmchain and not served by python-tuf")
    func teamCannotSignOutsideItsPaths() throws {
        let dir = try TemporaryDirectory("deleg-outside")
        let b = try Self.builder(dir.path).build()
        let store = b.release.repository
        let current = try store.current()
        let version = try #require(current.snapshot.signed.meta["board-a-team.json"]?.version)
        let path = store.metadataDirectory + "/\(version).board-a-team.json"
        var md = try Metadata<Targets>(bytes: try FileIO.read(path))
        md.signed.targets["board-b/fw.bin"] = md.signed.targets["board-a/fw.bin"]
        try md.sign(with: [try SoftwareSigner(pemFile: b.keyFiles["team"]!, passphrase: { nil })], role: RoleKeys(keyids: [md.signatures[0].keyid], threshold: 1),
                    roleName: "board-a-team")
        try AtomicFile.write(md.fileBytes(), to: path)
        let tuf = RepositoryVerifier(store: store, now: b.now).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.report.checks.contains { $0.id == "repo.delegation.paths" && $0.status == .failed }, "\(tuf.report.failures)")
        let client = try Self.pythonTUF(b, ["board-b/fw.bin"])
        #expect(client["ok"] == false, "python-tuf served a target outside the delegation: \(client)")
    }

    @Test("a release for a delegated board named outside the team's paths, or under a role for other hardware, is refused before anything is written",
          arguments: ["outside the paths", "other hardware"])
    func refusedBeforeWriting(_ kind: String) throws {
        let dir = try TemporaryDirectory("deleg-refused")
        var b = Self.builder(dir.path, paths: kind == "outside the paths" ? "[\"board-z/*\"]" : "[\"board-a/*\", \"deltas/board-a/*\"]")
        if kind == "other hardware" { b.policyExtra = b.policyExtra.replacingOccurrences(of: "hardware: [board-a]", with: "hardware: [board-b]") + "\n" }
        #expect {
            _ = try b.build()
        } throws: { e in
            guard let e = e as? FirmchainError, e.code == .policyViolation else { return false }
            return kind == "other hardware" ? e.reason.contains("signs only for board-b") : e.reason.contains("falls under none of its paths")
        }
        #expect(!FileIO.exists(dir.path + "/OUT/repository"), "nothing was written")
    }
}
