import FirmchainCore
import Foundation
import Signing

/// Builds complete TUF repositories in memory, in milliseconds: every root version, timestamp,
/// snapshot, top-level and delegated targets, and the target copies, signed by the signers it
/// is given (python-tuf's `RepositorySimulator` is the model). Tests mutate what it publishes
/// by the hundred; ceremonies and verifiers are checked against it without touching a disk.
///
/// ```swift
/// var b = try RepositoryBuilder(signers: RoleTable { _ in try SoftwareSigner(generating: .ed25519) }, now: t0)
/// b.addTarget("fw.bin", bytes: image)
/// let source = try b.publish()                 // an InMemorySource
/// let result = RepositoryVerifier(source: source, now: t0).verify(trustedRoot: b.rootBytes(version: 1))
/// ```
public struct RepositoryBuilder {
    /// The signers of each top-level role (several per role for thresholds).
    public var signers: RoleTable<[any Signer]>
    /// The thresholds written into the next root.
    public var thresholds: RoleTable<Int>
    /// The reference time metadata expiry is counted from.
    public var now: Date
    /// Expiry windows.
    public var expiry: ExpiryPolicy
    /// The targets of the top-level targets role, by name, with their bytes.
    public var targets: [String: (file: TargetFile, bytes: [UInt8])] = [:]
    /// Delegated roles of the top-level targets role, in order, with their signers and targets.
    public var delegations: [(role: DelegatedRole, signers: [any Signer], targets: [String: (file: TargetFile, bytes: [UInt8])])] = []

    /// Every root published so far, oldest first.
    public private(set) var roots: [Metadata<Root>] = []
    /// Versions of the next publish.
    public private(set) var versions = (timestamp: Int64(0), snapshot: Int64(0), targets: Int64(0))
    private var delegatedVersions: [String: Int64] = [:]
    private var files: [String: [UInt8]] = [:]

    /// A builder whose first root names `signers`' keys with threshold 1 each.
    public init(signers: RoleTable<[any Signer]>, now: Date, expiry: ExpiryPolicy = ExpiryPolicy()) throws {
        self.signers = signers
        self.thresholds = RoleTable { _ in 1 }
        self.now = now
        self.expiry = expiry
        try rotateRoot(signedBy: [])
    }

    /// Adds (or replaces) a top-level target with firmware `custom` data when given.
    public mutating func addTarget(_ name: String, bytes: [UInt8], custom: JSONValue? = nil) {
        targets[name] = (Self.entry(bytes, custom: custom), bytes)
    }

    /// Delegates `paths` to a role signed by `signers` (threshold `threshold`).
    public mutating func delegate(_ name: String, paths: [String], signers: [any Signer], threshold: Int = 1) {
        let keys = RoleKeys(keyids: signers.map { TUFKey($0.publicKey).keyid }, threshold: threshold)
        delegations.append((DelegatedRole(name: name, keys: keys, terminating: false, paths: paths), signers, [:]))
    }

    /// Adds a target to the delegated role `role`.
    public mutating func addTarget(_ name: String, bytes: [UInt8], to role: String, custom: JSONValue? = nil) {
        guard let i = delegations.firstIndex(where: { $0.role.name == role }) else { return }
        delegations[i].targets[name] = (Self.entry(bytes, custom: custom), bytes)
    }

    /// Publishes root version N+1 with the current `signers` and `thresholds`, signed by the
    /// new root keys and by `oldSigners` (the previous root's keys: TUF spec §5.3.4).
    public mutating func rotateRoot(signedBy oldSigners: [any Signer]) throws {
        var keys = [String: TUFKey]()
        let roles = signers.map { role, s -> RoleKeys in
            for k in s.map({ TUFKey($0.publicKey) }) { keys[k.keyid] = k }
            return RoleKeys(keyids: s.map { TUFKey($0.publicKey).keyid }, threshold: thresholds[role])
        }
        let version = Int64(roots.count + 1)
        var md = Metadata(signed: Root(common: CommonFields(version: version, expires: now.addingTimeInterval(expiry.root)), keys: keys, roles: roles))
        let message = try md.signedBytes()
        var sigs = [TUFSignature]()
        for s in oldSigners + signers.root {
            let k = TUFKey(s.publicKey)
            guard !sigs.contains(where: { $0.keyid == k.keyid }), let alg = k.algorithm else { continue }
            sigs.append(TUFSignature(keyid: k.keyid, sig: Hex.encode(try s.sign(message, algorithm: alg))))
        }
        md.signatures = sigs
        roots.append(md)
        files["\(version).root.json"] = md.fileBytes()
    }

