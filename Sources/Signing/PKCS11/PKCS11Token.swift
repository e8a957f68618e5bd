import FirmchainCore
import Crypto
import Foundation

/// What the PIN provider is told about the token that asks for a PIN.
public struct PINRequest: Sendable {
    /// The token (label, serial, …).
    public let token: PKCS11TokenInfo
    /// The key or token URI, without any PIN.
    public let uri: String
}

/// Supplies the user PIN for a token, or nil when none is available. The CLI passes one
/// that reads `FIRMCHAIN_PKCS11_PIN` and, on a terminal, prompts; libraries never read the
/// environment themselves.
public typealias PINProvider = @Sendable (PINRequest) throws -> Secret?

/// A token found through a URI and the module that serves it.
struct ResolvedToken {
    let functions: PKCS11Functions
    let info: PKCS11TokenInfo
}

/// Finding tokens, obtaining PINs and logging in (RFC 7512 §2.3 matching, PKCS#11 v2.40 §5.6).
enum PKCS11TokenResolver {
    /// Checks the URI attributes Firmchain cannot honour and loads the module.
    static func module(for uri: PKCS11URI, options: SignerOptions) throws -> PKCS11Functions {
        if uri.pinValue != nil, !options.allowUnsafePINValueInURI { throw FirmchainError.pinValueRefused(uri.description) }
        if let v = uri.vendorPathAttributes.first ?? uri.vendorQueryAttributes.first {
            throw FirmchainError.uriMalformed("vendor-specific attribute \(v.name) is not understood; refusing rather than ignoring it")
        }
        if uri.moduleName != nil, uri.modulePath == nil {
            throw FirmchainError.uriMalformed("module-name is not supported; give module-path")
        }
        let path = uri.modulePath ?? options.defaultModulePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw FirmchainError.moduleNotFound(path, "no such file (install softhsm2 or give module-path= in the URI)")
        }
        return try options.loadModule(path)
    }

    /// All initialised tokens of the module that match the URI's library, slot and token
    /// attributes (RFC 7512 §2.3: an attribute absent from the URI matches anything).
    static func matchingTokens(_ uri: PKCS11URI, functions: PKCS11Functions) throws -> [PKCS11TokenInfo] {
        do {
            if uri.libraryManufacturer != nil || uri.libraryDescription != nil || uri.libraryVersion != nil {
                let lib = try functions.libraryInfo()
                if let m = uri.libraryManufacturer, m != lib.manufacturer { return [] }
                if let d = uri.libraryDescription, d != lib.description { return [] }
                if let v = uri.libraryVersion, v != lib.version { return [] }
            }
            var out = [PKCS11TokenInfo]()
            for slot in try functions.slotsWithTokens() {
                if let id = uri.slotID, id != slot { continue }
                if uri.slotDescription != nil || uri.slotManufacturer != nil {
                    let s = try functions.slotInfo(slot)
                    if let d = uri.slotDescription, d != s.description { continue }
                    if let m = uri.slotManufacturer, m != s.manufacturer { continue }
                }
                let t = try functions.tokenInfo(slot)
                if !t.initialized { continue }
                if let v = uri.token, v != t.label { continue }
                if let v = uri.manufacturer, v != t.manufacturer { continue }
                if let v = uri.model, v != t.model { continue }
                if let v = uri.serial, v != t.serial { continue }
                out.append(t)
            }
            return out
        } catch let e as PKCS11CallError {
            throw FirmchainError.tokenFailed(uri.description, function: e.function, rv: e.rv)
        }
    }

    /// How many times a token lookup is tried, and the pause between tries (microseconds).
    static let lookupAttempts = 8, lookupPause: UInt32 = 60_000

    /// The one token the URI names. Throws `signing.token-not-found` or
    /// `signing.token-ambiguous`.
    ///
    /// A token whose state another process is rewriting can be missing, or fail
    /// `C_GetTokenInfo`, for a moment (SoftHSM rewrites its token file at every login and key
    /// generation: Docs/formats/interop.md "PKCS#11 with SoftHSM"), so the lookup is tried
    /// `lookupAttempts` times, `lookupPause` apart, before it fails.
    static func resolve(_ uri: PKCS11URI, options: SignerOptions) throws -> ResolvedToken {
        let functions = try module(for: uri, options: options)
        var tokens = [PKCS11TokenInfo]()
        for attempt in 1...lookupAttempts {
            do {
                tokens = try matchingTokens(uri, functions: functions)
                if !tokens.isEmpty || attempt == lookupAttempts { break }
            } catch let e as FirmchainError where e.code == .signingTokenFailed && attempt < lookupAttempts {}
            usleep(lookupPause)
        }
        guard let first = tokens.first else { throw FirmchainError.tokenNotFound(uri.description) }
        guard tokens.count == 1 else {
            throw FirmchainError(.signingTokenAmbiguous, "\(tokens.count) tokens match the URI; add token= or serial=", path: uri.description)
        }
        return ResolvedToken(functions: functions, info: first)
    }

    /// The PIN for `token`: from the URI's `pin-source` file, from `pin-value` when the
    /// caller allowed it, or from the provider. An empty PIN is a missing one: it is never sent
    /// to the token, where a real HSM would count it as a failed try. Throws `signing.pin-missing`.
    static func pin(for uri: PKCS11URI, token: PKCS11TokenInfo, options: SignerOptions) throws -> Secret {
        if let source = uri.pinSource {
            var path = source
            if path.hasPrefix("file://") { path = String(path.dropFirst(7)) } else if path.hasPrefix("file:") { path = String(path.dropFirst(5)) }
            guard path.hasPrefix("/") else {
                throw FirmchainError(.signingPinSourceUnsupported, "pin-source must be file:/absolute/path or /absolute/path", path: uri.description)
            }
            let secret: Secret
            do { secret = try Secret.fromFile(path) } catch {
                throw FirmchainError(.signingPinSourceUnreadable, "cannot read the pin-source file", path: path)
            }
            guard secret.count > 0 else { throw FirmchainError(.signingPinMissing, "the pin-source file is empty", path: path) }
            return secret
        }
        if let v = uri.pinValue, options.allowUnsafePINValueInURI, !v.isEmpty { return Secret(string: v) }
        guard let p = try options.pin(PINRequest(token: token, uri: uri.description)), p.count > 0 else {
            throw FirmchainError.pinMissing(uri.description)
        }
        return p
    }

    /// Maps a `C_Login` failure to its stable error.
    static func loginError(_ e: PKCS11CallError, uri: String) -> FirmchainError {
        switch e.rv {
        case PKCS11ReturnValue.pinIncorrect, PKCS11ReturnValue.pinInvalid, PKCS11ReturnValue.pinLenRange:
            return .pinIncorrect(uri)
        case PKCS11ReturnValue.pinLocked: return .pinLocked(uri)
        default: return .tokenFailed(uri, function: e.function, rv: e.rv)
        }
    }
}

