import FirmchainCore

/// The error type of the `Signing` module (STYLE.md §5): a stable dotted code, the class that
/// fixes the exit code, one sentence a person can act on, and the file or key involved.
///
/// Reasons never contain a PIN or passphrase. Errors compare by `code` alone.
public struct SigningError: FirmchainErrorProtocol, Equatable {
    /// The stable dotted code, e.g. `signing.pin-incorrect`.
    public let code: String
    /// The class that fixes the exit code.
    public let category: ErrorCategory
    /// One sentence; never contains a PIN or passphrase.
    public let reason: String
    /// The key file or URI (without PIN) involved.
    public let path: String?

    /// Creates an error with one of the stable codes below.
    public init(code: String, category: ErrorCategory, reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// Errors compare by code alone.

    public static func == (lhs: SigningError, rhs: SigningError) -> Bool { lhs.code == rhs.code }

    /// The same error about another file or key.
    public func about(_ path: String?) -> SigningError {
        SigningError(code: code, category: category, reason: reason, path: path)
    }

    // MARK: - Stable codes (Docs/exit-codes.md)

    /// The PKCS#11 module could not be loaded (missing file, not a PKCS#11 library).
    public static func moduleNotFound(_ path: String, _ detail: String) -> SigningError {
        SigningError(code: "signing.module-not-found", category: .token,
                     reason: "cannot load PKCS#11 module: \(detail)", path: path)
    }
    /// The module loaded but `C_Initialize` or another module-wide call failed.
    public static func moduleFailed(_ path: String, _ detail: String) -> SigningError {
        SigningError(code: "signing.module-failed", category: .token, reason: detail, path: path)
    }
    /// No token matches the URI's token attributes.
    public static func tokenNotFound(_ uri: String) -> SigningError {
        SigningError(code: "signing.token-not-found", category: .token,
                     reason: "no token matches the URI (check token=, serial=, and SOFTHSM2_CONF)", path: uri)
    }
    /// No key object matches the URI (after login, so private keys are visible).
    public static func keyNotFound(_ uri: String, _ detail: String = "no private key matches the URI's object=/id=") -> SigningError {
        SigningError(code: "signing.key-not-found", category: .key, reason: detail, path: uri)
    }
    /// More than one key object matches the URI.
    public static func keyAmbiguous(_ uri: String, count: Int) -> SigningError {
        SigningError(code: "signing.key-ambiguous", category: .key,
                     reason: "\(count) keys match the URI; add id= or object= to pick one", path: uri)
    }
    /// The token rejected the PIN (`CKR_PIN_INCORRECT`).
    public static func pinIncorrect(_ uri: String) -> SigningError {
        SigningError(code: "signing.pin-incorrect", category: .authentication,
                     reason: "the token rejected the PIN (CKR_PIN_INCORRECT)", path: uri)
    }
    /// The token's user PIN is locked (`CKR_PIN_LOCKED`).
    public static func pinLocked(_ uri: String) -> SigningError {
        SigningError(code: "signing.pin-locked", category: .authentication,
                     reason: "the user PIN is locked (CKR_PIN_LOCKED); the security officer must reset it", path: uri)
    }
    /// No PIN could be obtained (no environment variable, no pin-source, no terminal).
    public static func pinMissing(_ uri: String) -> SigningError {
        SigningError(code: "signing.pin-missing", category: .authentication,
                     reason: "no PIN available: set FIRMCHAIN_PKCS11_PIN, add pin-source= to the URI, or run on a terminal", path: uri)
    }
    /// The URI carries `pin-value` and the caller did not allow it.
    public static func pinValueRefused(_ uri: String) -> SigningError {
        SigningError(code: "signing.pin-value-refused", category: .policyViolation,
                     reason: "the URI carries pin-value= (a PIN in a URI leaks into logs and process lists); use pin-source= or FIRMCHAIN_PKCS11_PIN", path: uri)
    }
    /// The key's type cannot produce the requested algorithm.
    public static func algorithmUnsupported(_ key: String, keyType: KeyType, algorithm: SignatureAlgorithm) -> SigningError {
        SigningError(code: "signing.algorithm-unsupported", category: .key,
                     reason: "the key is \(keyType.rawValue) and cannot sign with \(algorithm.rawValue) (supported: \(keyType.supportedAlgorithms.map(\.rawValue).joined(separator: ", ")))", path: key)
    }
    /// The token refused the mechanism or its parameters.
    public static func mechanismRefused(_ key: String, mechanism: String, rv: UInt) -> SigningError {
        SigningError(code: "signing.mechanism-refused", category: .token,
                     reason: "the token refused \(mechanism) (\(PKCS11ReturnValue.name(rv)))", path: key)
    }
    /// Any other PKCS#11 failure, with the function and return value.
    public static func tokenFailed(_ uri: String?, function: String, rv: UInt) -> SigningError {
        SigningError(code: "signing.token-failed", category: .token,
                     reason: "\(function) failed: \(PKCS11ReturnValue.name(rv))", path: uri)
    }
    /// A `pkcs11:` URI that does not follow RFC 7512.
    public static func uriMalformed(_ detail: String) -> SigningError {
        SigningError(code: "signing.uri-malformed", category: .usage, reason: "malformed pkcs11: URI: \(detail)")
    }
    /// A key file that does not exist.
    public static func keyFileNotFound(_ path: String) -> SigningError {
        SigningError(code: "signing.key-file-not-found", category: .inputNotFound, reason: "key file not found", path: path)
    }
    /// A key file whose content is not a key Firmchain reads.
    public static func keyFileMalformed(_ path: String?, _ detail: String) -> SigningError {
        SigningError(code: "signing.key-file-malformed", category: .malformedInput, reason: detail, path: path)
    }
    /// An encrypted key and no passphrase.
    public static func passphraseMissing(_ path: String?) -> SigningError {
        SigningError(code: "signing.passphrase-missing", category: .authentication,
                     reason: "the key is encrypted: set FIRMCHAIN_KEY_PASSPHRASE or pass --passphrase-file", path: path)
    }
    /// An encrypted key that the passphrase does not open.
    public static func passphraseIncorrect(_ path: String?) -> SigningError {
        SigningError(code: "signing.passphrase-incorrect", category: .authentication,
                     reason: "the passphrase does not decrypt the key", path: path)
    }
    /// A key type or encryption scheme Firmchain does not support.
    public static func keyUnsupported(_ path: String?, _ detail: String) -> SigningError {
        SigningError(code: "signing.key-unsupported", category: .key, reason: detail, path: path)
    }
    /// A signature that did not verify with the key's public key before being returned.
    public static func signatureInvalid(_ key: String) -> SigningError {
        SigningError(code: "signing.signature-invalid", category: .verificationFailed,
                     reason: "the signature the key produced does not verify with its public key; nothing was written", path: key)
    }
}
