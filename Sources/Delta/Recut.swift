import Dispatch

/// firmchain1's second look at the alignment scan's triples (Docs/formats/FIRMCHAIN1.md §4,
/// "Recutting"). bsdiff's scan keeps the alignment it is on until an exact match beats it by 8
/// bytes, so where old and new stay related but no long exact match shows (a table whose
/// entries all changed, code whose calls all moved) it can follow a worse alignment for
/// thousands of bytes. This pass takes the alignments the scan found near each position (the
/// old - new offsets of the `neighbours` adds before and after it, and 0, the same offset) and
/// chooses, for every byte of new, one of them or the extra section, by the least estimated
/// cost (a Viterbi pass): a byte equal to its old byte costs almost nothing, a difference more
/// (and more after another difference), an extra byte about half a byte, and every new triple
/// several bytes. The costs are estimates of LZMA2's, in hundredths of a byte, measured on the
/// tuning pairs of the corpus (`Benchmarks/delta/RESULTS.md`, session 19).
///
/// New is cut into pieces of `pieceSize` bytes, each recut on its own (a piece starts afresh:
/// at most one triple more per piece), on all threads: the result does not depend on the
/// thread count. Memory: 3 bytes per byte of a piece per thread, and the segments found (32
/// bytes each) until they become triples. Time: each byte is weighed
/// against up to 12 offsets, about 0.5 s for 11 MB on this project's 2-core machine.
///
/// The result is not guaranteed smaller, only expected to be: the costs are estimates. On
/// the tuning pairs the patches came out 2-25 % smaller, and 2 % larger on one kernel module.
enum Recut {
    /// The estimated costs, in hundredths of a byte of the compressed patch.
    struct Costs: Sendable {
        /// A byte of an add equal to its old byte (a zero diff byte).
        var same = 2
        /// A byte of an add that differs from its old byte, after one that did not.
        var differs = 70
        /// A byte of an add that differs, after one that differed too.
        var differsAgain = 120
        /// A byte of the extra section (at most: lower where the pair's extra bytes compress
        /// better, `extraCost`).
        var extra = 50
        /// A triple: starting an add at another offset of old.
        var triple = 800
    }

    /// Adds either side of a position whose offsets are candidates there.
    static let neighbours = 5
    /// Bytes of new recut independently.
    static let pieceSize = 1 << 20
    /// Candidate offsets at a position: 2 x neighbours + 1 adds, and 0 (at most 16: a byte's
    /// switches are one UInt16).
    static let maxCandidates = 2 * neighbours + 2
    /// The least an extra byte may cost, whatever the estimate says: the scan's extra bytes
    /// may be fill (16 KiB of 0xFF compress to 61 bytes), and an extra byte near the cost of an
    /// equal byte would turn every add into extra. The estimates on the corpus's code are 36-49.
    static let minimumExtra = 30

