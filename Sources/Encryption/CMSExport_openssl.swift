import COpenSSL
import Crypto
import FirmchainCore
#if canImport(Glibc)
import Glibc
#endif

/// The CMS export (`--format cms`) for parties that only have OpenSSL: a DER CMS
/// AuthEnvelopedData (RFC 5083) with AES-256-GCM content, built and streamed by OpenSSL in
/// constant memory. Recipients are X.509 certificates:
///
/// - EC P-256 keys: key agreement (RFC 5753, `dhSinglePass-stdDH-sha256kdf-scheme`), the KEK
///   wrapped with AES key wrap;
/// - RSA keys: RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1, RFC 4055).
///
/// `openssl cms -decrypt -inform DER -recip CERT -inkey KEY` opens it (which holds the whole
/// message in memory, unlike the encryption).
public enum CMSExport {
    /// The smallest RSA modulus a CMS recipient may have (as for Firmchain's signing keys).
    public static let minimumRSABits = 3072

    /// Encrypts the file at `plaintext` for `recipients` into `outputPath` (atomically).
    ///
    /// Errors: `encryption.cms-recipient-unsupported` (a certificate that is neither P-256 nor
    /// RSA of at least `minimumRSABits`), `io.write-failed` (a full disk), `encryption.backend-failed`,
    /// and the I/O errors of reading and writing.
    public static func encrypt(file plaintext: String, recipients: [RecipientCertificate], to outputPath: String) throws -> EncryptionDescriptor {
        guard !recipients.isEmpty else { throw FirmchainError(.usageInvalid, "encryption needs at least one recipient") }
        let inFD = try FileIO.openRegular(plaintext)
        defer { close(inFD) }
        let size = try FileIO.size(plaintext)
        guard size <= Encryptor.maxPlaintextLength else {
            throw FirmchainError(.encryptionTooLarge, "is larger than AES-GCM allows under one key (2^36 - 32 bytes)", path: plaintext)
        }
        // RSA recipients as strong as Firmchain's own RSA keys (Docs/encryption.md): a weaker key
        // is refused up front, not by OpenSSL half way.
        for (i, r) in recipients.enumerated() {
            if let key = try? r.publicKey(), key.keyType == .rsa, let bits = key.rsaBits, bits < Self.minimumRSABits {
                throw FirmchainError(.encryptionCMSRecipientUnsupported,
                                     "recipient \(i + 1) is an RSA-\(bits) key; a CMS recipient's RSA key must have at least \(Self.minimumRSABits) bits")
            }
        }
        let writer = try AtomicFileWriter(path: outputPath)
        var badIndex = 0, writeErrno: Int32 = 0
        ERR_clear_error()
        let rc: Int32 = writer.withDescriptor { outFD in
            let ders = recipients.map(\.der)
            let pointers = ders.map { d -> UnsafeMutablePointer<UInt8> in
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(d.count, 1))
                p.initialize(from: d, count: d.count)
                return p
            }
            defer { pointers.forEach { $0.deallocate() } }
            let constPointers: [UnsafePointer<UInt8>?] = pointers.map { UnsafePointer($0) }
            let lengths = ders.map(\.count)
            return constPointers.withUnsafeBufferPointer { cp in
                lengths.withUnsafeBufferPointer { lp in
                    let rc = fc_cms_encrypt(inFD, outFD, cp.baseAddress, lp.baseAddress, recipients.count, &badIndex)
                    writeErrno = errno
                    return rc
                }
            }
        }
        switch rc {
        case Int32(FC_CMS_OK): break
        case Int32(FC_CMS_BAD_RECIPIENT):
            writer.abort()
            ERR_clear_error()
            throw FirmchainError(.encryptionCMSRecipientUnsupported,
                                 "recipient \(badIndex + 1) is not a certificate for a P-256 or RSA key (CMS recipients are EC P-256 or RSA)")
        case _ where [ENOSPC, EFBIG, EDQUOT, EIO].contains(writeErrno):
            // The disk, not OpenSSL: full, over a size limit or failing.
            writer.abort()
            ERR_clear_error()
            throw FirmchainError(.ioWriteFailed, "cannot write the CMS message: \(String(cString: strerror(writeErrno)))", path: outputPath)
        default:
            writer.abort()
            throw FirmchainError(.encryptionBackendFailed, "OpenSSL could not write the CMS message: \(openSSLErrors())", path: outputPath)
        }
        try writer.commit()
        let plainDigest = try DigestCalculator.file(plaintext)
        let outDigest = try DigestCalculator.file(outputPath)
        return EncryptionDescriptor(
            format: .cms, contentAlgorithm: .a256gcm,
            recipients: try recipients.map { r in
                let key = try r.publicKey()
                return .init(keyID: Hex.encode(r.subjectKeyIdentifier ?? Array(SHA256.hash(data: r.spkiDER))),
                             algorithm: key.keyType == .rsa ? "RSA-OAEP-SHA256" : "ECDH-SHA256-KDF+A256KW")
            },
            plaintext: FileDigest(sha256: plainDigest.sha256 ?? "", length: plainDigest.length),
            ciphertext: FileDigest(sha256: outDigest.sha256 ?? "", length: outDigest.length), structure: nil)
    }
}
