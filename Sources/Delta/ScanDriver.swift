import Foundation
import Synchronization

/// One scan of a plan: from `start` in bsdiff's initial state, or from `state` (a bridge, see
/// `ScanPlan`), up to the first outer-loop top at or past `stop`, or to a state of a piece
/// found in `sync` (pieces `syncFrom` and up).
struct ScanJob: Sendable {
    var start: Int
    var stop: Int
    var state: ScanState? = nil
    /// Keep every outer-loop top passed (`Scanner.lastRecord`), for bridges to stop at, and
    /// publish each to `board` as piece `boardPiece` as soon as it is passed.
    var record = false
    var board: ScanSync? = nil
    var boardPiece = 0
    /// Where its searched texts end (see `Scanner.textEnd`; default: the end of new).
    var textEnd = Int.max
    var sync: ScanSync? = nil
    var syncFrom = 0
}

/// What one job produced.
struct ScanResult {
    var triples: [ControlTriple] = []
    /// How many states it kept (with `ScanJob.record`).
    var kept = 0
    var final = ScanState(scan: 0, len: 0, pos: 0, lastscan: 0, lastpos: 0, lastoffset: 0)
    /// The piece whose state it stopped at, and the triples that piece had emitted before it.
    var synced: (piece: Int, emitted: Int)? = nil
}

/// The outer-loop states the pieces of a scan have passed so far, for a bridge to stop at.
/// Each piece publishes a state as soon as it passes it, so a bridge can meet a piece that
/// is still running (behind it); a state a bridge passes before its piece does is simply
/// not met there. Each piece's states are in scan order (scan never decreases from one top
/// to the next), so a state is looked up by binary search on its scan in the pieces whose
/// states span it.
final class ScanSync: @unchecked Sendable {
    private let lock = NSLock()
    /// `records[k]`: the states piece k has passed, with the triples it had emitted before each.
    private var records: [[(state: ScanState, emitted: Int)]]

    init(pieces: Int) { records = Array(repeating: [], count: pieces) }

    /// Piece `k` passed `state` after emitting `emitted` triples (states come in scan order).
    func publish(_ k: Int, _ state: ScanState, emitted: Int) {
        lock.withLock { records[k].append((state, emitted)) }
    }

    /// The first piece from `from` on that has passed `state`, and the triples it had emitted
    /// before it.
    func find(_ state: ScanState, from: Int) -> (piece: Int, emitted: Int)? {
        lock.withLock {
            for j in from..<records.count {
                let r = records[j]
                guard let head = r.first else { continue }  // no state passed yet
                guard head.state.scan <= state.scan else { break }  // later pieces start later still
                guard r[r.count - 1].state.scan >= state.scan else { continue }
                // First record with scan >= state.scan, then every record at that scan.
                var lo = 0, hi = r.count - 1
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if r[mid].state.scan < state.scan { lo = mid + 1 } else { hi = mid }
                }
                while lo < r.count && r[lo].state.scan == state.scan {
                    if r[lo].state == state { return (j, r[lo].emitted) }
                    lo += 1
                }
            }
            return nil
        }
    }
}

