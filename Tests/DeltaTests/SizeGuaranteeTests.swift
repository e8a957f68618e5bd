import Foundation
import Testing
import TestSupport
import FirmchainCore
import SuffixArray
@testable import Delta

/// Generated pairs of the kinds real firmware deltas meet, small enough to run Debian's bsdiff
/// on many of them in seconds: edits, insertions and deletions, moved blocks, repetitive data,
/// relocation tables, machine-code-like words, zero runs.
enum GuaranteePairs {
    /// A relocation-table-like image: 24-byte entries (offset, type 0x403, addend), offsets
    /// rising by small steps, as in an arm64 kernel's `.rela.dyn`.
    static func relocations(_ g: inout SeededGenerator, entries: Int, base: UInt64) -> [UInt8] {
        var out = [UInt8]()
        var offset = base
        for _ in 0..<entries {
            offset += 8 * (1 + g.next() % 4)
            for v in [offset, 0x403, offset &+ 0x1000 &+ (g.next() % 64) * 8] {
                withUnsafeBytes(of: v.littleEndian) { out += $0 }
            }
        }
        return out
    }

    /// The new side of a relocation table: every entry after `from` moved by `shift` (code was
    /// inserted before the targets), a few entries inserted.
    static func relocated(_ old: [UInt8], _ g: inout SeededGenerator, shift: UInt64) -> [UInt8] {
        var new = old
        let count = old.count / 24
        let from = Int(g.next() % UInt64(max(1, count)))
        for e in from..<count {
            for field in [0, 16] {
                let at = e * 24 + field
                var v = UInt64(0)
                for b in 0..<8 { v |= UInt64(new[at + b]) << (8 * b) }
                v &+= shift
                for b in 0..<8 { new[at + b] = UInt8(truncatingIfNeeded: v >> (8 * b)) }
            }
        }
        let at = 24 * Int(g.next() % UInt64(max(1, count)))
        new.insert(contentsOf: relocations(&g, entries: 1 + Int(g.next() % 20), base: 0x10000), at: at)
        return new
    }

    /// Point edits, insertions and deletions at random places.
    static func edit(_ old: [UInt8], _ g: inout SeededGenerator, count: Int, alphabet: UInt64 = 256) -> [UInt8] {
        var new = old
        for _ in 0..<count where !new.isEmpty {
            let at = Int(g.next() % UInt64(new.count))
            switch g.next() % 4 {
            case 0, 1: new[at] = UInt8(g.next() % alphabet)
            case 2: new.insert(contentsOf: (0..<Int(1 + g.next() % 40)).map { _ in UInt8(g.next() % alphabet) }, at: at)
            default: new.removeSubrange(at..<min(new.count, at + Int(1 + g.next() % 40)))
            }
        }
        return new
    }

    /// Blocks of old cut out and put back in another order, some of them edited.
    static func shuffleBlocks(_ old: [UInt8], _ g: inout SeededGenerator) -> [UInt8] {
        let cuts = ([0, old.count] + (0..<Int(2 + g.next() % 8)).map { _ in Int(g.next() % UInt64(old.count + 1)) }).sorted()
        var blocks = (0..<cuts.count - 1).map { Array(old[cuts[$0]..<cuts[$0 + 1]]) }
        for i in blocks.indices.reversed() {
            let j = Int(g.next() % UInt64(i + 1))
            blocks.swapAt(i, j)
            if g.next() % 3 == 0 { blocks[i] = edit(blocks[i], &g, count: 3) }
        }
        return blocks.flatMap { $0 }
    }

