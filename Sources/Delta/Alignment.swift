#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// One control triple of a BSDIFF40 patch (BSDIFF40.md §3): add `add` bytes (new = old + diff,
/// advancing both cursors), copy `copy` literal bytes from the extra block, then move the old
/// cursor by `seek` (the only field that may be negative).
public struct ControlTriple: Sendable, Hashable {
    /// Bytes produced by the add step (old cursor advances too).
    public var add: Int64
    /// Literal bytes copied from the extra block.
    public var copy: Int64
    /// Signed move of the old cursor after the copy.
    public var seek: Int64

    /// A triple with the given fields.
    public init(add: Int64, copy: Int64, seek: Int64) {
        self.add = add
        self.copy = copy
        self.seek = seek
    }
}

/// Tuning of the alignment scan.
public struct AlignmentOptions: Sendable, Hashable {
    /// A match at least this long that the bsdiff heuristic neither accepts nor rejects is
    /// skipped over (down to its last `longMatchSkip` bytes) instead of being searched again
    /// at every position inside it. Together with `prefixAwareSearch` this removes bsdiff 4.3's
    /// O(run^2 log n) cost on long runs of identical bytes (BSDIFF40.md §6 "Time").
    /// `Int.max` disables the skip.
    public var longMatchSkip: Int = 256

    /// bsdiff's search treats an old suffix that is a proper prefix of the searched text (a
    /// suffix running into the end of old) as "not smaller" and goes left. Such a suffix *is*
    /// smaller, so the search can then miss the longest match entirely: with a run of zeros at
    /// the end of old, every position of a zero run in new finds a 1-byte match after comparing
    /// the whole run at every step (the quadratic case of the P1 sparse image). When true, the
    /// search orders such suffixes correctly, which finds the true longest match and makes
    /// every comparison cost at most the match length. It changes the output only where the
    /// search path meets a suffix that runs into the end of old; `false` is bsdiff 4.3 exactly.
    public var prefixAwareSearch: Bool = true

    /// New files at least this large are scanned in pieces on all cores (each piece against
    /// all of old, starting afresh at old offset 0). Matches cannot cross a piece boundary,
    /// which costs at most a few bytes of patch per boundary. `Int.max` scans on one thread.
    public var parallelMinimumSize: Int = 4 << 20

    /// At most this many pieces for a parallel scan (pieces are at least 1 MiB); each boundary
    /// costs a few bytes of patch at most.
    public var parallelPieces: Int = 32

    /// Threads for a scan in pieces, and for the suffix sort in `Delta.create` (0: one per core).
    public var threads: Int = 0

    /// Pieces of new that one thread scans at the same time, taking turns: their searches run
    /// in lockstep (see `searchBatch`), so one piece's cache misses overlap another's. The
    /// triples do not depend on it.
    public var interleave: Int = 4

    /// Searches for up to this many consecutive positions of one piece run in lockstep, so that
    /// their cache misses on the suffix array and on old overlap instead of queueing one behind
    /// the other. The scan still consumes the results one position at a time with bsdiff's exact
    /// logic, so the triples do not depend on this value; results past the point where the scan
    /// stops searching are thrown away. The batch starts at one search and doubles while the
    /// scan keeps searching, which keeps that waste below the work actually used. 1 searches
    /// one position at a time.
    public var searchBatch: Int = 8

    /// Skip the search at a position of the inner loop whose outcome its neighbours already
    /// decide (see `Scanner.inferable`): the look-ahead then searches every `inferStride`-th
    /// position, and a position in between is searched only when the bounds its neighbours give
    /// on its match length leave the loop's decision open. The triples do not change; it needs the
    /// prefix-aware search, whose lengths are the true longest matches. Tests turn it off to
    /// compare.
    var inferSearches: Bool = true

    /// With `inferSearches`, the look-ahead searches every `inferStride`-th position at most (a
    /// power of two, at least 1) and infers the positions in between where their neighbours
    /// decide them. Where too many of them still need a search of their own (random data:
    /// short matches of varying length), a scanner halves its stride, down to 2, for
    /// `inferCooldown` look-aheads. The triples do not depend on either value.
    public var inferStride: Int = 8

