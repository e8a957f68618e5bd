import Testing
import TestSupport
import SuffixArray
@testable import Delta

@Suite("Delta round trips and alignment invariants")
struct RoundTripTests {
    @Test("apply(create(old, new)) gives new back", arguments: Cases.all)
    func roundTrip(_ pair: Pair) throws {
        let patch = try Delta.create(old: pair.old, new: pair.new)
        #expect(try Delta.apply(old: pair.old, patch: patch) == pair.new)
    }

    @Test("random inputs of every small size round-trip (property test, 300 seeds)")
    func randomProperty() throws {
        var g = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            let alphabet = UInt8(1 + g.next() % 4)  // tiny alphabets make many repeats
            let old = (0..<Int(g.next() % 300)).map { _ in UInt8(g.next() % UInt64(alphabet)) }
            var new = old
            for _ in 0..<Int(g.next() % 6) {
                switch g.next() % 3 {
                case 0 where !new.isEmpty: new[Int(g.next() % UInt64(new.count))] = UInt8(g.next() % 5)
                case 1: new.insert(UInt8(g.next() % 5), at: Int(g.next() % UInt64(new.count + 1)))
                default: if !new.isEmpty { new.remove(at: Int(g.next() % UInt64(new.count))) }
                }
            }
            let patch = try Delta.create(old: old, new: new)
            #expect(try Delta.apply(old: old, patch: patch) == new, "old \(old) new \(new)")
        }
    }

    @Test("triples cover new exactly, never read old outside [0, n), and end with a producing triple", arguments: Cases.all)
    func tripleInvariants(_ pair: Pair) throws {
        let sa = try SuffixArray.build(pair.old)
        let triples = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa)
        var oldpos: Int64 = 0, newpos: Int64 = 0
        for t in triples {
            #expect(t.add >= 0 && t.copy >= 0)
            if t.add > 0 { #expect(oldpos >= 0 && oldpos + t.add <= Int64(pair.old.count)) }
            oldpos += t.add + t.seek
            newpos += t.add + t.copy
        }
        #expect(newpos == Int64(pair.new.count))
        if let last = triples.last { #expect(last.add + last.copy > 0) }
        if pair.new.isEmpty { #expect(triples.isEmpty) }
    }

    @Test("the long-run guard changes nothing on data without long ambiguous runs", arguments: Cases.all.filter { !$0.name.contains("zero") })
    func guardIsInvisibleOnOrdinaryData(_ pair: Pair) throws {
        let sa = try SuffixArray.build(pair.old)
        let guarded = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa)
        let classic = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: .classic)
        #expect(guarded == classic)
    }

    @Test("scanning new in up to 32 pieces on all cores round-trips and gives the whole scan's patch", arguments: Cases.all)
    func parallelScan(_ pair: Pair) throws {
        var options = DeltaCreateOptions()
        options.alignment.parallelMinimumSize = 2
        let split = try Delta.create(old: pair.old, new: pair.new, options: options)
        #expect(try Delta.apply(old: pair.old, patch: split) == pair.new)
        let whole = try Delta.create(old: pair.old, new: pair.new)
        #expect(split == whole, "split \(split.count) B vs whole \(whole.count) B")
    }

    @Test("starting the prefix-aware search between two sampled 8-byte keys (and second keys) finds exactly what the full binary search finds")
    func sampledKeysChangeNothing() throws {
        var g = SeededGenerator(seed: 11)
        var pairs = Cases.all.filter { $0.old.count >= 2 }.map { ($0.old, $0.new) }
        for _ in 0..<20 {  // tiny alphabets: many suffixes run into the end of old
            let old = (0..<Int(2 + g.next() % 3000)).map { _ in UInt8(g.next() % 3) }
            pairs.append((old, (0..<Int(g.next() % 3000)).map { _ in UInt8(g.next() % 3) }))
        }
        pairs += Self.runHeavyPairs(&g).map { ($0.old, $0.new) }
        for (old, new) in pairs {
            let sa = try SuffixArray.build(old)
            var full = AlignmentOptions(), sampled = AlignmentOptions()
            full.sampledKeysMinimumSize = .max
            sampled.sampledKeysMinimumSize = 1
            let expected = Alignment.triples(old: old, new: new, suffixArray: sa, options: full)
            #expect(Alignment.triples(old: old, new: new, suffixArray: sa, options: sampled) == expected)
            sampled.secondKeyMinimumRun = 2
            #expect(Alignment.triples(old: old, new: new, suffixArray: sa, options: sampled) == expected)
        }
    }

    /// Old files with long runs of equal 8-byte keys whose next 8 bytes differ: a table of
    /// 24-byte entries of which the middle 8 bytes are one constant (a relocation table), next
    /// to tiny-alphabet and zero-padded stretches; new = old with some entries changed.
    static func runHeavyPairs(_ g: inout SeededGenerator) -> [(old: [UInt8], new: [UInt8])] {
        var pairs = [(old: [UInt8], new: [UInt8])]()
        for k in 0..<6 {
            var old = [UInt8]()
            for _ in 0..<Int(200 + g.next() % 1500) {
                for _ in 0..<8 { old.append(UInt8(g.next() % [2, 256][k % 2])) }  // offset
                old += [3, 4, 0, 0, 0, 0, 0, 0]  // type, the same everywhere
                for b in 0..<8 { old.append(b < 3 ? UInt8(g.next() % 4) : 0xFF) }  // addend
            }
            old += [UInt8](repeating: 0, count: Int(g.next() % 64))  // key runs into the end of old
            old += [3, 4, 0, 0, 0, 0, 0, 0, 1][..<Int(1 + g.next() % 9)]
            var new = old
            for _ in 0..<Int(1 + g.next() % 100) {
                let at = Int(g.next() % UInt64(new.count))
                if g.next() % 2 == 0 { new[at] = UInt8(g.next() % 4) } else { new.insert(UInt8(g.next() % 256), at: at) }
            }
            new += [3, 4, 0, 0, 0, 0, 0][..<Int(g.next() % 8)]  // texts ending inside a key
            pairs.append((old, new))
        }
        return pairs
    }

    @Test("the second keys of long runs of equal sampled keys leave every search's answer unchanged")
    func secondKeysChangeNoSearch() throws {
        var g = SeededGenerator(seed: 14)
        var narrowed = 0
        for (old, new) in Self.runHeavyPairs(&g) {
            let sa = try SuffixArray.build(old)
            old.withUnsafeBufferPointer { o in
                new.withUnsafeBufferPointer { nw in
                    sa.withUnsafeBufferPointer { s in
                        let keys = SampledKeys(old: o, sa: s, minimumRun: 2)
                        let firstOnly = SampledKeys(old: o, sa: s, minimumRun: .max)
                        // The second keys narrow brackets and never widen one.
                        for i in 0..<nw.count {
                            let text = nw.baseAddress! + i, available = nw.count - i
                            let key = SampledKeys.key(text, available: available)
                            let (lo, hi) = keys.coarseRange(key: key)
                            let (st, en) = keys.bracket(key: key, lo: lo, hi: hi, text: text, available: available)
                            let (st1, en1) = firstOnly.bracket(key: key, lo: lo, hi: hi, text: text, available: available)
                            #expect(st >= st1 && en <= en1 && st < en)
                            if en - st < en1 - st1 { narrowed += 1 }
                        }
                        let plain = MatchFinder(old: o, new: nw, sa: s, prefixAware: true, keys: nil)
                        let sampled = MatchFinder(old: o, new: nw, sa: s, prefixAware: true, keys: keys)
                        defer { withExtendedLifetime(keys) {} }  // the finder does not retain them
                        let a = SearchBatch(capacity: 64), b = SearchBatch(capacity: 64)
                        defer { a.deallocate(); b.deallocate() }
                        var first = 0
                        while first < nw.count {
                            let count = min(64, nw.count - first)
                            a.count = 0
                            b.count = 0
                            a.append(first: first, count: count, end: nw.count)
                            b.append(first: first, count: count, end: nw.count)
                            plain.search(a)
                            sampled.search(b)
                            for k in 0..<count where (a.length[k], a.position[k]) != (b.length[k], b.position[k]) {
                                Issue.record("position \(first + k): \(a.length[k])@\(a.position[k]) without keys, \(b.length[k])@\(b.position[k]) with")
                                return
                            }
                            first += count
                        }
                    }
                }
            }
        }
        #expect(narrowed >= 100, "the inputs must reach the second keys")
    }

    @Test("the triples do not depend on how many searches run in lockstep or how many pieces a thread interleaves")
    func lockstepChangesNothing() throws {
        var g = SeededGenerator(seed: 12)
        for pair in Cases.all {
            let sa = try SuffixArray.build(pair.old)
            var reference = AlignmentOptions()
            reference.searchBatch = 1
            reference.interleave = 1
            reference.parallelMinimumSize = 2
            let expected = Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: reference)
            for _ in 0..<3 {
                var o = reference
                o.searchBatch = 1 + Int(g.next() % 16)
                o.interleave = 1 + Int(g.next() % 8)
                #expect(Alignment.triples(old: pair.old, new: pair.new, suffixArray: sa, options: o) == expected,
                        "\(pair.name): batch \(o.searchBatch), interleave \(o.interleave)")
            }
        }
    }

    @Test("skipping the searches whose outcome the neighbouring positions decide changes no triple, and skips many")
    func inferredSearchesChangeNothing() throws {
        var g = SeededGenerator(seed: 13)
        var pairs = Cases.all.map { ($0.name, $0.old, $0.new) }
        for k in 0..<160 {
            // Small alphabets and scattered edits: long inner loops, matches barely longer than
            // the current alignment's, matches running into the end of old and of new. The
            // last 40: short old files of all 256 bytes, where many matches are 1 or 2 long.
            let alphabet = UInt64(k < 120 ? [2, 3, 4, 6, 8, 16, 64, 256][k % 8] : 256)
            let old = (0..<Int(k < 120 ? 64 + g.next() % 6000 : 32 + g.next() % 400)).map { _ in UInt8(g.next() % alphabet) }
            var new = old
            for _ in 0..<Int(1 + g.next() % 200) where !new.isEmpty {
                let at = Int(g.next() % UInt64(new.count))
                switch g.next() % 3 {
                case 0: new[at] = UInt8(g.next() % alphabet)
                case 1: new.insert(UInt8(g.next() % alphabet), at: at)
                default: new.remove(at: at)
                }
            }
            pairs.append(("random \(k)", old, new))
        }
        var inferredTotal = 0, positions = 0
        for (name, old, new) in pairs {
            let sa = try SuffixArray.build(old)
            for (pieces, skip) in [(Int.max, 256), (2, 256), (Int.max, 3)] {
                var searching = AlignmentOptions(longMatchSkip: skip)
                searching.parallelMinimumSize = pieces
                searching.inferSearches = false
                var inferring = searching
                inferring.inferSearches = true
                inferring.searchBatch = 1 + Int(g.next() % 16)
                inferring.inferStride = 1 << Int(g.next() % 6)
                inferring.inferCooldown = [1, 2, 16][Int(g.next() % 3)]
                let expected = old.withUnsafeBufferPointer { o in new.withUnsafeBufferPointer { n in sa.withUnsafeBufferPointer {
                    Alignment.scan(old: o, new: n, suffixArray: $0, options: searching) } } }
                let got = old.withUnsafeBufferPointer { o in new.withUnsafeBufferPointer { n in sa.withUnsafeBufferPointer {
                    Alignment.scan(old: o, new: n, suffixArray: $0, options: inferring) } } }
                #expect(got.triples == expected.triples,
                        "\(name): pieces \(pieces), skip \(skip), batch \(inferring.searchBatch), stride \(inferring.inferStride), cooldown \(inferring.inferCooldown)")
                #expect(expected.inferred == 0)
                inferredTotal += got.inferred
                positions += new.count
            }
        }
        // The shortcut is taken, not just harmless: a good share of all positions needed no search.
        #expect(inferredTotal * 100 > positions, "\(inferredTotal) of \(positions) positions inferred")
    }

    @Test("a match's extension, eight bytes at a time, is bsdiff's byte-by-byte loop's, both ways")
    func extensionMatchesByteLoop() {
        var g = SeededGenerator(seed: 29)
        for k in 0..<2000 {
            // Runs of agreement and of disagreement of every length, mixed chunks too.
            let count = Int(g.next() % 100)
            var a = [UInt8](), b = [UInt8]()
            while a.count < count + 16 {
                let run = Int(1 + g.next() % 20), kind = g.next() % 3
                for _ in 0..<run {
                    let x = UInt8(truncatingIfNeeded: g.next())
                    a.append(x)
                    b.append(kind == 0 ? x : kind == 1 ? x &+ 1 : (g.next() % 2 == 0 ? x : x ^ 0x80))
                }
            }
            for backward in [false, true] {
                // bsdiff's loop: the first length with the largest 2 * matches - length.
                var s = 0, best = 0, bestScore = 0
                for i in 1...max(1, count) where i <= count {
                    let j = backward ? a.count - i : i - 1
                    if a[j] == b[j] { s += 1 }
                    if 2 * s - i > bestScore { bestScore = 2 * s - i; best = i }
                }
                let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    backward ? Scanner.extend(pa.baseAddress! + a.count, pb.baseAddress! + b.count, count: count, backward: true)
                             : Scanner.extend(pa.baseAddress!, pb.baseAddress!, count: count, backward: false) } }
                #expect(got == best, "case \(k), \(backward ? "backward" : "forward"), count \(count)")
            }
        }
    }

    @Test("hello world -> hello world! is the single triple (11, 1, -1), as bsdiff 4.3 writes it")
    func helloWorldTriple() throws {
        let old = Array("hello world".utf8), new = Array("hello world!".utf8)
        let triples = Alignment.triples(old: old, new: new, suffixArray: try SuffixArray.build(old))
        #expect(triples == [ControlTriple(add: 11, copy: 1, seek: -1)])
    }

    @Test("an empty-new patch is the 74-byte minimum: header plus three empty bzip2 streams")
    func minimumPatch() throws {
        let patch = try Delta.create(old: [1, 2, 3], new: [])
        #expect(patch.count == 74)
        let empty: [UInt8] = [0x42, 0x5A, 0x68, 0x39, 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0x00, 0x00, 0x00, 0x00]
        #expect(Array(patch[32..<46]) == empty && Array(patch[60..<74]) == empty)
    }
}

