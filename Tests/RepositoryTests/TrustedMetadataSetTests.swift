import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

/// A repository built in memory, with one software key per role and a delegated team role.
struct Simulated: @unchecked Sendable {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    var builder: RepositoryBuilder
    let team: any Signer
    let stranger: any Signer

    init() throws {
        builder = try RepositoryBuilder(signers: RoleTable { _ in [try SoftwareSigner(generating: .ed25519)] }, now: Self.t0)
        team = try SoftwareSigner(generating: .ecdsaP256)
        stranger = try SoftwareSigner(generating: .ed25519)
        builder.addTarget("fw-1.2.0.bin", bytes: Array("image 1.2.0".utf8))
        builder.delegate("board-b", paths: ["board-b/*"], signers: [team])
        builder.addTarget("board-b/fw.bin", bytes: Array("board b image".utf8), to: "board-b")
    }

    func verify(_ source: InMemorySource, at time: Date = Simulated.t0, previous: TrustedVersions? = nil,
                revocations: [Revocation] = []) -> RepositoryVerification {
        RepositoryVerifier(source: source, now: time, previous: previous, revocations: revocations)
            .verify(trustedRoot: builder.rootBytes(version: 1), trustedRootPath: "1.root.json")
    }
}

@Suite("Trusted metadata set: the TUF client workflow from bytes")
struct TrustedMetadataSetTests {
    @Test("a repository built in memory verifies, delegated targets included")
    func goodRepository() throws {
        var sim = try Simulated()
        let source = try sim.builder.publish()
        let v = sim.verify(source)
        #expect(v.passed, "\(v.report.failures)")
        #expect(Set(v.allTargets.keys) == ["fw-1.2.0.bin", "board-b/fw.bin"])
        #expect(v.report.checks.filter { $0.id == "repo.target" }.count == 2)
        #expect(v.report.check("repo.delegation.paths")?.status == .passed)
        #expect(DocumentedChecks.ids.count > 40)
        #expect(DocumentedChecks.undocumented(v.report.checks.map(\.id)).isEmpty)
        #expect(v.trusted?.versions == TrustedVersions(root: 1, timestamp: 1, snapshot: 1, snapshotMeta: ["targets.json": 1, "board-b.json": 1]))
    }

