#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SuffixArray

/// bsdiff's `search` (Docs/formats/BSDIFF40.md §6) over the suffix array of old, for many positions of new
/// at once. Read-only, shared by all threads of a scan.
struct MatchFinder: @unchecked Sendable {
    let old: UnsafeBufferPointer<UInt8>
    let new: UnsafeBufferPointer<UInt8>
    let sa: UnsafeBufferPointer<Int32>
    let n: Int
    let prefixAware: Bool
    /// Not retained: `Alignment.scan` keeps the keys alive while any finder runs, and `search`
    /// reads them through `_withUnsafeGuaranteedRef`. A strong reference cost a retain and a
    /// release per search batch (1.6 % of `delta create` on L1).
    let keys: Unmanaged<SampledKeys>?

    init(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>,
         prefixAware: Bool, keys: SampledKeys?) {
        self.old = old
        self.new = new
        self.sa = sa
        self.n = old.count
        self.prefixAware = prefixAware
        self.keys = keys.map { Unmanaged.passUnretained($0) }
    }

    /// bsdiff's `I[k]` for k in 0...n: the empty suffix first, then the suffix array.
    @inline(__always) func suffix(_ k: Int) -> Int { k == 0 ? n : Int(sa[k &- 1]) }

    /// Index of the first byte where old[a...] and new[b...] differ, scanning from `from` up to
    /// `limit` (returned when all of them agree); 8 bytes at a time.
    @inline(__always) func mismatch(old a: Int, new b: Int, from: Int, limit: Int) -> Int {
        let p = UnsafeRawPointer(old.baseAddress! + a)
        let q = UnsafeRawPointer(new.baseAddress! + b)
        var i = from
        while i &+ 8 <= limit {
            let x = p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ q.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if x != 0 { return i &+ (UInt64(littleEndian: x).trailingZeroBitCount >> 3) }
            i &+= 8
        }
        while i < limit && p.load(fromByteOffset: i, as: UInt8.self) == q.load(fromByteOffset: i, as: UInt8.self) { i &+= 1 }
        return i
    }

