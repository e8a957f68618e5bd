import FirmchainCore

/// A public key as TUF metadata lists it (TUF spec §4.2 "KEY"), with its keyid.
///
/// - ECDSA: keytype `ecdsa`, scheme `ecdsa-sha2-nistp256|384`, `keyval.public` = SPKI PEM.
/// - RSA: keytype `rsa`, scheme `rsassa-pss-sha256`, `keyval.public` = SPKI PEM.
/// - Ed25519: keytype `ed25519`, scheme `ed25519`, `keyval.public` = 32 raw bytes as hex.
///
/// The PEM text (64-column base64, trailing newline) is part of the keyid, so it is kept exactly.
public struct TUFKey: Sendable, Hashable {
    public let keytype: String
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

    /// Reads a key object.
    public init(json: JSONValue) throws {
        var f = try JSONFields(json, "key")
        keytype = try f.string("keytype")
        scheme = try f.string("scheme")
        var keyval = try JSONFields(.object(try f.object("keyval")), "key.keyval")
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

/// One signature over the canonical `signed` part (TUF spec §4.2): keyid and hex signature.
public struct TUFSignature: Sendable, Hashable {
    public let keyid: String
    /// The signature as lower-case hex (DER for ECDSA, 64 bytes for Ed25519, PSS for RSA).
    public let sig: String

    public init(keyid: String, sig: String) {
        self.keyid = keyid
        self.sig = sig
    }

    init(json: JSONValue) throws {
        var f = try JSONFields(json, "signature")
        keyid = try f.string("keyid")
        sig = try f.string("sig")
    }

    var json: JSONValue { ["keyid": .string(keyid), "sig": .string(sig)] }
}
