import FirmchainCore

extension ErrorCode {
    /// The text has `Int32.max` bytes or more, which 32-bit suffix indices cannot address.
    public static let suffixArrayTooLarge = ErrorCode("suffix-array.too-large", .malformedInput)

    /// Every code `SuffixArray` declares.
    public static let suffixArrayCodes: [ErrorCode] = [suffixArrayTooLarge]
}

extension FirmchainError {
    /// The text is too long for 32-bit suffix indices.
    static func suffixArrayTooLarge(_ count: Int) -> FirmchainError {
        FirmchainError(.suffixArrayTooLarge, "input of \(count) bytes is too large for a 32-bit suffix array (limit \(Int(Int32.max) - 1) bytes)")
    }
}
