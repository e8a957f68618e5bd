import FirmchainCore
import Foundation
import Signing

/// The members Firmchain adds to TUF key and role objects for the key lifecycle
/// (Docs/keys.md). TUF clients keep unknown members and ignore them (TUF spec §4.2 "unrecognized
/// fields"), python-tuf included, and a keyid covers only `keytype`, `scheme` and `keyval`, so
/// neither changes what a client accepts.
public enum KeyLifecycleFields {
    /// On a key object: when the key was first listed (`YYYY-MM-DDTHH:MM:SSZ`), for key ages.
    public static let added = "x-firmchain-added"
    /// On a role object: `{KEYID: "YYYY-MM-DDTHH:MM:SSZ", …}`, the keys kept in the role only
    /// until an overlap window closes.
    public static let windows = "x-firmchain-windows"
    /// On root's `signed` object: `{"version": N, "sha256": HEX}`, the revocation list in force
    /// (sha256 of its canonical `signed` bytes).
    public static let revocations = "x-firmchain-revocations"
}

extension TUFKey {
    /// This key with its `x-firmchain-added` time set (kept when it is already set).
    public func added(at time: Date) -> TUFKey {
        guard addedTime == nil else { return self }
        var rest = unrecognized
        rest[KeyLifecycleFields.added] = .string(UTCTimestamp.string(from: time))
        return TUFKey(keytype: keytype, scheme: scheme, publicValue: publicValue, unrecognized: rest)
    }

    /// When the key was first listed, if the metadata says.
    public var addedTime: Date? { unrecognized[KeyLifecycleFields.added]?.stringValue.flatMap(UTCTimestamp.date(from:)) }
}

extension RoleKeys {
    /// The overlap windows of this role: keys that count only before their time. Entries that
    /// cannot be read count as closed at the earliest time (fail closed).
    public var windows: [String: Date] {
        get {
            guard let o = unrecognized[KeyLifecycleFields.windows]?.objectValue else { return [:] }
            return o.mapValues { $0.stringValue.flatMap(UTCTimestamp.date(from:)) ?? .distantPast }
        }
        set {
            if newValue.isEmpty { unrecognized.removeValue(forKey: KeyLifecycleFields.windows); return }
            unrecognized[KeyLifecycleFields.windows] = .object(newValue.mapValues { .string(UTCTimestamp.string(from: $0)) })
        }
    }

    /// The keys that stay after every window closes.
    public var lastingKeyids: [String] { keyids.filter { windows[$0] == nil } }
}
