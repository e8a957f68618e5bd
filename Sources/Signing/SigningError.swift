import FirmchainCore

/// The codes of the `Signing` module (`Docs/exit-codes.md`, "Keys and signing"). Reasons never
/// contain a PIN or passphrase.
extension ErrorCode {
    /// The PKCS#11 module cannot be loaded (`module-path`, `--module`).
    public static let signingModuleNotFound = ErrorCode("signing.module-not-found", .token)
    /// The module loaded but `C_Initialize` or another setup call failed.
    public static let signingModuleFailed = ErrorCode("signing.module-failed", .token)
    /// No token matches the URI's `token=`/`serial=`/… attributes.
    public static let signingTokenNotFound = ErrorCode("signing.token-not-found", .token)
    /// Several tokens match; add `serial=`.
    public static let signingTokenAmbiguous = ErrorCode("signing.token-ambiguous", .token)
    /// A PKCS#11 call failed (the CKR code is named).
    public static let signingTokenFailed = ErrorCode("signing.token-failed", .token)
    /// The token refused the signing mechanism.
    public static let signingMechanismRefused = ErrorCode("signing.mechanism-refused", .token)
    /// `CKR_PIN_INCORRECT`.
    public static let signingPinIncorrect = ErrorCode("signing.pin-incorrect", .authentication)
    /// `CKR_PIN_LOCKED`: the security officer must unlock the token.
    public static let signingPinLocked = ErrorCode("signing.pin-locked", .authentication)
    /// No PIN in `FIRMCHAIN_PKCS11_PIN`, `pin-source` or a terminal prompt.
    public static let signingPinMissing = ErrorCode("signing.pin-missing", .authentication)
    /// The URI's `pin-source` file cannot be read.
    public static let signingPinSourceUnreadable = ErrorCode("signing.pin-source-unreadable", .authentication)
    /// `pin-source` is not a file path or `file:` URI.
    public static let signingPinSourceUnsupported = ErrorCode("signing.pin-source-unsupported", .usage)
    /// The URI carries `pin-value=` and `--allow-unsafe-pin-value` was not given.
    public static let signingPinValueRefused = ErrorCode("signing.pin-value-refused", .policyViolation)
    /// The `pkcs11:` URI does not follow RFC 7512.
    public static let signingUriMalformed = ErrorCode("signing.uri-malformed", .usage)
    /// No key in the token matches `object=`/`id=`.
    public static let signingKeyNotFound = ErrorCode("signing.key-not-found", .key)
    /// Several keys match; add `id=`.
    public static let signingKeyAmbiguous = ErrorCode("signing.key-ambiguous", .key)
    /// `keys generate` would reuse a label already in the token.
    public static let signingKeyExists = ErrorCode("signing.key-exists", .key)
    /// The key type or size is not one Firmchain signs with.
    public static let signingKeyUnsupported = ErrorCode("signing.key-unsupported", .key)
    /// The key cannot sign with the requested algorithm.
    public static let signingAlgorithmUnsupported = ErrorCode("signing.algorithm-unsupported", .key)
    /// A PEM key file is missing.
    public static let signingKeyFileNotFound = ErrorCode("signing.key-file-not-found", .inputNotFound)
    /// A PEM key file cannot be parsed.
    public static let signingKeyFileMalformed = ErrorCode("signing.key-file-malformed", .malformedInput)
    /// An encrypted key file and no passphrase.
    public static let signingPassphraseMissing = ErrorCode("signing.passphrase-missing", .authentication)
    /// The passphrase does not decrypt the key.
    public static let signingPassphraseIncorrect = ErrorCode("signing.passphrase-incorrect", .authentication)
    /// `--passphrase-file` cannot be read.
    public static let signingPassphraseFileUnreadable = ErrorCode("signing.passphrase-file-unreadable", .inputNotFound)
    /// A signature from the token did not verify with its public key (it is never returned).
    public static let signingSignatureInvalid = ErrorCode("signing.signature-invalid", .verificationFailed)
    /// swift-crypto failed to sign.
    public static let signingSoftwareFailed = ErrorCode("signing.software-failed", .internal)

    /// Every code `Signing` declares.
    public static let signingCodes: [ErrorCode] = [
        signingModuleNotFound, signingModuleFailed, signingTokenNotFound, signingTokenAmbiguous, signingTokenFailed, signingMechanismRefused, signingPinIncorrect, signingPinLocked, signingPinMissing, signingPinSourceUnreadable, signingPinSourceUnsupported, signingPinValueRefused, signingUriMalformed, signingKeyNotFound, signingKeyAmbiguous, signingKeyExists, signingKeyUnsupported, signingAlgorithmUnsupported, signingKeyFileNotFound, signingKeyFileMalformed, signingPassphraseMissing, signingPassphraseIncorrect, signingPassphraseFileUnreadable, signingSignatureInvalid, signingSoftwareFailed,
    ]
}

/// The errors `Signing` raises most, with their reasons in one place.
extension FirmchainError {

