import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Delta

/// An input for the bzip2 stream tests, made on demand (some are tens of MB).
struct StreamInput: CustomStringConvertible, Sendable {
    let name: String
    /// How many blocks libbz2 makes of the input, by the reading of bzlib.c in `BZip2Blocks`
    /// (checked first, so each case really runs the path its name promises).
    let blocks: ClosedRange<Int>
    let make: @Sendable () throws -> [UInt8]
    var description: String { name }
}

/// The inputs: edge cases, sizes around block boundaries, the run-length extremes and real binaries.
enum StreamInputs {
    /// Random bytes where no byte equals the one before, so the first run-length stage passes
    /// every byte through and a block holds exactly `BZip2Blocks.blockCapacity` + 2 = 899,981
    /// input bytes (the byte that fills the block opens the next one).
    static func noRepeats(_ n: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var out = [UInt8](repeating: 0, count: n)
        var previous: UInt8 = 0
        var v: UInt64 = 0
        for i in 0..<n {
            if i % 8 == 0 { v = g.next() }
            var b = UInt8(truncatingIfNeeded: v >> UInt64(8 * (i % 8)))
            if i > 0 && b == previous { b &+= 1 }
            out[i] = b
            previous = b
        }
        return out
    }

    /// Runs of the given lengths in turn, each of a random byte different from the one before,
    /// cut off at `total` bytes.
    static func runs(_ lengths: [Int], total: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(total)
        var previous: UInt8 = 0
        var k = 0
        while out.count < total {
            var b = UInt8(truncatingIfNeeded: g.next())
            if k > 0 && b == previous { b &+= 1 }
            out.append(contentsOf: repeatElement(b, count: min(lengths[k % lengths.count], total - out.count)))
            previous = b
            k += 1
        }
        return out
    }

    /// A mix: random stretches, zero runs up to 20 kB, short runs of random length, text.
    static func mixed(_ total: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(total + 100_000)
        while out.count < total {
            switch g.next() % 4 {
            case 0: out += noRepeats(Int(g.next() % 5000) + 1, seed: g.next())
            case 1: out += repeatElement(0, count: Int(g.next() % 20_000) + 1)
            case 2:
                for _ in 0..<Int(g.next() % 50) {
                    out += repeatElement(UInt8(truncatingIfNeeded: g.next()), count: Int(g.next() % 300) + 1)
                }
            default: out += Array("firmware build \(g.next() % 1000), section .text\u{0}".utf8)
            }
        }
        return Array(out.prefix(total))
    }

    /// Both kernel-module fixture pairs, old and new, one after the other (1.47 MB).
    static func kernelModules() throws -> [UInt8] {
        var out = [UInt8]()
        for name in Fixtures.names {
            let pair = try Fixtures.pair(name)
            out += pair.old + pair.new
        }
        return out
    }

    /// The real diff block of the S1 kernel-module pair (new - old over Delta's add ranges),
    /// mostly zeros, repeated until it spans `blocks` blocks.
    static func kernelDiffBlock(blocks: Int) throws -> [UInt8] {
        let pair = try Fixtures.pair("S1-xhci-ko")
        let triples = try Delta.computeTriples(old: pair.old, new: pair.new, options: DeltaCreateOptions(),
                                               progress: SilentProgress())
        var diff = [UInt8]()
        var oldpos = 0, newpos = 0
        for t in triples {
            for i in 0..<Int(t.add) { diff.append(pair.new[newpos + i] &- pair.old[oldpos + i]) }
            newpos += Int(t.add + t.copy)
            oldpos += Int(t.add + t.seek)
        }
        var out = diff
        while out.withUnsafeBufferPointer({ BZip2Blocks.blockStarts($0).count }) < blocks { out += diff }
        return out
    }

    /// The real S1 diff block with zero runs of 600 kB, 2 MB and 300 kB between copies of it (as
    /// where a kernel's unchanged regions meet): blocks heavy enough for the fallback sort
    /// (`BZip2Blocks.fallbackRunWeight`) next to ordinary ones.
    static func diffWithLongRuns() throws -> [UInt8] {
        let diff = try kernelDiffBlock(blocks: 1)
        let three = diff + diff + diff  // more than a block's worth of ordinary diff bytes
        var out = three
        for run in [600_000, 2_000_000, 300_000] {
            out += repeatElement(0, count: run)
            out += three
        }
        return out
    }

