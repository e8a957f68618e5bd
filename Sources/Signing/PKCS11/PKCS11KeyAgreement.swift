import FirmchainCore

/// A `KeyAgreement` over a P-256 private key inside a PKCS#11 token, named by an RFC 7512 URI:
/// ECDH runs in the token with `CKM_ECDH1_DERIVE` (PKCS#11 v2.40 §2.3.14, `CKD_NULL`), so the
/// private key never leaves it. The derived secret is a session object, read and destroyed at once.
/// The key needs `CKA_DERIVE` (`pkcs11-tool --keypairgen … --usage-derive`).
/// Safe to call from many threads: each call borrows its own session.
public final class PKCS11KeyAgreement: KeyAgreement, @unchecked Sendable {
    /// The public key (read from the token).
    public let publicKey: PublicKey
    /// The key URI without PIN.
    public let keyDescription: String
    private let pool: PKCS11SessionPool
    private let keyHandle: UInt

    /// Opens the private key `uri` names: the token, the PIN, exactly one private key; it must
    /// be P-256 (`signing.key-unsupported` otherwise). Errors as `PKCS11Signer.init(uri:options:)`.
    public convenience init(uri text: String, options: SignerOptions) throws {
        try self.init(uri: try PKCS11URI(parsing: text), options: options)
    }

    /// Opens the private key a parsed URI names.
    public init(uri: PKCS11URI, options: SignerOptions) throws {
        let opened = try PKCS11PrivateKey.open(uri, options: options, purpose: "agree keys")
        pool = opened.pool
        keyHandle = opened.handle
        publicKey = opened.publicKey
        let description = opened.description
        guard publicKey.keyType == .ecdsaP256 else {
            throw FirmchainError.keyUnsupported(description, "key agreement needs a P-256 key, not \(publicKey.keyType.rawValue)")
        }
        keyDescription = description
    }

    /// ECDH in the token with the peer point `04‖x‖y`; returns Z (32 bytes).
    public func sharedSecret(withPeerPoint point: [UInt8]) throws -> Secret {
        guard point.count == 65, point[0] == 0x04, (try? PublicKey(namedCurve: OID.p256, point: point)) != nil else {
            throw FirmchainError.keyUnsupported(keyDescription, "the peer's ephemeral key is not a P-256 point")
        }
        do {
            var z = try pool.withSession { s in try pool.functions.deriveECDH(s, key: keyHandle, peerPoint: point, length: 32) }
            defer { for i in z.indices { z[i] = 0 } }
            return Secret(bytes: z)
        } catch let e as PKCS11CallError {
            switch e.rv {
            case PKCS11ReturnValue.mechanismInvalid, PKCS11ReturnValue.mechanismParamInvalid,
                 PKCS11ReturnValue.keyTypeInconsistent, PKCS11ReturnValue.keyFunctionNotPermitted:
                throw FirmchainError.mechanismRefused(keyDescription, mechanism: "CKM_ECDH1_DERIVE", rv: e.rv)
            default:
                throw FirmchainError.tokenFailed(keyDescription, function: e.function, rv: e.rv)
            }
        }
    }
}
