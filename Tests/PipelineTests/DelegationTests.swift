import Custody
import FirmchainCore
import KeyLifecycle
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
/// resolves the delegation, the team cannot sign for another board, and a team's keys change only by
/// the M-of-N ceremony.
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

    @Test("a team key changed only in the policy is refused before anything is written; the ceremony (root officers and the new key) publishes it, python-tuf follows, the old key's metadata is refused, and the run after, with the policy updated, succeeds")
    func rotatedTeamKeyByCeremony() throws {
        let dir = try TemporaryDirectory("deleg-rotate")
        let b = try Self.builder(dir.path).build()
        let key = { (name: String) in try SoftwareSigner(pemFile: b.keyFiles[name]!, passphrase: { nil }) }
        let team = try key("team"), team2 = try key("team-2"), root = try key("root")
        func run(_ now: Date) throws -> PipelineResult {
            try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
                .run(RunOptions(signerOptions: SignerOptions(), now: now))
        }
        let original = try FileIO.read(b.policy)
        let rotated = String(decoding: original, as: UTF8.self).replacingOccurrences(of: "/keys/team.pem", with: "/keys/team-2.pem")
        let later = b.now.addingTimeInterval(60)

        // 1. A policy edit alone: refused, nothing written.
        try AtomicFile.write(Array(rotated.utf8), to: b.policy)
        let before = try InMemoryReleaseFiles(copying: b.release.path).files
        #expect { _ = try run(later) } throws: { ($0 as? FirmchainError)?.code == .policyViolation && "\($0)".contains("keys rotate") }
        #expect(try InMemoryReleaseFiles(copying: b.release.path).files == before, "a refused run wrote nothing")
        try AtomicFile.write(original, to: b.policy)

        // 2. The ceremony: proposed against the published root and targets.
        let store = b.release.repository
        let current = try store.current()
        let rootFile = try FileIO.read(store.metadataDirectory + "/\(store.latestRootVersion()).root.json")
        let targetsFile = try FileIO.read(store.metadataDirectory + "/\(current.targets.signed.version).targets.json")
        var (proposal, _) = try KeyCeremony.proposeDelegationRotation(baseRoot: rootFile, targetsFile: targetsFile, role: "board-a-team",
                                                                     add: [team2.publicKey], remove: [team.publicKey.keyid], now: later)
        // The old team key has no say; the root officer alone is not enough.
        #expect { try KeyCeremony.approve(&proposal, signer: team, now: later) } throws: { ($0 as? FirmchainError)?.code == .keysNotAnOfficer }
        try KeyCeremony.approve(&proposal, signer: root, now: later)
        let signers: [any Signer] = try ["targets", "snapshot", "timestamp"].map { try key($0) } + [team2]
        #expect { _ = try KeyCeremony.apply(proposal, to: b.release, signers: signers, now: later) } throws: {
            ($0 as? FirmchainError)?.code == .keysApprovalsMissing && "\($0)".contains("by its new keys")
        }
        // Edited after an approval: the approval no longer covers it.
        var edited = proposal
        edited.expires = edited.expires.addingTimeInterval(86_400)
        #expect { _ = try KeyCeremony.apply(edited, to: b.release, signers: signers, now: later) } throws: { ($0 as? FirmchainError)?.code == .keysApprovalInvalid }
        try KeyCeremony.approve(&proposal, signer: team2, now: later)
        let applied = try KeyCeremony.apply(proposal, to: b.release, signers: signers, now: later)
        #expect(!applied.alreadyApplied && applied.rootVersion == 1)

        // 3. Both verifiers follow: the role's next version is signed by the new key alone.
        let tuf = RepositoryVerifier(store: store, now: later).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        let role = try #require(tuf.trusted?.delegated["board-a-team"])
        #expect(role.signed.version == 2 && role.signatures.map(\.keyid) == [team2.publicKey.keyid])
        #expect(tuf.targets?.delegations?.roles.first?.keys.keyids == [team2.publicKey.keyid])
        #expect(try Self.pythonTUF(b, Self.names)["ok"] == true)
        #expect(try b.release.custody.ledger.entries().contains { $0.record.action == "key.apply" && $0.record.details["role"] == "board-a-team" })

        // 4. The role's metadata signed by the rotated-out key is refused by Firmchain and python-tuf.
        let rolePath = store.metadataDirectory + "/2.board-a-team.json"
        let good = try FileIO.read(rolePath)
        var forged = try Metadata<Targets>(bytes: good, path: rolePath)
        try forged.sign(with: [team], role: RoleKeys(keyids: [team.publicKey.keyid], threshold: 1), roleName: "board-a-team")
        try AtomicFile.write(forged.fileBytes(), to: rolePath)
        #expect(!RepositoryVerifier(store: store, now: later).verify(trustedRoot: b.trustedRoot).passed)
        #expect(try Self.pythonTUF(b, Self.names)["ok"] == false)
        try AtomicFile.write(good, to: rolePath)

        // 5. With the policy naming the new key, the next run goes through and verifies.
        try AtomicFile.write(Array(rotated.utf8), to: b.policy)
        let next = b.now.addingTimeInterval(120)
        _ = try run(next)
        #expect(RepositoryVerifier(store: store, now: next).verify(trustedRoot: b.trustedRoot).passed)
        #expect(try Self.pythonTUF(b, Self.names)["ok"] == true)
        #expect(CustodyVerifier(ownerKeys: [b.ownerKey], now: next).verify(out: b.release.path).holds)
    }

    @Test("the delegated role's ceremony on the command line: keys rotate --role TEAM, keys show, keys approve by the root officer and the new key, keys apply; python-tuf follows")
    func ceremonyOnTheCommandLine() throws {
        let dir = try TemporaryDirectory("deleg-cli")
        let b = try Self.builder(dir.path).build()
        let out = b.release.path, proposal = dir.file("team-a.json")
        func firmchain(_ args: [String]) throws -> ProcessResult { try runProcess(TestEnv.firmchain, args) }
        let rotate = try firmchain(["keys", "rotate", "--repo", out, "--role", "board-a-team", "--add", b.keyFiles["team-2"]!,
                                    "--remove", b.keyFiles["team"]!, "--out", proposal])
        try #require(rotate.status == 0, "\(rotate.err)")
        let show = try firmchain(["keys", "show", proposal])
        #expect(show.out.contains("delegated role board-a-team, under root v1 (unchanged)") && show.out.contains("still needed:"), "\(show.out)")
        let early = try firmchain(["keys", "apply", proposal, "--repo", out, "--key", b.keyFiles["targets"]!, "--key", b.keyFiles["snapshot"]!,
                                   "--key", b.keyFiles["timestamp"]!, "--key", b.keyFiles["team-2"]!])
        #expect(early.status == 1 && early.err.contains("[keys.approvals-missing]"), "\(early.err)")
        for officer in ["root", "team-2"] {
            let a = try firmchain(["keys", "approve", proposal, "--key", b.keyFiles[officer]!])
            #expect(a.status == 0, "\(officer): \(a.err)")
        }
        let apply = try firmchain(["keys", "apply", proposal, "--repo", out, "--key", b.keyFiles["targets"]!, "--key", b.keyFiles["snapshot"]!,
                                   "--key", b.keyFiles["timestamp"]!, "--key", b.keyFiles["team-2"]!])
        #expect(apply.status == 0 && apply.out.contains("published the new keys of board-a-team"), "\(apply.out)\(apply.err)")
        #expect(try Self.pythonTUF(b, Self.names)["ok"] == true)
        let again = try firmchain(["keys", "apply", proposal, "--repo", out, "--key", b.keyFiles["targets"]!, "--key", b.keyFiles["snapshot"]!,
                                   "--key", b.keyFiles["timestamp"]!, "--key", b.keyFiles["team-2"]!])
        #expect(again.status == 0 && again.out.contains("already applied"), "\(again.out)\(again.err)")
    }

    @Test("a policy that renames, reorders, re-paths or removes a published team, or puts a new role before it, is refused before anything is written", arguments: [
        "renamed", "new role first", "re-pathed", "removed",
    ])
    func publishedTeamsStay(_ change: String) throws {
        let dir = try TemporaryDirectory("deleg-stay")
        let b = try Self.builder(dir.path).build()
        let policy = String(decoding: try FileIO.read(b.policy), as: UTF8.self)
        let team2 = "\(dir.path)/keys/team-2.pem"
        let edited: String
        switch change {
        case "renamed": edited = policy.replacingOccurrences(of: "board-a-team:", with: "board-a-team2:").replacingOccurrences(of: "/keys/team.pem", with: "/keys/team-2.pem")
        case "new role first": edited = policy.replacingOccurrences(of: "  board-a-team:", with: "  takeover: {paths: [\"board-a/*\", \"deltas/board-a/*\"], hardware: [board-a], keys: [\"\(team2)\"], threshold: 1}\n  board-a-team:")
        case "re-pathed": edited = policy.replacingOccurrences(of: "[\"board-a/*\", \"deltas/board-a/*\"]", with: "[\"board-a/*\", \"deltas/board-a/*\", \"board-b/*\"]")
        default: edited = policy.components(separatedBy: "\n").filter { !$0.contains("board-a-team:") && !$0.hasPrefix("delegations:") }.joined(separator: "\n")
        }
        #expect(edited != policy)
        try AtomicFile.write(Array(edited.utf8), to: b.policy)
        let before = try InMemoryReleaseFiles(copying: b.release.path).files
        #expect(throws: FirmchainError.self) {
            _ = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
                .run(RunOptions(signerOptions: SignerOptions(), now: b.now.addingTimeInterval(60)))
        }
        #expect(try InMemoryReleaseFiles(copying: b.release.path).files == before, "\(change): a refused run wrote nothing")
    }

    @Test("the ceremony's guards: a root key as a team key, a revoked key as a team key, a description that does not match the change, and the policy's approvals met only by keys the proposer made are each refused")
    func ceremonyGuards() throws {
        let dir = try TemporaryDirectory("deleg-guards")
        let b = try Self.builder(dir.path).build()
        let key = { (name: String) in try SoftwareSigner(pemFile: b.keyFiles[name]!, passphrase: { nil }) }
        let team = try key("team"), team2 = try key("team-2"), root = try key("root"), targets = try key("targets")
        let store = b.release.repository
        let rootFile = try FileIO.read(store.metadataDirectory + "/1.root.json")
        let targetsFile = try FileIO.read(store.metadataDirectory + "/\(try store.current().targets.signed.version).targets.json")
        let later = b.now.addingTimeInterval(60)
        func propose(_ add: [PublicKey]) throws -> KeyProposal {
            try KeyCeremony.proposeDelegationRotation(baseRoot: rootFile, targetsFile: targetsFile, role: "board-a-team", add: add,
                                                      remove: [team.publicKey.keyid], now: later).proposal
        }
        // A key of a top-level role (here the targets key) cannot be a team key.
        #expect { _ = try propose([targets.publicKey]) } throws: { ($0 as? FirmchainError)?.code == .keysRefusedChange && "\($0)".contains("top-level role") }
        // The description must be the change: a proposal that says one thing and does another is malformed.
        var lying = try propose([team2.publicKey])
        lying.changes = ["add nothing"]
        #expect { try KeyCeremony.approve(&lying, signer: root, now: later) } throws: { ($0 as? FirmchainError)?.code == .keysMalformedProposal }
        // The policy's approvals: two officers required; the root officer and the new key alone are not two officers.
        var p = try propose([team2.publicKey])
        try KeyCeremony.approve(&p, signer: root, now: later)
        try KeyCeremony.approve(&p, signer: team2, now: later)
        let signers: [any Signer] = try ["targets", "snapshot", "timestamp"].map { try key($0) } + [team2]
        #expect { _ = try KeyCeremony.apply(p, to: b.release, signers: signers, requiredApprovals: 2, now: later) } throws: {
            ($0 as? FirmchainError)?.code == .keysApprovalsMissing && "\($0)".contains("officer approval")
        }
        // A key on the revocation list cannot become a team key (the list is signed by the root).
        var list = Metadata(signed: RevocationList(common: CommonFields(version: 1, expires: later.addingTimeInterval(86_400 * 30)),
                                                   revoked: [Revocation(keyid: team2.publicKey.keyid, reason: .compromised, time: b.now)]))
        try list.sign(with: [root], role: try store.current().root.signed.roles.root, roleName: "root")
        try FileIO.makeDirectories(b.release.keysDirectory)
        try AtomicFile.write(list.fileBytes(), to: b.release.revocationsPath)
        #expect { _ = try KeyCeremony.apply(p, to: b.release, signers: signers, now: later) } throws: { $0 is FirmchainError }
        #expect(try store.current().targets.signed.delegations?.roles.first?.keys.keyids == [team.publicKey.keyid], "nothing was published")
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