@Suite("BSDIFF40 integer encoding (Docs/formats/BSDIFF40.md §2)")
struct IntegerEncodingTests {
    @Test("sign-magnitude little-endian, not two's complement")
    func knownEncodings() {
        func enc(_ v: Int64) -> [UInt8] { var o = [UInt8](); BSDIFF40.encodeInteger(v, into: &o); return o }
        #expect(enc(-1) == [1, 0, 0, 0, 0, 0, 0, 0x80])
        #expect(enc(1) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(enc(11) == [11, 0, 0, 0, 0, 0, 0, 0])
        #expect(enc(Int64.max) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(enc(-Int64.max) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(BSDIFF40.decodeInteger([0, 0, 0, 0, 0, 0, 0, 0x80] as [UInt8], at: 0) == 0)
    }

    @Test("decode(encode(v)) == v on random values of every magnitude")
    func roundTrip() {
        var g = SeededGenerator(seed: 5)
        for _ in 0..<10_000 {
            let v = Int64(bitPattern: g.next()) >> Int64(g.next() % 63)
            guard v != Int64.min else { continue }
            var o = [UInt8]()
            BSDIFF40.encodeInteger(v, into: &o)
            #expect(BSDIFF40.decodeInteger(o, at: 0) == v)
        }
    }
}