    /// For every slot k of `batch`: the longest match of text = new[start[k] ..< end[k]] in
    /// old, as bsdiff's search finds it: a binary search over I[0...n], going right iff the
    /// suffix at the midpoint compares below the text over the shorter length (or,
    /// prefix-aware, is a proper prefix of it); at the end the longer of the two candidates
    /// wins, ties going to the right one. Each slot follows exactly bsdiff's path; three things
    /// only make it cheaper:
    ///
    /// - Prefix-aware, the search starts between two sampled keys (`SampledKeys`), at most
    ///   fineStride + 1 (17 up to 32 MiB of old) entries apart unless many suffixes share the
    ///   text's first 8 (or, with second keys, 16) bytes; the full search would arrive there (its
    ///   predicate is monotone).
    /// - The slots run in lockstep, one binary-search level for every slot per round: first each
    ///   slot's midpoint suffix is read and its text in old prefetched, then each comparison is
    ///   made, so the cache misses of different slots overlap.
    /// - A comparison skips the bytes it knows are equal: every suffix sorted between I[st] and
    ///   I[en] shares with the text at least min(lcp(I[st], text), lcp(I[en], text)) bytes
    ///   (Manber and Myers), so a level costs the new bytes it compares, not the whole common
    ///   prefix again. The order of the bytes compared after that is memcmp's.
    func search(_ batch: SearchBatch) {
        let count = batch.count
        let st = batch.st, en = batch.en, lcpLow = batch.lcpLow, lcpHigh = batch.lcpHigh, mid = batch.mid
        let textStart = batch.start, textEnd = batch.end
        let sab = sa.baseAddress!, ob = old.baseAddress!, nb = new.baseAddress!
        if let unmanaged = keys {
            unmanaged._withUnsafeGuaranteedRef { keys in
                // Steps 1 and 2 of the key search in two rounds, so the fine windows prefetched
                // in the first arrive while the other slots work.
                for k in 0..<count {
                    let key = SampledKeys.key(nb + textStart[k], available: textEnd[k] &- textStart[k])
                    mid[k] = Int(bitPattern: UInt(key))
                    (st[k], en[k]) = keys.coarseRange(key: key)
                }
                for k in 0..<count {
                    (st[k], en[k]) = keys.bracket(key: UInt64(UInt(bitPattern: mid[k])), lo: st[k], hi: en[k],
                                                  text: nb + textStart[k], available: textEnd[k] &- textStart[k])
                    prefetchRead(sab + max(0, st[k] &- 1))
                    prefetchRead(sab + max(0, en[k] &- 2))
                }
            }
        } else {
            for k in 0..<count {
                st[k] = 0
                en[k] = n
            }
        }
        for k in 0..<count {
            lcpLow[k] = 0
            lcpHigh[k] = 0
        }
        while true {
            var active = 0
            for k in 0..<count {
                let s = st[k], e = en[k]
                guard e &- s >= 2 else { continue }
                active &+= 1
                let x = s &+ (e &- s) >> 1
                let ix = Int(sab[x &- 1])  // x >= 1, and I[x] = SA[x - 1]
                mid[k] = ix
                prefetchRead(ob + (ix &+ min(lcpLow[k], lcpHigh[k])))
                if x &- s >= 2 {  // the SA entries of both possible next midpoints
                    prefetchRead(sab + (s &+ (x &- s) >> 1 &- 1))
                    prefetchRead(sab + (x &+ (e &- x) >> 1 &- 1))
                }
            }
            if active == 0 { break }
            for k in 0..<count {
                let s = st[k], e = en[k]
                guard e &- s >= 2 else { continue }
                let x = s &+ (e &- s) >> 1
                let ix = mid[k], scan = textStart[k]
                let rest = textEnd[k] &- scan
                let limit = min(n &- ix, rest)
                let h = mismatch(old: ix, new: scan, from: min(lcpLow[k], lcpHigh[k], limit), limit: limit)
                // bsdiff: right iff memcmp < 0 over the shorter length. Prefix-aware: a suffix
                // that is a proper prefix of the text is smaller too (a monotone predicate).
                let below = h < limit ? ob[ix &+ h] < nb[scan &+ h] : prefixAware && n &- ix < rest
                if below { st[k] = x; lcpLow[k] = h } else { en[k] = x; lcpHigh[k] = h }
            }
        }
        for k in 0..<count {
            // The lcp values are exact where a comparison set them and 0 (a lower bound) otherwise.
            let a = suffix(st[k]), b = suffix(en[k]), scan = textStart[k], rest = textEnd[k] &- scan
            let limitA = min(n &- a, rest), limitB = min(n &- b, rest)
            let la = mismatch(old: a, new: scan, from: min(lcpLow[k], limitA), limit: limitA)
            let lb = mismatch(old: b, new: scan, from: min(lcpHigh[k], limitB), limit: limitB)
            (batch.length[k], batch.position[k]) = la > lb ? (la, a) : (lb, b)
        }
    }
}

/// Scratch of one thread's lockstep searches: per slot the text (start, end in new), the
/// binary-search state and the result (length, position in old).
final class SearchBatch {
    let capacity: Int
    var count = 0
    let start, end, st, en, lcpLow, lcpHigh, mid, length, position: UnsafeMutablePointer<Int>
    private let memory: UnsafeMutablePointer<Int>

    init(capacity: Int) {
        self.capacity = capacity
        memory = .allocate(capacity: 9 * capacity)
        start = memory
        end = memory + capacity
        st = memory + 2 * capacity
        en = memory + 3 * capacity
        lcpLow = memory + 4 * capacity
        lcpHigh = memory + 5 * capacity
        mid = memory + 6 * capacity
        length = memory + 7 * capacity
        position = memory + 8 * capacity
    }

    /// Frees the scratch (call once, when the thread is done).
    func deallocate() { memory.deallocate() }

    /// Adds slots for the texts new[first + j ..< end], j in 0..<count.
    func append(first: Int, count: Int, stride: Int = 1, end e: Int) {
        precondition(self.count + count <= capacity)
        for j in 0..<count {
            start[self.count + j] = first + j * stride
            end[self.count + j] = e
        }
        self.count += count
    }
}

