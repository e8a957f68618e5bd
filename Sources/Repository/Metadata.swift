import FirmchainCore
import Signing
import Foundation

/// The `signed` part of one TUF role's metadata (TUF spec §4.3–§4.6).
public protocol SignedMetadata: Sendable {
    /// The `_type` this role carries: `root`, `targets`, `snapshot` or `timestamp`.
    static var type: String { get }
    /// The metadata version (≥ 1).
    var version: Int64 { get }
    /// When the metadata stops being valid.
    var expires: Date { get }
    /// Reads the `signed` object.
    init(signedJSON: JSONValue) throws
    /// The `signed` object.
    var signedJSON: JSONValue { get }
}

/// The members every role shares (TUF spec §4.2): type, spec version, version, expiry.
public struct CommonFields: Sendable, Hashable {
    /// The TUF specification version this metadata follows.
    public var specVersion: String
    /// The `version` member, at least 1; clients refuse to replace trusted metadata with a lower
    /// version (TUF spec §4.2).
    public var version: Int64
    /// The `expires` member: when clients stop trusting this metadata, written as
    /// `YYYY-MM-DDTHH:MM:SSZ` (TUF spec §4.2).
    public var expires: Date

    /// The `spec_version` new metadata declares by default (TUF 1.0.31); reading accepts any `1.x`.
    public static let currentSpecVersion = "1.0.31"

    /// Creates the common fields of a role from its version and expiry, declaring `specVersion`.
    public init(specVersion: String = CommonFields.currentSpecVersion, version: Int64, expires: Date) {
        self.specVersion = specVersion
        self.version = version
        self.expires = expires
    }

    init(_ f: inout JSONFields, type: String) throws {
        let t = try f.string("_type")
        guard t == type else { throw FirmchainError.malformed("_type is \"\(t)\", expected \"\(type)\"") }
        specVersion = try f.string("spec_version")
        guard specVersion.split(separator: ".").first == "1" else {
            throw FirmchainError.malformed("unsupported spec_version \(specVersion)")
        }
        version = try f.int("version")
        guard version >= 1 else { throw FirmchainError.malformed("version must be at least 1") }
        let e = try f.string("expires")
        guard let d = UTCTimestamp.date(from: e) else { throw FirmchainError.malformed("expires \"\(e)\" is not YYYY-MM-DDTHH:MM:SSZ") }
        expires = d
    }

    func json(type: String) -> [String: JSONValue] {
        ["_type": .string(type), "spec_version": .string(specVersion), "version": .int(version),
         "expires": .string(UTCTimestamp.string(from: expires))]
    }
}

/// The keys and threshold of one role (TUF spec §4.3 "ROLE").
public struct RoleKeys: Sendable, Hashable {
    /// The `keyids` member: the ids of the keys trusted to sign for the role; parsing refuses duplicates.
    public var keyids: [String]
    /// The `threshold` member: how many valid signatures by distinct keys in `keyids` the role
    /// needs (TUF spec §4.3); parsing requires at least 1.
    public var threshold: Int
    /// Members of the role object other than `keyids` and `threshold`, kept so that re-encoding
    /// preserves them.
    public var unrecognized: [String: JSONValue]

    /// Creates a role entry from its key ids, threshold and any extra members.
    public init(keyids: [String], threshold: Int, unrecognized: [String: JSONValue] = [:]) {
        self.keyids = keyids
        self.threshold = threshold
        self.unrecognized = unrecognized
    }

    init(json: JSONValue, context: String) throws {
        var f = try JSONFields(json, context)
        keyids = try f.array("keyids").map {
            guard let s = $0.stringValue else { throw FirmchainError.malformed("\(context).keyids holds a non-string") }
            return s
        }
        guard Set(keyids).count == keyids.count else { throw FirmchainError.malformed("\(context).keyids has duplicates") }
        let t = try f.int("threshold")
        guard t >= 1, t <= Int64(Int32.max) else { throw FirmchainError.malformed("\(context).threshold must be at least 1") }
        threshold = Int(t)
        unrecognized = f.rest
    }