    /// See `inferStride` (tests vary it).
    var inferCooldown: Int = 16

    /// Old files at least this large get `SampledKeys` for the prefix-aware search (tests set
    /// it to 1 or `Int.max` to compare the two paths).
    var sampledKeysMinimumSize: Int = 1 << 12

    /// Equal sampled keys in a row that get second keys (`SampledKeys`; tests lower it to 2).
    var secondKeyMinimumRun: Int = 32

    /// The default options (guarded, linear on long runs).
    public init() {}

    /// bsdiff 4.3's scan exactly: no skip, the original search.
    public static let classic: AlignmentOptions = {
        var o = AlignmentOptions(longMatchSkip: .max, prefixAwareSearch: false)
        o.parallelMinimumSize = .max
        return o
    }()

    /// Options with the given skip threshold (must be >= 1) and search variant.
    public init(longMatchSkip: Int, prefixAwareSearch: Bool = true) {
        precondition(longMatchSkip >= 1)
        self.longMatchSkip = longMatchSkip
        self.prefixAwareSearch = prefixAwareSearch
    }
}

/// bsdiff's alignment (BSDIFF40.md §6): walks `new` left to right, finds for each position the
/// longest match in `old` by binary search over the suffix array, and cuts `new` into
/// segments "approximately equal to old at some offset" (the add part) and "literal" (the copy
/// part), the control triples of a BSDIFF40 patch.
///
/// This is the classic bsdiff 4.3 scan: same search, same `oldscore`/`lastoffset` heuristic with
/// the constant 8, same forward/backward extension and overlap split, same tie-breaking. With
/// `AlignmentOptions.classic` it yields the exact triples of Debian's bsdiff 4.3; the default
/// adds two guards against long runs (see `AlignmentOptions`) and yields the same triples on
/// ordinary binaries (checked against Debian bsdiff on real kernel modules in the tests).
/// Large inputs are scanned in pieces; only the piece boundaries differ from one whole scan.
public enum Alignment {
    /// The control triples that turn `old` into `new`.
    ///
    /// - Parameters:
    ///   - suffixArray: `SuffixArray.build(old)`: `SA[0..n-1]`, the non-empty suffixes of
    ///     `old` in order. (bsdiff's `I` has the empty suffix in front, `I[0] = n`; the search
    ///     here supplies it virtually, without copying the array.)
    ///   - progress: called with the number of `new` bytes scanned so far (possibly from
    ///     two threads, never concurrently).
    /// - Returns: triples whose add and copy lengths sum to `new.count`, whose adds read
    ///   only `old[0..<n]`, and with no trailing triple that produces nothing. Empty `new` gives
    ///   no triples.
    /// - Precondition: `suffixArray.count == old.count`, `old.count < Int32.max`.
    public static func triples(
        old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, suffixArray: UnsafeBufferPointer<Int32>,
        options: AlignmentOptions = AlignmentOptions(), progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> [ControlTriple] {
        scan(old: old, new: new, suffixArray: suffixArray, options: options, progress: progress).triples
    }

    /// `triples(old:new:suffixArray:options:progress:)`, and how many positions of new needed
    /// no search (`AlignmentOptions.inferSearches`).
    static func scan(
        old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, suffixArray: UnsafeBufferPointer<Int32>,
        options: AlignmentOptions, progress: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> (triples: [ControlTriple], inferred: Int) {
        precondition(suffixArray.count == old.count, "suffix array does not belong to old")
        let keys = options.prefixAwareSearch && old.count >= max(1, options.sampledKeysMinimumSize) ? SampledKeys(old: old, sa: suffixArray, minimumRun: options.secondKeyMinimumRun) : nil
        let finder = MatchFinder(old: old, new: new, sa: suffixArray, prefixAware: options.prefixAwareSearch, keys: keys)
        let m = new.count
        // Pieces of new scanned independently (each against all of old), taken from one list
        // by the cores as they free up, so an uneven piece does not leave a core idle.
        let pieces = m >= options.parallelMinimumSize && m >= 2
            ? max(2, min(options.parallelPieces, m / max(1, min(1 << 20, options.parallelMinimumSize / 2)))) : 1
        let bounds = (0...pieces).map { m * $0 / pieces }
        let cores = options.threads > 0 ? options.threads : ProcessInfo.processInfo.activeProcessorCount
        let threads = pieces == 1 ? 1 : min(pieces, max(1, cores))
        let plan = ScanPlan(bounds: bounds, progress: ProgressSum(parts: pieces, report: progress))
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            ScanDriver(finder: finder, options: options, plan: plan).run()
        }
        return (join((0..<pieces).map { plan.results.get($0) }), plan.results.inferred)
    }

    /// Concatenates the triples of consecutive pieces, each of which starts at old offset 0.
    /// Invariant: `oldEnd` is the old cursor after applying all of `out` (seeks included).
    static func join(_ pieces: [[ControlTriple]]) -> [ControlTriple] {
        var out = [ControlTriple]()
        var oldEnd: Int64 = 0
        for piece in pieces {
            var rest = piece[...]
            if !out.isEmpty {
                // End the previous piece at old offset 0, where this piece's triples start.
                out[out.count - 1].seek -= oldEnd
                // A piece starting with a pure copy joins the previous triple (same output,
                // one triple less): add x, copy y1 + y2, then both seeks.
                if let head = rest.first, head.add == 0 {
                    out[out.count - 1].copy += head.copy
                    out[out.count - 1].seek += head.seek
                    rest = rest.dropFirst()
                }
            }
            out += rest
            oldEnd = piece.reduce(0) { $0 + $1.add + $1.seek }
        }
        return out
    }

    /// Array convenience for `triples(old:new:suffixArray:options:progress:)`.
    public static func triples(old: [UInt8], new: [UInt8], suffixArray: [Int32],
                               options: AlignmentOptions = AlignmentOptions()) -> [ControlTriple] {
        old.withUnsafeBufferPointer { o in
            new.withUnsafeBufferPointer { nw in
                suffixArray.withUnsafeBufferPointer { sa in triples(old: o, new: nw, suffixArray: sa, options: options) }
            }
        }
    }
}

/// The pieces of one scan, shared by its threads: which piece is next, and what each produced.
final class ScanPlan: @unchecked Sendable {
    let bounds: [Int]
    let progress: ProgressSum
    let results: TripleSlots
    private let lock = NSLock()
    private var next = 0