    /// The PKCS#11 module could not be loaded (missing file, not a PKCS#11 library).
    public static func moduleNotFound(_ path: String, _ detail: String) -> FirmchainError {
        FirmchainError(.signingModuleNotFound, "cannot load PKCS#11 module: \(detail)", path: path)
    }
    /// The module loaded but `C_Initialize` or another module-wide call failed.
    public static func moduleFailed(_ path: String, _ detail: String) -> FirmchainError {
        FirmchainError(.signingModuleFailed, detail, path: path)
    }
    /// No token matches the URI's token attributes.
    public static func tokenNotFound(_ uri: String) -> FirmchainError {
        FirmchainError(.signingTokenNotFound, "no token matches the URI (check token=, serial=, and SOFTHSM2_CONF)", path: uri)
    }
    /// No key object matches the URI (after login, so private keys are visible).
    public static func keyNotFound(_ uri: String, _ detail: String = "no private key matches the URI's object=/id=") -> FirmchainError {
        FirmchainError(.signingKeyNotFound, detail, path: uri)
    }
    /// More than one key object matches the URI.
    public static func keyAmbiguous(_ uri: String, count: Int) -> FirmchainError {
        FirmchainError(.signingKeyAmbiguous, "\(count) keys match the URI; add id= or object= to pick one", path: uri)
    }
    /// The token rejected the PIN (`CKR_PIN_INCORRECT`).
    public static func pinIncorrect(_ uri: String) -> FirmchainError {
        FirmchainError(.signingPinIncorrect, "the token rejected the PIN (CKR_PIN_INCORRECT)", path: uri)
    }
    /// The token's user PIN is locked (`CKR_PIN_LOCKED`).
    public static func pinLocked(_ uri: String) -> FirmchainError {
        FirmchainError(.signingPinLocked, "the user PIN is locked (CKR_PIN_LOCKED); the security officer must reset it", path: uri)
    }
    /// No PIN could be obtained (no environment variable, no pin-source, no terminal).
    public static func pinMissing(_ uri: String) -> FirmchainError {
        FirmchainError(.signingPinMissing, "no PIN available: set FIRMCHAIN_PKCS11_PIN, add pin-source= to the URI, or run on a terminal", path: uri)
    }
    /// The URI carries `pin-value` and the caller did not allow it.
    public static func pinValueRefused(_ uri: String) -> FirmchainError {
        FirmchainError(.signingPinValueRefused, "the URI carries pin-value= (a PIN in a URI leaks into logs and process lists); use pin-source= or FIRMCHAIN_PKCS11_PIN", path: uri)
    }
    /// The key's type cannot produce the requested algorithm.
    public static func algorithmUnsupported(_ key: String, keyType: KeyType, algorithm: SignatureAlgorithm) -> FirmchainError {
        FirmchainError(.signingAlgorithmUnsupported, "the key is \(keyType.rawValue) and cannot sign with \(algorithm.rawValue) (supported: \(keyType.supportedAlgorithms.map(\.rawValue).joined(separator: ", ")))", path: key)
    }
    /// The token refused the mechanism or its parameters.
    public static func mechanismRefused(_ key: String, mechanism: String, rv: UInt) -> FirmchainError {
        FirmchainError(.signingMechanismRefused, "the token refused \(mechanism) (\(PKCS11ReturnValue.name(rv)))", path: key)
    }
    /// Any other PKCS#11 failure, with the function and return value.
    public static func tokenFailed(_ uri: String?, function: String, rv: UInt) -> FirmchainError {
        FirmchainError(.signingTokenFailed, "\(function) failed: \(PKCS11ReturnValue.name(rv))", path: uri)
    }
    /// A `pkcs11:` URI that does not follow RFC 7512.
    public static func uriMalformed(_ detail: String) -> FirmchainError {
        FirmchainError(.signingUriMalformed, "malformed pkcs11: URI: \(detail)")
    }
    /// A key file that does not exist.
    public static func keyFileNotFound(_ path: String) -> FirmchainError {
        FirmchainError(.signingKeyFileNotFound, "key file not found", path: path)
    }
    /// A key file whose content is not a key Firmchain reads.
    public static func keyFileMalformed(_ path: String?, _ detail: String) -> FirmchainError {
        FirmchainError(.signingKeyFileMalformed, detail, path: path)
    }
    /// An encrypted key and no passphrase.
    public static func passphraseMissing(_ path: String?) -> FirmchainError {
        FirmchainError(.signingPassphraseMissing, "the key is encrypted: set FIRMCHAIN_KEY_PASSPHRASE or pass --passphrase-file", path: path)
    }
    /// An encrypted key that the passphrase does not open.
    public static func passphraseIncorrect(_ path: String?) -> FirmchainError {
        FirmchainError(.signingPassphraseIncorrect, "the passphrase does not decrypt the key", path: path)
    }
    /// A key type or encryption scheme Firmchain does not support.
    public static func keyUnsupported(_ path: String?, _ detail: String) -> FirmchainError {
        FirmchainError(.signingKeyUnsupported, detail, path: path)
    }
    /// A signature that did not verify with the key's public key before being returned.
    public static func signatureInvalid(_ key: String) -> FirmchainError {
        FirmchainError(.signingSignatureInvalid, "the signature the key produced does not verify with its public key; nothing was written", path: key)
    }
}
