#if canImport(Glibc)
import Glibc
#endif
import SuffixArray

/// One bzip2 block written in Swift, bit for bit as libbz2 (1.0.8, blockSize100k 9) writes it,
/// with a block sort of its own: the suffix sort of the `SuffixArray` module.
///
/// Why: libbz2 sorts the rotations of a block with its main sort, and falls back to a slower
/// sort on blocks of long runs (after the first run-length stage a run is a repeating 5-byte
/// pattern, and the main sort compares those patterns whole). Diff blocks of firmware are
/// mostly such runs: on L1 three blocks took 0.15-0.18 s each in the fallback sort. The
/// suffix sort is linear in the block whatever its content.
///
/// The sorts agree: bzip2 sorts the n rotations of the block. A block that is primitive (not
/// a repetition u^k, k >= 2) has a least rotation w that is a Lyndon word, and the rotations
/// of a Lyndon word sort exactly as its suffixes do (a shorter suffix first where one is a
/// prefix of another: a proper suffix v of w is greater than w and not a prefix of it, so the
/// rotation that continues v with the start of w sorts after the one that reaches the end of
/// w first). So the suffix array of w, shifted by w's offset in the block, is the sorted
/// rotation order, and origPtr is the row of rotation 0. A periodic block has equal rotations,
/// whose order would be libbz2's tie-breaking: `singleBlockStream` declines those (nil) and
/// libbz2 sorts them.
///
/// The rest is compress.c's order of work, step by step: the move-to-front of the last
/// column with zero runs as RUNA/RUNB digits (`generateMTFValues`); 2-6 Huffman tables from an
/// initial split of the symbol frequencies, refined four times over groups of 50 symbols,
/// code lengths at most 17 (`sendMTFValues`, huffman.c `BZ2_hbMakeCodeLengths` and
/// `BZ2_hbAssignCodes`); then the symbol map, the selectors (move-to-front, unary), the
/// delta-coded lengths and the data. The tests (BZip2EncoderTests) compare the streams with
/// libbz2's on inputs around the block boundaries, every run length from 1 to 300, skewed and
/// small alphabets, and generated diff-like blocks of long runs.
enum BZip2Encoder {
    /// The bzip2 stream libbz2 makes of `input` (blockSize100k 9, any work factor), or nil
    /// when this encoder does not take it: empty input, input that does not fit in one block,
    /// or a block whose run-length-coded bytes are periodic (see above).
    static func singleBlockStream(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard let (block, crc) = runLengthBlock(input) else { return nil }
        guard let sorted = sortRotations(block) else { return nil }
        var bits = BitWriter(capacity: block.count / 4 + 1024)
        for b in BZip2Blocks.header { bits.write(UInt32(b), count: 8) }
        bits.write(UInt32(BZip2Blocks.blockMagic >> 24), count: 24)
        bits.write(UInt32(BZip2Blocks.blockMagic & 0xFF_FFFF), count: 24)
        bits.write(crc, count: 32)
        bits.write(0, count: 1)  // not randomised
        bits.write(UInt32(sorted.origin), count: 24)
        let symbols = moveToFront(block, sorted.lastColumn)
        writeTables(symbols, into: &bits)
        bits.write(UInt32(BZip2Blocks.endMagic >> 24), count: 24)
        bits.write(UInt32(BZip2Blocks.endMagic & 0xFF_FFFF), count: 24)
        bits.write(BZip2Blocks.combine(0, crc), count: 32)
        return bits.finish()
    }

    // MARK: First run-length stage (bzlib.c `ADD_CHAR_TO_BLOCK`, `add_pair_to_block`)