    static let all: [StreamInput] = [
        StreamInput(name: "empty", blocks: 0...0) { [] },
        StreamInput(name: "one byte", blocks: 1...1) { [0x42] },
        StreamInput(name: "random, one byte short of a second block (899,982 bytes)", blocks: 1...1) { noRepeats(899_982, seed: 1) },
        StreamInput(name: "random, the first size with a second block (899,983 bytes)", blocks: 2...2) { noRepeats(899_983, seed: 2) },
        StreamInput(name: "random, 899,990 bytes", blocks: 2...2) { noRepeats(899_990, seed: 3) },
        StreamInput(name: "random, one byte short of a third block (1,799,963 bytes)", blocks: 2...2) { noRepeats(1_799_963, seed: 4) },
        StreamInput(name: "random, the first size with a third block (1,799,964 bytes)", blocks: 3...3) { noRepeats(1_799_964, seed: 5) },
        // 45,899,235 zeros fill a block (179,997 runs of 255, each coded as 5 bytes).
        StreamInput(name: "96 MiB of zeros (a block holds 45.9 MB)", blocks: 3...3) { [UInt8](repeating: 0, count: 96 << 20) },
        StreamInput(name: "zeros, one byte short of a second block", blocks: 1...1) { [UInt8](repeating: 0, count: 45_899_236) },
        StreamInput(name: "zeros, the first size with a second block", blocks: 2...2) { [UInt8](repeating: 0, count: 45_899_237) },
        // Runs of exactly 4 code as 5 bytes: a block holds only 719,988 input bytes.
        StreamInput(name: "runs of exactly 4 equal bytes (25% expansion)", blocks: 3...3) { runs([4], total: 2_000_000, seed: 6) },
        StreamInput(name: "runs of 4, one byte short of a second block", blocks: 1...1) { runs([4], total: 719_989, seed: 7) },
        StreamInput(name: "runs of 4, the first size with a second block", blocks: 2...2) { runs([4], total: 719_990, seed: 8) },
        StreamInput(name: "runs of 255, 256 and 259 bytes", blocks: 2...2) { runs([255, 256, 259], total: 40_000_000, seed: 9) },
        StreamInput(name: "runs of 1 to 7 bytes", blocks: 2...3) { runs([1, 2, 3, 4, 5, 6, 7], total: 1_500_000, seed: 10) },
        StreamInput(name: "mixed random, zero runs, short runs and text", blocks: 2...40) { mixed(12_000_000, seed: 11) },
        StreamInput(name: "real kernel modules, concatenated", blocks: 2...2) { try kernelModules() },
        StreamInput(name: "a real diff block (S1 kernel module), repeated over 3 blocks", blocks: 3...3) { try kernelDiffBlock(blocks: 3) },
        StreamInput(name: "a real diff block with zero runs of 600 kB, 2 MB and 300 kB (fallback-sort blocks)", blocks: 2...12) {
            try diffWithLongRuns()
        },
    ]

    /// A few of `all`, for the slower oracle tests.
    static func named(_ names: String...) -> [StreamInput] { all.filter { c in names.contains { c.name.hasPrefix($0) } } }
}

/// The CRCs of the blocks of a bzip2 stream, found by scanning every bit position for the
/// 48-bit block magic: an oracle that shares nothing with `BZip2Blocks` (a chance match of
/// the magic inside compressed data is about 2^-48 per position).
func scannedBlockCRCs(_ stream: [UInt8]) -> [UInt32] {
    var crcs = [UInt32]()
    stream.withUnsafeBufferPointer { s in
        let bits = s.count * 8
        var window: UInt64 = 0
        for bit in 0..<bits {
            window = ((window << 1) | UInt64((s[bit >> 3] >> UInt8(7 - bit & 7)) & 1)) & 0xFFFF_FFFF_FFFF
            if bit >= 47, window == BZip2Blocks.blockMagic, bit + 1 + 32 <= bits {
                crcs.append(UInt32(BitReader.read(s, at: bit + 1, count: 32)))
            }
        }
    }
    return crcs
}

@Suite("bzip2 streams compressed block by block on several threads", .serialized)
struct BZip2ParallelTests {
    /// Makes the input and checks it spans the blocks the case is about.
    func input(_ c: StreamInput) throws -> [UInt8] {
        let bytes = try c.make()
        let blocks = bytes.withUnsafeBufferPointer { BZip2Blocks.blockStarts($0).count }
        try #require(c.blocks.contains(blocks), "\(c.name): \(blocks) blocks, expected \(c.blocks)")
        return bytes
    }

