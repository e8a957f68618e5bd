import Crypto
import FirmchainCore
import Signing

/// The on-disk form of an encrypted payload.
public enum EncryptionFormat: String, Sendable, CaseIterable, Hashable {
    /// COSE_Encrypt with a detached ciphertext: the payload file is ciphertext ‖ tag and
    /// `NAME.cose` holds the structure (the SUIT firmware-encryption profile).
    case cose
    /// CMS AuthEnvelopedData (RFC 5083) in one DER file, for parties that only have OpenSSL.
    case cms
}

/// The SHA-256 and length of one file.
public struct FileDigest: Sendable, Hashable {
    /// Lower-case hex SHA-256.
    public let sha256: String
    /// Length in bytes.
    public let length: Int64
    /// A digest value.
    public init(sha256: String, length: Int64) {
        self.sha256 = sha256
        self.length = length
    }
    /// `{"length": …, "sha256": …}`.
    public var json: JSONValue { .object(["sha256": .string(sha256), "length": .int(Int(length))]) }
}

/// What an encryption produced, for a manifest to record: the format, the algorithms and
/// recipient key ids, and the digests of the plaintext (which a device checks after decrypting)
/// and of the ciphertext and structure files (which the repository serves).
public struct EncryptionDescriptor: Sendable, Hashable {
    /// One recipient: its key id and algorithm.
    public struct Recipient: Sendable, Hashable {
        /// The key id as lower-case hex (for a CMS recipient: the certificate's SubjectKeyIdentifier
        /// when it has one, else the SHA-256 of its SPKI).
        public let keyID: String
        /// `ECDH-ES+A256KW`, `A256KW`, … (CMS: `ECDH-SHA256-A256KW`, `RSA-OAEP-SHA256`).
        public let algorithm: String
        /// A recipient entry.
        public init(keyID: String, algorithm: String) {
            self.keyID = keyID
            self.algorithm = algorithm
        }
    }

    /// COSE or CMS.
    public let format: EncryptionFormat
    /// The content algorithm (`A256GCM`, `A128GCM`).
    public let contentAlgorithm: ContentAlgorithm
    /// The recipients, in the structure's order.
    public let recipients: [Recipient]
    /// The plaintext's digest and length.
    public let plaintext: FileDigest
    /// The ciphertext file's digest and length (COSE: ciphertext ‖ tag; CMS: the whole DER file).
    public let ciphertext: FileDigest
    /// COSE: the structure file's digest and length; nil for CMS.
    public let structure: FileDigest?

    /// A descriptor value.
    public init(format: EncryptionFormat, contentAlgorithm: ContentAlgorithm, recipients: [Recipient],
                plaintext: FileDigest, ciphertext: FileDigest, structure: FileDigest?) {
        self.format = format
        self.contentAlgorithm = contentAlgorithm
        self.recipients = recipients
        self.plaintext = plaintext
        self.ciphertext = ciphertext
        self.structure = structure
    }

    /// The descriptor as JSON (the shape Docs/encryption.md documents for manifests' `custom`).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "format": .string(format.rawValue), "content_algorithm": .string(contentAlgorithm.rawValue),
            "recipients": .array(recipients.map { .object(["key_id": .string($0.keyID), "algorithm": .string($0.algorithm)]) }),
            "plaintext": plaintext.json, "ciphertext": ciphertext.json,
        ]
        if let structure { o["structure"] = structure.json }
        return .object(o)
    }
}

/// Options of an encryption.
public struct EncryptionOptions: Sendable {
    /// The content algorithm (default AES-256-GCM).
    public var contentAlgorithm: ContentAlgorithm
    /// The read and write chunk size in bytes (memory use is about three chunks).
    public var chunkSize: Int
    /// A progress reporter (phase `encrypting` / `decrypting`).
    public var progress: ProgressReporter

    /// Defaults: AES-256-GCM, 1 MiB chunks, no progress.
    public init(contentAlgorithm: ContentAlgorithm = .a256gcm, chunkSize: Int = 1 << 20, progress: ProgressReporter = SilentProgress()) {
        self.contentAlgorithm = contentAlgorithm
        self.chunkSize = max(4096, chunkSize)
        self.progress = progress
    }
}

/// Encrypts payloads once, with a fresh content key and IV each time, for every recipient at
/// once (Docs/encryption.md "Library API"):
///
/// 1. draw a random content key (CEK) and 12-byte IV;
/// 2. wrap the CEK for each recipient (ECDH-ES + HKDF + AES-KW, or AES-KW);
/// 3. stream the plaintext through AES-GCM in `chunkSize` pieces (reading, encrypting and writing
///    on three threads, `CipherPipeline`), hashing plaintext and ciphertext on the way, into a
///    temporary file beside the output;
/// 4. append the tag, then rename the ciphertext and write the structure, both atomically.
public struct Encryptor: Sendable {
    /// The recipients, in order.
    public let recipients: [EncryptionRecipient]
    /// The options.
    public let options: EncryptionOptions

    /// AES-GCM's limit for one key and IV: 2^36 - 32 bytes (NIST SP 800-38D §5.2.1.1).
    public static let maxPlaintextLength: Int64 = (1 << 36) - 32

    /// An encryptor for `recipients` (at least one).
    public init(recipients: [EncryptionRecipient], options: EncryptionOptions = EncryptionOptions()) throws {
        guard !recipients.isEmpty else { throw FirmchainError(.usageInvalid, "encryption needs at least one recipient") }
        self.recipients = recipients
        self.options = options
    }