    var json: JSONValue {
        .object((["keyids": .array(keyids.map { .string($0) }), "threshold": .int(threshold)] as [String: JSONValue])
            .merging(unknown: unrecognized))
    }
}

/// root.json's `signed` part (TUF spec §4.3): the keys and thresholds of every top-level role.
public struct Root: SignedMetadata, Hashable {
    /// The `_type` of root metadata, `root`.
    public static let type = "root"
    /// The `spec_version`, `version` and `expires` members every role carries (TUF spec §4.2).
    public var common: CommonFields
    /// The `keys` member: every key that signs for a top-level role, by keyid (TUF spec §4.3).
    public var keys: [String: TUFKey]
    /// The `roles` member: the key ids and threshold of each of the four top-level roles (TUF spec §4.3).
    public var roles: RoleTable<RoleKeys>
    /// The `consistent_snapshot` member: whether the repository serves consistent snapshots,
    /// targets as `HASH.NAME` and metadata other than timestamp as `VERSION.ROLE.json` (TUF spec
    /// §4.3).
    public var consistentSnapshot: Bool
    /// Members of root's `signed` object that Firmchain does not interpret, kept so that
    /// re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// The version of this root, from `common`.
    public var version: Int64 { common.version }
    /// When this root expires, from `common`.
    public var expires: Date { common.expires }

    /// Creates root metadata from its parts, with consistent snapshots on by default.
    public init(common: CommonFields, keys: [String: TUFKey], roles: RoleTable<RoleKeys>, consistentSnapshot: Bool = true,
                unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.keys = keys
        self.roles = roles
        self.consistentSnapshot = consistentSnapshot
        self.unrecognized = unrecognized
    }

    /// Reads root.json's `signed` object (TUF spec §4.3), requiring exactly the four top-level
    /// roles and keeping unknown members in `unrecognized`.
    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "root.signed")
        common = try CommonFields(&f, type: Root.type)
        var keys = [String: TUFKey]()
        for (id, k) in try f.object("keys") {
            let key = try TUFKey(json: k)
            keys[id] = key
        }
        self.keys = keys
        let listed = try f.object("roles")
        // TUF spec §4.3: a root defines exactly the four top-level roles (fail closed on others).
        if let extra = listed.keys.first(where: { TopLevelRole(rawValue: $0) == nil }) {
            throw FirmchainError.malformed("root defines the role \"\(extra)\", which is not a top-level role")
        }
        roles = try RoleTable { role in
            guard let r = listed[role.rawValue] else { throw FirmchainError.malformed("root does not define the \(role.rawValue) role") }
            return try RoleKeys(json: r, context: "roles.\(role.rawValue)")
        }
        guard let cs = try f.take("consistent_snapshot").boolValue else {
            throw FirmchainError.malformed("consistent_snapshot is not a boolean")
        }
        consistentSnapshot = cs
        unrecognized = f.rest
    }

    /// Encodes root.json's `signed` object (TUF spec §4.3), with the unknown members in
    /// `unrecognized` kept beside the known ones.
    public var signedJSON: JSONValue {
        var o = common.json(type: Root.type)
        o["keys"] = .object(keys.mapValues { $0.json })
        o["roles"] = .object(Dictionary(uniqueKeysWithValues: TopLevelRole.allCases.map { ($0.rawValue, roles[$0].json) }))
        o["consistent_snapshot"] = .bool(consistentSnapshot)
        return .object(o.merging(unknown: unrecognized))
    }
}

/// One target file (TUF spec §4.5 "TARGETS"): length, hashes and the application's `custom` data.
public struct TargetFile: Sendable, Hashable {
    /// The `length` member: the target file's size in bytes, never negative when read.
    public var length: Int64
    /// Hex digests by algorithm name (`sha256`, `sha512`); never empty.
    public var hashes: [String: String]
    /// Firmware fields (see `FirmwareInfo` and Docs/manifest.md); signed but not interpreted by TUF.
    public var custom: JSONValue?
    /// Members of the target entry other than `length`, `hashes` and `custom`, kept so that
    /// re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// Creates a target entry from its length, hashes and optional `custom` data.
    public init(length: Int64, hashes: [String: String], custom: JSONValue? = nil, unrecognized: [String: JSONValue] = [:]) {
        self.length = length
        self.hashes = hashes
        self.custom = custom
        self.unrecognized = unrecognized
    }