@Suite("identical inputs skip the suffix sort")
struct IdenticalInputTests {
    @Test("the triples for new == old are the scan's own, on one thread and in pieces",
          arguments: [1, 2, 11, 4096, 300_000, 5 << 20])
    func sameAsTheScan(_ size: Int) throws {
        var g = SeededGenerator(seed: UInt64(size))
        // Firmware-like: random stretches, zero runs and repeats, so the search meets ties.
        var image = [UInt8]()
        while image.count < size {
            image += g.bytes(Int(g.next() % 3000) + 1)
            image += [UInt8](repeating: 0, count: Int(g.next() % 2000))
            if image.count > 5000 { image += Array(image[..<1000]) }
        }
        image = Array(image.prefix(size))
        let fast = try #require(Delta.identicalInputTriples(old: image, new: image, options: AlignmentOptions()))
        let sa = try SuffixArray.build(image, threads: 2)
        let scanned = Alignment.triples(old: image, new: image, suffixArray: sa)
        #expect(fast == scanned, "\(size) bytes: \(fast) against the scan's \(scanned)")
        // And the patch rebuilds the image.
        let patch = try Delta.create(old: image, new: image)
        #expect(try Delta.apply(old: image, patch: patch) == image)
    }

    @Test("inputs that differ in one byte or in length, and the classic search, take the scan")
    func onlyIdentical() {
        let a: [UInt8] = Array(repeating: 7, count: 100)
        var b = a
        b[99] = 8
        #expect(Delta.identicalInputTriples(old: a, new: b, options: AlignmentOptions()) == nil)
        #expect(Delta.identicalInputTriples(old: a, new: Array(a.dropLast()), options: AlignmentOptions()) == nil)
        #expect(Delta.identicalInputTriples(old: a, new: a, options: .classic) == nil)
        #expect(Delta.identicalInputTriples(old: [], new: [], options: AlignmentOptions()) == [])
    }
}
