import FirmchainCore

/// How to open a key: where PINs and passphrases come from, which PKCS#11 module to use
/// when the URI names none, and the unsafe switches. Libraries never read the environment;
/// the CLI fills this in.
public struct SignerOptions: Sendable {
    /// Supplies the token PIN when the URI has no `pin-source`.
    public var pin: PINProvider
    /// Supplies the passphrase of an encrypted PEM key; called only for encrypted keys.
    public var passphrase: @Sendable () throws -> Secret?
    /// The module loaded when a URI has no `module-path` (SoftHSM 2 on Debian).
    public var defaultModulePath: String
    /// Accept a PIN written in the URI (`pin-value=`). Unsafe: URIs end up in logs, shell
    /// history and process lists.
    public var allowUnsafePINValueInURI: Bool
    /// Loads a PKCS#11 module; tests substitute a fake function layer here.
    var loadModule: @Sendable (String) throws -> PKCS11Functions

    /// The default SoftHSM module path.
    public static let softHSMModulePath = "/usr/lib/softhsm/libsofthsm2.so"

    /// Options with the given providers; everything unsafe off.
    public init(pin: @escaping PINProvider = { _ in nil },
                passphrase: @escaping @Sendable () throws -> Secret? = { nil },
                defaultModulePath: String = SignerOptions.softHSMModulePath,
                allowUnsafePINValueInURI: Bool = false) {
        self.pin = pin
        self.passphrase = passphrase
        self.defaultModulePath = defaultModulePath
        self.allowUnsafePINValueInURI = allowUnsafePINValueInURI
        self.loadModule = { try PKCS11ModuleRegistry.shared.module(at: $0) }
    }
}

/// The one entry point other modules use to get a signer or a public key from what a user
/// typed: a `pkcs11:` URI (RFC 7512) or the path of a PEM file.
public enum Signers {
    /// Opens a signer for `key`: a `pkcs11:` URI → `PKCS11Signer`; anything else is a PEM
    /// private key file → `SoftwareSigner`.
    public static func open(_ key: String, options: SignerOptions) throws -> any Signer {
        if PKCS11URI.isPKCS11URI(key) { return try PKCS11Signer(uri: key, options: options) }
        return try SoftwareSigner(pemFile: key, passphrase: { try options.passphrase() })
    }

    /// The public key of `key` without signing anything: for a URI, the token's public key
    /// object (no login needed when it is public), else the private key's after login; for
    /// a file, a PEM `PUBLIC KEY`, or the public half of a PEM private key.
    public static func publicKey(of key: String, options: SignerOptions) throws -> PublicKey {
        if PKCS11URI.isPKCS11URI(key) {
            let uri = try PKCS11URI(parsing: key)
            if let pk = try PKCS11Inventory.publicKeyWithoutLogin(uri, options: options) { return pk }
            return try PKCS11Signer(uri: uri, options: options).publicKey
        }
        var bytes: [UInt8]
        do {
            bytes = try FileIO.read(key, limit: 1 << 20)
        } catch let e as FirmchainError where e.category == .inputNotFound {
            throw FirmchainError.keyFileNotFound(key)
        }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        let text = String(decoding: bytes, as: UTF8.self)
        if let block = PEM.firstBlock(in: text), block.label == "PUBLIC KEY" {
            do { return try PublicKey(spkiDER: block.der) } catch let e as FirmchainError { throw e.about(key) }
        }
        return try SoftwareSigner(pem: text, description: key, passphrase: { try options.passphrase() }).publicKey
    }
}
