// Block-parallel induced sorting for byte texts: the four induction passes of SA-IS level 0
// (stage 1's L- and S-pass over LMS substrings, stage 3's final L- and S-pass) on several
// threads, with exactly the serial passes' result. The scheme is libsais's (Grebnov): a pass
// scans SA in order and each entry it reads induces one entry into the head (L-pass) or tail
// (S-pass) of some bucket. A *block* of SA positions whose entries are all final (nothing the
// pass still does can change them) can be processed in two parallel steps:
//
// 1. prepare: each thread takes a slice of the block and, for each entry, does the entry's own
//    update and computes the induced (bucket, value) pair — the random text reads, the costly
//    part — into its cache, counting pairs per bucket;
// 2. place: from the bucket pointers and the per-thread counts, every thread knows where its
//    first pair of each bucket goes (the slices' pairs land in scan order, as serially), and
//    writes its pairs.
//
// The induced entries land in slots the pass has not reached and that are not final yet, so
// they are outside the block. Which slots are final:
//
// - L-pass (left to right): L-type suffixes are written to the free heads of the L-parts of
//   their buckets, always right of the scan; the S-parts are not written (the scan itself
//   clears or flips each entry it passes). Every slot still to be written holds 0, so a block
//   is a run of non-zero entries, as in libsais. The zeros are mostly the empty S-slots; a few
//   are real entries whose value is 0 (suffix 0, stage 1's "predecessor 0"), which induce
//   nothing and only end a block.
// - S-pass (right to left): S-type suffixes are written to the free tails of the S-parts,
//   always left of the scan. Stage 1 leaves zeros all over the L-parts and stage 3 leaves stale
//   LMS entries in the S-parts, so values do not tell; the bucket pointers do: within bucket c
//   the slots [lEnd[c], tail[c]) are the S-slots not written yet, everything else is final.
//
// The same team of threads also computes the suffix types (SuffixTypes.swift), clears SA,
// names the LMS substrings, lists the LMS positions and maps the reduced problem's answer back
// (SAIS.swift, `placeLMSPositions`, `nameLMSSubstrings(_ team:…)` and `solveReduced`); the
// reduced problems themselves (32-bit alphabets) stay serial.
//
// Measured (sa-bench, 2-core VM, alternating runs): the 31 MiB kernel L1 1.55-1.65 s serial,
// 1.50-1.55 s on two threads; the 64 MiB sparse image 0.79-0.86 s and 0.75-0.85 s; the 8 MiB
// random file 0.52-0.53 -> 0.49-0.50 s. Only a few per cent: about 40 % of the build is in the
// reduced problems, and the serial byte passes were already as fast as prefetched memory
// traffic allows.
//
// Written for Firmchain from libsais's published description and the SA-IS papers; no code
// was copied. Synchronisation: one driver (the calling thread) and helper threads that spin on
// a command counter (and sleep on a semaphore when no command comes for a while); every command
// ends with all helpers acknowledging it, so a block's writes are visible to all threads before
// the next block is chosen.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// The four level-0 passes.
enum InducePass {
    case stage1L, stage1S, finalL, finalS

    var leftToRight: Bool { self == .stage1L || self == .finalL }
}

/// Tuning of the parallel passes (tests shrink them to exercise block boundaries).
struct ParallelInduceOptions: Sendable {
    /// Threads, >= 2 (at most 64 are used).
    var threads: Int
    /// Largest slice one thread takes of a block.
    var sliceCapacity = 1 << 15
    /// Blocks shorter than this are processed by the driver alone. Sharing a block costs two
    /// hand-overs and a second pass over its pairs; below ~16 K entries that ate the gain (the
    /// 64 MiB sparse image, whose byte runs give many short blocks, ran 40 % slower at 4 K).
    var minimumBlock = 16384
    /// Levels shorter than this run their alphabet-independent steps (suffix types, clearing,
    /// naming, gathering and listing LMS positions, mapping back) on the caller alone.
    var minimumLevel = SAIS.parallelMinimumSize
}

