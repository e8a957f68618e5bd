import FirmchainCore
import Foundation
import Signing

/// The metadata versions a client remembers between updates, so that a repository can never
/// take it back to older metadata (TUF spec §5.3.5, §5.4.3, §5.5.5: rollback attacks).
public struct TrustedVersions: Sendable, Hashable {
    /// The last trusted root version.
    public var root: Int64
    /// The last trusted timestamp version.
    public var timestamp: Int64
    /// The last trusted snapshot version.
    public var snapshot: Int64
    /// The versions the last trusted snapshot listed, by file name (`targets.json`, `team-a.json`).
    public var snapshotMeta: [String: Int64]

    /// Versions from their parts.
    public init(root: Int64, timestamp: Int64, snapshot: Int64, snapshotMeta: [String: Int64]) {
        self.root = root
        self.timestamp = timestamp
        self.snapshot = snapshot
        self.snapshotMeta = snapshotMeta
    }

    /// The state document (`firmchain verify --previous STATE`, schema 1).
    public var json: JSONValue {
        ["schema": .int(1), "root": .int(root), "timestamp": .int(timestamp), "snapshot": .int(snapshot),
         "snapshot_meta": .object(snapshotMeta.mapValues { .int($0) })]
    }

    /// Reads a state document.
    ///
    /// - Throws: `repo.malformed-metadata` naming the member.
    public init(json: JSONValue, path: String? = nil) throws {
        var f = try JSONFields(json, "state", error: { FirmchainError.malformed($0, path: path) })
        guard try f.int("schema") == 1 else { throw FirmchainError.malformed("state.schema is not 1", path: path) }
        root = try f.int("root")
        timestamp = try f.int("timestamp")
        snapshot = try f.int("snapshot")
        snapshotMeta = try f.object("snapshot_meta").mapValues { v in
            guard let i = v.int64Value else { throw FirmchainError.malformed("state.snapshot_meta holds a non-integer", path: path) }
            return i
        }
    }
}

/// The metadata a TUF client trusts, updated from untrusted bytes one role at a time in the
/// order of the client workflow (TUF spec §5.3–§5.6), at one reference time and against the
/// previously trusted versions — python-tuf's `TrustedMetadataSet` is the model.
///
/// Each update returns the checks it ran and advances the state only when all of them pass,
/// so nothing unverified is ever trusted. Signature checks go through the `KeyRing` of the
/// current root (or the delegating role), with the revocations in force applied.
public struct TrustedMetadataSet: Sendable {
    /// The time expiry is judged at.
    public let referenceTime: Date
    /// The versions trusted before this update (rollback protection), if any.
    public let previous: TrustedVersions?
    /// Revocations applied to every signature check.
    public let revocations: [Revocation]
    /// Report expired metadata as a warning instead of a failure. Only for a writer that is
    /// about to re-sign the expired roles (extending a release), never for a client.
    public let expiredIsWarning: Bool
    /// The trusted root (the newest that chained).
    public private(set) var root: Metadata<Root>
    /// The trusted timestamp.
    public private(set) var timestamp: Metadata<Timestamp>?
    /// The trusted snapshot.
    public private(set) var snapshot: Metadata<Snapshot>?
    /// The trusted top-level targets.
    public private(set) var targets: Metadata<Targets>?
    /// Trusted delegated targets roles by name.
    public private(set) var delegated: [String: Metadata<Targets>] = [:]
    /// The delegated roles' names in the order they were trusted (the delegation walk's order).
    public private(set) var delegationOrder: [String] = []
    /// The timestamp and snapshot roles of the root trusted from outside: when a later root
    /// rotates their keys, the versions remembered for them no longer bind (TUF spec §5.3.11,
    /// fast-forward attack recovery).
    private var startingRoles: (timestamp: RoleKeys, snapshot: RoleKeys)?

    /// Starts from the bytes of a root trusted from outside (shipped with the device, given by
    /// the caller): it must be signed by its own root threshold (`repo.root.trusted`).
    /// Returns nil with the failed check when it is not.
    public static func start(trustedRoot bytes: [UInt8], named name: String, referenceTime: Date,
                             previous: TrustedVersions? = nil, revocations: [Revocation] = [],
                             expiredIsWarning: Bool = false) -> (TrustedMetadataSet?, [Check]) {
        let root: Metadata<Root>
        do { root = try Metadata<Root>(bytes: bytes, path: name) } catch {
            return (nil, [Check("repo.root.trusted", .failed, "the trusted root cannot be read: \(error)", subject: name)])
        }
        // The trusted root and the chain of roots after it are history: each was accepted when
        // it was published, and an emergency rotation away from a compromised root key is
        // itself signed by it. Revocations apply from the newest root on (`finishRoot`).
        let tally = root.verify(role: root.signed.roles.root, as: .tuf("root"), ring: root.signed.keyRing(), at: referenceTime)
        let check = Check.require("repo.root.trusted", tally.isMet, tally.describe("trusted root v\(root.signed.version)"), subject: name)
        guard tally.isMet else { return (nil, [check]) }
        return (TrustedMetadataSet(referenceTime: referenceTime, previous: previous, revocations: revocations,
                                   expiredIsWarning: expiredIsWarning, root: root), [check])
    }

