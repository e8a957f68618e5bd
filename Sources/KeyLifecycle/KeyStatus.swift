import FirmchainCore
import Foundation
import Release
import Repository
import Signing

/// `firmchain keys status`: per role, its keys (algorithm, age, overlap window), threshold and
/// expiry, the revocations in force, and what expires soon — from a release that verified first.
public struct KeyStatus: Sendable {
    /// One key of one role.
    public struct Key: Sendable {
        /// The keyid.
        public var keyid: String
        /// `ecdsa-sha2-nistp256`, `ed25519`, …
        public var scheme: String
        /// When it was added, if the root records it.
        public var added: Date?
        /// When its overlap window closes, if it is in one.
        public var windowCloses: Date?
    }

    /// One role.
    public struct Role: Sendable {
        /// The role's name.
        public var role: TopLevelRole
        /// Its keys.
        public var keys: [Key]
        /// Its threshold.
        public var threshold: Int
        /// When its current metadata expires.
        public var expires: Date?
    }

    /// The newest root's version.
    public var rootVersion: Int64
    /// Every role.
    public var roles: [Role]
    /// The revocations in force.
    public var revocations: [Revocation]
    /// The revocation list's version and expiry, if one is published.
    public var revocationList: (version: Int64, expires: Date)?
    /// Warnings: metadata or windows that end within the horizon, keys past the maximum age.
    public var warnings: [String]
    /// The reference time.
    public var now: Date

    /// The status of `release` at `now`. Metadata, windows and the revocation list ending within
    /// `horizon` are warned about; so are keys older than `maximumKeyAge`.
    ///
    /// - Throws: `keys.release-unverified` when the release does not verify (expiry aside).
    public static func of(_ release: ReleaseDirectory, now: Date, horizon: TimeInterval = 30 * 86_400,
                          maximumKeyAge: TimeInterval? = nil) throws -> KeyStatus {
        let v = try KeyCeremony.verifyBefore(release, hiding: nil, now: now)
        guard let trusted = v.repository.trusted, let root = v.repository.root else {
            throw FirmchainError(.keysReleaseUnverified, "the release could not be read to its root", path: release.path)
        }
        var warnings = v.report.checks.filter { $0.status == .warning }.map { "\($0.id): \($0.reason)" }
        let expiries: [TopLevelRole: Date?] = [.root: root.expires, .targets: trusted.targets?.signed.expires,
                                               .snapshot: trusted.snapshot?.signed.expires, .timestamp: trusted.timestamp?.signed.expires]
        var roles = [Role]()
        for r in TopLevelRole.allCases {
            let rk = root.roles[r], windows = rk.windows
            let keys = rk.keyids.map { id in
                Key(keyid: id, scheme: root.keys[id]?.scheme ?? "unknown", added: root.keys[id]?.addedTime, windowCloses: windows[id])
            }
            let expires = expiries[r] ?? nil
            if let expires, expires > now, expires < now.addingTimeInterval(horizon) {
                warnings.append("\(r.rawValue) metadata expires \(UTCTimestamp.string(from: expires)), within \(Int(horizon / 86_400)) days: re-sign it before devices that sit offline miss the window")
            }
            for k in keys {
                if let c = k.windowCloses {
                    warnings.append(c <= now
                                    ? "the overlap window of key \(k.keyid.prefix(8)) in \(r.rawValue) closed \(UTCTimestamp.string(from: c)): run the window-close ceremony (`keys rotate --close-windows`)"
                                    : "the overlap window of key \(k.keyid.prefix(8)) in \(r.rawValue) closes \(UTCTimestamp.string(from: c))")
                }
                if let maximumKeyAge, let a = k.added, now.timeIntervalSince(a) > maximumKeyAge {
                    warnings.append("key \(k.keyid.prefix(8)) of \(r.rawValue) is \(Int(now.timeIntervalSince(a) / 86_400)) days old, past the policy's \(Int(maximumKeyAge / 86_400)): rotate it")
                }
            }
            roles.append(Role(role: r, keys: keys, threshold: rk.threshold, expires: expires))
        }
        if let l = v.revocationList?.signed, l.expires < now.addingTimeInterval(horizon) {
            warnings.append("the revocation list v\(l.version) expires \(UTCTimestamp.string(from: l.expires)): re-sign it")
        }
        return KeyStatus(rootVersion: root.version, roles: roles, revocations: v.revocations,
                         revocationList: v.revocationList.map { ($0.signed.version, $0.signed.expires) }, warnings: warnings, now: now)
    }

    /// The `--json` document.
    public var json: JSONValue {
        func t(_ d: Date?) -> JSONValue { d.map { .string(UTCTimestamp.string(from: $0)) } ?? .null }
        var o: [String: JSONValue] = [
            "root_version": .int(rootVersion), "reference_time": t(now),
            "roles": .array(roles.map { r in
                ["role": .string(r.role.rawValue), "threshold": .int(r.threshold), "expires": t(r.expires),
                 "keys": .array(r.keys.map { k in
                     ["keyid": .string(k.keyid), "scheme": .string(k.scheme), "added": t(k.added),
                      "age_days": k.added.map { .int(Int(now.timeIntervalSince($0) / 86_400)) } ?? .null, "window_closes": t(k.windowCloses)]
                 })]
            }),
            "revocations": .array(revocations.sorted { $0.keyid < $1.keyid }.map {
                ["keyid": .string($0.keyid), "reason": .string($0.reason.rawValue), "time": t($0.time)]
            }),
            "warnings": .array(warnings.map { .string($0) }),
        ]
        o["revocation_list"] = revocationList.map { ["version": .int($0.version), "expires": t($0.expires)] } ?? .null
        return .object(o)
    }

    /// The text `keys status` prints.
    public var text: String {
        var lines = ["root v\(rootVersion) (reference time \(UTCTimestamp.string(from: now)))"]
        for r in roles {
            lines.append("\(r.role.rawValue): threshold \(r.threshold) of \(r.keys.count) key(s), metadata expires \(r.expires.map(UTCTimestamp.string(from:)) ?? "unknown")")
            for k in r.keys {
                let age = k.added.map { "\(Int(now.timeIntervalSince($0) / 86_400)) days old" } ?? "age unknown"
                lines.append("  \(k.keyid.prefix(16))  \(k.scheme)  \(age)\(k.windowCloses.map { "  overlap window closes \(UTCTimestamp.string(from: $0))" } ?? "")")
            }
        }
        if let l = revocationList {
            lines.append("revocation list v\(l.version), expires \(UTCTimestamp.string(from: l.expires)):")
            for r in revocations.sorted(by: { $0.keyid < $1.keyid }) {
                lines.append("  \(r.keyid.prefix(16))  \(r.reason.rawValue) from \(UTCTimestamp.string(from: r.time))")
            }
        } else {
            lines.append("no revocation list")
        }
        lines += warnings.map { "warning: \($0)" }
        return lines.joined(separator: "\n")
    }
}
