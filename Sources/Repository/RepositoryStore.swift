import FirmchainCore
import Foundation
import Signing

/// How long each role's metadata stays valid after it is signed.
public struct ExpiryPolicy: Sendable, Hashable {
    /// How long root metadata stays valid after it is signed, in seconds.
    public var root: TimeInterval
    /// How long targets metadata stays valid after it is signed, in seconds.
    public var targets: TimeInterval
    /// How long snapshot metadata stays valid after it is signed, in seconds.
    public var snapshot: TimeInterval
    /// How long timestamp metadata stays valid after it is signed, in seconds.
    public var timestamp: TimeInterval

    /// Defaults close to common practice: a year for root, three months for targets, a week
    /// for snapshot, a day for timestamp.
    public init(root: TimeInterval = 365 * 86_400, targets: TimeInterval = 90 * 86_400,
                snapshot: TimeInterval = 7 * 86_400, timestamp: TimeInterval = 86_400) {
        self.root = root
        self.targets = targets
        self.snapshot = snapshot
        self.timestamp = timestamp
    }
}

/// The keys and threshold one role is given when a repository is created.
public struct RoleAssignment: Sendable {
    /// The role's public keys; `prepareInitial` refuses a role without any.
    public var keys: [PublicKey]
    /// How many of `keys` must sign the role's metadata; `prepareInitial` requires 1 through `keys.count`.
    public var threshold: Int

    /// Assigns `keys` to a role with `threshold` (by default 1).
    public init(keys: [PublicKey], threshold: Int = 1) {
        self.keys = keys
        self.threshold = threshold
    }
}

/// A TUF repository on disk in the release layout of Docs/architecture.md "Release directory":
///
/// ```
/// OUT/repository/metadata/1.root.json … N.root.json, timestamp.json, V.snapshot.json, V.targets.json
/// OUT/repository/targets/<sha256>.<name>
/// OUT/.staging/targets.json            targets being prepared (not served)
/// ```
///
/// Consistent snapshots are always on. Every write is atomic, and a publish writes targets,
/// then snapshot, then timestamp last: until `timestamp.json` is replaced, clients see the last
/// good repository, so a failed or killed publish loses nothing.
public struct RepositoryStore: Sendable {
    /// The release directory (`OUT`).
    public let directory: String
    /// The directory TUF metadata is served from, `OUT/repository/metadata`.
    public var metadataDirectory: String { directory + "/repository/metadata" }
    /// The directory target files are served from, `OUT/repository/targets`.
    public var targetsDirectory: String { directory + "/repository/targets" }
    var stagedTargetsPath: String { directory + "/.staging/targets.json" }

    /// Largest metadata file read (untrusted input).
    public static let metadataLimit = 16 << 20
    /// How long `initialize`, `addTarget` and `publish` wait for another writer of the same release.
    public static let writerWaitSeconds = 120

    /// A store for the release directory `directory` (`OUT`); nothing is read or created until it is used.
    public init(directory: String) { self.directory = directory }

    // MARK: Reading

    func metadataPath(_ name: String) -> String { metadataDirectory + "/" + name }

    /// Loads `name` from the metadata directory.
    public func load<T: SignedMetadata>(_ type: T.Type, _ name: String) throws -> Metadata<T> {
        let path = metadataPath(name)
        return try Metadata<T>(bytes: try FileIO.read(path, limit: RepositoryStore.metadataLimit), path: path)
    }

    /// The highest N for which `N.root.json` exists (0 when there is none).
    public func latestRootVersion() -> Int64 {
        var n: Int64 = 0
        while FileIO.exists(metadataPath("\(n + 1).root.json")) { n += 1 }
        return n
    }