    private init(referenceTime: Date, previous: TrustedVersions?, revocations: [Revocation], expiredIsWarning: Bool, root: Metadata<Root>) {
        self.referenceTime = referenceTime
        self.previous = previous
        self.revocations = revocations
        self.expiredIsWarning = expiredIsWarning
        self.root = root
        startingRoles = (root.signed.roles.timestamp, root.signed.roles.snapshot)
    }

    /// The previously trusted versions that still bind: after the timestamp keys were rotated
    /// none of the timestamp's and snapshot's; after the snapshot keys were, none of the
    /// snapshot's (a compromised key's inflated versions would otherwise lock clients out).
    private var binding: (timestamp: Int64, snapshot: Int64, snapshotMeta: [String: Int64])? {
        guard let previous, let start = startingRoles else { return nil }
        let timestampRotated = start.timestamp != root.signed.roles.timestamp
        let snapshotRotated = timestampRotated || start.snapshot != root.signed.roles.snapshot
        return (timestampRotated ? 0 : previous.timestamp, snapshotRotated ? 0 : previous.snapshot, snapshotRotated ? [:] : previous.snapshotMeta)
    }

    /// The key ring of the trusted root.
    public var ring: KeyRing { root.signed.keyRing(revocations: revocations) }

    /// The versions a client would remember after this update.
    public var versions: TrustedVersions? {
        guard let timestamp, let snapshot else { return nil }
        return TrustedVersions(root: root.signed.version, timestamp: timestamp.signed.version, snapshot: snapshot.signed.version,
                               snapshotMeta: snapshot.signed.meta.mapValues(\.version))
    }

    // MARK: Root (TUF spec §5.3)

    /// Takes `N.root.json` (N = trusted version + 1): signed by a threshold of the trusted
    /// root's root keys and of its own, with version N (§5.3.4–§5.3.5). One `repo.root.chain` check.
    public mutating func updateRoot(_ bytes: [UInt8], named name: String) -> Check {
        let n = root.signed.version + 1
        guard timestamp == nil else { return Check("repo.root.chain", .failed, "a root cannot change after the timestamp was trusted", subject: name) }
        let next: Metadata<Root>
        do { next = try Metadata<Root>(bytes: bytes, path: name) } catch {
            return Check("repo.root.chain", .failed, "\(error)", subject: name)
        }
        let byOld = next.verify(role: root.signed.roles.root, as: .tuf("root"), ring: root.signed.keyRing(), at: referenceTime)
        let byNew = next.verify(role: next.signed.roles.root, as: .tuf("root"), ring: next.signed.keyRing(), at: referenceTime)
        guard next.signed.version == n else {
            return Check("repo.root.chain", .failed, "has version \(next.signed.version), expected \(n)", subject: name)
        }
        guard byOld.isMet else { return Check("repo.root.chain", .failed, byOld.describe("root v\(n) by the previous root keys"), subject: name) }
        guard byNew.isMet else { return Check("repo.root.chain", .failed, byNew.describe("root v\(n) by its own root keys"), subject: name) }
        root = next
        return Check("repo.root.chain", .passed, "root v\(n) signed by the old and the new root keys", subject: name)
    }

    /// After the last root: not older than the previously trusted one (§5.3.5) and not
    /// expired (§5.3.10). `repo.root.rollback` and `repo.root.expiry`.
    public func finishRoot() -> [Check] {
        var checks = [Check]()
        if let previous {
            checks.append(.require("repo.root.rollback", root.signed.version >= previous.root,
                                   "root v\(root.signed.version) is not older than the trusted v\(previous.root)",
                                   failure: "root v\(root.signed.version) is older than the previously trusted v\(previous.root)"))
        }
        checks.append(expiry("repo.root.expiry", "root v\(root.signed.version)", root.signed.expires))
        if !revocations.isEmpty {
            let tally = root.verify(role: root.signed.roles.root, as: .tuf("root"), ring: ring, at: referenceTime)
            checks.append(.require("repo.root.revocations", tally.isMet,
                                   tally.describe("root v\(root.signed.version) with the \(revocations.count) revocation(s) applied")))
        }
        return checks
    }

    // MARK: Timestamp (§5.4)

