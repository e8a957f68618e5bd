// TEMPORARY suffix-array implementation for the `delta` branch only.
//
// The real SA-IS construction lives on branch `sa`; the lead replaces this file when merging.
// This version is correct but slow (prefix doubling with comparison sorts, O(n log^2 n)); it
// exists so the Delta target compiles and its tests run. Do not benchmark it.

/// Suffix-array construction over bytes (temporary prefix-doubling version, see file header).
public enum SuffixArray {
    /// The suffix array of `text`: `SA[0..n-1]`, the start positions of the non-empty suffixes
    /// in lexicographic order; `[]` for empty text. Requires `n < 2^31`.
    public static func build(_ text: UnsafeBufferPointer<UInt8>) throws -> [Int32] {
        let n = text.count
        if n == 0 { return [] }
        precondition(n < Int(Int32.max), "text too large for 32-bit indices")
        var sa = [Int32](0..<Int32(n))
        var rank = [Int32](repeating: 0, count: n)
        var tmp = [Int32](repeating: 0, count: n)
        for i in 0..<n { rank[i] = Int32(text[i]) }
        var k = 1
        while true {
            let r = rank
            let kk = k
            func key(_ i: Int32) -> (Int32, Int32) {
                let j = Int(i) + kk
                return (r[Int(i)], j < n ? r[j] : -1)
            }
            sa.sort { key($0) < key($1) }
            tmp[Int(sa[0])] = 0
            for i in 1..<n {
                tmp[Int(sa[i])] = tmp[Int(sa[i - 1])] + (key(sa[i - 1]) < key(sa[i]) ? 1 : 0)
            }
            rank = tmp
            if Int(rank[Int(sa[n - 1])]) == n - 1 { break }
            k *= 2
        }
        return sa
    }

    /// The suffix array of `text` (see `build(_:)` on a buffer).
    public static func build(_ text: [UInt8]) throws -> [Int32] {
        try text.withUnsafeBufferPointer { try build($0) }
    }

    /// Checks that `sa` is the suffix array of `text` (temporary: compares with `naive`).
    public static func check(_ text: [UInt8], _ sa: [Int32]) -> SuffixArrayCheck {
        naive(text) == sa ? .valid : .invalid("not the suffix array")
    }

    /// The suffix array by plain comparison sort of all suffixes (reference oracle).
    public static func naive(_ text: [UInt8]) -> [Int32] {
        (0..<Int32(text.count)).sorted { a, b in
            text[Int(a)...].lexicographicallyPrecedes(text[Int(b)...])
        }
    }
}

/// The result of `SuffixArray.check` (temporary shape).
public enum SuffixArrayCheck: Sendable, Equatable {
    /// `sa` is the suffix array of the text.
    case valid
    /// `sa` is not the suffix array; the string says why.
    case invalid(String)
}