    static func all(count: Int, seed: UInt64) -> [Pair] {
        var g = SeededGenerator(seed: seed)
        var pairs = [Pair]()
        for k in 0..<count {
            let size = 1024 + Int(g.next() % 24_000)
            let kind = k % 8
            let old: [UInt8]
            var new: [UInt8]
            switch kind {
            case 0:  // random bytes, scattered edits
                old = g.bytes(size)
                new = edit(old, &g, count: 1 + Int(g.next() % 60))
            case 1:  // machine-code-like words, the firmware edits of the round-trip cases
                old = Cases.firmware(seed: g.next(), size: size)
                new = Cases.edited(old, seed: g.next())
            case 2:  // moved blocks
                old = Cases.firmware(seed: g.next(), size: size)
                new = shuffleBlocks(old, &g)
            case 3:  // small alphabets: many equally long matches, long inner loops
                let alphabet = [2, 3, 4, 16][Int(g.next() % 4)]
                old = (0..<size).map { _ in UInt8(g.next() % UInt64(alphabet)) }
                new = edit(old, &g, count: 1 + Int(g.next() % 200), alphabet: UInt64(alphabet))
            case 4:  // periodic data with a drifting period
                let period = 1 + Int(g.next() % 64)
                let unit = g.bytes(period)
                old = (0..<size).map { unit[$0 % period] }
                new = edit(old, &g, count: 1 + Int(g.next() % 30))
            case 5:  // relocation tables
                old = relocations(&g, entries: size / 24, base: 0xffff_8000_1000_0000)
                new = relocated(old, &g, shift: 8 * (1 + g.next() % 512))
            case 6:  // zero runs with islands, shifted
                var o = [UInt8]()
                while o.count < size { o += [UInt8](repeating: 0, count: Int(g.next() % 3000)) + g.bytes(Int(1 + g.next() % 200)) }
                old = o
                new = shuffleBlocks(edit(o, &g, count: 10), &g)
            default:  // an ELF-like image: code, strings, relocations, and a version bump of all three
                let code = Cases.firmware(seed: g.next(), size: size / 2)
                let strings = Array((0..<size / 80).map { "symbol_\($0 * 7 % 1000)_v\(g.next() % 3)\u{0}" }.joined().utf8)
                let rela = relocations(&g, entries: size / 96, base: 0x40_0000)
                old = code + strings + rela
                new = Cases.edited(code, seed: g.next()) + edit(strings, &g, count: 5) + relocated(rela, &g, shift: 0x40)
            }
            if new == old { new.append(0x5A) }  // an edit that happened to change nothing
            pairs.append(Pair(name: "generated \(k) (kind \(kind), \(old.count) -> \(new.count) B)", old: old, new: new))
        }
        return pairs
    }
}

/// Issue 23's first BSDIFF40 guarantee: a Firmchain patch is never larger than Debian bsdiff
/// 4.3's, and stock bspatch applies it. Checked with the default options and with the scan cut
/// into pieces (which large inputs get), on many generated pairs.
@Suite("Firmchain's BSDIFF40 patch is never larger than Debian bsdiff 4.3's", .serialized)
struct SizeGuaranteeTests {
    static let pairs = GuaranteePairs.all(count: 64, seed: 2023)

    /// Pairs where the default patch is larger, by a few bytes: bsdiff 4.3's search goes left at
    /// an old suffix that is a proper prefix of the searched text (one running into the end of
    /// old), Firmchain's prefix-aware search does not (`AlignmentOptions.prefixAwareSearch`), and
    /// on these pairs the greedy scan then does a little worse with the truer match. Open.
    /// Tried (session 16): taking bsdiff's answer wherever its path meets such a suffix of at
    /// most 256 bytes (rare: hundreds of searches in millions; the scan then infers no position
    /// whose text could sort near one). That gives bsdiff's exact triples on M1 and W1 and
    /// fixes this pair, but makes generated 28 and 52 (periodic data, whose long tails still
    /// took the longest match) 10 and 2 bytes larger than bsdiff's, and W1's patch 2.9 KB
    /// larger than today's; without the 256-byte bound it is bsdiff's search, quadratic on long
    /// runs. Not kept.
    static let knownLarger: Set<String> = ["generated 9"]

