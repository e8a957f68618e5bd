import FirmchainCore
import Foundation
import Signing

/// What a verified repository accounts for on disk: every file under `repository/metadata` and
/// `repository/targets` must be one the trusted metadata explains (issue #18 item 1: a file
/// planted into a published release must not be blessed by the next run's links).
///
/// A file is accounted for when it is
/// - `N.root.json` for a root version of the verified chain (1 … the newest);
/// - `timestamp.json`;
/// - `V.ROLE.json` for the version of a role the trusted snapshot lists (`ROLE.json`), or the
///   snapshot itself at its trusted version — these were verified by the walk;
/// - an earlier version `V.ROLE.json` (history, kept for clients part-way through an update) that
///   reads as that role's metadata at version V and is signed by a threshold of the role's keys
///   in some root of the chain (top-level roles) or of its current delegator (delegated roles),
///   with compromised keys void;
/// - a copy `targets/[DIR/]HASH.NAME` of a trusted target entry under one of its listed hashes;
/// - a copy of an entry that only an accounted-for earlier targets version lists (an earlier
///   release's image, kept for devices that have not updated), whose length and hashes are
///   checked here since no walk checked them.
///
/// Anything else — an unknown name, a symbolic link, a FIFO, a directory where a file belongs,
/// a historic version that no trusted key signed — is unaccounted for.
public enum RepositoryInventory {
    /// The release directory as the inventory reads it: on disk, or a copy in memory (the tamper
    /// suite). Paths are relative to `OUT` (`repository/targets/ab….fw.bin`).
    public protocol Listing {
        /// Every entry below `path` that is not a directory, with its kind, sorted by path;
        /// nothing when `path` does not exist.
        func entries(under path: String) throws -> [(path: String, kind: FileIO.EntryKind)]
        /// The bytes of `path` (at most `limit`), nil when there is no such file.
        func read(_ path: String, limit: Int) throws -> [UInt8]?
        /// The digests of `path` with `algorithms` (streamed on disk).
        func digests(of path: String, algorithms: Set<DigestAlgorithm>) throws -> Digests
    }

    /// A release directory on disk: symbolic links are listed, never followed.
    public struct DiskListing: Listing {
        /// `OUT`.
        public let out: String
        /// The release directory `out`.
        public init(_ out: String) { self.out = out }
        /// `FileIO.entries` below `OUT/path`, named relative to `OUT`.
        public func entries(under path: String) throws -> [(path: String, kind: FileIO.EntryKind)] {
            try FileIO.entries(under: out + "/" + path).map { (path + "/" + $0.path, $0.kind) }
        }
        /// `FileIO.read` of `OUT/path`, nil when it does not exist.
        public func read(_ path: String, limit: Int) throws -> [UInt8]? {
            FileIO.exists(out + "/" + path) ? try FileIO.read(out + "/" + path, limit: limit) : nil
        }
        /// `DigestCalculator.file` of `OUT/path`.
        public func digests(of path: String, algorithms: Set<DigestAlgorithm>) throws -> Digests {
            try DigestCalculator.file(out + "/" + path, algorithms: algorithms)
        }
    }

    /// One file the verified metadata does not account for, relative to the release directory.
    public struct Unaccounted: Sendable, Hashable, CustomStringConvertible {
        /// The path relative to `OUT` (`repository/targets/ab….evil.bin`).
        public var path: String
        /// Why it is not accounted for, in a few words.
        public var why: String
        /// `path (why)`.
        public var description: String { "\(path) (\(why))" }
        /// An unaccounted file from its path and the reason.
        public init(path: String, why: String) {
            self.path = path
            self.why = why
        }
    }

    /// The files under `store`'s repository that `verified` does not account for, sorted by path.
    /// `verified` must be a walk of this same repository (its trusted set is what accounts for
    /// files; a walk that did not reach the snapshot accounts for nothing); `revocations` void
    /// compromised keys in the historic checks.
    ///
    /// - Throws: `io.*` when a directory cannot be listed.
    public static func unaccounted(in store: RepositoryStore, verified: RepositoryVerification,
                                   revocations: [Revocation] = []) throws -> [Unaccounted] {
        try unaccounted(in: DiskListing(store.directory), verified: verified, revocations: revocations)
    }

