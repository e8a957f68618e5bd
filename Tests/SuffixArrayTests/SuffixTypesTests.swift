@testable import SuffixArray
import Testing
import TestSupport

/// `SuffixTypes` (the S/L bits of a level, computed once, in parallel parts) against the
/// definition applied one suffix at a time.
@Suite("Suffix types and LMS positions")
struct SuffixTypesTests {
    /// S-type flags by the definition, right to left; suffix n-1 is L-type.
    static func naiveTypes<C: FixedWidthInteger>(_ t: [C]) -> [Bool] {
        let n = t.count
        var s = [Bool](repeating: false, count: n)
        if n >= 2 {
            for i in stride(from: n - 2, through: 0, by: -1) { s[i] = t[i] < t[i + 1] || (t[i] == t[i + 1] && s[i + 1]) }
        }
        return s
    }

    static func check<C: FixedWidthInteger>(_ text: [C], threads: Int, _ label: String) {
        let n = text.count
        let expected = naiveTypes(text)
        let lms = (0..<n).filter { $0 >= 1 && expected[$0] && !expected[$0 - 1] }
        text.withUnsafeBufferPointer { buffer in
            let team = threads >= 2 ? InduceTeam(options: ParallelInduceOptions(threads: threads)) : nil
            let types = SuffixTypes(SAText(buffer.baseAddress!), n: n, team: team)
            defer { types.deallocate() }
            var bits = [Bool]()
            for i in 0..<(types.wordCount * 64) { bits.append(types.words[i >> 6] >> UInt64(i & 63) & 1 == 1) }
            let sameTypes = Array(bits.prefix(n)) == expected && !bits.dropFirst(n).contains(true)
            #expect(sameTypes, "\(label): n=\(n) threads=\(threads): types")
            var found = [Int]()
            types.forEachLMSRightToLeft { found.append($0) }
            #expect(found == Array(lms.reversed()), "\(label): n=\(n) threads=\(threads): LMS positions")
            #expect(types.countLMS(0..<types.wordCount) == lms.count, "\(label): n=\(n): LMS count")
            // firstLMS from every word: the first LMS position at or after 64 w.
            for w in 0...types.wordCount {
                let first = lms.first { $0 >= w * 64 } ?? n
                #expect(types.firstLMS(fromWord: w) == first, "\(label): n=\(n) firstLMS(\(w))")
            }
        }
    }

    @Test("random, run-heavy and periodic byte texts, on one to five threads, at and around word edges")
    func bytes() {
        var g = SeededGenerator(seed: 0x7E5_2026)
        let lengths = [1, 2, 3, 63, 64, 65, 127, 128, 129, 191, 192, 193, 640, 641, 1000, 4096, 5000]
        for (round, n) in (lengths + (0..<60).map { _ in Int(g.next() % 3000) + 1 }).enumerated() {
            let kind = round % 4
            var text: [UInt8]
            switch kind {
            case 0: text = Texts.random(n, alphabet: [2, 4, 256][round % 3], seed: g.next())
            case 1:
                // Long runs of one byte that cross the parts' edges, with a few other bytes.
                text = [UInt8](repeating: UInt8(g.next() % 3), count: n)
                for _ in 0..<(n / 97 + 1) { text[Int(g.next() % UInt64(n))] = UInt8(g.next() % 3) }
            case 2: text = Texts.repeated(Array("abaab".utf8), count: n)
            default:
                // A run at the very end (suffix types decided by the last differing byte).
                text = Texts.random(n, alphabet: 3, seed: g.next())
                for i in (n / 2)..<n { text[i] = 1 }
            }
            for threads in [1, 2, 3, 5] { Self.check(text, threads: threads, "bytes kind \(kind)") }
        }
    }

    @Test("32-bit texts (the reduced problems' names)")
    func names() {
        var g = SeededGenerator(seed: 91)
        for n in [1, 2, 64, 65, 300, 2000] {
            let text = (0..<n).map { _ in Int32(g.next() % 5) }
            for threads in [1, 2] { Self.check(text, threads: threads, "names") }
        }
    }
}

/// `SAIS.gatherNames`: the names of a range, in order, and not one write past them (the parallel
/// gather relies on it: a thread's stray write would land on the next thread's first name).
@Suite("Gathering the reduced string")
struct GatherNamesTests {
    @Test("names in order, nothing written outside them, for every density and empty edges")
    func gather() {
        var g = SeededGenerator(seed: 0x6A7)
        for round in 0..<400 {
            let count = Int(g.next() % 300)
            let density = [0, 1, 10, 50, 90, 100][round % 6]
            let source: [Int32] = (0..<count).map { _ in g.next() % 100 < UInt64(density) ? Int32(g.next() % 1000) + 1 : 0 }
            let expected = source.filter { $0 != 0 }.map { $0 - 1 }
            let guardValue: Int32 = -12345
            var input = source
            var out = [Int32](repeating: guardValue, count: count + 16)
            let written = input.withUnsafeMutableBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    SAIS.gatherNames(s.baseAddress!, 0, count, into: o.baseAddress! + 8)
                }
            }
            #expect(written == expected.count, "round \(round)")
            #expect(Array(out[8..<(8 + expected.count)]) == expected, "round \(round): names")
            let untouched = out[..<8].allSatisfy { $0 == guardValue } && out[(8 + expected.count)...].allSatisfy { $0 == guardValue }
            #expect(untouched, "round \(round): wrote outside its names (count \(count), density \(density))")
            #expect(input == source, "round \(round): changed its input")
        }
    }
}
