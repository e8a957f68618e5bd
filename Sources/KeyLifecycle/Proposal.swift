import FirmchainCore
import Foundation
import Repository
import Signing

/// What a key ceremony changes.
public enum CeremonyKind: String, Sendable, Hashable, CaseIterable {
    /// Keys added to or removed from one role, or its threshold changed (`keys rotate`).
    case rotation
    /// A key revoked: listed in the revocation list and removed from every role (`keys revoke`).
    case revocation
    /// The keys whose overlap windows ended are removed (`keys rotate --close-windows`).
    case windowClose = "window-close"
}

/// One officer's approval of a proposal: their key, when, and their signature over the
/// proposal's digest, the keyid and the time (`KeyProposal.approvalMessage`). The officer's
/// signatures over the proposed root (and revocation list) sit in those documents.
public struct KeyApproval: Sendable, Hashable {
    /// The approving key.
    public var keyid: String
    /// When the officer approved.
    public var time: Date
    /// Hex signature over `KeyProposal.approvalMessage(digest:keyid:time:)`.
    public var signature: String

    /// An approval from its parts.
    public init(keyid: String, time: Date, signature: String) {
        self.keyid = keyid
        self.time = time
        self.signature = signature
    }
}

/// A change of a delegated targets role's keys (a product line's team, Docs/keys.md
/// "Delegated roles"): the role, the `targets.json` it extends, and the role's keys and
/// threshold after the change. The root does not change; the root officers approve, and so do
/// the new keys (proof that their holders have them).
public struct DelegationChange: Sendable, Equatable {
    /// The delegated role's name.
    public var role: String
    /// sha256 of the published `N.targets.json` file the change extends.
    public var baseTargetsSHA256: String
    /// The role's keyids before the change (as the base targets delegate it).
    public var previousKeyids: [String]
    /// The role's threshold before the change.
    public var previousThreshold: Int
    /// The role's keys after the change.
    public var keys: [TUFKey]
    /// The role's threshold after the change.
    public var threshold: Int

    /// A change from its parts.
    public init(role: String, baseTargetsSHA256: String, previousKeyids: [String], previousThreshold: Int, keys: [TUFKey], threshold: Int) {
        self.role = role
        self.baseTargetsSHA256 = baseTargetsSHA256
        self.previousKeyids = previousKeyids
        self.previousThreshold = previousThreshold
        self.keys = keys
        self.threshold = threshold
    }

    /// What the change does, one line each: derived from the keys before and after, so the
    /// text an officer reads cannot say something else than the change.
    public var changes: [String] {
        var out = [String]()
        for k in keys where !previousKeyids.contains(k.keyid) {
            out.append("add key \(k.keyid.prefix(8)) (\(k.keytype)) to \(role)")
        }
        for id in previousKeyids where !keys.contains(where: { $0.keyid == id }) { out.append("remove key \(id.prefix(8)) from \(role)") }
        if threshold != previousThreshold { out.append("threshold of \(role): \(previousThreshold) → \(threshold)") }
        return out
    }

    /// Canonical JSON members (in the proposal file and its statement).
    var json: JSONValue {
        ["role": .string(role), "base_targets_sha256": .string(baseTargetsSHA256), "previous_keyids": .array(previousKeyids.map { .string($0) }),
         "previous_threshold": .int(Int64(previousThreshold)), "keys": .array(keys.map(\.json)), "threshold": .int(Int64(threshold))]
    }
}

/// A key ceremony in progress (Docs/keys.md "Proposals"): the next root (and, for a
/// revocation, the next revocation list), unsigned at first, the root it was made against, its
/// own expiry, and the approvals collected so far, one officer at a time, each on their own
/// machine. The file is all an officer needs:
///
/// ```
/// {"_type": "firmchain-key-proposal", "schema": 1, "kind": "rotation", "role": "root",
///  "base": {"version": 3, "sha256": HEX, "file": BASE64 of 3.root.json},
///  "created": …, "expires": …, "changes": ["add key …", …],
///  "root": {"signed": …, "signatures": […]}, "revocations": {…} (revocation only),
///  "approvals": [{"keyid": …, "time": …, "sig": …}]}
/// ```
///
/// The digest covers everything but the signatures and approvals, so a proposal edited after
/// an approval no longer matches it.
public struct KeyProposal: Sendable {
    /// The `_type` of a proposal file.
    public static let type = "firmchain-key-proposal"
    /// The largest proposal file read.
    public static let fileLimit = 8 << 20

