import FirmchainCore
import Signing

/// One signature over the canonical `signed` part (TUF spec §4.2): keyid and hex signature.
public struct TUFSignature: Sendable, Hashable {
    /// The `keyid` of the key that made the signature (TUF spec §4.2).
    public let keyid: String
    /// The signature as lower-case hex (DER for ECDSA, 64 bytes for Ed25519, PSS for RSA).
    public let sig: String

    /// Creates a signature entry from a keyid and a hex signature.
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
