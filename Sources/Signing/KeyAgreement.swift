import FirmchainCore

/// Something that holds a P-256 private key and performs ECDH with it (SEC 1 §3.3.1), beside
/// `Signer`: a software key or a key inside a PKCS#11 token (`CKM_ECDH1_DERIVE`). It returns
/// only the shared secret; the key derivation and key unwrapping around it (COSE, CMS) are
/// built by the Encryption module.
///
/// Implementations are safe to call from several threads at once.
public protocol KeyAgreement: Sendable {
    /// The public half of the key, as SPKI (always `ecdsa-p256`).
    var publicKey: PublicKey { get }
    /// A description of the key for messages: a file path or a `pkcs11:` URI without any PIN.
    var keyDescription: String { get }
    /// The ECDH shared secret Z (the 32-byte x-coordinate) with the peer public key given as an
    /// uncompressed point `04‖x‖y` (SEC 1 §2.3.3). Throws `signing.key-unsupported` when the
    /// point is not on P-256.
    func sharedSecret(withPeerPoint point: [UInt8]) throws -> Secret
}

extension Signers {
    /// Opens a key-agreement key for `key`: a `pkcs11:` URI → `PKCS11KeyAgreement`; anything
    /// else is a PEM private key file → `SoftwareKeyAgreement`. Only P-256 keys agree keys.
    public static func openKeyAgreement(_ key: String, options: SignerOptions) throws -> any KeyAgreement {
        if PKCS11URI.isPKCS11URI(key) { return try PKCS11KeyAgreement(uri: key, options: options) }
        return try SoftwareKeyAgreement(pemFile: key, passphrase: { try options.passphrase() })
    }
}
