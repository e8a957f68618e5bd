/// The verdict of `SuffixArray.check`: a value, not an error (Docs/architecture.md "Verification results are values").
public enum SuffixArrayCheck: Sendable, Equatable, CustomStringConvertible {
    /// The array is exactly the suffix array of the text.
    case valid
    /// The array is not the suffix array of the text; `index` is the first SA position
    /// (or, for a length mismatch, the array's length) where the checker saw the fault.
    case invalid(reason: String, index: Int)

    /// `true` for `.valid`.
    public var isValid: Bool { self == .valid }

    /// `valid`, or `invalid at <index>: <reason>`.
    public var description: String {
        switch self {
        case .valid: return "valid"
        case .invalid(let reason, let index): return "invalid at \(index): \(reason)"
        }
    }
}

extension SuffixArray {
    /// Checks in O(n + σ) time and n/8 + O(σ) extra bytes that `sa` is the suffix array of `text`,
    /// in the manner of libdivsufsort's `sufcheck`.
    ///
    /// The checks, in order:
    /// 1. `sa.count == text.count`;
    /// 2. every entry lies in `0..<n` and none repeats (so `sa` is a permutation);
    /// 3. first bytes are non-decreasing: `T[SA[i-1]] <= T[SA[i]]` for `i` in `1..<n`;
    /// 4. the induced order holds: scanning `SA` left to right, the suffix `SA[i]-1` sits at the
    ///    next free slot of the bucket of its first byte, with suffix `n-1` first in its bucket.
    ///    Within a bucket, suffixes `cX` are ordered as their tails `X`, so 3 and 4 together
    ///    prove every bucket is sorted (Burkhardt and Kärkkäinen's check; sufcheck.c).
    public static func check(_ text: [UInt8], _ sa: [Int32]) -> SuffixArrayCheck {
        let n = text.count
        guard sa.count == n else {
            return .invalid(reason: "length \(sa.count) differs from the text length \(n)", index: min(sa.count, n))
        }
        if n == 0 { return .valid }
        return text.withUnsafeBufferPointer { t in
            sa.withUnsafeBufferPointer { s in checkCore(t, s) }
        }
    }

    /// The core of `check`; `t.count == s.count == n >= 1`.
    private static func checkCore(_ t: UnsafeBufferPointer<UInt8>, _ s: UnsafeBufferPointer<Int32>) -> SuffixArrayCheck {
        let n = t.count
        // 2. range and uniqueness: one bit per text position.
        var seen = [UInt64](repeating: 0, count: (n + 63) >> 6)
        for i in 0..<n {
            let p = Int(s[i])
            if p < 0 || p >= n { return .invalid(reason: "entry \(p) is outside 0..<\(n)", index: i) }
            let bit: UInt64 = 1 << UInt64(p & 63)
            if seen[p >> 6] & bit != 0 { return .invalid(reason: "suffix \(p) occurs twice", index: i) }
            seen[p >> 6] |= bit
        }
        // 3. first bytes in order.
        for i in 1..<n where t[Int(s[i - 1])] > t[Int(s[i])] {
            return .invalid(reason: "suffix \(s[i - 1]) starts with a larger byte than suffix \(s[i]) after it", index: i)
        }
        // 4. induced order. next[c] is the SA index where the next suffix starting with c must be.
        var next = [Int](repeating: 0, count: 256)
        for i in 0..<n { next[Int(t[i])] += 1 }
        var sum = 0
        for c in 0..<256 {
            let count = next[c]
            next[c] = sum
            sum += count
        }
        // The one-byte suffix n-1 is the smallest suffix starting with T[n-1].
        let last = Int(t[n - 1])
        if s[next[last]] != Int32(n - 1) {
            return .invalid(reason: "suffix \(n - 1) is not first among suffixes starting with byte \(last)", index: next[last])
        }
        next[last] += 1
        for i in 0..<n {
            let p = Int(s[i])
            guard p > 0 else { continue }
            let c = Int(t[p - 1])
            let slot = next[c]
            // Every suffix starting with c is induced exactly once, so slot < n while entries remain.
            if slot >= n || s[slot] != Int32(p - 1) {
                return .invalid(
                    reason: "suffix \(p - 1) is not where the order of suffix \(p) puts it (SA[\(slot)])",
                    index: min(slot, n - 1))
            }
            next[c] = slot + 1
        }
        return .valid
    }
}
