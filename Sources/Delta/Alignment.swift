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

    /// At most this many pieces for a parallel scan (pieces are at least half of
    /// `parallelMinimumSize`); each boundary costs a few bytes of patch at most.
    public var parallelPieces: Int = 8

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
        precondition(suffixArray.count == old.count, "suffix array does not belong to old")
        let buckets = options.prefixAwareSearch && old.count >= 1 << 16 ? PrefixBuckets(old: old, sa: suffixArray) : nil
        let m = new.count
        guard m >= options.parallelMinimumSize, m >= 2 else {
            var scanner = Scanner(old: old, new: new, sa: suffixArray, options: options, buckets: buckets)
            return scanner.run(progress: progress)
        }
        // Pieces of new scanned independently (each against all of old), handed out to the
        // cores as they free up, so an uneven piece does not leave a core idle.
        let pieces = max(2, min(options.parallelPieces, m / max(1, options.parallelMinimumSize / 2)))
        let bounds = (0...pieces).map { m * $0 / pieces }
        let scanners = (0..<pieces).map { k in
            Scanner(old: old, new: UnsafeBufferPointer(rebasing: new[bounds[k]..<bounds[k + 1]]), sa: suffixArray,
                    options: options, buckets: buckets)
        }
        let done = ProgressSum(parts: pieces, report: progress)
        let results = TripleSlots(count: pieces)
        DispatchQueue.concurrentPerform(iterations: pieces) { k in
            var scanner = scanners[k]
            results.set(k, scanner.run { done.add(part: k, $0) })
        }
        return join((0..<pieces).map { results.get($0) })
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

/// The scan state. All indices are `Int`; `old` has n bytes, `new` m bytes. Sendable because
/// the buffers it reads are never written while a scan runs.
struct Scanner: @unchecked Sendable {
    let old: UnsafeBufferPointer<UInt8>
    let new: UnsafeBufferPointer<UInt8>
    let sa: UnsafeBufferPointer<Int32>
    let n: Int
    let m: Int
    let skip: Int
    let prefixAware: Bool
    let buckets: PrefixBuckets?

    init(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>,
         options: AlignmentOptions, buckets: PrefixBuckets?) {
        self.old = old
        self.new = new
        self.sa = sa
        self.n = old.count
        self.m = new.count
        self.skip = options.longMatchSkip
        self.prefixAware = options.prefixAwareSearch
        self.buckets = buckets
    }

    /// bsdiff's `I[k]` for k in 0...n: the empty suffix first, then the suffix array.
    @inline(__always) func suffix(_ k: Int) -> Int { k == 0 ? n : Int(sa[k - 1]) }

    /// Length of the common prefix of old[a..<n] and new[b..<m], compared 8 bytes at a time.
    @inline(__always) func matchLength(old a: Int, new b: Int) -> Int {
        let limit = min(n - a, m - b)
        guard limit > 0 else { return 0 }
        let p = UnsafeRawPointer(old.baseAddress! + a)
        let q = UnsafeRawPointer(new.baseAddress! + b)
        var i = 0
        while i + 8 <= limit {
            let x = p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ q.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if x != 0 { return i + (UInt64(littleEndian: x).trailingZeroBitCount >> 3) }
            i += 8
        }
        while i < limit && p.load(fromByteOffset: i, as: UInt8.self) == q.load(fromByteOffset: i, as: UInt8.self) { i += 1 }
        return i
    }

    /// bsdiff's `search` (BSDIFF40.md §6): binary search over I[0...n] for new[scan..<m],
    /// going right iff the suffix at the midpoint compares below new over the shorter length
    /// (or, prefix-aware, is a proper prefix of it); at the end the longer of the two
    /// candidates wins, ties going to the right one.
    /// Returns (length, position in old).
    @inline(__always) func search(_ scan: Int) -> (len: Int, pos: Int) {
        var st = 0, en = n
        let rest = m - scan
        let np = new.baseAddress! + scan
        if let buckets, rest >= 2 {
            // Prefix-aware search has a monotone predicate, so its final (st, en) does not
            // depend on the path: start inside the bucket of suffixes sharing new's first two bytes.
            (st, en) = buckets.range(np[0], np[1], n: n)
        }
        // Invariant: the answer lies between I[st] and I[en] in suffix order (en - st shrinks by half).
        while en - st >= 2 {
            let x = st + (en - st) / 2
            // Prefetch the SA entries of both possible next midpoints while this level compares.
            if x - st >= 2, let b = sa.baseAddress {
                deltaPrefetch(b + (st + (x - st) / 2 - 1))
                deltaPrefetch(b + (x + (en - x) / 2 - 1))
            }
            let ix = suffix(x)
            let len = min(n - ix, rest)
            let c = len > 0 ? memcmp(old.baseAddress! + ix, np, len) : 0
            // bsdiff: right iff c < 0. Prefix-aware: a suffix that is a proper prefix of
            // new[scan..<m] (c == 0, shorter) is smaller too, which keeps the predicate monotone.
            if c < 0 || (prefixAware && c == 0 && n - ix < rest) { st = x } else { en = x }
        }
        let a = suffix(st), b = suffix(en)
        let la = matchLength(old: a, new: scan), lb = matchLength(old: b, new: scan)
        return la > lb ? (la, a) : (lb, b)
    }

    @inline(__always) func oldMatches(_ i: Int, offset: Int) -> Bool {
        let j = i + offset
        return j < n && old[j] == new[i]
    }