/// The sessions of one token (PKCS#11 v2.40 §5.6): one login shared by all sessions, and a
/// lock-protected pool in which each session is used by one thread at a time — two threads
/// on one session gave CKR_OPERATION_ACTIVE or crashed SoftHSM (Docs/formats/interop.md "PKCS#11 with SoftHSM").
///
/// Sessions are opened on demand (at most one per concurrently signing thread) and closed in
/// `deinit`. The first session is never closed before then, so the login persists.
final class PKCS11SessionPool: @unchecked Sendable {
    let functions: PKCS11Functions
    let token: PKCS11TokenInfo
    private let readWrite: Bool
    private let lock = NSLock()
    private var idle: [UInt] = []
    private var all: [UInt] = []

    /// Opens the first session.
    init(functions: PKCS11Functions, token: PKCS11TokenInfo, readWrite: Bool, uri: String) throws {
        self.functions = functions
        self.token = token
        self.readWrite = readWrite
        do {
            let s = try functions.openSession(token.slot, readWrite: readWrite)
            idle = [s]
            all = [s]
        } catch let e as PKCS11CallError {
            throw FirmchainError.tokenFailed(uri, function: e.function, rv: e.rv)
        }
    }

    /// Logs the user in with `pin` (`CKR_USER_ALREADY_LOGGED_IN` is success: another signer
    /// on this token already did). Throws `signing.pin-incorrect`, `signing.pin-locked`.
    ///
    /// Login state is shared by every session of the process, so a second signer on a token
    /// gets `CKR_USER_ALREADY_LOGGED_IN` whatever PIN it offers. To keep a wrong PIN from
    /// riding on an earlier login, `PKCS11LoginRecord` remembers a keyed hash of the PIN
    /// that logged in, and a different PIN is refused as `signing.pin-incorrect`.
    func login(pin: Secret, uri: String) throws {
        try withSession { s in
            do {
                try functions.login(s, pin: pin)
                functions.loginRecord.record(pin, slot: token.slot)
            } catch let e as PKCS11CallError where e.rv == PKCS11ReturnValue.userAlreadyLoggedIn {
                if functions.loginRecord.contradicts(pin, slot: token.slot) {
                    throw FirmchainError.pinIncorrect(uri)
                }
            } catch let e as PKCS11CallError {
                throw PKCS11TokenResolver.loginError(e, uri: uri)
            }
        }
    }

    /// Runs `body` with a session no other thread is using.
    func withSession<R>(_ body: (UInt) throws -> R) throws -> R {
        lock.lock()
        var session = idle.popLast()
        lock.unlock()
        if session == nil {
            let s = try functions.openSession(token.slot, readWrite: readWrite)
            lock.lock(); all.append(s); lock.unlock()
            session = s
        }
        let s = session!
        defer { lock.lock(); idle.append(s); lock.unlock() }
        return try body(s)
    }

    deinit {
        for s in all.reversed() { functions.closeSession(s) }
    }
}

/// Which PIN logged in to each slot of one module instance, kept as HMAC-SHA-256 under a
/// random per-instance key — never the PIN itself.
final class PKCS11LoginRecord: @unchecked Sendable {
    private let lock = NSLock()
    private let hmacKey = SymmetricKey(size: .bits256)
    private var tags: [UInt: [UInt8]] = [:]

    private func tag(_ pin: Secret) -> [UInt8] {
        pin.withBytes { Array(HMAC<SHA256>.authenticationCode(for: $0, using: hmacKey)) }
    }

    /// Notes that `pin` logged in to `slot`.
    func record(_ pin: Secret, slot: UInt) {
        let t = tag(pin)
        lock.lock(); tags[slot] = t; lock.unlock()
    }

    /// True when a different PIN is on record for this slot; false when it matches or
    /// nobody in Firmchain logged in (another component of the process did).
    func contradicts(_ pin: Secret, slot: UInt) -> Bool {
        let t = tag(pin)
        lock.lock(); defer { lock.unlock() }
        guard let known = tags[slot] else { return false }
        return known != t
    }
}
