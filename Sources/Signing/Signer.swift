import FirmchainCore
/// A signature algorithm Firmchain produces: the key type, the hash and the padding together.
/// Each matches one TUF / securesystemslib scheme (see `tufScheme`).
public enum SignatureAlgorithm: String, Sendable, CaseIterable, Hashable {
    /// ECDSA on P-256 over SHA-256 (FIPS 186-4); TUF `ecdsa-sha2-nistp256`.
    case ecdsaP256SHA256 = "ecdsa-p256-sha256"
    /// ECDSA on P-384 over SHA-384; TUF `ecdsa-sha2-nistp384`.
    case ecdsaP384SHA384 = "ecdsa-p384-sha384"
    /// RSASSA-PSS (RFC 8017 §8.1) with SHA-256, MGF1-SHA-256 and a 32-byte salt; TUF `rsassa-pss-sha256`.
    case rsaPSSSHA256 = "rsa-pss-sha256"
    /// Ed25519 (RFC 8032 §5.1) over the whole message; TUF `ed25519`.
    case ed25519 = "ed25519"
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) with SHA-256; securesystemslib `rsa-pkcs1v15-sha256`.
    /// Deterministic, and what Mender artifacts and most CMS verifiers expect of RSA keys.
    case rsaPKCS1v15SHA256 = "rsa-pkcs1v15-sha256"

    /// The securesystemslib / TUF signature scheme name.
    public var tufScheme: String {
        switch self {
        case .ecdsaP256SHA256: return "ecdsa-sha2-nistp256"
        case .ecdsaP384SHA384: return "ecdsa-sha2-nistp384"
        case .rsaPSSSHA256: return "rsassa-pss-sha256"
        case .ed25519: return "ed25519"
        case .rsaPKCS1v15SHA256: return "rsa-pkcs1v15-sha256"
        }
    }
}

/// The kind of key behind a signer.
public enum KeyType: String, Sendable, CaseIterable, Hashable {
    /// An EC key on NIST P-256 (secp256r1).
    case ecdsaP256 = "ecdsa-p256"
    /// An EC key on NIST P-384 (secp384r1).
    case ecdsaP384 = "ecdsa-p384"
    /// An RSA key (Firmchain signs only with 3072 bits or more).
    case rsa = "rsa"
    /// An Ed25519 key.
    case ed25519 = "ed25519"

    /// The algorithms a key of this type can sign with.
    public var supportedAlgorithms: [SignatureAlgorithm] {
        switch self {
        case .ecdsaP256: return [.ecdsaP256SHA256]
        case .ecdsaP384: return [.ecdsaP384SHA384]
        case .rsa: return [.rsaPSSSHA256, .rsaPKCS1v15SHA256]
        case .ed25519: return [.ed25519]
        }
    }

    /// The algorithm used when the caller names none.
    public var defaultAlgorithm: SignatureAlgorithm { supportedAlgorithms[0] }

    /// The securesystemslib / TUF `keytype` (`ecdsa`, `rsa`, `ed25519`).
    public var tufKeyType: String {
        switch self {
        case .ecdsaP256, .ecdsaP384: return "ecdsa"
        case .rsa: return "rsa"
        case .ed25519: return "ed25519"
        }
    }

    /// For ECDSA keys, the byte length of one of r and s; nil otherwise.
    var ecdsaScalarLength: Int? {
        switch self {
        case .ecdsaP256: return 32
        case .ecdsaP384: return 48
        default: return nil
        }
    }
}

/// How an ECDSA signature is written. Other algorithms have one encoding and ignore this.
public enum SignatureEncoding: String, Sendable, CaseIterable {
    /// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 §2.2.3) — what TUF,
    /// openssl and X.509 expect. The default.
    case der
    /// The fixed-length concatenation r‖s (IEEE P1363; what COSE and JOSE use).
    case raw
}

/// Something that signs bytes with one key (Docs/architecture.md "Signer protocol"): a software key or a key inside a
/// PKCS#11 token. It returns bare signature bytes; TUF, DSSE, COSE and CMS envelopes are
/// built by their own modules around it.
///
/// Every implementation verifies each signature with `publicKey` before returning it
/// (Docs/architecture.md "Rules that hold everywhere"), so a faulty token cannot hand out a bad signature. Implementations are
/// safe to call from several threads at once.
public protocol Signer: Sendable {
    /// The public half of the key, as SPKI.
    var publicKey: PublicKey { get }
    /// The algorithms this key can sign with; the first is the default.
    var supportedAlgorithms: [SignatureAlgorithm] { get }
    /// A description of the key for messages and logs: a file path or a `pkcs11:` URI
    /// without any PIN.
    var keyDescription: String { get }
    /// Signs `message` (the whole message; hashing is part of the algorithm) and returns the
    /// signature: DER for ECDSA, the modulus-length block for RSA-PSS, 64 bytes for Ed25519.
    /// Throws `signing.algorithm-unsupported` when the key cannot do `algorithm`.
    func sign(_ message: [UInt8], algorithm: SignatureAlgorithm) throws -> [UInt8]
}

extension Signer {
    /// Signs with the key's default algorithm.
    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        try sign(message, algorithm: supportedAlgorithms[0])
    }

    /// Signs and writes ECDSA signatures in `encoding` (DER or raw r‖s); other algorithms are
    /// unaffected by `encoding`.
    public func sign(_ message: [UInt8], algorithm: SignatureAlgorithm, encoding: SignatureEncoding) throws -> [UInt8] {
        let der = try sign(message, algorithm: algorithm)
        guard encoding == .raw, let n = publicKey.keyType.ecdsaScalarLength else { return der }
        guard let raw = ECDSASignatureCoding.raw(fromDER: der, scalarLength: n) else {
            throw FirmchainError.signatureInvalid(keyDescription)
        }
        return raw
    }

    /// Throws `signing.algorithm-unsupported` unless this key can sign with `algorithm`.
    func requireSupported(_ algorithm: SignatureAlgorithm) throws {
        guard supportedAlgorithms.contains(algorithm) else {
            throw FirmchainError.algorithmUnsupported(keyDescription, keyType: publicKey.keyType, algorithm: algorithm)
        }
    }
}