    mutating func run(progress: (Int) -> Void) -> [ControlTriple] {
        var out = [ControlTriple]()
        guard m > 0 else { return out }
        var scan = 0, len = 0, pos = 0
        var lastscan = 0, lastpos = 0, lastoffset = 0
        var reported = 0
        while scan < m {
            var oldscore = 0
            scan += len
            var scsc = scan
            // Find the next position where a match is clearly better than continuing at
            // lastoffset. Invariant: oldscore = #{i in [scan, scsc) : old[i+lastoffset] == new[i]},
            // scsc >= scan + len.
            while scan < m {
                (len, pos) = search(scan)
                while scsc < scan + len {
                    if oldMatches(scsc, offset: lastoffset) { oldscore += 1 }
                    scsc += 1
                }
                if (len == oldscore && len != 0) || len > oldscore + 8 { break }
                if oldMatches(scan, offset: lastoffset) { oldscore -= 1 }
                if len > skip {
                    // Long-run guard: jump to the last `skip` bytes of this match, updating
                    // oldscore exactly as single steps would (all skipped i are < scsc).
                    let target = scan + len - skip
                    var i = scan + 1
                    while i < target {
                        if oldMatches(i, offset: lastoffset) { oldscore -= 1 }
                        i += 1
                    }
                    scan = target
                } else {
                    scan += 1
                }
                if scan - reported >= 1 << 20 { reported = scan; progress(scan) }
            }

            guard len != oldscore || scan == m else { continue }

            // Forward extension from (lastscan, lastpos): the length maximising 2*matches - length.
            var s = 0, sf = 0, lenf = 0
            var i = 0
            while lastscan + i < scan && lastpos + i < n {
                if old[lastpos + i] == new[lastscan + i] { s += 1 }
                i += 1
                if s * 2 - i > sf * 2 - lenf { sf = s; lenf = i }
            }

            // Backward extension from (scan, pos), same criterion.
            var lenb = 0
            if scan < m {
                s = 0
                var sb = 0
                i = 1
                while scan >= lastscan + i && pos >= i {
                    if old[pos - i] == new[scan - i] { s += 1 }
                    if s * 2 - i > sb * 2 - lenb { sb = s; lenb = i }
                    i += 1
                }
            }

            // Overlap: split where the forward side stops being at least as good.
            if lastscan + lenf > scan - lenb {
                let overlap = (lastscan + lenf) - (scan - lenb)
                s = 0
                var ss = 0, lens = 0
                for k in 0..<overlap {
                    if new[lastscan + lenf - overlap + k] == old[lastpos + lenf - overlap + k] { s += 1 }
                    if new[scan - lenb + k] == old[pos - lenb + k] { s -= 1 }
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
        progress(m)
        // A final triple producing nothing is a surplus triple for Debian bspatch (BSDIFF40.md §5).
        while let last = out.last, last.add == 0, last.copy == 0 { out.removeLast() }
        return out
    }
}

/// For prefix-aware search: where in bsdiff's I[0...n] the suffixes starting with each
/// two-byte prefix begin (256 x 257 + 1 entries, 257 KiB). Keys: the empty suffix sorts first,
/// a one-byte suffix `b` just before every `b x`.
final class PrefixBuckets: @unchecked Sendable {
    /// first[key] = the first I-index whose suffix key is >= key; key(b, x) = b * 257 + x + 1.
    private var first: [Int32]

    init(old: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>) {
        let n = old.count
        let keys = 256 * 257 + 1
        first = [Int32](repeating: Int32(n + 1), count: keys + 1)
        // Walk I[1...n] (sorted), recording the first index of each key; keys are non-decreasing.
        var k = 1
        var nextKey = 0
        for i in 0..<n {
            let p = Int(sa[i])
            let key = p + 1 < n ? Int(old[p]) * 257 + Int(old[p + 1]) + 1 : Int(old[p]) * 257
            while nextKey <= key { first[nextKey] = Int32(k); nextKey += 1 }
            k += 1
        }
        while nextKey <= keys { first[nextKey] = Int32(n + 1); nextKey += 1 }
    }

    /// (st, en) to start the search for text beginning with bytes (a, b): st is the last index
    /// with a smaller key (its suffix compares below the text), en the first with a larger key
    /// (compares above), capped at n as the full search's initial en.
    @inline(__always) func range(_ a: UInt8, _ b: UInt8, n: Int) -> (Int, Int) {
        let key = Int(a) * 257 + Int(b) + 1
        return (Int(first[key]) - 1, min(Int(first[key + 1]), n))
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
    init(count: Int) { slots = Array(repeating: [], count: count) }
    func set(_ k: Int, _ t: [ControlTriple]) { lock.withLock { slots[k] = t } }
    func get(_ k: Int) -> [ControlTriple] { lock.withLock { slots[k] } }
}

@_silgen_name("llvm.prefetch.p0")
private func _deltaLLVMPrefetch(_ address: UnsafeRawPointer, _ readWrite: Int32, _ locality: Int32, _ cacheType: Int32)

/// A read-prefetch hint (LLVM's `llvm.prefetch` bound by name). Never faults, never changes a result.
@inline(__always) func deltaPrefetch<T>(_ p: UnsafePointer<T>) {
    _deltaLLVMPrefetch(UnsafeRawPointer(p), 0, 3, 1)
}
