/// Names for PKCS#11 return values (PKCS#11 v2.40 §11.1, `CKR_*`), for error messages.
/// Plain numbers, so this file needs no C import.
public enum PKCS11ReturnValue {
    static let ok: UInt = 0x0
    static let argumentsBad: UInt = 0x7
    static let generalError: UInt = 0x5
    static let keyTypeInconsistent: UInt = 0x63
    static let keyFunctionNotPermitted: UInt = 0x68
    static let mechanismInvalid: UInt = 0x70
    static let mechanismParamInvalid: UInt = 0x71
    static let operationActive: UInt = 0x90
    static let pinIncorrect: UInt = 0xA0
    static let pinInvalid: UInt = 0xA1
    static let pinLenRange: UInt = 0xA2
    static let pinExpired: UInt = 0xA3
    static let pinLocked: UInt = 0xA4
    static let sessionHandleInvalid: UInt = 0xB3
    static let tokenNotPresent: UInt = 0xE0
    static let userAlreadyLoggedIn: UInt = 0x100
    static let userNotLoggedIn: UInt = 0x101
    static let userPINNotInitialized: UInt = 0x102
    static let userTypeInvalid: UInt = 0x103
    static let bufferTooSmall: UInt = 0x150
    static let cryptokiNotInitialized: UInt = 0x190
    static let cryptokiAlreadyInitialized: UInt = 0x191

    private static let names: [UInt: String] = [
        0x0: "CKR_OK", 0x1: "CKR_CANCEL", 0x2: "CKR_HOST_MEMORY", 0x3: "CKR_SLOT_ID_INVALID",
        0x5: "CKR_GENERAL_ERROR", 0x6: "CKR_FUNCTION_FAILED", 0x7: "CKR_ARGUMENTS_BAD",
        0x10: "CKR_ATTRIBUTE_READ_ONLY", 0x11: "CKR_ATTRIBUTE_SENSITIVE", 0x12: "CKR_ATTRIBUTE_TYPE_INVALID",
        0x13: "CKR_ATTRIBUTE_VALUE_INVALID", 0x20: "CKR_DATA_INVALID", 0x21: "CKR_DATA_LEN_RANGE",
        0x30: "CKR_DEVICE_ERROR", 0x31: "CKR_DEVICE_MEMORY", 0x32: "CKR_DEVICE_REMOVED",
        0x50: "CKR_FUNCTION_CANCELED", 0x54: "CKR_FUNCTION_NOT_SUPPORTED",
        0x60: "CKR_KEY_HANDLE_INVALID", 0x62: "CKR_KEY_SIZE_RANGE", 0x63: "CKR_KEY_TYPE_INCONSISTENT",
        0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x70: "CKR_MECHANISM_INVALID", 0x71: "CKR_MECHANISM_PARAM_INVALID",
        0x82: "CKR_OBJECT_HANDLE_INVALID", 0x90: "CKR_OPERATION_ACTIVE", 0x91: "CKR_OPERATION_NOT_INITIALIZED",
        0xA0: "CKR_PIN_INCORRECT", 0xA1: "CKR_PIN_INVALID", 0xA2: "CKR_PIN_LEN_RANGE", 0xA3: "CKR_PIN_EXPIRED",
        0xA4: "CKR_PIN_LOCKED", 0xB0: "CKR_SESSION_CLOSED", 0xB1: "CKR_SESSION_COUNT",
        0xB3: "CKR_SESSION_HANDLE_INVALID", 0xB5: "CKR_SESSION_READ_ONLY", 0xB7: "CKR_SESSION_READ_ONLY_EXISTS",
        0xC0: "CKR_SIGNATURE_INVALID", 0xC1: "CKR_SIGNATURE_LEN_RANGE", 0xD0: "CKR_TEMPLATE_INCOMPLETE",
        0xD1: "CKR_TEMPLATE_INCONSISTENT", 0xE0: "CKR_TOKEN_NOT_PRESENT", 0xE1: "CKR_TOKEN_NOT_RECOGNIZED",
        0xE2: "CKR_TOKEN_WRITE_PROTECTED", 0x100: "CKR_USER_ALREADY_LOGGED_IN", 0x101: "CKR_USER_NOT_LOGGED_IN",
        0x102: "CKR_USER_PIN_NOT_INITIALIZED", 0x103: "CKR_USER_TYPE_INVALID", 0x150: "CKR_BUFFER_TOO_SMALL",
        0x160: "CKR_SAVED_STATE_INVALID", 0x170: "CKR_INFORMATION_SENSITIVE", 0x180: "CKR_STATE_UNSAVEABLE",
        0x190: "CKR_CRYPTOKI_NOT_INITIALIZED", 0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        0x1A0: "CKR_MUTEX_BAD", 0x1A1: "CKR_MUTEX_NOT_LOCKED",
    ]

    /// `CKR_NAME (0x…)` for a return value.
    public static func name(_ rv: UInt) -> String {
        let hex = "0x" + String(rv, radix: 16)
        if let n = names[rv] { return "\(n) (\(hex))" }
        return hex
    }
}
