/// The few PKCS#11 v2.40 calls Firmchain makes, in Swift types (no C in this file).
///
/// The real implementation (`PKCS11Module`, in `Module_pkcs11.swift`) forwards to a
/// dlopen()ed module; tests substitute a fake to reach paths SoftHSM cannot produce, such
/// as `CKR_PIN_LOCKED`. Every method throws `PKCS11CallError` carrying the `CKR_*` value.
protocol PKCS11Functions: AnyObject, Sendable {
    /// The path the module was loaded from (for messages).
    var path: String { get }
    /// Which PIN logged in to which slot of this module instance (see `PKCS11SessionPool.login`).
    var loginRecord: PKCS11LoginRecord { get }
    /// C_GetInfo.
    func libraryInfo() throws -> PKCS11LibraryInfo
    /// C_GetSlotList(tokenPresent = TRUE).
    func slotsWithTokens() throws -> [UInt]
    /// C_GetSlotInfo.
    func slotInfo(_ slot: UInt) throws -> PKCS11SlotInfo
    /// C_GetTokenInfo.
    func tokenInfo(_ slot: UInt) throws -> PKCS11TokenInfo
    /// C_OpenSession with CKF_SERIAL_SESSION (and CKF_RW_SESSION when `readWrite`).
    func openSession(_ slot: UInt, readWrite: Bool) throws -> UInt
    /// C_CloseSession; errors are ignored.
    func closeSession(_ session: UInt)
    /// C_Login as CKU_USER. The PIN bytes are passed straight from the `Secret`.
    func login(_ session: UInt, pin: Secret) throws
    /// C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal.
    func findObjects(_ session: UInt, matching template: [PKCS11Attribute]) throws -> [UInt]
    /// C_GetAttributeValue for one attribute; nil when the object has no such attribute or
    /// it is sensitive (`CK_UNAVAILABLE_INFORMATION`).
    func attribute(_ session: UInt, object: UInt, type: UInt) throws -> [UInt8]?
    /// C_SignInit + C_Sign.
    func sign(_ session: UInt, mechanism: PKCS11Mechanism, key: UInt, data: [UInt8]) throws -> [UInt8]
    /// C_DeriveKey with CKM_ECDH1_DERIVE {CKD_NULL, no shared data, the peer's point} into a
    /// session-only, extractable generic secret of `length` bytes; its CKA_VALUE is read and the
    /// object destroyed (PKCS#11 v2.40 §2.3.14). Returns Z, the shared x-coordinate.
    func deriveECDH(_ session: UInt, key: UInt, peerPoint: [UInt8], length: Int) throws -> [UInt8]
    /// C_GenerateKeyPair; returns (public, private) handles.
    func generateKeyPair(_ session: UInt, mechanism: PKCS11Mechanism,
                         publicTemplate: [PKCS11Attribute], privateTemplate: [PKCS11Attribute]) throws -> (UInt, UInt)
}

extension PKCS11Functions {
    /// Fakes that do not model key agreement: the module does not support it.
    func deriveECDH(_ session: UInt, key: UInt, peerPoint: [UInt8], length: Int) throws -> [UInt8] {
        throw PKCS11CallError(function: "C_DeriveKey", rv: 0x54)  // CKR_FUNCTION_NOT_SUPPORTED
    }
}

/// A failed PKCS#11 call: the function name and its `CKR_*` return value.
struct PKCS11CallError: Error, CustomStringConvertible {
    let function: String
    let rv: UInt
    var description: String { "\(function): \(PKCS11ReturnValue.name(rv))" }
}

/// CK_INFO, decoded.
struct PKCS11LibraryInfo: Sendable {
    var manufacturer: String
    var description: String
    var version: (major: UInt8, minor: UInt8)
}

/// CK_SLOT_INFO, decoded.
struct PKCS11SlotInfo: Sendable {
    var description: String
    var manufacturer: String
}

/// CK_TOKEN_INFO, decoded (blank padding removed).
public struct PKCS11TokenInfo: Sendable, Equatable {
    /// CKA slot the token is in.
    public var slot: UInt
    /// The token label.
    public var label: String
    /// The manufacturer ID.
    public var manufacturer: String
    /// The model.
    public var model: String
    /// The serial number.
    public var serial: String
    /// Whether the token has a protected authentication path (PIN pad).
    public var protectedAuthenticationPath: Bool
    /// Whether the user PIN has been initialised.
    public var userPINInitialized: Bool
    /// Whether the token has been initialised (CKF_TOKEN_INITIALIZED); SoftHSM always offers
    /// one empty, uninitialised slot, which is never matched.
    public var initialized: Bool = true
}

