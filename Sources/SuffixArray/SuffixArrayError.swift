import FirmchainCore

/// The error type of the `SuffixArray` module.
///
/// Codes (stable, documented in `Docs/exit-codes.md`):
/// - `suffix-array.too-large` (`malformed-input`, exit 65): the text has `Int32.max` bytes or more, which 32-bit
///   suffix indices cannot address.
public struct SuffixArrayError: FirmchainErrorProtocol, Equatable {
    /// A stable dotted code such as `suffix-array.too-large`.
    public let code: String
    /// The class of the error, which fixes the exit code.
    public let category: ErrorCategory
    /// One sentence saying what went wrong.
    public let reason: String
    /// The file the error is about; the library never knows it, callers may attach it with `about(_:)`.
    public let path: String?

    /// Creates an error; `code` must be one of the stable codes listed above.
    public init(code: String, category: ErrorCategory, reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// The same error about the file `path`.
    public func about(_ path: String?) -> SuffixArrayError {
        SuffixArrayError(code: code, category: category, reason: reason, path: path)
    }

    /// The text is too long for 32-bit suffix indices.
    static func tooLarge(_ count: Int) -> SuffixArrayError {
        SuffixArrayError(
            code: "suffix-array.too-large", category: .malformedInput,
            reason: "input of \(count) bytes is too large for a 32-bit suffix array (limit \(Int(Int32.max) - 1) bytes)")
    }

    /// Errors compare by code alone (STYLE.md §5).
    public static func == (lhs: SuffixArrayError, rhs: SuffixArrayError) -> Bool { lhs.code == rhs.code }
}