    /// One row per way a repository can be bad, with the check that must catch it: what is
    /// changed before publishing (`builder`), what is changed in the published bytes
    /// (`source`), and the reference time, previous state and revocations to verify with.
    struct Row: CustomTestStringConvertible, Sendable {
        typealias Context = (time: Date, previous: TrustedVersions?, revocations: [Revocation])
        let name: String
        let failedCheck: String
        var builder: (@Sendable (inout Simulated) throws -> Void)? = nil
        var source: (@Sendable (Simulated, inout InMemorySource) throws -> Void)? = nil
        var context: @Sendable (Simulated) -> Context = { _ in (Simulated.t0, nil, []) }
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "a timestamp older than the trusted one is a rollback", failedCheck: "repo.timestamp.rollback",
            context: { _ in (Simulated.t0, TrustedVersions(root: 1, timestamp: 5, snapshot: 1, snapshotMeta: [:]), []) }),
        Row(name: "a snapshot that lists targets at a lower version than the trusted one is a rollback", failedCheck: "repo.snapshot.rollback",
            context: { _ in (Simulated.t0, TrustedVersions(root: 1, timestamp: 1, snapshot: 1, snapshotMeta: ["targets.json": 3]), []) }),
        Row(name: "a snapshot that drops a role the trusted one listed is a rollback", failedCheck: "repo.snapshot.rollback",
            context: { _ in (Simulated.t0, TrustedVersions(root: 1, timestamp: 1, snapshot: 1, snapshotMeta: ["board-a.json": 1]), []) }),
        Row(name: "a root older than the trusted state is a rollback", failedCheck: "repo.root.rollback",
            context: { _ in (Simulated.t0, TrustedVersions(root: 2, timestamp: 0, snapshot: 0, snapshotMeta: [:]), []) }),
        Row(name: "an expired timestamp fails at the reference time (freeze attack)", failedCheck: "repo.timestamp.expiry",
            context: { _ in (Simulated.t0.addingTimeInterval(2 * 86_400), nil, []) }),
        Row(name: "a timestamp key revoked as compromised no longer counts", failedCheck: "repo.timestamp.signatures",
            context: { sim in (Simulated.t0, nil, [Revocation(keyid: sim.builder.signers.timestamp[0].publicKey.keyid, reason: .compromised, time: .distantFuture)]) }),
        Row(name: "a superseded targets key counts no more after its revocation time", failedCheck: "repo.targets.signatures",
            context: { sim in (Simulated.t0, nil, [Revocation(keyid: sim.builder.signers.targets[0].publicKey.keyid, reason: .superseded, time: Simulated.t0.addingTimeInterval(-1))]) }),
        Row(name: "a flipped byte in a target copy fails the target", failedCheck: "repo.target", source: { _, source in
            let k = source.targetFiles.keys.sorted().first { $0.contains("fw-1.2.0.bin") }!
            source.targetFiles[k]![0] ^= 1
        }),
        Row(name: "a deleted hash-named copy fails the target", failedCheck: "repo.target", source: { _, source in
            let k = source.targetFiles.keys.sorted().first { $0.contains("fw-1.2.0.bin") }!
            source.targetFiles[k] = nil
        }),
        Row(name: "a snapshot edited after signing no longer matches the timestamp", failedCheck: "repo.snapshot.hashes", source: { _, source in
            source.metadataFiles["1.snapshot.json"]!.append(0x0A)
        }),
        Row(name: "targets signed by a key outside the role fail the threshold", failedCheck: "repo.targets.signatures", source: { sim, source in
            // The snapshot lists no hashes for targets, so only the signature check can catch it.
            var md = try Metadata<Targets>(bytes: source.metadataFiles["1.targets.json"]!)
            try md.sign(with: [sim.stranger], role: RoleKeys(keyids: [sim.stranger.publicKey.keyid], threshold: 1), roleName: "targets")
            source.metadataFiles["1.targets.json"] = md.fileBytes()
        }),
        Row(name: "a delegated role signed by another team's key fails", failedCheck: "repo.delegation.signatures", source: { sim, source in
            var md = try Metadata<Targets>(bytes: source.metadataFiles["1.board-b.json"]!)
            try md.sign(with: [sim.stranger], role: RoleKeys(keyids: [sim.stranger.publicKey.keyid], threshold: 1), roleName: "board-b")
            source.metadataFiles["1.board-b.json"] = md.fileBytes()
        }),
        Row(name: "a delegated role listing a target outside its paths fails", failedCheck: "repo.delegation.paths", builder: { sim in
            sim.builder.addTarget("board-a/fw.bin", bytes: Array("not yours".utf8), to: "board-b")
        }),
        Row(name: "a second root signed only by its new keys does not chain", failedCheck: "repo.root.chain", builder: { sim in
            sim.builder.signers.root = [try SoftwareSigner(generating: .ed25519)]
            try sim.builder.rotateRoot(signedBy: [])
        }),
    ]

    @Test("each tampering is refused by the check named in its row", arguments: rows)
    func refused(_ row: Row) throws {
        var sim = try Simulated()
        try row.builder?(&sim)
        var source = try sim.builder.publish()
        try row.source?(sim, &source)
        let c = row.context(sim)
        let v = sim.verify(source, at: c.time, previous: c.previous, revocations: c.revocations)
        #expect(!v.passed, "\(row.name) was accepted")
        #expect(DocumentedChecks.undocumented(v.report.checks.map(\.id)).isEmpty, "ids missing from Docs/verify.md")
        #expect(v.report.failures.contains { $0.id == row.failedCheck },
                "\(row.name): expected \(row.failedCheck) to fail; failures: \(v.report.failures.map { "\($0.id): \($0.reason)" })")
    }

    @Test("a root rotation signed by the old and the new keys chains, and the new keys then sign")
    func rotation() throws {
        var sim = try Simulated()
        let old = sim.builder.signers.root
        sim.builder.signers.root = [try SoftwareSigner(generating: .ecdsaP256)]
        sim.builder.signers.timestamp = [try SoftwareSigner(generating: .ed25519)]
        try sim.builder.rotateRoot(signedBy: old)
        let v = sim.verify(try sim.builder.publish())
        #expect(v.passed, "\(v.report.failures)")
        #expect(v.root?.version == 2)
        #expect(v.report.checks.filter { $0.id == "repo.root.chain" }.map(\.status) == [.passed])
    }

    @Test("after a root rotates the timestamp keys, the old timestamp version no longer binds (fast-forward recovery, TUF §5.3.11)")
    func fastForwardRecovery() throws {
        var sim = try Simulated()
        sim.builder.signers.timestamp = [try SoftwareSigner(generating: .ed25519)]
        try sim.builder.rotateRoot(signedBy: sim.builder.signers.root)
        let source = try sim.builder.publish()
        // A stolen timestamp key had pushed clients to v1000: after the rotation, v1 is accepted.
        let inflated = TrustedVersions(root: 1, timestamp: 1000, snapshot: 1, snapshotMeta: [:])
        let v = sim.verify(source, previous: inflated)
        #expect(v.passed, "\(v.report.failures)")
        #expect(v.report.check("repo.timestamp.rollback")?.status == .passed)
        // Without the rotation the same state is a rollback.
        var plain = try Simulated()
        #expect(plain.verify(try plain.builder.publish(), previous: inflated).report.failures.contains { $0.id == "repo.timestamp.rollback" })
    }

    @Test("a target listed by two roles is checked in each, and a client resolves the top-level role's first")
    func targetInTwoRoles() throws {
        var sim = try Simulated()
        sim.builder.delegations[0].role.paths = ["*", "board-b/*"]
        sim.builder.addTarget("fw-1.2.0.bin", bytes: Array("another image".utf8), to: "board-b")
        let v = sim.verify(try sim.builder.publish())
        #expect(v.passed, "\(v.report.failures)")
        #expect(v.allTargets["fw-1.2.0.bin"]?.length == Int64("image 1.2.0".utf8.count), "the top-level entry wins")
        #expect(v.report.checks.filter { $0.id == "repo.target" && $0.subject == "fw-1.2.0.bin" }.count == 2, "both entries' copies are checked")
    }

    @Test("a trusted state written and read back is the same")
    func stateRoundTrip() throws {
        let s = TrustedVersions(root: 2, timestamp: 9, snapshot: 8, snapshotMeta: ["targets.json": 7])
        #expect(try TrustedVersions(json: try JSONReader().parse(JSONEncoding.canonical(s.json))) == s)
        let error = #expect(throws: FirmchainError.self) { try TrustedVersions(json: ["schema": 2], path: "state.json") }
        #expect(error?.code == .repoMalformedMetadata && error?.path == "state.json" && error?.reason == "state.schema is not 1", "\(String(describing: error))")
    }

    @Test("delegated path patterns match one segment per star, as fnmatch per segment does", arguments: [
        ("board-b/*", "board-b/fw.bin", true), ("board-b/*", "board-b/x/fw.bin", false), ("board-b/*", "board-a/fw.bin", false),
        ("*.bin", "fw.bin", true), ("fw-?.bin", "fw-1.bin", true), ("fw-?.bin", "fw-10.bin", false), ("*/*", "a/b", true),
    ])
    func paths(_ pattern: String, _ path: String, _ expected: Bool) {
        let role = DelegatedRole(name: "r", keys: RoleKeys(keyids: [], threshold: 1), terminating: false, paths: [pattern])
        #expect(role.mayList(path) == expected)
    }
}
