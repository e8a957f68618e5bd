import FirmchainCore
import Foundation
import Crypto
import Release
import Repository

/// A target of a release, read only after the release's TUF metadata verified from a root the
/// caller trusts (`ReleaseDirectory.verifyRepository`), and whose bytes were checked against the
/// length and sha256 that metadata signs. An export never packs bytes the release does not
/// vouch for.
///
/// An encrypted target is exported as the release holds it: its ciphertext, the bytes TUF
/// signs (Docs/encryption.md); decryption stays on the device.
public struct ReleaseTarget: Sendable {
    /// The target's name in the TUF metadata.
    public let name: String
    /// The signed entry (length, hashes, custom).
    public let file: TargetFile
    /// The bytes, equal to the signed length and sha256.
    public let bytes: [UInt8]
    /// The lowercase hex sha256 of `bytes`.
    public let sha256: String

    /// The largest target an export reads into memory (4 GiB).
    public static let sizeLimit = 1 << 32

    /// The file name the containers use: the last path component of `name`.
    public var fileName: String { String(name.split(separator: "/").last ?? Substring(name)) }

    /// Whether the release marks the target as encrypted (its `custom.encryption`).
    public var isEncrypted: Bool { file.custom?["encryption"] != nil }

    /// A target from its parts (tests and callers that already verified the bytes).
    public init(name: String, file: TargetFile, bytes: [UInt8]) throws {
        let digest = Hex.encode(SHA256Digest.of(bytes))
        guard let signed = file.hashes["sha256"], signed.lowercased() == digest, file.length == Int64(bytes.count) else {
            throw FirmchainError(.exportTargetMismatch, "the bytes of \(name) are not the length and sha256 its metadata signs")
        }
        self.name = name
        self.file = file
        self.bytes = bytes
        self.sha256 = digest
    }

    /// Verifies `release` from `trustedRoot` at `now` and reads target `name`.
    ///
    /// Errors: `export.release-unverified` (naming the first failed check),
    /// `export.target-not-found`, `export.target-mismatch`, and read errors.
    public static func load(release: ReleaseDirectory, name: String, trustedRoot: [UInt8], now: Date) throws -> ReleaseTarget {
        let verified = try release.verifyRepository(trustedRoot: trustedRoot, now: now, checkTargetFiles: false)
        guard verified.passed else {
            let failed = verified.report.checks.first { $0.status == .failed }
            throw FirmchainError(.exportReleaseUnverified,
                                 "the release's metadata does not verify from the trusted root: \(failed.map { "\($0.id): \($0.reason)" } ?? "no trusted targets")",
                                 path: release.path)
        }
        guard let file = verified.repository.allTargets[name] else {
            throw FirmchainError(.exportTargetNotFound, "the verified metadata lists no target '\(name)'", path: release.path)
        }
        guard let hash = file.hashes["sha256"], file.length >= 0, file.length <= Int64(sizeLimit) else {
            throw FirmchainError(.exportTargetMismatch, "target '\(name)' has no sha256 or is larger than an export reads", path: release.path)
        }
        let path = release.repository.targetPath(name: name, hash: hash)
        let bytes = try FileIO.read(path, limit: Int(file.length))
        return try ReleaseTarget(name: name, file: file, bytes: bytes)
    }
}

/// SHA-256 of a byte array (swift-crypto), as bytes.
enum SHA256Digest {
    static func of(_ bytes: [UInt8]) -> [UInt8] {
        var h = Crypto.SHA256()
        h.update(data: bytes)
        return Array(h.finalize())
    }
}
