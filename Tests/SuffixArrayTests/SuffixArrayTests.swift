import FirmchainCore
import SuffixArray
import Testing
import TestSupport

/// Inputs that stress SA-IS: long runs, periodic texts, Fibonacci words, tiny and skewed alphabets.
enum Texts {
    static func random(_ n: Int, alphabet: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: Int(g.next() % UInt64(alphabet))) }
    }

    static func repeated(_ unit: [UInt8], count n: Int) -> [UInt8] {
        (0..<n).map { unit[$0 % unit.count] }
    }

    /// The Fibonacci word over {a, b} cut to `n` bytes: a classic worst case for suffix sorting.
    static func fibonacci(_ n: Int) -> [UInt8] {
        var a: [UInt8] = [0x61], b: [UInt8] = [0x61, 0x62]
        while b.count < n { (a, b) = (b, b + a) }
        return Array(b.prefix(n))
    }

    /// Random blocks copied several times with a few mutations: like two firmware versions.
    static func repetitive(_ n: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        let block = g.bytes(max(1, n / 7))
        var out: [UInt8] = []
        out.reserveCapacity(n)
        while out.count < n {
            out += block
            if !out.isEmpty { out[Int(g.next() % UInt64(out.count))] ^= 0x5A }
        }
        return Array(out.prefix(n))
    }
}

@Suite("SuffixArray.build agrees with the naive reference")
struct BuildTests {
    static func expectMatchesNaive(_ text: [UInt8], _ label: String) throws {
        let sa = try SuffixArray.build(text)
        let expected = SuffixArray.naive(text)
        #expect(sa == expected, "\(label): n=\(text.count)")
        #expect(SuffixArray.check(text, sa) == .valid, "\(label)")
    }

    @Test("the empty text has an empty suffix array")
    func empty() throws {
        #expect(try SuffixArray.build([UInt8]()) == [])
        #expect(SuffixArray.naive([]) == [])
        #expect(SuffixArray.check([], []) == .valid)
    }

    @Test("a one-byte text has the suffix array [0]", arguments: [UInt8(0), 0x61, 0xFF])
    func oneByte(_ b: UInt8) throws {
        #expect(try SuffixArray.build([b]) == [0])
    }

    @Test("the buffer and array overloads agree")
    func overloads() throws {
        let text = Texts.repetitive(5000, seed: 11)
        let viaBuffer = try text.withUnsafeBufferPointer { try SuffixArray.build($0) }
        #expect(viaBuffer == (try SuffixArray.build(text)))
        #expect(try SuffixArray.build(UnsafeBufferPointer<UInt8>(start: nil, count: 0)) == [])
    }

    @Test("a known example: banana")
    func banana() throws {
        #expect(try SuffixArray.build(Array("banana".utf8)) == [5, 3, 1, 0, 4, 2])
        #expect(try SuffixArray.build(Array("mississippi".utf8)) == [10, 7, 4, 1, 0, 9, 8, 6, 3, 5, 2])
    }

    @Test("a shorter suffix that is a prefix of a longer one sorts first")
    func prefixOrder() throws {
        #expect(try SuffixArray.build([1, 1, 1]) == [2, 1, 0])
        #expect(try SuffixArray.build([0, 0, 0xFF, 0]) == [3, 0, 1, 2])
    }

    @Test("random texts over alphabets of size 1, 2, 4 and 256", arguments: [1, 2, 4, 256])
    func random(_ alphabet: Int) throws {
        for (i, n) in [2, 3, 5, 17, 100, 1000, 3000].enumerated() {
            try Self.expectMatchesNaive(Texts.random(n, alphabet: alphabet, seed: UInt64(alphabet * 100 + i)), "random σ=\(alphabet)")
        }
    }