    @Test("the parallel stream equals libbz2's serial stream byte for byte", arguments: StreamInputs.all)
    func parallelEqualsSerial(_ c: StreamInput) throws {
        let bytes = try input(c)
        try bytes.withUnsafeBufferPointer { b in
            let serial = try BZip2.compress(b)
            // 3 threads on the smaller inputs: more workers than cores, blocks finishing out of order.
            for threads in b.count < 10_000_000 ? [2, 3] : [2] {
                let parallel = try BZip2.compress(b, concurrency: threads)
                #expect(Mismatch(parallel, serial) == nil, "\(c.name), \(threads) threads")
            }
        }
    }

    @Test("libbz2's own block CRCs are the CRCs of the slices blockStarts cuts",
          arguments: StreamInputs.named("random, the first size with a second", "random, the first size with a third",
                                        "96 MiB", "zeros, the first", "runs of exactly 4", "runs of 4, the first",
                                        "runs of 255", "mixed", "real kernel modules"))
    func blockStartsMatchLibbz2(_ c: StreamInput) throws {
        let bytes = try input(c)
        try bytes.withUnsafeBufferPointer { b in
            let starts = BZip2Blocks.blockStarts(b)
            let crcs = starts.indices.map { k in
                BZip2Blocks.crc(UnsafeBufferPointer(rebasing: b[starts[k] ..< (k + 1 < starts.count ? starts[k + 1] : b.count)]))
            }
            let serial = try BZip2.compress(b)
            #expect(scannedBlockCRCs(serial) == crcs, "\(c.name)")
        }
    }

