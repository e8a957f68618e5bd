import FirmchainCore
/// Suffix arrays over bytes, with 32-bit indices.
///
/// `build` sorts all suffixes with SA-IS (Nong, Zhang and Chan, "Two Efficient Algorithms for
/// Linear Time Suffix Array Construction", IEEE TC 2011); `check` verifies a result in linear time;
/// `naive` is the slow reference for tests. Order: unsigned bytes, and a suffix that is a proper
/// prefix of another sorts first (as if the text ended with a unique smallest sentinel).
public enum SuffixArray {
    /// SA[0..n-1] of `text`: the start offsets of all non-empty suffixes in lexicographic order
    /// (a shorter suffix that is a prefix of a longer one sorts first). Empty input -> [].
    /// Throws `FirmchainError` (code `suffix-array.too-large`) if `text.count >= Int32.max`.
    ///
    /// Time O(n). Memory: the result (4n bytes) is also the work area (the reduced problems and
    /// their buckets live in its free part) plus 2 KiB of byte buckets and a bit per position
    /// for the suffix types of each level in progress (n/8 bytes, n/4 summed over the levels);
    /// only when a reduced problem's alphabet does not fit there is a bucket array allocated,
    /// at most 2n bytes (4n summed over all recursion levels in the worst case; none on the
    /// benchmark corpus).
    ///
    /// `threads` > 1 runs on that many threads, for texts of 256 KiB and more, with the same
    /// result (at most 64 threads are used): the four induction passes over the text itself, and
    /// at every level of 256 K positions or more the steps that do not depend on the alphabet
    /// (suffix types, clearing, naming the LMS substrings, gathering the reduced string,
    /// mapping its answer back). Extra memory then: 160 KiB of cache and a 1 MiB stack per
    /// thread, and a bit per LMS suffix (n/16 bytes at most). The induction passes of the
    /// reduced problems stay on one thread.
    public static func build(_ text: UnsafeBufferPointer<UInt8>, threads: Int = 1) throws -> [Int32] {
        let n = text.count
        guard n < Int(Int32.max) else { throw FirmchainError.suffixArrayTooLarge(n) }
        return try [Int32](unsafeUninitializedCapacity: n) { sa, count in
            try build(text, into: sa, threads: threads)
            count = n
        }
    }

    /// Writes SA[0..n-1] of `text` into `sa`, which must hold exactly `text.count` entries (its
    /// old contents do not matter): for callers that sort many texts into one reused buffer,
    /// whose pages are then already mapped. Same result, time and threads as `build`.
    /// Throws `FirmchainError` (`suffix-array.too-large`) if `text.count >= Int32.max`.
    /// - Precondition: `sa.count == text.count` (a wrong buffer is a programming error).
    public static func build(_ text: UnsafeBufferPointer<UInt8>, into sa: UnsafeMutableBufferPointer<Int32>, threads: Int = 1) throws {
        let n = text.count
        guard n < Int(Int32.max) else { throw FirmchainError.suffixArrayTooLarge(n) }
        precondition(sa.count == n, "SuffixArray.build(_:into:): the buffer has \(sa.count) entries, the text \(n) bytes")
        if n == 0 { return }
        let parallel = threads >= 2 && n >= SAIS.parallelMinimumSize ? ParallelInduceOptions(threads: threads) : nil
        SAIS.sortBytes(text, sa, parallel: parallel)
    }

    /// SA[0..n-1] of `text`; see `build(_: UnsafeBufferPointer<UInt8>, threads:)`.
    public static func build(_ text: [UInt8], threads: Int = 1) throws -> [Int32] {
        try text.withUnsafeBufferPointer { try build($0, threads: threads) }
    }
}
