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
        let out = try RepositoryInventory.unaccounted(in: repository, verified: verified.repository, revocations: verified.revocations)
        let roots = RepositoryInventory.chainOfRoots(repository, newest: verified.repository.root?.version ?? 0)
        let keys = try FileIO.entries(under: keysDirectory).map { entry -> KeyFile in
            KeyFile(path: "keys/" + entry.path, kind: entry.kind,
                    bytes: entry.kind == .regular ? (try? FileIO.read(keysDirectory + "/" + entry.path, limit: KeyFile.limit)) : nil)
        }
        return (out + Self.unaccountedKeyFiles(keys, ownerKeyIDs: Set(ownerKeys.map { TUFKey($0).keyid }), roots: roots)).sorted { $0.path < $1.path }
    }

    /// One entry of `keys/` as `unaccountedKeyFiles` judges it.
    public struct KeyFile: Sendable {
        /// The path relative to `OUT` (`keys/owner.pub.pem`).
        public var path: String
        /// What the entry is.
        public var kind: FileIO.EntryKind
        /// Its bytes (at most `limit`), nil when it could not be read.
        public var bytes: [UInt8]?
        /// The largest key file read.
        public static let limit = 64 << 10

        /// An entry from its parts.
        public init(path: String, kind: FileIO.EntryKind = .regular, bytes: [UInt8]?) {
            self.path = path
            self.kind = kind
            self.bytes = bytes
        }
    }

    /// The entries of `keys/` a release does not account for — the one rule the pipeline's
    /// pre-flight and the release verifier (`release.keys`) share: `revocations.json` (checked by
    /// `keys.revocations`); `owner[-N].pub.pem` holding one of `ownerKeyIDs` (the owners trusted
    /// from outside); `ROLE[-N].pub.pem` holding a key that one of `roots` names for ROLE (a
    /// rotated-out key's file may stay: it is public, and trust comes from the root); a key of
    /// `functionaryKeyIDs`; nothing else — no other name, no link, no private key.
    public static func unaccountedKeyFiles(_ files: [KeyFile], ownerKeyIDs: Set<String>, roots: [Root],
                                           functionaryKeyIDs: Set<String> = []) -> [RepositoryInventory.Unaccounted] {
        var out = [RepositoryInventory.Unaccounted]()
        for f in files {
            let name = String(f.path.dropFirst("keys/".count))
            guard f.kind == .regular else { out.append(.init(path: f.path, why: f.kind == .symbolicLink ? "a symbolic link" : "not a regular file")); continue }
            if name == "revocations.json" { continue }
            guard let (who, _) = parseKeyFileName(name) ?? (name.hasSuffix(".pub.pem") && !name.contains("/") ? ("", 0) : nil) else {
                out.append(.init(path: f.path, why: "not a key file name of a release")); continue
            }
            guard let bytes = f.bytes, let key = try? PublicKey(pem: String(decoding: bytes, as: UTF8.self)) else {
                out.append(.init(path: f.path, why: "not a public key")); continue
            }
            let id = TUFKey(key).keyid
            if who == "owner" {
                if !ownerKeyIDs.contains(id) { out.append(.init(path: f.path, why: "key \(id.prefix(8)) is not an owner key given from outside")) }
            } else if let role = TopLevelRole(rawValue: who) {
                if !roots.contains(where: { $0.roles[role].keyids.contains(id) }) {
                    out.append(.init(path: f.path, why: "key \(id.prefix(8)) is not a \(who) key of any trusted root"))
                }
            } else if !functionaryKeyIDs.contains(id) {
                out.append(.init(path: f.path, why: "key \(id.prefix(8)) is neither an owner, a role key nor a functionary of the layout"))
            }
        }
        return out
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