    @Test("the spliced stream stands on its own: bzip2 -t accepts it and libbz2 decodes it to the input",
          arguments: StreamInputs.named("random, the first size with a third", "zeros, the first", "runs of exactly 4",
                                        "mixed", "a real diff block"))
    func splicedStreamIsValid(_ c: StreamInput) throws {
        try requireTool("bzip2")
        let bytes = try input(c)
        let stream = try bytes.withUnsafeBufferPointer { try BZip2.compress($0, concurrency: 2) }
        let dir = try TemporaryDirectory()
        let path = try dir.write("s.bz2", stream)
        let r = try runProcess("bzip2", ["-t", path])
        #expect(r.status == 0, "bzip2 -t rejects the spliced stream of \(c.name): \(r.err)")
        // Read back through the reader Patcher uses: every byte, the stream's end, nothing after it.
        try stream.withUnsafeBufferPointer { s in
            let reader = try BZip2Reader(s, limit: bytes.count, what: "test")
            var decoded = [UInt8](repeating: 0, count: bytes.count + 1)
            let n = try decoded.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, count: $0.count) }
            #expect(n == bytes.count)
            #expect(try reader.isAtEnd())
            #expect(reader.unusedInput == 0)
            #expect(Mismatch(Array(decoded.prefix(n)), bytes) == nil)
        }
    }

    @Test("several inputs share one work list and each comes out as its serial stream, on 1 to 8 threads")
    func severalInputs() throws {
        let inputs: [[UInt8]] = [Array(repeating: 7, count: 24 * 1000), StreamInputs.noRepeats(1_900_000, seed: 12),
                                 [], StreamInputs.mixed(3_000_000, seed: 13), [1, 2, 3]]
        let serial = try inputs.map { i in try i.withUnsafeBufferPointer { try BZip2.compress($0) } }
        for threads in [1, 2, 8] {
            let parallel = try withBuffers(inputs) { try BZip2.compress($0, concurrency: threads) }
            #expect(parallel.count == serial.count)
            for (k, (p, s)) in zip(parallel, serial).enumerated() { #expect(Mismatch(p, s) == nil, "input \(k), \(threads) threads") }
        }
    }

    @Test("each block's run weight sums (run length / 255)^2 over the runs inside it, as a plain count over its slice does",
          arguments: StreamInputs.named("one byte", "random, the first size with a third", "96 MiB", "zeros, the first",
                                        "runs of 255", "mixed", "a real diff block"))
    func runWeights(_ c: StreamInput) throws {
        let bytes = try input(c)
        bytes.withUnsafeBufferPointer { b in
            let blocks = BZip2Blocks.blocks(b)
            #expect(blocks.map(\.start) == BZip2Blocks.blockStarts(b))
            let expected = blocks.indices.map { k -> Int in
                let end = k + 1 < blocks.count ? blocks[k + 1].start : b.count
                var weight = 0, i = blocks[k].start
                while i < end {
                    var j = i + 1
                    while j < end && b[j] == b[i] { j += 1 }
                    weight += ((j - i) / 255) * ((j - i) / 255)
                    i = j
                }
                return weight
            }
            #expect(blocks.map(\.runWeight) == expected, "\(c.name)")
        }
    }

    @Test("blocks of long zero runs take the fallback sort and the stream is still libbz2's serial one, on 1 and 2 threads")
    func fallbackSortBlocks() throws {
        let bytes = try StreamInputs.diffWithLongRuns()
        try bytes.withUnsafeBufferPointer { b in
            let weights = BZip2Blocks.blocks(b).map(\.runWeight)
            #expect(weights.contains { $0 >= BZip2Blocks.fallbackRunWeight }, "\(weights)")
            #expect(weights.contains { $0 < BZip2Blocks.fallbackRunWeight }, "\(weights)")
            let serial = try BZip2.compress(b)
            for threads in [1, 2] {
                #expect(Mismatch(try BZip2.compress(b, concurrency: threads), serial) == nil, "\(threads) threads")
            }
            // libbz2's promise that the work factor never changes the bytes, on a whole heavy block.
            #expect(Mismatch(try BZip2.compress(b, workFactor: 1), serial) == nil)
        }
    }

    @Test("a slice that spans two blocks is refused by libbz2's own check, never spliced")
    func twoBlockSliceIsRefused() throws {
        let two = StreamInputs.noRepeats(899_983, seed: 14)
        let one = Array(two.prefix(899_982))
        try two.withUnsafeBufferPointer { b in
            #expect(try BZip2.compressSingleBlock(b) == nil)
            let serial = try BZip2.compress(b)
            #expect(serial.withUnsafeBufferPointer { BZip2Blocks.parseSingleBlock($0) } == nil,
                    "a two-block stream must not pass for a single block")
            var splicer = BZip2StreamSplicer()
            #expect(serial.withUnsafeBufferPointer { splicer.append(blockOf: $0) } == false)
        }
        try one.withUnsafeBufferPointer { b in
            let single = try #require(try BZip2.compressSingleBlock(b))
            #expect(Mismatch(single, try BZip2.compress(b)) == nil)
            let block = try #require(single.withUnsafeBufferPointer { BZip2Blocks.parseSingleBlock($0) })
            #expect(block.crc == BZip2Blocks.crc(b))
            // Damaged copies do not parse: wrong header, a flipped trailer bit, cut short.
            var header = single
            header[3] = UInt8(ascii: "8")
            var trailer = single
            trailer[trailer.count - 3] ^= 0x10
            for bad in [header, trailer, Array(single.dropLast()), Array(single.prefix(20))] {
                #expect(bad.withUnsafeBufferPointer { BZip2Blocks.parseSingleBlock($0) } == nil)
            }
        }
    }

    @Test("splicing one block gives back its stream, and no blocks give libbz2's empty stream")
    func spliceEdges() throws {
        let empty = try [UInt8]().withUnsafeBufferPointer { try BZip2.compress($0) }
        #expect(empty == [0x42, 0x5A, 0x68, 0x39, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0, 0, 0, 0])
        var none = BZip2StreamSplicer()
        #expect(none.finish() == empty)
        let data = StreamInputs.mixed(300_000, seed: 15)
        let stream = try data.withUnsafeBufferPointer { try BZip2.compress($0) }
        var splicer = BZip2StreamSplicer()
        #expect(stream.withUnsafeBufferPointer { splicer.append(blockOf: $0) })
        #expect(splicer.finish() == stream)
    }

    @Test("CRC-32/BZIP2 gives the standard check value and combines as libbz2 does")
    func crc() {
        let check = Array("123456789".utf8).withUnsafeBufferPointer { BZip2Blocks.crc($0) }
        #expect(check == 0xFC89_1918)
        #expect(BZip2Blocks.combine(0, 0x8000_0001) == 0x8000_0001)
        #expect(BZip2Blocks.combine(0x8000_0001, 0) == 0x0000_0003)
    }
}

