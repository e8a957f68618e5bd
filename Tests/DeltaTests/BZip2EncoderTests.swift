import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Delta

/// The Swift block encoder against libbz2 itself: every stream it writes must be libbz2's,
/// byte for byte, and it may decline only what it says it declines.
@Suite("bzip2 blocks written by the Swift encoder are libbz2's bytes")
struct BZip2EncoderTests {
    /// Compares the encoder with libbz2 on `slice` (which libbz2 makes one block of); returns
    /// whether the encoder took it. A decline must be a periodic block.
    @discardableResult
    func check(_ slice: UnsafeBufferPointer<UInt8>, _ what: String) throws -> Bool {
        let reference = try #require(try BZip2.compressSingleBlock(slice), "\(what): libbz2 made more than one block")
        guard let mine = BZip2Encoder.singleBlockStream(slice) else {
            let block = try #require(BZip2Encoder.runLengthBlock(slice), "\(what): declined as not one block")
            #expect(BZip2Encoder.leastRotationIfPrimitive(block.block) == nil, "\(what): declined a primitive block")
            return false
        }
        #expect(Mismatch(mine, reference) == nil, "\(what)")
        return true
    }

    /// The bzip2 stream inputs at and around the block boundaries, of runs, and of real diff
    /// blocks (the larger random and mixed ones add time in debug builds, not cases).
    static let inputs = StreamInputs.named(
        "empty", "one byte", "random, one byte short of a second", "random, the first size with a second",
        "zeros, one byte short", "runs of 4, one byte short", "runs of 4, the first size", "runs of 255",
        "runs of 1 to 7", "real kernel modules", "a real diff block with zero runs")

    @Test("every block of the bzip2 stream inputs, and every such input whole", arguments: inputs)
    func blocksOfStreamInputs(_ c: StreamInput) throws {
        let bytes = try c.make()
        try bytes.withUnsafeBufferPointer { b in
            let starts = BZip2Blocks.blockStarts(b)
            var taken = 0
            for (k, start) in starts.enumerated() {
                let end = k + 1 < starts.count ? starts[k + 1] : b.count
                if try check(UnsafeBufferPointer(rebasing: b[start..<end]), "\(c.name), block \(k)") { taken += 1 }
            }
            // Only the zero-filled inputs are periodic throughout.
            if !c.name.hasPrefix("zeros") && !c.name.hasPrefix("96 MiB") && !starts.isEmpty {
                #expect(taken > 0, "\(c.name): no block taken")
            }
            if starts.count > 1 {
                #expect(BZip2Encoder.singleBlockStream(b) == nil, "\(c.name): took an input of \(starts.count) blocks")
            }
            if starts.isEmpty { #expect(BZip2Encoder.singleBlockStream(b) == nil) }
        }
    }

    @Test("runs of every length from 1 to 300 between random bytes, and alone (periodic: declined)")
    func runLengths() throws {
        var g = SeededGenerator(seed: 77)
        for length in 1...300 {
            var input = (0..<40).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            input += repeatElement(UInt8(length & 0xFF), count: length)
            input += (0..<(Int(g.next() % 60))).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            let taken = try input.withUnsafeBufferPointer { try check($0, "run of \(length)") }
            #expect(taken, "run of \(length)")
            let alone = [UInt8](repeating: 7, count: length)
            try alone.withUnsafeBufferPointer { b in
                let took = try check(b, "\(length) equal bytes alone")
                // Periodic after the first stage: 2 or 3 equal bytes, and 11 (four 7s and the
                // count 11 - 4 = 7). Every other length is taken.
                #expect(took == ![2, 3, 11].contains(length), "\(length) equal bytes alone: taken \(took)")
            }
        }
    }

    @Test("skewed symbol counts: code lengths capped at 17 through the halving step, as libbz2 caps them")
    func skewedAlphabets() throws {
        // Fibonacci counts make a Huffman tree 30 deep; the cap forces the halving loop.
        var fib: [Int32] = [1, 1]
        while fib.count < 30 { fib.append(fib[fib.count - 1] + fib[fib.count - 2]) }
        let lengths = BZip2Encoder.codeLengths(fib, maxLength: 17)
        #expect(lengths.max()! <= 17)
        #expect(lengths.allSatisfy { $0 >= 1 })
        // A complete prefix code: the Kraft sum is exactly 1.
        let kraft = lengths.reduce(0.0) { $0 + pow(2.0, -Double($1)) }
        #expect(abs(kraft - 1) < 1e-12)
        // And an input whose move-to-front ranks follow such counts, against libbz2.
        var input = [UInt8]()
        var g = SeededGenerator(seed: 5)
        for _ in 0..<200_000 {
            // Geometric choice of one of 200 values: rank k with probability about 2^-(k+1).
            let r = g.next()
            let k = min(199, (r | 1 << 63).trailingZeroBitCount)
            input.append(UInt8(k))
            if g.next() % 3 == 0 { input.append(UInt8(truncatingIfNeeded: g.next())) }
        }
        let taken = try input.withUnsafeBufferPointer { try check($0, "skewed") }
        #expect(taken)
    }

    @Test("short random inputs over small alphabets, where rotations share long prefixes")
    func smallAlphabets() throws {
        var g = SeededGenerator(seed: 9)
        for round in 0..<400 {
            let n = 1 + Int(g.next() % 3000)
            let alphabet = 1 + Int(g.next() % 3)
            let input = (0..<n).map { _ in UInt8(g.next() % UInt64(alphabet)) &* 61 }
            try input.withUnsafeBufferPointer { _ = try check($0, "round \(round): \(n) bytes over \(alphabet) values") }
        }
    }

    /// Diff-like bytes: zero runs from one byte to 900 kB between stretches of small deltas
    /// (mostly zero, some of them not), random bytes and short runs of other values.
    static func diffLike(seed: UInt64, total: Int) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(total + 600_000)
        while out.count < total {
            let r = g.next() % 20
            if r < 8 {
                out += repeatElement(0, count: Int(g.next() % (r == 0 ? 900_000 : 5000)) + 1)
            } else if r < 14 {
                for _ in 0..<Int(g.next() % 4000) + 1 {
                    out.append(g.next() % 5 == 0 ? UInt8(truncatingIfNeeded: g.next() % 7) &- 3 : 0)
                }
            } else if r < 19 {
                out += g.bytes(Int(g.next() % 3000) + 1)
            } else {
                out += repeatElement(UInt8(truncatingIfNeeded: g.next()), count: Int(g.next() % 1000) + 1)
            }
        }
        return out
    }