    @Test("all-equal texts of many lengths")
    func allEqual() throws {
        for n in [2, 3, 4, 7, 64, 1000] {
            try Self.expectMatchesNaive([UInt8](repeating: 0x41, count: n), "all-equal")
            try Self.expectMatchesNaive([UInt8](repeating: 0, count: n), "all-zero")
            try Self.expectMatchesNaive([UInt8](repeating: 0xFF, count: n), "all-FF")
        }
    }

    @Test("periodic texts: abab…, aaab…, abcabc…, and a period with a change at the end")
    func periodic() throws {
        for n in [5, 6, 33, 500, 2001] {
            try Self.expectMatchesNaive(Texts.repeated(Array("ab".utf8), count: n), "abab")
            try Self.expectMatchesNaive(Texts.repeated(Array("aaab".utf8), count: n), "aaab")
            try Self.expectMatchesNaive(Texts.repeated(Array("abc".utf8), count: n), "abc")
            try Self.expectMatchesNaive(Texts.repeated(Array("ba".utf8), count: n) + [0x61], "ba..a")
            try Self.expectMatchesNaive(Texts.repeated(Array("abaab".utf8), count: n) + [0x00], "abaab..0")
        }
    }

    @Test("Fibonacci words")
    func fibonacci() throws {
        for n in [1, 2, 8, 13, 100, 987, 2500] {
            try Self.expectMatchesNaive(Texts.fibonacci(n), "fibonacci")
        }
    }

    @Test("repetitive texts (blocks copied with mutations)")
    func repetitive() throws {
        for (i, n) in [50, 700, 4000].enumerated() {
            try Self.expectMatchesNaive(Texts.repetitive(n, seed: UInt64(7 + i)), "repetitive")
        }
    }

    @Test("property: 300 texts made of runs (lengths 1-40, a few byte values) match the reference")
    func runs() throws {
        // Runs of one byte are skipped eight bytes at a time when counting and when finding the
        // LMS positions: lengths around multiples of 8, runs at both ends, runs of non-zero bytes.
        var g = SeededGenerator(seed: 0x5EED_0008)
        for round in 0..<300 {
            let n = Int(g.next() % 400) + 1
            let values: [UInt8] = [0, 0xFF, 0x41, UInt8(truncatingIfNeeded: g.next())]
            var text: [UInt8] = []
            while text.count < n {
                let length = Int(g.next() % 40) + 1
                text += repeatElement(values[Int(g.next() % 4)], count: length)
            }
            text = Array(text.prefix(n))
            let sa = try SuffixArray.build(text)
            #expect(sa == SuffixArray.naive(text), "round \(round) n=\(n)")
        }
    }