    /// The block libbz2 fills from `input`, and its CRC (of the input bytes); nil if `input` is
    /// empty or does not fit in one block. Runs of 1-3 equal bytes enter as they are, runs of
    /// 4-255 as 4 bytes and a count byte; a run is cut at 255. A byte is taken only while the
    /// block holds fewer than `BZip2Blocks.blockCapacity` bytes (the run being read not counted).
    static func runLengthBlock(_ input: UnsafeBufferPointer<UInt8>) -> (block: [UInt8], crc: UInt32)? {
        let n = input.count
        guard n > 0, let base = input.baseAddress else { return nil }
        let capacity = BZip2Blocks.blockCapacity
        var fits = true
        // Runs of 4 take 5 bytes; the block passes its capacity by at most two runs (see the check).
        let block = [UInt8](unsafeUninitializedCapacity: min(n + n / 4 + 5, capacity + 10)) { out, count in
            // Before each byte libbz2 checks the block without the run still being read (the
            // one before this byte, which this loop has already written): `pending` bytes of it.
            var i = 0, pending = 0, filled = 0
            let raw = UnsafeRawPointer(base)
            while i < n {
                guard filled - pending < capacity else { fits = false; break }
                let b = base[i]
                var j = i + 1
                let stop = min(n, i + 255)
                let pattern = UInt64(b) &* 0x0101_0101_0101_0101
                while j + 8 <= stop && raw.loadUnaligned(fromByteOffset: j, as: UInt64.self) == pattern { j += 8 }
                while j < stop && base[j] == b { j += 1 }
                let length = j - i
                // Before the run's second byte the run before it has entered the block.
                if length > 1 && filled >= capacity { fits = false; break }
                if length < 4 {
                    for k in 0..<length { out[filled + k] = b }
                    pending = length
                } else {
                    out[filled] = b; out[filled + 1] = b; out[filled + 2] = b; out[filled + 3] = b
                    out[filled + 4] = UInt8(length - 4)
                    pending = 5
                }
                filled += pending
                i = j
            }
            count = filled
        }
        return fits ? (block, CRC32BZip2.checksum(input)) : nil
    }

    // MARK: Block sort

    /// The sorted rotations of `block`: the last column (the byte before each rotation, in
    /// order) and the row of rotation 0; nil for a periodic block.
    static func sortRotations(_ block: [UInt8]) -> (lastColumn: [UInt8], origin: Int)? {
        let n = block.count
        guard let r = leastRotationIfPrimitive(block) else { return nil }
        // w = block rotated left by r: w[j] = block[(j + r) % n]; rotation k of the block is
        // rotation (k - r) mod n of w.
        let w = Array(block[r...] + block[..<r])
        guard let sa = try? SuffixArray.build(w, threads: 1) else { return nil }
        let zero = (n - r) % n
        var origin = -1
        let last = [UInt8](unsafeUninitializedCapacity: n) { out, count in
            w.withUnsafeBufferPointer { wp in
                sa.withUnsafeBufferPointer { sp in
                    for i in 0..<n {
                        let s = Int(sp[i])
                        if s == zero { origin = i }
                        out[i] = wp[s == 0 ? n - 1 : s - 1]
                    }
                }
            }
            count = n
        }
        return origin >= 0 ? (last, origin) : nil
    }

    /// The start of the least rotation of `s` (Duval's factorization of s·s), or nil if `s` is
    /// a power u^k (k >= 2), whose least rotation is not unique.
    static func leastRotationIfPrimitive(_ s: [UInt8]) -> Int? {
        let n = s.count
        guard n > 0 else { return nil }
        return s.withUnsafeBufferPointer { p -> Int? in
            @inline(__always) func at(_ k: Int) -> UInt8 { p[k < n ? k : k - n] }
            var i = 0, start = 0
            while i < n {
                start = i
                var j = i + 1, k = i
                while j < 2 * n && at(k) <= at(j) {
                    k = at(k) < at(j) ? i : k + 1
                    j += 1
                }
                while i <= k { i += j - k }
            }
            // The rotation at `start` is primitive iff it is a Lyndon word: Duval's first
            // factor of it is the whole word.
            var j = 1, k = 0
            while j < n && at(start + k) <= at(start + j) {
                k = at(start + k) < at(start + j) ? 0 : k + 1
                j += 1
            }
            return j - k == n ? start : nil
        }
    }

