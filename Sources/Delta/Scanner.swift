#if canImport(Glibc)
import Glibc
#endif

/// The state of bsdiff's loop at the top of its outer loop, in absolute offsets (scan, lastscan
/// into new; pos, lastpos into old; lastoffset = old index - new index). It fixes everything the
/// loop does from there on: two scans that reach the same state emit the same triples after it.
struct ScanState: Hashable, Sendable {
    var scan: Int, len: Int, pos: Int
    var lastscan: Int, lastpos: Int, lastoffset: Int
}

/// The scan of new from `start` as a state machine: `advance` runs bsdiff's loop until it needs
/// a search result it has not got and returns the positions to search; the driver searches
/// them and hands the results back with `store`. The searches and the inner loop always run to
/// the end of new (as one whole scan would); the scan stops at the first top of the outer loop
/// at or past `stop`, or at a state found in `sync` (see `ScanSync`). Positions inside are
/// relative to `start`; `old` is searched whole.
struct Scanner {
    let finder: MatchFinder
    let start: Int
    /// The end of new.
    let end: Int
    /// Where the searched texts end: `end`, or for a piece a margin past its stop, so that a
    /// piece inside a long match does not compare it to its end (P1's zero runs: every piece
    /// would). A result reaching `textEnd` sets `capped`, and the scan stops at its last kept
    /// state (a bridge, whose texts run to `end`, takes over from there).
    let textEnd: Int
    var capped = false
    /// The state the scan started in.
    let initial: ScanState
    /// Piece-relative: the scan stops at the first outer-loop top with scan >= stop.
    let stop: Int
    let skip: Int
    let lookAhead: Int
    let infer: Bool
    var out = [ControlTriple]()
    /// With `record`: every outer-loop top passed right after a triple was emitted, with the
    /// number of triples emitted before it, published to `board` as piece `boardPiece` (for
    /// bridges running at the same time).
    let record: Bool
    let board: ScanSync?
    let boardPiece: Int
    var emittedAtLastTop = 0
    /// The last state kept (`record`) and how many were kept: a capped scan goes back to it;
    /// the states themselves live on `board` only (one copy of them, not two).
    var lastRecord: (state: ScanState, emitted: Int)? = nil
    var recordCount = 0
    /// States of later scans to stop at, and the first scan whose states count.
    let sync: ScanSync?
    let syncFrom: Int
    /// Where the scan stopped: the state, and the piece of `sync` it met there with the number
    /// of triples that piece had emitted before it, if any.
    var final = ScanState(scan: 0, len: 0, pos: 0, lastscan: 0, lastpos: 0, lastoffset: 0)
    var synced: (piece: Int, emitted: Int)?

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
    /// The driver thread's look-ahead results (2 x lookAhead Ints), reassigned when the scan
    /// is handed to another thread (`ScanPlan.handOff`).
    var cache: UnsafeMutablePointer<Int>
    var single = (at: -1, len: 0, pos: 0)
    /// Positions of this piece whose search `inferable` made unnecessary.
    var inferred = 0

    /// A scan of `job`: from `job.start` in bsdiff's initial state (old cursor 0, nothing
    /// matched), or from `job.state`.
    init(finder: MatchFinder, job: ScanJob, options: AlignmentOptions, lookAhead: Int,
         cache: UnsafeMutablePointer<Int>) {
        self.finder = finder
        self.cache = cache
        self.start = job.start
        self.end = finder.new.count
        self.stop = job.stop - job.start
        self.record = job.record
        self.board = job.board
        self.boardPiece = job.boardPiece
        self.sync = job.sync
        self.syncFrom = job.syncFrom
        self.skip = options.longMatchSkip
        self.lookAhead = lookAhead
        self.infer = options.inferSearches && finder.prefixAware
        precondition(options.inferStride > 0 && options.inferStride & (options.inferStride - 1) == 0,
                     "inferStride must be a power of two")
        self.inferStride = options.inferStride
        self.stride = options.inferStride
        self.cooldownLength = max(1, options.inferCooldown)
        self.textEnd = min(finder.new.count, job.textEnd)
        self.initial = job.state ?? ScanState(scan: job.start, len: 0, pos: 0, lastscan: job.start, lastpos: 0,
                                               lastoffset: -job.start)
        if let s = job.state {
            scan = s.scan - start
            len = s.len
            pos = s.pos
            lastscan = s.lastscan - start
            lastpos = s.lastpos
            lastoffset = s.lastoffset + start
        }
    }

    /// How far the scan has come from its initial state, in bytes of new.
    var distance: Int { start + scan - initial.scan }

    /// Bytes of new left before `stop` (an estimate of the work left, for a piece).
    var remaining: Int { max(0, min(stop, m) - scan) }

    /// The loop's state now, in absolute offsets (meaningful at the top of the outer loop).
    var state: ScanState {
        ScanState(scan: start + scan, len: len, pos: pos, lastscan: start + lastscan, lastpos: lastpos,
                  lastoffset: lastoffset - start)
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
        // A match reaching `textEnd` before the end of new may be longer than it says: stop
        // (in `advance`) before any of these results is used.
        if textEnd < end {
            for j in 0..<max(1, count) where first + j * stride + batch.length[slot + j] >= textEnd { capped = true }
        }
        if stride == 0 {
            single = (first - start, batch.length[slot], batch.position[slot])
            return
        }
        cacheFirst = first - start
        cacheCount = count
        cacheStride = stride
        // Element by element: `update(from:count:)` is a call to memmove, which for these few
        // values cost more than the copy (2 % of `delta create` on L1).
        let lengths = batch.length + slot, positions = batch.position + slot
        var j = 0
        while j < count {
            cache[j] = lengths[j]
            cache[lookAhead &+ j] = positions[j]
            j &+= 1
        }
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
    /// apart from the look-ahead), or nil when the piece is done. Reports progress as `part` of
    /// `progress` (nil: none).
    mutating func advance(progress: ProgressSum, part: Int?) -> (Int, Int, Int)? {
        if capped {
            // Back to the last state kept; everything up to it used exact results only.
            if let last = lastRecord {
                final = last.state
                out.removeLast(out.count - last.emitted)
            } else {
                final = initial
                out.removeAll()
            }
            return nil
        }
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
                    if let part, scan - reported >= 1 << 20 { reported = scan; progress.add(part: part, min(scan, stop)) }
                    continue
                }
            }
            // Top of bsdiff's outer loop. States are kept and compared only right after a triple
            // was emitted: two scans in the same state emit their next triple in the same
            // state too, so nothing is missed, and there are far fewer of them to keep.
            if (record || sync != nil) && out.count > emittedAtLastTop {
                emittedAtLastTop = out.count
                let here = state
                if let sync, let hit = sync.find(here, from: syncFrom) {
                    final = here
                    synced = hit
                    return nil
                }
                if record {
                    lastRecord = (here, out.count)
                    recordCount += 1
                    board?.publish(boardPiece, here, emitted: out.count)
                }
            }
            guard scan < m && scan < stop else {
                final = state
                return nil
            }
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

    /// Drops final triples that produce nothing (a surplus triple for Debian bspatch,
    /// Docs/formats/BSDIFF40.md §5).
    static func dropEmptyTail(_ out: inout [ControlTriple]) {
        while let last = out.last, last.add == 0, last.copy == 0 { out.removeLast() }
    }
}