    init(bounds: [Int], progress: ProgressSum) {
        self.bounds = bounds
        self.progress = progress
        self.results = TripleSlots(count: bounds.count - 1)
    }

    /// The next piece nobody has taken yet, or nil.
    func take() -> Int? {
        lock.withLock {
            guard next < bounds.count - 1 else { return nil }
            next += 1
            return next - 1
        }
    }
}

/// One thread of a scan: keeps up to `interleave` pieces going, and in each round lets every
/// piece run until it needs a search whose result it does not have, then makes all those
/// searches (plus each piece's speculative look-ahead) in one lockstep batch.
struct ScanDriver {
    let finder: MatchFinder
    let options: AlignmentOptions
    let plan: ScanPlan

    func run() {
        let lanes = max(1, options.interleave)
        let lookAhead = max(1, options.searchBatch)
        let progress = plan.progress
        let batch = SearchBatch(capacity: lanes * lookAhead)
        defer { batch.deallocate() }
        // Each lane's result cache: 2 x lookAhead Ints, reused by the pieces it takes in turn.
        let caches = UnsafeMutablePointer<Int>.allocate(capacity: 2 * lookAhead * lanes)
        defer { caches.deallocate() }
        var freeCaches = (0..<lanes).map { caches + 2 * lookAhead * $0 }
        var active = [(piece: Int, scanner: Scanner)]()
        var requested = [(lane: Int, first: Int, count: Int, stride: Int)]()
        var exhausted = false
        while true {
            while active.count < lanes && !exhausted {
                guard let k = plan.take() else { exhausted = true; break }
                active.append((k, Scanner(finder: finder, range: plan.bounds[k]..<plan.bounds[k + 1],
                                          options: options, lookAhead: lookAhead, cache: freeCaches.removeLast())))
            }
            if active.isEmpty { return }
            batch.count = 0
            requested.removeAll(keepingCapacity: true)
            var lane = 0
            while lane < active.count {
                let piece = active[lane].piece
                guard let (first, count, stride) = active[lane].scanner.advance(progress: progress, piece: piece) else {
                    plan.results.set(piece, active[lane].scanner.finish(), inferred: active[lane].scanner.inferred)
                    freeCaches.append(active[lane].scanner.cache)
                    progress.add(part: piece, plan.bounds[piece + 1] - plan.bounds[piece])
                    active.remove(at: lane)
                    continue
                }
                requested.append((lane, first, count, stride))
                batch.append(first: first, count: count, stride: stride, end: active[lane].scanner.end)
                lane += 1
            }
            if requested.isEmpty { continue }
            finder.search(batch)
            var slot = 0
            for r in requested {
                active[r.lane].scanner.store(first: r.first, count: r.count, stride: r.stride, from: batch, slot: slot)
                slot += r.count
            }
        }
    }
}

/// The scan of one piece `new[start..<end]` as a state machine: `advance` runs bsdiff's loop
/// until it needs a search result it has not got and returns the positions to search; the
/// driver searches them and hands the results back with `store`. Positions are absolute
/// offsets into new; `old` is searched whole.
struct Scanner {
    let finder: MatchFinder
    let start: Int
    let end: Int
    let skip: Int
    let lookAhead: Int
    let infer: Bool
    var out = [ControlTriple]()