    /// What the ceremony changes.
    public var kind: CeremonyKind
    /// The role whose keys change (for a revocation, the first role that listed the key; root when none did).
    public var role: TopLevelRole
    /// The bytes of the root the proposal was made against (`N.root.json` as published).
    public var baseFile: [UInt8]
    /// When the proposal was made.
    public var created: Date
    /// After this time it can no longer be approved or applied.
    public var expires: Date
    /// What changes, one line each, as `keys show` prints it.
    public var changes: [String]
    /// The proposed next root, with the officers' signatures so far.
    public var root: Metadata<Root>
    /// The proposed next revocation list (revocations only).
    public var revocations: Metadata<RevocationList>?
    /// The approvals so far.
    public var approvals: [KeyApproval]
    /// For a delegated role's rotation: the change (`root` is then the base root, unchanged).
    public var delegation: DelegationChange?

    /// A proposal from its parts, without approvals.
    public init(kind: CeremonyKind, role: TopLevelRole, baseFile: [UInt8], created: Date, expires: Date, changes: [String],
                root: Metadata<Root>, revocations: Metadata<RevocationList>? = nil) {
        self.kind = kind
        self.role = role
        self.baseFile = baseFile
        self.created = created
        self.expires = expires
        self.changes = changes
        self.root = root
        self.revocations = revocations
        self.approvals = []
    }

    /// The root the proposal was made against, parsed from `baseFile`.
    public func baseRoot() throws -> Metadata<Root> { try Metadata<Root>(bytes: baseFile, path: "the proposal's base root") }

    /// sha256 of `baseFile`: which published `N.root.json` the proposal extends.
    public var baseSHA256: String { DigestCalculator.sha256Hex(baseFile) }

    /// The canonical statement the digest covers: kind, role, base, times, changes, and the
    /// sha256 of the canonical `signed` bytes of the proposed root and revocation list.
    public func statement() throws -> [UInt8] {
        var o: [String: JSONValue] = [
            "_type": .string(Self.type), "schema": .int(1), "kind": .string(kind.rawValue), "role": .string(role.rawValue),
            "base_sha256": .string(baseSHA256), "created": .string(UTCTimestamp.string(from: created)),
            "expires": .string(UTCTimestamp.string(from: expires)), "changes": .array(changes.map { .string($0) }),
            "root_signed_sha256": .string(DigestCalculator.sha256Hex(try root.signedBytes())),
        ]
        if let revocations { o["revocations_signed_sha256"] = .string(DigestCalculator.sha256Hex(try revocations.signedBytes())) }
        if let delegation { o["delegation"] = delegation.json }
        return try JSONEncoding.canonical(.object(o))
    }

    /// sha256 hex of `statement()`: what `keys show` prints and every approval signs.
    public func digest() throws -> String { DigestCalculator.sha256Hex(try statement()) }

    /// The bytes an approval signs: canonical `{"keyid", "proposal": digest, "time"}`.
    public static func approvalMessage(digest: String, keyid: String, time: Date) -> [UInt8] {
        (try? JSONEncoding.canonical(["_type": .string("firmchain-key-approval"), "keyid": .string(keyid), "proposal": .string(digest),
                                      "time": .string(UTCTimestamp.string(from: time))])) ?? []
    }

    /// The file as written: sorted keys, one-space indent.
    public func fileBytes() -> [UInt8] {
        var o: [String: JSONValue] = [
            "_type": .string(Self.type), "schema": .int(1), "kind": .string(kind.rawValue), "role": .string(role.rawValue),
            "base": ["version": .int((try? baseRoot().signed.version) ?? 0), "sha256": .string(baseSHA256),
                     "file": .string(Base64.encode(baseFile))],
            "created": .string(UTCTimestamp.string(from: created)), "expires": .string(UTCTimestamp.string(from: expires)),
            "changes": .array(changes.map { .string($0) }), "root": Self.document(root),
            "approvals": .array(approvals.map {
                ["keyid": .string($0.keyid), "time": .string(UTCTimestamp.string(from: $0.time)), "sig": .string($0.signature)]
            }),
        ]
        if let revocations { o["revocations"] = Self.document(revocations) }
        if let delegation { o["delegation"] = delegation.json }
        return JSONEncoding.standard(.object(o), indent: 1)
    }

