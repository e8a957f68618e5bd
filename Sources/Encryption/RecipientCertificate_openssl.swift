import COpenSSL
import FirmchainCore
import Signing

/// An X.509 certificate naming a recipient (PEM or DER), read through OpenSSL: what CMS
/// recipients need, and a way to give a COSE recipient by its certificate.
public struct RecipientCertificate: Sendable, Hashable {
    /// The certificate's DER.
    public let der: [UInt8]
    /// The subject public key as SubjectPublicKeyInfo DER.
    public let spkiDER: [UInt8]
    /// The SubjectKeyIdentifier extension's value, when present.
    public let subjectKeyIdentifier: [UInt8]?

    /// Parses a certificate from PEM text or DER bytes; `path` names it in errors
    /// (`signing.key-file-malformed`).
    public init(bytes: [UInt8], path: String?) throws {
        let x509: OpaquePointer? = bytes.withUnsafeBufferPointer { buf -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { return nil }
            defer { BIO_free(bio) }
            if let pem = PEM_read_bio_X509(bio, nil, nil, nil) { return pem }
            ERR_clear_error()
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_X509(nil, &p, buf.count)
        }
        guard let x509 else {
            ERR_clear_error()
            throw FirmchainError.keyFileMalformed(path, "not an X.509 certificate (PEM or DER)")
        }
        defer { X509_free(x509) }
        der = Self.encode { i2d_X509(x509, $0) }
        guard let pkey = X509_get0_pubkey(x509) else {
            ERR_clear_error()
            throw FirmchainError.keyFileMalformed(path, "the certificate's public key cannot be read")
        }
        spkiDER = Self.encode { i2d_PUBKEY(pkey, $0) }
        if let ski = X509_get0_subject_key_id(x509) {
            subjectKeyIdentifier = Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(ski), count: Int(ASN1_STRING_length(ski))))
        } else {
            subjectKeyIdentifier = nil
        }
        ERR_clear_error()
    }

    /// Reads a certificate file.
    public init(file path: String) throws {
        try self.init(bytes: FileIO.read(path, limit: 1 << 20), path: path)
    }

    /// The subject public key.
    public func publicKey() throws -> PublicKey { try PublicKey(spkiDER: spkiDER) }

    private static func encode(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = body(&out)
        guard n > 0, let out else { return [] }
        defer { fc_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }
}