    // bsdiff's variables (piece-relative: scan 0 is new[start]).
    var scan = 0, len = 0, pos = 0
    var lastscan = 0, lastpos = 0, lastoffset = 0
    var oldscore = 0, scsc = 0
    /// Searches made in the current inner loop (sets the look-ahead).
    var searched = 0
    /// True while the inner loop waits for the search at `scan`.
    var inInner = false
    /// The position whose search gave the current `len` (-1: none in this inner loop).
    var searchedAt = -1
    var reported = 0
    // Results of the last look-ahead batch: positions cacheFirst + j * cacheStride for j in
    // 0..<cacheCount, lengths in cache[0..<lookAhead], positions in cache[lookAhead...] (owned
    // by the driver); and of the last single search, made for a position between two of them.
    var cacheFirst = 0
    var cacheCount = 0
    var cacheStride = 1
    /// The largest look-ahead stride when inferring (a power of two), the current one, and
    /// how many look-aheads remain before a halved stride goes back up.
    let inferStride: Int
    var stride: Int
    var cooldown = 0
    let cooldownLength: Int
    /// Positions of the last look-ahead, and single searches since it.
    var lastLookCount = 0
    var singlesSinceLook = 0
    let cache: UnsafeMutablePointer<Int>
    var single = (at: -1, len: 0, pos: 0)
    /// Positions of this piece whose search `inferable` made unnecessary.
    var inferred = 0

    init(finder: MatchFinder, range: Range<Int>, options: AlignmentOptions, lookAhead: Int,
         cache: UnsafeMutablePointer<Int>) {
        self.finder = finder
        self.cache = cache
        self.start = range.lowerBound
        self.end = range.upperBound
        self.skip = options.longMatchSkip
        self.lookAhead = lookAhead
        self.infer = options.inferSearches && finder.prefixAware
        precondition(options.inferStride > 0 && options.inferStride & (options.inferStride - 1) == 0,
                     "inferStride must be a power of two")
        self.inferStride = options.inferStride
        self.stride = options.inferStride
        self.cooldownLength = max(1, options.inferCooldown)
    }

    var m: Int { end - start }
    var old: UnsafeBufferPointer<UInt8> { finder.old }
    var n: Int { finder.n }
    @inline(__always) func new(_ i: Int) -> UInt8 { finder.new[start + i] }

    /// #{i in [from, to) : old[i + offset] == new[i]} (positions past the end of old do not
    /// match), 8 bytes at a time. Requires from + offset >= 0.
    @inline(__always) func countMatches(from: Int, to: Int, offset: Int) -> Int {
        let end = min(to, n - offset)
        guard end > from else { return 0 }
        let p = UnsafeRawPointer(old.baseAddress! + (from + offset))
        let q = UnsafeRawPointer(finder.new.baseAddress! + (start + from))
        let count = end - from
        var i = 0, equal = 0
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        while i &+ 8 <= count {
            let x = p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ q.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // High bit of each byte set iff that byte of x is zero (the bytes are equal).
            let zero = ~(((x & low7) &+ low7) | x | low7)
            equal &+= zero.nonzeroBitCount
            i &+= 8
        }
        while i < count {
            if p.load(fromByteOffset: i, as: UInt8.self) == q.load(fromByteOffset: i, as: UInt8.self) { equal &+= 1 }
            i &+= 1
        }
        return equal
    }