/// For prefix-aware search: the first 8 bytes of every 16th suffix in suffix-array order (every
/// `fineStride`-th: 32nd or more where old is over 32 MiB, see below), so that a search starts
/// between two entries at most that far apart instead of at the ends of the whole array. Two
/// levels, both sorted (a suffix's key is its first 8 bytes, big-endian, zero-padded past the end
/// of old, so keys never decrease along the suffix array); with s = `fineStride`:
///
/// - `fine[j]` = key of SA[s j] (8 n / s bytes: 15.7 MiB for the 31 MiB kernel; at most 16 MiB);
/// - `coarse[j]` = `fine[16 j]` (at most n / 32 bytes; stays in the second-level cache).
///
/// A search for text with key K reads ~log2(n / 256) coarse keys, then one 16-key window of
/// `fine` (two cache lines), and leaves a bracket of at most s + 1 suffixes, where the byte
/// comparisons of the binary search take over; only suffixes whose key equals K (8 or more
/// bytes in common with the text; 16 or more where second keys exist, below) are left to them
/// beyond that. A key smaller than K means the suffix sorts below the text (or is a proper
/// prefix of it); a larger key means it sorts above, whatever the padding, so the bracket
/// holds exactly the answer of the full search.
///
/// Long runs of equal keys get a second level: where at least `minimumRun` consecutive samples
/// share their key, `second` holds the samples' next 8 bytes (bytes 8-15 of the suffix, padded
/// the same way), and a text with that key is bracketed by its own bytes 8-15 among them. The
/// same argument holds for the 16-byte keys. On the kernel pair most such searches are in the
/// relocation table (24-byte entries of which 8 bytes, the type, are the same): ~137,000 searches
/// in a run of ~190,000 suffixes took ~18 binary-search levels (each a random read of the suffix
/// array and of old) and take ~4 after the second keys, which are read from the cache. The
/// second keys cost at most n / 32 bytes (n / 256 keys at stride 16; less at larger strides);
/// runs whose samples all have the same second key (zero runs, mostly) gain nothing and are left
/// out, and where the budget does not cover every run, the shortest ones are taken first.
///
/// Stride 16 rather than 32 saves one binary-search level, a random read of old, for most
/// searches (L1: 22.5 M levels -> 19.6 M; the scan 0.96 -> 0.88 s median on two threads) for
/// 7.9 MiB more memory. The fine keys take n / 2 bytes at stride 16, which grows with old while
/// the memory budget allows a fixed 64 MiB beyond the images and the suffix array; so the stride
/// doubles until they fit in `fineBudget` (16 MiB: stride 16 up to 32 MiB of old, 32 up to 64;
/// X1's 63 MiB kernel went 2 MiB over 5 x old + new + 64 MiB with stride 16).
final class SampledKeys: @unchecked Sendable {
    static let fineBudget = 16 << 20
    static let coarseStride = 16
    /// Old positions per fine key: 16, or more where old is large (`fineBudget`).
    let fineStride: Int
    let fine: UnsafeMutableBufferPointer<UInt64>
    let coarse: UnsafeMutableBufferPointer<UInt64>
    /// first[p] = the first coarse index whose key starts with two bytes >= p (p in 0...65536),
    /// so the coarse search for a key starting with p covers only coarse[first[p] ... first[p + 1]].
    let first: UnsafeMutableBufferPointer<Int32>
    /// Runs of equal keys with second keys: run r covers samples runStart[r] ..< runEnd[r]
    /// (ascending, disjoint) and their second keys are second[runOffset[r] ...].
    let runStart, runEnd, runOffset: [Int]
    let second: UnsafeMutableBufferPointer<UInt64>
    /// Samples a run of equal keys needs for second keys (2 is the least that can help).
    let minimumRun: Int
    let n: Int

    /// - Parameter minimumRun: equal samples in a row that get second keys, at least 2
    ///   (`AlignmentOptions.secondKeyMinimumRun`; tests lower it to reach the second level on
    ///   small inputs).
    ///   - threads: at most this many threads read the keys (at least 1).
    init(old: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>, minimumRun: Int,
         threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(minimumRun >= 2)
        n = old.count
        fineStride = Self.fineStride(for: n)
        let count = (n + fineStride - 1) / fineStride
        fine = .allocate(capacity: count)
        // One random read of old per key (~1 M of them for 31 MiB): split over the cores.
        let parts = max(1, min(threads, count >> 16))
        nonisolated(unsafe) let f = fine.baseAddress, o = old.baseAddress, s = sa.baseAddress
        let n = old.count, fs = fineStride
        DispatchQueue.concurrentPerform(iterations: parts) { k in
            for j in (count * k / parts)..<(count * (k + 1) / parts) {
                let p = Int(s![j * fs])
                f![j] = Self.key(o! + p, available: n - p)
            }
        }
        let coarseCount = (count + Self.coarseStride - 1) / Self.coarseStride
        coarse = .allocate(capacity: coarseCount)
        for j in 0..<coarseCount { coarse[j] = fine[j * Self.coarseStride] }
        first = .allocate(capacity: 65537)
        var j = 0
        for p in 0...65536 {
            while j < coarseCount && coarse[j] >> 48 < UInt64(p) { j += 1 }
            first[p] = Int32(j)
        }
        self.minimumRun = minimumRun
        (runStart, runEnd, runOffset, second) = Self.secondKeys(old: old, sa: sa, fine: fine, fineStride: fineStride, minimumRun: minimumRun)
    }