    /// The triples for `old`/`new` recut. `triples` must be valid for them (as for
    /// `FirmchainDelta1.write`); so is the result, which makes the same new image.
    static func triples(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple],
                        costs: Costs = Costs(), concurrency: Int) -> [ControlTriple] {
        precondition(maxCandidates <= 16, "a byte's switches are one UInt16")
        guard new.count > 0 else { return triples }
        var costs = costs
        // The adds of the scan: where each starts in new, and its offset (old - new).
        var starts = [Int](), offsets = [Int]()
        var oldpos = 0, newpos = 0
        for t in triples {
            if t.add > 0 {
                starts.append(newpos)
                offsets.append(oldpos - newpos)
            }
            oldpos += Int(t.add) + Int(t.seek)
            newpos += Int(t.add) + Int(t.copy)
        }
        guard !starts.isEmpty else { return triples }
        costs.extra = min(costs.extra, max(minimumExtra, extraCost(new: new, triples: triples) ?? costs.extra))
        let costsNow = costs
        let count = (new.count + pieceSize - 1) / pieceSize
        // Each piece's segments in its own slot (the threads write disjoint memory).
        let pieces = UnsafeMutablePointer<[Segment]>.allocate(capacity: count)
        pieces.initialize(repeating: [], count: count)
        defer { pieces.deinitialize(count: count); pieces.deallocate() }
        let startsNow = starts, offsetsNow = offsets
        nonisolated(unsafe) let shared = (old, new, pieces)
        let work: @Sendable (Int) -> Void = { k in
            let (old, new, pieces) = shared
            let from = k * pieceSize, to = min(new.count, from + pieceSize)
            pieces[k] = piece(old: old, new: new, from: from, to: to, starts: startsNow, offsets: offsetsNow, costs: costsNow)
        }
        if concurrency <= 1 || count == 1 {
            for k in 0..<count { work(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: count, execute: work)
        }
        return assemble(UnsafeBufferPointer(start: pieces, count: count).joined())
    }

    /// What an extra byte costs in this pair, for when its new bytes compress better than
    /// `Costs.extra` says: the scan's extra bytes (up to 16 evenly spaced samples of 16 KiB)
    /// compressed quickly (LZMA2 preset 1), in hundredths of a byte per byte, less 10 % (preset
    /// 9 does about that much better). Nil when the scan left under 4 KiB of extra bytes. On
    /// the kernels' code, 36-43 against 50: their patches 1-3.5 % smaller than with 50.
    static func extraCost(new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple]) -> Int? {
        var ranges = [Range<Int>](), total = 0, newpos = 0
        for t in triples {
            let from = newpos + Int(t.add)
            newpos = from + Int(t.copy)
            if t.copy > 0 { ranges.append(from..<newpos); total += Int(t.copy) }
        }
        guard total >= 4096 else { return nil }
        // Sample positions in the concatenated extra bytes.
        let sample = 16 << 10, count = min(16, max(1, total / sample))
        var bytes = [UInt8]()
        bytes.reserveCapacity(count * sample)
        var r = 0, before = 0
        for k in 0..<count {
            var at = k * (total - min(sample, total)) / max(1, count - 1)
            var need = min(sample, total)
            while need > 0 && r < ranges.count {
                let range = ranges[r]
                if at >= before + range.count { before += range.count; r += 1; continue }
                let start = range.lowerBound + (at - before), take = min(need, range.upperBound - start)
                bytes += UnsafeBufferPointer(rebasing: new[start..<start + take])
                need -= take; at += take
            }
        }
        guard let compressed = try? bytes.withUnsafeBufferPointer({ try LZMA2.compress($0, dictionary: 16 << 10, preset: 1) }) else { return nil }
        return 90 * compressed.count / max(1, bytes.count)
    }

    /// A run of new bytes made one way: an add at `offset` (old = new + offset), or extra bytes
    /// (`offset == nil`).
    struct Segment {
        var start: Int, length: Int, offset: Int?
    }

    /// The candidates at a position inside (or after) add `j`: the offsets of adds j - neighbours
    /// ... j + neighbours, and 0, each once, into `into`; returns how many.
    @inline(__always)
    static func candidates(_ j: Int, offsets: [Int], into c: UnsafeMutablePointer<Int>) -> Int {
        var n = 0
        let lo = max(0, j - neighbours), hi = min(offsets.count - 1, j + neighbours)
        func add(_ d: Int) {
            for i in 0..<n where c[i] == d { return }
            c[n] = d
            n += 1
        }
        for i in lo...hi { add(offsets[i]) }
        add(0)
        return n
    }

    /// The cheapest way to make new[from..<to] (a Viterbi pass forward, its choices kept per
    /// byte, and one back).
    static func piece(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, from: Int, to: Int,
                      starts: [Int], offsets: [Int], costs: Costs) -> [Segment] {
        let length = to - from
        let unreachable = Int.max / 4
        // Per byte: the cheapest state before it (a candidate's index, or `extraState`), and
        // which candidates switched to this one from that state rather than staying.
        let extraState: UInt8 = 0xFF
        let best = UnsafeMutablePointer<UInt8>.allocate(capacity: length)
        let switched = UnsafeMutablePointer<UInt16>.allocate(capacity: length)
        defer { best.deallocate(); switched.deallocate() }
        // Per candidate: its offset, its cost so far and the carry (§3) into the next byte along
        // its path; and the same for the candidates before the last change of add.
        let candidate = UnsafeMutablePointer<Int>.allocate(capacity: 3 * maxCandidates)
        let cost = candidate + maxCandidates, carry = candidate + 2 * maxCandidates
        let previous = UnsafeMutablePointer<Int>.allocate(capacity: 3 * maxCandidates)
        candidate.initialize(repeating: 0, count: 3 * maxCandidates)
        previous.initialize(repeating: 0, count: 3 * maxCandidates)
        defer { candidate.deallocate(); previous.deallocate() }

        // j: the last add starting at or before the position (0 before the first).
        func addIndex(at n: Int) -> Int {
            var lo = 0, hi = starts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= n { lo = mid } else { hi = mid - 1 }
            }
            return lo
        }
        let o = old.baseAddress!, nw = new.baseAddress!, oldCount = UInt(old.count)
        let same = costs.same, differs = costs.differs, again = costs.differsAgain, triple = costs.triple, extra = costs.extra
        var j = addIndex(at: from)
        var n = candidates(j, offsets: offsets, into: candidate)
        // A piece starts afresh: its first add, or its first extra byte, costs a triple.
        for i in 0..<n { cost[i] = triple; carry[i] = 0 }
        var extraHere = 0
        var bestCost = 0, bestState = extraState

        for p in from..<to {
            if j + 1 < starts.count && starts[j + 1] <= p {
                // Another add's neighbourhood: a candidate kept keeps its cost and carry.
                while j + 1 < starts.count && starts[j + 1] <= p { j += 1 }
                let m = n
                previous.update(from: candidate, count: 3 * maxCandidates)
                n = candidates(j, offsets: offsets, into: candidate)
                for i in 0..<n {
                    cost[i] = unreachable; carry[i] = 0
                    for k in 0..<m where previous[k] == candidate[i] {
                        cost[i] = previous[maxCandidates + k]; carry[i] = previous[2 * maxCandidates + k]
                        break
                    }
                }
            }
            let b = nw[p]
            let switchCost = bestCost &+ triple
            var mask: UInt16 = 0
            var nextBest = Int.max, nextState = extraState
            for i in 0..<n {
                let q = p &+ candidate[i]
                guard UInt(bitPattern: q) < oldCount else { cost[i] = unreachable; continue }
                let ob = o[q], carryIn = carry[i]
                var c = cost[i]
                if b == ob && carryIn == 0 {
                    // The usual byte: equal, nothing carried in or out, either way.
                    if switchCost < c { c = switchCost; mask |= 1 &<< UInt16(truncatingIfNeeded: i) }
                    c = c &+ same
                } else {
                    // Staying (with the carry) or starting afresh at this byte (without).
                    let penalty = p > 0 && q > 0 && o[q &- 1] != nw[p &- 1] ? again : differs
                    let stored = b &- ob &- UInt8(truncatingIfNeeded: carryIn)
                    let stay = c &+ (stored == 0 ? same : penalty)
                    let fresh = switchCost &+ (b == ob ? same : penalty)
                    if fresh < stay {
                        c = fresh
                        mask |= 1 &<< UInt16(truncatingIfNeeded: i)
                        carry[i] = (Int(ob) &+ Int(Int8(bitPattern: b &- ob))) &>> 8
                    } else {
                        c = stay
                        carry[i] = (Int(ob) &+ Int(Int8(bitPattern: stored)) &+ carryIn) &>> 8
                    }
                }
                cost[i] = c
                if c < nextBest { nextBest = c; nextState = UInt8(truncatingIfNeeded: i) }
            }
            best[p - from] = bestState
            switched[p - from] = mask
            extraHere = bestCost &+ extra &+ (p == from ? triple : 0)
            if extraHere <= nextBest { nextBest = extraHere; nextState = extraState }
            bestCost = nextBest
            bestState = nextState
        }

        // Back from the cheapest last state, one byte at a time, as runs. `candidate` holds the
        // candidates of add j(p); j(p) is the last add starting at or before p (0 before the first).
        var segments = [Segment]()
        var jb = j
        var offset: Int? = bestState == extraState ? nil : candidate[Int(bestState)]
        var state = bestState
        var end = to
        var p = to - 1
        while p > from {
            let r = p - from
            let viaBest = state == extraState || switched[r] & (1 << UInt16(state)) != 0
            if jb > 0 && starts[jb] > p - 1 {
                while jb > 0 && starts[jb] > p - 1 { jb -= 1 }
                n = candidates(jb, offsets: offsets, into: candidate)
            }
            let beforeOffset: Int?
            if viaBest {
                state = best[r]
                beforeOffset = state == extraState ? nil : candidate[Int(state)]
            } else {
                // Stayed: the same offset was a candidate at p - 1 too.
                beforeOffset = offset
                state = extraState
                for i in 0..<n where candidate[i] == offset! { state = UInt8(i); break }
                precondition(state != extraState, "an add kept across a byte is a candidate on both sides of it")
            }
            if beforeOffset != offset {
                segments.append(Segment(start: p, length: end - p, offset: offset))
                end = p
            }
            offset = beforeOffset
            p -= 1
        }
        segments.append(Segment(start: from, length: end - from, offset: offset))
        return segments.reversed()
    }

    /// Triples from the segments of every piece, in order: an add and the extra after it, then
    /// a seek to the next add's old position. Adjacent segments of the same kind join.
    static func assemble<S: Sequence>(_ segments: S) -> [ControlTriple] where S.Element == Segment {
        var joined = [Segment]()
        for s in segments {
            if let last = joined.last, last.offset == s.offset, last.start + last.length == s.start {
                joined[joined.count - 1].length += s.length
            } else {
                joined.append(s)
            }
        }
        var triples = [ControlTriple]()
        var oldpos = 0
        var i = 0
        while i < joined.count {
            var add = 0, copy = 0, addOld = oldpos
            if let d = joined[i].offset {
                add = joined[i].length
                addOld = joined[i].start + d
                i += 1
            }
            if i < joined.count, joined[i].offset == nil {
                copy = joined[i].length
                i += 1
            }
            // The cursor moves to the add's start first: the triple before carries that seek.
            if !triples.isEmpty || addOld != oldpos {
                if triples.isEmpty {
                    triples.append(ControlTriple(add: 0, copy: 0, seek: Int64(addOld - oldpos)))
                } else {
                    triples[triples.count - 1].seek = Int64(addOld - oldpos)
                }
            }
            triples.append(ControlTriple(add: Int64(add), copy: Int64(copy), seek: 0))
            oldpos = addOld + add
        }
        return triples
    }
}