    @inline(__always) func oldMatches(_ i: Int, offset: Int) -> Bool {
        let j = i + offset
        return j < n && old[j] == new(i)
    }

    /// Copies the results for the absolute positions `first + j * stride`, j in 0..<count, out
    /// of `batch`: a single search (stride 0) into `single`, a look-ahead into the cache.
    mutating func store(first: Int, count: Int, stride: Int, from batch: SearchBatch, slot: Int) {
        if stride == 0 {
            single = (first - start, batch.length[slot], batch.position[slot])
            return
        }
        cacheFirst = first - start
        cacheCount = count
        cacheStride = stride
        (cache).update(from: batch.length + slot, count: count)
        (cache + lookAhead).update(from: batch.position + slot, count: count)
    }

    /// The cache slot holding the search result for piece position `i`, or nil (strides are
    /// powers of two).
    @inline(__always) func cached(_ i: Int) -> Int? {
        let d = i - cacheFirst
        guard d >= 0, d & (cacheStride - 1) == 0 else { return nil }
        let j = d >> cacheStride.trailingZeroBitCount
        return j < cacheCount ? j : nil
    }

    /// The cache slot of the first cached position after piece position `i`, or nil.
    @inline(__always) func cached(after i: Int) -> Int? {
        let d = i + 1 - cacheFirst
        let j = d <= 0 ? 0 : (d + cacheStride - 1) >> cacheStride.trailingZeroBitCount
        return j < cacheCount ? j : nil
    }

    /// Runs the scan until it needs a search result it does not have; returns (absolute first
    /// position, count, stride) of the positions to search next (stride 0: one position, kept
    /// apart from the look-ahead), or nil when the piece is done. Reports progress of `piece`.
    mutating func advance(progress: ProgressSum, piece: Int) -> (Int, Int, Int)? {
        while true {
            if inInner {
                // An earlier position of this inner loop was searched (the anchor, bounding the
                // length here from below), a later one too (bounding it from above): perhaps
                // this position needs no search.
                let anchored = infer && searchedAt >= 0
                if let c = cached(scan) {
                    len = cache[c]
                    pos = cache[lookAhead + c]
                } else if single.at == scan {
                    len = single.len
                    pos = single.pos
                } else if anchored, let c = cached(after: scan) {
                    let next = cacheFirst + c * cacheStride
                    guard inferable(low: len - (scan - searchedAt), high: cache[c] + (next - scan)) else {
                        singlesSinceLook += 1
                        return (start + scan, 1, 0)
                    }
                    // The loop goes on whatever the length here: bsdiff's step without it.
                    // oldscore and scsc catch up at the next searched position (see `inferable`).
                    if oldMatches(scan, offset: lastoffset) { oldscore -= 1 }
                    scan += 1
                    searched += 1
                    inferred += 1
                    continue
                } else {
                    // Look ahead: every position, or every `stride`-th one when the ones in
                    // between can be inferred (then the first is `stride` past the anchor).
                    // More single searches than look-ahead ones last time: halve the stride
                    // for a while.
                    if !infer {
                        stride = 1
                    } else if singlesSinceLook > lastLookCount && stride > 2 {
                        stride >>= 1
                        cooldown = cooldownLength
                    } else if stride < inferStride {
                        cooldown -= 1
                        if cooldown == 0 { stride = inferStride }
                    }
                    singlesSinceLook = 0
                    let first = anchored && scan + stride - 1 < m ? scan + stride - 1 : scan
                    let count = min((m - first + stride - 1) / stride, lookAhead, 1 << min(searched, 6))
                    lastLookCount = count
                    return (start + first, count, stride)
                }
                searchedAt = scan
                searched += 1
                if innerStep() {  // inner loop left
                    inInner = false
                    emitIfNeeded()
                } else {
                    if scan - reported >= 1 << 20 { reported = scan; progress.add(part: piece, scan) }
                    continue
                }
            }
            // Top of bsdiff's outer loop.
            guard scan < m else { return nil }
            oldscore = 0
            scan += len
            scsc = scan
            searched = 0
            searchedAt = -1
            if scan < m {
                inInner = true
            } else {
                emitIfNeeded()
            }
        }
    }