    /// Reads a proposal file (untrusted: every member is checked; approvals are checked
    /// against keys by `KeyCeremony.state`).
    ///
    /// - Throws: `keys.malformed-proposal` naming the member.
    public init(bytes: [UInt8], path: String) throws {
        let bad = { (reason: String) in FirmchainError(.keysMalformedProposal, reason, path: path) }
        do {
            var f = try JSONFields(try JSONReader().parse(bytes, path: path), "proposal", error: bad)
            guard try f.string("_type") == Self.type else { throw bad("not a Firmchain key proposal (_type is not \(Self.type))") }
            guard try f.int("schema") == 1 else { throw bad("proposal schema is not 1; this Firmchain reads schema 1") }
            let k = try f.string("kind")
            guard let kind = CeremonyKind(rawValue: k) else { throw bad("kind \"\(k)\" is not rotation, revocation or window-close") }
            self.kind = kind
            let r = try f.string("role")
            guard let role = TopLevelRole(rawValue: r) else { throw bad("role \"\(r)\" is not a top-level role") }
            self.role = role
            var base = try JSONFields(.object(try f.object("base")), "base", error: bad)
            guard let file = Base64.decode(try base.string("file")) else { throw bad("base.file is not base64") }
            baseFile = file
            guard try base.string("sha256") == DigestCalculator.sha256Hex(file) else { throw bad("base.sha256 does not match base.file") }
            let version = try base.int("version")
            created = try Self.time(&f, "created", bad)
            expires = try Self.time(&f, "expires", bad)
            changes = try f.strings("changes")
            root = try Self.metadata(Root.self, try f.take("root"), path: path, member: "root")
            revocations = try f.optional("revocations").map { try Self.metadata(RevocationList.self, $0, path: path, member: "revocations") }
            approvals = try f.array("approvals").enumerated().map { i, v in
                var a = try JSONFields(v, "approvals[\(i)]", error: bad)
                let keyid = try a.string("keyid"), sig = try a.string("sig")
                guard Hex.decode(sig) != nil else { throw bad("approvals[\(i)].sig is not hex") }
                return KeyApproval(keyid: keyid, time: try Self.time(&a, "time", bad), signature: sig)
            }
            delegation = try f.optional("delegation").map { v in
                var d = try JSONFields(v, "delegation", error: bad)
                let keys = try d.array("keys").map { try TUFKey(json: $0, error: bad) }
                let threshold = try d.int("threshold")
                guard threshold >= 1, threshold <= Int64(keys.count) else { throw bad("delegation.threshold must be between 1 and its \(keys.count) key(s)") }
                let previousThreshold = try d.int("previous_threshold")
                guard (1...1024).contains(previousThreshold) else { throw bad("delegation.previous_threshold is out of range") }
                return DelegationChange(role: try d.string("role"), baseTargetsSHA256: try d.string("base_targets_sha256"),
                                        previousKeyids: try d.strings("previous_keyids"), previousThreshold: Int(previousThreshold),
                                        keys: keys, threshold: Int(threshold))
            }
            guard Set(approvals.map(\.keyid)).count == approvals.count else { throw bad("approvals lists one key twice") }
            guard delegation == nil || kind == .rotation else { throw bad("only a rotation proposal changes a delegated role") }
            guard (try? baseRoot().signed.version) == version else { throw bad("base.version does not match base.file") }
            guard kind == .revocation || revocations == nil else { throw bad("only a revocation proposal carries a revocation list") }
            guard kind != .revocation || revocations != nil else { throw bad("a revocation proposal carries no revocation list") }
        } catch let e as FirmchainError where e.code != .keysMalformedProposal {
            throw FirmchainError(.keysMalformedProposal, e.reason, path: path)
        }
    }

    /// Reads the proposal at `path` (a regular file, at most `fileLimit` bytes).
    public static func read(_ path: String) throws -> KeyProposal {
        try KeyProposal(bytes: try FileIO.read(path, limit: fileLimit), path: path)
    }

    private static func time(_ f: inout JSONFields, _ key: String, _ bad: (String) -> FirmchainError) throws -> Date {
        let s = try f.string(key)
        guard let d = UTCTimestamp.date(from: s) else { throw bad("\(f.context).\(key) is not YYYY-MM-DDTHH:MM:SSZ") }
        return d
    }

    static func document<T: SignedMetadata>(_ md: Metadata<T>) -> JSONValue { md.document }

    private static func metadata<T: SignedMetadata>(_ type: T.Type, _ v: JSONValue, path: String, member: String) throws -> Metadata<T> {
        try Metadata<T>(bytes: JSONEncoding.standard(v), path: "\(path) (\(member))")
    }
}
