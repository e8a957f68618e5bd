import FirmchainCore

/// The codes of the `Delta` module (`Docs/exit-codes.md`, "Deltas").
///
/// Patch-reader codes (`malformedInput`, exit 65, except a firmchain1 patch's wrong base) say
/// which rule of the BSDIFF40 format (`Docs/formats/BSDIFF40.md` §5) or of firmchain1
/// (`Docs/formats/FIRMCHAIN1.md` §1-§4) the patch broke; a caller may match on the code.
extension ErrorCode {
    /// The patch ends before its header, a block, or a bzip2 stream is complete.
    public static let deltaPatchTruncated = ErrorCode("delta.patch-truncated", .malformedInput)
    /// The first 8 bytes are neither `BSDIFF40` nor `FCDELTA1`.
    public static let deltaBadMagic = ErrorCode("delta.bad-magic", .malformedInput)
    /// A header field is negative, or 32 + X + Y overflows.
    public static let deltaBadHeader = ErrorCode("delta.bad-header", .malformedInput)
    /// The header's new size (or an input) exceeds the caller's limit.
    public static let deltaTooLarge = ErrorCode("delta.too-large", .malformedInput)
    /// A block is not one valid bzip2 stream (bad data, CRC mismatch, or bytes after the stream).
    public static let deltaCorruptBlock = ErrorCode("delta.corrupt-block", .malformedInput)
    /// A control triple is malformed: length not a multiple of 24, negative or oversized
    /// add/copy length, output or old cursor overflow, or output beyond the header's size.
    public static let deltaBadControl = ErrorCode("delta.bad-control", .malformedInput)
    /// An add step would read old bytes outside [0, oldsize) (Firmchain rejects; see `Patcher`).
    public static let deltaOldOutOfRange = ErrorCode("delta.old-out-of-range", .malformedInput)
    /// The diff or extra block is shorter than the triples need, or has bytes left over.
    public static let deltaBlockMismatch = ErrorCode("delta.block-mismatch", .malformedInput)
    /// The triples produce fewer bytes than the header's new size.
    public static let deltaSizeMismatch = ErrorCode("delta.size-mismatch", .malformedInput)
    /// Bytes follow the extra block's bzip2 stream.
    public static let deltaTrailingData = ErrorCode("delta.trailing-data", .malformedInput)
    /// A firmchain1 patch of another format version, codec or flags than this reader knows.
    public static let deltaUnsupportedVersion = ErrorCode("delta.unsupported-version", .malformedInput)
    /// A firmchain1 patch was made for another old image (its length or sha256 differs).
    public static let deltaWrongBase = ErrorCode("delta.wrong-base", .verificationFailed)
    /// A firmchain1 patch made an image whose sha256 is not the one its header names.
    public static let deltaDigestMismatch = ErrorCode("delta.digest-mismatch", .malformedInput)
    /// `delta create --max-memory` names a limit too small for one segment and its window.
    public static let deltaMemoryTooSmall = ErrorCode("delta.memory-too-small", .usage)
    /// `delta create` would need more memory than the process's address-space or cgroup limit
    /// leaves (checked before the inputs are read).
    public static let deltaNotEnoughMemory = ErrorCode("delta.not-enough-memory", .usage)
    /// An input to `create` is too large for 32-bit suffix-array indices (>= 2^31 - 1 bytes).
    public static let deltaInputTooLarge = ErrorCode("delta.input-too-large", .usage)
    /// The patch format named on the command line is not supported.
    public static let deltaUnsupportedFormat = ErrorCode("delta.unsupported-format", .usage)
    /// `delta apply --expect-sha256/--expect-length`: the result is not the expected file.
    public static let deltaResultMismatch = ErrorCode("delta.result-mismatch", .verificationFailed)
    /// libbz2 or liblzma refused to compress (an internal error).
    public static let deltaCompressionFailed = ErrorCode("delta.compression-failed", .internal)

    /// Every code `Delta` declares.
    public static let deltaCodes: [ErrorCode] = [
        deltaPatchTruncated, deltaBadMagic, deltaBadHeader, deltaTooLarge, deltaCorruptBlock, deltaBadControl,
        deltaOldOutOfRange, deltaBlockMismatch, deltaSizeMismatch, deltaTrailingData, deltaInputTooLarge,
        deltaUnsupportedFormat, deltaCompressionFailed, deltaResultMismatch, deltaUnsupportedVersion, deltaWrongBase,
        deltaDigestMismatch, deltaMemoryTooSmall, deltaNotEnoughMemory,
    ]
}
