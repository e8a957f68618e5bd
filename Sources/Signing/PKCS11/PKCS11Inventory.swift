import FirmchainCore
import Foundation

/// A key pair found in a token, as `keys list` shows it.
public struct PKCS11KeyListing: Sendable {
    /// A URI that names the private key (token, object, id, type=private; module-path when
    /// the listing URI had one).
    public let uri: PKCS11URI
    /// CKA_LABEL.
    public let label: String
    /// CKA_ID.
    public let id: [UInt8]
    /// The public key, when the token shows it.
    public let publicKey: PublicKey?
}

/// A key made by `PKCS11Inventory.generate`.
public struct PKCS11GeneratedKey: Sendable {
    /// A URI naming the new private key.
    public let uri: PKCS11URI
    /// Its public key, read back from the token.
    public let publicKey: PublicKey
}

/// Listing tokens and keys, generating key pairs inside a token.
public enum PKCS11Inventory {
    /// The tokens of the module the URI names (or the default module) that match its token
    /// attributes (`pkcs11:` alone lists every token). No login.
    public static func tokens(matching uri: PKCS11URI, options: SignerOptions) throws -> [PKCS11TokenInfo] {
        let functions = try PKCS11TokenResolver.module(for: uri, options: options)
        return try PKCS11TokenResolver.matchingTokens(uri, functions: functions)
    }