    // MARK: Move-to-front and zero runs (compress.c `generateMTFValues`)

    /// The symbols of the block: move-to-front ranks + 1 of the last column over the byte
    /// values in use, zero runs as RUNA (0) / RUNB (1) digits, then end-of-block.
    struct Symbols {
        var values: [UInt16]
        var frequencies: [Int32]
        var inUse: [Bool]
        /// Byte values in use; the alphabet is that + 2 (RUNA/RUNB share rank 0 and 1, EOB last).
        var inUseCount: Int
        var alphabetSize: Int { inUseCount + 2 }
    }

    static func moveToFront(_ block: [UInt8], _ last: [UInt8]) -> Symbols {
        var inUse = [Bool](repeating: false, count: 256)
        block.withUnsafeBufferPointer { b in
            for v in b { inUse[Int(v)] = true }
        }
        var sequence = [UInt8](repeating: 0, count: 256)
        var used = 0
        for v in 0..<256 where inUse[v] {
            sequence[v] = UInt8(used)
            used += 1
        }
        let endOfBlock = used + 1
        var frequencies = [Int32](repeating: 0, count: 258)
        let values = [UInt16](unsafeUninitializedCapacity: last.count + 1) { out, count in
            frequencies.withUnsafeMutableBufferPointer { freq in
                sequence.withUnsafeBufferPointer { seq in
                    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { order in
                        for k in 0..<256 { order[k] = UInt8(truncatingIfNeeded: k) }
                        let raw = UnsafeMutableRawPointer(order.baseAddress!)
                        var wr = 0, zeros = 0
                        last.withUnsafeBufferPointer { column in
                            for b in column {
                                let symbol = seq[Int(b)]
                                if order[0] == symbol {
                                    zeros += 1
                                    continue
                                }
                                if zeros > 0 {
                                    zeroRun(zeros, out, &wr, freq)
                                    zeros = 0
                                }
                                // Move `symbol` to the front, shifting those before it back one.
                                // Its rank: eight entries a step (the lowest zero byte of
                                // entries ^ symbol is exact), then the shift as one move.
                                let pattern = UInt64(symbol) &* 0x0101_0101_0101_0101
                                var j = 0
                                while true {
                                    let x = raw.loadUnaligned(fromByteOffset: j, as: UInt64.self) ^ pattern
                                    let zero = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
                                    if zero != 0 {
                                        j += zero.trailingZeroBitCount >> 3
                                        break
                                    }
                                    j += 8
                                }
                                memmove(raw + 1, raw, j)
                                order[0] = symbol
                                out[wr] = UInt16(j + 1)
                                wr += 1
                                freq[j + 1] += 1
                            }
                        }
                        if zeros > 0 { zeroRun(zeros, out, &wr, freq) }
                        out[wr] = UInt16(endOfBlock)
                        wr += 1
                        freq[endOfBlock] += 1
                        count = wr
                    }
                }
            }
        }
        return Symbols(values: values, frequencies: frequencies, inUse: inUse, inUseCount: used)
    }

    /// A run of `zeros` rank-0 symbols as bijective base-2 digits, least significant first:
    /// RUNA (0) for 1, RUNB (1) for 2.
    @inline(__always)
    private static func zeroRun(_ zeros: Int, _ out: UnsafeMutableBufferPointer<UInt16>, _ wr: inout Int,
                                _ freq: UnsafeMutableBufferPointer<Int32>) {
        var z = zeros - 1
        while true {
            let digit = z & 1
            out[wr] = UInt16(digit)
            wr += 1
            freq[digit] += 1
            if z < 2 { break }
            z = (z - 2) / 2
        }
    }

    // MARK: Huffman tables and the block data (compress.c `sendMTFValues`)

    static let groupSize = 50
    static let maxCodeLength = 17

