/// The error classes every Firmchain module maps its errors into, each with a stable process
/// exit code. The table is documented in `Docs/exit-codes.md`; changing a number is a breaking
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

/// What every Firmchain error offers the command line: a stable machine code, the class that
/// fixes the exit code, a reason a person can act on, and the file involved (if any).
///
/// Each module has its own error struct conforming to this protocol (STYLE.md §5). Errors
/// compare by `code` alone.
public protocol FirmchainErrorProtocol: Error, Sendable, CustomStringConvertible {
    /// A stable identifier such as `delta.patch-truncated`; scripts may match on it.
    var code: String { get }
    /// The class of the error, which fixes the exit code.
    var category: ErrorCategory { get }
    /// One sentence saying what went wrong, without secrets.
    var reason: String { get }
    /// The file the error is about, when there is one.
    var path: String? { get }
}

extension FirmchainErrorProtocol {
    /// One line: `path: reason` (or only the reason when no file is involved).
    public var description: String {
        if let path { return "\(path): \(reason)" }
        return reason
    }
}

/// The error type of `FirmchainCore`: I/O, JSON and the shared helpers.
public struct CoreError: FirmchainErrorProtocol, Equatable {
    public let code: String
    public let category: ErrorCategory
    public let reason: String
    public let path: String?

    /// Creates an error; `code` must be one of the stable codes documented in `Docs/exit-codes.md`.
    public init(code: String, category: ErrorCategory, reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// The same error about another file.
    public func about(_ path: String?) -> CoreError {
        CoreError(code: code, category: category, reason: reason, path: path)
    }

    public static func == (lhs: CoreError, rhs: CoreError) -> Bool { lhs.code == rhs.code }
}
