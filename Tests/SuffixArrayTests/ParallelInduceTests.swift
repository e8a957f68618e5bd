import FirmchainCore
@testable import SuffixArray
import Testing
import TestSupport

/// The block-parallel level-0 passes must give exactly the serial suffix array. Small slices and
/// blocks make every input cross many block boundaries, and with minimumBlock 1 both the shared
/// blocks and the driver's serial stretches run on every pass.
@Suite("Parallel induced sorting gives the serial suffix array")
struct ParallelInduceTests {
    static func parallelBuild(_ text: [UInt8], threads: Int = 2, slice: Int, minimumBlock: Int, minimumLevel: Int = 1) -> [Int32] {
        guard !text.isEmpty else { return [] }
        let options = ParallelInduceOptions(threads: threads, sliceCapacity: slice, minimumBlock: minimumBlock,
                                            minimumLevel: minimumLevel)
        return text.withUnsafeBufferPointer { t in
            [Int32](unsafeUninitializedCapacity: t.count) { sa, count in
                SAIS.sortBytes(t, sa, parallel: options)
                count = t.count
            }
        }
    }

    static func expectSame(_ text: [UInt8], _ label: String) throws {
        let serial = try SuffixArray.build(text)
        for slice in [3, 64, 4096] {
            for minimumBlock in [1, 100] {
                // A Bool, so that a failure names the case without printing two whole arrays.
                // minimumLevel 1 or 1000: the helper steps on every level, or on the long ones.
                let level = minimumBlock == 1 ? 1 : 1000
                let same = parallelBuild(text, slice: slice, minimumBlock: minimumBlock, minimumLevel: level) == serial
                #expect(same, "\(label): n=\(text.count) slice=\(slice) minimumBlock=\(minimumBlock) minimumLevel=\(level)")
            }
        }
    }

    @Test("small texts of every kind, against the naive reference too")
    func small() throws {
        var g = SeededGenerator(seed: 0x5A15_2026)
        for round in 0..<300 {
            let n = Int(g.next() % 400) + 1
            let alphabet = [1, 2, 3, 4, 16, 256][Int(g.next() % 6)]
            var text = Texts.random(n, alphabet: alphabet, seed: g.next())
            if g.next() % 3 == 1 {
                let period = Int(g.next() % 9) + 1
                text = Texts.repeated(Array(text.prefix(period)), count: n)
                if g.next() % 2 == 0 { text[n - 1] = UInt8(truncatingIfNeeded: g.next()) }
            }
            let naive = SuffixArray.naive(text)
            for slice in [1, 2, 7] {
                let same = Self.parallelBuild(text, threads: 2 + Int(round % 2), slice: slice, minimumBlock: 1) == naive
                #expect(same, "round \(round) n=\(n) σ=\(alphabet) slice=\(slice)")
            }
        }
    }

    @Test("random, repetitive, periodic, Fibonacci and run-heavy texts")
    func structured() throws {
        var g = SeededGenerator(seed: 77)
        try Self.expectSame(g.bytes(60_000), "random")
        try Self.expectSame(Texts.random(60_000, alphabet: 2, seed: 5), "binary")
        try Self.expectSame(Texts.repetitive(80_000, seed: 3), "repetitive")
        try Self.expectSame(Texts.fibonacci(50_000), "fibonacci")
        for unit in ["ab", "aaab", "abaababaab"] {
            try Self.expectSame(Texts.repeated(Array(unit.utf8), count: 20_001), "periodic \(unit)")
        }
        var runs = [UInt8](repeating: 0, count: 60_000)
        for i in stride(from: 0, to: runs.count, by: 997) { runs[i] = UInt8(truncatingIfNeeded: i >> 10) }
        try Self.expectSame(runs, "runs")
        try Self.expectSame([UInt8](repeating: 0xFF, count: 30_000), "all equal")
    }

    @Test("SuffixArray.build with threads on a 3 MiB firmware-like text equals the one-thread build")
    func publicEdge() throws {
        let text = Texts.repetitive(3 << 20, seed: 11)
        let one = try SuffixArray.build(text)
        let two = try SuffixArray.build(text, threads: 2) == one
        let three = try SuffixArray.build(text, threads: 3) == one
        #expect(two)
        #expect(three)
        #expect(SuffixArray.check(text, one) == .valid)
    }
}
