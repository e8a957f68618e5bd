import FirmchainCore
import Foundation

/// What a key may vouch for: a TUF role (`root`, `targets`, a delegated role), an in-toto step's
/// functionaries, the layout owner, ledger checkpoints. Names are free; the modules that check
/// signatures define theirs (`KeyRole.tuf("targets")`, `KeyRole.functionary("delta")`, …).
public struct KeyRole: Sendable, Hashable, CustomStringConvertible {
    /// The role's name, with its namespace (`tuf:root`, `step:delta`, `owner`).
    public let name: String

    /// A role named `name`.
    public init(_ name: String) { self.name = name }

    /// A TUF role, top-level or delegated.
    public static func tuf(_ role: String) -> KeyRole { KeyRole("tuf:" + role) }
    /// The functionaries of an in-toto step.
    public static func functionary(_ step: String) -> KeyRole { KeyRole("step:" + step) }
    /// The keys that sign the in-toto layout.
    public static let owner = KeyRole("owner")
    /// The keys whose ledger checkpoints are trusted.
    public static let checkpoint = KeyRole("checkpoint")

    /// The name.
    public var description: String { name }
}

/// Why a key was revoked, which decides what happens to the signatures it made.
public enum RevocationReason: String, Sendable, Hashable, CaseIterable {
    /// The private key may be known to others: every signature it ever made is void.
    case compromised
    /// Replaced by a newer key: its signatures made before the revocation time stay valid.
    case superseded
    /// No longer used: like `superseded`.
    case retired
}

/// One entry of a revocation list: which key, why, and from when.
public struct Revocation: Sendable, Hashable {
    /// The revoked key.
    public var keyid: String
    /// Why.
    public var reason: RevocationReason
    /// From when; for `compromised`, the key is void at every time.
    public var time: Date

    /// A revocation from its parts.
    public init(keyid: String, reason: RevocationReason, time: Date) {
        self.keyid = keyid
        self.reason = reason
        self.time = time
    }
}

/// The one place every signature check asks "is key K trusted for role R at time T": TUF
/// metadata, DSSE links and layouts, ledger checkpoints. It holds keys with the roles they
/// serve, optional validity windows (overlap windows of a rotation), and the revocations in
/// force, so a revoked key is refused everywhere at once.
public struct KeyRing: Sendable {
    /// One trusted key and what it may do.
    public struct Entry: Sendable, Hashable {
        /// The key.
        public var key: TUFKey
        /// The roles it serves.
        public var roles: Set<KeyRole>
        /// Trusted from this time on (nil: always).
        public var validFrom: Date?
        /// Trusted before this time (nil: always).
        public var validUntil: Date?
    }

    /// Why a key is or is not trusted for a role at a time.
    public enum Trust: Sendable, Hashable {
        /// Trusted: signatures by the key count.
        case trusted
        /// The ring has no key with this keyid (or the key's own keyid differs from the id it was listed under).
        case unknown
        /// The key is known but does not serve this role.
        case notForRole
        /// Outside the key's validity window.
        case outsideWindow
        /// Revoked.
        case revoked(Revocation)

        /// Whether signatures by the key count.
        public var isTrusted: Bool { self == .trusted }
    }

    private var entries: [String: Entry] = [:]
    private var revocations: [String: Revocation] = [:]

    /// An empty ring: it trusts nothing.
    public init() {}

    /// Trusts `key` for `roles`, within the window when one is given. A key listed under an id
    /// that is not its own keyid is refused (a root could otherwise alias one key twice): pass
    /// `listedAs` with the id the metadata used.
    public mutating func add(_ key: TUFKey, roles: [KeyRole], listedAs id: String? = nil, validFrom: Date? = nil, validUntil: Date? = nil) {
        let keyid = key.keyid
        guard id == nil || id == keyid else { return }
        var e = entries[keyid] ?? Entry(key: key, roles: [], validFrom: validFrom, validUntil: validUntil)
        e.roles.formUnion(roles)
        // One window per key: when a key is added again, the narrower bound wins.
        if let validFrom { e.validFrom = max(e.validFrom ?? validFrom, validFrom) }
        if let validUntil { e.validUntil = min(e.validUntil ?? validUntil, validUntil) }
        entries[keyid] = e
    }

    /// Trusts the public key `key` for `roles`.
    public mutating func add(_ key: PublicKey, roles: [KeyRole]) { add(TUFKey(key), roles: roles) }

    /// Applies a revocation from now on, to every role.
    public mutating func revoke(_ r: Revocation) { revocations[r.keyid] = r }

    /// The key with `keyid`, if the ring holds it.
    public func key(_ keyid: String) -> TUFKey? { entries[keyid]?.key }