/// The jobs of one scan, shared by its threads: the pieces, taken in order, and the bridges
/// that join them into one whole scan (see `Alignment.scan`).
///
/// The chain: the whole scan's triples are `out`, then piece `chain.piece`'s from its
/// triple `chain.emitted` on (piece 0 from its start). Once that piece has finished, its
/// triples join `out`; if it is the last piece, the scan is done; otherwise the bridge from
/// its final state carries the chain on. A bridge that meets a state of a piece `j` moves
/// the chain to `j`; one that meets none ran to the end of new and ends the scan. Pieces the
/// chain passes by stay unused.
///
/// The bridge of a boundary may start before the chain knows whether it needs it, beside
/// the pieces still running (see `speculate` for when): a bridge that scans far (L1's
/// relocation table: 2.5 MiB) then runs while the other thread still has pieces, not alone at
/// the end. Such a speculative bridge stops at the first top past `budget` bytes from its
/// start; if the chain needs it, a bridge continues from there without a limit. The bridges
/// the chain needs run in full, one after the other; the others cost at most their budget
/// each (bridges from every piece to the end of new would scan P1's 64 MiB 31 times over:
/// its pieces sit in long matches and keep no states, and they get no speculative bridge at
/// all, since the chain never stops in a piece without states).
/// Queued bridges are taken before the pieces not yet started, the chain's own first.
final class ScanPlan: @unchecked Sendable {
    let progress: ProgressSum
    let sync: ScanSync
    private let pieces: Int
    private let end: Int
    private let budget: Int
    private let condition = NSCondition()
    /// Pieces `0..<pieces`, then the bridges in the order they were made.
    private var jobs: [ScanJob]
    private var slots: [ScanResult?]
    private var nextPiece = 0
    /// Bridges made and not yet taken: `urgent` (the chain waits for it) before `queue`.
    private var urgent: Int? = nil
    private var queue = [Int]()
    /// `bridgeAfter[k]`: the speculative bridge from piece k's final state, once made.
    private var bridgeAfter: [Int?]
    private var chain = (piece: 0, emitted: 0, joined: false, waiting: nil as Int?)
    /// Scans a busy thread handed over for an idle one (see `handOff`), with their look-ahead
    /// results.
    private var handed = [(index: Int, scanner: Scanner, cache: [Int])]()
    /// How many threads wait in `take` for work (changed under the lock, read without it: a
    /// busy thread hands a scan over when it is not 0).
    private let waiting = Atomic<Int>(0)
    private var out = [ControlTriple]()
    private var finished = false
    private var inferredSum = 0

    /// A plan of the given pieces of a new file of `end` bytes (several pieces: jobs with
    /// `record` set and `board` = `sync`), with speculative bridges of at most `budget` bytes.
    init(pieces: [ScanJob], sync: ScanSync, end: Int, budget: Int, progress: ProgressSum) {
        self.jobs = pieces
        self.pieces = pieces.count
        self.end = end
        self.budget = max(1, budget)
        self.progress = progress
        self.sync = sync
        self.slots = Array(repeating: nil, count: pieces.count)
        self.bridgeAfter = Array(repeating: nil, count: pieces.count)
    }

    /// What `take` hands out: a job to start, or a scan another thread started and handed over
    /// (with its look-ahead results, to copy into the taker's cache).
    enum Work {
        case job(index: Int, job: ScanJob)
        case scan(index: Int, scanner: Scanner, cache: [Int])
    }

