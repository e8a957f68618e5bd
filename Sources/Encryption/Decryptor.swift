import Crypto
import FirmchainCore
import Signing

/// What a decryption verified and wrote.
public struct DecryptionResult: Sendable, Hashable {
    /// The plaintext written: its SHA-256 and length (compare with the manifest's).
    public let plaintext: FileDigest
    /// The key id of the recipient the key unwrapped, as hex (nil when it had none).
    public let recipientKeyID: String?
    /// That recipient's algorithm.
    public let recipientAlgorithm: RecipientAlgorithm
    /// The content algorithm.
    public let contentAlgorithm: ContentAlgorithm
}

/// Decrypts COSE_Encrypt payloads (Docs/encryption.md "Decrypting"):
///
/// 1. read the structure strictly (`COSEEncrypt.init(decoding:)`);
/// 2. unwrap the content key with the caller's key (`encryption.no-matching-recipient`);
/// 3. stream ciphertext through AES-GCM into a temporary file beside the output (mode 0600);
/// 4. check the tag; only then rename the plaintext into place. On any failure the temporary
///    file is removed and nothing is left at the output path.
public enum Decryptor {
    /// The largest structure file read (detached ciphertext): 1 MiB.
    public static let maxStructureLength = 1 << 20
    /// The largest attached ciphertext decrypted from a structure held in memory: 256 MiB.
    public static let maxAttachedCiphertextLength = 256 << 20

    /// Decrypts the payload whose structure is `structure` (the bytes of `NAME.cose`, or a
    /// COSE_Encrypt with its ciphertext attached) and whose ciphertext ‖ tag is the file at
    /// `ciphertextPath` (nil when attached), writing the plaintext to `outputPath`. With
    /// `expectedPlaintext` (a manifest's length and SHA-256), a plaintext that differs in either is refused
    /// with `encryption.plaintext-mismatch` before anything appears at `outputPath`.
    public static func decrypt(structure bytes: [UInt8], ciphertext ciphertextPath: String?, key: DecryptionKey,
                               to outputPath: String, expectedPlaintext: FileDigest? = nil,
                               options: EncryptionOptions = EncryptionOptions()) throws -> DecryptionResult {
        let structure = try COSEEncrypt(decoding: bytes, limits: CBORLimits(maxStringLength: maxAttachedCiphertextLength))
        let (cek, recipient) = try KeyWrapping.unwrap(structure, with: key)
        let secret = cek.withUnsafeBytes { Secret(bytes: $0) }
        let writer = try AtomicFileWriter(path: outputPath, mode: 0o600)
        let digests: (plaintext: FileDigest, ciphertext: FileDigest)
        if let attached = structure.ciphertext {
            if ciphertextPath != nil {
                throw COSEEncrypt.malformed("the structure carries its ciphertext and a ciphertext file was also given")
            }
            digests = try decryptStream(MemoryByteSource(attached), key: secret, structure: structure, sink: writer, path: nil, options: options)
        } else {
            guard let ciphertextPath else {
                throw COSEEncrypt.malformed("the ciphertext is detached (nil) and no ciphertext file was given")
            }
            digests = try decryptStream(FileByteSource(path: ciphertextPath), key: secret, structure: structure, sink: writer,
                                        path: ciphertextPath, options: options)
        }
        if let expected = expectedPlaintext {
            let got = digests.plaintext
            guard got.length == expected.length, expected.sha256.lowercased() == got.sha256 else {
                writer.abort()
                throw FirmchainError(.encryptionPlaintextMismatch,
                                     "the decrypted plaintext (\(got.length) bytes, sha256 \(got.sha256)) is not the expected one (\(expected.length) bytes, sha256 \(expected.sha256)); nothing was written",
                                     path: outputPath)
            }
        }
        try writer.commit()
        return DecryptionResult(plaintext: digests.plaintext, recipientKeyID: recipient.keyID.map { Hex.encode($0) },
                                recipientAlgorithm: recipient.algorithm, contentAlgorithm: structure.contentAlgorithm)
    }

    /// Reads and checks a structure file (at most `maxStructureLength` bytes).
    public static func readStructure(_ path: String) throws -> COSEEncrypt {
        let bytes = try FileIO.read(path, limit: maxStructureLength)
        do { return try COSEEncrypt(decoding: bytes) } catch let e as FirmchainError { throw e.about(path) }
    }

    /// Streams ciphertext ‖ tag from `source` through AES-GCM into `sink` (or nowhere), reading,
    /// decrypting and writing on three threads (`CipherPipeline`), then checks the tag. The sink
    /// is aborted on failure.
    static func decryptStream(_ source: some ByteSource, key: Secret, structure: COSEEncrypt, sink: AtomicFileWriter?,
                              path: String?, options: EncryptionOptions) throws -> (plaintext: FileDigest, ciphertext: FileDigest) {
        var source = source
        guard source.length >= 16 else {
            sink?.abort()
            throw FirmchainError(.encryptionTruncated, "the ciphertext has \(source.length) bytes, fewer than its 16-byte tag: the file is truncated", path: path)
        }
        let bodyLength = source.length - 16
        let gcm = try StreamingGCM(encrypting: false, key: key, iv: structure.iv, aad: structure.additionalAuthenticatedData)
        var hashes: CipherPipeline.Hashes
        do {
            hashes = try CipherPipeline(chunkSize: options.chunkSize)
                .run(source: &source, length: bodyLength, gcm: gcm, sink: sink, phase: "decrypting", path: path, progress: options.progress)
            var tag = [UInt8](repeating: 0, count: 16)
            let n = try tag.withUnsafeMutableBytes { try source.read(into: $0) }
            guard n == 16 else { throw FirmchainError(.encryptionTruncated, "the ciphertext ended inside its tag", path: path) }
            hashes.input.update(data: tag)
            guard gcm.finishDecrypting(tag: tag) else {
                throw FirmchainError(.encryptionAuthenticationFailed,
                                     "the AES-GCM tag does not verify: the ciphertext, its tag or the structure was changed, or the file is truncated; no plaintext was written",
                                     path: path)
            }
        } catch {
            sink?.abort()
            throw error
        }
        return (FileDigest(sha256: Hex.encode(Array(hashes.output.finalize())), length: hashes.count),
                FileDigest(sha256: Hex.encode(Array(hashes.input.finalize())), length: hashes.count + 16))
    }
}