    init(json: JSONValue, context: String) throws {
        var f = try JSONFields(json, context)
        length = try f.int("length")
        guard length >= 0 else { throw FirmchainError.malformed("\(context).length is negative") }
        var hashes = [String: String]()
        for (alg, h) in try f.object("hashes") {
            guard let s = h.stringValue else { throw FirmchainError.malformed("\(context).hashes.\(alg) is not a string") }
            hashes[alg] = s
        }
        guard !hashes.isEmpty else { throw FirmchainError.malformed("\(context).hashes is empty") }
        self.hashes = hashes
        custom = f.optional("custom")
        unrecognized = f.rest
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["length": .int(length), "hashes": .object(hashes.mapValues { .string($0) })]
        if let custom { o["custom"] = custom }
        return .object(o.merging(unknown: unrecognized))
    }
}

/// A delegated targets role (TUF spec §4.5 "DELEGATIONS").
public struct DelegatedRole: Sendable, Hashable {
    /// The `name` member; the snapshot lists the role's metadata as `NAME.json` (TUF spec §4.5).
    public var name: String
    /// The `keyids` and `threshold` members: the keys that must sign the delegated role's metadata.
    public var keys: RoleKeys
    /// The `terminating` member: whether the target search stops at this role for the targets its
    /// paths match (TUF spec §4.5).
    public var terminating: Bool
    /// Glob patterns of target paths this role may sign for (nil when `path_hash_prefixes` is used).
    public var paths: [String]?
    /// Members of the role entry that Firmchain does not interpret (such as `path_hash_prefixes`),
    /// kept so that re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// Creates a delegated role from its name, keys, `terminating` flag and path patterns.
    public init(name: String, keys: RoleKeys, terminating: Bool, paths: [String]?, unrecognized: [String: JSONValue] = [:]) {
        self.name = name
        self.keys = keys
        self.terminating = terminating
        self.paths = paths
        self.unrecognized = unrecognized
    }

    init(json: JSONValue) throws {
        var f = try JSONFields(json, "delegations.roles[]")
        let roleName = try f.string("name")
        name = roleName
        let keyids = try f.take("keyids"), threshold = try f.take("threshold")
        keys = try RoleKeys(json: ["keyids": keyids, "threshold": threshold], context: "delegations.\(roleName)")
        guard let t = try f.take("terminating").boolValue else { throw FirmchainError.malformed("delegations.\(roleName).terminating is not a boolean") }
        terminating = t
        paths = try f.optional("paths").map { v in
            try (v.arrayValue ?? []).map {
                guard let s = $0.stringValue else { throw FirmchainError.malformed("delegations.\(roleName).paths holds a non-string") }
                return s
            }
        }
        unrecognized = f.rest
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "keyids": .array(keys.keyids.map { .string($0) }),
                                      "threshold": .int(keys.threshold), "terminating": .bool(terminating)]
        if let paths { o["paths"] = .array(paths.map { .string($0) }) }
        return .object(o.merging(unknown: unrecognized))
    }
}

/// The `delegations` member of targets metadata.
public struct Delegations: Sendable, Hashable {
    /// The `keys` member: the keys of the delegated roles, by keyid (TUF spec §4.5).
    public var keys: [String: TUFKey]
    /// The `roles` member: the delegated roles, in the order of priority in which they are listed
    /// (TUF spec §4.5).
    public var roles: [DelegatedRole]
    /// Members of `delegations` other than `keys` and `roles`, kept so that re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// Creates a `delegations` member from its keys and roles.
    public init(keys: [String: TUFKey], roles: [DelegatedRole], unrecognized: [String: JSONValue] = [:]) {
        self.keys = keys
        self.roles = roles
        self.unrecognized = unrecognized
    }