    /// The same, over any listing of the release directory.
    public static func unaccounted(in files: any Listing, verified: RepositoryVerification,
                                   revocations: [Revocation] = []) throws -> [Unaccounted] {
        let metadataDir = "repository/metadata", targetsDir = "repository/targets"
        guard let trusted = verified.trusted, let snapshot = trusted.snapshot, trusted.targets != nil else {
            return try files.entries(under: "repository").map {
                Unaccounted(path: $0.path, why: "the repository did not verify to its targets")
            }
        }
        var out = [Unaccounted]()
        let roots = chainOfRoots(files, newest: trusted.root.signed.version)
        let delegators = delegatorsByRole(trusted)
        var historicEntries = [(name: String, file: TargetFile)]()
        // A delegated role's history was signed by the keys some earlier, validly signed targets
        // delegated it to (a team whose keys were rotated since by ceremony).
        var pastDelegators = [String: [(DelegatedRole, Delegations)]]()
        let currentTargets = snapshot.signed.meta["targets.json"]?.version ?? 0
        for (rel, kind) in try files.entries(under: metadataDir) where kind == .regular && rel.hasSuffix(".targets.json") {
            let name = rel.dropFirst(metadataDir.count + 1)
            guard let v = Int64(name.prefix { $0 != "." }), v >= 1, v < currentTargets,
                  let md = historicSignedByTopLevel(Targets.self, files, rel, role: .targets, version: v, roots: roots, revocations: revocations),
                  let d = md.signed.delegations else { continue }
            for r in d.roles { pastDelegators[r.name, default: []].append((r, d)) }
        }

        for (rel, kind) in try files.entries(under: metadataDir) {
            let path = String(rel.dropFirst(metadataDir.count + 1))
            guard kind == .regular else { out.append(.init(path: rel, why: kind == .symbolicLink ? "a symbolic link" : "not a regular file")); continue }
            guard !path.contains("/") else { out.append(.init(path: rel, why: "not a metadata file name")); continue }
            if path == "timestamp.json" { continue }
            guard let dot = path.firstIndex(of: "."), let version = Int64(path[..<dot]), version >= 1, String(version) == path[..<dot],
                  path.hasSuffix(".json") else {
                out.append(.init(path: rel, why: "not a metadata file name")); continue
            }
            let role = String(path[path.index(after: dot)..<path.index(path.endIndex, offsetBy: -5)])
            if role == "root" {
                if version > trusted.root.signed.version { out.append(.init(path: rel, why: "a root version after the newest trusted one")) }
                continue
            }
            let current: Int64? = role == "snapshot" ? snapshot.signed.version : snapshot.signed.meta["\(role).json"]?.version
            guard let current else { out.append(.init(path: rel, why: "a role the trusted snapshot does not list")); continue }
            if version == current { continue }
            guard version < current else { out.append(.init(path: rel, why: "a version after the trusted one (v\(current))")); continue }
            // History: read it and find keys that signed it.
            var signed = false
            if role == "snapshot" {
                signed = historicSignedByTopLevel(Snapshot.self, files, rel, role: .snapshot, version: version, roots: roots, revocations: revocations) != nil
            } else if role == "targets" {
                let md = historicSignedByTopLevel(Targets.self, files, rel, role: .targets, version: version, roots: roots, revocations: revocations)
                signed = md != nil
                historicEntries += (md?.signed.targets ?? [:]).map { ($0.key, $0.value) }
            } else if let now = delegators[role] {
                for (delegation, delegator) in [now] + (pastDelegators[role] ?? []) {
                    guard let md = historicSignedByDelegate(files, rel, role: delegation, delegator: delegator, version: version, revocations: revocations) else { continue }
                    signed = true
                    historicEntries += md.signed.targets.filter { delegation.mayList($0.key) }.map { ($0.key, $0.value) }
                    break
                }
            }
            if !signed { out.append(.init(path: rel, why: "an earlier \(role) version that no trusted \(role) keys signed")) }
        }

        var copies = Set<String>()
        for entry in verified.allEntries {
            for hash in entry.file.hashes.values { copies.insert(targetsDir + "/" + InMemorySource.targetKey(name: entry.name, hash: hash)) }
        }
        var earlier = [String: TargetFile]()
        for (name, file) in historicEntries {
            for hash in file.hashes.values {
                let path = targetsDir + "/" + InMemorySource.targetKey(name: name, hash: hash)
                if !copies.contains(path) { earlier[path] = file }
            }
        }
        for (rel, kind) in try files.entries(under: targetsDir) {
            let path = rel
            if kind != .regular {
                out.append(.init(path: rel, why: kind == .symbolicLink ? "a symbolic link" : "not a regular file"))
            } else if copies.contains(path) {
                continue
            } else if let file = earlier[path] {
                if !(try matches(files, path, file)) {
                    out.append(.init(path: rel, why: "a copy of an earlier release's target whose length or hashes differ from its listing"))
                }
            } else {
                out.append(.init(path: rel, why: "no trusted target lists it"))
            }
        }
        // Nothing else belongs in repository/ (a README, a planted directory).
        for (rel, _) in try files.entries(under: "repository") where !rel.hasPrefix(metadataDir + "/") && !rel.hasPrefix(targetsDir + "/") {
            out.append(.init(path: rel, why: "not a file of the TUF repository (only metadata/ and targets/ are)"))
        }
        return out.sorted { $0.path < $1.path }
    }

