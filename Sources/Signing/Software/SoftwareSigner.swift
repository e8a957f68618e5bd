import Crypto
import _CryptoExtras
import FirmchainCore
import Foundation
import SwiftASN1

/// A `Signer` over a private key held in process memory, read from a PEM file: PKCS#8
/// (`PRIVATE KEY`), PBES2-encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`), SEC 1
/// (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`). Signing is done by swift-crypto.
///
/// Use for development and CI keys; production root and targets keys belong in a token
/// (`PKCS11Signer`).
public final class SoftwareSigner: Signer, @unchecked Sendable {
    // Immutable after init; swift-crypto keys are safe to use from several threads.
    let key: PKCS8.Key
    /// The public key (from the token / derived from the private key).
    public let publicKey: PublicKey
    /// The key URI (without PIN) or file path, for messages.
    public let keyDescription: String
    /// The one algorithm the key type allows (Docs/architecture.md "Signer protocol").
    public var supportedAlgorithms: [SignatureAlgorithm] { publicKey.keyType.supportedAlgorithms }

    /// Reads a PEM private key file. `passphrase` is called only when the key is encrypted
    /// and may return nil when none is available (→ `signing.passphrase-missing`).
    ///
    /// Errors: `signing.key-file-not-found`, `signing.key-file-malformed`,
    /// `signing.key-unsupported`, `signing.passphrase-missing`, `signing.passphrase-incorrect`.
    public convenience init(pemFile path: String, passphrase: () throws -> Secret?) throws {
        var bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: 1 << 20)
        } catch let e as FirmchainError where e.category == .inputNotFound {
            throw FirmchainError.keyFileNotFound(path)
        }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        try self.init(pem: String(decoding: bytes, as: UTF8.self), description: path, passphrase: passphrase)
    }

    /// Reads a PEM private key from text; `description` names it in errors.
    public init(pem text: String, description: String, passphrase: () throws -> Secret?) throws {
        guard let block = PEM.firstBlock(in: text) else {
            throw FirmchainError.keyFileMalformed(description, "no PEM private key in the file")
        }
        var der = block.der
        defer { for i in der.indices { der[i] = 0 } }
        switch block.label {
        case "PRIVATE KEY":
            key = try PKCS8.parse(der, path: description)
        case "ENCRYPTED PRIVATE KEY":
            guard let secret = try passphrase() else { throw FirmchainError.passphraseMissing(description) }
            var plain = try PKCS8.decrypt(der, passphrase: secret, path: description)
            defer { for i in plain.indices { plain[i] = 0 } }
            do {
                key = try PKCS8.parse(plain, path: description)
            } catch let e as FirmchainError where e.code == .signingKeyFileMalformed {
                throw FirmchainError.passphraseIncorrect(description)
            }
        case "EC PRIVATE KEY", "RSA PRIVATE KEY":
            if block.hasHeaders {
                throw FirmchainError.keyUnsupported(description, "legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; convert with openssl pkcs8 -topk8 -v2 aes-256-cbc")
            }
            key = try Self.parseLegacy(label: block.label, der: der, description: description)
        default:
            throw FirmchainError.keyFileMalformed(description, "a PEM \(block.label) is not a private key")
        }
        self.keyDescription = description
        self.publicKey = try Self.publicKey(of: key)
    }

    /// Generates a new key of `type` (RSA: 3072 bits).
    public init(generating type: KeyType, description: String = "generated key") throws {
        switch type {
        case .ecdsaP256: key = .p256(P256.Signing.PrivateKey())
        case .ecdsaP384: key = .p384(P384.Signing.PrivateKey())
        case .rsa: key = .rsa(try _RSA.Signing.PrivateKey(keySize: .bits3072))
        case .ed25519: key = .ed25519(Curve25519.Signing.PrivateKey())
        }
        keyDescription = description
        publicKey = try Self.publicKey(of: key)
    }

    /// The private key as PEM PKCS#8: `ENCRYPTED PRIVATE KEY` (PBES2, PBKDF2-HMAC-SHA-256,
    /// AES-256-CBC) when `passphrase` is given, `PRIVATE KEY` otherwise. Write it with mode 0600.
    public func privateKeyPEM(encryptedWith passphrase: Secret?) throws -> String {
        var der: [UInt8]
        switch key {
        case .p256(let k): der = Array(k.derRepresentation)
        case .p384(let k): der = Array(k.derRepresentation)
        case .rsa(let k): der = Array(k.pkcs8DERRepresentation)
        case .ed25519(let k):
            // OneAsymmetricKey v0 with CurvePrivateKey (RFC 8410 §7).
            var curvePrivateKey = try DER.Serializer.bytes { try $0.serialize(ASN1OctetString(contentBytes: Array(k.rawRepresentation)[...])) }
            defer { for i in curvePrivateKey.indices { curvePrivateKey[i] = 0 } }
            der = try DER.Serializer.bytes { s in
                try s.sequence { s in
                    try s.serialize(0 as Int)                  // version v1 (0)
                    try s.sequence { try $0.serialize(OID.ed25519) }
                    try s.serialize(ASN1OctetString(contentBytes: curvePrivateKey[...]))
                }
            }
        }
        defer { for i in der.indices { der[i] = 0 } }
        guard let passphrase else { return PEM.encode(der, label: "PRIVATE KEY") }
        return PEM.encode(try PKCS8.encrypt(der, passphrase: passphrase), label: "ENCRYPTED PRIVATE KEY")
    }

    /// Signs `message` with the in-memory private key under `algorithm`, then verifies the
    /// signature with the public key before returning it.
    public func sign(_ message: [UInt8], algorithm: SignatureAlgorithm) throws -> [UInt8] {
        try requireSupported(algorithm)
        let signature: [UInt8]
        do {
            switch key {
            case .p256(let k): signature = Array(try k.signature(for: message).derRepresentation)
            case .p384(let k): signature = Array(try k.signature(for: message).derRepresentation)
            case .rsa(let k):
                let padding: _RSA.Signing.Padding = algorithm == .rsaPKCS1v15SHA256 ? .insecurePKCS1v1_5 : .PSS
                signature = Array(try k.signature(for: message, padding: padding).rawRepresentation)
            case .ed25519(let k): signature = Array(try k.signature(for: message))
            }
        } catch {
            throw FirmchainError(.signingSoftwareFailed, "signing failed: \(error)", path: keyDescription)
        }
        // Docs/architecture.md "Rules that hold everywhere": every signature is verified before it is used.
        guard publicKey.isValidSignature(signature, for: message, algorithm: algorithm) else {
            throw FirmchainError.signatureInvalid(keyDescription)
        }
        return signature
    }

    private static func parseLegacy(label: String, der: [UInt8], description: String) throws -> PKCS8.Key {
        if label == "RSA PRIVATE KEY" {
            guard let k = try? _RSA.Signing.PrivateKey(derRepresentation: der) else {
                throw FirmchainError.keyFileMalformed(description, "the RSA private key does not parse")
            }
            guard k.keySizeInBits >= 3072 else {
                throw FirmchainError.keyUnsupported(description, "RSA keys must have at least 3072 bits for signing; this one has \(k.keySizeInBits)")
            }
            return .rsa(k)
        }
        if let k = try? P256.Signing.PrivateKey(derRepresentation: der) { return .p256(k) }
        if let k = try? P384.Signing.PrivateKey(derRepresentation: der) { return .p384(k) }
        throw FirmchainError.keyUnsupported(description, "the EC private key is not on P-256 or P-384")
    }

    private static func publicKey(of key: PKCS8.Key) throws -> PublicKey {
        switch key {
        case .p256(let k): return try PublicKey(spkiDER: Array(k.publicKey.derRepresentation))
        case .p384(let k): return try PublicKey(spkiDER: Array(k.publicKey.derRepresentation))
        case .rsa(let k): return try PublicKey(spkiDER: Array(k.publicKey.derRepresentation))
        case .ed25519(let k): return try PublicKey(ed25519: Array(k.publicKey.rawRepresentation))
        }
    }
}
