import FirmchainCore

/// The error type of the `Delta` module (STYLE.md §5): a stable dotted code, the class that
/// fixes the CLI exit code, a reason a person can act on, and the file involved.
///
/// Patch-reader codes (all `malformedInput`, exit 65) say which rule of BSDIFF40.md §5 the
/// patch broke; a caller may match on `code`. Errors compare by `code` alone.
public struct DeltaError: FirmchainErrorProtocol, Equatable {
    /// A stable dotted code, one of the constants below (e.g. `delta.patch-truncated`).
    public let code: String
    /// The class that fixes the exit code (patch rejections are `malformedInput`, 65).
    public let category: ErrorCategory
    /// One sentence saying what is wrong with the patch or input.
    public let reason: String
    /// The file involved (the patch, for reader errors raised through `Delta.applyFile`).
    public let path: String?

    /// Creates an error with one of the codes below.
    public init(code: String, category: ErrorCategory = .malformedInput, reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// The same error about another file.
    public func about(_ path: String?) -> DeltaError {
        DeltaError(code: code, category: category, reason: reason, path: path)
    }

    /// Errors compare by code alone (STYLE.md §5).
    public static func == (lhs: DeltaError, rhs: DeltaError) -> Bool { lhs.code == rhs.code }

    // MARK: Stable codes (Docs/exit-codes.md)

    /// The patch ends before its header, a block, or a bzip2 stream is complete.
    public static let truncated = "delta.patch-truncated"
    /// The first 8 bytes are not `BSDIFF40`.
    public static let badMagic = "delta.bad-magic"
    /// A header field is negative, or 32 + X + Y overflows.
    public static let badHeader = "delta.bad-header"
    /// The header's new size (or an input) exceeds the caller's limit.
    public static let tooLarge = "delta.too-large"
    /// A block is not one valid bzip2 stream (bad data, CRC mismatch, or bytes after the stream).
    public static let corruptBlock = "delta.corrupt-block"
    /// A control triple is malformed: length not a multiple of 24, negative or oversized
    /// add/copy length, output or old cursor overflow, or output beyond the header's size.
    public static let badControl = "delta.bad-control"
    /// An add step would read old bytes outside [0, oldsize) (Firmchain rejects; see `Patcher`).
    public static let oldOutOfRange = "delta.old-out-of-range"
    /// The diff or extra block is shorter than the triples need, or has bytes left over.
    public static let blockMismatch = "delta.block-mismatch"
    /// The triples produce fewer bytes than the header's new size.
    public static let sizeMismatch = "delta.size-mismatch"
    /// Bytes follow the extra block's bzip2 stream.
    public static let trailingData = "delta.trailing-data"
    /// An input to `create` is too large for 32-bit suffix-array indices (>= 2^31 - 1 bytes).
    public static let inputTooLarge = "delta.input-too-large"
    /// The patch format named on the command line is not supported.
    public static let unsupportedFormat = "delta.unsupported-format"
    /// libbz2 refused to compress (an internal error).
    public static let compressionFailed = "delta.compression-failed"
}
