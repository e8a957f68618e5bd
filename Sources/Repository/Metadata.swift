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
    public var version: Int64
    public var expires: Date

    public static let currentSpecVersion = "1.0.31"

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
    public var keyids: [String]
    public var threshold: Int
    public var unrecognized: [String: JSONValue]

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
    public static let type = "root"
    public var common: CommonFields
    public var keys: [String: TUFKey]
    public var roles: RoleTable<RoleKeys>
    public var consistentSnapshot: Bool
    public var unrecognized: [String: JSONValue]

    public var version: Int64 { common.version }
    public var expires: Date { common.expires }

    public init(common: CommonFields, keys: [String: TUFKey], roles: RoleTable<RoleKeys>, consistentSnapshot: Bool = true,
                unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.keys = keys
        self.roles = roles
        self.consistentSnapshot = consistentSnapshot
        self.unrecognized = unrecognized
    }

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
    public var length: Int64
    /// Hex digests by algorithm name (`sha256`, `sha512`); never empty.
    public var hashes: [String: String]
    /// Firmware fields (see `FirmwareInfo` and Docs/manifest.md); signed but not interpreted by TUF.
    public var custom: JSONValue?
    public var unrecognized: [String: JSONValue]

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
    public var name: String
    public var keys: RoleKeys
    public var terminating: Bool
    /// Glob patterns of target paths this role may sign for (nil when `path_hash_prefixes` is used).
    public var paths: [String]?
    public var unrecognized: [String: JSONValue]

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
    public var keys: [String: TUFKey]
    public var roles: [DelegatedRole]
    public var unrecognized: [String: JSONValue]

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
    public static let type = "targets"
    public var common: CommonFields
    public var targets: [String: TargetFile]
    public var delegations: Delegations?
    public var unrecognized: [String: JSONValue]

    public var version: Int64 { common.version }
    public var expires: Date { common.expires }

    public init(common: CommonFields, targets: [String: TargetFile], delegations: Delegations? = nil, unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.targets = targets
        self.delegations = delegations
        self.unrecognized = unrecognized
    }

    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "targets.signed")
        common = try CommonFields(&f, type: Targets.type)
        var targets = [String: TargetFile]()
        for (path, t) in try f.object("targets") { targets[path] = try TargetFile(json: t, context: "targets[\(path)]") }
        self.targets = targets
        delegations = try f.optional("delegations").map { try Delegations(json: $0) }
        unrecognized = f.rest
    }

    public var signedJSON: JSONValue {
        var o = common.json(type: Targets.type)
        o["targets"] = .object(targets.mapValues { $0.json })
        if let delegations { o["delegations"] = delegations.json }
        return .object(o.merging(unknown: unrecognized))
    }
}

/// A `meta` entry of snapshot or timestamp metadata (TUF spec §4.4 "METAFILES").
public struct MetaFile: Sendable, Hashable {
    public var version: Int64
    public var length: Int64?
    public var hashes: [String: String]?
    public var unrecognized: [String: JSONValue]

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
    public static let type = "snapshot"
    public var common: CommonFields
    public var meta: [String: MetaFile]
    public var unrecognized: [String: JSONValue]

    public var version: Int64 { common.version }
    public var expires: Date { common.expires }

    public init(common: CommonFields, meta: [String: MetaFile], unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.meta = meta
        self.unrecognized = unrecognized
    }

    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "snapshot.signed")
        common = try CommonFields(&f, type: Snapshot.type)
        var meta = [String: MetaFile]()
        for (name, m) in try f.object("meta") { meta[name] = try MetaFile(json: m, context: "meta[\(name)]") }
        self.meta = meta
        unrecognized = f.rest
    }

    public var signedJSON: JSONValue {
        var o = common.json(type: Snapshot.type)
        o["meta"] = .object(meta.mapValues { $0.json })
        return .object(o.merging(unknown: unrecognized))
    }
}

/// timestamp.json's `signed` part (TUF spec §4.6): the current snapshot's version and hashes.
public struct Timestamp: SignedMetadata, Hashable {
    public static let type = "timestamp"
    public var common: CommonFields
    public var meta: [String: MetaFile]
    public var unrecognized: [String: JSONValue]

    public var version: Int64 { common.version }
    public var expires: Date { common.expires }

    public init(common: CommonFields, snapshot: MetaFile, unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.meta = ["snapshot.json": snapshot]
        self.unrecognized = unrecognized
    }

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

    public var signedJSON: JSONValue {
        var o = common.json(type: Timestamp.type)
        o["meta"] = .object(meta.mapValues { $0.json })
        return .object(o.merging(unknown: unrecognized))
    }
}

/// A signed metadata document: `{"signed": …, "signatures": […]}` (TUF spec §4.2).
public struct Metadata<Signed: SignedMetadata>: Sendable {
    public var signed: Signed
    public var signatures: [TUFSignature]
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
    public func fileBytes() -> [UInt8] {
        let doc: [String: JSONValue] = ["signed": signed.signedJSON, "signatures": .array(signatures.map { $0.json })]
        return JSONEncoding.standard(.object(doc.merging(unknown: unrecognized)), indent: 1)
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
    public var root: Value
    public var targets: Value
    public var snapshot: Value
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
