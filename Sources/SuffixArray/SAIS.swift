// SA-IS suffix sorting (Nong, Zhang and Chan, "Two Efficient Algorithms for Linear Time Suffix
// Array Construction", IEEE Trans. Computers 60(10), 2011), in the in-place formulation of
// Yuta Mori's sais (induced sorting with the type of each suffix's predecessor carried in the
// sign bit, the reduced problem stored in the tail of SA). Written for Firmchain from those
// published descriptions; no code was copied. Large-input speed comes from software prefetching
// of the random text reads (Prefetch.swift), as in libsais.
//
// Vocabulary. T[0..n-1] is the text, with a virtual sentinel T[n] smaller than every character.
// Suffix i is S-type if T[i..] < T[i+1..], L-type otherwise; suffix n-1 is L-type (because of the
// sentinel). Suffix i > 0 is LMS (left-most S) if it is S-type and suffix i-1 is L-type. The
// bucket of character c is the SA range holding the suffixes that start with c; within it the
// L-type suffixes come first. An LMS substring runs from one LMS position to the next, inclusive.
//
// Everything in this file works on raw pointers. The public edge (SuffixArray.build) has checked
// that 1 <= n < Int32.max and that SA has room for n entries, so no index below leaves 0..<n
// (SA indices) or 0..<n (text indices) unless stated; every loop states the ranges it touches.

/// A read-only view of a text whose characters are unsigned bytes (level 0) or non-negative
/// `Int32` names (reduced problems). `self[i]` for `i` in `0..<n`.
struct SAText<Char: FixedWidthInteger> {
    let base: UnsafePointer<Char>

    @inline(__always)
    init(_ base: UnsafePointer<Char>) { self.base = base }

    @inline(__always)
    subscript(i: Int) -> Int { Int(truncatingIfNeeded: base[i]) }

    /// Prefetch hint for character `i`; `i` may be any value (a prefetch never faults), callers
    /// clamp it into `0..<n` anyway.
    @inline(__always)
    func prefetch(_ i: Int) { prefetchRead(UnsafeRawPointer(base + i)) }

    /// Whether the alphabet is wider than a byte (the reduced problems): then the passes
    /// prefetch bucket pointers too (`wideBucketDistance`). Constant once specialised.
    @inline(__always)
    static var wide: Bool { Char.bitWidth > 8 }
}

/// How many scan positions ahead the induction passes prefetch the text.
let prefetchDistance = 32

/// The reduced problems' passes (alphabets of up to millions of names) also wait for the
/// bucket pointer of each entry, heads[T[j]], a random read of an array as large as the
/// alphabet: perf put about half of their time on that one load. So they prefetch in two
/// stages: the text of the entry `wideTextDistance` ahead, then, once it has arrived, the
/// bucket pointer of the entry `wideBucketDistance` ahead. An entry not written yet when it
/// is looked at gives a useless hint, never a wrong result. Measured (sa-bench L1, one thread,
/// best of 5, three alternating rounds): 1.13-1.22 s without, 1.07-1.11 s with (256 / 64);
/// 128 / 32, 128 / 64 and 256 / 32 were within the noise of it.
let wideTextDistance = 8 * prefetchDistance
let wideBucketDistance = 2 * prefetchDistance

/// Bucket bookkeeping for an alphabet `0..<k`: `counts[c]` = occurrences of `c`, `heads` gets
/// bucket starts or ends on demand. When memory is short, `heads == counts` and the counts are
/// recomputed from the text before each use (`recount`).
struct SABuckets {
    let counts: UnsafeMutablePointer<Int32>
    let heads: UnsafeMutablePointer<Int32>
    let k: Int
    let recount: Bool

    init(counts: UnsafeMutablePointer<Int32>, heads: UnsafeMutablePointer<Int32>, k: Int) {
        self.counts = counts
        self.heads = heads
        self.k = k
        self.recount = counts == heads
    }

    /// counts[0..k-1] = character frequencies of T[0..n-1].
    @inline(__always)
    func count<Char>(_ t: SAText<Char>, _ n: Int) {
        counts.update(repeating: 0, count: k)
        for i in 0..<n { counts[t[i]] &+= 1 }  // t[i] in 0..<k by the caller's contract
    }

    /// heads[c] = first SA index of bucket c (`end == false`) or one past its last (`end == true`).
    @inline(__always)
    func compute<Char>(_ t: SAText<Char>, _ n: Int, end: Bool) {
        if recount { count(t, n) }
        var sum: Int32 = 0
        if end {
            for c in 0..<k {
                sum &+= counts[c]
                heads[c] = sum
            }
        } else {
            for c in 0..<k {
                let f = counts[c]
                heads[c] = sum
                sum &+= f
            }
        }
    }
}

enum SAIS {
    /// Sorts the suffixes of the bytes `t[0..n-1]` into `sa[0..n-1]`; `n = t.count = sa.count >= 1`.
    /// With `parallel` (threads >= 2), level 0's four induction passes (block-parallel,
    /// ParallelInduce.swift) and, at every long level, the steps that do not depend on the
    /// alphabet (suffix types, clearing, naming, gathering, mapping back) run on several
    /// threads; the result is the same.
    static func sortBytes(_ t: UnsafeBufferPointer<UInt8>, _ sa: UnsafeMutableBufferPointer<Int32>,
                          parallel: ParallelInduceOptions? = nil) {
        let n = t.count
        precondition(n >= 1 && sa.count == n && n < Int(Int32.max))
        let bucketMemory = UnsafeMutablePointer<Int32>.allocate(capacity: 512)
        defer { bucketMemory.deallocate() }
        let buckets = SABuckets(counts: bucketMemory, heads: bucketMemory + 256, k: 256)
        countBytes(t, into: bucketMemory)
        let team = parallel.map { InduceTeam(options: $0) }
        sort(SAText(t.baseAddress!), sa.baseAddress!, freeSpace: 0, n: n, buckets: buckets, team: team)
    }

