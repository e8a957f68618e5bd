import Crypto
import FirmchainCore
import Signing

/// A pre-shared key-encryption key (a fleet group's key): 16 bytes for A128KW or 32 for A256KW,
/// held in zeroed memory, with the key id recipients carry for it.
public final class KeyEncryptionKey: Sendable {
    let secret: Secret
    /// The key id written in the recipient (label 4).
    public let keyID: [UInt8]
    /// The key wrap its length selects.
    public let algorithm: KeyWrapAlgorithm

    /// A key from raw bytes (16 or 32); `encryption.kek-malformed` otherwise.
    public init<C: Collection>(bytes: C, keyID: [UInt8]) throws where C.Element == UInt8 {
        switch bytes.count {
        case 32: algorithm = .a256kw
        case 16: algorithm = .a128kw
        default: throw FirmchainError(.encryptionKEKMalformed, "a key-encryption key has 16 or 32 bytes, not \(bytes.count)")
        }
        secret = Secret(bytes: bytes)
        self.keyID = keyID
    }

    /// Reads a key file: exactly 16 or 32 raw bytes, or 32 or 64 hex digits with an optional
    /// line ending. The key id defaults to the file's name without its extension
    /// (`Keys/fleet-a.kek` → `fleet-a`).
    public convenience init(file path: String, keyID: [UInt8]? = nil) throws {
        var raw = try FileIO.read(path, limit: 256)
        defer { for i in raw.indices { raw[i] = 0 } }
        var body = raw[...]
        while let last = body.last, last == 0x0A || last == 0x0D { body = body.dropLast() }
        var key: [UInt8]
        if (body.count == 64 || body.count == 32), let decoded = Self.hex(body) {
            key = decoded
        } else if raw.count == 16 || raw.count == 32 {
            key = raw
        } else {
            throw FirmchainError(.encryptionKEKMalformed, "a key-encryption key file holds 16 or 32 raw bytes or 32 or 64 hex digits", path: path)
        }
        defer { for i in key.indices { key[i] = 0 } }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let stem = base.firstIndex(of: ".").map { String(base[..<$0]) } ?? base
        do {
            try self.init(bytes: key, keyID: keyID ?? Array((stem.isEmpty ? base : stem).utf8))
        } catch let e as FirmchainError { throw e.about(path) }
    }