    /// The next work (a queued bridge first, then a handed-over scan, then the next piece), or
    /// nil when there is none now. With `wait`, blocks until there is some or the scan is done
    /// (nil: done).
    func take(wait: Bool) -> Work? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if !finished {
                if let b = urgent {
                    urgent = nil
                    return .job(index: b, job: jobs[b])
                }
                if !queue.isEmpty { let b = queue.removeFirst(); return .job(index: b, job: jobs[b]) }
                if let h = handed.popLast() { return .scan(index: h.index, scanner: h.scanner, cache: h.cache) }
                if nextPiece < pieces {
                    nextPiece += 1
                    return .job(index: nextPiece - 1, job: jobs[nextPiece - 1])
                }
            }
            if !wait || finished { return nil }
            waiting.add(1, ordering: .relaxed)
            condition.wait()
            waiting.subtract(1, ordering: .relaxed)
        }
    }

    /// Whether a thread waits for work with nothing to give it: a thread running several
    /// scans then hands one over.
    var someoneIdle: Bool { waiting.load(ordering: .relaxed) > 0 }

    /// A busy thread hands scan `index` (its state and look-ahead results) to a waiting thread.
    /// The scan goes on there exactly as it would have here. Without it, the slow pieces a
    /// thread happened to start together keep each other's company to the end while the other
    /// thread has nothing left: X2's four slow pieces took 650 ms in one thread's lanes while
    /// the other thread waited for 550 ms of them.
    func handOff(_ index: Int, _ scanner: Scanner, cache: [Int]) {
        condition.lock()
        defer { condition.unlock() }
        handed.append((index, scanner, cache))
        condition.broadcast()
    }

    /// Job `k` is done: a piece's speculative bridge is queued, and the chain moves on.
    func set(_ k: Int, _ r: ScanResult, inferred: Int) {
        condition.lock()
        defer { condition.unlock() }
        slots[k] = r
        inferredSum += inferred
        advanceChain()
        speculate()
        condition.broadcast()
    }

    /// Queues the speculative bridges that may be needed: after piece `i` once piece `i` has
    /// finished and piece `i + 1` has started (it is then ahead of the bridge, publishing the
    /// states the bridge looks for; waiting for it to finish put L1's relocation-table bridge,
    /// 2.5 MiB of one sequential scan, after the slowest piece of the table), and only where no bridge from an
    /// earlier piece still runs or stopped past piece `i`'s start (L1's relocation table
    /// spans three boundaries: the bridge into it crosses all three, and bridges from the
    /// pieces inside it would scan the rest of it again). None where the chain has passed or
    /// is in piece `i` (`advanceChain` makes that bridge), where piece `i` kept no states
    /// (the chain never stops in such a piece: P1's pieces, inside long matches), or after
    /// the last piece.
    private func speculate() {
        var i = chain.piece
        while i < pieces - 1 {
            if let b = bridgeAfter[i] {
                guard let r = slots[b] else { return }  // it runs: it may cross the next boundaries
                guard let (j, _) = r.synced else { return }  // out of budget, or at the end of new
                i = max(i + 1, j)  // the boundaries it crossed need no bridge
                continue
            }
            if i > chain.piece, let r = slots[i], r.kept > 0, i + 1 < nextPiece {
                bridgeAfter[i] = bridge(from: r.final, syncFrom: i + 1, limited: true)
                queue.append(bridgeAfter[i]!)
                return
            }
            i += 1
        }
    }

    /// A new bridge job from `state`: speculative (`limited`) ones stop after `budget` bytes.
    private func bridge(from state: ScanState, syncFrom: Int, limited: Bool) -> Int {
        jobs.append(ScanJob(start: 0, stop: limited ? min(end, state.scan + budget) : end, state: state, sync: sync,
                            syncFrom: syncFrom))
        slots.append(nil)
        return jobs.count - 1
    }

    /// Moves the chain as far as the finished jobs take it (under the lock).
    private func advanceChain() {
        while !finished {
            if let b = chain.waiting {
                guard let r = slots[b] else { return }  // the bridge still runs
                out += r.triples
                chain.waiting = nil
                if let (j, emitted) = r.synced {
                    chain = (j, emitted, false, nil)
                } else if r.final.scan >= end {
                    finished = true  // the bridge ran to the end of new
                } else {  // a speculative bridge's budget ran out: carry on from where it stopped
                    chain.waiting = bridge(from: r.final, syncFrom: jobs[b].syncFrom, limited: false)
                    bridgeAfter[chain.piece] = chain.waiting
                    urgent = chain.waiting
                    return
                }
                continue
            }
            guard let piece = slots[chain.piece] else { return }  // the piece still runs
            if !chain.joined {
                out += piece.triples[chain.emitted...]
                chain.joined = true
            }
            if chain.piece == pieces - 1 {
                finished = true
            } else if let b = bridgeAfter[chain.piece] {
                chain.waiting = b
            } else {
                chain.waiting = bridge(from: piece.final, syncFrom: chain.piece + 1, limited: false)
                bridgeAfter[chain.piece] = chain.waiting
                urgent = chain.waiting
                return
            }
        }
    }

    /// Whether job `k` is a piece (it reports progress) rather than a bridge.
    func isPiece(_ k: Int) -> Bool { k < pieces }

    /// The whole scan's triples (once every thread has returned), and how many positions of
    /// all jobs needed no search.
    var output: (triples: [ControlTriple], inferred: Int) {
        condition.withLock {
            precondition(finished, "scan plan not finished")
            return (out, inferredSum)
        }
    }
}

