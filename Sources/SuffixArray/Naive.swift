extension SuffixArray {
    /// The suffix array of `text` by direct comparison sorting: O(n² log n) time, for tests only.
    ///
    /// Suffixes compare byte by byte as unsigned values; a suffix that is a proper prefix of
    /// another sorts first. Empty input gives `[]`.
    public static func naive(_ text: [UInt8]) -> [Int32] {
        let n = text.count
        return text.withUnsafeBufferPointer { t -> [Int32] in
            var sa = (0..<n).map { Int32($0) }
            sa.sort { a, b in
                var i = Int(a), j = Int(b)
                while i < n && j < n {
                    if t[i] != t[j] { return t[i] < t[j] }
                    i += 1
                    j += 1
                }
                return i == n && j < n  // the one that ran out first is a prefix of the other
            }
            return sa
        }
    }
}