    /// Takes `timestamp.json`: timestamp threshold, no rollback of its version or of the
    /// snapshot version it names, not expired.
    public mutating func updateTimestamp(_ bytes: [UInt8], named name: String) -> [Check] {
        let md: Metadata<Timestamp>
        do { md = try Metadata<Timestamp>(bytes: bytes, path: name) } catch {
            return [Check("repo.timestamp.read", .failed, "\(error)", subject: name)]
        }
        var checks = [signatures("repo.timestamp.signatures", md, .timestamp, name)]
        if let previous = binding {
            let v = md.signed.version, s = md.signed.snapshot.version
            checks.append(.require("repo.timestamp.rollback", v >= previous.timestamp && s >= previous.snapshot,
                                   "timestamp v\(v) and the snapshot v\(s) it names are not older than the trusted ones",
                                   failure: v < previous.timestamp ? "timestamp v\(v) is older than the trusted v\(previous.timestamp)"
                                       : "names snapshot v\(s), older than the trusted v\(previous.snapshot)", subject: name))
        }
        checks.append(expiry("repo.timestamp.expiry", "timestamp v\(md.signed.version)", md.signed.expires, subject: name))
        if !checks.contains(where: { $0.status == .failed }) { timestamp = md }
        return checks
    }

    // MARK: Snapshot (§5.5)

    /// Takes the snapshot the trusted timestamp names: its length and hashes, the snapshot
    /// threshold, the version named, no role listed at a lower version than the trusted
    /// snapshot listed it, not expired.
    public mutating func updateSnapshot(_ bytes: [UInt8], named name: String) -> [Check] {
        guard let timestamp else { return [Check("repo.snapshot.read", .failed, "no trusted timestamp names a snapshot", subject: name)] }
        let meta = timestamp.signed.snapshot
        var checks = [Self.fileCheck("repo.snapshot.hashes", bytes, meta, name)]
        guard checks[0].status == .passed else { return checks }
        let md: Metadata<Snapshot>
        do { md = try Metadata<Snapshot>(bytes: bytes, path: name) } catch {
            return checks + [Check("repo.snapshot.read", .failed, "\(error)", subject: name)]
        }
        checks.append(signatures("repo.snapshot.signatures", md, .snapshot, name))
        checks.append(.require("repo.snapshot.version", md.signed.version == meta.version, "version \(meta.version) as the timestamp names",
                               failure: "version \(md.signed.version), but the timestamp names \(meta.version)", subject: name))
        if let previous = binding {
            let lower = previous.snapshotMeta.compactMap { file, v -> String? in
                guard let now = md.signed.meta[file]?.version else { return "\(file) is no longer listed (trusted snapshot listed v\(v))" }
                return now < v ? "\(file) v\(now) is older than the trusted v\(v)" : nil
            }.sorted()
            checks.append(.from("repo.snapshot.rollback", "no role is listed at a lower version than the trusted snapshot listed it",
                                failures: lower, subject: name))
        }
        checks.append(expiry("repo.snapshot.expiry", "snapshot v\(md.signed.version)", md.signed.expires, subject: name))
        if !checks.contains(where: { $0.status == .failed }) { snapshot = md }
        return checks
    }

    // MARK: Targets (§5.6)

    /// Takes the top-level targets the trusted snapshot names: length and hashes when listed,
    /// the targets threshold, the version named, not expired.
    public mutating func updateTargets(_ bytes: [UInt8], named name: String) -> [Check] {
        guard let meta = snapshot?.signed.meta["targets.json"] else {
            return [Check("repo.targets.read", .failed, "the trusted snapshot does not list targets.json", subject: name)]
        }
        let (md, checks) = listed(Targets.self, "repo.targets", bytes, meta, name) { md in
            [signatures("repo.targets.signatures", md, .targets, name)]
        }
        if let md, !checks.contains(where: { $0.status == .failed }) { targets = md }
        return checks
    }

