import FirmchainCore
import Foundation
import Signing
@_spi(CMS) import X509

/// CMS SignedData (RFC 5652 §5) in DER, signed by any `Signer`: the signer (an HSM key or a
/// software key) signs only the DER of the signed attributes (§5.4: content-type,
/// message-digest and signing-time); the envelope — digest algorithms, encapsulated content,
/// certificates, SignerInfo with issuer-and-serial — is built by swift-certificates around the
/// returned signature bytes. OpenSSL's `CMS_verify` (SWUpdate, RAUC, `openssl cms -verify`)
/// accepts it.
public enum CMSSignedData {
    /// What goes into one signature.
    public struct Options: Sendable {
        /// The signer's certificate (its public key must be the signer's).
        public var certificate: String
        /// Intermediate certificates (PEM) carried in the message, nearest to the signer first.
        public var chain: [String]
        /// The `signing-time` attribute: fixed by the caller so that two exports are identical.
        public var signingTime: Date
        /// Whether the content is left out (detached) or carried (attached, RAUC verity).
        public var detached: Bool

        /// Options for a detached signature by `certificate` (PEM) at `signingTime`.
        public init(certificate: String, chain: [String] = [], signingTime: Date, detached: Bool = true) {
            self.certificate = certificate
            self.chain = chain
            self.signingTime = signingTime
            self.detached = detached
        }
    }

    /// Signs `content` and returns the DER ContentInfo holding the SignedData.
    ///
    /// Errors: `export.certificate-invalid` (unparsable PEM, or a certificate for another key),
    /// `export.key-unsupported`, and the signer's own errors.
    public static func sign(_ content: [UInt8], signer: any Signer, options: Options) throws -> [UInt8] {
        let certificate = try Certificates.parse(options.certificate, what: "signer certificate")
        let chain = try options.chain.map { try Certificates.parse($0, what: "chain certificate") }
        let key = try SignerPrivateKey(signer)
        guard certificate.publicKey == key.publicKey else {
            throw FirmchainError(.exportCertificateInvalid, "the certificate is not for the key \(signer.keyDescription)")
        }
        do {
            return try CMS.sign(content, signatureAlgorithm: key.defaultSignatureAlgorithm, additionalIntermediateCertificates: chain,
                                certificate: certificate, privateKey: Certificate.PrivateKey(key),
                                signingTime: options.signingTime, detached: options.detached)
        } catch let e as FirmchainError {
            throw e
        } catch {
            throw FirmchainError(.exportKeyUnsupported, "the CMS signature could not be made: \(error)")
        }
    }
}