    deinit {
        fine.deallocate()
        coarse.deallocate()
        first.deallocate()
        second.deallocate()
    }

    /// The fine stride for `n` bytes of old: 16, doubled while the fine keys (8 bytes each)
    /// would take more than `fineBudget`.
    static func fineStride(for n: Int) -> Int {
        var stride = 16
        while (n + stride - 1) / stride * 8 > fineBudget { stride *= 2 }
        return stride
    }

    /// The key of bytes 8-15 of old[p...] (zero past the end of old).
    @inline(__always) static func secondKey(_ old: UnsafeBufferPointer<UInt8>, _ p: Int) -> UInt64 {
        old.count &- p > 8 ? key(old.baseAddress! + (p &+ 8), available: old.count &- p &- 8) : 0
    }

    /// The runs of at least `minimumRun` equal samples whose second keys are not all equal,
    /// shortest first while they fit in fine.count / 16 second keys (n / 32 bytes at most), and
    /// the second keys of their samples.
    private static func secondKeys(old: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>,
                                   fine: UnsafeMutableBufferPointer<UInt64>, fineStride: Int, minimumRun: Int)
        -> ([Int], [Int], [Int], UnsafeMutableBufferPointer<UInt64>) {
        var runs = [(start: Int, end: Int)]()
        var j = 0
        while j < fine.count {
            var e = j &+ 1
            while e < fine.count && fine[e] == fine[j] { e &+= 1 }
            if e &- j >= minimumRun
                && secondKey(old, Int(sa[j &* fineStride])) != secondKey(old, Int(sa[(e &- 1) &* fineStride])) {
                runs.append((j, e))
            }
            j = e
        }
        runs.sort { ($0.end - $0.start, $0.start) < ($1.end - $1.start, $1.start) }
        var total = 0, taken = 0
        let budget = fine.count / 16
        while taken < runs.count && total + (runs[taken].end - runs[taken].start) <= budget {
            total += runs[taken].end - runs[taken].start
            taken += 1
        }
        runs = runs[..<taken].sorted { $0.start < $1.start }
        let second = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: total)
        var offsets = [Int](), offset = 0
        for r in runs {
            offsets.append(offset)
            for j in r.start..<r.end { second[offset &+ (j &- r.start)] = secondKey(old, Int(sa[j &* fineStride])) }
            offset &+= r.end &- r.start
        }
        return (runs.map(\.start), runs.map(\.end), offsets, second)
    }

    /// The first 8 bytes at `text` (of which `available` exist), big-endian, zero-padded.
    @inline(__always) static func key(_ text: UnsafePointer<UInt8>, available: Int) -> UInt64 {
        if available >= 8 { return UInt64(bigEndian: UnsafeRawPointer(text).loadUnaligned(as: UInt64.self)) }
        var k: UInt64 = 0
        for i in 0..<8 { k = k << 8 | UInt64(i < available ? text[i] : 0) }
        return k
    }

    /// First index in `keys[from..<to]` whose key is >= `k` (or > `k` when `strict`); `to` if none.
    /// Branch-free: each halving is a conditional move, not a branch the processor would
    /// mispredict half of the time.
    @inline(__always) private static func bound(_ keys: UnsafeMutableBufferPointer<UInt64>, _ k: UInt64,
                                                from: Int, to: Int, strict: Bool) -> Int {
        var base = from, len = to &- from
        guard len > 0 else { return from }
        // The answer lies in base ... base + len.
        while len > 1 {
            let half = len >> 1
            let v = keys[base &+ half]
            let right = strict ? v <= k : v < k
            base &+= half & (0 &- Int(right ? 1 : 0))
            len &-= half
        }
        let v = keys[base]
        return base &+ ((strict ? v <= k : v < k) ? 1 : 0)
    }

    /// `from` + the number of keys in `keys[from..<to]` below `k` (at most `k` when `strict`):
    /// the same as `bound` for sorted keys, without a chain of dependent branches (windows of
    /// at most 16 keys).
    @inline(__always) private static func count(_ keys: UnsafeMutableBufferPointer<UInt64>, _ k: UInt64,
                                                from: Int, to: Int, strict: Bool) -> Int {
        var c = from
        var i = from
        while i < to {
            let v = keys[i]
            c &+= strict ? (v <= k ? 1 : 0) : (v < k ? 1 : 0)
            i &+= 1
        }
        return c
    }

    /// Step 1 of a search for a text whose key is `k`: the coarse indices lo (first >= k) and
    /// hi (first > k); prefetches the two windows of `fine` that step 2 reads.
    @inline(__always) func coarseRange(key k: UInt64) -> (lo: Int, hi: Int) {
        // coarse[first[p + 1]] starts with a larger two-byte prefix, so it is > k (or the end).
        let p = Int(k >> 48)
        let from = Int(first[p]), to = Int(first[p &+ 1])
        let lo = Self.bound(coarse, k, from: from, to: to, strict: false)
        let hi = Self.bound(coarse, k, from: lo, to: to, strict: true)
        let cs = Self.coarseStride
        if lo > 0 { prefetchRead(fine.baseAddress! + (cs &* (lo &- 1) &+ 1)) }
        if hi > 0 && hi != lo { prefetchRead(fine.baseAddress! + (cs &* (hi &- 1) &+ 1)) }
        return (lo, hi)
    }

    /// Step 2: (st, en) in bsdiff's I[0...n] (I[0] the empty suffix, I[k] = SA[k - 1]) to start
    /// the prefix-aware search for `text` (of which `available` bytes exist, key `k`): I[st]
    /// sorts below the text (or st = 0), I[en] does not (or en = n).
    @inline(__always) func bracket(key k: UInt64, lo: Int, hi: Int, text: UnsafePointer<UInt8>, available: Int) -> (Int, Int) {
        let cs = Self.coarseStride, fs = fineStride
        // fine[16 (lo - 1)] = coarse[lo - 1] < k <= coarse[lo] = fine[16 lo]; likewise for hi with "<=".
        var fineLo = Self.count(fine, k, from: max(0, cs &* (lo &- 1) &+ 1), to: min(fine.count, cs &* lo), strict: false)
        var fineHi = lo == hi
            ? Self.count(fine, k, from: fineLo, to: min(fine.count, cs &* hi), strict: true)
            : Self.count(fine, k, from: max(0, cs &* (hi &- 1) &+ 1), to: min(fine.count, cs &* hi), strict: true)
        // Samples fineLo ..< fineHi all have key k. If they are a run with second keys, narrow
        // the bracket to the samples whose second keys are below / above the text's: their
        // 16-byte keys order them against the text as 8-byte keys do.
        if fineHi &- fineLo >= minimumRun, let r = run(startingAt: fineLo) {
            let k2 = available > 8 ? Self.key(text + 8, available: available &- 8) : 0
            let base = runOffset[r], length = runEnd[r] &- runStart[r]  // = fineHi - fineLo
            let below = Self.bound(second, k2, from: base, to: base &+ length, strict: false)
            let notAbove = Self.bound(second, k2, from: below, to: base &+ length, strict: true)
            fineLo &+= below &- base
            fineHi = fineLo &+ (notAbove &- below)
        }
        // SA[fs (fineLo - 1)] has a smaller key: below, at I-index fs (fineLo - 1) + 1.
        // SA[fs fineHi] has a larger key: not below, at I-index fs fineHi + 1.
        let st = fineLo == 0 ? 0 : fs &* (fineLo &- 1) &+ 1
        let en = fs &* fineHi < n ? fs &* fineHi &+ 1 : n
        // All keys below: I[n] is below, so I[n - 1] is too; keep st < en as the search does.
        return (min(st, en &- 1), en)
    }

    /// The run with second keys that starts at sample `j`, if any.
    @inline(__always) private func run(startingAt j: Int) -> Int? {
        var low = 0, high = runStart.count
        while low < high {
            let m = (low &+ high) >> 1
            if runStart[m] < j { low = m &+ 1 } else { high = m }
        }
        return low < runStart.count && runStart[low] == j ? low : nil
    }
}
