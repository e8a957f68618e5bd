import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// The process-wide SoftHSM token (`SoftHSMTestToken`) as the Signing tests use it, plus one
/// P-256 key whose private half has CKA_SIGN = FALSE, so the token itself refuses to sign.
final class SoftHSMFixture: @unchecked Sendable {
    static let modulePath = SoftHSMTestToken.modulePath
    static let pin = SoftHSMTestToken.pin
    static let soPin = SoftHSMTestToken.soPin
    let shared: SoftHSMTestToken

    /// A key in the token: its URI, its type and who made it.
    struct Key: Sendable, CustomStringConvertible {
        let uri: String
        let type: KeyType
        let maker: String
        var description: String { "\(maker) \(type.rawValue)" }
    }
    let keys: [Key]
    private(set) var noSignKeyURI = ""

    var label: String { shared.label }
    var conf: String { shared.conf }
    var environment: [String: String] { shared.environment }
    var tokenURI: String { shared.tokenURI }
    /// The token wrong PINs are tried on (see `SoftHSMTestToken.wrongPINLabel`), and its key.
    var wrongPINTokenURI: String { shared.wrongPINTokenURI }
    var wrongPINKeyURI: String { shared.wrongPINKeyURI }
    /// Signer options with the test PIN.
    var options: SignerOptions { SignerOptions(pin: { _ in Secret(string: SoftHSMFixture.pin) }) }

    private static let instance: Result<SoftHSMFixture, Error> = Result { try SoftHSMFixture() }

    /// The shared token; records an issue (the test fails, never skips) if it cannot be made.
    static func get() throws -> SoftHSMFixture {
        switch instance {
        case .success(let f): return f
        case .failure(let e):
            Issue.record("cannot create the SoftHSM test token: \(e)")
            throw e
        }
    }

    private init() throws {
        shared = try SoftHSMTestToken.shared()
        let types: [String: KeyType] = ["ecdsa-p256": .ecdsaP256, "ecdsa-p384": .ecdsaP384, "ed25519": .ed25519, "rsa-3072": .rsa]
        keys = shared.keys.map { Key(uri: $0.uri, type: types[$0.type]!, maker: $0.maker) }
        noSignKeyURI = try makeNoSignKey()
    }

    /// Generates a P-256 pair whose private key may not sign, through the real module.
    private func makeNoSignKey() throws -> String {
        let resolved = try PKCS11TokenResolver.resolve(try PKCS11URI(parsing: tokenURI), options: options)
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: true, uri: tokenURI)
        try pool.login(pin: Secret(string: Self.pin), uri: tokenURI)
        try pool.withSession { s in
            _ = try resolved.functions.generateKeyPair(s, mechanism: .ecKeyPairGen, publicTemplate: [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aECParams, bytes: try OID.der(OID.p256)),
                PKCS11Attribute(CK.aLabel, string: "no-sign"), PKCS11Attribute(CK.aID, bytes: [0x77]),
            ], privateTemplate: [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aPrivate, bool: true),
                PKCS11Attribute(CK.aSign, bool: false), PKCS11Attribute(CK.aLabel, string: "no-sign"), PKCS11Attribute(CK.aID, bytes: [0x77]),
            ])
        }
        return "pkcs11:token=\(label);object=no-sign"
    }
}
