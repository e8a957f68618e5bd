/// The error classes every Firmchain error code belongs to, each with a stable process exit
/// code. The table is documented in `Docs/exit-codes.md`; changing a number is a breaking
/// change for every CI job that scripts against `firmchain`.
public enum ErrorCategory: String, Sendable, CaseIterable, Codable {
    /// A check ran and did not pass: a signature, a threshold, a hash, a ledger chain.
    case verificationFailed = "verification-failed"
    /// The input was readable but a policy forbids what it asks for.
    case policyViolation = "policy-violation"
    /// A key is missing, of the wrong type, or cannot do the requested algorithm.
    case key = "key"
    /// Authentication to a token failed: wrong PIN, locked PIN, no PIN available.
    case authentication = "authentication"
    /// A PKCS#11 module or token is unavailable or refused an operation.
    case token = "token"
    /// The command line itself was wrong.
    case usage = "usage"
    /// An input file exists but its content is malformed or hostile.
    case malformedInput = "malformed-input"
    /// An input file does not exist or cannot be opened.
    case inputNotFound = "input-not-found"
    /// An output could not be created.
    case cannotWrite = "cannot-write"
    /// Reading or writing failed part way (disk full, I/O error).
    case io = "io"
    /// A bug in Firmchain: an invariant did not hold.
    case `internal` = "internal"

    /// The process exit code for this category (see `Docs/exit-codes.md`).
    public var exitCode: Int32 {
        switch self {
        case .verificationFailed: return 1
        case .policyViolation: return 2
        case .key: return 3
        case .authentication: return 4
        case .token: return 5
        case .usage: return 64
        case .malformedInput: return 65
        case .inputNotFound: return 66
        case .internal: return 70
        case .cannotWrite: return 73
        case .io: return 74
        }
    }
}

/// A stable error code: the dotted id scripts match on (`delta.patch-truncated`) and the class
/// that fixes its exit code, both decided once, where the code is declared.
///
/// Each module declares its codes in one `extension ErrorCode` (swift-certificates'
/// `CertificateError.ErrorCode` is the model) and lists them in a `…Codes` array, which the
/// documentation test walks to check `Docs/exit-codes.md`.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The stable dotted id, e.g. `io.not-found`.
    public let id: String
    /// The class of the code, which fixes the exit status.
    public let category: ErrorCategory

    /// Declares a code. Only `extension ErrorCode` blocks of the modules call this.
    public init(_ id: String, _ category: ErrorCategory) {
        self.id = id
        self.category = category
    }

    /// The process exit code of this code's class.
    public var exitCode: Int32 { category.exitCode }

    /// The dotted id.
    public var description: String { id }
}

/// The one error type of every Firmchain module (Docs/architecture.md "Errors"): a typed code, one sentence a
/// person can act on (never a secret), and the file or key the error is about.
///
/// A failed check is not an error: verifiers return a `VerificationReport`. `throws` is for
/// input that cannot be read and output that cannot be written. Errors compare by code alone.
public struct FirmchainError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable code.
    public let code: ErrorCode
    /// One sentence saying what went wrong, without secrets.
    public let reason: String
    /// The file (or key URI, without PIN) the error is about, when there is one.
    public let path: String?

    /// An error with `code` about `path`.
    public init(_ code: ErrorCode, _ reason: String, path: String? = nil) {
        self.code = code
        self.reason = reason
        self.path = path
    }

    /// The class of the error, which fixes the exit code.
    public var category: ErrorCategory { code.category }

    /// The same error about another file.
    public func about(_ path: String?) -> FirmchainError { FirmchainError(code, reason, path: path) }

    /// One line: `path: reason` (or only the reason when no file is involved).
    public var description: String {
        if let path { return "\(path): \(reason)" }
        return reason
    }

    /// Errors compare by code alone.
    public static func == (lhs: FirmchainError, rhs: FirmchainError) -> Bool { lhs.code == rhs.code }
}

extension ErrorCode {
    /// An input path does not exist.
    public static let ioNotFound = ErrorCode("io.not-found", .inputNotFound)
    /// An input exists but cannot be opened.
    public static let ioPermissionDenied = ErrorCode("io.permission-denied", .inputNotFound)
    /// An input is a directory, device, FIFO or socket.
    public static let ioNotAFile = ErrorCode("io.not-a-file", .inputNotFound)
    /// An input is larger than the limit for its kind.
    public static let ioTooLarge = ErrorCode("io.too-large", .malformedInput)
    /// A read or stat failed part way.
    public static let ioFailed = ErrorCode("io.failed", .io)
    /// A write or fsync failed; the target is unchanged.
    public static let ioWriteFailed = ErrorCode("io.write-failed", .io)
    /// A temporary file or the final rename could not be made.
    public static let ioCannotCreate = ErrorCode("io.cannot-create", .cannotWrite)
    /// An output already exists and replacing it would lose it (a private key, a trust anchor);
    /// the command says which flag replaces it on purpose.
    public static let ioWouldReplace = ErrorCode("io.would-replace", .cannotWrite)
    /// An output directory could not be created.
    public static let ioMkdirFailed = ErrorCode("io.mkdir-failed", .cannotWrite)
    /// Another run holds the release directory's lock.
    public static let ioLocked = ErrorCode("io.locked", .io)
    /// Invalid JSON: syntax, duplicate key, invalid UTF-8, lone surrogate, too deep.
    public static let jsonMalformed = ErrorCode("json.malformed", .malformedInput)
    /// Canonical JSON was asked of a value containing a float.
    public static let jsonFloatNotCanonical = ErrorCode("json.float-not-canonical", .malformedInput)
    /// A required member is missing.
    public static let jsonMissingField = ErrorCode("json.missing-field", .malformedInput)
    /// The command line is wrong: an unknown option, a missing or malformed argument.
    public static let usageInvalid = ErrorCode("usage.invalid", .usage)
    /// `firmchain help NAME` names no command.
    public static let usageUnknownCommand = ErrorCode("usage.unknown-command", .usage)
    /// An unexpected error: a Firmchain bug.
    public static let `internal` = ErrorCode("internal", .internal)

    /// Every code `FirmchainCore` declares.
    public static let coreCodes: [ErrorCode] = [
        ioNotFound, ioPermissionDenied, ioNotAFile, ioTooLarge, ioFailed, ioWriteFailed, ioCannotCreate, ioWouldReplace, ioMkdirFailed,
        ioLocked, jsonMalformed, jsonFloatNotCanonical, jsonMissingField, usageInvalid, usageUnknownCommand, .internal,
    ]
}
