import Foundation

/// One scan of a plan: from `start` in bsdiff's initial state, or from `state` (a bridge, see
/// `Alignment.scan`), up to the first outer-loop top at or past `stop`, or to a state of a
/// later job found in `sync` (jobs `syncFrom` and up).
struct ScanJob: Sendable {
    var start: Int
    var stop: Int
    var state: ScanState? = nil
    /// Keep every outer-loop top passed (`Scanner.records`), for bridges to stop at.
    var record = false
    /// Where its searched texts end (see `Scanner.textEnd`; default: the end of new).
    var textEnd = Int.max
    var sync: ScanSync? = nil
    var syncFrom = 0
}

/// What one job produced.
struct ScanResult {
    var triples: [ControlTriple] = []
    var records: [(state: ScanState, emitted: Int)] = []
    var final = ScanState(scan: 0, len: 0, pos: 0, lastscan: 0, lastpos: 0, lastoffset: 0)
    var synced: (job: Int, record: Int)? = nil
}

/// The outer-loop states the pieces of a scan passed, for a bridge to stop at. Each piece's
/// records are in scan order (scan never decreases from one top to the next), so a state is
/// looked up by binary search on its scan in the pieces whose records span it. Read-only.
final class ScanSync: @unchecked Sendable {
    private let records: [[(state: ScanState, emitted: Int)]]

    init(_ results: [ScanResult]) { records = results.map(\.records) }

    /// The first job from `from` on that passed `state`, and the state's index in its records.
    func find(_ state: ScanState, from: Int) -> (job: Int, record: Int)? {
        for j in from..<records.count {
            let r = records[j]
            guard let head = r.first, head.state.scan <= state.scan else { break }  // later pieces start later still
            guard r[r.count - 1].state.scan >= state.scan else { continue }
            // First record with scan >= state.scan, then every record at that scan.
            var lo = 0, hi = r.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if r[mid].state.scan < state.scan { lo = mid + 1 } else { hi = mid }
            }
            while lo < r.count && r[lo].state.scan == state.scan {
                if r[lo].state == state { return (j, lo) }
                lo += 1
            }
        }
        return nil
    }
}

/// The jobs of one scan, shared by its threads: which job is next, and what each produced.
final class ScanPlan: @unchecked Sendable {
    let jobs: [ScanJob]
    let progress: ProgressSum
    private let lock = NSLock()
    private var next = 0
    private var slots: [ScanResult]
    private var inferredSum = 0

    init(jobs: [ScanJob], progress: ProgressSum) {
        self.jobs = jobs
        self.progress = progress
        self.slots = Array(repeating: ScanResult(), count: jobs.count)
    }

    /// The next job nobody has taken yet, or nil.
    func take() -> Int? {
        lock.withLock {
            guard next < jobs.count else { return nil }
            next += 1
            return next - 1
        }
    }

    func set(_ k: Int, _ r: ScanResult, inferred: Int) {
        lock.withLock {
            slots[k] = r
            inferredSum += inferred
        }
    }
    /// Positions of all jobs that needed no search.
    var inferred: Int { lock.withLock { inferredSum } }
    var results: [ScanResult] { lock.withLock { slots } }
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
                active.append((k, Scanner(finder: finder, job: plan.jobs[k],
                                          options: options, lookAhead: lookAhead, cache: freeCaches.removeLast())))
            }
            if active.isEmpty { return }
            batch.count = 0
            requested.removeAll(keepingCapacity: true)
            var lane = 0
            while lane < active.count {
                let piece = active[lane].piece
                guard let (first, count, stride) = active[lane].scanner.advance(progress: progress, piece: piece) else {
                    let sc = active[lane].scanner
                    plan.set(piece, ScanResult(triples: sc.out, records: sc.records, final: sc.final, synced: sc.synced),
                             inferred: sc.inferred)
                    freeCaches.append(sc.cache)
                    progress.add(part: piece, sc.stop)
                    active.remove(at: lane)
                    continue
                }
                requested.append((lane, first, count, stride))
                batch.append(first: first, count: count, stride: stride, end: active[lane].scanner.textEnd)
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