/// The driver (the calling thread) and helper threads of the parallel steps of a level-0 sort,
/// with each thread's cache for the induction passes.
final class InduceTeam: @unchecked Sendable {
    let options: ParallelInduceOptions
    let threads: Int
    let capacity: Int
    // Per thread k: symbols/values of its induced pairs, per-bucket counts then offsets.
    private let symbols: UnsafeMutablePointer<UInt8>
    private let values: UnsafeMutablePointer<Int32>
    private let counts: UnsafeMutablePointer<Int32>
    private let pairs: UnsafeMutablePointer<Int>

    // The current command, written by the driver before `command` is released.
    private var job: ((Int) -> Void)? = nil
    private var pass = InducePass.stage1L
    private var placing = false
    private var blockLow = 0, blockHigh = 0
    private var text: UnsafePointer<UInt8>? = nil
    private var sa: UnsafeMutablePointer<Int32>? = nil

    private let command = Atomic<Int>(0)
    private let acknowledged = Atomic<Int>(0)
    /// Bit k set: helper k is asleep on `wake[k]` (or about to be).
    private let sleepers = Atomic<Int>(0)
    private let wake: [DispatchSemaphore]
    private var sequence = 0

    init(options: ParallelInduceOptions) {
        precondition(options.threads >= 2 && options.sliceCapacity >= 1 && options.minimumBlock >= 1)
        self.options = options
        threads = min(options.threads, 64)  // one bit per helper in `sleepers`
        wake = (0..<threads).map { _ in DispatchSemaphore(value: 0) }
        capacity = options.sliceCapacity
        symbols = .allocate(capacity: threads * capacity)
        values = .allocate(capacity: threads * capacity)
        counts = .allocate(capacity: threads * 256)
        pairs = .allocate(capacity: threads)
    }

    deinit {
        symbols.deallocate()
        values.deallocate()
        counts.deallocate()
        pairs.deallocate()
    }

    // MARK: Threads

