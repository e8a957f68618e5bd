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

extension ReleaseDirectory {
    /// The files under `repository/` and `keys/` that a verified release does not account for
    /// (issue #18 item 1): what `RepositoryInventory` finds under the repository, and under
    /// `keys/` anything but
    /// - `owner[-N].pub.pem` holding one of `ownerKeys` (the owners trusted from outside),
    /// - `ROLE[-N].pub.pem` holding a key that some root of the verified chain names for ROLE,
    /// - `revocations.json` (checked by `keys.revocations` in `verified`).
    ///
    /// `verified` must be a passed `verifyRepository` of this release.
    public func unaccountedFiles(verified: ReleaseRepositoryVerification, ownerKeys: [PublicKey]) throws -> [RepositoryInventory.Unaccounted] {
        var out = try RepositoryInventory.unaccounted(in: repository, verified: verified.repository, revocations: verified.revocations)
        let roots = RepositoryInventory.chainOfRoots(repository, newest: verified.repository.root?.version ?? 0)
        let owners = Set(ownerKeys.map { TUFKey($0).keyid })
        for (name, kind) in try FileIO.entries(under: keysDirectory) {
            let rel = "keys/" + name
            guard kind == .regular else { out.append(.init(path: rel, why: kind == .symbolicLink ? "a symbolic link" : "not a regular file")); continue }
            if name == "revocations.json" { continue }
            guard let (who, _) = Self.parseKeyFileName(name) else { out.append(.init(path: rel, why: "not a key file name of a release")); continue }
            guard let key = try? PublicKey(pem: String(decoding: FileIO.read(keysDirectory + "/" + name, limit: 64 << 10), as: UTF8.self)) else {
                out.append(.init(path: rel, why: "not a public key")); continue
            }
            let id = TUFKey(key).keyid
            if who == "owner" {
                if !owners.contains(id) { out.append(.init(path: rel, why: "key \(id.prefix(8)) is not an owner key of the policy")) }
            } else if let role = TopLevelRole(rawValue: who), !roots.contains(where: { $0.roles[role].keyids.contains(id) }) {
                out.append(.init(path: rel, why: "key \(id.prefix(8)) is not a \(who) key of any root"))
            }
        }
        return out.sorted { $0.path < $1.path }
    }

    /// `owner.pub.pem` → ("owner", 1), `targets-3.pub.pem` → ("targets", 3); nil for any other name.
    static func parseKeyFileName(_ name: String) -> (String, Int)? {
        guard name.hasSuffix(".pub.pem") else { return nil }
        let stem = String(name.dropLast(".pub.pem".count))
        let who: String, index: Int
        if let dash = stem.lastIndex(of: "-"), let n = Int(stem[stem.index(after: dash)...]), n >= 2, String(n) == stem[stem.index(after: dash)...] {
            who = String(stem[..<dash]); index = n
        } else {
            who = stem; index = 1
        }
        guard who == "owner" || TopLevelRole(rawValue: who) != nil else { return nil }
        return (who, index)
    }
}