    init(json: JSONValue) throws {
        var f = try JSONFields(json, "delegations")
        keys = try f.object("keys").mapValues { try TUFKey(json: $0) }
        roles = try f.array("roles").map { try DelegatedRole(json: $0) }
        unrecognized = f.rest
    }

    var json: JSONValue {
        .object((["keys": .object(keys.mapValues { $0.json }), "roles": .array(roles.map { $0.json })] as [String: JSONValue])
            .merging(unknown: unrecognized))
    }
}

/// targets.json's `signed` part (TUF spec §4.5).
public struct Targets: SignedMetadata, Hashable {
    /// The `_type` of targets metadata, `targets`.
    public static let type = "targets"
    /// The `spec_version`, `version` and `expires` members every role carries (TUF spec §4.2).
    public var common: CommonFields
    /// The `targets` member: every target file this role signs for, by target name (TUF spec §4.5).
    public var targets: [String: TargetFile]
    /// The `delegations` member, or nil when the role delegates nothing.
    public var delegations: Delegations?
    /// Members of targets' `signed` object that Firmchain does not interpret, kept so that
    /// re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// The version of this targets metadata, from `common`.
    public var version: Int64 { common.version }
    /// When this targets metadata expires, from `common`.
    public var expires: Date { common.expires }

    /// Creates targets metadata from its parts, without delegations by default.
    public init(common: CommonFields, targets: [String: TargetFile], delegations: Delegations? = nil, unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.targets = targets
        self.delegations = delegations
        self.unrecognized = unrecognized
    }

    /// Reads targets.json's `signed` object (TUF spec §4.5), keeping unknown members in `unrecognized`.
    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "targets.signed")
        common = try CommonFields(&f, type: Targets.type)
        var targets = [String: TargetFile]()
        for (path, t) in try f.object("targets") { targets[path] = try TargetFile(json: t, context: "targets[\(path)]") }
        self.targets = targets
        delegations = try f.optional("delegations").map { try Delegations(json: $0) }
        unrecognized = f.rest
    }

    /// Encodes targets.json's `signed` object (TUF spec §4.5), with the unknown members in
    /// `unrecognized` kept beside the known ones.
    public var signedJSON: JSONValue {
        var o = common.json(type: Targets.type)
        o["targets"] = .object(targets.mapValues { $0.json })
        if let delegations { o["delegations"] = delegations.json }
        return .object(o.merging(unknown: unrecognized))
    }
}

/// A `meta` entry of snapshot or timestamp metadata (TUF spec §4.4 "METAFILES").
public struct MetaFile: Sendable, Hashable {
    /// The `version` member: the version of the listed metadata file, at least 1 when read.
    public var version: Int64
    /// The `length` member: the listed file's size in bytes, or nil when not given (it is optional).
    public var length: Int64?
    /// The `hashes` member: hex digests of the listed file by algorithm name, or nil when not
    /// given; never empty when present.
    public var hashes: [String: String]?
    /// Members of the entry other than `version`, `length` and `hashes`, kept so that re-encoding
    /// preserves them.
    public var unrecognized: [String: JSONValue]

    /// Creates a `meta` entry from the file's version and its optional length and hashes.
    public init(version: Int64, length: Int64? = nil, hashes: [String: String]? = nil, unrecognized: [String: JSONValue] = [:]) {
        self.version = version
        self.length = length
        self.hashes = hashes
        self.unrecognized = unrecognized
    }

    init(json: JSONValue, context: String) throws {
        var f = try JSONFields(json, context)
        version = try f.int("version")
        guard version >= 1 else { throw FirmchainError.malformed("\(context).version must be at least 1") }
        length = try f.optional("length").map {
            guard let l = $0.int64Value, l >= 0 else { throw FirmchainError.malformed("\(context).length is not a length") }
            return l
        }
        hashes = try f.optional("hashes").map { v in
            guard let o = v.objectValue, !o.isEmpty else { throw FirmchainError.malformed("\(context).hashes is empty") }
            return try o.mapValues {
                guard let s = $0.stringValue else { throw FirmchainError.malformed("\(context).hashes holds a non-string") }
                return s
            }
        }
        unrecognized = f.rest
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["version": .int(version)]
        if let length { o["length"] = .int(length) }
        if let hashes { o["hashes"] = .object(hashes.mapValues { .string($0) }) }
        return .object(o.merging(unknown: unrecognized))
    }
}