    static func writeTables(_ symbols: Symbols, into bits: inout BitWriter) {
        let mtf = symbols.values
        let count = mtf.count
        let alphabet = symbols.alphabetSize
        let groups = count < 200 ? 2 : count < 600 ? 3 : count < 1200 ? 4 : count < 2400 ? 5 : 6
        // Initial tables: table p - 1 is cheap (0) on a band of symbols holding about an
        // equal share of what is left, dear (15) elsewhere.
        var lengths = [[UInt8]](repeating: [UInt8](repeating: 15, count: alphabet), count: 6)
        var part = groups, remaining = Int(count), start = 0
        while part > 0 {
            let target = remaining / part
            var end = start - 1, taken = 0
            while taken < target && end < alphabet - 1 {
                end += 1
                taken += Int(symbols.frequencies[end])
            }
            if end > start && part != groups && part != 1 && (groups - part) % 2 == 1 {
                taken -= Int(symbols.frequencies[end])
                end -= 1
            }
            for v in 0..<alphabet { lengths[part - 1][v] = v >= start && v <= end ? 0 : 15 }
            part -= 1
            start = end + 1
            remaining -= taken
        }
        // Four rounds: each group of 50 symbols picks the cheapest table (first on ties), and
        // each table's lengths are remade from the symbols of the groups that picked it.
        // The cost of a group under every table at once: each symbol's six lengths packed in
        // 16-bit lanes of two words (a group's sum is at most 50 x 17 per lane, no carry).
        var selectors = [UInt8](repeating: 0, count: (count + groupSize - 1) / groupSize)
        var packed = [UInt64](repeating: 0, count: 2 * alphabet)
        var frequencies = [Int32](repeating: 0, count: 6 * alphabet)
        for _ in 0..<4 {
            for v in 0..<alphabet {
                var lo: UInt64 = 0, hi: UInt64 = 0
                for t in 0..<min(groups, 4) { lo |= UInt64(lengths[t][v]) << UInt64(16 * t) }
                for t in 4..<max(4, groups) { hi |= UInt64(lengths[t][v]) << UInt64(16 * (t - 4)) }
                packed[2 * v] = lo
                packed[2 * v + 1] = hi
            }
            for k in frequencies.indices { frequencies[k] = 0 }
            mtf.withUnsafeBufferPointer { m in
                packed.withUnsafeBufferPointer { pk in
                    frequencies.withUnsafeMutableBufferPointer { freq in
                        selectors.withUnsafeMutableBufferPointer { sel in
                            var gs = 0, group = 0
                            while gs < count {
                                let ge = min(gs + groupSize, count)
                                var lo: UInt64 = 0, hi: UInt64 = 0
                                for i in gs..<ge {
                                    let v = Int(m[i])
                                    lo &+= pk[2 * v]
                                    hi &+= pk[2 * v + 1]
                                }
                                var best = 0, bestCost = Int.max
                                for t in 0..<groups {
                                    let cost = Int(truncatingIfNeeded: (t < 4 ? lo >> UInt64(16 * t) : hi >> UInt64(16 * (t - 4))) & 0xFFFF)
                                    if cost < bestCost { bestCost = cost; best = t }
                                }
                                sel[group] = UInt8(best)
                                let row = best * alphabet
                                for i in gs..<ge { freq[row + Int(m[i])] += 1 }
                                gs = ge
                                group += 1
                            }
                        }
                    }
                }
            }
            for t in 0..<groups {
                lengths[t] = codeLengths(Array(frequencies[t * alphabet ..< (t + 1) * alphabet]), maxLength: maxCodeLength)
            }
        }
        var codes = [[UInt32]](repeating: [], count: groups)
        for t in 0..<groups { codes[t] = assignCodes(lengths[t]) }

        // The symbol map: which 16-value ranges are used, then the values in each.
        var ranges: UInt32 = 0
        for r in 0..<16 where (0..<16).contains(where: { symbols.inUse[r * 16 + $0] }) { ranges |= 1 << UInt32(15 - r) }
        bits.write(ranges, count: 16)
        for r in 0..<16 where ranges & (1 << UInt32(15 - r)) != 0 {
            var map: UInt32 = 0
            for v in 0..<16 where symbols.inUse[r * 16 + v] { map |= 1 << UInt32(15 - v) }
            bits.write(map, count: 16)
        }
        // Selectors, move-to-front coded, each as a unary number.
        bits.write(UInt32(groups), count: 3)
        bits.write(UInt32(selectors.count), count: 15)
        var order = [UInt8](0..<6)
        for s in selectors {
            var j = 0
            while order[j] != s { j += 1 }
            if j > 0 {
                order[1...j] = order[0..<j]
                order[0] = s
            }
            for _ in 0..<j { bits.write(1, count: 1) }
            bits.write(0, count: 1)
        }
        // Each table's code lengths: the first in 5 bits, then each as steps from the one before.
        for t in 0..<groups {
            var current = Int(lengths[t][0])
            bits.write(UInt32(current), count: 5)
            for v in 0..<alphabet {
                let target = Int(lengths[t][v])
                while current < target { bits.write(2, count: 2); current += 1 }
                while current > target { bits.write(3, count: 2); current -= 1 }
                bits.write(0, count: 1)
            }
        }
        // The data, each group of 50 with its table.
        var gs = 0, group = 0
        mtf.withUnsafeBufferPointer { m in
            while gs < count {
                let ge = min(gs + groupSize, count)
                let t = Int(selectors[group])
                lengths[t].withUnsafeBufferPointer { row in
                    codes[t].withUnsafeBufferPointer { code in
                        for i in gs..<ge {
                            let v = Int(m[i])
                            bits.write(code[v], count: Int(row[v]))
                        }
                    }
                }
                gs = ge
                group += 1
            }
        }
    }