    @Test("on 64 generated pairs of eight kinds, with and without pieces, the patch is no larger than bsdiff's and bspatch applies it")
    func neverLargerThanDebianBsdiff() throws {
        try requireTool(InteropTests.bsdiff)
        try requireTool(InteropTests.bspatch)
        let dir = try TemporaryDirectory()
        var larger = [String: String]()
        for pair in Self.pairs {
            let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
            let r = try runProcess(InteropTests.bsdiff, [old, new, dir.file("p.bsdiff")])
            try #require(r.status == 0, "bsdiff failed on \(pair.name): \(r.err)")
            let reference = try dir.read("p.bsdiff")
            var pieces = DeltaCreateOptions()
            pieces.alignment.parallelMinimumSize = 2  // up to 32 pieces, as a large new file gets
            for (label, options) in [("default", DeltaCreateOptions()), ("pieces", pieces)] {
                let ours = try Delta.create(old: pair.old, new: pair.new, options: options)
                if ours.count > reference.count {
                    let key = pair.name.split(separator: " ").prefix(2).joined(separator: " ")  // "generated 9"
                    larger[key, default: ""] += "\(pair.name) \(label): \(ours.count) B > \(reference.count) B; "
                    // The search is the cause: bsdiff's own search gives bsdiff's bytes.
                    var classic = DeltaCreateOptions()
                    classic.alignment = .classic
                    #expect(try Delta.create(old: pair.old, new: pair.new, options: classic) == reference, "\(pair.name)")
                }
                let p = try dir.write("p.ours", ours)
                let a = try runProcess(InteropTests.bspatch, [old, dir.file("out"), p])
                #expect(a.status == 0, "bspatch failed on \(pair.name) \(label): \(a.err)")
                #expect(try dir.read("out") == pair.new, "bspatch output differs on \(pair.name) \(label)")
            }
        }
        let unexpected = larger.filter { !Self.knownLarger.contains($0.key) }
        #expect(unexpected.isEmpty, "larger than bsdiff 4.3: \(unexpected.values.sorted().joined())")
        for name in Self.knownLarger.sorted() {
            withKnownIssue("prefix-aware search (see knownLarger)") {
                #expect(larger[name] == nil, "\(larger[name] ?? "")")
            }
        }
    }

    @Test("the scan in pieces gives exactly the whole scan's triples (bridges meet the pieces' states)")
    func piecesAreTheWholeScan() throws {
        var g = SeededGenerator(seed: 77)
        for pair in Self.pairs + Cases.all {
            let sa = try SuffixArray.build(pair.old)
            var whole = AlignmentOptions()
            whole.parallelMinimumSize = .max
            let expected = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: whole)
            var cut = AlignmentOptions()
            cut.parallelMinimumSize = 2
            cut.parallelPieces = 2 + Int(g.next() % 31)
            cut.threads = 1 + Int(g.next() % 3)
            cut.interleave = 1 + Int(g.next() % 4)
            let got = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: cut)
            #expect(got == expected, "\(pair.name): \(cut.parallelPieces) pieces on \(cut.threads) threads")
            // Pieces whose searches reach a few bytes past their end stop at their last kept
            // state whenever a match runs that far, and bridges take over from there.
            cut.pieceSearchMargin = 1 + Int(g.next() % 64)
            #expect(Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: cut) == expected,
                    "\(pair.name): \(cut.parallelPieces) pieces, margin \(cut.pieceSearchMargin!)")
            // Speculative bridges that run out of budget after a few bytes, carried on by the
            // chain where it needs them.
            cut.speculativeBridgeLength = 1 + Int(g.next() % 256)
            #expect(Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: cut) == expected,
                    "\(pair.name): \(cut.parallelPieces) pieces, bridge budget \(cut.speculativeBridgeLength!)")
            // Scans handed from thread to thread (with their look-ahead results) mid-way, every
            // few rounds; on one thread a handed scan comes back to the same thread later.
            cut.interleave = 2 + Int(g.next() % 3)
            cut.handOffEvery = 1 + Int(g.next() % 5)
            #expect(Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: cut) == expected,
                    "\(pair.name): \(cut.parallelPieces) pieces on \(cut.threads) threads, hand-off every \(cut.handOffEvery!) rounds")
        }
    }

    @Test("generated pairs really differ from each other and from old (the guarantee is not tested on trivia)")
    func pairsAreNotTrivial() {
        let differing = Self.pairs.filter { $0.old != $0.new }.count
        #expect(differing == Self.pairs.count)
        #expect(Set(Self.pairs.map { $0.old.count }).count > 50)
    }
}

@Suite("One concurrency option for all of Delta.create")
struct ThreadOptionTests {
    @Test("the patch is the same on 1, 2 and 5 threads, with the scan in pieces and multi-block bzip2 streams")
    func sameBytesOnAnyThreadCount() throws {
        var g = SeededGenerator(seed: 5)
        let old = Cases.firmware(seed: 3, size: 1_200_000)
        let new = GuaranteePairs.edit(Cases.edited(old, seed: 4), &g, count: 300)
        var patches = [[UInt8]]()
        for threads in [1, 2, 5] {
            var options = DeltaCreateOptions()
            options.alignment.threads = threads
            options.alignment.parallelMinimumSize = 1 << 16
            patches.append(try Delta.create(old: old, new: new, options: options))
        }
        #expect(patches[0] == patches[1] && patches[1] == patches[2])
        #expect(try Delta.apply(old: old, patch: patches[0]) == new)
    }
}