/// A CK_ATTRIBUTE with its value as bytes.
struct PKCS11Attribute: Sendable {
    let type: UInt
    let value: [UInt8]

    init(_ type: UInt, bytes: [UInt8]) { self.type = type; self.value = bytes }
    init(_ type: UInt, bool: Bool) { self.init(type, bytes: [bool ? 1 : 0]) }  // CK_BBOOL
    /// A CK_ULONG in host byte order.
    init(_ type: UInt, ulong: UInt) { self.init(type, bytes: withUnsafeBytes(of: ulong) { Array($0) }) }
    init(_ type: UInt, string: String) { self.init(type, bytes: Array(string.utf8)) }

    /// Decodes a CK_ULONG attribute value.
    static func ulong(_ bytes: [UInt8]?) -> UInt? {
        guard let bytes, bytes.count == MemoryLayout<UInt>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt.self) }
    }
}

/// The mechanisms Firmchain uses (PKCS#11 v2.40 §2.3, §2.1.14; v3.0 §2.3.6 for EdDSA).
enum PKCS11Mechanism: Sendable {
    /// CKM_ECDSA over a digest computed on the host; returns r‖s.
    case ecdsa
    /// CKM_SHA256_RSA_PKCS_PSS with {CKM_SHA256, CKG_MGF1_SHA256, sLen 32}.
    case sha256RSAPSS
    /// CKM_SHA256_RSA_PKCS (RSASSA-PKCS1-v1_5 with SHA-256).
    case sha256RSAPKCS
    /// CKM_EDDSA without parameters (pure Ed25519).
    case eddsa
    /// CKM_EC_KEY_PAIR_GEN.
    case ecKeyPairGen
    /// CKM_RSA_PKCS_KEY_PAIR_GEN.
    case rsaKeyPairGen
    /// CKM_EC_EDWARDS_KEY_PAIR_GEN.
    case ecEdwardsKeyPairGen

    /// The CKM_* name, for messages.
    var name: String {
        switch self {
        case .ecdsa: return "CKM_ECDSA"
        case .sha256RSAPSS: return "CKM_SHA256_RSA_PKCS_PSS"
        case .sha256RSAPKCS: return "CKM_SHA256_RSA_PKCS"
        case .eddsa: return "CKM_EDDSA"
        case .ecKeyPairGen: return "CKM_EC_KEY_PAIR_GEN"
        case .rsaKeyPairGen: return "CKM_RSA_PKCS_KEY_PAIR_GEN"
        case .ecEdwardsKeyPairGen: return "CKM_EC_EDWARDS_KEY_PAIR_GEN"
        }
    }
}

/// PKCS#11 v2.40 constants (§A, pkcs11t.h) as plain numbers, for code that builds templates
/// without importing C.
enum CK {
    static let oClass: UInt = 0x0          // CKA_CLASS
    static let aToken: UInt = 0x1          // CKA_TOKEN
    static let aPrivate: UInt = 0x2        // CKA_PRIVATE
    static let aLabel: UInt = 0x3          // CKA_LABEL
    static let aKeyType: UInt = 0x100      // CKA_KEY_TYPE
    static let aID: UInt = 0x102           // CKA_ID
    static let aSensitive: UInt = 0x103    // CKA_SENSITIVE
    static let aEncrypt: UInt = 0x104      // CKA_ENCRYPT
    static let aDecrypt: UInt = 0x105      // CKA_DECRYPT
    static let aWrap: UInt = 0x106         // CKA_WRAP
    static let aUnwrap: UInt = 0x107       // CKA_UNWRAP
    static let aSign: UInt = 0x108         // CKA_SIGN
    static let aVerify: UInt = 0x10A       // CKA_VERIFY
    static let aDerive: UInt = 0x10C       // CKA_DERIVE
    static let aModulus: UInt = 0x120      // CKA_MODULUS
    static let aModulusBits: UInt = 0x121  // CKA_MODULUS_BITS
    static let aPublicExponent: UInt = 0x122 // CKA_PUBLIC_EXPONENT
    static let aExtractable: UInt = 0x162  // CKA_EXTRACTABLE
    static let aValue: UInt = 0x11         // CKA_VALUE
    static let aECParams: UInt = 0x180     // CKA_EC_PARAMS
    static let aECPoint: UInt = 0x181      // CKA_EC_POINT

    static let classPublicKey: UInt = 2    // CKO_PUBLIC_KEY
    static let classPrivateKey: UInt = 3   // CKO_PRIVATE_KEY

    static let keyRSA: UInt = 0x0          // CKK_RSA
    static let keyEC: UInt = 0x3           // CKK_EC
    static let keyECEdwards: UInt = 0x40   // CKK_EC_EDWARDS
}