    /// Huffman code lengths of at most `maxLength` bits for `frequencies` (a zero counts as
    /// one), as huffman.c `BZ2_hbMakeCodeLengths` makes them: nodes from a binary heap on
    /// weight (count << 8 | depth, so that equal counts merge shallow trees first); when a
    /// length exceeds the limit, every count is halved (plus one) and the tree remade.
    static func codeLengths(_ frequencies: [Int32], maxLength: Int) -> [UInt8] {
        let size = frequencies.count
        var weight = [Int32](repeating: 0, count: 2 * size + 2)
        var parent = [Int32](repeating: 0, count: 2 * size + 2)
        var heap = [Int32](repeating: 0, count: size + 2)
        var lengths = [UInt8](repeating: 0, count: size)
        for i in 0..<size { weight[i + 1] = (frequencies[i] == 0 ? 1 : frequencies[i]) << 8 }
        while true {
            var nodes = size, count = 0
            heap[0] = 0; weight[0] = 0; parent[0] = -2
            func up(_ z: Int) {
                var zz = z
                let tmp = heap[zz]
                while weight[Int(tmp)] < weight[Int(heap[zz >> 1])] {
                    heap[zz] = heap[zz >> 1]
                    zz >>= 1
                }
                heap[zz] = tmp
            }
            func down(_ z: Int) {
                var zz = z
                let tmp = heap[zz]
                while true {
                    var yy = zz << 1
                    if yy > count { break }
                    if yy < count && weight[Int(heap[yy + 1])] < weight[Int(heap[yy])] { yy += 1 }
                    if weight[Int(tmp)] < weight[Int(heap[yy])] { break }
                    heap[zz] = heap[yy]
                    zz = yy
                }
                heap[zz] = tmp
            }
            for i in 1...size {
                parent[i] = -1
                count += 1
                heap[count] = Int32(i)
                up(count)
            }
            while count > 1 {
                let n1 = heap[1]; heap[1] = heap[count]; count -= 1; down(1)
                let n2 = heap[1]; heap[1] = heap[count]; count -= 1; down(1)
                nodes += 1
                parent[Int(n1)] = Int32(nodes); parent[Int(n2)] = Int32(nodes)
                let a = weight[Int(n1)], b = weight[Int(n2)]
                weight[nodes] = ((a & ~0xFF) + (b & ~0xFF)) | (1 + max(a & 0xFF, b & 0xFF))
                parent[nodes] = -1
                count += 1
                heap[count] = Int32(nodes)
                up(count)
            }
            var tooLong = false
            for i in 1...size {
                var depth = 0, k = i
                while parent[k] >= 0 { k = Int(parent[k]); depth += 1 }
                lengths[i - 1] = UInt8(depth)
                if depth > maxLength { tooLong = true }
            }
            if !tooLong { return lengths }
            for i in 1...size { weight[i] = (1 + (weight[i] >> 8) / 2) << 8 }
        }
    }

