#if canImport(Glibc)
import Glibc
#endif

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
    /// at every position inside it. This removes bsdiff 4.3's O(run^2 log n) cost on long runs
    /// of identical bytes (BSDIFF40.md §6 "Time"); on ordinary binaries such matches do not
    /// occur and the output equals bsdiff's. `Int.max` reproduces bsdiff 4.3 exactly.
    public var longMatchSkip: Int = 256

    /// The default options.
    public init() {}

    /// Options with the given skip threshold (must be >= 1).
    public init(longMatchSkip: Int) {
        precondition(longMatchSkip >= 1)
        self.longMatchSkip = longMatchSkip
    }
}

/// bsdiff's alignment (BSDIFF40.md §6): walks `new` left to right, finds for each position the
/// longest match in `old` by binary search over the suffix array, and cuts `new` into
/// segments "approximately equal to old at some offset" (the add part) and "literal" (the copy
/// part), the control triples of a BSDIFF40 patch.
///
/// This is the classic bsdiff 4.3 scan: same search, same `oldscore`/`lastoffset` heuristic with
/// the constant 8, same forward/backward extension and overlap split, same tie-breaking. So with
/// `longMatchSkip = Int.max` it yields the exact triples of Debian's bsdiff 4.3, and with the
/// default it yields them on every pair without very long runs of identical bytes.
public enum Alignment {
    /// The control triples that turn `old` into `new`.
    ///
    /// - Parameters:
    ///   - suffixArray: `SuffixArray.build(old)`: `SA[0..n-1]`, the non-empty suffixes of
    ///     `old` in order. (bsdiff's `I` has the empty suffix in front, `I[0] = n`; the search
    ///     here supplies it virtually, without copying the array.)
    ///   - progress: called with the number of `new` bytes scanned so far.
    /// - Returns: triples whose add and copy lengths sum to `new.count`, whose adds read
    ///   only `old[0..<n]`, and with no trailing triple that produces nothing. Empty `new` gives
    ///   no triples.
    /// - Precondition: `suffixArray.count == old.count`, `old.count < Int32.max`.
    public static func triples(
        old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, suffixArray: UnsafeBufferPointer<Int32>,
        options: AlignmentOptions = AlignmentOptions(), progress: (Int) -> Void = { _ in }
    ) -> [ControlTriple] {
        precondition(suffixArray.count == old.count, "suffix array does not belong to old")
        var scanner = Scanner(old: old, new: new, sa: suffixArray, skip: options.longMatchSkip)
        return scanner.run(progress: progress)
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

/// The scan state. All indices are `Int`; `old` has n bytes, `new` m bytes.
struct Scanner {
    let old: UnsafeBufferPointer<UInt8>
    let new: UnsafeBufferPointer<UInt8>
    let sa: UnsafeBufferPointer<Int32>
    let n: Int
    let m: Int
    let skip: Int

    init(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, sa: UnsafeBufferPointer<Int32>, skip: Int) {
        self.old = old
        self.new = new
        self.sa = sa
        self.n = old.count
        self.m = new.count
        self.skip = skip
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
    /// going right iff the suffix at the midpoint compares below new over the shorter length;
    /// at the end the longer of the two candidates wins, ties going to the right one.
    /// Returns (length, position in old).
    @inline(__always) func search(_ scan: Int) -> (len: Int, pos: Int) {
        var st = 0, en = n
        let rest = m - scan
        let np = new.baseAddress! + scan
        // Invariant: the answer lies between I[st] and I[en] in suffix order (en - st shrinks by half).
        while en - st >= 2 {
            let x = st + (en - st) / 2
            let ix = suffix(x)
            let len = min(n - ix, rest)
            if len > 0 && memcmp(old.baseAddress! + ix, np, len) < 0 { st = x } else { en = x }
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
