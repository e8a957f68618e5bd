import Crypto
import FirmchainCore
import Foundation
import Signing
import SwiftASN1
import X509

/// A `Signer` (software key or PKCS#11 key) as swift-certificates' `CustomPrivateKey`: the
/// certificate and CMS code hands this key the bytes to sign (a TBSCertificate, the DER of CMS
/// signed attributes) and the signer returns bare signature bytes. The private key never
/// leaves the signer; this type only maps algorithm names.
struct SignerPrivateKey: CustomPrivateKey {
    let signer: any Signer
    let publicKey: Certificate.PublicKey

    init(_ signer: any Signer) throws {
        self.signer = signer
        do {
            publicKey = try Certificate.PublicKey(derEncoded: signer.publicKey.spkiDER)
        } catch {
            throw FirmchainError(.exportKeyUnsupported, "swift-certificates cannot read the public key of \(signer.keyDescription)")
        }
    }

    /// The X.509 / CMS algorithm for this key: ECDSA with the curve's hash, RSA PKCS#1 v1.5 with
    /// SHA-256 (what OpenSSL's CMS verifiers and Mender expect), Ed25519.
    var defaultSignatureAlgorithm: Certificate.SignatureAlgorithm {
        switch signer.publicKey.keyType {
        case .ecdsaP256: return .ecdsaWithSHA256
        case .ecdsaP384: return .ecdsaWithSHA384
        case .rsa: return .sha256WithRSAEncryption
        case .ed25519: return .ed25519
        }
    }

    var supportedSignatureAlgorithms: [Certificate.SignatureAlgorithm] { [defaultSignatureAlgorithm] }

    /// The Firmchain algorithm behind an X.509 one.
    static func algorithm(_ a: Certificate.SignatureAlgorithm) -> SignatureAlgorithm? {
        switch a {
        case .ecdsaWithSHA256: return .ecdsaP256SHA256
        case .ecdsaWithSHA384: return .ecdsaP384SHA384
        case .sha256WithRSAEncryption: return .rsaPKCS1v15SHA256
        case .ed25519: return .ed25519
        default: return nil
        }
    }

    func signSynchronously(bytes: some DataProtocol, signatureAlgorithm: Certificate.SignatureAlgorithm) throws -> Certificate.Signature {
        guard let algorithm = Self.algorithm(signatureAlgorithm), signer.supportedAlgorithms.contains(algorithm) else {
            throw FirmchainError(.exportKeyUnsupported, "\(signer.keyDescription) cannot sign with \(signatureAlgorithm)")
        }
        // ECDSA comes back as DER ECDSA-Sig-Value, exactly what X.509 and CMS carry.
        let signature = try signer.sign(Array(bytes), algorithm: algorithm)
        return try Certificate.Signature(signatureAlgorithm: signatureAlgorithm, signatureBytes: ASN1BitString(bytes: ArraySlice(signature)))
    }

    static let defaultPEMDiscriminator = "FIRMCHAIN SIGNER"

    func serializeAsPEM(discriminator: String) throws -> PEMDocument {
        throw FirmchainError(.exportKeyUnsupported, "a signer's private key is never serialized")
    }

    func serialize(into coder: inout DER.Serializer) throws {
        throw FirmchainError(.exportKeyUnsupported, "a signer's private key is never serialized")
    }

    static func == (a: SignerPrivateKey, b: SignerPrivateKey) -> Bool { a.signer.publicKey == b.signer.publicKey }
    func hash(into hasher: inout Hasher) { hasher.combine(signer.publicKey) }
}
