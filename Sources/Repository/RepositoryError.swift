import FirmchainCore

/// The error type of `Repository`: TUF metadata that cannot be read, built or written.
/// Verification failures are not errors but values (`ThresholdResult`, `RepositoryCheck`).
public struct RepositoryError: FirmchainErrorProtocol, Equatable {
    public let code: String
    public let category: ErrorCategory
    public let reason: String
    public let path: String?

    public init(_ code: String, _ category: ErrorCategory, _ reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// Metadata that does not follow the TUF schema (TUF spec §4).
    static func malformed(_ reason: String, path: String? = nil) -> RepositoryError {
        RepositoryError("repo.malformed-metadata", .malformedInput, reason, path: path)
    }

    /// The same error about `path`.
    public func about(_ path: String) -> RepositoryError { RepositoryError(code, category, reason, path: path) }

    public static func == (a: RepositoryError, b: RepositoryError) -> Bool { a.code == b.code }
}