    /// The roots `1.root.json` … `newest.root.json` as they parse (a passed walk verified them).
    public static func chainOfRoots(_ store: RepositoryStore, newest: Int64) -> [Root] {
        chainOfRoots(DiskListing(store.directory), newest: newest)
    }

    /// The same, over any listing of the release directory.
    public static func chainOfRoots(_ files: any Listing, newest: Int64) -> [Root] {
        guard newest >= 1 else { return [] }
        return (1...newest).compactMap { n in
            (try? files.read("repository/metadata/\(n).root.json", limit: RepositoryStore.metadataLimit))
                .flatMap { try? Metadata<Root>(bytes: $0) }?.signed
        }
    }

    /// Every trusted delegated role with the delegations that name it.
    private static func delegatorsByRole(_ trusted: TrustedMetadataSet) -> [String: (DelegatedRole, Delegations)] {
        var out = [String: (DelegatedRole, Delegations)]()
        var sources = [trusted.targets?.signed.delegations].compactMap { $0 }
        sources += trusted.delegationOrder.compactMap { trusted.delegated[$0]?.signed.delegations }
        for d in sources { for r in d.roles where out[r.name] == nil { out[r.name] = (r, d) } }
        return out
    }

    private static func historic<T: SignedMetadata>(_ type: T.Type, _ files: any Listing, _ file: String, version: Int64) -> Metadata<T>? {
        guard let bytes = try? files.read(file, limit: RepositoryStore.metadataLimit),
              let md = try? Metadata<T>(bytes: bytes) else { return nil }
        return md.signed.version == version ? md : nil
    }

    /// A historic top-level metadata file, when signed by a threshold of the role's keys in some
    /// root of the chain. Judged at the distant past, so closed overlap windows and keys
    /// superseded since still count (history was signed when they were valid); compromised keys
    /// never do.
    private static func historicSignedByTopLevel<T: SignedMetadata>(_ type: T.Type, _ files: any Listing, _ file: String, role: TopLevelRole,
                                                                    version: Int64, roots: [Root], revocations: [Revocation]) -> Metadata<T>? {
        guard let md = historic(T.self, files, file, version: version) else { return nil }
        let met = roots.contains {
            md.verify(role: $0.roles[role], as: .tuf(role.rawValue), ring: $0.keyRing(revocations: revocations), at: .distantPast).isMet
        }
        return met ? md : nil
    }

    private static func historicSignedByDelegate(_ files: any Listing, _ file: String, role: DelegatedRole, delegator: Delegations,
                                                 version: Int64, revocations: [Revocation]) -> Metadata<Targets>? {
        guard let md = historic(Targets.self, files, file, version: version) else { return nil }
        var ring = KeyRing()
        for (id, key) in delegator.keys { ring.add(key, roles: [.tuf(role.name)], listedAs: id) }
        for r in revocations { ring.revoke(r) }
        return md.verify(role: role.keys, as: .tuf(role.name), ring: ring, at: .distantPast).isMet ? md : nil
    }

    /// Whether the file at `path` has `file`'s length and every hash it lists (sha256, sha512).
    private static func matches(_ files: any Listing, _ path: String, _ file: TargetFile) throws -> Bool {
        let algorithms = Set(file.hashes.keys.compactMap(DigestAlgorithm.init(rawValue:)))
        guard algorithms.count == file.hashes.count, !algorithms.isEmpty else { return false }
        let d = try files.digests(of: path, algorithms: algorithms)
        return d.length == file.length && algorithms.allSatisfy { d.hex[$0] == file.hashes[$0.rawValue] }
    }
}