/// One thread of a scan: keeps up to `interleave` pieces going, and in each round lets every
/// piece run until it needs a search whose result it does not have, then makes all those
/// searches (plus each piece's speculative look-ahead) in one lockstep batch. While another
/// thread waits for work, it hands that thread one of its scans (`ScanPlan.handOff`).
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
        caches.initialize(repeating: 0, count: 2 * lookAhead * lanes)  // a hand-off copies all of a cache
        defer { caches.deallocate() }
        var freeCaches = (0..<lanes).map { caches + 2 * lookAhead * $0 }
        var active = [(piece: Int, scanner: Scanner)]()
        // This round's searches per lane (a fixed buffer: emptying an array every round cost
        // a call to memmove each time).
        let requested = UnsafeMutablePointer<(lane: Int, first: Int, count: Int, stride: Int)>.allocate(capacity: lanes)
        defer { requested.deallocate() }
        var requestedCount = 0
        var rounds = 0
        var isolated = false
        let isolateAfter = 128 << 10
        while true {
            // A queued bridge or a piece into every free lane; with none left, wait for one.
            // With lanes running, a free lane asks again only every 64th round: the plan's
            // lock, taken at every round by both threads, cost more than the tail it fills.
            rounds &+= 1
            // A bridge that has scanned far without meeting a piece (L1's relocation table)
            // is the scan's critical path: this thread takes no new job until it is done, so
            // that its other lanes drain and it runs alone, at a whole core's speed, while the
            // other threads take the pieces.
            if rounds & 63 == 0 {
                isolated = active.contains { !plan.isPiece($0.piece) && $0.scanner.distance >= isolateAfter }
            }
            // (Tests that force hand-offs refill every round, so that scans move all the time.)
            let refill = rounds & 63 == 0 || options.handOffEvery != nil
            if active.isEmpty || (active.count < lanes && refill && !isolated) {
                while active.count < lanes, let work = plan.take(wait: active.isEmpty) {
                    switch work {
                    case let .job(k, job):
                        active.append((k, Scanner(finder: finder, job: job,
                                                  options: options, lookAhead: lookAhead, cache: freeCaches.removeLast())))
                    case .scan(let k, var scanner, let results):
                        scanner.cache = freeCaches.removeLast()
                        results.withUnsafeBufferPointer { scanner.cache.update(from: $0.baseAddress!, count: $0.count) }
                        active.append((k, scanner))
                    }
                }
            }
            // A thread waits with nothing to do: give it one of several scans running here (the
            // one with the most of its piece left; a bridge's length is not known).
            let handOff = options.handOffEvery.map { rounds % max(1, $0) == 0 } ?? (rounds & 63 == 32 && plan.someoneIdle)
            if active.count >= 2 && handOff {
                var pick = 0, most = -1
                for (j, lane) in active.enumerated() where plan.isPiece(lane.piece) {
                    let left = lane.scanner.remaining
                    if left > most { (pick, most) = (j, left) }
                }
                let (k, scanner) = active.remove(at: pick)
                let results = Array(UnsafeBufferPointer(start: scanner.cache, count: 2 * lookAhead))
                freeCaches.append(scanner.cache)
                plan.handOff(k, scanner, cache: results)
            }
            if active.isEmpty { return }  // the scan is done
            batch.count = 0
            requestedCount = 0
            var lane = 0
            while lane < active.count {
                let piece = active[lane].piece
                let part = plan.isPiece(piece) ? piece : nil  // bridges report no progress
                guard let (first, count, stride) = active[lane].scanner.advance(progress: progress, part: part) else {
                    let sc = active[lane].scanner
                    freeCaches.append(sc.cache)
                    if let part { progress.add(part: part, sc.stop) }
                    plan.set(piece, ScanResult(triples: sc.out, kept: sc.recordCount, final: sc.final, synced: sc.synced),
                             inferred: sc.inferred)
                    active.remove(at: lane)
                    continue
                }
                requested[requestedCount] = (lane, first, count, stride)
                requestedCount += 1
                batch.append(first: first, count: count, stride: stride, end: active[lane].scanner.textEnd)
                lane += 1
            }
            if requestedCount == 0 { continue }
            finder.search(batch)
            var slot = 0
            for i in 0..<requestedCount {
                let r = requested[i]
                active[r.lane].scanner.store(first: r.first, count: r.count, stride: r.stride, from: batch, slot: slot)
                slot += r.count
            }
        }
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