    @Test("runs: many short runs of one byte (more than 256 in a bucket), few long ones, runs at both ends")
    func manyAndLongRuns() throws {
        // The run-aware S-passes hold back up to 256 runs per bucket and write their levels at
        // once; more runs take the ordinary path. Both, plus runs that reach text position 0.
        var g = SeededGenerator(seed: 0x0052_5545)
        for round in 0..<24 {
            var text: [UInt8] = []
            let (runs, longest) = [(3, 3000), (40, 300), (300, 6), (700, 3)][round % 4]
            if round % 3 == 0 { text += repeatElement(0, count: Int(g.next() % 50) + 1) }
            for _ in 0..<runs {
                text += repeatElement(UInt8(round % 5 == 0 ? 0x7F : 0), count: Int(g.next() % UInt64(longest)) + 2)
                text.append(UInt8(truncatingIfNeeded: g.next() % 200 + 1))
            }
            if round % 4 == 1 { text += repeatElement(0, count: Int(g.next() % 40) + 1) }
            let sa = try SuffixArray.build(text)
            // The naive reference is slow on long runs; the linear-time checker covers those.
            #expect(SuffixArray.check(text, sa) == .valid, "round \(round) n=\(text.count) runs=\(runs)")
            if runs >= 300 { #expect(sa == SuffixArray.naive(text), "round \(round) n=\(text.count) runs=\(runs)") }
        }
    }

    @Test("property: 400 seeded random texts of random length and alphabet match the reference")
    func property() throws {
        var g = SeededGenerator(seed: 0xF1F1_2026)
        for round in 0..<400 {
            let n = Int(g.next() % 300)
            let alphabet = [1, 2, 3, 4, 16, 256][Int(g.next() % 6)]
            let kind = g.next() % 3
            var text = Texts.random(n, alphabet: alphabet, seed: g.next())
            if kind == 1, n > 0 {  // periodic with a random period and a random tail
                let period = Int(g.next() % 9) + 1
                text = Texts.repeated(Array(text.prefix(period)), count: n)
                if g.next() % 2 == 0 { text[n - 1] = UInt8(truncatingIfNeeded: g.next()) }
            }
            let sa = try SuffixArray.build(text)
            #expect(sa == SuffixArray.naive(text), "round \(round) n=\(n) σ=\(alphabet) kind=\(kind)")
        }
    }

    @Test("large inputs (4 MiB random, 3 MiB structured, 1 MiB runs, Fibonacci and periodic) pass the checker")
    func large() throws {
        var g = SeededGenerator(seed: 42)
        let random = g.bytes(4 << 20)
        var sa = try SuffixArray.build(random)
        #expect(SuffixArray.check(random, sa) == .valid)
        let structured = Texts.repetitive(3 << 20, seed: 9)
        sa = try SuffixArray.build(structured)
        #expect(SuffixArray.check(structured, sa) == .valid)
        var runs = [UInt8](repeating: 0, count: 1 << 20)
        for i in stride(from: 0, to: runs.count, by: 4099) { runs[i] = UInt8(truncatingIfNeeded: i >> 12) }
        sa = try SuffixArray.build(runs)
        #expect(SuffixArray.check(runs, sa) == .valid)
        let fib = Texts.fibonacci(1 << 20)
        sa = try SuffixArray.build(fib)
        #expect(SuffixArray.check(fib, sa) == .valid)
        // Periodic texts push the reduced problems into every bucket-memory mode.
        for unit in ["ab", "aaab", "abaababaab"] {
            let periodic = Texts.repeated(Array(unit.utf8), count: (1 << 20) + 3)
            sa = try SuffixArray.build(periodic)
            #expect(SuffixArray.check(periodic, sa) == .valid, "\(unit)")
        }
    }
}

@Suite("SuffixArray.check rejects arrays that are not the suffix array")
struct CheckTests {
    static let text = Texts.repetitive(3000, seed: 3)

    func expectInvalid(_ sa: [Int32], _ label: String) {
        let verdict = SuffixArray.check(Self.text, sa)
        #expect(!verdict.isValid, "\(label) was accepted")
        if case .invalid(let reason, _) = verdict { #expect(!reason.isEmpty) }
    }

    @Test("it accepts the true suffix array")
    func acceptsTruth() throws {
        #expect(SuffixArray.check(Self.text, SuffixArray.naive(Self.text)) == .valid)
    }

    @Test("it rejects every swap of two neighbouring entries")
    func swapped() {
        let truth = SuffixArray.naive(Self.text)
        for i in stride(from: 1, to: truth.count, by: 1) {
            var sa = truth
            sa.swapAt(i - 1, i)
            expectInvalid(sa, "swap at \(i)")
        }
    }

    @Test("it rejects swaps of distant entries within one bucket")
    func swappedFar() {
        let truth = SuffixArray.naive(Self.text)
        var g = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let i = Int(g.next() % UInt64(truth.count)), j = Int(g.next() % UInt64(truth.count))
            if i == j { continue }
            var sa = truth
            sa.swapAt(i, j)
            expectInvalid(sa, "swap \(i),\(j)")
        }
    }

