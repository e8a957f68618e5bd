/// Internal SA-IS core (placeholder: comparison sort until the SA-IS core lands).
enum SAIS {
    static func sortBytes(_ t: UnsafeBufferPointer<UInt8>, _ sa: UnsafeMutableBufferPointer<Int32>) {
        let r = SuffixArray.naive(Array(t))
        for i in 0..<r.count { sa[i] = r[i] }
    }
}
