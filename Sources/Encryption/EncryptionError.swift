import FirmchainCore

/// The codes of the `Encryption` module (`Docs/exit-codes.md`, "Encryption"). Reasons never
/// contain key material.
extension ErrorCode {
    /// Bytes that are not strict, bounded CBOR (`CBORDecoder`).
    public static let encryptionCBORMalformed = ErrorCode("encryption.cbor-malformed", .malformedInput)
    /// Well-formed CBOR that is not a COSE_Encrypt of the SUIT firmware-encryption profile.
    public static let encryptionCOSEMalformed = ErrorCode("encryption.cose-malformed", .malformedInput)
    /// The structure names an algorithm Firmchain does not decrypt.
    public static let encryptionAlgorithmUnsupported = ErrorCode("encryption.algorithm-unsupported", .malformedInput)
    /// The ciphertext file is shorter than its tag, or its length does not fit the structure.
    public static let encryptionTruncated = ErrorCode("encryption.truncated", .malformedInput)
    /// The key unwraps none of the recipients (a wrong key, or a recipient edited to point elsewhere).
    public static let encryptionNoRecipient = ErrorCode("encryption.no-matching-recipient", .key)
    /// A recipient key that cannot receive: not P-256, or a key-encryption key of the wrong size.
    public static let encryptionRecipientUnsupported = ErrorCode("encryption.recipient-unsupported", .key)
    /// A key-encryption key file that is neither 16/32 raw bytes nor 32/64 hex digits.
    public static let encryptionKEKMalformed = ErrorCode("encryption.kek-malformed", .malformedInput)
    /// The AES-GCM tag does not verify: the ciphertext, tag or header was changed; nothing was written.
    public static let encryptionAuthenticationFailed = ErrorCode("encryption.authentication-failed", .verificationFailed)
    /// The decrypted plaintext is not the one the caller expected (the manifest's digest or length); nothing was written.
    public static let encryptionPlaintextMismatch = ErrorCode("encryption.plaintext-mismatch", .verificationFailed)
    /// The plaintext is larger than AES-GCM allows under one key and IV (2^36 - 32 bytes).
    public static let encryptionTooLarge = ErrorCode("encryption.too-large", .malformedInput)
    /// A CMS export was asked for recipients OpenSSL cannot serve (a certificate that is not P-256 or RSA).
    public static let encryptionCMSRecipientUnsupported = ErrorCode("encryption.cms-recipient-unsupported", .key)
    /// OpenSSL failed inside an encryption (its error queue is named).
    public static let encryptionBackendFailed = ErrorCode("encryption.backend-failed", .internal)

    /// Every code `Encryption` declares.
    public static let encryptionCodes: [ErrorCode] = [
        encryptionCBORMalformed, encryptionCOSEMalformed, encryptionAlgorithmUnsupported, encryptionTruncated,
        encryptionNoRecipient, encryptionRecipientUnsupported, encryptionKEKMalformed, encryptionAuthenticationFailed,
        encryptionPlaintextMismatch, encryptionTooLarge, encryptionCMSRecipientUnsupported, encryptionBackendFailed,
    ]
}
