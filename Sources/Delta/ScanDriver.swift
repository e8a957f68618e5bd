import Foundation

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
