import FirmchainCore
import Foundation
import Repository

/// What a device (or an auditor's CI job) remembers between two verifications: the TUF
/// versions it trusted (rollback protection, TUF spec §5.3.5, §5.4.3, §5.5.5) and the last
/// released `version_number` of each full image (no downgrade below it).
///
/// The document is `TrustedVersions`' state document (schema 1) with one more member,
/// `released`, so a reader of the plain versions reads it too:
///
/// ```
/// {"schema": 1, "root": 1, "timestamp": 3, "snapshot": 3, "snapshot_meta": {"targets.json": 3},
///  "released": {"fw.bin": 3}}
/// ```
public struct DeviceState: Sendable, Hashable {
    /// The TUF versions trusted last time.
    public var versions: TrustedVersions
    /// The `version_number` of each full image last trusted, by target name.
    public var released: [String: Int64]

    /// A state from its parts.
    public init(versions: TrustedVersions, released: [String: Int64] = [:]) {
        self.versions = versions
        self.released = released
    }

    /// The largest state document read.
    public static let fileLimit = 1 << 20

    /// Reads a state document (`firmchain verify --previous STATE`).
    ///
    /// - Throws: `json.malformed` for bytes that are not JSON, `repo.malformed-metadata` naming
    ///   the member for a document that is not a state.
    public init(bytes: [UInt8], path: String? = nil) throws {
        let json = try JSONReader().parse(bytes, path: path)
        versions = try TrustedVersions(json: json, path: path)
        var released = [String: Int64]()
        if let r = json["released"] {
            guard let o = r.objectValue else { throw FirmchainError(.repoMalformedMetadata, "state.released is not an object", path: path) }
            for (name, v) in o {
                guard let n = v.int64Value else { throw FirmchainError(.repoMalformedMetadata, "state.released.\(name) is not an integer", path: path) }
                released[name] = n
            }
        }
        self.released = released
    }

    /// The state document.
    public var json: JSONValue {
        guard case .object(var o) = versions.json else { return versions.json }
        o["released"] = .object(released.mapValues { .int($0) })
        return .object(o)
    }

    /// The document's bytes as written by `--save-state` (sorted keys, a trailing newline).
    public var fileBytes: [UInt8] { JSONEncoding.standard(json) + [0x0A] }
}
