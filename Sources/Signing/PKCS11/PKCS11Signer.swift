import FirmchainCore
import Crypto
import Foundation
import SwiftASN1

/// A `Signer` over a private key inside a PKCS#11 token, named by an RFC 7512 URI.
///
/// ECDSA hashes on the host and signs with `CKM_ECDSA`, turning r‖s into DER; RSA uses
/// `CKM_SHA256_RSA_PKCS_PSS` {SHA-256, MGF1-SHA-256, salt 32}; Ed25519 uses `CKM_EDDSA`.
/// Each signature is verified with the public key (read from the token) before it is
/// returned. Safe to call from many threads: each call borrows its own session.
public final class PKCS11Signer: Signer, @unchecked Sendable {
    /// The public key (from the token / derived from the private key).
    public let publicKey: PublicKey
    /// The key URI (without PIN) or file path, for messages.
    public let keyDescription: String
    /// The one algorithm the key type allows (Docs/architecture.md "Signer protocol").
    public var supportedAlgorithms: [SignatureAlgorithm] { publicKey.keyType.supportedAlgorithms }
    /// The token the key lives in.
    public var token: PKCS11TokenInfo { pool.token }

    private let pool: PKCS11SessionPool
    private let keyHandle: UInt

    /// Opens the private key `uri` names: loads the module (once per process), finds the
    /// token, logs in once with the PIN (URI `pin-source`, or `options.pin`), finds exactly
    /// one private key and reads its public key from the token.
    ///
    /// Errors: `signing.module-not-found`, `signing.token-not-found`, `signing.pin-missing`,
    /// `signing.pin-incorrect`, `signing.pin-locked`, `signing.key-not-found`,
    /// `signing.key-ambiguous`, `signing.key-unsupported`, `signing.pin-value-refused`.
    public convenience init(uri text: String, options: SignerOptions) throws {
        try self.init(uri: try PKCS11URI(parsing: text), options: options)
    }

    /// Opens the private key a parsed URI names (see `init(uri:options:)`).
    public init(uri: PKCS11URI, options: SignerOptions) throws {
        let opened = try PKCS11PrivateKey.open(uri, options: options, purpose: "sign")
        pool = opened.pool
        keyHandle = opened.handle
        publicKey = opened.publicKey
        let description = opened.description
        if publicKey.keyType == .rsa, let bits = publicKey.rsaBits, bits < 3072 {
            throw FirmchainError.keyUnsupported(description, "RSA keys must have at least 3072 bits for signing; this one has \(bits)")
        }
        keyDescription = description
    }

    /// Signs `message` on the token under `algorithm` (ECDSA signatures converted to DER), then
    /// verifies the signature with the public key before returning it.
    public func sign(_ message: [UInt8], algorithm: SignatureAlgorithm) throws -> [UInt8] {
        try requireSupported(algorithm)
        let mechanism: PKCS11Mechanism
        let input: [UInt8]
        switch algorithm {
        case .ecdsaP256SHA256: mechanism = .ecdsa; input = Array(SHA256.hash(data: message))
        case .ecdsaP384SHA384: mechanism = .ecdsa; input = Array(SHA384.hash(data: message))
        case .rsaPSSSHA256: mechanism = .sha256RSAPSS; input = message
        case .rsaPKCS1v15SHA256: mechanism = .sha256RSAPKCS; input = message
        case .ed25519: mechanism = .eddsa; input = message
        }
        var signature: [UInt8]
        do {
            signature = try pool.withSession { s in try pool.functions.sign(s, mechanism: mechanism, key: keyHandle, data: input) }
        } catch let e as PKCS11CallError {
            switch e.rv {
            case PKCS11ReturnValue.mechanismInvalid, PKCS11ReturnValue.mechanismParamInvalid,
                 PKCS11ReturnValue.keyTypeInconsistent, PKCS11ReturnValue.keyFunctionNotPermitted:
                throw FirmchainError.mechanismRefused(keyDescription, mechanism: mechanism.name, rv: e.rv)
            default:
                throw FirmchainError.tokenFailed(keyDescription, function: e.function, rv: e.rv)
            }
        }
        if let n = publicKey.keyType.ecdsaScalarLength {
            guard let der = ECDSASignatureCoding.der(fromRaw: signature, scalarLength: n) else {
                throw FirmchainError.signatureInvalid(keyDescription)
            }
            signature = der
        }
        // Docs/architecture.md "Rules that hold everywhere": every token signature is verified before it is used.
        guard publicKey.isValidSignature(signature, for: message, algorithm: algorithm) else {
            throw FirmchainError.signatureInvalid(keyDescription)
        }
        return signature
    }
}

/// Finding key objects and reading their public halves (PKCS#11 v2.40 §4.8–4.9).
enum PKCS11Keys {
    /// Private (or, with `class: CK.classPublicKey`, public) key objects matching the URI's
    /// `object` (CKA_LABEL) and `id` (CKA_ID).
    static func find(_ uri: PKCS11URI, session: UInt, functions: PKCS11Functions, class cls: UInt = CK.classPrivateKey) throws -> [UInt] {
        var template = [PKCS11Attribute(CK.oClass, ulong: cls)]
        if let label = uri.object { template.append(PKCS11Attribute(CK.aLabel, string: label)) }
        if let id = uri.id { template.append(PKCS11Attribute(CK.aID, bytes: id)) }
        do {
            return try functions.findObjects(session, matching: template)
        } catch let e as PKCS11CallError {
            throw FirmchainError.tokenFailed(uri.description, function: e.function, rv: e.rv)
        }
    }