    /// The private keys in the token the URI names (after login, so private objects are
    /// visible), each with a URI that opens it and its public key.
    public static func keys(in uri: PKCS11URI, options: SignerOptions) throws -> [PKCS11KeyListing] {
        let resolved = try PKCS11TokenResolver.resolve(uri, options: options)
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: false, uri: uri.description)
        try pool.login(pin: try PKCS11TokenResolver.pin(for: uri, token: resolved.info, options: options), uri: uri.description)
        var filter = uri
        filter.type = nil
        return try pool.withSession { s in
            let f = resolved.functions
            var out = [PKCS11KeyListing]()
            for obj in try PKCS11Keys.find(filter, session: s, functions: f) {
                do {
                    let label = String(decoding: try f.attribute(s, object: obj, type: CK.aLabel) ?? [], as: UTF8.self)
                    let id = try f.attribute(s, object: obj, type: CK.aID) ?? []
                    let pk = try? PKCS11Keys.publicKey(ofPrivate: obj, session: s, functions: f, uri: uri.description)
                    out.append(PKCS11KeyListing(uri: keyURI(token: resolved.info, label: label, id: id, modulePath: uri.modulePath),
                                                label: label, id: id, publicKey: pk))
                } catch let e as PKCS11CallError {
                    throw FirmchainError.tokenFailed(uri.description, function: e.function, rv: e.rv)
                }
            }
            return out.sorted { $0.label < $1.label }
        }
    }

    /// The public key object the URI names, read without logging in; nil when there is
    /// none visible (then the caller logs in).
    static func publicKeyWithoutLogin(_ uri: PKCS11URI, options: SignerOptions) throws -> PublicKey? {
        guard uri.object != nil || uri.id != nil else { return nil }
        let resolved = try PKCS11TokenResolver.resolve(uri, options: options)
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: false, uri: uri.description)
        return try pool.withSession { s in
            let objects = try PKCS11Keys.find(uri, session: s, functions: resolved.functions, class: CK.classPublicKey)
            guard objects.count == 1 else {
                if objects.count > 1 { throw FirmchainError.keyAmbiguous(uri.description, count: objects.count) }
                return nil
            }
            let f = resolved.functions
            do {
                let type = PKCS11Attribute.ulong(try f.attribute(s, object: objects[0], type: CK.aKeyType))
                if type == CK.keyRSA {
                    guard let n = try f.attribute(s, object: objects[0], type: CK.aModulus),
                          let e = try f.attribute(s, object: objects[0], type: CK.aPublicExponent) else { return nil }
                    return try PublicKey(rsaModulus: n, exponent: e)
                }
                guard let params = try f.attribute(s, object: objects[0], type: CK.aECParams),
                      let point = try f.attribute(s, object: objects[0], type: CK.aECPoint) else { return nil }
                return try PKCS11Keys.publicKey(ecParams: params, ecPoint: point)
            } catch let e as PKCS11CallError {
                throw FirmchainError.tokenFailed(uri.description, function: e.function, rv: e.rv)
            }
        }
    }

    /// What a generated private key may do: one purpose per key.
    public enum Usage: String, Sendable, CaseIterable {
        /// Sign only (CKA_SIGN): TUF, in-toto, ledger and export signatures.
        case sign
        /// ECDH key agreement only (CKA_DERIVE, P-256): a device or hardware-class key that
        /// decrypts payloads (`firmchain decrypt --key pkcs11:…`).
        case keyAgreement = "key-agreement"
    }

    /// Generates a key pair of `type` (RSA: 3072 bits) inside the token the URI names. The
    /// private key is private, sensitive, non-extractable and does one thing: sign (`.sign`, no
    /// decrypt, unwrap or derive; the public key verifies only) or ECDH key agreement
    /// (`.keyAgreement`, P-256 only, no signing); CKA_ID is 16 random bytes. Refuses
    /// (`signing.key-exists`) when a private key with `label` exists.
    public static func generate(in uri: PKCS11URI, type: KeyType, label: String, usage: Usage = .sign, options: SignerOptions) throws -> PKCS11GeneratedKey {
        guard !label.isEmpty else { throw FirmchainError.keyUnsupported(uri.description, "the key label must not be empty") }
        guard usage == .sign || type == .ecdsaP256 else {
            throw FirmchainError.keyUnsupported(uri.description, "a key-agreement key is P-256 (ecdsa-p256), not \(type.rawValue)")
        }
        let resolved = try PKCS11TokenResolver.resolve(uri, options: options)
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: true, uri: uri.description)
        try pool.login(pin: try PKCS11TokenResolver.pin(for: uri, token: resolved.info, options: options), uri: uri.description)
        var rng = SystemRandomNumberGenerator()
        let id = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let f = resolved.functions
        let keyURI = keyURI(token: resolved.info, label: label, id: id, modulePath: uri.modulePath)
        return try pool.withSession { s in
            var byLabel = PKCS11URI()
            byLabel.object = label
            if try !PKCS11Keys.find(byLabel, session: s, functions: f).isEmpty {
                throw FirmchainError(.signingKeyExists, "the token already holds a private key labelled \"\(label)\"; choose another label", path: uri.description)
            }
            var pub: [PKCS11Attribute] = [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aPrivate, bool: false),
                PKCS11Attribute(CK.aVerify, bool: usage == .sign), PKCS11Attribute(CK.aEncrypt, bool: false), PKCS11Attribute(CK.aWrap, bool: false),
                PKCS11Attribute(CK.aLabel, string: label), PKCS11Attribute(CK.aID, bytes: id),
            ]
            let priv: [PKCS11Attribute] = [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aPrivate, bool: true),
                PKCS11Attribute(CK.aSensitive, bool: true), PKCS11Attribute(CK.aExtractable, bool: false),
                PKCS11Attribute(CK.aSign, bool: usage == .sign), PKCS11Attribute(CK.aDecrypt, bool: false), PKCS11Attribute(CK.aUnwrap, bool: false),
                PKCS11Attribute(CK.aDerive, bool: usage == .keyAgreement), PKCS11Attribute(CK.aLabel, string: label), PKCS11Attribute(CK.aID, bytes: id),
            ]
            let mechanism: PKCS11Mechanism
            switch type {
            case .ecdsaP256: mechanism = .ecKeyPairGen; pub.append(PKCS11Attribute(CK.aECParams, bytes: try OID.der(OID.p256)))
            case .ecdsaP384: mechanism = .ecKeyPairGen; pub.append(PKCS11Attribute(CK.aECParams, bytes: try OID.der(OID.p384)))
            case .ed25519: mechanism = .ecEdwardsKeyPairGen; pub.append(PKCS11Attribute(CK.aECParams, bytes: try OID.der(OID.ed25519)))
            case .rsa:
                mechanism = .rsaKeyPairGen
                pub.append(PKCS11Attribute(CK.aModulusBits, ulong: 3072))
                pub.append(PKCS11Attribute(CK.aPublicExponent, bytes: [0x01, 0x00, 0x01]))
            }
            let handles: (UInt, UInt)
            do {
                handles = try f.generateKeyPair(s, mechanism: mechanism, publicTemplate: pub, privateTemplate: priv)
            } catch let e as PKCS11CallError {
                if e.rv == PKCS11ReturnValue.mechanismInvalid || e.rv == PKCS11ReturnValue.mechanismParamInvalid {
                    throw FirmchainError.mechanismRefused(uri.description, mechanism: mechanism.name, rv: e.rv)
                }
                throw FirmchainError.tokenFailed(uri.description, function: e.function, rv: e.rv)
            }
            let pk = try PKCS11Keys.publicKey(ofPrivate: handles.1, session: s, functions: f, uri: keyURI.description)
            return PKCS11GeneratedKey(uri: keyURI, publicKey: pk)
        }
    }

    /// `pkcs11:token=…;object=…;id=…;type=private[?module-path=…]`.
    static func keyURI(token: PKCS11TokenInfo, label: String, id: [UInt8], modulePath: String?) -> PKCS11URI {
        var u = PKCS11URI()
        u.token = token.label
        u.serial = token.serial.isEmpty ? nil : token.serial
        u.object = label.isEmpty ? nil : label
        u.id = id.isEmpty ? nil : id
        u.type = .privateKey
        u.modulePath = modulePath
        return u
    }
}