    /// Whether the inner loop, at `scan` (not yet searched), goes on to `scan + 1` whatever the
    /// search at `scan` would give, given bounds `low ... high` on its length L.
    ///
    /// The prefix-aware search finds the true longest match, so lengths bound each other: for
    /// positions a < q < b, L(q) >= L(a) - (q - a) (the match found at a, continued) and
    /// L(q) <= L(b) + (b - q) (a match at q, continued to b). `advance` takes a from the last
    /// searched position of the inner loop (`searchedAt`, whose length is `len`) and b from
    /// the nearest searched position after `scan`.
    ///
    /// If no L in the range ends the loop (bsdiff's test, with oldscore extended to scan + L
    /// as the step would) and none takes the long-match skip, the step is `scan += 1` and
    /// `oldscore -= 1` for a match at lastoffset, and nothing else. The extension of oldscore
    /// and scsc up to scan + L is left to a later step: every position p skipped this way has
    /// p + L(p) <= q + L(q) for any later q, so the next searched position extends them at
    /// least as far and ends in bsdiff's state; and the test here, run with scsc lagging
    /// behind, gives bsdiff's score for the true L (the lag lies below scan + L). oldscore is
    /// kept as (matches counted up to scsc) - (matches at the positions passed), which is
    /// exact again once scsc catches up, even where it briefly lies behind `scan`.
    ///
    /// The test is made at the ends of the range only: d(l) = l - score(l), score extended to
    /// scan + l, never decreases and grows by at most 1 from l to l + 1 (each step adds at
    /// most one match). So some l in the range has d(l) = 0 iff d(low) <= 0 <= d(high), and
    /// d(l) > 8 for some l iff d(high) > 8. l = 0 never ends the loop (the test needs
    /// len != 0), so the range starts at 1.
    func inferable(low lowBound: Int, high: Int) -> Bool {
        let low = max(1, lowBound)
        guard high <= skip else { return false }
        guard low <= high else { return true }
        // score(l) = oldscore + #matches in [scsc, scan + l) where scan + l > scsc.
        let atLow = oldscore + (scan + low > scsc ? countMatches(from: scsc, to: scan + low, offset: lastoffset) : 0)
        let atHigh = atLow + (scan + high > max(scsc, scan + low)
            ? countMatches(from: max(scsc, scan + low), to: scan + high, offset: lastoffset) : 0)
        let dLow = low - atLow, dHigh = high - atHigh
        return dHigh <= 8 && (dLow > 0 || dHigh < 0)
    }

    /// One pass of bsdiff's inner loop body with (len, pos) the search result at `scan`.
    /// Returns true when the inner loop ends (a match worth switching to, or the end of new).
    /// Invariant: oldscore = #{i in [scan, scsc) : old[i+lastoffset] == new[i]}, scsc >= scan + len.
    mutating func innerStep() -> Bool {
        if scsc < scan + len {
            oldscore += countMatches(from: scsc, to: scan + len, offset: lastoffset)
            scsc = scan + len
        }
        if (len == oldscore && len != 0) || len > oldscore + 8 { return true }
        if oldMatches(scan, offset: lastoffset) { oldscore -= 1 }
        if len > skip {
            // Long-run guard: jump to the last `skip` bytes of this match, updating
            // oldscore exactly as single steps would (all skipped i are < scsc).
            let target = scan + len - skip
            if target > scan + 1 { oldscore -= countMatches(from: scan + 1, to: target, offset: lastoffset) }
            scan = target
        } else {
            scan += 1
        }
        return scan >= m
    }