    /// Runs `body` (the driver's side of one or more parallel steps) with the helper threads
    /// started, and stops them.
    func withHelpers(text: UnsafePointer<UInt8>?, sa: UnsafeMutablePointer<Int32>?, _ body: () -> Void) {
        self.text = text
        self.sa = sa
        let exited = DispatchSemaphore(value: 0)
        let current = sequence  // commands up to this one belong to earlier passes
        for k in 1..<threads {
            let thread = Thread { [self] in
                helperLoop(index: k, after: current)
                exited.signal()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        body()
        job = nil  // quit
        post()
        waitForHelpers()
        for _ in 1..<threads { exited.wait() }
    }

    private func helperLoop(index: Int, after current: Int) {
        var seen = current
        while true {
            var spins = 0
            var c = command.load(ordering: .acquiring)
            while c == seen {
                spins &+= 1
                if spins > 1 << 14 {
                    // Idle for a while (the driver is on a long stretch alone): sleep instead of
                    // spinning. Announce it, then look once more, so a command posted meanwhile
                    // is either seen here or followed by a signal (both sides use the single
                    // total order of sequentially consistent operations). A signal left over
                    // from a look that found the command only makes a later wait of the same
                    // helper return early (it then looks again).
                    // Each helper has its own semaphore, so no helper can take a wake-up meant
                    // for another.
                    sleepers.bitwiseOr(1 << index, ordering: .sequentiallyConsistent)
                    if command.load(ordering: .sequentiallyConsistent) == seen { wake[index].wait() }
                    sleepers.bitwiseAnd(~(1 << index), ordering: .sequentiallyConsistent)
                    spins = 0
                }
                c = command.load(ordering: .acquiring)
            }
            seen = c
            guard let job else {
                acknowledged.add(1, ordering: .releasing)
                return
            }
            job(index)
            acknowledged.add(1, ordering: .releasing)
        }
    }

    /// Runs `body(k)` on every thread k (0 = the caller) and returns when all are done.
    /// Only inside `withHelpers`.
    func parallel(_ body: @escaping (Int) -> Void) {
        job = body
        post()
        body(0)
        waitForHelpers()
    }

    /// Part `k` of `threads` equal parts of `low..<high`; its bounds are `low` plus multiples of
    /// `align` (except `high`).
    func chunk(_ k: Int, of low: Int, _ high: Int, align: Int = 1) -> Range<Int> {
        let size = high - low
        @inline(__always) func cut(_ j: Int) -> Int {
            j == threads ? high : min(high, low + (size * j / threads) / align * align)
        }
        return cut(k)..<cut(k + 1)
    }

    /// Turns per-thread counts `counts[0..<threads]` into where each thread's share starts
    /// (the sum of the counts before it), and returns the total.
    @discardableResult
    func startsFromCounts(_ counts: UnsafeMutablePointer<Int>) -> Int {
        var sum = 0
        for k in 0..<threads {
            let count = counts[k]
            counts[k] = sum
            sum += count
        }
        return sum
    }

    /// Publishes the command fields set since the last post.
    private func post() {
        sequence += 1
        command.store(sequence, ordering: .sequentiallyConsistent)
        let sleeping = sleepers.load(ordering: .sequentiallyConsistent)
        if sleeping != 0 {
            for k in 1..<threads where sleeping & (1 << k) != 0 { wake[k].signal() }
        }
    }

    private func waitForHelpers() {
        let target = (threads - 1) * sequence
        var spins = 0
        while acknowledged.load(ordering: .acquiring) < target {
            spins &+= 1
            if spins > 2048 { sched_yield() }
        }
    }

    /// Processes SA[low..<high] (all final) on all threads; `heads` are the pass's bucket
    /// pointers (heads for an L-pass, tails for an S-pass), advanced as the serial pass would.
    func block(_ pass: InducePass, low: Int, high: Int, heads: UnsafeMutablePointer<Int32>) {
        self.pass = pass
        placing = false
        blockLow = low
        blockHigh = high
        parallel { [unowned self] k in run(thread: k) }
        // Offsets: in scan order, thread 0's pairs of a bucket come first.
        for c in 0..<256 {
            var h = heads[c]
            for k in 0..<threads {
                let slot = counts + (k * 256 + c)
                let count = slot.pointee
                slot.pointee = h
                h = pass.leftToRight ? h &+ count : h &- count
            }
            heads[c] = h
        }
        placing = true
        parallel { [unowned self] k in run(thread: k) }
    }

    /// Thread k's slice of the current block, in scan order: slices follow the scan direction.
    private func slice(_ k: Int) -> (Int, Int) {
        let size = blockHigh - blockLow
        let j = pass.leftToRight ? k : threads - 1 - k
        return (blockLow + size * j / threads, blockLow + size * (j + 1) / threads)
    }

    private func run(thread k: Int) {
        let (low, high) = slice(k)
        let sym = symbols + k * capacity, val = values + k * capacity, cnt = counts + k * 256
        let sa = self.sa!
        if placing {
            let count = pairs[k]
            if pass.leftToRight {
                for j in 0..<count {
                    let c = Int(sym[j])
                    let b = cnt[c]
                    sa[Int(b)] = val[j]
                    cnt[c] = b &+ 1
                }
            } else {
                for j in 0..<count {
                    let c = Int(sym[j])
                    let b = cnt[c] &- 1
                    sa[Int(b)] = val[j]
                    cnt[c] = b
                }
            }
            return
        }
        cnt.update(repeating: 0, count: 256)
        pairs[k] = Self.prepare(pass, text: SAText(text!), sa: sa, low: low, high: high, symbols: sym, values: val, counts: cnt)
    }

    /// Step 1 for SA[low..<high], in scan order: each entry's own update, and its induced pair
    /// appended to symbols/values (counted per bucket). Returns the number of pairs.
    @inline(__always)
    private static func prepare(_ pass: InducePass, text t: SAText<UInt8>, sa: UnsafeMutablePointer<Int32>, low: Int, high: Int,
                                symbols: UnsafeMutablePointer<UInt8>, values: UnsafeMutablePointer<Int32>,
                                counts: UnsafeMutablePointer<Int32>) -> Int {
        var p = 0
        @inline(__always) func emit(_ c: Int, _ v: Int) {
            symbols[p] = UInt8(truncatingIfNeeded: c)
            values[p] = Int32(truncatingIfNeeded: v)
            counts[c] &+= 1
            p &+= 1
        }
        let d = prefetchDistance
        switch pass {
        case .stage1L:
            for x in low..<high {
                if x &+ d < high { t.prefetch(max(Int(sa[x &+ d]) &- 1, 0)) }
                let v = Int(sa[x])
                if v > 0 {
                    let c0 = t[v], u = v &- 1
                    emit(c0, t[u] < c0 ? ~u : u)
                    sa[x] = 0
                } else if v < 0 {
                    sa[x] = Int32(truncatingIfNeeded: ~v)
                }
            }
        case .finalL:
            for x in low..<high {
                if x &+ d < high { t.prefetch(max(Int(sa[x &+ d]) &- 2, 0)) }
                let v = Int(sa[x])
                sa[x] = Int32(truncatingIfNeeded: ~v)
                if v > 0 {
                    let j = v &- 1, c0 = t[j]
                    emit(c0, (j > 0 && t[j &- 1] < c0) ? ~j : j)
                }
            }
        case .stage1S:
            var x = high &- 1
            while x >= low {
                if x &- d >= low { t.prefetch(max(Int(sa[x &- d]) &- 1, 0)) }
                let v = Int(sa[x])
                if v > 0 {
                    let c0 = t[v], u = v &- 1
                    emit(c0, t[u] > c0 ? ~v : u)
                    sa[x] = 0
                }
                x &-= 1
            }
        case .finalS:
            var x = high &- 1
            while x >= low {
                if x &- d >= low { t.prefetch(max(Int(sa[x &- d]) &- 2, 0)) }
                let v = Int(sa[x])
                if v > 0 {
                    let j = v &- 1, c0 = t[j]
                    emit(c0, (j == 0 || t[j &- 1] > c0) ? ~j : j)
                } else {
                    sa[x] = Int32(truncatingIfNeeded: ~v)
                }
                x &-= 1
            }
        }
        return p
    }

    // MARK: Passes

    /// The serial pass's work on one SA slot x. The pointer of bucket `c1` is kept in `b` (its
    /// slot in `heads` is stale meanwhile), as in the serial passes: a store whose address is
    /// a register, not a fresh load, does not trip the processor's memory-order speculation
    /// when the slot is read again soon after (long byte runs do that all the time).
    @inline(__always)
    static func step(_ pass: InducePass, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, _ x: Int,
                     _ heads: UnsafeMutablePointer<Int32>, _ c1: inout Int, _ b: inout Int) {
        let v = Int(sa[x])
        @inline(__always) func bucket(_ c0: Int) {
            if c0 != c1 {
                heads[c1] = Int32(truncatingIfNeeded: b)
                c1 = c0
                b = Int(heads[c0])
            }
        }
        switch pass {
        case .stage1L:
            if v > 0 {
                let c0 = t[v], u = v &- 1
                bucket(c0)
                sa[b] = Int32(truncatingIfNeeded: t[u] < c0 ? ~u : u)
                b &+= 1
                sa[x] = 0
            } else if v < 0 {
                sa[x] = Int32(truncatingIfNeeded: ~v)
            }
        case .finalL:
            sa[x] = Int32(truncatingIfNeeded: ~v)
            if v > 0 {
                let j = v &- 1, c0 = t[j]
                bucket(c0)
                sa[b] = Int32(truncatingIfNeeded: (j > 0 && t[j &- 1] < c0) ? ~j : j)
                b &+= 1
            }
        case .stage1S:
            if v > 0 {
                let c0 = t[v], u = v &- 1
                bucket(c0)
                b &-= 1
                sa[b] = Int32(truncatingIfNeeded: t[u] > c0 ? ~v : u)
                sa[x] = 0
            }
        case .finalS:
            if v > 0 {
                let j = v &- 1, c0 = t[j]
                bucket(c0)
                b &-= 1
                sa[b] = Int32(truncatingIfNeeded: (j == 0 || t[j &- 1] > c0) ? ~j : j)
            } else {
                sa[x] = Int32(truncatingIfNeeded: ~v)
            }
        }
    }

    /// An L-pass over SA[0..<n] (heads = bucket starts, already advanced by the caller's first
    /// entry): runs of non-zero entries go to `block`, the rest is done here.
    func leftToRight(_ pass: InducePass, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int,
                     heads: UnsafeMutablePointer<Int32>) {
        let cap = threads * capacity
        withHelpers(text: t.base, sa: sa) {
            let lag = pass == .stage1L ? 1 : 2  // the text read is T[v-lag ... v-1]
            var i = 0
            while i < n {
                let limit = min(n, i &+ cap)
                var e = i
                while e < limit && sa[e] != 0 { e &+= 1 }
                if e &- i >= options.minimumBlock {
                    block(pass, low: i, high: e, heads: heads)
                    i = e
                } else {
                    // Too short to share: go on alone for at least minimumBlock slots (any
                    // stretch is right when done in order), so that long runs of short blocks
                    // (long byte runs, as in sparse images) cost no more than the serial pass.
                    let stop = min(n, max(e, i &+ options.minimumBlock))
                    var c1 = 0, b = Int(heads[0])
                    for x in i..<stop {
                        if x &+ prefetchDistance < stop { t.prefetch(max(Int(sa[x &+ prefetchDistance]) &- lag, 0)) }
                        Self.step(pass, t, sa, x, heads, &c1, &b)
                    }
                    heads[c1] = Int32(truncatingIfNeeded: b)
                    i = stop
                }
            }
        }
    }

    /// An S-pass over SA[0..<n] (tails = bucket ends). `start[c]` = first slot of bucket c
    /// (start[256] = n), `lEnd[c]` = end of its L-part: the slots [lEnd[c], tails[c]) are the
    /// unwritten S-slots, the only ones a block must not contain.
    func rightToLeft(_ pass: InducePass, _ t: SAText<UInt8>, _ sa: UnsafeMutablePointer<Int32>, n: Int,
                     tails: UnsafeMutablePointer<Int32>, start: UnsafePointer<Int32>, lEnd: UnsafePointer<Int32>) {
        let cap = threads * capacity
        withHelpers(text: t.base, sa: sa) {
            let lag = pass == .stage1S ? 1 : 2
            var i = n - 1
            var bucket = 255  // start[bucket] <= i < start[bucket + 1]
            while i >= 0 {
                while Int(start[bucket]) > i { bucket -= 1 }
                // Every slot of (e, i] is final; e is the highest unwritten S-slot below i, or
                // the window's end. Slot i itself is final: the pass writes only left of it, and
                // an S-slot is written before the scan reaches it. The one exception is stage 1's
                // slot for suffix 0 (never induced): it stays empty, is the whole unwritten range
                // of its bucket, and a block holding it reads a 0 there, which induces nothing.
                var e = max(-1, i &- cap)
                var c = bucket
                while c >= 0 && Int(start[c + 1]) > e &+ 1 {
                    let tail = Int(tails[c])
                    if tail > Int(lEnd[c]) && tail &- 1 < i {
                        e = max(e, tail &- 1)
                        break
                    }
                    c -= 1
                }
                if i &- e >= options.minimumBlock {
                    block(pass, low: e &+ 1, high: i &+ 1, heads: tails)
                    i = e
                } else {
                    // As in leftToRight: alone for at least minimumBlock slots.
                    let stop = max(-1, min(e, i &- options.minimumBlock))
                    var x = i
                    var c1 = 0, b = Int(tails[0])
                    while x > stop {
                        if x &- prefetchDistance > stop { t.prefetch(max(Int(sa[x &- prefetchDistance]) &- lag, 0)) }
                        Self.step(pass, t, sa, x, tails, &c1, &b)
                        x &-= 1
                    }
                    tails[c1] = Int32(truncatingIfNeeded: b)
                    i = stop
                }
            }
        }
    }
}