    /// Every keyid the ring trusts for `role` (at any time), sorted.
    public func keyids(for role: KeyRole) -> [String] { entries.filter { $0.value.roles.contains(role) }.keys.sorted() }

    /// Whether `keyid` may vouch for `role` at `time`. A `compromised` revocation applies at
    /// every time; `superseded` and `retired` ones from their time on.
    public func trust(_ keyid: String, for role: KeyRole, at time: Date) -> Trust {
        guard let e = entries[keyid] else { return .unknown }
        if let r = revocations[keyid], r.reason == .compromised || time >= r.time { return .revoked(r) }
        guard e.roles.contains(role) else { return .notForRole }
        if let from = e.validFrom, time < from { return .outsideWindow }
        if let until = e.validUntil, time >= until { return .outsideWindow }
        return .trusted
    }

    /// Checks signatures over `message` against `keyids` (the members of a role, or nil for
    /// every key of the ring serving `role`) at `time`: each trusted member counts once, and
    /// at least `threshold` must have signed validly (TUF spec §5.3.4, DSSE §"Verification").
    public func tally(_ signatures: [(keyid: String, signature: [UInt8])], over message: [UInt8], members keyids: [String]? = nil,
                      role: KeyRole, threshold: Int, at time: Date) -> ThresholdTally {
        let members = keyids ?? self.keyids(for: role)
        var tally = ThresholdTally(threshold: threshold)
        for keyid in members where !tally.valid.contains(keyid) {
            let sigs = signatures.filter { $0.keyid == keyid }
            guard !sigs.isEmpty else { tally.missing.append(keyid); continue }
            let trust = trust(keyid, for: role, at: time)
            guard trust.isTrusted, let key = entries[keyid]?.key else { tally.untrusted.append(keyid); continue }
            if !message.isEmpty, sigs.contains(where: { key.isValidSignature($0.signature, for: message) }) {
                tally.valid.append(keyid)
            } else {
                tally.invalid.append(keyid)
            }
        }
        tally.ignored = Array(Set(signatures.map(\.keyid)).subtracting(members)).sorted()
        return tally
    }
}

/// Which keys signed something, as a value (Docs/architecture.md "Verification results are values"): every signature check reports it and
/// none throws for a bad signature. One vocabulary for TUF, DSSE, layouts and checkpoints.
public struct ThresholdTally: Sendable, Hashable {
    /// Members whose signature is present and valid, each counted once.
    public var valid: [String] = []
    /// Members with a signature that does not verify.
    public var invalid: [String] = []
    /// Members that did not sign.
    public var missing: [String] = []
    /// Members that signed but are not trusted for the role at the reference time (revoked,
    /// outside their window, or listed under an id that is not theirs).
    public var untrusted: [String] = []
    /// Signatures by keys that are not members (they neither count nor harm).
    public var ignored: [String] = []
    /// Signatures needed.
    public var threshold: Int

    /// A tally that needs `threshold` signatures.
    public init(threshold: Int) { self.threshold = threshold }

    /// Whether at least `threshold` (and at least one) distinct trusted members signed validly.
    public var isMet: Bool { threshold >= 1 && valid.count >= threshold }

    /// One sentence: how many of the threshold signed, and which keys (by 8-digit keyid) did
    /// not count and why.
    public func describe(_ what: String) -> String {
        if isMet { return "\(what): \(valid.count) of threshold \(threshold) valid signature(s) by \(short(valid))" }
        var parts = ["\(what): \(valid.count) valid signature(s), threshold \(threshold)"]
        if !invalid.isEmpty { parts.append("invalid from \(short(invalid))") }
        if !untrusted.isEmpty { parts.append("not trusted (revoked or outside its window) from \(short(untrusted))") }
        if !missing.isEmpty { parts.append("missing from \(short(missing))") }
        return parts.joined(separator: "; ")
    }

    private func short(_ ids: [String]) -> String { ids.map { String($0.prefix(8)) }.joined(separator: ", ") }
}

extension TUFKey {
    /// Whether `signature` is this key's valid signature over `message` under its scheme.
    /// ECDSA must be DER, as python-tuf and securesystemslib require (`Docs/formats/interop.md`).
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let algorithm, let key = publicKey(), key.tufScheme == scheme, key.tufKeyType == keytype || keytype.hasPrefix("ecdsa") else {
            return false
        }
        if key.keyType == .ecdsaP256 || key.keyType == .ecdsaP384, signature.first != 0x30 { return false }
        return key.isValidSignature(signature, for: message, algorithm: algorithm)
    }
}

extension KeyRing {
    /// A ring that trusts each of `keys` for `roles` at every time.
    public init(trusting keys: [PublicKey], for roles: [KeyRole]) {
        self.init()
        for k in keys { add(k, roles: roles) }
    }
}
