import FirmchainCore

/// A public key as securesystemslib writes it: the key object TUF metadata (TUF spec §4.2 "KEY")
/// and in-toto layouts list, with its keyid.
///
/// - ECDSA: keytype `ecdsa`, scheme `ecdsa-sha2-nistp256|384`, `keyval.public` = SPKI PEM.
/// - RSA: keytype `rsa`, scheme `rsassa-pss-sha256`, `keyval.public` = SPKI PEM.
/// - Ed25519: keytype `ed25519`, scheme `ed25519`, `keyval.public` = 32 raw bytes as hex.
///
/// The PEM text (64-column base64, trailing newline) is part of the keyid, so it is kept exactly.
public struct TUFKey: Sendable, Hashable {
    /// The `keytype` member, such as `ecdsa`, `rsa` or `ed25519`.
    public let keytype: String
    /// The `scheme` member: the signature scheme, such as `ecdsa-sha2-nistp256`,
    /// `rsassa-pss-sha256` or `ed25519`.
    public let scheme: String
    /// `keyval.public`: PEM text or hex, by keytype.
    public let publicValue: String
    /// Members of the key object Firmchain does not interpret, kept for re-encoding.
    public let unrecognized: [String: JSONValue]

    /// A key from its parts.
    public init(keytype: String, scheme: String, publicValue: String, unrecognized: [String: JSONValue] = [:]) {
        self.keytype = keytype
        self.scheme = scheme
        self.publicValue = publicValue
        self.unrecognized = unrecognized
    }

    /// Reads a key object; `error` makes the module's malformed-input error for a bad member.
    public init(json: JSONValue, error: @escaping (String) -> FirmchainError) throws {
        var f = try JSONFields(json, "key", error: error)
        keytype = try f.string("keytype")
        scheme = try f.string("scheme")
        var keyval = try JSONFields(.object(try f.object("keyval")), "key.keyval", error: error)
        publicValue = try keyval.string("public")
        var rest = f.rest
        if !keyval.rest.isEmpty { rest["keyval"] = .object(keyval.rest) }  // re-merged in `json`
        unrecognized = rest
    }

    /// The key object as metadata lists it.
    public var json: JSONValue {
        var keyval: [String: JSONValue] = ["public": .string(publicValue)]
        var rest = unrecognized
        if case .object(let extra)? = rest.removeValue(forKey: "keyval") { keyval = keyval.merging(unknown: extra) }
        return .object((["keytype": .string(keytype), "scheme": .string(scheme), "keyval": .object(keyval)] as [String: JSONValue])
            .merging(unknown: rest))
    }

    /// sha256 hex of the canonical `{keytype, scheme, keyval}` — the keyid python-tuf and
    /// securesystemslib compute (unknown members of the key are not part of it).
    public var keyid: String {
        let core: JSONValue = ["keytype": .string(keytype), "scheme": .string(scheme), "keyval": ["public": .string(publicValue)]]
        // Cannot throw: the value has no floats.
        return DigestCalculator.sha256Hex((try? JSONEncoding.canonical(core)) ?? [])
    }
}

extension TUFKey {
    /// The TUF key for a public key: securesystemslib's keytype, scheme and `keyval.public`.
    public init(_ publicKey: PublicKey) {
        self.init(keytype: publicKey.tufKeyType, scheme: publicKey.tufScheme, publicValue: publicKey.tufPublicValue)
    }

    /// The signature algorithm this key's scheme names, or nil for a scheme Firmchain does not
    /// verify (such a key never counts towards a threshold: fail closed).
    public var algorithm: SignatureAlgorithm? {
        SignatureAlgorithm.allCases.first { $0.tufScheme == scheme }
    }

    /// The public key, or nil when `keyval.public` cannot be read for this keytype.
    public func publicKey() -> PublicKey? {
        switch keytype {
        case "ed25519":
            guard let raw = Hex.decode(publicValue) else { return nil }
            return try? PublicKey(ed25519: raw)
        case "ecdsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsa":
            return try? PublicKey(pem: publicValue)
        default:
            return nil
        }
    }

    /// Whether `signatureHex` is this key's valid signature over `message` under its scheme.
    /// ECDSA must be DER, as python-tuf requires (Docs/formats/interop.md "TUF 1.0").
    public func isValidSignature(hex signatureHex: String, for message: [UInt8]) -> Bool {
        guard let sig = Hex.decode(signatureHex) else { return false }
        return isValidSignature(sig, for: message)
    }
}

extension PublicKey {
    /// The keyid TUF and in-toto give this key: sha256 of its canonical securesystemslib key
    /// object (`TUFKey(self).keyid`).
    public var keyid: String { TUFKey(self).keyid }
}