/// snapshot.json's `signed` part (TUF spec §4.4): the version of every targets metadata file.
public struct Snapshot: SignedMetadata, Hashable {
    /// The `_type` of snapshot metadata, `snapshot`.
    public static let type = "snapshot"
    /// The `spec_version`, `version` and `expires` members every role carries (TUF spec §4.2).
    public var common: CommonFields
    /// The `meta` member: the version (and optionally length and hashes) of every targets metadata
    /// file, by file name such as `targets.json` (TUF spec §4.4).
    public var meta: [String: MetaFile]
    /// Members of snapshot's `signed` object that Firmchain does not interpret, kept so that
    /// re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// The version of this snapshot, from `common`.
    public var version: Int64 { common.version }
    /// When this snapshot expires, from `common`.
    public var expires: Date { common.expires }

    /// Creates snapshot metadata from its common fields and `meta` entries.
    public init(common: CommonFields, meta: [String: MetaFile], unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.meta = meta
        self.unrecognized = unrecognized
    }

    /// Reads snapshot.json's `signed` object (TUF spec §4.4), keeping unknown members in `unrecognized`.
    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "snapshot.signed")
        common = try CommonFields(&f, type: Snapshot.type)
        var meta = [String: MetaFile]()
        for (name, m) in try f.object("meta") { meta[name] = try MetaFile(json: m, context: "meta[\(name)]") }
        self.meta = meta
        unrecognized = f.rest
    }

    /// Encodes snapshot.json's `signed` object (TUF spec §4.4), with the unknown members in
    /// `unrecognized` kept beside the known ones.
    public var signedJSON: JSONValue {
        var o = common.json(type: Snapshot.type)
        o["meta"] = .object(meta.mapValues { $0.json })
        return .object(o.merging(unknown: unrecognized))
    }
}

/// timestamp.json's `signed` part (TUF spec §4.6): the current snapshot's version and hashes.
public struct Timestamp: SignedMetadata, Hashable {
    /// The `_type` of timestamp metadata, `timestamp`.
    public static let type = "timestamp"
    /// The `spec_version`, `version` and `expires` members every role carries (TUF spec §4.2).
    public var common: CommonFields
    /// The `meta` member, which must list `snapshot.json` (TUF spec §4.6).
    public var meta: [String: MetaFile]
    /// Members of timestamp's `signed` object that Firmchain does not interpret, kept so that
    /// re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// The version of this timestamp, from `common`.
    public var version: Int64 { common.version }
    /// When this timestamp expires, from `common`.
    public var expires: Date { common.expires }

    /// Creates timestamp metadata whose `meta` lists only `snapshot`, as `snapshot.json`.
    public init(common: CommonFields, snapshot: MetaFile, unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.meta = ["snapshot.json": snapshot]
        self.unrecognized = unrecognized
    }

    /// Reads timestamp.json's `signed` object (TUF spec §4.6), refusing one whose `meta` does not
    /// list `snapshot.json` and keeping unknown members in `unrecognized`.
    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "timestamp.signed")
        common = try CommonFields(&f, type: Timestamp.type)
        var meta = [String: MetaFile]()
        for (name, m) in try f.object("meta") { meta[name] = try MetaFile(json: m, context: "meta[\(name)]") }
        guard meta["snapshot.json"] != nil else { throw FirmchainError.malformed("timestamp does not list snapshot.json") }
        self.meta = meta
        unrecognized = f.rest
    }

    /// The snapshot this timestamp points at.
    public var snapshot: MetaFile { meta["snapshot.json"]! }

    /// Encodes timestamp.json's `signed` object (TUF spec §4.6), with the unknown members in
    /// `unrecognized` kept beside the known ones.
    public var signedJSON: JSONValue {
        var o = common.json(type: Timestamp.type)
        o["meta"] = .object(meta.mapValues { $0.json })
        return .object(o.merging(unknown: unrecognized))
    }
}