    private static func hex(_ s: ArraySlice<UInt8>) -> [UInt8]? {
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        var i = s.startIndex
        while i < s.endIndex {
            guard let h = v(s[i]), let l = v(s[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    func withSymmetricKey<R>(_ body: (SymmetricKey) throws -> R) rethrows -> R {
        try secret.withBytes { try body(SymmetricKey(data: $0)) }
    }
}

/// Someone a payload is encrypted for: a P-256 public key (a device or a hardware class; ECDH-ES
/// + AES key wrap) or a pre-shared key-encryption key (a fleet group; AES key wrap).
public struct EncryptionRecipient: Sendable {
    /// What receives the content key.
    public enum Kind: Sendable {
        /// A P-256 public key.
        case publicKey(PublicKey)
        /// A pre-shared key-encryption key.
        case keyEncryptionKey(KeyEncryptionKey)
    }

    /// The key.
    public let kind: Kind
    /// The key id written in the recipient.
    public let keyID: [UInt8]
    /// The recipient algorithm.
    public let algorithm: RecipientAlgorithm

    /// A P-256 public key recipient. The key id defaults to `defaultKeyID(for:)`.
    /// Throws `encryption.recipient-unsupported` for any other key type.
    public static func publicKey(_ key: PublicKey, keyID: [UInt8]? = nil, keyWrap: KeyWrapAlgorithm = .a256kw) throws -> EncryptionRecipient {
        guard key.keyType == .ecdsaP256 else {
            throw FirmchainError(.encryptionRecipientUnsupported, "COSE recipients are P-256 keys, not \(key.keyType.rawValue)")
        }
        return EncryptionRecipient(kind: .publicKey(key), keyID: keyID ?? defaultKeyID(for: key), algorithm: .ecdhES(keyWrap))
    }

    /// A pre-shared key-encryption key recipient (A256KW or A128KW by the key's length).
    public static func keyEncryptionKey(_ kek: KeyEncryptionKey) -> EncryptionRecipient {
        EncryptionRecipient(kind: .keyEncryptionKey(kek), keyID: kek.keyID, algorithm: .keyWrap(kek.algorithm))
    }

    /// The key id Firmchain gives a public key: the SHA-256 of its SubjectPublicKeyInfo DER
    /// (32 bytes), which a device can compute from the key it holds.
    public static func defaultKeyID(for key: PublicKey) -> [UInt8] {
        Array(SHA256.hash(data: key.spkiDER))
    }
}

/// A key that may open an encrypted payload: an ECDH key (software or in a token) or a
/// pre-shared key-encryption key.
public enum DecryptionKey: Sendable {
    /// A P-256 private key behind `KeyAgreement`.
    case agreement(any KeyAgreement)
    /// A pre-shared key-encryption key.
    case keyEncryptionKey(KeyEncryptionKey)

    /// For messages: the key file, URI or key id.
    public var description: String {
        switch self {
        case .agreement(let k): return k.keyDescription
        case .keyEncryptionKey(let k): return "key-encryption key \(String(decoding: k.keyID, as: UTF8.self))"
        }
    }
}

/// The COSE key wrapping: the SUIT COSE_KDF_Context, HKDF-SHA-256, AES key wrap.
enum KeyWrapping {
    /// The `other` field of SuppPubInfo the SUIT firmware-encryption profile fixes.
    static let suitOther = Array("SUIT Payload Encryption".utf8)

    /// `COSE_KDF_Context = [AlgorithmID, PartyUInfo [nil,nil,nil], PartyVInfo [nil,nil,nil],
    /// SuppPubInfo [keyDataLength bits, recipient protected bstr, other]]` (RFC 9053 §5.2;
    /// draft-ietf-suit-firmware-encryption "ECDH-ES+AES-KW"). AlgorithmID is the key wrap's.
    static func kdfContext(_ wrap: KeyWrapAlgorithm, recipientProtected: [UInt8]) -> [UInt8] {
        CBOR.array([
            .int(wrap.coseID), .array([.null, .null, .null]), .array([.null, .null, .null]),
            .array([.int(wrap.keyLength * 8), .bytes(recipientProtected), .bytes(suitOther)]),
        ]).encoded
    }

    /// KEK = HKDF-SHA-256(Z, no salt, info = context, L = key wrap length).
    static func deriveKEK(sharedSecret z: Secret, wrap: KeyWrapAlgorithm, recipientProtected: [UInt8]) -> SymmetricKey {
        z.withBytes { zb in
            HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: zb),
                                   info: kdfContext(wrap, recipientProtected: recipientProtected),
                                   outputByteCount: wrap.keyLength)
        }
    }

    /// Wraps `cek` for `recipient`.
    static func wrap(_ cek: SymmetricKey, for recipient: EncryptionRecipient) throws -> COSERecipient {
        switch recipient.kind {
        case .publicKey(let pk):
            guard case .ecdhES(let w) = recipient.algorithm else { throw FirmchainError(.internal, "recipient algorithm mismatch") }
            let peer = try P256.KeyAgreement.PublicKey(derRepresentation: pk.spkiDER)
            let ephemeral = P256.KeyAgreement.PrivateKey()
            let point = Array(ephemeral.publicKey.x963Representation)
            let shared = try ephemeral.sharedSecretFromKeyAgreement(with: peer)
            let z = shared.withUnsafeBytes { Secret(bytes: $0) }
            let draft = COSERecipient(algorithm: recipient.algorithm, keyID: recipient.keyID, ephemeralPoint: point, wrappedKey: [])
            let kek = deriveKEK(sharedSecret: z, wrap: w, recipientProtected: draft.protectedHeader)
            let wrapped = Array(try AES.KeyWrap.wrap(cek, using: kek))
            return COSERecipient(algorithm: recipient.algorithm, keyID: recipient.keyID, ephemeralPoint: point, wrappedKey: wrapped)
        case .keyEncryptionKey(let k):
            let wrapped = Array(try k.withSymmetricKey { try AES.KeyWrap.wrap(cek, using: $0) })
            return COSERecipient(algorithm: recipient.algorithm, keyID: recipient.keyID, ephemeralPoint: nil, wrappedKey: wrapped)
        }
    }

    /// Unwraps the content key of `structure` with `key`: recipients whose kid matches the key's
    /// are tried first, then every other recipient of the key's kind (a kid is only a hint; the
    /// key wrap's integrity check decides). Throws `encryption.no-matching-recipient`.
    static func unwrap(_ structure: COSEEncrypt, with key: DecryptionKey) throws -> (cek: SymmetricKey, recipient: COSERecipient) {
        let want = structure.contentAlgorithm.keyLength
        let candidates: [COSERecipient]
        let ownID: [UInt8]
        switch key {
        case .agreement(let k):
            ownID = EncryptionRecipient.defaultKeyID(for: k.publicKey)
            candidates = structure.recipients.filter { if case .ecdhES = $0.algorithm { return true }; return false }
        case .keyEncryptionKey(let k):
            ownID = k.keyID
            candidates = structure.recipients.filter { $0.algorithm == .keyWrap(k.algorithm) }
        }
        let ordered = candidates.filter { $0.keyID == ownID } + candidates.filter { $0.keyID != ownID }
        for r in ordered where r.wrappedKey.count == want + 8 {
            let cek: SymmetricKey?
            switch key {
            case .agreement(let k):
                guard let point = r.ephemeralPoint else { continue }
                let z: Secret
                do {
                    z = try k.sharedSecret(withPeerPoint: point)
                } catch let e as FirmchainError where e.code == .signingKeyUnsupported {
                    continue  // not a point on P-256: this recipient cannot be ours
                }
                let kek = deriveKEK(sharedSecret: z, wrap: r.algorithm.keyWrap, recipientProtected: r.protectedHeader)
                cek = try? AES.KeyWrap.unwrap(r.wrappedKey, using: kek)
            case .keyEncryptionKey(let k):
                cek = k.withSymmetricKey { try? AES.KeyWrap.unwrap(r.wrappedKey, using: $0) }
            }
            if let cek, cek.bitCount == want * 8 { return (cek, r) }
        }
        let kids = structure.recipients.map { $0.keyID.map { Hex.encode($0) } ?? "no kid" }.joined(separator: ", ")
        throw FirmchainError(.encryptionNoRecipient,
                             "\(key.description) unwraps none of the \(structure.recipients.count) recipient(s) (\(kids)): a wrong key, or a recipient that was changed")
    }
}
