import Crypto
import FirmchainCore
import Foundation
import Signing
import SwiftASN1
import X509

/// X.509 certificates for signing keys, issued through any `Signer` (so a small signing PKI can
/// live on a PKCS#11 token without OpenSSL engines). The extensions are the ones the
/// distributors' verifiers check (Docs/formats/distributors.md "RAUC bundle", "SWUpdate .swu"):
/// a signing certificate carries digitalSignature and the EKUs emailProtection (OpenSSL's
/// default S/MIME purpose, which RAUC and SWUpdate check) and codeSigning.
public enum Certificates {
    /// What a certificate is for.
    public enum Purpose: String, Sendable, CaseIterable {
        /// A certificate authority: basicConstraints CA (critical), keyCertSign and cRLSign.
        case ca
        /// A container signing key: not a CA, digitalSignature, EKU emailProtection + codeSigning.
        case signing
    }

    /// One certificate request.
    public struct Request: Sendable {
        /// The subject as `CN=…,O=…,OU=…,C=…` (commas inside values are not supported).
        public var subject: String
        /// The key being certified.
        public var subjectKey: PublicKey
        /// What the certificate is for.
        public var purpose: Purpose
        /// Start of validity.
        public var notBefore: Date
        /// Validity in days from `notBefore`.
        public var days: Int

        /// A request for `subjectKey` named `subject`.
        public init(subject: String, subjectKey: PublicKey, purpose: Purpose, notBefore: Date, days: Int = 3650) {
            self.subject = subject
            self.subjectKey = subjectKey
            self.purpose = purpose
            self.notBefore = notBefore
            self.days = days
        }
    }

    /// Issues a certificate for `request`, signed by `issuer` with the issuer certificate
    /// `issuerCertificate` (PEM), or self-signed when `issuerCertificate` is nil (then `issuer`
    /// must hold the subject key). The serial number is derived from the subject key and name,
    /// so re-issuing is reproducible. Returns PEM.
    public static func issue(_ request: Request, issuer: any Signer, issuerCertificate: String?) throws -> String {
        let subjectName = try distinguishedName(request.subject)
        let subjectKey: Certificate.PublicKey
        do { subjectKey = try Certificate.PublicKey(derEncoded: request.subjectKey.spkiDER) } catch {
            throw FirmchainError(.exportKeyUnsupported, "swift-certificates cannot read the subject key")
        }
        let issuerKey = try SignerPrivateKey(issuer)
        let issuerName: DistinguishedName
        let authorityKeyID: [UInt8]
        if let issuerCertificate {
            let cert = try parse(issuerCertificate, what: "issuer certificate")
            guard cert.publicKey == issuerKey.publicKey else {
                throw FirmchainError(.exportCertificateInvalid, "the issuer certificate is not for the issuer key \(issuer.keyDescription)")
            }
            guard let bc = try? cert.extensions.basicConstraints, case .isCertificateAuthority = bc else {
                throw FirmchainError(.exportCertificateInvalid, "the issuer certificate is not a CA certificate")
            }
            issuerName = cert.subject
            authorityKeyID = keyIdentifier(issuer.publicKey)
        } else {
            guard issuer.publicKey == request.subjectKey else {
                throw FirmchainError(.exportCertificateInvalid, "a self-signed certificate must be signed by its own key")
            }
            issuerName = subjectName
            authorityKeyID = keyIdentifier(request.subjectKey)
        }
        guard request.days > 0, request.days <= 36500 else {
            throw FirmchainError(.exportCertificateInvalid, "the validity must be 1 to 36500 days, not \(request.days)")
        }
        let ski = keyIdentifier(request.subjectKey)
        var serial = Array(SHA256.hash(data: request.subjectKey.spkiDER + Array(request.subject.utf8) + Array(request.purpose.rawValue.utf8)).prefix(16))
        serial[0] &= 0x7F
        serial[0] |= 0x01
        let purpose = request.purpose
        let extensions = try Certificate.Extensions {
            switch purpose {
            case .ca:
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            case .signing:
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.emailProtection, .codeSigning])
            }
            SubjectKeyIdentifier(keyIdentifier: ArraySlice(ski))
            AuthorityKeyIdentifier(keyIdentifier: ArraySlice(authorityKeyID))
        }
        do {
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(bytes: ArraySlice(serial)), publicKey: subjectKey,
                notValidBefore: request.notBefore, notValidAfter: request.notBefore.addingTimeInterval(Double(request.days) * 86400),
                issuer: issuerName, subject: subjectName, signatureAlgorithm: issuerKey.defaultSignatureAlgorithm,
                extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(issuerKey))
            return try certificate.serializeAsPEM().pemString + "\n"
        } catch let e as FirmchainError {
            throw e
        } catch {
            throw FirmchainError(.exportCertificateInvalid, "the certificate could not be made: \(error)")
        }
    }

    /// The key identifier: the leftmost 160 bits of SHA-256 over the SubjectPublicKeyInfo
    /// (RFC 7093 §2, a method RFC 5280 §4.2.1.2 allows).
    static func keyIdentifier(_ key: PublicKey) -> [UInt8] {
        Array(SHA256.hash(data: key.spkiDER).prefix(20))
    }

    /// A certificate from PEM text.
    static func parse(_ pem: String, what: String) throws -> Certificate {
        do { return try Certificate(pemEncoded: pem) } catch {
            throw FirmchainError(.exportCertificateInvalid, "the \(what) is not a PEM X.509 certificate")
        }
    }

    /// The public key of a PEM certificate.
    public static func publicKey(ofCertificate pem: String) throws -> PublicKey {
        let cert = try parse(pem, what: "certificate")
        var serializer = DER.Serializer()
        try serializer.serialize(cert.publicKey)
        return try PublicKey(spkiDER: serializer.serializedBytes)
    }

    /// `CN=…,O=…` into a name, in the order given. Keys: CN, O, OU, C, L, ST.
    static func distinguishedName(_ text: String) throws -> DistinguishedName {
        guard !text.isEmpty, text.utf8.count <= 1024 else { throw FirmchainError(.exportCertificateInvalid, "the subject is empty or too long") }
        var rdns = [RelativeDistinguishedName]()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[1].isEmpty else { throw FirmchainError(.exportCertificateInvalid, "'\(part)' is not KEY=VALUE in the subject") }
            let value = kv[1]
            let attribute: RelativeDistinguishedName.Attribute
            switch kv[0].uppercased() {
            case "CN": attribute = try .init(type: .RDNAttributeType.commonName, utf8String: value)
            case "O": attribute = try .init(type: .RDNAttributeType.organizationName, utf8String: value)
            case "OU": attribute = try .init(type: .RDNAttributeType.organizationalUnitName, utf8String: value)
            case "C": attribute = try .init(type: .RDNAttributeType.countryName, printableString: value)
            case "L": attribute = try .init(type: .RDNAttributeType.localityName, utf8String: value)
            case "ST": attribute = try .init(type: .RDNAttributeType.stateOrProvinceName, utf8String: value)
            default: throw FirmchainError(.exportCertificateInvalid, "'\(kv[0])' is not a subject attribute Firmchain writes (CN, O, OU, C, L, ST)")
            }
            rdns.append(RelativeDistinguishedName(attribute))
        }
        return DistinguishedName(rdns)
    }
}
