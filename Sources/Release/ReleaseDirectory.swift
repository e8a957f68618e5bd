import Custody
import FirmchainCore
import Foundation
import Repository
import Signing

/// The release directory `OUT/` (`Docs/architecture.md`, "Release directory"): the one owner of
/// its layout. The runner, the command line and every exporter go through it, so the names of
/// key files, the layout and the provenance are written in one place.
///
/// ```
/// OUT/repository/   TUF repository (metadata/, targets/)          → `repository`
/// OUT/custody/      root.layout, links, provenance, ledger         → `custody`
/// OUT/keys/         owner.pub.pem, owner-2.pub.pem, ROLE.pub.pem, ROLE-2.pub.pem, revocations.json
/// OUT/report/       human-readable reports
/// ```
public struct ReleaseDirectory: Sendable {
    /// `OUT`.
    public let path: String

    /// The release directory at `path` (nothing is created until something is written).
    public init(_ path: String) { self.path = path }

    /// The TUF repository, `OUT/repository`.
    public var repository: RepositoryStore { RepositoryStore(directory: path) }
    /// The custody evidence, `OUT/custody`.
    public var custody: CustodyStore { CustodyStore(out: path) }
    /// `OUT/keys`.
    public var keysDirectory: String { path + "/keys" }
    /// `OUT/keys/revocations.json`.
    public var revocationsPath: String { keysDirectory + "/revocations.json" }
    /// `OUT/report`.
    public var reportDirectory: String { path + "/report" }

    /// The file name of the `index`-th (0-based) owner key: `owner.pub.pem`, `owner-2.pub.pem`, …
    public static func ownerKeyFile(_ index: Int) -> String { keyFile("owner", index) }

    /// The file name of the `index`-th key of a TUF role: `targets.pub.pem`, `targets-2.pub.pem`, …
    public static func roleKeyFile(_ role: TopLevelRole, _ index: Int) -> String { keyFile(role.rawValue, index) }

    private static func keyFile(_ name: String, _ index: Int) -> String { index == 0 ? "\(name).pub.pem" : "\(name)-\(index + 1).pub.pem" }

    /// The owner key files present in `OUT/keys`, in order. These are the release's own copies:
    /// a verifier that trusts them only proves the release agrees with itself.
    public func ownerKeyPaths() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: keysDirectory)) ?? []
        var paths = [String]()
        var i = 0
        while names.contains(Self.ownerKeyFile(i)) {
            paths.append(keysDirectory + "/" + Self.ownerKeyFile(i))
            i += 1
        }
        return paths
    }

    /// Signs `policy`'s layout with every owner, writes `custody/root.layout` (and its ledger
    /// entries) and the owners' public keys to `keys/owner.pub.pem`, `owner-2.pub.pem`, ….
    /// Returns the signed layout and the key files written.
    @discardableResult
    public func writeLayout(_ policy: CustodyPolicy, owners: [any Signer], format: LayoutFormat = .metablock,
                            now: Date) throws -> (layout: SignedLayout, ownerKeyFiles: [String]) {
        let signed = try policy.layout().signed(by: owners, format: format)
        try custody.writeLayout(signed, now: now)
        try FileIO.makeDirectories(keysDirectory)
        var files = [String]()
        for (i, o) in owners.enumerated() {
            let file = keysDirectory + "/" + Self.ownerKeyFile(i)
            try AtomicFile.write(Array(o.publicKey.pem.utf8), to: file)
            files.append(file)
        }
        return (signed, files)
    }

    /// Writes every role's public keys to `keys/ROLE.pub.pem`, `ROLE-2.pub.pem`, ….
    public func writeRoleKeys(_ keys: RoleTable<[PublicKey]>) throws {
        try FileIO.makeDirectories(keysDirectory)
        for role in TopLevelRole.allCases {
            for (i, key) in keys[role].enumerated() {
                try AtomicFile.write(Array(key.pem.utf8), to: keysDirectory + "/" + Self.roleKeyFile(role, i))
            }
        }
    }

    /// Signs one SLSA Provenance v1 statement per target with `signer` (dependencies: the
    /// chain's inputs; byproducts: the link files, in step order) and appends them to
    /// `custody/provenance.intoto.jsonl`. Returns how many were written.
    @discardableResult
    public func appendProvenance(targets: [LedgerSubject], run: ProvenanceStatement.RunDetails, signer: any Signer, now: Date) throws -> Int {
        let statements = ProvenanceStatement.release(targets: targets, links: custody.linksInStepOrder(), run: run)
        let envelopes = try statements.map { try $0.signed(by: [signer]) }
        try custody.appendProvenance(envelopes, now: now)
        return envelopes.count
    }
}

/// What `ReleaseDirectory.verifyRepository` found: the TUF walk with the release's revocation
/// list applied, and that list.
public struct ReleaseRepositoryVerification: Sendable {
    /// The repository checks, then `keys.revocations`.
    public var repository: RepositoryVerification
    /// The revocations in force (from a list signed by the newest root's root keys).
    public var revocations: [Revocation]
    /// The verified revocation list, if one is published.
    public var revocationList: Metadata<RevocationList>?

    /// A result from its parts.
    public init(repository: RepositoryVerification, revocations: [Revocation], revocationList: Metadata<RevocationList>?) {
        self.repository = repository
        self.revocations = revocations
        self.revocationList = revocationList
    }

    /// Every check.
    public var report: VerificationReport { repository.report }
    /// Whether every check passed.
    public var passed: Bool { repository.passed }
}

extension ReleaseDirectory {
    /// The bytes of `keys/revocations.json`, nil when there is none.
    public func revocationListBytes() throws -> [UInt8]? {
        FileIO.exists(revocationsPath) ? try FileIO.read(revocationsPath, limit: RevocationList.fileLimit) : nil
    }

    /// Verifies the repository from `trustedRoot` (default: the release's own `1.root.json`,
    /// which proves only that the release agrees with itself) with the revocation list applied:
    /// the root chain is walked first, the list is checked against the newest root's root keys
    /// (`keys.revocations`), and then every signature is checked with the revocations in force.
    public func verifyRepository(trustedRoot: [UInt8]? = nil, trustedRootPath: String? = nil, now: Date, previous: TrustedVersions? = nil,
                                 expiredIsWarning: Bool = false, checkTargetFiles: Bool = true) throws -> ReleaseRepositoryVerification {
        let store = repository
        let rootPath = trustedRootPath ?? store.metadataDirectory + "/1.root.json"
        let rootBytes = try trustedRoot ?? FileIO.read(rootPath, limit: RepositoryStore.metadataLimit)
        var verifier = RepositoryVerifier(source: DirectorySource(store), now: now, previous: previous)
        verifier.expiredIsWarning = expiredIsWarning
        let chain = verifier.verify(trustedRoot: rootBytes, trustedRootPath: rootPath, checkTargetFiles: false)
        guard let newest = chain.trusted?.root.signed else { return ReleaseRepositoryVerification(repository: chain, revocations: [], revocationList: nil) }
        let (revocations, list, check) = RevocationList.verify(bytes: try revocationListBytes(), named: "keys/revocations.json", root: newest, at: now,
                                                               expiredIsWarning: expiredIsWarning)
        verifier.revocations = revocations
        var full = verifier.verify(trustedRoot: rootBytes, trustedRootPath: rootPath, checkTargetFiles: checkTargetFiles)
        full.report.append(check)
        return ReleaseRepositoryVerification(repository: full, revocations: revocations, revocationList: list)
    }
}