    /// Takes delegated role `role` of `delegator` (TUF spec §5.6.7): listed by the trusted
    /// snapshot, signed by a threshold of the keys the delegator names, the version listed, not
    /// expired, and every target it lists inside the paths it was delegated (`repo.delegation.*`).
    public mutating func updateDelegated(_ role: DelegatedRole, by delegator: Delegations, _ bytes: [UInt8], named name: String) -> [Check] {
        guard let meta = snapshot?.signed.meta["\(role.name).json"] else {
            return [Check("repo.delegation.read", .failed, "the trusted snapshot does not list \(role.name).json", subject: name)]
        }
        let (md, checks) = listed(Targets.self, "repo.delegation", bytes, meta, name) { md in
            var ring = KeyRing()
            for (id, key) in delegator.keys { ring.add(key, roles: [.tuf(role.name)], listedAs: id) }
            for r in revocations { ring.revoke(r) }
            let tally = md.verify(role: role.keys, as: .tuf(role.name), ring: ring, at: referenceTime)
            let outside = md.signed.targets.keys.filter { !role.mayList($0) }.sorted()
            return [
                Check.require("repo.delegation.signatures", tally.isMet, tally.describe("\(role.name) v\(md.signed.version)"), subject: name),
                role.paths == nil
                    ? Check("repo.delegation.paths", .failed, "\(role.name) is delegated by path_hash_prefixes, which Firmchain does not check", subject: name)
                    : .from("repo.delegation.paths", "every target of \(role.name) lies within its delegated paths \(role.paths ?? [])",
                            failures: outside.map { "\($0) is outside the paths delegated to \(role.name)" }, subject: name),
            ]
        }
        if let md, !checks.contains(where: { $0.status == .failed }) {
            delegated[role.name] = md
            delegationOrder.append(role.name)
        }
        return checks
    }

    // MARK: Helpers

    private func listed<T: SignedMetadata>(_ type: T.Type, _ prefix: String, _ bytes: [UInt8], _ meta: MetaFile, _ name: String,
                                           _ verify: (Metadata<T>) -> [Check]) -> (Metadata<T>?, [Check]) {
        var checks = [Self.fileCheck(prefix + ".hashes", bytes, meta, name)]
        guard checks[0].status == .passed else { return (nil, checks) }
        let md: Metadata<T>
        do { md = try Metadata<T>(bytes: bytes, path: name) } catch {
            return (nil, checks + [Check(prefix + ".read", .failed, "\(error)", subject: name)])
        }
        checks += verify(md)
        checks.append(.require(prefix + ".version", md.signed.version == meta.version, "version \(meta.version) as the snapshot lists",
                               failure: "version \(md.signed.version), but the snapshot lists \(meta.version)", subject: name))
        checks.append(expiry(prefix + ".expiry", "\(name) v\(md.signed.version)", md.signed.expires, subject: name))
        return (md, checks)
    }

    private func signatures<T: SignedMetadata>(_ id: String, _ md: Metadata<T>, _ role: TopLevelRole, _ name: String) -> Check {
        let tally = md.verify(role: root.signed.roles[role], as: .tuf(role.rawValue), ring: ring, at: referenceTime)
        return .require(id, tally.isMet, tally.describe("\(role.rawValue) v\(md.signed.version)"), subject: name)
    }

    private func expiry(_ id: String, _ what: String, _ expires: Date, subject: String? = nil) -> Check {
        var c = Check.require(id, expires > referenceTime, "\(what) expires \(UTCTimestamp.string(from: expires))",
                              failure: "\(what) expired \(UTCTimestamp.string(from: expires)) (reference time \(UTCTimestamp.string(from: referenceTime)))",
                              subject: subject)
        if c.status == .failed && expiredIsWarning { c.status = .warning }
        return c
    }

    /// Length and hashes of a metadata file against what the role above lists (§5.5.2, §5.6.2).
    static func fileCheck(_ id: String, _ bytes: [UInt8], _ meta: MetaFile, _ name: String) -> Check {
        if let length = meta.length, Int64(bytes.count) != length {
            return Check(id, .failed, "is \(bytes.count) bytes, \(length) listed", subject: name)
        }
        for (alg, want) in (meta.hashes ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let a = DigestAlgorithm(rawValue: alg) else { return Check(id, .failed, "lists the unsupported hash algorithm \(alg)", subject: name) }
            if DigestCalculator.bytes(bytes, algorithms: [a]).hex[a] != want.lowercased() {
                return Check(id, .failed, "its \(alg) does not match the listed one", subject: name)
            }
        }
        return Check(id, .passed, meta.length == nil && meta.hashes == nil ? "no length or hashes listed" : "matches its listed length and hashes",
                     subject: name)
    }
}

extension DelegatedRole {
    /// Whether this role may list the target `path`: some pattern of `paths` matches it, `*`
    /// standing for any run of characters within one path segment (TUF spec §4.5, as
    /// python-tuf matches with `fnmatch` segment by segment).
    public func mayList(_ path: String) -> Bool {
        guard let paths else { return false }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return paths.contains { pattern in
            let pp = pattern.split(separator: "/", omittingEmptySubsequences: false)
            return pp.count == parts.count && zip(pp, parts).allSatisfy { Self.glob(Array($0.0.utf8), Array($0.1.utf8)) }
        }
    }

    /// `*` (any run) and `?` (one byte) over one segment; other bytes match themselves.
    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == s[si] { pi += 1; si += 1 }
            else if pi < p.count, p[pi] == UInt8(ascii: "*") { star = pi; mark = si; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; si = mark }
            else { return false }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
