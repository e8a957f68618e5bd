import Crypto
import FirmchainCore

/// A `KeyAgreement` over a P-256 private key in process memory, read from a PEM file in any
/// form `SoftwareSigner` reads (PKCS#8, encrypted PKCS#8, SEC 1). ECDH is done by swift-crypto.
public final class SoftwareKeyAgreement: KeyAgreement, @unchecked Sendable {
    // Immutable after init; swift-crypto keys are safe to use from several threads.
    private let key: P256.KeyAgreement.PrivateKey
    /// The public key.
    public let publicKey: PublicKey
    /// The file path, for messages.
    public let keyDescription: String

    /// Reads a PEM private key file (`passphrase` is called only for an encrypted key).
    ///
    /// Errors: those of `SoftwareSigner.init(pemFile:passphrase:)`, and
    /// `signing.key-unsupported` when the key is not P-256.
    public convenience init(pemFile path: String, passphrase: () throws -> Secret?) throws {
        try self.init(signer: SoftwareSigner(pemFile: path, passphrase: passphrase))
    }

    /// A new random P-256 key (tests, ephemeral use).
    public convenience init(generatingDescription description: String = "generated key") throws {
        try self.init(signer: SoftwareSigner(generating: .ecdsaP256, description: description))
    }

    /// The key-agreement view of a software P-256 signing key.
    public init(signer: SoftwareSigner) throws {
        guard case .p256(let k) = signer.key else {
            throw FirmchainError.keyUnsupported(signer.keyDescription, "key agreement needs a P-256 key, not \(signer.publicKey.keyType.rawValue)")
        }
        key = try P256.KeyAgreement.PrivateKey(rawRepresentation: k.rawRepresentation)
        publicKey = signer.publicKey
        keyDescription = signer.keyDescription
    }

    /// ECDH with the peer point `04‖x‖y`; returns Z, the 32-byte x-coordinate.
    public func sharedSecret(withPeerPoint point: [UInt8]) throws -> Secret {
        let peer: P256.KeyAgreement.PublicKey
        do {
            peer = try P256.KeyAgreement.PublicKey(x963Representation: point)
        } catch {
            throw FirmchainError.keyUnsupported(keyDescription, "the peer's ephemeral key is not a P-256 point")
        }
        let shared = try key.sharedSecretFromKeyAgreement(with: peer)
        return shared.withUnsafeBytes { Secret(bytes: $0) }
    }
}
