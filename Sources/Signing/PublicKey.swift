import Crypto
import _CryptoExtras
import FirmchainCore
import SwiftASN1

/// The public half of a signing key, held as its SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
///
/// This is what TUF, in-toto and the verifier need from a key: the SPKI PEM that goes into
/// `keyval.public`, the securesystemslib `keytype`/`scheme`, and a check of a signature.
public struct PublicKey: Sendable, Hashable {
    /// The DER SubjectPublicKeyInfo.
    public let spkiDER: [UInt8]
    /// The key type.
    public let keyType: KeyType
    /// The RSA modulus length in bits; nil for other key types.
    public let rsaBits: Int?
    /// Ed25519 only: the 32-byte public key (RFC 8032 §5.1.5).
    public let ed25519Raw: [UInt8]?
    /// The swift-crypto key, parsed once (parsing per signature cost as much as the check).
    private let verifier: Verifier

    private enum Verifier: Sendable {
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
        case none
    }

    /// Keys are equal when their SPKI bytes are.
    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.spkiDER == b.spkiDER }
    /// Hashes the SPKI bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(spkiDER) }

    /// The SPKI as PEM (`-----BEGIN PUBLIC KEY-----`, 64-column base64, trailing newline) —
    /// the exact text TUF puts into `keyval.public` for ECDSA and RSA keys.
    public var pem: String { PEM.encode(spkiDER, label: "PUBLIC KEY") }

    /// The securesystemslib / TUF `keytype`: `ecdsa`, `rsa` or `ed25519`.
    public var tufKeyType: String { keyType.tufKeyType }
    /// The TUF scheme of the key's default algorithm (`ecdsa-sha2-nistp256`, …).
    public var tufScheme: String { keyType.defaultAlgorithm.tufScheme }
    /// The TUF `keyval.public` value: SPKI PEM for ECDSA and RSA, 64 hex digits for Ed25519
    /// (Docs/formats/interop.md "TUF 1.0").
    public var tufPublicValue: String {
        if let raw = ed25519Raw { return Hex.encode(raw) }
        return pem
    }

    /// Reads a DER SubjectPublicKeyInfo. Accepts P-256, P-384, RSA (any size; signing
    /// refuses below 3072) and Ed25519 keys; throws `signing.key-unsupported` otherwise.
    /// `spkiDER` is always re-encoded from the key, never the input's bytes.
    public init(spkiDER der: [UInt8]) throws {
        let notSPKI = FirmchainError.keyFileMalformed(nil, "not a DER SubjectPublicKeyInfo")
        guard var r = (try? DER.parse(der))?.children() else { throw notSPKI }
        guard let alg = r.next(.sequence), let bitsNode = r.next(.bitString), r.isAtEnd,
              let bits = try? ASN1BitString(derEncoded: bitsNode), bits.paddingBits == 0,
              var a = alg.children()
        else { throw notSPKI }
        let key = Array(bits.bytes)
        guard let oid = a.next(.objectIdentifier) else { throw FirmchainError.keyFileMalformed(nil, "SPKI without algorithm") }
        switch OID.value(of: oid) {
        case OID.ecPublicKey:
            guard let curve = a.next(.objectIdentifier) else { throw FirmchainError.keyFileMalformed(nil, "EC key without named curve") }
            try self.init(ecParams: Array(curve.encodedBytes), point: key)
        case OID.rsaEncryption:
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 §A.1.1)
            guard var p = (try? DER.parse(key))?.children(), let n = p.next(.integer), let e = p.next(.integer), p.isAtEnd,
                  let nm = n.unsignedInteger, let em = e.unsignedInteger
            else { throw FirmchainError.keyFileMalformed(nil, "bad RSAPublicKey") }
            try self.init(rsaModulus: Array(nm), exponent: Array(em))
        case OID.ed25519:
            try self.init(ed25519: key)
        default:
            throw FirmchainError.keyUnsupported(nil, "unsupported public key algorithm (Firmchain signs with P-256, P-384, RSA 3072+ and Ed25519)")
        }
    }

    /// Reads a PEM `PUBLIC KEY` (SPKI).
    public init(pem text: String) throws {
        guard let block = PEM.firstBlock(in: text), block.label == "PUBLIC KEY" else {
            throw FirmchainError.keyFileMalformed(nil, "not a PEM PUBLIC KEY")
        }
        try self.init(spkiDER: block.der)
    }

    /// An EC key from DER named-curve parameters (as in CKA_EC_PARAMS) and the uncompressed
    /// point (SEC 1 §2.3.3), or an Ed25519 key when the parameters name Ed25519.
    init(ecParams: [UInt8], point: [UInt8]) throws {
        let unsupported = FirmchainError.keyUnsupported(nil, "unsupported elliptic curve (Firmchain signs with P-256, P-384 and Ed25519)")
        guard let params = try? DER.parse(ecParams) else { throw unsupported }
        if params.identifier == .printableString {
            guard params.primitiveContent?.elementsEqual("edwards25519".utf8) == true else { throw unsupported }
            try self.init(ed25519: point)
            return
        }
        guard params.identifier == .objectIdentifier, let curve = OID.value(of: params) else { throw unsupported }
        try self.init(namedCurve: curve, point: point)
    }

    /// An EC key on `curve` (P-256 or P-384) from its point, or an Ed25519 key when `curve` is
    /// id-Ed25519 and `point` its 32 bytes.
    init(namedCurve curve: ASN1ObjectIdentifier, point: [UInt8]) throws {
        let type: KeyType
        switch curve {
        case OID.p256: type = .ecdsaP256
        case OID.p384: type = .ecdsaP384
        case OID.ed25519:
            try self.init(ed25519: point)
            return
        default: throw FirmchainError.keyUnsupported(nil, "unsupported elliptic curve (Firmchain signs with P-256, P-384 and Ed25519)")
        }
        // swift-crypto validates the point (rejects points not on the curve).
        let spki = try SPKI.encode(algorithm: OID.ecPublicKey, parameters: { try $0.serialize(curve) }, key: point)
        try self.init(spki: spki, keyType: type, rsaBits: nil, ed25519Raw: nil)
    }

    private init(spki: [UInt8], keyType: KeyType, rsaBits: Int?, ed25519Raw: [UInt8]?) throws {
        self.spkiDER = spki
        self.keyType = keyType
        self.rsaBits = rsaBits
        self.ed25519Raw = ed25519Raw
        do {
            switch keyType {
            case .ecdsaP256: verifier = .p256(try P256.Signing.PublicKey(derRepresentation: spki))
            case .ecdsaP384: verifier = .p384(try P384.Signing.PublicKey(derRepresentation: spki))
            case .ed25519: verifier = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: ed25519Raw ?? []))
            case .rsa:
                // swift-crypto refuses RSA keys below 2048 bits; such keys are still described
                // (and refused for signing elsewhere), they just never verify.
                if let k = try? _RSA.Signing.PublicKey(derRepresentation: spki) { verifier = .rsa(k) } else { verifier = .none }
            }
        } catch {
            throw FirmchainError.keyFileMalformed(nil, "the public key is not a valid \(keyType.rawValue) key")
        }
    }

    /// An RSA key from its modulus and public exponent (big-endian magnitudes).
    init(rsaModulus n: [UInt8], exponent e: [UInt8]) throws {
        let n = Array(n.drop { $0 == 0 })
        guard !n.isEmpty, !e.isEmpty else { throw FirmchainError.keyFileMalformed(nil, "empty RSA modulus or exponent") }
        let rsaKey = try DER.Serializer.bytes { s in
            try s.sequence { s in
                try s.unsignedInteger(n)
                try s.unsignedInteger(e)
            }
        }
        try self.init(spki: try SPKI.encode(algorithm: OID.rsaEncryption, parameters: { try $0.serialize(ASN1Null()) }, key: rsaKey),
                      keyType: .rsa, rsaBits: (n.count - 1) * 8 + (8 - n[0].leadingZeroBitCount), ed25519Raw: nil)
    }

    /// An Ed25519 key from its 32 raw bytes.
    public init(ed25519 raw: [UInt8]) throws {
        guard raw.count == 32 else { throw FirmchainError.keyFileMalformed(nil, "an Ed25519 public key has 32 bytes, not \(raw.count)") }
        try self.init(spki: try SPKI.encode(algorithm: OID.ed25519, key: raw), keyType: .ed25519, rsaBits: nil, ed25519Raw: raw)
    }

    /// Whether `signature` is a valid signature of `message` by this key under `algorithm`.
    /// `encoding` says how an ECDSA signature is written (DER by default, or raw r‖s);
    /// other algorithms ignore it. Never throws: anything unparsable is simply not valid.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8], algorithm: SignatureAlgorithm,
                                 encoding: SignatureEncoding = .der) -> Bool {
        guard keyType.supportedAlgorithms.contains(algorithm) else { return false }
        switch verifier {
        case .p256(let key):
            let sig = encoding == .raw
                ? try? P256.Signing.ECDSASignature(rawRepresentation: signature)
                : try? P256.Signing.ECDSASignature(derRepresentation: signature)
            return sig.map { key.isValidSignature($0, for: message) } ?? false
        case .p384(let key):
            let sig = encoding == .raw
                ? try? P384.Signing.ECDSASignature(rawRepresentation: signature)
                : try? P384.Signing.ECDSASignature(derRepresentation: signature)
            return sig.map { key.isValidSignature($0, for: message) } ?? false
        case .rsa(let key):
            let padding: _RSA.Signing.Padding = algorithm == .rsaPKCS1v15SHA256 ? .insecurePKCS1v1_5 : .PSS
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: message, padding: padding)
        case .ed25519(let key):
            return key.isValidSignature(signature, for: message)
        case .none:
            return false
        }
    }
}
