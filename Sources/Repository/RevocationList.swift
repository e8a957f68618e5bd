import FirmchainCore
import Foundation
import Signing

/// `OUT/keys/revocations.json`'s `signed` part: a versioned, expiring list of revoked keys,
/// signed by the root role's threshold (Docs/keys.md "Revocation list"). It is shaped like TUF
/// metadata (`_type`, `spec_version`, `version`, `expires`), so the same signing and threshold
/// code applies:
///
/// ```
/// {"signed": {"_type": "revocations", "spec_version": "1.0.31", "version": 2,
///             "expires": "…", "revoked": [{"keyid": HEX64, "reason": "compromised", "time": "…"}]},
///  "signatures": [{"keyid": …, "sig": …}]}
/// ```
public struct RevocationList: SignedMetadata, Hashable {
    /// The `_type` of a revocation list, `revocations`.
    public static let type = "revocations"
    /// The `spec_version`, `version` and `expires` members.
    public var common: CommonFields
    /// The revoked keys, at most one entry per keyid.
    public var revoked: [Revocation]
    /// Members Firmchain does not interpret, kept on re-encoding.
    public var unrecognized: [String: JSONValue]

    /// The version (≥ 1).
    public var version: Int64 { common.version }
    /// When the list stops being valid (a stale list could hide a newer revocation).
    public var expires: Date { common.expires }

    /// A list from its parts.
    public init(common: CommonFields, revoked: [Revocation], unrecognized: [String: JSONValue] = [:]) {
        self.common = common
        self.revoked = revoked
        self.unrecognized = unrecognized
    }

    /// Reads the `signed` object. An unknown reason, a keyid that is not 64 hex digits, a time
    /// that is not `YYYY-MM-DDTHH:MM:SSZ` or a keyid listed twice is refused (fail closed).
    public init(signedJSON: JSONValue) throws {
        var f = try JSONFields(signedJSON, "revocations.signed")
        common = try CommonFields(&f, type: Self.type)
        var seen = Set<String>()
        revoked = try f.array("revoked").enumerated().map { i, v in
            var e = try JSONFields(v, "revoked[\(i)]")
            let keyid = try e.string("keyid"), reason = try e.string("reason"), time = try e.string("time")
            guard keyid.utf8.count == 64, Hex.decode(keyid) != nil, keyid == keyid.lowercased() else {
                throw FirmchainError.malformed("revoked[\(i)].keyid is not 64 lowercase hex digits")
            }
            guard let r = RevocationReason(rawValue: reason) else {
                throw FirmchainError.malformed("revoked[\(i)].reason \"\(reason)\" is not compromised, superseded or retired")
            }
            guard let t = UTCTimestamp.date(from: time) else { throw FirmchainError.malformed("revoked[\(i)].time is not YYYY-MM-DDTHH:MM:SSZ") }
            guard seen.insert(keyid).inserted else { throw FirmchainError.malformed("revoked lists \(keyid.prefix(8)) twice") }
            return Revocation(keyid: keyid, reason: r, time: t)
        }
        unrecognized = f.rest
    }

    /// Encodes the `signed` object, entries in keyid order.
    public var signedJSON: JSONValue {
        var o = common.json(type: Self.type)
        o["revoked"] = .array(revoked.sorted { $0.keyid < $1.keyid }.map {
            ["keyid": .string($0.keyid), "reason": .string($0.reason.rawValue), "time": .string(UTCTimestamp.string(from: $0.time))]
        })
        return .object(o.merging(unknown: unrecognized))
    }

    /// This list with `revocation` added (replacing an entry for the same key), version bumped
    /// and a fresh expiry.
    public func adding(_ revocation: Revocation, expires: Date) -> RevocationList {
        var next = self
        next.revoked.removeAll { $0.keyid == revocation.keyid }
        next.revoked.append(revocation)
        next.common.version += 1
        next.common.expires = expires
        return next
    }

    /// The largest revocation list read.
    public static let fileLimit = 4 << 20

    /// Reads and checks `OUT/keys/revocations.json` against `root` at `time`: signed by a
    /// threshold of the root role's keys, the very list the root pins (`x-firmchain-revocations`,
    /// written by the revocation ceremony, so an older signed list planted in `OUT` is refused),
    /// and not expired. One `keys.revocations` check. The revocations are returned even when the
    /// list expired (more revocations are never less safe); none when its signatures fail. No
    /// file and no pin: no revocations, and a passing check that says so.
    public static func verify(bytes: [UInt8]?, named name: String, root: Root, at time: Date,
                              expiredIsWarning: Bool = false) -> (revocations: [Revocation], list: Metadata<RevocationList>?, check: Check) {
        let pin = root.unrecognized[KeyLifecycleFields.revocations]?.objectValue
        guard let bytes else {
            return pin == nil ? ([], nil, Check("keys.revocations", .passed, "no revocation list is published", subject: name))
                : ([], nil, Check("keys.revocations", .failed, "root v\(root.version) pins a revocation list, but there is none", subject: name))
        }
        let md: Metadata<RevocationList>
        do { md = try Metadata<RevocationList>(bytes: bytes, path: name) } catch {
            return ([], nil, Check("keys.revocations", .failed, "\(error)", subject: name))
        }
        let tally = md.verify(role: root.roles.root, as: .tuf("root"), ring: root.keyRing(), at: time)
        guard tally.isMet else {
            return ([], nil, Check("keys.revocations", .failed, tally.describe("revocation list v\(md.signed.version) by the root keys"), subject: name))
        }
        let digest = (try? md.signedBytes()).map(DigestCalculator.sha256Hex) ?? ""
        guard let pin, pin["sha256"]?.stringValue == digest, pin["version"]?.int64Value == md.signed.version else {
            return (md.signed.revoked, md, Check("keys.revocations", .failed,
                                                "revocation list v\(md.signed.version) is not the one root v\(root.version) pins (\(pin?["version"]?.int64Value.map { "v\($0)" } ?? "none")): an older or foreign list was put in its place",
                                                subject: name))
        }
        let what = "revocation list v\(md.signed.version) (\(md.signed.revoked.count) key(s)) signed by the root keys"
        guard md.signed.expires > time else {
            return (md.signed.revoked, md, Check("keys.revocations", expiredIsWarning ? .warning : .failed,
                                                "\(what), but it expired \(UTCTimestamp.string(from: md.signed.expires)): re-sign it with `firmchain keys revoke`",
                                                subject: name))
        }
        return (md.signed.revoked, md, Check("keys.revocations", .passed, "\(what); expires \(UTCTimestamp.string(from: md.signed.expires))", subject: name))
    }
}