/// A signed metadata document: `{"signed": …, "signatures": […]}` (TUF spec §4.2).
public struct Metadata<Signed: SignedMetadata>: Sendable {
    /// The `signed` object: the role's metadata, which the signatures cover.
    public var signed: Signed
    /// The `signatures` member: each a keyid and a signature over the canonical JSON of `signed`
    /// (TUF spec §4.2).
    public var signatures: [TUFSignature]
    /// Members of the document other than `signed` and `signatures`, kept so that re-encoding preserves them.
    public var unrecognized: [String: JSONValue]

    /// Unsigned metadata around `signed`.
    public init(signed: Signed, signatures: [TUFSignature] = [], unrecognized: [String: JSONValue] = [:]) {
        self.signed = signed
        self.signatures = signatures
        self.unrecognized = unrecognized
    }

    /// Parses a metadata file's bytes (strict JSON, then the TUF schema).
    public init(bytes: [UInt8], path: String? = nil) throws {
        do {
            var f = try JSONFields(try JSONReader().parse(bytes, path: path), "metadata")
            signed = try Signed(signedJSON: try f.take("signed"))
            signatures = try f.array("signatures").map { try TUFSignature(json: $0) }
            unrecognized = f.rest
        } catch let e as FirmchainError {
            throw path.map { e.about($0) } ?? e
        }
    }

    /// The bytes that signatures cover: the canonical JSON of `signed` (TUF spec §4.2).
    public func signedBytes() throws -> [UInt8] { try JSONEncoding.canonical(signed.signedJSON) }

    /// The file as written to a repository: sorted keys, one-space indent (as python-tuf writes it).
    public func fileBytes() -> [UInt8] { JSONEncoding.standard(document, indent: 1) }

    /// The document as a value: `{"signed": …, "signatures": […]}` and any unknown members.
    public var document: JSONValue {
        let doc: [String: JSONValue] = ["signed": signed.signedJSON, "signatures": .array(signatures.map { $0.json })]
        return .object(doc.merging(unknown: unrecognized))
    }
}

/// The four top-level roles of TUF (TUF spec §2.1), in the order root metadata lists them.
public enum TopLevelRole: String, Sendable, Hashable, CaseIterable, Comparable {
    case root, targets, snapshot, timestamp

    /// Roles compare in the order of `allCases`.
    public static func < (a: TopLevelRole, b: TopLevelRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One value for each top-level role: no role can be missing, so reading one never fails.
public struct RoleTable<Value: Sendable>: Sendable {
    /// The value for the root role.
    public var root: Value
    /// The value for the targets role.
    public var targets: Value
    /// The value for the snapshot role.
    public var snapshot: Value
    /// The value for the timestamp role.
    public var timestamp: Value

    /// A table from its four values.
    public init(root: Value, targets: Value, snapshot: Value, timestamp: Value) {
        self.root = root
        self.targets = targets
        self.snapshot = snapshot
        self.timestamp = timestamp
    }

    /// A table whose value for each role `make` gives, asked in `TopLevelRole.allCases` order.
    public init(_ make: (TopLevelRole) throws -> Value) rethrows {
        self.init(root: try make(.root), targets: try make(.targets), snapshot: try make(.snapshot), timestamp: try make(.timestamp))
    }

    /// The value of `role`.
    public subscript(role: TopLevelRole) -> Value {
        get {
            switch role {
            case .root: return root
            case .timestamp: return timestamp
            case .snapshot: return snapshot
            case .targets: return targets
            }
        }
        set {
            switch role {
            case .root: root = newValue
            case .timestamp: timestamp = newValue
            case .snapshot: snapshot = newValue
            case .targets: targets = newValue
            }
        }
    }

    /// A table of `transform` applied to every value.
    public func map<T>(_ transform: (TopLevelRole, Value) throws -> T) rethrows -> RoleTable<T> {
        try RoleTable<T> { try transform($0, self[$0]) }
    }
}

extension RoleTable: Equatable where Value: Equatable {}
extension RoleTable: Hashable where Value: Hashable {}