    @Test("it rejects duplicate entries, out-of-range entries and wrong lengths")
    func malformed() {
        let truth = SuffixArray.naive(Self.text)
        var dup = truth
        dup[10] = dup[11]
        expectInvalid(dup, "duplicate")
        var dupFirst = truth
        dupFirst[1] = dupFirst[0]
        expectInvalid(dupFirst, "duplicate of the first")
        for bad: Int32 in [-1, Int32(truth.count), Int32.max, Int32.min] {
            var sa = truth
            sa[truth.count / 2] = bad
            expectInvalid(sa, "out of range \(bad)")
        }
        expectInvalid(Array(truth.dropLast()), "too short")
        expectInvalid(truth + [0], "too long")
        expectInvalid([], "empty")
        expectInvalid(Array(truth.reversed()), "reversed")
        expectInvalid((0..<Int32(truth.count)).map { $0 }, "identity")
    }

    @Test("it rejects a permutation that only gets the first bytes right")
    func bucketOnly() {
        // Sort by first byte only (stable by position): buckets right, order inside wrong.
        let t = Self.text
        let sa = (0..<Int32(t.count)).sorted { (t[Int($0)], $0) < (t[Int($1)], $1) }
        expectInvalid(sa, "bucket-sorted only")
    }

    @Test("it rejects the suffix array of another text of the same length")
    func otherText() throws {
        var other = Self.text
        other[other.count / 3] ^= 0x01
        let sa = try SuffixArray.build(other)
        #expect(SuffixArray.check(other, sa) == .valid)
        #expect(!SuffixArray.check(Self.text, sa).isValid)
    }

    @Test("its verdict names the first faulty index")
    func reportsIndex() {
        var sa = SuffixArray.naive(Self.text)
        sa[7] = -5
        #expect(SuffixArray.check(Self.text, sa) == .invalid(reason: "entry -5 is outside 0..<\(sa.count)", index: 7))
        #expect(SuffixArray.check(Self.text, Array(sa.prefix(3))).description.hasPrefix("invalid at 3: length 3"))
    }

    @Test("it judges small texts correctly: all permutations of the SA of 'abab' but one are rejected")
    func exhaustiveSmall() {
        let t: [UInt8] = Array("abab".utf8)
        let truth: [Int32] = [2, 0, 3, 1]
        func permutations(_ a: [Int32]) -> [[Int32]] {
            if a.count <= 1 { return [a] }
            return a.indices.flatMap { i -> [[Int32]] in
                var rest = a
                let x = rest.remove(at: i)
                return permutations(rest).map { [x] + $0 }
            }
        }
        for p in permutations([0, 1, 2, 3]) {
            #expect(SuffixArray.check(t, p).isValid == (p == truth), "\(p)")
        }
    }
}

@Suite("FirmchainError")
struct ErrorTests {
    @Test("a text of Int32.max bytes is refused with suffix-array.too-large before any byte is read")
    func tooLarge() throws {
        // A buffer that claims Int32.max bytes over a 1-byte allocation: build must reject it by
        // its count alone (reading it would crash the test process).
        let one = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        defer { one.deallocate() }
        one.pointee = 0
        for count in [Int(Int32.max), Int(Int32.max) + 1, Int(UInt32.max)] {
            let huge = UnsafeBufferPointer(start: UnsafePointer(one), count: count)
            let error = #expect(throws: FirmchainError.self) { try SuffixArray.build(huge) }
            #expect(error?.code.id == "suffix-array.too-large")
            #expect(error?.category == .malformedInput)
            #expect(error?.category.exitCode == 65)
            #expect(error?.reason.contains("\(count)") == true)
        }
        // One byte less is accepted by the size check (not run: it would need 10 GiB).
        #expect(try SuffixArray.build(UnsafeBufferPointer(start: UnsafePointer(one), count: 1)) == [0])
    }

    @Test("errors compare by code and carry the file they are about")
    func about() {
        let e = FirmchainError(.suffixArrayTooLarge, "x")
        #expect(e == FirmchainError(.suffixArrayTooLarge, "y"))
        #expect(e.about("/tmp/f").description == "/tmp/f: x")
        #expect(e.about("/tmp/f").path == "/tmp/f")
    }
}