    /// The end of bsdiff's outer loop: unless the scan simply continues at lastoffset, extend
    /// the previous match forward and this one backward, split their overlap, emit a triple.
    mutating func emitIfNeeded() {
        guard len != oldscore || scan == m else { return }

        // Forward extension from (lastscan, lastpos): the length maximising 2*matches - length.
        let ob = old.baseAddress!, nb = finder.new.baseAddress! + start
        var lenf = Self.extend(ob + lastpos, nb + lastscan, count: min(scan - lastscan, n - lastpos), backward: false)

        // Backward extension from (scan, pos), same criterion.
        var lenb = 0
        if scan < m {
            lenb = Self.extend(ob + pos, nb + scan, count: min(scan - lastscan, pos), backward: true)
        }

        // Overlap: split where the forward side stops being at least as good.
        if lastscan + lenf > scan - lenb {
            let overlap = (lastscan + lenf) - (scan - lenb)
            var s = 0
            var ss = 0, lens = 0
            for k in 0..<overlap {
                if new(lastscan + lenf - overlap + k) == old[lastpos + lenf - overlap + k] { s += 1 }
                if new(scan - lenb + k) == old[pos - lenb + k] { s -= 1 }
                if s > ss { ss = s; lens = k + 1 }
            }
            lenf += lens - overlap
            lenb -= lens
        }

        out.append(ControlTriple(add: Int64(lenf), copy: Int64((scan - lenb) - (lastscan + lenf)),
                                 seek: Int64((pos - lenb) - (lastpos + lenf))))
        lastscan = scan - lenb
        lastpos = pos - lenb
        lastoffset = pos - scan
    }

    /// bsdiff's extension of a match: the first k in 0...count maximising 2 * matches(k) - k,
    /// where matches(k) counts the j < k with a[j] == b[j], reading a and b forward from the
    /// pointers, or backward from the byte before them. Eight bytes at a time where they all
    /// agree (the score rises at every one, so only the last can be a new maximum) or all
    /// differ (it falls at every one: none can be); byte by byte otherwise.
    static func extend(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, count: Int, backward: Bool) -> Int {
        var s = 0, k = 0, bestScore = 0, best = 0
        /// Takes `width` bytes of which `matches` agree, the score's maximum (if new) at the end.
        @inline(__always) func take(_ width: Int, _ matches: Int) {
            s &+= matches
            k &+= width
            if 2 &* s &- k > bestScore { bestScore = 2 &* s &- k; best = k }
        }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while k &+ 8 <= count {
            let off = backward ? -k &- 8 : k
            let x = UnsafeRawPointer(a + off).loadUnaligned(as: UInt64.self) ^ UnsafeRawPointer(b + off).loadUnaligned(as: UInt64.self)
            if x == 0 {
                take(8, 8)
            } else if (x &- ones) & ~x & highs == 0 {  // no zero byte: all eight differ
                k &+= 8
            } else {
                for _ in 0..<8 {
                    let j = backward ? -k &- 1 : k
                    take(1, a[j] == b[j] ? 1 : 0)
                }
            }
        }
        while k < count {
            let j = backward ? -k &- 1 : k
            take(1, a[j] == b[j] ? 1 : 0)
        }
        return best
    }

    /// The piece's triples, without a final triple that produces nothing (a surplus triple
    /// for Debian bspatch, BSDIFF40.md §5).
    mutating func finish() -> [ControlTriple] {
        while let last = out.last, last.add == 0, last.copy == 0 { out.removeLast() }
        return out
    }
}

/// Sums progress of the pieces of a parallel scan.
final class ProgressSum: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [Int]
    private var total = 0
    private let report: @Sendable (Int) -> Void
    init(parts: Int, report: @escaping @Sendable (Int) -> Void) {
        self.parts = Array(repeating: 0, count: parts)
        self.report = report
    }
    func add(part: Int, _ done: Int) {
        lock.withLock {
            total += done - parts[part]
            parts[part] = done
            report(total)
        }
    }
}

/// The triples of the pieces of a parallel scan.
final class TripleSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [[ControlTriple]]
    private var inferredSum = 0
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func set(_ k: Int, _ t: [ControlTriple], inferred: Int) {
        lock.withLock {
            slots[k] = t
            inferredSum += inferred
        }
    }
    /// Positions of all pieces that needed no search.
    var inferred: Int { lock.withLock { inferredSum } }
    func get(_ k: Int) -> [ControlTriple] { lock.withLock { slots[k] } }
}