    /// The current root, timestamp, snapshot and targets, following the timestamp's pointers.
    public func current() throws -> (root: Metadata<Root>, timestamp: Metadata<Timestamp>, snapshot: Metadata<Snapshot>, targets: Metadata<Targets>) {
        let n = latestRootVersion()
        guard n > 0 else {
            throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: metadataDirectory)
        }
        let root = try load(Root.self, "\(n).root.json")
        let timestamp = try load(Timestamp.self, "timestamp.json")
        let snapshot = try load(Snapshot.self, "\(timestamp.signed.snapshot.version).snapshot.json")
        guard let tv = snapshot.signed.meta["targets.json"]?.version else {
            throw FirmchainError.malformed("snapshot does not list targets.json", path: metadataPath("\(snapshot.signed.version).snapshot.json"))
        }
        let targets = try load(Targets.self, "\(tv).targets.json")
        return (root, timestamp, snapshot, targets)
    }

    /// The targets being prepared for the next publish: the staged draft, or the current
    /// targets when nothing is staged.
    public func stagedTargets() throws -> Targets {
        if FileIO.exists(stagedTargetsPath) {
            return try Targets(signedJSON: try JSONReader().parse(try FileIO.read(stagedTargetsPath, limit: RepositoryStore.metadataLimit), path: stagedTargetsPath))
        }
        return try current().targets.signed
    }

    // MARK: Writing

    /// Creates a new repository: `1.root.json` with the given role keys, and version 1 of
    /// targets (empty), snapshot and timestamp, all signed.
    ///
    /// - Throws: `repo.already-initialized` when `1.root.json` exists (a root changes only by a
    ///   rotation ceremony), `repo.threshold-not-met` when the signers cannot meet a threshold.
    public func initialize(roles: RoleTable<RoleAssignment>, signers: [any Signer], expiry: ExpiryPolicy, now: Date) throws -> Metadata<Root> {
        try FileIO.makeDirectories(directory)
        let lock = try DirectoryLock(directory, waitSeconds: Self.writerWaitSeconds)
        defer { lock.unlock() }
        let (root, release) = try prepareInitial(roles: roles, signers: signers, targets: nil, expiry: expiry, now: now)
        try FileIO.makeDirectories(targetsDirectory)
        try commit(release)
        return root
    }

    /// Signs a new repository without writing it: `1.root.json` and version 1 of targets
    /// (`targets`' entries, or none), snapshot and timestamp. `commit` writes the root last: it
    /// marks the repository as created, so a run killed before it leaves nothing a client
    /// can load and can simply be re-run.
    public func prepareInitial(roles: RoleTable<RoleAssignment>, signers: [any Signer], targets: Targets?,
                               delegated: [(name: String, metadata: Metadata<Targets>)] = [], expiry: ExpiryPolicy,
                               now: Date) throws -> (Metadata<Root>, PreparedRelease) {
        guard !isInitialized else {
            throw FirmchainError(.repoAlreadyInitialized, "a repository already exists here; roots change only by rotation", path: metadataPath("1.root.json"))
        }
        var keys = [String: TUFKey]()
        let roleKeys = try roles.map { role, a -> RoleKeys in
            guard !a.keys.isEmpty else {
                throw FirmchainError(.repoRoleWithoutKeys, "the \(role.rawValue) role needs at least one key")
            }
            guard a.threshold >= 1, a.threshold <= a.keys.count else {
                throw FirmchainError(.repoBadThreshold, "the \(role.rawValue) threshold \(a.threshold) must be between 1 and its \(a.keys.count) key(s)")
            }
            let tufKeys = a.keys.map { TUFKey($0).added(at: now) }
            for k in tufKeys { keys[k.keyid] = k }
            return RoleKeys(keyids: tufKeys.map(\.keyid), threshold: a.threshold)
        }
        var root = Metadata(signed: Root(common: CommonFields(version: 1, expires: now.addingTimeInterval(expiry.root)),
                                         keys: keys, roles: roleKeys, consistentSnapshot: true))
        try root.sign(with: signers, role: roleKeys.root, roleName: "root")
        // Sign everything before writing anything, so a missing key leaves no half repository.
        let first = Targets(common: CommonFields(version: 1, expires: now.addingTimeInterval(expiry.targets)), targets: targets?.targets ?? [:],
                            delegations: targets?.delegations, unrecognized: targets?.unrecognized ?? [:])
        let files = try signedRelease(root: root.signed, targets: first, delegated: delegated, previous: nil, signers: signers, expiry: expiry, now: now)
        return (root, PreparedRelease(files: files + [("1.root.json", root.fileBytes())], targetsVersion: 1, snapshotVersion: 1, timestampVersion: 1))
    }

    /// Copies `file` into the targets directory as `<sha256>.<name>` and stages its entry
    /// (length, sha256 and sha512, `custom`) for the next publish. Returns the entry.
    ///
    /// `admit` sees the staged targets under the release's lock, before anything is written, and
    /// throws to refuse (the rollback rule): a check made before taking the lock could be
    /// overtaken by a concurrent writer.
    public func addTarget(file: String, name: String, custom: JSONValue?, progress: ProgressReporter = SilentProgress(),
                          admit: (Targets) throws -> Void = { _ in }) throws -> TargetFile {
        // Read, change and write the staged targets under the release's lock: concurrent
        // writers queue instead of losing each other's targets.
        guard isInitialized else {
            throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: metadataDirectory)
        }
        let lock = try DirectoryLock(directory, waitSeconds: Self.writerWaitSeconds)
        defer { lock.unlock() }
        var staged = try stagedTargets()
        try admit(staged)
        var entry = try storeTargetFile(file, name: name, progress: progress)
        entry.custom = custom
        staged.targets[name] = entry
        try FileIO.makeDirectories(directory + "/.staging")
        try AtomicFile.write(JSONEncoding.standard(staged.signedJSON), to: stagedTargetsPath)
        return entry
    }

    /// Copies `file` into the targets directory under each of its hashes (consistent
    /// snapshots, TUF spec §5.7.3) unless an identical copy is there; returns its entry
    /// (length, sha256, sha512; no `custom`). Nothing is signed or staged.
    public func storeTargetFile(_ file: String, name: String, progress: ProgressReporter = SilentProgress()) throws -> TargetFile {
        try RepositoryStore.validateTargetName(name)
        let digests = try DigestCalculator.file(file, algorithms: [.sha256, .sha512], progress: progress)
        let entry = TargetFile(length: digests.length, hashes: ["sha256": digests.hex[.sha256]!, "sha512": digests.hex[.sha512]!])
        for alg in ["sha256", "sha512"] {
            let dest = targetPath(name: name, hash: entry.hashes[alg]!)
            try FileIO.makeDirectories(AtomicFileWriterDirectory.of(dest))
            if FileIO.exists(dest), (try? DigestCalculator.file(dest).sha256) == digests.sha256 { continue }
            try copy(file, to: dest, expectedSHA256: digests.sha256!)
        }
        return entry
    }

    /// Where the target `name` with hash `hash` is served: `targets/[dir/]<hash>.<basename>`.
    public func targetPath(name: String, hash: String) -> String {
        if let slash = name.lastIndex(of: "/") {
            return "\(targetsDirectory)/\(name[..<slash])/\(hash).\(name[name.index(after: slash)...])"
        }
        return "\(targetsDirectory)/\(hash).\(name)"
    }

    /// Signed metadata ready to be written: new targets, snapshot and timestamp.
    public struct PreparedRelease: Sendable {
        /// File names and bytes, in the order they must be written (timestamp last).
        public let files: [(name: String, bytes: [UInt8])]
        /// The version of the targets metadata in `files`.
        public let targetsVersion: Int64
        /// The version of the snapshot metadata in `files`.
        public let snapshotVersion: Int64
        /// The version of the timestamp metadata in `files`.
        public let timestampVersion: Int64
    }

    /// Signs new targets (`targets`, or the staged draft), a snapshot over it and a timestamp
    /// over that, each with its version bumped and a fresh expiry. Writes nothing.
    /// With `root`, the roles are signed as that root lists them (a rotation about to publish it).
    ///
    /// `delegated` are delegated targets roles already signed by their own keys (their
    /// delegator, `targets`, names them in its `delegations`): they are written before the
    /// snapshot, which lists each.
    public func prepare(targets: Targets? = nil, root: Root? = nil, delegated: [(name: String, metadata: Metadata<Targets>)] = [],
                        signers: [any Signer], expiry: ExpiryPolicy, now: Date) throws -> PreparedRelease {
        let cur = try current()
        var t = try targets ?? stagedTargets()
        t.common.version = cur.targets.signed.version + 1
        t.common.expires = now.addingTimeInterval(expiry.targets)
        // Delegated roles the new targets still name but that are not re-signed here keep their
        // published versions in the snapshot (a ceremony that changes one role, or a root).
        // Only a role whose delegation (keys, threshold, paths) is unchanged: its published
        // metadata still verifies under the new targets.
        let resigned = Set(delegated.map(\.name))
        let published = cur.targets.signed.delegations
        let carried = Dictionary(uniqueKeysWithValues: (t.delegations?.roles ?? []).filter { role in
            !resigned.contains(role.name) && published?.roles.first(where: { $0.name == role.name }) == role
                && role.keys.keyids.allSatisfy { t.delegations?.keys[$0] == published?.keys[$0] }
        }.compactMap { role in cur.snapshot.signed.meta["\(role.name).json"].map { ("\(role.name).json", $0) } })
        let files = try signedRelease(root: root ?? cur.root.signed, targets: t, delegated: delegated, carried: carried,
                                      previous: (cur.snapshot.signed.version, cur.timestamp.signed.version),
                                      signers: signers, expiry: expiry, now: now)
        return PreparedRelease(files: files, targetsVersion: t.common.version, snapshotVersion: cur.snapshot.signed.version + 1,
                               timestampVersion: cur.timestamp.signed.version + 1)
    }

    /// Writes a prepared release: targets, then snapshot, then `timestamp.json`, the commit
    /// point. Clears the staged draft.
    public func commit(_ release: PreparedRelease) throws {
        try FileIO.makeDirectories(metadataDirectory)
        try write(release.files)
        try? FileManager.default.removeItem(atPath: stagedTargetsPath)
    }

    /// Signs and writes new targets (from the staged draft), snapshot and timestamp, each with
    /// its version bumped and a fresh expiry. Timestamp is written last (the commit point).
    @discardableResult
    public func publish(signers: [any Signer], expiry: ExpiryPolicy, now: Date) throws -> (targets: Int64, snapshot: Int64, timestamp: Int64) {
        guard isInitialized else {
            throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: metadataDirectory)
        }
        let lock = try DirectoryLock(directory, waitSeconds: Self.writerWaitSeconds)
        defer { lock.unlock() }
        let release = try prepare(signers: signers, expiry: expiry, now: now)
        try commit(release)
        return (release.targetsVersion, release.snapshotVersion, release.timestampVersion)
    }

    /// What `refresh` wrote.
    public struct Refreshed: Sendable {
        /// The new snapshot version, when the snapshot was refreshed.
        public var snapshot: Int64?
        /// The new timestamp version.
        public var timestamp: Int64
        /// The files written, in order (relative to the metadata directory).
        public var files: [(name: String, sha256: String)]
    }

    /// Re-signs the timestamp — and, for `.snapshot`, the snapshot first — with its version
    /// bumped and a fresh expiry, and changes nothing else (tuftool's `update` for the online
    /// roles): a release stays fresh with only the online keys, between releases. The snapshot
    /// keeps the roles it lists; the timestamp points at the snapshot as it then is.
    /// It takes the release's lock, clears what killed writers left, and runs `admit` (the
    /// caller's verification of the release it extends) under the lock before it writes, so no
    /// other writer can change the release between the check and the write; `record` (the
    /// caller's custody entry for it) runs under the lock after the write.
    ///
    /// - Throws: what `admit` throws; `repo.threshold-not-met` when `signers` do not meet a
    ///   role's threshold; `usage.invalid` for a role other than timestamp or snapshot.
    public func refresh(_ role: TopLevelRole, signers: [any Signer], expiry: ExpiryPolicy, now: Date,
                        admit: () throws -> Void = {}, record: (Refreshed) throws -> Void = { _ in }) throws -> Refreshed {
        guard role == .timestamp || role == .snapshot else {
            throw FirmchainError(.usageInvalid, "only the timestamp and snapshot roles are refreshed; targets changes by a release and root by a ceremony")
        }
        let lock = try DirectoryLock(directory, waitSeconds: Self.writerWaitSeconds)
        defer { lock.unlock() }
        // Only the repository's: custody writers hold the ledger's lock, not this one.
        AtomicFile.removeStaleTemporaries(under: directory + "/repository")
        try admit()
        let cur = try current()
        let root = cur.root.signed
        var files = [(name: String, bytes: [UInt8])]()
        var snapshotFile = (version: cur.snapshot.signed.version, bytes: cur.snapshot.fileBytes())
        if role == .snapshot {
            var s = cur.snapshot
            s.signed.common.version += 1
            s.signed.common.expires = now.addingTimeInterval(expiry.snapshot)
            try s.sign(with: signers, role: root.roles.snapshot, roleName: "snapshot")
            snapshotFile = (s.signed.version, s.fileBytes())
            files.append(("\(s.signed.version).snapshot.json", snapshotFile.bytes))
        } else if let bytes = try? FileIO.read(metadataPath("\(snapshotFile.version).snapshot.json"), limit: Self.metadataLimit) {
            snapshotFile.bytes = bytes  // the timestamp lists the file as served
        }
        let digests = DigestCalculator.bytes(snapshotFile.bytes, algorithms: [.sha256])
        var ts = Metadata(signed: Timestamp(common: CommonFields(version: cur.timestamp.signed.version + 1, expires: now.addingTimeInterval(expiry.timestamp)),
                                            snapshot: MetaFile(version: snapshotFile.version, length: Int64(snapshotFile.bytes.count),
                                                               hashes: ["sha256": digests.sha256!])))
        try ts.sign(with: signers, role: root.roles.timestamp, roleName: "timestamp")
        files.append(("timestamp.json", ts.fileBytes()))
        try write(files)
        let refreshed = Refreshed(snapshot: role == .snapshot ? snapshotFile.version : nil, timestamp: ts.signed.version,
                                  files: files.map { ($0.name, DigestCalculator.sha256Hex($0.bytes)) })
        try record(refreshed)
        return refreshed
    }

    /// Whether a repository exists here (its `1.root.json` is written last by `initialize`).
    public var isInitialized: Bool { FileIO.exists(metadataPath("1.root.json")) }

    /// Signs targets, then a snapshot over it, then a timestamp over that; writes nothing.
    private func signedRelease(root: Root, targets: Targets, delegated: [(name: String, metadata: Metadata<Targets>)] = [],
                               carried: [String: MetaFile] = [:], previous: (snapshot: Int64, timestamp: Int64)?, signers: [any Signer],
                               expiry: ExpiryPolicy, now: Date) throws -> [(name: String, bytes: [UInt8])] {
        var t = Metadata(signed: targets)
        try t.sign(with: signers, role: root.roles.targets, roleName: "targets")
        let tBytes = t.fileBytes()
        let snapVersion = (previous?.snapshot ?? 0) + 1
        var meta = carried
        meta["targets.json"] = MetaFile(version: targets.common.version)
        for d in delegated { meta["\(d.name).json"] = MetaFile(version: d.metadata.signed.version) }
        var s = Metadata(signed: Snapshot(common: CommonFields(version: snapVersion, expires: now.addingTimeInterval(expiry.snapshot)),
                                          meta: meta))
        try s.sign(with: signers, role: root.roles.snapshot, roleName: "snapshot")
        let sBytes = s.fileBytes()
        let digests = DigestCalculator.bytes(sBytes, algorithms: [.sha256])
        var ts = Metadata(signed: Timestamp(common: CommonFields(version: (previous?.timestamp ?? 0) + 1, expires: now.addingTimeInterval(expiry.timestamp)),
                                            snapshot: MetaFile(version: snapVersion, length: Int64(sBytes.count), hashes: ["sha256": digests.sha256!])))
        try ts.sign(with: signers, role: root.roles.timestamp, roleName: "timestamp")
        return delegated.map { ("\($0.metadata.signed.version).\($0.name).json", $0.metadata.fileBytes()) }
            + [("\(targets.common.version).targets.json", tBytes), ("\(snapVersion).snapshot.json", sBytes), ("timestamp.json", ts.fileBytes())]
    }

    private func write(_ files: [(name: String, bytes: [UInt8])]) throws {
        for f in files { try AtomicFile.write(f.bytes, to: metadataPath(f.name)) }
    }

    private func copy(_ source: String, to dest: String, expectedSHA256: String) throws {
        let w = try AtomicFileWriter(path: dest)
        let fd = try FileIO.openRegular(source)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var hasher = DigestCalculator.Streaming()
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw FirmchainError(.ioFailed, "read failed", path: source) }
            if n == 0 { break }
            hasher.update(buffer[0..<n])
            try w.write(buffer[0..<n])
        }
        // The file changed between hashing and copying: refuse rather than publish a mismatch.
        guard hasher.sha256Hex() == expectedSHA256 else {
            w.abort()
            throw FirmchainError(.repoTargetChanged, "changed while it was being added", path: source)
        }
        try w.commit()
    }

    /// The longest last part of a target name, in UTF-8 bytes: its copies are stored as
    /// `<sha256>.<part>` and `<sha512>.<part>`, written through a temporary
    /// `.<sha512>.<part>.tmp-XXXXXX`, which must fit the 255 bytes of a file name.
    public static let maxTargetNamePart = 255 - 129 - 12

    /// Target names are relative paths without `.`/`..` segments or empty parts, so a target can
    /// never be written outside the targets directory; without `%`, `?` or `#`, which a client
    /// fetching the target by URL (python-tuf, any HTTP server) would read as an escape, a query or
    /// a fragment and so fetch another file; and with parts short enough to be stored.
    public static func validateTargetName(_ name: String) throws {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let shown = DisplayText.oneLine(name)
        guard !name.isEmpty, name.utf8.count <= 1024, !name.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              !name.unicodeScalars.contains(where: { DisplayText.isUnsafe($0) || "\\%?#".unicodeScalars.contains($0) }) else {
            throw FirmchainError(.repoBadTargetName, "target name \"\(shown)\" must be a relative path without . or .. parts, control or format characters, or any of \\ % ? #")
        }
        guard parts.dropLast().allSatisfy({ $0.utf8.count <= 255 }), (parts.last?.utf8.count ?? 0) <= maxTargetNamePart else {
            throw FirmchainError(.repoBadTargetName, "target name \"\(shown.prefix(64))…\" is too long: its last part may have \(maxTargetNamePart) bytes (its copies are stored as <sha512>.<part>), a directory part 255")
        }
    }
}

enum AtomicFileWriterDirectory {
    static func of(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