    /// Encrypts the file at `plaintext` into `directory/NAME` (ciphertext ‖ tag) and
    /// `directory/NAME.cose` (the structure), NAME defaulting to the plaintext's file name.
    public func encrypt(file plaintext: String, into directory: String, name: String? = nil) throws -> EncryptionDescriptor {
        let n = name ?? (plaintext.split(separator: "/").last.map(String.init) ?? plaintext)
        return try encrypt(file: plaintext, ciphertextTo: directory + "/" + n, structureTo: directory + "/" + n + ".cose")
    }

    /// Encrypts the file at `plaintext` into `ciphertextPath` (ciphertext ‖ tag) and the COSE
    /// structure with a nil ciphertext into `structurePath`. Nothing is visible at either path
    /// unless the whole encryption succeeded.
    ///
    /// `plaintextSHA256` (lower-case hex) is for a caller that has just hashed the file, as a
    /// pipeline runner hashes every material: the descriptor then records that digest and the
    /// plaintext is not hashed a second time (SHA-256 is most of an encryption's CPU). The caller
    /// vouches that the file has not changed since; without it the plaintext is hashed as it is
    /// read.
    public func encrypt(file plaintext: String, ciphertextTo ciphertextPath: String, structureTo structurePath: String,
                        plaintextSHA256: String? = nil) throws -> EncryptionDescriptor {
        if let given = plaintextSHA256, given.utf8.count != 64 || !given.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
            throw FirmchainError(.usageInvalid, "the plaintext's SHA-256 must be 64 lower-case hex digits, not \"\(given)\"")
        }
        var source = try FileByteSource(path: plaintext)
        let length = source.length
        guard length <= Self.maxPlaintextLength else {
            throw FirmchainError(.encryptionTooLarge, "is larger than AES-GCM allows under one key (2^36 - 32 bytes)", path: plaintext)
        }
        let alg = options.contentAlgorithm
        let cek = SymmetricKey(size: alg == .a256gcm ? .bits256 : .bits128)
        var iv = [UInt8](repeating: 0, count: 12)
        var rng = SystemRandomNumberGenerator()
        for i in iv.indices { iv[i] = rng.next() }
        let wrapped = try recipients.map { try KeyWrapping.wrap(cek, for: $0) }
        let structure = COSEEncrypt(contentAlgorithm: alg, iv: iv, ciphertext: nil, recipients: wrapped)

        let key = cek.withUnsafeBytes { Secret(bytes: $0) }
        let writer = try AtomicFileWriter(path: ciphertextPath)
        let gcm = try StreamingGCM(encrypting: true, key: key, iv: structure.iv, aad: structure.additionalAuthenticatedData)
        var hashes = try CipherPipeline(chunkSize: options.chunkSize)
            .run(source: &source, length: length, gcm: gcm, sink: writer, hashingInput: plaintextSHA256 == nil,
                 phase: "encrypting", path: plaintext, progress: options.progress)
        let tag = try gcm.finishEncrypting()
        hashes.output.update(data: tag)
        try writer.write(tag)
        let structureBytes = structure.encoded
        // The structure's temporary file first, so a failure there leaves no ciphertext either.
        let structureWriter = try AtomicFileWriter(path: structurePath)
        try structureWriter.write(structureBytes)
        try writer.commit()
        try structureWriter.commit()
        return EncryptionDescriptor(
            format: .cose, contentAlgorithm: alg,
            recipients: recipients.map { .init(keyID: Hex.encode($0.keyID), algorithm: $0.algorithm.description) },
            plaintext: FileDigest(sha256: plaintextSHA256 ?? Hex.encode(Array(hashes.input.finalize())), length: hashes.count),
            ciphertext: FileDigest(sha256: Hex.encode(Array(hashes.output.finalize())), length: hashes.count + 16),
            structure: FileDigest(sha256: DigestCalculator.sha256Hex(structureBytes), length: Int64(structureBytes.count)))
    }

    /// Adds `newRecipients` to the detached payload `ciphertextPath` + `structurePath` without
    /// re-encrypting: `key` must unwrap the content key, and the whole ciphertext is checked
    /// against its tag (streamed, nothing written) before the structure is replaced atomically.
    /// Returns the descriptor of the result.
    public static func addRecipients(_ newRecipients: [EncryptionRecipient], ciphertext ciphertextPath: String,
                                     structure structurePath: String, unlockingWith key: DecryptionKey,
                                     options: EncryptionOptions = EncryptionOptions()) throws -> EncryptionDescriptor {
        let structure = try Decryptor.readStructure(structurePath)
        guard structure.ciphertext == nil else {
            throw COSEEncrypt.malformed("the structure carries its ciphertext; recipients are added to detached payloads")
        }
        let (cek, _) = try KeyWrapping.unwrap(structure, with: key)
        let source = try FileByteSource(path: ciphertextPath)
        let secret = cek.withUnsafeBytes { Secret(bytes: $0) }
        let digests = try Decryptor.decryptStream(source, key: secret, structure: structure, sink: nil, path: ciphertextPath, options: options)
        let added = try newRecipients.map { try KeyWrapping.wrap(cek, for: $0) }
        let updated = structure.adding(added)
        let bytes = updated.encoded
        try AtomicFile.write(bytes, to: structurePath)
        return EncryptionDescriptor(
            format: .cose, contentAlgorithm: updated.contentAlgorithm,
            recipients: updated.recipients.map { .init(keyID: $0.keyID.map { Hex.encode($0) } ?? "", algorithm: $0.algorithm.description) },
            plaintext: digests.plaintext, ciphertext: digests.ciphertext,
            structure: FileDigest(sha256: DigestCalculator.sha256Hex(bytes), length: Int64(bytes.count)))
    }
}
