import FirmchainCore
import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1

/// PKCS#8 private keys (RFC 5958 §2) and their PBES2 encryption (RFC 8018 §6.2), the forms
/// `openssl genpkey [-aes-256-cbc]` and `openssl pkcs8 -topk8 -v2 aes-256-cbc` write.
///
/// swift-crypto parses plain PKCS#8 but does not decrypt `ENCRYPTED PRIVATE KEY`; PBES2 is
/// small enough to do here with swift-crypto's own PBKDF2 and AES-CBC, which keeps OpenSSL
/// out of the process for software keys (one crypto library, no C boundary to audit).
enum PKCS8 {
    /// Accepted PBKDF2 iteration counts: at least 1000 (below that the file was not made by a
    /// tool worth trusting) and at most ten million (a hostile file must not stall a build).
    static let iterationRange = 1000...10_000_000
    /// Iterations Firmchain uses when it encrypts a key.
    static let writeIterations = 600_000

    /// The key inside a `PrivateKeyInfo`.
    enum Key {
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    /// Parses a DER `PrivateKeyInfo` / `OneAsymmetricKey`.
    static func parse(_ der: [UInt8], path: String?) throws -> Key {
        let bad = FirmchainError.keyFileMalformed(path, "not a PKCS#8 private key")
        // OneAsymmetricKey ::= SEQUENCE { version, privateKeyAlgorithm, privateKey OCTET STRING,
        //                                 [0] attributes OPTIONAL, [1] publicKey OPTIONAL }: what follows
        // privateKey is left to swift-crypto (EC, RSA) or not needed (Ed25519).
        guard var r = (try? DER.parse(der))?.children(),
              let version = r.next(.integer), let v = version.smallInteger, v <= 1,
              let alg = r.next(.sequence), let key = r.next(.octetString)?.primitiveContent,
              var a = alg.children()
        else { throw bad }
        guard let oid = a.next(.objectIdentifier) else { throw bad }
        do {
            switch OID.value(of: oid) {
            case OID.ecPublicKey:
                guard let curve = a.next(.objectIdentifier) else { throw bad }
                switch OID.value(of: curve) {
                case OID.p256: return .p256(try P256.Signing.PrivateKey(derRepresentation: der))
                case OID.p384: return .p384(try P384.Signing.PrivateKey(derRepresentation: der))
                default: throw FirmchainError.keyUnsupported(path, "unsupported elliptic curve (Firmchain signs with P-256, P-384 and Ed25519)")
                }
            case OID.rsaEncryption:
                // swift-crypto refuses keys below 2048 bits with an internal error name; read the
                // size through the unsafe initialiser only to say what is wrong, never to sign.
                let k: _RSA.Signing.PrivateKey
                do { k = try _RSA.Signing.PrivateKey(derRepresentation: der) } catch {
                    let small = try? _RSA.Signing.PrivateKey(unsafeDERRepresentation: der)
                    throw FirmchainError.keyUnsupported(path, "RSA keys must have at least 3072 bits for signing"
                                                        + (small.map { "; this one has \($0.keySizeInBits)" } ?? ""))
                }
                guard k.keySizeInBits >= 3072 else {
                    throw FirmchainError.keyUnsupported(path, "RSA keys must have at least 3072 bits for signing; this one has \(k.keySizeInBits)")
                }
                return .rsa(k)
            case OID.rsassaPSS:
                throw FirmchainError.keyUnsupported(path, "RSA-PSS-restricted keys (OID 1.2.840.113549.1.1.10) are not supported; generate an rsaEncryption key (openssl genpkey -algorithm RSA)")
            case OID.ed25519:
                // CurvePrivateKey ::= OCTET STRING (RFC 8410 §7), inside the privateKey OCTET STRING.
                guard let inner = try? ASN1OctetString(derEncoded: key), inner.bytes.count == 32 else { throw bad }
                return .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: inner.bytes))
            default:
                throw FirmchainError.keyUnsupported(path, "unsupported private key algorithm (Firmchain signs with P-256, P-384, RSA 3072+ and Ed25519)")
            }
        } catch let e as FirmchainError {
            throw e
        } catch {
            throw FirmchainError.keyFileMalformed(path, "the private key does not parse: \(error)")
        }
    }

    /// Decrypts a DER `EncryptedPrivateKeyInfo` protected with PBES2 (PBKDF2 with
    /// HMAC-SHA-256, AES-256-CBC or AES-128-CBC) and returns the `PrivateKeyInfo` DER.
    /// The caller zeroes the result after use.
    static func decrypt(_ der: [UInt8], passphrase: Secret, path: String?) throws -> [UInt8] {
        let bad = FirmchainError.keyFileMalformed(path, "not a PKCS#8 EncryptedPrivateKeyInfo")
        // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier, encryptedData OCTET STRING }
        guard var r = (try? DER.parse(der))?.children(),
              let alg = r.next(.sequence), let data = r.next(.octetString)?.primitiveContent, r.isAtEnd,
              var a = alg.children()
        else { throw bad }
        guard let oid = a.next(.objectIdentifier) else { throw bad }
        guard OID.value(of: oid) == OID.pbes2 else {
            throw FirmchainError.keyUnsupported(path, "the key is encrypted with a scheme other than PBES2 (re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc)")
        }
        // PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme AlgorithmIdentifier }
        guard let params = a.next(.sequence), a.isAtEnd, var p = params.children(),
              let kdf = p.next(.sequence), let enc = p.next(.sequence), p.isAtEnd,
              var k = kdf.children(), var e = enc.children()
        else { throw bad }

        guard let kdfOID = k.next(.objectIdentifier), OID.value(of: kdfOID) == OID.pbkdf2,
              let kdfParams = k.next(.sequence), k.isAtEnd, var kp = kdfParams.children()
        else { throw FirmchainError.keyUnsupported(path, "PBES2 key derivation other than PBKDF2 (scrypt?) is not supported") }
        // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER,
        //                              keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
        guard let salt = kp.next(.octetString)?.primitiveContent, let iterations = kp.next(.integer)?.smallInteger else { throw bad }
        var keyLength: Int? = nil
        if let kl = kp.next(.integer) {
            guard let n = kl.smallInteger else { throw bad }
            keyLength = n
        }
        // nil: an OID that does not decode, which names no PRF Firmchain supports.
        var prf: ASN1ObjectIdentifier? = OID.hmacSHA1
        if let prfAlg = kp.next(.sequence) {
            guard var pa = prfAlg.children(), let o = pa.next(.objectIdentifier) else { throw bad }
            prf = OID.value(of: o)
            // The parameters, when present, are NULL (its tag is what is checked).
            if !pa.isAtEnd { guard pa.next(.null) != nil, pa.isAtEnd else { throw bad } }
        }
        guard kp.isAtEnd else { throw bad }
        guard prf == OID.hmacSHA256 else {
            throw FirmchainError.keyUnsupported(path, "PBKDF2 with a PRF other than HMAC-SHA-256 is not supported (re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256)")
        }
        guard iterationRange.contains(iterations) else {
            throw FirmchainError.keyUnsupported(path, "PBKDF2 iteration count \(iterations) is outside \(iterationRange.lowerBound)…\(iterationRange.upperBound)")
        }

        guard let encOID = e.next(.objectIdentifier) else { throw bad }
        let aesKeyLength: Int
        switch OID.value(of: encOID) {
        case OID.aes256CBC: aesKeyLength = 32
        case OID.aes128CBC: aesKeyLength = 16
        default: throw FirmchainError.keyUnsupported(path, "PBES2 encryption other than AES-CBC is not supported")
        }
        guard let iv = e.next(.octetString)?.primitiveContent, iv.count == 16, e.isAtEnd else { throw bad }
        if let keyLength, keyLength != aesKeyLength { throw bad }
        guard data.count >= 16, data.count % 16 == 0 else { throw bad }

        do {
            let key = try passphrase.withBytes { pw in
                try KDF.Insecure.PBKDF2.deriveKey(from: pw, salt: Array(salt), using: .sha256,
                                                  outputByteCount: aesKeyLength, unsafeUncheckedRounds: iterations)
            }
            let plain = try AES._CBC.decrypt(Array(data), using: key, iv: try AES._CBC.IV(ivBytes: iv))
            var bytes = [UInt8](plain)
            // A wrong passphrase almost always breaks the padding; when it does not, the
            // plaintext is not DER.
            guard let node = try? DER.parse(bytes), node.children() != nil else {
                for i in bytes.indices { bytes[i] = 0 }
                throw FirmchainError.passphraseIncorrect(path)
            }
            return bytes
        } catch let e as FirmchainError {
            throw e
        } catch {
            throw FirmchainError.passphraseIncorrect(path)
        }
    }

    /// Encrypts a `PrivateKeyInfo` with PBES2 (PBKDF2-HMAC-SHA-256, `writeIterations`,
    /// 16-byte random salt, AES-256-CBC) and returns the `EncryptedPrivateKeyInfo` DER.
    static func encrypt(_ privateKeyInfo: [UInt8], passphrase: Secret, iterations: Int = writeIterations) throws -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let iv = AES._CBC.IV()
        let key = try passphrase.withBytes { pw in
            try KDF.Insecure.PBKDF2.deriveKey(from: pw, salt: salt, using: .sha256, outputByteCount: 32,
                                              unsafeUncheckedRounds: iterations)
        }
        let ciphertext = try AES._CBC.encrypt(privateKeyInfo, using: key, iv: iv)
        return try DER.Serializer.bytes { s in
            try s.sequence { s in                                   // EncryptedPrivateKeyInfo
                try s.sequence { s in                               //   encryptionAlgorithm
                    try s.serialize(OID.pbes2)
                    try s.sequence { s in                           //   PBES2-params
                        try s.sequence { s in                       //     keyDerivationFunc
                            try s.serialize(OID.pbkdf2)
                            try s.sequence { s in                   //     PBKDF2-params
                                try s.serialize(ASN1OctetString(contentBytes: salt[...]))
                                try s.serialize(iterations)
                                try s.sequence { s in               //       prf
                                    try s.serialize(OID.hmacSHA256)
                                    try s.serialize(ASN1Null())
                                }
                            }
                        }
                        try s.sequence { s in                       //     encryptionScheme
                            try s.serialize(OID.aes256CBC)
                            try s.serialize(ASN1OctetString(contentBytes: Array(iv)[...]))
                        }
                    }
                }
                try s.serialize(ASN1OctetString(contentBytes: Array(ciphertext)[...]))  // encryptedData
            }
        }
    }
}
