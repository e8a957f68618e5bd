// The type of every suffix of one SA-IS level, one bit per position, computed once per level.
//
// SA-IS visits the LMS positions of a level four times (placing them, measuring their
// substrings for the naming, listing them for the reduced string and for mapping its answer
// back). Finding them from the text is a right-to-left scan with a data-dependent branch per
// character, which a kernel image mispredicts often: ~85 ms per scan on the 31 MiB kernel L1.
// Here the types are computed once, without branches, on all threads of the level's team, and
// the LMS positions are read off the bits 64 at a time.

/// Bit b of word w is 1 iff suffix 64 w + b is S-type (bits at positions >= n are 0). Suffix i
/// is S-type iff T[i] < T[i+1], or T[i] == T[i+1] and suffix i+1 is S-type; suffix n-1 is
/// L-type. Position p is LMS iff p >= 1, p is S-type and p-1 is L-type.
struct SuffixTypes {
    let words: UnsafeMutablePointer<UInt64>
    let wordCount: Int
    let n: Int

    /// The types of `t[0..n-1]`, n >= 1; on the threads of `team` when given. Call `deallocate`.
    init<Char>(_ t: SAText<Char>, n: Int, team: InduceTeam?) {
        self.n = n
        wordCount = (n + 63) >> 6
        words = .allocate(capacity: wordCount)
        let words = self.words, wordCount = self.wordCount
        if let team, wordCount >= 2 * team.threads {
            team.withHelpers(text: nil, sa: nil) {
                team.parallel { k in
                    let part = team.chunk(k, of: 0, wordCount)
                    guard !part.isEmpty else { return }
                    let end = min(n, part.upperBound << 6)
                    Self.fill(t, n: n, words: words, from: part.lowerBound, to: part.upperBound, sAtEnd: Self.isSType(t, end, n: n))
                }
            }
        } else {
            Self.fill(t, n: n, words: words, from: 0, to: wordCount, sAtEnd: false)
        }
    }

    func deallocate() { words.deallocate() }

    /// Whether suffix i (0 <= i <= n) is S-type, from the text alone (suffix n, the sentinel, is
    /// counted as L-type here: only suffixes below n ask, and suffix n-1 is L-type either way).
    static func isSType<Char>(_ t: SAText<Char>, _ i: Int, n: Int) -> Bool {
        guard i < n - 1 else { return false }
        var j = i
        // First j >= i with T[j] != T[j+1]; within a run of equal characters the type is that
        // of the run's end.
        while j < n - 1 && t[j] == t[j &+ 1] { j &+= 1 }
        return j < n - 1 && t[j] < t[j &+ 1]
    }

    /// Words `from..<to`, right to left; `sAtEnd` = the type of suffix 64 to (false if >= n).
    private static func fill<Char>(_ t: SAText<Char>, n: Int, words: UnsafeMutablePointer<UInt64>, from: Int, to: Int, sAtEnd: Bool) {
        let uniform = Char.self == UInt8.self
        var s: UInt64 = sAtEnd ? 1 : 0  // the type of suffix `top` below
        var w = to - 1
        while w >= from {
            // Positions base ..< top get their bits from T[i+1]; top = base + 64, or n - 1 in the
            // last word, whose suffix n-1 is L-type (bit 0, and s = 0: sAtEnd is false there).
            let base = w << 6
            let top = min(base &+ 64, n &- 1)
            if uniform && top == base &+ 64 && isRun(t, base) {
                // 65 equal bytes: every suffix of the word has the type of suffix base+64.
                words[w] = s == 0 ? 0 : ~0
                w -= 1
                continue
            }
            var bits: UInt64 = 0
            var d = t[top]
            var i = top
            while i > base {
                i &-= 1
                let c = t[i]
                s = step(c, d, s)
                bits |= s << UInt64(i &- base)
                d = c
            }
            words[w] = bits
            w -= 1
        }
    }

    /// The type bit of a suffix starting with c, followed by d, where s is the type of the
    /// next suffix: 1 if c < d, s if c == d, 0 if c > d. By arithmetic, without compares the
    /// compiler might turn into branches (c and d are in 0 ..< 2^31, so c - d and c ^ d tell).
    @inline(__always)
    private static func step(_ c: Int, _ d: Int, _ s: UInt64) -> UInt64 {
        let less = UInt64(bitPattern: Int64(c &- d)) >> 63
        let equal = (UInt64(bitPattern: Int64(c ^ d)) &- 1) >> 63
        return less | (equal & s)
    }

    /// For byte texts: T[base ... base+64] all equal (base + 64 < n).
    @inline(__always)
    private static func isRun<Char>(_ t: SAText<Char>, _ base: Int) -> Bool {
        let raw = UnsafeRawPointer(t.base)
        let first = raw.load(fromByteOffset: base, as: UInt8.self)
        guard raw.load(fromByteOffset: base &+ 64, as: UInt8.self) == first else { return false }
        let pattern = UInt64(first) &* 0x0101_0101_0101_0101
        var k = 0
        while k < 64 {
            if raw.loadUnaligned(fromByteOffset: base &+ k, as: UInt64.self) != pattern { return false }
            k &+= 8
        }
        return true
    }

    /// The LMS bits of word w (bit b set iff 64 w + b is LMS).
    @inline(__always)
    func lms(_ w: Int) -> UInt64 {
        let s = words[w]
        let below: UInt64 = w > 0 ? words[w &- 1] >> 63 : 1  // position 0 is never LMS
        return s & ~(s << 1 | below)
    }

    /// Number of LMS positions in words `range`.
    func countLMS(_ range: Range<Int>) -> Int {
        var c = 0
        for w in range { c &+= lms(w).nonzeroBitCount }
        return c
    }

    /// Calls `body(p)` for every LMS position p in words `range`, right to left.
    @inline(__always)
    func forEachLMSRightToLeft(in range: Range<Int>, _ body: (Int) -> Void) {
        var w = range.upperBound &- 1
        while w >= range.lowerBound {
            var x = lms(w)
            while x != 0 {
                let b = 63 &- x.leadingZeroBitCount
                body(w << 6 | b)
                x ^= 1 << UInt64(b)
            }
            w &-= 1
        }
    }

    /// Calls `body(p)` for every LMS position p, right to left.
    @inline(__always)
    func forEachLMSRightToLeft(_ body: (Int) -> Void) {
        forEachLMSRightToLeft(in: 0..<wordCount, body)
    }

    /// The first LMS position in words `from...` (n if none).
    func firstLMS(fromWord from: Int) -> Int {
        var w = from
        while w < wordCount {
            let x = lms(w)
            if x != 0 { return w << 6 | x.trailingZeroBitCount }
            w &+= 1
        }
        return n
    }
}