    /// Canonical codes for `lengths` (huffman.c `BZ2_hbAssignCodes`): by length, then symbol.
    static func assignCodes(_ lengths: [UInt8]) -> [UInt32] {
        var codes = [UInt32](repeating: 0, count: lengths.count)
        guard let lo = lengths.min(), let hi = lengths.max() else { return codes }
        var next: UInt32 = 0
        for length in lo...hi {
            for (v, l) in lengths.enumerated() where l == length {
                codes[v] = next
                next += 1
            }
            next <<= 1
        }
        return codes
    }
}

/// MSB-first bit output (compress.c `bsW`), padded with zero bits to a byte at the end.
struct BitWriter {
    private var bytes: [UInt8]
    private var buffer: UInt64 = 0
    private var live = 0

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends the low `count` (0...32) bits of `value`, MSB first.
    @inline(__always)
    mutating func write(_ value: UInt32, count: Int) {
        buffer = buffer << UInt64(count) | UInt64(value) & ((1 << UInt64(count)) &- 1)
        live += count
        while live >= 8 {
            live -= 8
            bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt64(live)))
        }
    }

    mutating func finish() -> [UInt8] {
        if live > 0 { bytes.append(UInt8(truncatingIfNeeded: buffer << UInt64(8 - live))) }
        live = 0
        return bytes
    }
}

/// CRC-32/BZIP2 (polynomial 0x04C11DB7, MSB first, init and final xor 0xFFFFFFFF), eight
/// bytes a step (slicing by 8); `BZip2Blocks.crc` is the byte-at-a-time reference.
enum CRC32BZip2 {
    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        var i = 0
        let n = bytes.count
        guard let base = bytes.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(base)
        tables.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let a = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let b = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(a >> 24)] ^ t[6 * 256 + Int((a >> 16) & 0xFF)]
                    ^ t[5 * 256 + Int((a >> 8) & 0xFF)] ^ t[4 * 256 + Int(a & 0xFF)]
                    ^ t[3 * 256 + Int(b >> 24)] ^ t[2 * 256 + Int((b >> 16) & 0xFF)]
                    ^ t[1 * 256 + Int((b >> 8) & 0xFF)] ^ t[Int(b & 0xFF)]
                i += 8
            }
            while i < n {
                c = (c << 8) ^ t[Int((c >> 24) ^ UInt32(base[i]))]
                i += 1
            }
        }
        return ~c
    }

    /// `tables[k * 256 + v]`: the CRC register after byte v followed by k zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for v in 0..<256 {
            var c = UInt32(v) << 24
            for _ in 0..<8 { c = c & 0x8000_0000 != 0 ? (c << 1) ^ 0x04C1_1DB7 : c << 1 }
            t[v] = c
        }
        for k in 1..<8 {
            for v in 0..<256 {
                let prev = t[(k - 1) * 256 + v]
                t[k * 256 + v] = (prev << 8) ^ t[Int(prev >> 24)]
            }
        }
        return t
    }()
}