    /// The bytes of root version `version` (1-based), to trust from outside.
    public func rootBytes(version: Int = 1) -> [UInt8] { roots[version - 1].fileBytes() }

    /// Signs and adds new versions of every delegated role, targets, snapshot and timestamp
    /// (each version one higher than the last), and returns the whole repository.
    @discardableResult
    public mutating func publish() throws -> InMemorySource {
        guard let root = roots.last?.signed else { return InMemorySource() }
        var meta = [String: MetaFile]()
        var delegated = Delegations(keys: [:], roles: [])
        var targetFiles = [String: [UInt8]]()
        for d in delegations {
            let v = (delegatedVersions[d.role.name] ?? 0) + 1
            delegatedVersions[d.role.name] = v
            for s in d.signers { let k = TUFKey(s.publicKey); delegated.keys[k.keyid] = k }
            delegated.roles.append(d.role)
            var md = Metadata(signed: Targets(common: CommonFields(version: v, expires: now.addingTimeInterval(expiry.targets)),
                                              targets: d.targets.mapValues(\.file)))
            try md.sign(with: d.signers, role: d.role.keys, roleName: d.role.name)
            files["\(v).\(d.role.name).json"] = md.fileBytes()
            meta["\(d.role.name).json"] = MetaFile(version: v)
            for (name, t) in d.targets { for (_, h) in t.file.hashes { targetFiles[InMemorySource.targetKey(name: name, hash: h)] = t.bytes } }
        }
        versions.targets += 1
        var targetsMD = Metadata(signed: Targets(common: CommonFields(version: versions.targets, expires: now.addingTimeInterval(expiry.targets)),
                                                 targets: targets.mapValues(\.file), delegations: delegations.isEmpty ? nil : delegated))
        try targetsMD.sign(with: signers.targets, role: root.roles.targets, roleName: "targets")
        files["\(versions.targets).targets.json"] = targetsMD.fileBytes()
        meta["targets.json"] = MetaFile(version: versions.targets)
        for (name, t) in targets { for (_, h) in t.file.hashes { targetFiles[InMemorySource.targetKey(name: name, hash: h)] = t.bytes } }

        versions.snapshot += 1
        var snap = Metadata(signed: Snapshot(common: CommonFields(version: versions.snapshot, expires: now.addingTimeInterval(expiry.snapshot)), meta: meta))
        try snap.sign(with: signers.snapshot, role: root.roles.snapshot, roleName: "snapshot")
        let snapBytes = snap.fileBytes()
        files["\(versions.snapshot).snapshot.json"] = snapBytes

        versions.timestamp += 1
        var ts = Metadata(signed: Timestamp(common: CommonFields(version: versions.timestamp, expires: now.addingTimeInterval(expiry.timestamp)),
                                            snapshot: MetaFile(version: versions.snapshot, length: Int64(snapBytes.count),
                                                               hashes: ["sha256": DigestCalculator.sha256Hex(snapBytes)])))
        try ts.sign(with: signers.timestamp, role: root.roles.timestamp, roleName: "timestamp")
        files["timestamp.json"] = ts.fileBytes()
        return InMemorySource(metadata: files, targets: targetFiles)
    }

    private static func entry(_ bytes: [UInt8], custom: JSONValue?) -> TargetFile {
        let d = DigestCalculator.bytes(bytes, algorithms: [.sha256, .sha512])
        return TargetFile(length: Int64(bytes.count), hashes: ["sha256": d.hex[.sha256] ?? "", "sha512": d.hex[.sha512] ?? ""], custom: custom)
    }
}
