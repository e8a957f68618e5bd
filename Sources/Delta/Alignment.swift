#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// One control triple of a BSDIFF40 patch (Docs/formats/BSDIFF40.md §3): add `add` bytes (new = old + diff,
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
    /// O(run^2 log n) cost on long runs of identical bytes (Docs/formats/BSDIFF40.md §6 "Time").
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

    /// New files at least this large are scanned in pieces on all cores: each piece runs
    /// bsdiff's loop from its start as if new began there, and a bridge then continues the scan
    /// from where the previous piece stopped until it reaches a state the piece passed (see
    /// `Alignment.scan`), so the triples are exactly one whole scan's. Where the two never meet
    /// (long ambiguous regions such as relocation tables) the bridge scans on alone, which
    /// costs time, never patch bytes. `Int.max` scans on one thread.
    public var parallelMinimumSize: Int = 4 << 20

    /// At most this many pieces for a parallel scan (pieces are at least 512 KiB); a boundary
    /// costs only the time of its bridge, never patch bytes. Pieces of 512 KiB rather than
    /// 1 MiB finish the scan of a 4-16 MiB file more evenly on two cores: M1, T1, W1 and W2
    /// 2-12 % faster, measured in both orders.
    public var parallelPieces: Int = 32

    /// Threads for everything `Delta.create` runs: the suffix sort, the sampled keys, the scan
    /// in pieces and the bzip2 blocks (0: one per core). 1 runs all of it on the calling
    /// thread's one core at a time. The patch does not depend on it.
    public var threads: Int = 0

    /// `threads`, with 0 resolved to the active cores.
    var resolvedThreads: Int { threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount }

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

    /// How far a bridge scans before the scan knows it needs it (see `ScanPlan`; nil: four
    /// piece lengths). Tests make it tiny, so that bridges stop and are carried on.
    var speculativeBridgeLength: Int? = nil

    /// How far past its end a piece's searched texts reach (`Scanner.textEnd`; nil: 64 KiB or
    /// the piece length, whichever is more). Tests make it tiny, so that pieces stop early.
    var pieceSearchMargin: Int? = nil

    /// Hand a scan to another thread every this many rounds of a thread running several, even
    /// when none waits (`ScanPlan.handOff`; nil: only when one waits). Tests set it to move
    /// scans between threads all the time; the triples do not depend on it.
    var handOffEvery: Int? = nil

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

/// bsdiff's alignment (Docs/formats/BSDIFF40.md §6): walks `new` left to right, finds for each position the
/// longest match in `old` by binary search over the suffix array, and cuts `new` into
/// segments "approximately equal to old at some offset" (the add part) and "literal" (the copy
/// part), the control triples of a BSDIFF40 patch.
///
/// This is the classic bsdiff 4.3 scan: same search, same `oldscore`/`lastoffset` heuristic with
/// the constant 8, same forward/backward extension and overlap split, same tie-breaking. With
/// `AlignmentOptions.classic` it yields the exact triples of Debian's bsdiff 4.3; the default
/// adds two guards against long runs (see `AlignmentOptions`) and yields the same triples on
/// ordinary binaries (checked against Debian bsdiff on real kernel modules in the tests).
/// Large inputs are scanned in pieces on all cores with the same triples as one whole scan.
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
        let keys = options.prefixAwareSearch && old.count >= max(1, options.sampledKeysMinimumSize)
            ? SampledKeys(old: old, sa: suffixArray, minimumRun: options.secondKeyMinimumRun, threads: options.resolvedThreads) : nil
        let finder = MatchFinder(old: old, new: new, sa: suffixArray, prefixAware: options.prefixAwareSearch, keys: keys)
        let m = new.count
        // Pieces of new scanned on all cores, taken from one list as the cores free up, so an
        // uneven piece does not leave a core idle. Each piece runs bsdiff's loop from its start
        // in the initial state (as if new began there; searches and matches still run to the
        // end of new) to the first top of the outer loop at or past the next piece's start.
        let pieces = m >= options.parallelMinimumSize && m >= 2
            ? max(2, min(options.parallelPieces, m / max(1, min(1 << 19, options.parallelMinimumSize / 2)))) : 1
        let bounds = (0...pieces).map { m * $0 / pieces }
        let threads = pieces == 1 ? 1 : min(pieces, options.resolvedThreads)
        let margin = options.pieceSearchMargin ?? max(1 << 16, m / pieces)
        // Bridges (see `ScanPlan`): the scan continued from where piece k - 1 stopped, until it
        // reaches a state that a later piece passed; from that state on, that piece's triples
        // are the whole scan's. A bridge may start before the scan knows it needs it, beside
        // the pieces still running, on the same threads; only those the whole scan needs run
        // to the end, one after the other. A bridge that meets no piece's state runs to the
        // end of new.
        let sync = ScanSync(pieces: pieces)
        let plan = ScanPlan(pieces: (0..<pieces).map {
            ScanJob(start: bounds[$0], stop: bounds[$0 + 1], record: pieces > 1, board: sync, boardPiece: $0,
                    textEnd: bounds[$0 + 1] + margin)
        }, sync: sync, end: m, budget: options.speculativeBridgeLength ?? 4 * (m / pieces),
        progress: ProgressSum(parts: pieces, report: progress))
        withExtendedLifetime(keys) {  // the finder does not retain them
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                ScanDriver(finder: finder, options: options, plan: plan).run()
            }
        }
        var (out, inferred) = plan.output
        Scanner.dropEmptyTail(&out)
        return (out, inferred)
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