/// A BSDIFF40 patch whose diff and extra streams each have several bzip2 blocks.
@Suite("BSDIFF40 patches with multi-block streams", .serialized)
struct MultiBlockPatchTests {
    /// old: 2.5 MB of random bytes; new: old with every 7th byte changed (the diff block is
    /// 6 zeros then 1 byte, about 3 blocks) followed by 1.2 MB of new random bytes (extra, 2 blocks).
    static let pair: Pair = {
        let old = StreamInputs.noRepeats(2_500_000, seed: 21)
        var new = old
        for i in stride(from: 0, to: new.count, by: 7) { new[i] &+= UInt8(truncatingIfNeeded: i / 7 % 5 + 1) }
        return Pair(name: "every 7th byte changed, 1.2 MB appended", old: old, new: new + StreamInputs.noRepeats(1_200_000, seed: 22))
    }()
    static let triples = [ControlTriple(add: 2_500_000, copy: 1_200_000, seek: 0)]

    func patch(concurrency: Int) throws -> [UInt8] {
        try Self.pair.old.withUnsafeBufferPointer { o in
            try Self.pair.new.withUnsafeBufferPointer { n in
                try BSDIFF40.write(old: o, new: n, triples: Self.triples, concurrency: concurrency)
            }
        }
    }

    @Test("BSDIFF40.write makes the same patch on 1, 2 and 8 threads, and its streams are multi-block")
    func sameBytesOnAnyThreadCount() throws {
        let serial = try patch(concurrency: 1)
        #expect(Mismatch(try patch(concurrency: 2), serial) == nil)
        #expect(Mismatch(try patch(concurrency: 8), serial) == nil)
        // The diff and extra blocks really span several bzip2 blocks.
        let x = Int(BSDIFF40.decodeInteger(serial, at: 8)), y = Int(BSDIFF40.decodeInteger(serial, at: 16))
        #expect(scannedBlockCRCs(Array(serial[(32 + x) ..< (32 + x + y)])).count >= 2)
        #expect(scannedBlockCRCs(Array(serial[(32 + x + y)...])).count >= 2)
    }

    @Test("Debian bspatch, bsdiff4 and Firmchain apply a patch with multi-block streams")
    func referenceReadersApply() throws {
        try requireTool(InteropTests.bspatch)
        try requireBsdiff4()
        let pair = Self.pair
        let patch = try patch(concurrency: 2)
        #expect(Mismatch(try Delta.apply(old: pair.old, patch: patch), pair.new) == nil)
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old)
        let p = try dir.write("patch", patch)
        let r1 = try runProcess(InteropTests.bspatch, [old, dir.file("new.bspatch"), p])
        #expect(r1.status == 0, "bspatch failed: \(r1.err)")
        if r1.status == 0 { #expect(Mismatch(try dir.read("new.bspatch"), pair.new) == nil, "bspatch output differs") }
        let r2 = try runProcess(TestEnv.python, ["-c", "import sys, bsdiff4; bsdiff4.file_patch(sys.argv[1], sys.argv[2], sys.argv[3])",
                                                 old, dir.file("new.bsdiff4"), p])
        #expect(r2.status == 0, "bsdiff4 failed: \(r2.err)")
        if r2.status == 0 { #expect(Mismatch(try dir.read("new.bsdiff4"), pair.new) == nil, "bsdiff4 output differs") }
    }
}

/// Where two byte arrays first differ, as a short description (swift-testing's own diff of two
/// multi-megabyte arrays on a failed `==` takes hours, so comparisons go through this).
struct Mismatch: Equatable, CustomStringConvertible {
    let offset: Int
    let counts: (Int, Int)
    /// nil when `a == b`.
    init?(_ a: [UInt8], _ b: [UInt8]) {
        guard a != b else { return nil }
        offset = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        counts = (a.count, b.count)
    }
    var description: String { "first difference at byte \(offset) (\(counts.0) vs \(counts.1) bytes)" }
    static func == (l: Mismatch, r: Mismatch) -> Bool { l.offset == r.offset && l.counts == r.counts }
}

/// Calls `body` with buffers over all of `arrays` (valid only during the call).
func withBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeBufferPointer<UInt8>]) throws -> R) rethrows -> R {
    func go(_ k: Int, _ acc: [UnsafeBufferPointer<UInt8>]) throws -> R {
        if k == arrays.count { return try body(acc) }
        return try arrays[k].withUnsafeBufferPointer { try go(k + 1, acc + [$0]) }
    }
    return try go(0, [])
}