    /// The public key belonging to a private key object: from the public key object with the
    /// same CKA_ID (and label), or from the private object's own public attributes (RSA
    /// modulus and exponent). Builds SPKI from CKA_EC_PARAMS + the unwrapped CKA_EC_POINT.
    static func publicKey(ofPrivate key: UInt, session: UInt, functions: PKCS11Functions, uri: String) throws -> PublicKey {
        do {
            let keyType = PKCS11Attribute.ulong(try functions.attribute(session, object: key, type: CK.aKeyType))
            let id = try functions.attribute(session, object: key, type: CK.aID) ?? []
            let label = try functions.attribute(session, object: key, type: CK.aLabel) ?? []
            var pubTemplate = [PKCS11Attribute(CK.oClass, ulong: CK.classPublicKey)]
            if !id.isEmpty { pubTemplate.append(PKCS11Attribute(CK.aID, bytes: id)) }
            if !label.isEmpty { pubTemplate.append(PKCS11Attribute(CK.aLabel, bytes: label)) }
            let publicObjects = (id.isEmpty && label.isEmpty) ? [] : try functions.findObjects(session, matching: pubTemplate)
            switch keyType {
            case CK.keyRSA:
                for obj in publicObjects + [key] {
                    if let n = try functions.attribute(session, object: obj, type: CK.aModulus),
                       let e = try functions.attribute(session, object: obj, type: CK.aPublicExponent), !n.isEmpty, !e.isEmpty {
                        return try PublicKey(rsaModulus: n, exponent: e)
                    }
                }
                throw FirmchainError.keyNotFound(uri, "the token shows neither the RSA modulus nor a public key object for this key")
            case CK.keyEC, CK.keyECEdwards:
                for obj in publicObjects {
                    guard let params = try functions.attribute(session, object: obj, type: CK.aECParams),
                          let point = try functions.attribute(session, object: obj, type: CK.aECPoint) else { continue }
                    return try publicKey(ecParams: params, ecPoint: point)
                }
                throw FirmchainError.keyNotFound(uri, "no public key object with the private key's CKA_ID/CKA_LABEL; the EC public key cannot be read")
            default:
                throw FirmchainError.keyUnsupported(uri, "the key type \(keyType.map { "0x" + String($0, radix: 16) } ?? "?") cannot sign (Firmchain uses RSA, EC and EC Edwards keys)")
            }
        } catch let e as PKCS11CallError {
            throw FirmchainError.tokenFailed(uri, function: e.function, rv: e.rv)
        } catch let e as FirmchainError where e.path == nil {
            throw e.about(uri)
        }
    }

    /// A public key from CKA_EC_PARAMS and CKA_EC_POINT. The point comes wrapped in a DER
    /// OCTET STRING (PKCS#11 v2.40 §2.3.3; SoftHSM does this for Ed25519 too); a bare point is
    /// accepted from modules that skip the wrapping.
    static func publicKey(ecParams: [UInt8], ecPoint: [UInt8]) throws -> PublicKey {
        if let wrapped = try? ASN1OctetString(derEncoded: ecPoint),
           let key = try? PublicKey(ecParams: ecParams, point: Array(wrapped.bytes)) {
            return key
        }
        return try PublicKey(ecParams: ecParams, point: ecPoint)
    }
}

/// One private key opened in its token: the session pool (logged in), the key's handle and its
/// public key. What `PKCS11Signer` and `PKCS11KeyAgreement` share.
struct PKCS11PrivateKey {
    let pool: PKCS11SessionPool
    let handle: UInt
    let publicKey: PublicKey
    /// The key URI without PIN.
    let description: String

    /// Resolves the token `uri` names, logs in once (URI `pin-source`, or `options.pin`) and finds
    /// exactly one private key; `purpose` ("sign", "agree keys") names what a URI of another
    /// object type could not do.
    static func open(_ uri: PKCS11URI, options: SignerOptions, purpose: String) throws -> PKCS11PrivateKey {
        var uri = uri
        if let t = uri.type, t != .privateKey {
            throw FirmchainError.keyNotFound(uri.description, "type=\(t.rawValue) names an object that cannot \(purpose); use type=private or leave type out")
        }
        uri.type = .privateKey
        let resolved = try PKCS11TokenResolver.resolve(uri, options: options)
        let description = uri.description
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: false, uri: description)
        let pin = try PKCS11TokenResolver.pin(for: uri, token: resolved.info, options: options)
        try pool.login(pin: pin, uri: description)
        let found = try pool.withSession { s in try PKCS11Keys.find(uri, session: s, functions: resolved.functions) }
        guard let key = found.first else { throw FirmchainError.keyNotFound(description) }
        guard found.count == 1 else { throw FirmchainError.keyAmbiguous(description, count: found.count) }
        let publicKey = try pool.withSession { s in
            try PKCS11Keys.publicKey(ofPrivate: key, session: s, functions: resolved.functions, uri: description)
        }
        return PKCS11PrivateKey(pool: pool, handle: key, publicKey: publicKey, description: description)
    }
}
