import FirmchainCore
import Signing

/// What a user types to name a recipient or a decryption key, turned into library values at the
/// edge (the CLI and pipeline files share this).
///
/// - `kek:FILE`: a pre-shared key-encryption key file (see `KeyEncryptionKey.init(file:keyID:)`).
/// - `pkcs11:…`: a key in a token (RFC 7512): its public key as a recipient, or ECDH through the
///   token for decryption.
/// - any other string: a PEM file, a `PUBLIC KEY`, a `CERTIFICATE` or (for decryption) a private key.
public enum RecipientSpec {
    /// The prefix of a key-encryption key file.
    public static let kekPrefix = "kek:"

    /// A COSE recipient from `spec`; P-256 keys get `keyWrap` (ECDH-ES+A256KW by default).
    public static func recipient(_ spec: String, keyWrap: KeyWrapAlgorithm = .a256kw, options: SignerOptions) throws -> EncryptionRecipient {
        if spec.hasPrefix(kekPrefix) {
            return .keyEncryptionKey(try KeyEncryptionKey(file: String(spec.dropFirst(kekPrefix.count))))
        }
        do {
            return try .publicKey(publicKey(spec, options: options), keyWrap: keyWrap)
        } catch let e as FirmchainError where e.code == .encryptionRecipientUnsupported {
            throw e.about(spec)
        }
    }

    /// The public key in `spec`: a token key, a PEM public or private key, or a certificate.
    static func publicKey(_ spec: String, options: SignerOptions) throws -> PublicKey {
        if !PKCS11URI.isPKCS11URI(spec), let bytes = try? FileIO.read(spec, limit: 1 << 20),
           String(decoding: bytes, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") {
            return try RecipientCertificate(bytes: bytes, path: spec).publicKey()
        }
        return try Signers.publicKey(of: spec, options: options)
    }

    /// The decryption key in `spec`: `kek:FILE`, a `pkcs11:` URI or a PEM private key file.
    public static func decryptionKey(_ spec: String, options: SignerOptions) throws -> DecryptionKey {
        if spec.hasPrefix(kekPrefix) {
            return .keyEncryptionKey(try KeyEncryptionKey(file: String(spec.dropFirst(kekPrefix.count))))
        }
        return .agreement(try Signers.openKeyAgreement(spec, options: options))
    }
}