    @Test("diff-like inputs: every block heavy enough for the encoder is libbz2's stream", arguments: [1, 2] as [UInt64])
    func heavyDiffBlocks(_ seed: UInt64) throws {
        let input = Self.diffLike(seed: seed, total: 24_000_000)
        try input.withUnsafeBufferPointer { b in
            let blocks = BZip2Blocks.blocks(b)
            var heavy = 0
            for (k, block) in blocks.enumerated() where block.runWeight >= BZip2Blocks.fallbackRunWeight {
                let end = k + 1 < blocks.count ? blocks[k + 1].start : b.count
                if try check(UnsafeBufferPointer(rebasing: b[block.start..<end]), "seed \(seed), block \(k)") { heavy += 1 }
            }
            #expect(heavy >= 2 && blocks.count >= 2, "seed \(seed): \(heavy) heavy blocks taken of \(blocks.count)")
        }
    }

    @Test("the least rotation and the primitivity test agree with brute force")
    func leastRotation() {
        var g = SeededGenerator(seed: 3)
        for _ in 0..<3000 {
            let n = 1 + Int(g.next() % 24)
            var s = (0..<n).map { _ in UInt8(g.next() % 3) }
            if g.next() % 4 == 0 {  // make some powers u^k
                let u = Array(s.prefix(max(1, n / 3)))
                s = Array([[UInt8]](repeating: u, count: 3).joined())
            }
            let m = s.count
            let rotations = (0..<m).map { Array(s[$0...] + s[..<$0]) }
            let least = rotations.min { $0.lexicographicallyPrecedes($1) }!
            let primitive = rotations.filter { $0 == s }.count == 1
            let got = BZip2Encoder.leastRotationIfPrimitive(s)
            if primitive {
                #expect(got.map { rotations[$0] } == least, "\(s)")
            } else {
                #expect(got == nil, "\(s)")
            }
        }
    }

    @Test("the eight-bytes-a-step CRC equals the byte-at-a-time one at every length and alignment")
    func crc() {
        var g = SeededGenerator(seed: 11)
        let bytes = (0..<300).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        bytes.withUnsafeBufferPointer { b in
            for start in 0..<9 {
                for end in start...b.count {
                    let s = UnsafeBufferPointer(rebasing: b[start..<end])
                    #expect(CRC32BZip2.checksum(s) == BZip2Blocks.crc(s))
                }
            }
        }
    }
}