    /// Inputs at least this long are sorted with parallel level-0 passes when threads are asked for.
    static let parallelMinimumSize = 1 << 18

    /// counts[0..255] = byte frequencies of t. Four interleaved tables break the store-to-load
    /// dependency that a single table has on runs of one byte, and eight equal bytes in a row
    /// (sparse images are mostly zeros) cost one add.
    static func countBytes(_ t: UnsafeBufferPointer<UInt8>, into counts: UnsafeMutablePointer<Int32>) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1024) { tables in
            let c = tables.baseAddress!
            c.update(repeating: 0, count: 1024)
            let p = t.baseAddress!
            let n = t.count
            var i = 0
            // i + 7 < n: p[i..i+7] are in range. Eight equal bytes (a run) are counted at once.
            let raw = UnsafeRawPointer(p)
            while i + 7 < n {
                let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                if w == (w & 0xff) &* 0x0101_0101_0101_0101 {
                    c[Int(w & 0xff)] &+= 8
                } else {
                    c[Int(p[i])] &+= 1
                    c[256 + Int(p[i + 1])] &+= 1
                    c[512 + Int(p[i + 2])] &+= 1
                    c[768 + Int(p[i + 3])] &+= 1
                    c[Int(p[i + 4])] &+= 1
                    c[256 + Int(p[i + 5])] &+= 1
                    c[512 + Int(p[i + 6])] &+= 1
                    c[768 + Int(p[i + 7])] &+= 1
                }
                i += 8
            }
            while i < n {
                c[Int(p[i])] &+= 1
                i += 1
            }
            for k in 0..<256 { counts[k] = c[k] &+ c[256 + k] &+ c[512 + k] &+ c[768 + k] }
        }
    }

    /// Sorts the suffixes of `t[0..n-1]` (characters in `0..<buckets.k`) into `sa[0..n-1]`.
    /// `sa[n..n+freeSpace-1]` is scratch space the reduced problem may use. On entry
    /// `buckets.counts` holds the character counts unless `buckets.recount`.
    static func sort<Char: FixedWidthInteger>(
        _ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, freeSpace fs: Int, n: Int, buckets: SABuckets,
        team: InduceTeam? = nil
    ) {
        // The block-parallel induction passes exist for byte texts (level 0) only; `bytes` is
        // the team then, and `t8` the text as bytes (meaningless, and unused, otherwise).
        let bytes = Char.self == UInt8.self && !buckets.recount ? team : nil
        // The steps that work alike on any alphabet (types, clearing, naming, listing the LMS
        // positions, mapping back) use the team at every level long enough to pay for it.
        let helpers = team.flatMap { n >= $0.options.minimumLevel ? $0 : nil }
        let t8 = SAText(UnsafeRawPointer(t.base).assumingMemoryBound(to: UInt8.self))
        if n == 1 {
            sa[0] = 0
            return
        }
        let types = SuffixTypes(t, n: n, team: helpers)
        defer { types.deallocate() }
        // Stage 1: sort the LMS substrings by induced sorting from the LMS positions in text order.
        let m = placeLMSPositions(t, sa, n: n, buckets: buckets, types: types, team: helpers)
        if m > 0 {
            if let bytes {
                induceLMSSubstrings(bytes, t8, sa, n: n, buckets: buckets)
                compactLMS(bytes, sa, n: n, m: m)
            } else {
                induceLMSSubstrings(t, sa, n: n, buckets: buckets)  // compacts as it goes
            }
        }
        // sa[0..m-1] = LMS positions sorted by their LMS substrings.

        // Stage 2: name the LMS substrings; if two are equal, sort the reduced string recursively.
        if m > 1 {
            let names: Int
            if let helpers {
                names = nameLMSSubstrings(helpers, t, sa, n: n, m: m, types: types)
            } else {
                names = nameLMSSubstrings(t, sa, n: n, m: m, types: types)
            }
            if names < m {
                solveReduced(t, sa, freeSpace: fs, n: n, m: m, names: names, types: types, team: helpers)
            }
        }
        // sa[0..m-1] = LMS suffixes in sorted order.

        // Stage 3: put the sorted LMS suffixes at the ends of their buckets and induce the rest.
        placeSortedLMS(t, sa, n: n, m: m, buckets: buckets)
        if let bytes {
            induceAll(bytes, t8, sa, n: n, buckets: buckets)
        } else {
            induceAll(t, sa, n: n, buckets: buckets)
        }
    }

    /// `induceLMSSubstrings` with both passes block-parallel (same result).
    static func induceLMSSubstrings(_ team: InduceTeam, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets) {
        induce(team, t, sa, n: n, buckets: buckets, stage1: true)
    }

    /// `induceAll` with both passes block-parallel (same result).
    static func induceAll(_ team: InduceTeam, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets) {
        induce(team, t, sa, n: n, buckets: buckets, stage1: false)
    }

    /// The L-pass then the S-pass of stage 1 or of stage 3, block-parallel. Suffix n-1 (L-type,
    /// n >= 2) is the smallest of its bucket and seeds the L-pass: stage 1 stores the position
    /// it induces from (n-2), stage 3 the suffix itself (n-1), negated when T[n-2] < T[n-1].
    private static func induce(_ team: InduceTeam, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int,
                               buckets: SABuckets, stage1: Bool) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 513) { memory in
            let start = memory.baseAddress!, lEnd = start + 257
            let heads = buckets.heads
            buckets.compute(t, n, end: false)
            start.update(from: heads, count: 256)
            start[256] = Int32(truncatingIfNeeded: n)
            let c1 = t[n - 1], seed = stage1 ? n - 2 : n - 1
            sa[Int(heads[c1])] = Int32(truncatingIfNeeded: t[n - 2] < c1 ? ~seed : seed)
            heads[c1] &+= 1
            team.leftToRight(stage1 ? .stage1L : .finalL, t, sa, n: n, heads: heads)
            lEnd.update(from: heads, count: 256)
            buckets.compute(t, n, end: true)
            team.rightToLeft(stage1 ? .stage1S : .finalS, t, sa, n: n, tails: heads, start: start, lEnd: lEnd)
        }
    }

    /// For T[i] == c: some j <= i with T[j..i] all c, reached 8 bytes at a time (for byte
    /// texts; i itself for others), so that callers that go on byte by byte skip long runs of
    /// one byte (sparse images) at memory speed. Up to 8 bytes of the run may remain below j
    /// (`exactRunStart` finds its start).
    @inline(__always)
    static func runStart<Char>(_ t: SAText<Char>, _ i: Int, _ c: Int) -> Int {
        guard Char.self == UInt8.self else { return i }
        let raw = UnsafeRawPointer(t.base)
        let pattern = UInt64(truncatingIfNeeded: c) &* 0x0101_0101_0101_0101
        var j = i
        // j >= 8: T[j-8..j-1] are in range.
        while j >= 8 && raw.loadUnaligned(fromByteOffset: j &- 8, as: UInt64.self) == pattern { j &-= 8 }
        return j
    }

    /// Clears sa[0..n-1] and stores, for every LMS position p, the value p-1 at the end of the
    /// bucket of T[p] (stage 1 keeps "predecessor indices", see induceLMSSubstrings).
    /// Returns the number m of LMS positions; 2m <= n.
    static func placeLMSPositions<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets,
                                        types: SuffixTypes, team: InduceTeam?) -> Int {
        buckets.compute(t, n, end: true)
        let heads = buckets.heads
        if let team, buckets.k <= 256 {
            // Byte alphabets: each thread counts the LMS positions of its part of the text per
            // bucket while clearing its share of SA, then places them. Within a bucket the part
            // furthest right fills the slots at its end, so SA is exactly what the serial
            // right-to-left placement leaves (stage 1 would sort any order within a bucket
            // correctly; the same order keeps every later step identical too).
            let threads = team.threads
            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: threads * 256)
            defer { counts.deallocate() }
            var m = 0
            team.withHelpers(text: nil, sa: sa) {
                team.parallel { k in
                    let part = team.chunk(k, of: 0, n)
                    (sa + part.lowerBound).update(repeating: 0, count: part.count)
                    let count = counts + k * 256
                    count.update(repeating: 0, count: 256)
                    types.forEachLMSRightToLeft(in: team.chunk(k, of: 0, types.wordCount)) { p in count[t[p]] &+= 1 }
                }
                for c in 0..<buckets.k {
                    var h = heads[c]
                    for k in stride(from: threads - 1, through: 0, by: -1) {
                        let x = counts[k * 256 + c]
                        counts[k * 256 + c] = h
                        h &-= x
                        m += Int(x)
                    }
                    heads[c] = h
                }
                team.parallel { k in
                    let next = counts + k * 256
                    types.forEachLMSRightToLeft(in: team.chunk(k, of: 0, types.wordCount)) { p in
                        let c = t[p]
                        let slot = next[c] &- 1
                        next[c] = slot
                        sa[Int(slot)] = Int32(truncatingIfNeeded: p &- 1)
                    }
                }
            }
            return m
        }
        if let team {
            team.withHelpers(text: nil, sa: sa) {
                team.parallel { k in
                    let part = team.chunk(k, of: 0, n)
                    (sa + part.lowerBound).update(repeating: 0, count: part.count)
                }
            }
        } else {
            sa.update(repeating: 0, count: n)
        }
        var m = 0
        types.forEachLMSRightToLeft { p in
            // heads[c] > 0: bucket c holds suffix p and ends at heads[c].
            let c = t[p]
            let slot = heads[c] &- 1
            heads[c] = slot
            sa[Int(slot)] = Int32(truncatingIfNeeded: p &- 1)
            m += 1
        }
        return m
    }

    /// Induced sorting of the LMS substrings (stage 1), clearing entries once used.
    ///
    /// Encoding while this runs: an entry v > 0 stands for suffix v+1 whose predecessor v is still
    /// to be induced; v < 0 (L-pass) stands for suffix ~v+1 whose predecessor is S-type (left for
    /// the S-pass); after the S-pass the only non-zero entries are ~p for the LMS positions p, in
    /// sorted order of their LMS substrings. 0 is empty (suffix 0 is never induced in stage 1: it
    /// is not LMS and induces nothing, so leaving it out shifts no LMS substring's relative order).
    static func induceLMSSubstrings<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets) {
        let heads = buckets.heads
        // L-pass: scan left to right; every L-type suffix lands in the free head of its bucket,
        // always to the right of the scan position i.
        buckets.compute(t, n, end: false)
        var c1 = t[n - 1]
        var b = Int(heads[c1])
        // Suffix n-1 (L-type, n >= 2) is the smallest of its bucket.
        do {
            let v = n - 2
            sa[b] = Int32(truncatingIfNeeded: t[v] < c1 ? ~v : v)
            b &+= 1
        }
        var i = 0
        while i < n {
            // sa[i + distance] (if already written) will need T[v-1 ... v]: fetch it now.
            if SAText<Char>.wide {
                if i &+ wideTextDistance < n { t.prefetch(max(Int(sa[i &+ wideTextDistance]) &- 1, 0)) }
                if i &+ wideBucketDistance < n { prefetchWrite(heads + t[min(max(Int(sa[i &+ wideBucketDistance]), 0), n &- 1)]) }
            } else if i &+ prefetchDistance < n {
                t.prefetch(max(Int(sa[i &+ prefetchDistance]) &- 1, 0))
            }
            let v = Int(sa[i])
            if v > 0 {
                // Suffix v+1 is here; suffix v is L-type. Induce it: 1 <= v <= n-2.
                let c0 = t[v]
                if c0 != c1 {
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    c1 = c0
                    b = Int(heads[c1])
                }
                let u = v &- 1  // predecessor of suffix v; S-type iff T[u] < T[v]
                sa[b] = Int32(truncatingIfNeeded: t[u] < c0 ? ~u : u)
                b &+= 1
                sa[i] = 0
            } else if v < 0 {
                sa[i] = Int32(truncatingIfNeeded: ~v)
            }
            i &+= 1
        }
        if Char.self == UInt8.self {
            heads[c1] = Int32(truncatingIfNeeded: b)  // heads = ends of the L-parts now
            sPassByRuns(stage1: true, SAText(UnsafeRawPointer(t.base).assumingMemoryBound(to: UInt8.self)), sa, n: n, buckets: buckets)
            return
        }
        // S-pass (reduced problems; byte texts took sPassByRuns above): scan right to left;
        // every S-type suffix lands in the free tail of its bucket,
        // always to the left of the scan position i. The LMS entries ~p it leaves behind are
        // final when the scan reaches them; it moves them, as p, to sa[top..n-1] (top >= i: the
        // k-th one found comes from a slot <= n-k, all passed), which ends up holding them in
        // sorted order, and compacts them to sa[0..m-1] at the end (no separate scan of SA).
        buckets.compute(t, n, end: true)
        c1 = 0
        b = Int(heads[0])
        i = n - 1
        var top = n
        while i >= 0 {
            // Only 32-bit texts get here (bytes took sPassByRuns): two-stage prefetch.
            if i >= wideTextDistance { t.prefetch(max(Int(sa[i &- wideTextDistance]) &- 1, 0)) }
            if i >= wideBucketDistance { prefetchWrite(heads + t[min(max(Int(sa[i &- wideBucketDistance]), 0), n &- 1)]) }
            let v = Int(sa[i])
            if v > 0 {
                // Suffix v+1 is here; suffix v is S-type. Induce it: 1 <= v <= n-2.
                let c0 = t[v]
                if c0 != c1 {
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    c1 = c0
                    b = Int(heads[c1])
                }
                b &-= 1
                let u = v &- 1
                // If T[u] > T[v] suffix v is LMS: keep it as ~v; otherwise u is S-type too.
                sa[b] = Int32(truncatingIfNeeded: t[u] > c0 ? ~v : u)
                sa[i] = 0
            } else if v < 0 {
                sa[i] = 0
                top &-= 1
                sa[top] = Int32(truncatingIfNeeded: ~v)
            }
            i &-= 1
        }
        // sa[top..n-1] and sa[0..n-top-1] do not overlap: n - top = m <= n/2.
        sa.update(from: sa + top, count: n - top)
    }

    /// Moves the entries ~p (p an LMS position) of sa[0..n-1], in order, to sa[0..m-1] as p, on
    /// all threads of `team`: each compacts its part of SA to the part's start, then the parts'
    /// results are moved down in order (each lands at or left of its own part, after the ones
    /// before it, so no unmoved entry is overwritten).
    static func compactLMS(_ team: InduceTeam, _ sa: UnsafeMutablePointer<Int32>, n: Int, m: Int) {
        let found = UnsafeMutablePointer<Int>.allocate(capacity: team.threads)
        defer { found.deallocate() }
        team.withHelpers(text: nil, sa: sa) {
            team.parallel { k in
                let part = team.chunk(k, of: 0, n)
                var j = part.lowerBound
                for i in part {
                    let v = sa[i]
                    if v < 0 {
                        sa[j] = ~v
                        j &+= 1
                    }
                }
                found[k] = j &- part.lowerBound
            }
        }
        var j = 0
        for k in 0..<team.threads {
            let low = team.chunk(k, of: 0, n).lowerBound
            // Stage 1 leaves exactly m entries; checked so that a broken invariant cannot write
            // past sa[m-1].
            let count = min(found[k], m - j)
            if low != j { sa.advanced(by: j).update(from: sa.advanced(by: low), count: count) }
            j += count
        }
    }

    /// Names the LMS substrings: equal substrings get equal names, in sorted order, from 1.
    /// On return sa[m + p/2] holds the name of the LMS substring at p (0 elsewhere in
    /// sa[m ..< m + n/2]); returns the number of distinct names.
    static func nameLMSSubstrings<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, m: Int, types: SuffixTypes) -> Int {
        // LMS positions are >= 1, <= n-2 and at least 2 apart, so p/2 are distinct and
        // m + p/2 <= m + (n-2)/2 < m + n/2 <= n: only sa[m ..< m + n/2] is used (and cleared).
        (sa + m).update(repeating: 0, count: n >> 1)
        storeLMSLengths(sa, n: n, m: m, types: types, words: 0..<types.wordCount)
        var names = 0
        var q = n  // previous LMS position in sorted order
        var qLength = 0
        for i in 0..<m {
            if i &+ prefetchDistance < m {
                // The LMS substring read `distance` iterations from now: its text and its length slot.
                let ahead = Int(sa[i &+ prefetchDistance])
                t.prefetch(ahead)
                prefetchWrite(UnsafeRawPointer(sa + (m &+ (ahead >> 1))))
            }
            let p = Int(sa[i])
            let pLength = Int(sa[m + (p >> 1)])
            var same = false
            if pLength == qLength && p + pLength < n && q + qLength < n {
                // Both substrings end inside the text: compare T[p..p+len-1] with T[q..q+len-1].
                var j = 0
                while j < pLength && t[p &+ j] == t[q &+ j] { j &+= 1 }
                same = j == pLength
            }
            if !same {
                names += 1
                q = p
                qLength = pLength
            }
            sa[m + (p >> 1)] = Int32(truncatingIfNeeded: names)
        }
        return names
    }

    /// For every LMS position p in words `words` of `types`: sa[m + p/2] = the length of its
    /// LMS substring, including the next LMS character; the last LMS substring runs to the end
    /// (p + length == n), and only it does, because suffix n-1 is never LMS.
    static func storeLMSLengths(_ sa: UnsafeMutablePointer<Int32>, n: Int, m: Int, types: SuffixTypes, words: Range<Int>) {
        var next = types.firstLMS(fromWord: words.upperBound)
        types.forEachLMSRightToLeft(in: words) { p in
            sa[m + (p >> 1)] = Int32(truncatingIfNeeded: next == n ? n - p : next - p + 1)
            next = p
        }
    }

    /// Writes the names (non-zero entries) of sa[low ..< high] minus 1, in order, to
    /// out[0 ..< count] and returns count; writes nothing else. `out` must not overlap
    /// sa[low ..< high] (or lie at or below it).
    ///
    /// Without branches: each slot writes out[j] whether it holds a name or not, and j moves on
    /// only past a name, so the write of an empty slot is overwritten by the next name; the
    /// loop stops at the last name, so nothing past the names is written. (About half of the
    /// slots hold a name, in no pattern: a branch would mispredict half of the time.)
    @discardableResult
    static func gatherNames(_ sa: UnsafeMutablePointer<Int32>, _ low: Int, _ high: Int, into out: UnsafeMutablePointer<Int32>) -> Int {
        var last = high - 1
        while last >= low && sa[last] == 0 { last &-= 1 }
        var j = 0
        var i = low
        while i <= last {
            let v = sa[i]
            out[j] = v &- 1
            j &+= isNonzero(v)
            i &+= 1
        }
        return j
    }

    /// 1 if v != 0, else 0, by arithmetic: the compiler turns `v != 0 ? 1 : 0` into a branch
    /// at times, which data without a pattern mispredicts half of the time.
    @inline(__always)
    static func isNonzero(_ v: Int32) -> Int {
        Int(truncatingIfNeeded: UInt32(bitPattern: v | (0 &- v)) >> 31)
    }

    /// Builds the reduced string (names - 1 of the LMS substrings in text order) in the tail of
    /// the work area, sorts it recursively into sa[0..m-1], and maps the result back to LMS
    /// positions, so that sa[0..m-1] lists the LMS suffixes in sorted order.
    static func solveReduced<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, freeSpace fs: Int, n: Int, m: Int, names: Int,
                                   types: SuffixTypes, team: InduceTeam? = nil) {
        // The reduced string lives in ra[0..m-1] = sa[n+fs-m .. n+fs-1].
        let ra = sa + (n + fs - m)
        let raw = UnsafeRawPointer(sa)
        // Gathers the names in sa[low ..< high] (low >= m), from the top, into ra[... last].
        @inline(__always) func gather(_ low: Int, _ high: Int, last: Int) {
            var j = last
            var i = high - 1
            // Eight slots at a time where all are empty (most of them when LMS positions are
            // sparse, as in images of mostly zeros): sa[i-7 ... i] are all >= low while i-7 >= low.
            while i >= low {
                if i &- 7 >= low {
                    let base = (i &- 7) &* 4
                    let any = raw.loadUnaligned(fromByteOffset: base, as: UInt64.self)
                        | raw.loadUnaligned(fromByteOffset: base &+ 8, as: UInt64.self)
                        | raw.loadUnaligned(fromByteOffset: base &+ 16, as: UInt64.self)
                        | raw.loadUnaligned(fromByteOffset: base &+ 24, as: UInt64.self)
                    if any == 0 {
                        i &-= 8
                        continue
                    }
                }
                let v = sa[i]
                if v != 0 {
                    ra[j] = v &- 1
                    j &-= 1
                }
                i &-= 1
            }
        }
        let namesEnd = m + (n >> 1)
        if n + fs - m < namesEnd {
            // ra overlaps the names. Gathering from the top, each write index n+fs-m+j is >= the
            // read index i, so unread names are never overwritten.
            gather(m, namesEnd, last: m - 1)
        } else if let team {
            // The threads gather their parts independently, each after the names of the parts
            // below it.
            let found = UnsafeMutablePointer<Int>.allocate(capacity: team.threads)
            defer { found.deallocate() }
            team.withHelpers(text: nil, sa: sa) {
                team.parallel { k in
                    var count = 0
                    for i in team.chunk(k, of: m, namesEnd) { count &+= isNonzero(sa[i]) }
                    found[k] = count
                }
                team.startsFromCounts(found)
                team.parallel { k in
                    let part = team.chunk(k, of: m, namesEnd)
                    gatherNames(sa, part.lowerBound, part.upperBound, into: ra + found[k])
                }
            }
        } else {
            gatherNames(sa, m, namesEnd, into: ra)
        }
        // Free space for the sub-problem: sa[m .. n+fs-m-1].
        let subFree = n + fs - 2 * m
        let k = names
        var allocated: UnsafeMutablePointer<Int32>? = nil
        let buckets: SABuckets
        if 2 * k <= subFree {
            let c = sa + (n + fs - m - k)
            buckets = SABuckets(counts: c, heads: c - k, k: k)
        } else if k <= subFree {
            let c = sa + (n + fs - m - k)
            buckets = SABuckets(counts: c, heads: c, k: k)
        } else {
            let c = UnsafeMutablePointer<Int32>.allocate(capacity: k)
            allocated = c
            buckets = SABuckets(counts: c, heads: c, k: k)
        }
        let rt = SAText<Int32>(UnsafePointer(ra))
        if !buckets.recount { buckets.count(rt, m) }
        // The sub-problem may use sa[m .. n+fs-m-1] minus the bucket arrays placed at its top.
        let subFreeAfterBuckets = buckets.recount ? (allocated == nil ? subFree - k : subFree) : subFree - 2 * k
        sort(rt, sa, freeSpace: subFreeAfterBuckets, n: m, buckets: buckets, team: team)
        allocated?.deallocate()
        // ra[j] = the j-th LMS position in text order; then sa[i] = ra[sa[i]].
        @inline(__always) func listLMS(words: Range<Int>, last: Int) {
            var j = last
            types.forEachLMSRightToLeft(in: words) { p in
                ra[j] = Int32(truncatingIfNeeded: p)
                j &-= 1
            }
        }
        // ra = sa[n+fs-m ..< n+fs] lies above sa[0..<m] (2m <= n): the threads only read it.
        @inline(__always) func mapBack(_ range: Range<Int>) {
            for i in range {
                if i &+ prefetchDistance < range.upperBound { prefetchRead(UnsafeRawPointer(ra + Int(sa[i &+ prefetchDistance]))) }
                sa[i] = ra[Int(sa[i])]
            }
        }
        if let team {
            let before = UnsafeMutablePointer<Int>.allocate(capacity: team.threads)
            defer { before.deallocate() }
            team.withHelpers(text: nil, sa: sa) {
                // Each thread lists the LMS positions of its part of the text, after those of
                // the parts before it.
                team.parallel { k in before[k] = types.countLMS(team.chunk(k, of: 0, types.wordCount)) }
                team.startsFromCounts(before)
                team.parallel { k in
                    let words = team.chunk(k, of: 0, types.wordCount)
                    let end = k + 1 < team.threads ? before[k + 1] : m
                    listLMS(words: words, last: end - 1)
                }
                team.parallel { k in mapBack(team.chunk(k, of: 0, m)) }
            }
        } else {
            listLMS(words: 0..<types.wordCount, last: m - 1)
            mapBack(0..<m)
        }
    }

    /// `nameLMSSubstrings` on all threads of `team` (same result): first every thread marks, in
    /// its part of sa[0..<m], the substrings that differ from their predecessor (a bit per
    /// entry, parts aligned to 64 entries so no two threads share a word) and counts them; then
    /// each thread names its part starting from the count of the parts before it.
    static func nameLMSSubstrings<Char>(_ team: InduceTeam, _ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, m: Int,
                                        types: SuffixTypes) -> Int {
        team.withHelpers(text: nil, sa: sa) {
            // See the serial version. Each thread clears its share of the slots, then stores the
            // lengths of the LMS substrings that start in its part of the text.
            team.parallel { k in
                let part = team.chunk(k, of: m, m + (n >> 1))
                (sa + part.lowerBound).update(repeating: 0, count: part.count)
            }
            team.parallel { k in storeLMSLengths(sa, n: n, m: m, types: types, words: team.chunk(k, of: 0, types.wordCount)) }
        }
        let words = (m + 63) / 64
        let flags = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        defer { flags.deallocate() }
        let partNames = UnsafeMutablePointer<Int>.allocate(capacity: team.threads)
        defer { partNames.deallocate() }
        team.withHelpers(text: nil, sa: sa) {
            team.parallel { k in
                let part = team.chunk(k, of: 0, m, align: 64)
                var count = 0
                var i = part.lowerBound
                while i < part.upperBound {
                    let end = min(i &+ 64, part.upperBound)
                    var word: UInt64 = 0
                    for j in i..<end {
                        if j &+ prefetchDistance < part.upperBound {
                            let ahead = Int(sa[j &+ prefetchDistance])
                            t.prefetch(ahead)
                            prefetchRead(UnsafeRawPointer(sa + (m &+ (ahead >> 1))))
                        }
                        let p = Int(sa[j]), pLength = Int(sa[m + (p >> 1)])
                        var differs = true
                        if j > 0 {
                            // sa[j-1] may be in another part: only read here, by every thread.
                            let q = Int(sa[j &- 1]), qLength = Int(sa[m + (q >> 1)])
                            if pLength == qLength && p + pLength < n && q + qLength < n {
                                var l = 0
                                while l < pLength && t[p &+ l] == t[q &+ l] { l &+= 1 }
                                differs = l != pLength
                            }
                        }
                        if differs {
                            word |= 1 << UInt64(j &- i)
                            count &+= 1
                        }
                    }
                    flags[i >> 6] = word
                    i = end
                }
                partNames[k] = count
            }
            team.startsFromCounts(partNames)
            team.parallel { k in
                let part = team.chunk(k, of: 0, m, align: 64)
                var name = partNames[k]
                for j in part {
                    if j &+ prefetchDistance < part.upperBound {
                        prefetchWrite(UnsafeRawPointer(sa + (m &+ (Int(sa[j &+ prefetchDistance]) >> 1))))
                    }
                    name &+= Int((flags[j >> 6] >> UInt64(j & 63)) & 1)
                    sa[m + (Int(sa[j]) >> 1)] = Int32(truncatingIfNeeded: name)
                }
            }
        }
        var names = 0
        for j in 0..<words { names += flags[j].nonzeroBitCount }
        return names
    }

    /// Moves the sorted LMS suffixes sa[0..m-1] to the ends of their buckets (keeping their
    /// order) and clears every other entry. Writes go from the top down and the i-th LMS suffix
    /// belongs at an index >= i, so no unread entry is overwritten.
    static func placeSortedLMS<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, m: Int, buckets: SABuckets) {
        buckets.compute(t, n, end: true)
        let heads = buckets.heads
        var j = n  // sa[j..n-1] is final for this step
        var i = m - 1
        while i >= 0 {
            if i >= prefetchDistance { t.prefetch(Int(sa[i &- prefetchDistance])) }
            let p = Int(sa[i])
            let c = t[p]
            let end = Int(heads[c])
            while j > end {
                j -= 1
                sa[j] = 0
            }
            // Place all LMS suffixes of bucket c.
            var q = p
            while true {
                j -= 1
                sa[j] = Int32(truncatingIfNeeded: q)
                i -= 1
                if i < 0 { break }
                q = Int(sa[i])
                if t[q] != c { break }
            }
        }
        while j > 0 {
            j -= 1
            sa[j] = 0
        }
    }

    /// Stage 3: from the sorted LMS suffixes at the bucket ends, induces the L-type suffixes
    /// (left to right) and then all S-type suffixes (right to left).
    ///
    /// Encoding: during the L-pass an entry j > 0 is suffix j whose predecessor j-1 is L-type
    /// (to be induced now); ~j marks suffix j whose predecessor is S-type (left for the S-pass).
    /// The L-pass flips every entry it passes, so the S-pass sees j > 0 exactly for the suffixes
    /// whose predecessor is S-type; it flips the others back. On return sa holds plain positions.
    static func induceAll<Char>(_ t: SAText<Char>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets) {
        let heads = buckets.heads
        buckets.compute(t, n, end: false)
        var c1 = t[n - 1]
        var b = Int(heads[c1])
        do {
            let j = n - 1  // >= 1
            sa[b] = Int32(truncatingIfNeeded: t[j &- 1] < c1 ? ~j : j)
            b &+= 1
        }
        var i = 0
        while i < n {
            // sa[i + distance] (if already written) will need T[v-2 ... v-1]: fetch it now.
            if SAText<Char>.wide {
                if i &+ wideTextDistance < n { t.prefetch(max(Int(sa[i &+ wideTextDistance]) &- 2, 0)) }
                if i &+ wideBucketDistance < n { prefetchWrite(heads + t[min(max(Int(sa[i &+ wideBucketDistance]) &- 1, 0), n &- 1)]) }
            } else if i &+ prefetchDistance < n {
                t.prefetch(max(Int(sa[i &+ prefetchDistance]) &- 2, 0))
            }
            let v = Int(sa[i])
            sa[i] = Int32(truncatingIfNeeded: ~v)
            if v > 0 {
                let j = v &- 1  // L-type, 0 <= j <= n-2
                let c0 = t[j]
                if c0 != c1 {
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    c1 = c0
                    b = Int(heads[c1])
                }
                sa[b] = Int32(truncatingIfNeeded: (j > 0 && t[j &- 1] < c0) ? ~j : j)
                b &+= 1
            }
            i &+= 1
        }
        if Char.self == UInt8.self {
            heads[c1] = Int32(truncatingIfNeeded: b)  // heads = ends of the L-parts now
            sPassByRuns(stage1: false, SAText(UnsafeRawPointer(t.base).assumingMemoryBound(to: UInt8.self)), sa, n: n, buckets: buckets)
            return
        }
        // S-pass for the reduced problems (byte texts took sPassByRuns above).
        buckets.compute(t, n, end: true)
        c1 = 0
        b = Int(heads[0])
        i = n - 1
        while i >= 0 {
            // Only 32-bit texts get here (bytes took sPassByRuns): two-stage prefetch.
            if i >= wideTextDistance { t.prefetch(max(Int(sa[i &- wideTextDistance]) &- 2, 0)) }
            if i >= wideBucketDistance { prefetchWrite(heads + t[min(max(Int(sa[i &- wideBucketDistance]) &- 1, 0), n &- 1)]) }
            let v = Int(sa[i])
            if v > 0 {
                let j = v &- 1  // S-type, 0 <= j <= n-2
                let c0 = t[j]
                if c0 != c1 {
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    c1 = c0
                    b = Int(heads[c1])
                }
                b &-= 1
                sa[b] = Int32(truncatingIfNeeded: (j == 0 || t[j &- 1] > c0) ? ~j : j)
            } else {
                sa[i] = Int32(truncatingIfNeeded: ~v)
            }
            i &-= 1
        }
    }

    // MARK: Run-aware S-passes (byte texts)
    //
    // The S-part of bucket c holds the S-type suffixes starting with c. Those followed by a
    // larger character ("level 1") are induced from higher buckets, so they are in place when
    // the right-to-left scan reaches bucket c, at its top. The others start with a run of c's:
    // a suffix with k c's before a larger character ("level k") is induced from its successor
    // at level k-1, in the same bucket, and level k sorts just below level k-1, in the same
    // order (that of what follows the runs). The serial pass builds the levels one entry at a
    // time, each read back a few slots after it was written: on long runs (images of mostly
    // zeros) that is a chain of store-to-load dependencies through memory.
    //
    // Here, while the scan passes level 1, the inductions into bucket c itself are held back in
    // a short list (the runs that go on, in order); after level 1 the levels are written from
    // that list and the runs' lengths, each slot once, with the value the scan would leave in
    // it, doing the scan's work for the entries where a run starts (an induction into a lower
    // bucket, or stage 1's LMS marker). Same slots, same values, same order of inductions. If
    // more than `runCapacity` runs go on (short runs, no chain to speak of), the held-back
    // entries are written where the serial pass would have put them and the bucket is scanned
    // the ordinary way.

    static let runCapacity = 256

    /// For T[i] == c: the least j <= i with T[j..i] all c.
    @inline(__always)
    static func exactRunStart(_ t: SAText<UInt8>, _ i: Int, _ c: Int) -> Int {
        var j = runStart(t, i, c)
        while j > 0 && t[j &- 1] == c { j &-= 1 }
        return j
    }

    /// The S-pass of stage 1 (`stage1`, with the compaction of induceLMSSubstrings) or of stage 3
    /// (as in induceAll) over a byte text, run-aware (see above). On entry `buckets.heads` holds
    /// the ends of the L-parts (the L-pass's final pointers).
    @inline(__always)
    static func sPassByRuns(stage1: Bool, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int, buckets: SABuckets) {
        let heads = buckets.heads
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 512) { memory in
          withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * runCapacity) { scratch in
            let lEnd = memory.baseAddress!, ends = lEnd + 256
            let ys = scratch.baseAddress!, floors = ys + runCapacity  // held-back suffixes, run floors
            lEnd.update(from: heads, count: 256)
            buckets.compute(t, n, end: true)
            ends.update(from: heads, count: 256)
            let lag = stage1 ? 1 : 2
            let minimum = stage1 ? 1 : 0  // stage 1 never induces suffix 0
            var c1 = 0
            var b = Int(heads[0])
            var i = n - 1
            var top = n  // stage 1: sa[top..n-1] = the LMS positions found so far (see induceLMSSubstrings)

            // The entry of an S-type suffix y of bucket `c` before the scan passes it.
            @inline(__always) func entry(_ y: Int, _ c: Int) -> Int32 {
                if stage1 { return Int32(truncatingIfNeeded: t[y &- 1] > c ? ~y : y &- 1) }
                return Int32(truncatingIfNeeded: (y == 0 || t[y &- 1] > c) ? ~y : y)
            }
            // Induces S-type suffix y (T[y] = c0) into the tail of bucket c0.
            @inline(__always) func induce(_ y: Int, _ c0: Int) {
                if c0 != c1 {
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    c1 = c0
                    b = Int(heads[c1])
                }
                b &-= 1
                sa[b] = entry(y, c0)
            }

            var c = 255
            while c >= 0 {
                let bucket = c
                let hi = Int(ends[bucket]), lo = bucket > 0 ? Int(ends[bucket - 1]) : 0  // i == hi - 1
                c -= 1
                if hi == lo { continue }
                heads[c1] = Int32(truncatingIfNeeded: b)
                let tail0 = Int(heads[bucket])
                // Hold back inductions into this bucket while the scan is in level 1 (slots >= tail0).
                var holding = tail0 < hi && tail0 > Int(lEnd[bucket])
                var held = 0
                b = Int(heads[c1])
                // The scan's work on slot i: returns the suffix entry sa[i] induces (-1: none).
                @inline(__always) func visit(_ i: Int) -> Int {
                    if i >= prefetchDistance { t.prefetch(max(Int(sa[i &- prefetchDistance]) &- lag, 0)) }
                    let v = Int(sa[i])
                    if stage1 {
                        if v > 0 {
                            sa[i] = 0
                            return v  // suffix v+1 here; suffix v (S-type, 1 <= v <= n-2)
                        } else if v < 0 {
                            sa[i] = 0
                            top &-= 1
                            sa[top] = Int32(truncatingIfNeeded: ~v)
                        }
                        return -1
                    }
                    if v > 0 { return v &- 1 }  // S-type, 0 <= y <= n-2
                    sa[i] = Int32(truncatingIfNeeded: ~v)
                    return -1
                }
                // Level 1, holding back the inductions into this bucket.
                while holding && i >= tail0 {
                    let y = visit(i)
                    i &-= 1
                    if y < 0 { continue }
                    let c0 = t[y]
                    if c0 != bucket {
                        induce(y, c0)
                    } else if held < runCapacity {
                        ys[held] = y
                        held &+= 1
                    } else {
                        // Too many runs: write the held-back entries where the serial pass put
                        // them, and go on the ordinary way.
                        holding = false
                        for q in 0..<held { induce(ys[q], bucket) }
                        induce(y, bucket)
                    }
                }
                if holding && held > 0 {
                    // Level 1 passed (i == tail0 - 1): write levels 2, 3, ... from the held-back runs.
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    var w = tail0
                    for q in 0..<held { floors[q] = max(exactRunStart(t, ys[q], bucket), minimum) }
                    var count = held
                    while count > 0 {
                        // Levels in which every run goes on (y > floor, so T[y-1] == c): the
                        // scan would leave y (stage 3) or 0 (stage 1) there and induce nothing else.
                        var steps = Int.max
                        for q in 0..<count { steps = min(steps, ys[q] &- floors[q]) }
                        precondition(w &- steps &* count &- count >= Int(lEnd[bucket]), "SA-IS: run levels overflow their bucket")
                        for _ in 0..<steps {
                            for q in 0..<count {
                                w &-= 1
                                sa[w] = stage1 ? 0 : Int32(truncatingIfNeeded: ys[q])
                                ys[q] &-= 1
                            }
                        }
                        // One level in which some runs reach their floor: the scan's work there.
                        var kept = 0
                        for q in 0..<count {
                            let y = ys[q]
                            w &-= 1
                            if y > floors[q] {
                                sa[w] = stage1 ? 0 : Int32(truncatingIfNeeded: y)
                                ys[kept] = y &- 1
                                floors[kept] = floors[q]
                                kept &+= 1
                            } else if stage1 {
                                // y >= 1. Entry ~y (LMS: collected) or y-1 (induces suffix y-1
                                // if y-1 >= 1; T[y-1] < c then, unless y-1 is suffix 0).
                                sa[w] = 0
                                if t[y &- 1] > bucket {
                                    top &-= 1
                                    sa[top] = Int32(truncatingIfNeeded: y)
                                } else if y &- 1 > 0 {
                                    induce(y &- 1, t[y &- 1])
                                }
                            } else {
                                // Entry ~y is flipped to y; entry y induces y-1 (T[y-1] < c).
                                sa[w] = Int32(truncatingIfNeeded: y)
                                if y > 0 && t[y &- 1] < bucket { induce(y &- 1, t[y &- 1]) }
                            }
                        }
                        count = kept
                    }
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    heads[bucket] = Int32(truncatingIfNeeded: w)
                    b = Int(heads[c1])
                    i = w &- 1
                }
                // The rest of the bucket, the ordinary way.
                while i >= lo {
                    let y = visit(i)
                    if y >= 0 { induce(y, t[y]) }
                    i &-= 1
                }
            }
            if stage1 {
                // sa[top..n-1] and sa[0..n-top-1] do not overlap: n - top = m <= n/2.
                sa.update(from: sa + top, count: n - top)
            }
          }
        }
    }
}
