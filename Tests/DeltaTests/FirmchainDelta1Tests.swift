import Foundation
import Testing
import TestSupport
import FirmchainCore
@testable import Delta

/// A firmchain1 patch put together by hand (Docs/formats/FIRMCHAIN1.md §1), for patches no
/// writer would make: the sections' bytes before compression, and header fields to override.
struct Firmchain1Parts {
    var old: [UInt8], new: [UInt8]
    var control: [UInt8], diff: [UInt8], extra: [UInt8]
    var triples: Int
    var version: UInt16 = 1, codec: UInt8 = 1, flags: UInt8 = 0
    /// Header bytes 12 and 13 (§3's alignment shifts); `aligned` pads the sections to match.
    var diffShift: UInt8 = 0, extraShift: UInt8 = 0
    var dictionary = 65536
    /// The diff and extra sections' parts (every add is unflagged), for `aligned`.
    var diffParts = [FirmchainDelta1.Part](), extraParts = [FirmchainDelta1.Part]()

    /// The parts of the patch the writer makes for `triples`.
    init(old: [UInt8], new: [UInt8], triples: [ControlTriple]) {
        self.old = old
        self.new = new
        control = []
        for t in triples {
            FirmchainDelta1.appendLEB128(UInt64(t.add) << 1, to: &control)
            FirmchainDelta1.appendLEB128(UInt64(t.copy), to: &control)
            FirmchainDelta1.appendLEB128(FirmchainDelta1.zigzag(t.seek), to: &control)
        }
        (diff, extra) = old.withUnsafeBufferPointer { o in
            new.withUnsafeBufferPointer { n in BSDIFF40.diffAndExtra(old: o, new: n, triples: triples, concurrency: 1) }
        }
        self.triples = triples.count
        var newpos = 0
        for t in triples {
            if t.add > 0 { diffParts.append(.init(newpos: newpos, length: Int(t.add))) }
            if t.copy > 0 { extraParts.append(.init(newpos: newpos + Int(t.add), length: Int(t.copy))) }
            newpos += Int(t.add) + Int(t.copy)
        }
    }

    /// These parts with the diff and extra sections padded for alignments 2^diff and 2^extra.
    func aligned(diff d: UInt8, extra e: UInt8) -> Firmchain1Parts {
        var p = self
        (p.diffShift, p.extraShift) = (d, e)
        p.diff = FirmchainDelta1.pad(diff, parts: diffParts, alignment: 1 << Int(d))
        p.extra = FirmchainDelta1.pad(extra, parts: extraParts, alignment: 1 << Int(e))
        return p
    }

    func assemble(oldSHA256: [UInt8]? = nil, newSHA256: [UInt8]? = nil) throws -> [UInt8] {
        let sections = try [control, diff, extra].map { s in
            try s.withUnsafeBufferPointer { try LZMA2.compress($0, dictionary: dictionary) }
        }
        var p = FirmchainDelta1.magic
        FirmchainDelta1.appendLE(UInt64(version), 2, to: &p)
        p += [codec, flags, diffShift, extraShift, 0, 0]
        FirmchainDelta1.appendLE(UInt64(old.count), 8, to: &p)
        FirmchainDelta1.appendLE(UInt64(new.count), 8, to: &p)
        p += oldSHA256 ?? old.withUnsafeBufferPointer { FirmchainDelta1.sha256($0) }
        p += newSHA256 ?? new.withUnsafeBufferPointer { FirmchainDelta1.sha256($0) }
        FirmchainDelta1.appendLE(UInt64(triples), 8, to: &p)
        for (k, s) in sections.enumerated() {
            FirmchainDelta1.appendLE(UInt64(s.count), 8, to: &p)
            FirmchainDelta1.appendLE(UInt64([control, diff, extra][k].count), 8, to: &p)
            FirmchainDelta1.appendLE(UInt64(dictionary), 4, to: &p)
            FirmchainDelta1.appendLE(0, 4, to: &p)
        }
        return p + sections.joined()
    }
}

func createFirmchain1(old: [UInt8], new: [UInt8], threads: Int = 0) throws -> [UInt8] {
    var options = DeltaCreateOptions()
    options.format = .firmchain1
    options.alignment.threads = threads
    return try Delta.create(old: old, new: new, options: options)
}

/// Section `k` (0 control, 1 diff, 2 extra) of a firmchain1 patch, decompressed.
func firmchain1Section(_ patch: [UInt8], _ k: Int) throws -> [UInt8] {
    try patch.withUnsafeBufferPointer { p in
        let header = try FirmchainDelta1.Header(p)
        let start = FirmchainDelta1.headerSize + header.sections[..<k].reduce(0) { $0 + $1.compressed }
        let s = header.sections[k]
        let reader = try LZMA2Reader(UnsafeBufferPointer(rebasing: p[start..<start + s.compressed]),
                                     dictionary: s.dictionary, length: s.length, what: "section \(k)")
        var bytes = [UInt8](repeating: 0, count: s.length)
        let got = try bytes.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, count: s.length) }
        #expect(got == s.length)
        return bytes
    }
}

/// The control triples of a firmchain1 patch (§2), decoded: (add, flag, copy, seek) each.
func firmchain1Triples(_ patch: [UInt8]) throws -> [(add: Int, fromOld: Bool, copy: Int, seek: Int)] {
    try patch.withUnsafeBufferPointer { p in
        let header = try FirmchainDelta1.Header(p)
        let control = header.sections[0]
        let start = FirmchainDelta1.headerSize
        let reader = try LZMA2Reader(UnsafeBufferPointer(rebasing: p[start..<start + control.compressed]),
                                     dictionary: control.dictionary, length: control.length, what: "control")
        var bytes = [UInt8](repeating: 0, count: control.length)
        let got = try bytes.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, count: control.length) }
        #expect(got == control.length)
        var at = 0
        func leb() -> Int {
            var v = 0, shift = 0
            while true { let b = bytes[at]; at += 1; v |= Int(b & 0x7F) << shift; shift += 7; if b < 0x80 { return v } }
        }
        var out = [(add: Int, fromOld: Bool, copy: Int, seek: Int)]()
        for _ in 0..<header.triples {
            let field = leb(), copy = leb(), zz = leb()
            out.append((field >> 1, field & 1 == 1, copy, zz & 1 == 0 ? zz >> 1 : -(zz >> 1) - 1))
        }
        #expect(at == bytes.count)
        return out
    }
}

@Suite("firmchain1: Firmchain's own delta format round-trips, names its base and result, and refuses hostile patches")
struct FirmchainDelta1Tests {
    static let old: [UInt8] = Array(Cases.firmware(seed: 11, size: 6000))
    static let new: [UInt8] = Cases.edited(old, seed: 12)

    @Test("every generated pair round-trips, and the patch starts with FCDELTA1 and names both images", arguments: Cases.all)
    func roundTrip(pair: Pair) throws {
        let patch = try createFirmchain1(old: pair.old, new: pair.new)
        #expect(Array(patch.prefix(8)) == Array("FCDELTA1".utf8))
        let header = try patch.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }
        #expect(header.oldLength == pair.old.count && header.newLength == pair.new.count)
        #expect(Hex.encode(header.oldSHA256) == DigestCalculator.sha256Hex(pair.old))
        #expect(Hex.encode(header.newSHA256) == DigestCalculator.sha256Hex(pair.new))
        #expect(try Delta.apply(old: pair.old, patch: patch) == pair.new)
        let digest = try Delta.digestOfApplying(old: pair.old, patch: patch)
        #expect(digest == Delta.Applied(length: pair.new.count, sha256: DigestCalculator.sha256Hex(pair.new)))
    }

    @Test("triples that make nothing (thousands on some code pairs) are folded into the seek before them: at most one, leading, reaches the patch")
    func emptyTriplesFolded() throws {
        let old = Self.old, new = Self.old
        // One byte per add, each followed by two triples that only seek away and back (as
        // bsdiff's search emits when a match starts where the last one ended): 2 x 6000 of
        // them, far over §2's 1024, and one leading triple that seeks before the first add.
        var triples = [ControlTriple(add: 0, copy: 0, seek: 0)]
        for _ in 0..<old.count {
            triples.append(ControlTriple(add: 1, copy: 0, seek: 0))
            triples.append(ControlTriple(add: 0, copy: 0, seek: 7))
            triples.append(ControlTriple(add: 0, copy: 0, seek: -7))
        }
        let patch = try old.withUnsafeBufferPointer { o in
            try new.withUnsafeBufferPointer { n in try FirmchainDelta1.write(old: o, new: n, triples: triples, concurrency: 1) }
        }
        let written = try firmchain1Triples(patch)
        #expect(written.filter { $0.add == 0 && $0.copy == 0 }.count <= 1)
        #expect(written.count <= old.count + 1)
        #expect(try Delta.apply(old: old, patch: patch) == new)
    }

    @Test("sections longer than one compression piece are joined at dictionary resets; the bytes do not depend on the threads")
    func piecesAndThreads() throws {
        // 5 MiB of firmware-like data and an edited copy: the diff section spans three pieces.
        let old = Cases.firmware(seed: 21, size: 5 << 20)
        var new = Cases.edited(old, seed: 22)
        // A changed byte every 61: zero runs shorter than `zeroRunMinimum` stay in the diff.
        for k in stride(from: 0, to: new.count, by: 61) { new[k] &+= 1 }
        let one = try createFirmchain1(old: old, new: new, threads: 1)
        let two = try createFirmchain1(old: old, new: new, threads: 2)
        #expect(one == two)
        let header = try one.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }
        #expect(header.sections[1].length > 2 * FirmchainDelta1.pieceSize, "the diff section spans several pieces")
        #expect(try Delta.apply(old: old, patch: one) == new)
    }

    @Test("a section is cut into as few pieces of about pieceSize as hold it, lengths within 32 bytes of each other, at multiples of 16, covering it in order")
    func pieceRanges() {
        let p = FirmchainDelta1.pieceSize
        for length in [0, 1, 4095, p - 1, p, p + 1, 2 * p, 2 * p + 1, 2_649_394, 16_952_609, 7 * p - 3] {
            let ranges = FirmchainDelta1.pieces(of: length)
            #expect(ranges.count == max(1, (length + p - 1) / p), "\(length)")
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == length, "\(length)")
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(length)")
            let sizes = ranges.map(\.count)
            #expect(sizes.max()! <= p + 16 && sizes.max()! - sizes.min()! < 32, "\(length): \(sizes)")
            #expect(ranges.allSatisfy { $0.lowerBound % 16 == 0 }, "\(length): every piece starts at a multiple of 16 (§3's alignment)")
        }
    }

    @Test("runs of zeros in the diff become flagged adds that copy old: identical and sparse images make patches of a few hundred bytes (the 176-byte header with both digests included)")
    func zeroRuns() throws {
        var g = SeededGenerator(seed: 41)
        let image = g.bytes(4 << 20)
        var sparse = [UInt8](repeating: 0, count: 8 << 20)
        for k in stride(from: 0, to: sparse.count, by: 1 << 20) { sparse.replaceSubrange(k..<k + 100, with: g.bytes(100)) }
        var changed = sparse
        changed[3 << 20] ^= 0xFF
        for (name, old, new) in [("identical", image, image), ("sparse, one byte changed", sparse, changed)] {
            let patch = try createFirmchain1(old: old, new: new)
            let header = try patch.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }
            #expect(header.sections[1].length < 4096, "\(name): \(header.sections[1].length) diff bytes left")
            #expect(patch.count < 400, "\(name): \(patch.count) B")
            #expect(try Delta.apply(old: old, patch: patch) == new, "\(name)")
        }
    }

    @Test("the diff bytes carry (§3, flag 1): a 32-bit pointer moved by -16 or +0x1F0 stores the same bytes whatever its low byte, where plain differences would hold a borrow's or a carry's 0xFF/0x01; flag-0 patches still apply")
    func carry() throws {
        // 64 little-endian pointers, 8 bytes apart, whose low bytes run through 0...255 (so
        // about one in 16 of them borrows at -16), then the same with +0x1F0 (carries).
        var old = [UInt8](), new = [UInt8]()
        var g = SeededGenerator(seed: 51)
        for (k, step) in [(0, -16), (1, 0x1F0)] {
            for i in 0..<64 {
                let pointer = UInt32(0x4010_0000 + k * 0x10000) + UInt32(i * 37 % 256) + UInt32(i) << 8
                let moved = UInt32(bitPattern: Int32(bitPattern: pointer) &+ Int32(step))
                let filler = g.bytes(4)
                old += withUnsafeBytes(of: pointer.littleEndian, Array.init) + filler
                new += withUnsafeBytes(of: moved.littleEndian, Array.init) + filler
            }
        }
        let triples = [ControlTriple(add: Int64(old.count), copy: 0, seek: 0)]
        let patch = try old.withUnsafeBufferPointer { o in
            try new.withUnsafeBufferPointer { n in try FirmchainDelta1.write(old: o, new: n, triples: triples, concurrency: 1) }
        }
        #expect(patch[11] == FirmchainDelta1.flagCarry)
        let diff = try firmchain1Section(patch, 1)
        #expect(diff.count == old.count)
        for i in 0..<128 {
            let stored = Array(diff[8 * i..<8 * i + 4])
            // Signed digits: -16 is (0xF0), 0x1F0 is 0x200 - 16, (0xF0, 0x02).
            #expect(stored == (i < 64 ? [0xF0, 0, 0, 0] : [0xF0, 0x02, 0, 0]), "pointer \(i): \(stored)")
            #expect(diff[8 * i + 4..<8 * i + 8].allSatisfy { $0 == 0 }, "filler \(i)")
        }
        // The plain differences (flag 0) of the same pair do hold borrows and carries.
        let plain = Firmchain1Parts(old: old, new: new, triples: triples)
        #expect(Set((0..<128).map { plain.diff[8 * $0 + 1] }).count > 1)
        #expect(try Delta.apply(old: old, patch: patch) == new)
        #expect(try Delta.apply(old: old, patch: try plain.assemble()) == new)
        // The flag decides how the diff bytes read: set on plain differences, the result is
        // another image, which its digest check refuses.
        var flagged = plain
        flagged.flags = FirmchainDelta1.flagCarry
        #expect(throws: FirmchainError.self) { try Delta.apply(old: old, patch: try flagged.assemble()) }
    }

    /// `Recut.triples` on hand-made triples, and the patch with and without it.
    static func recut(_ old: [UInt8], _ new: [UInt8], _ triples: [ControlTriple]) throws -> (triples: [ControlTriple], recut: [UInt8], plain: [UInt8]) {
        try old.withUnsafeBufferPointer { o in
            try new.withUnsafeBufferPointer { n in
                let recut = Recut.triples(old: o, new: n, triples: triples, concurrency: 2)
                func patch(_ t: [ControlTriple], _ cut: Bool) throws -> [UInt8] {
                    let e = FirmchainDelta1.encode(old: o, new: n, triples: t, concurrency: 1, recut: cut)
                    var parts = Firmchain1Parts(old: old, new: new, triples: [])
                    (parts.control, parts.diff, parts.extra, parts.triples, parts.flags) = (e.control, e.diff, e.extra, e.triples, FirmchainDelta1.flagCarry)
                    return try parts.assemble()
                }
                return (recut, try patch(triples, true), try patch(triples, false))
            }
        }
    }

    @Test("recutting (§4) moves a stretch the scan aligned badly to a better offset of its neighbours or to 0, the same offset; the patch shrinks and still applies")
    func recutAlignment() throws {
        var g = SeededGenerator(seed: 61)
        let old = g.bytes(64 << 10)
        var new = old
        for k in stride(from: 0, to: new.count, by: 97) { new[k] &+= 1 }
        // The scan's view: 72 bytes at offset 0, then the rest 72 bytes behind (offset -72),
        // where old and new are unrelated: nearly every byte differs.
        let scan = [ControlTriple(add: 72, copy: 0, seek: -72), ControlTriple(add: Int64(new.count - 72), copy: 0, seek: 0)]
        let r = try Self.recut(old, new, scan)
        #expect(r.triples.count == 1 && r.triples[0].add == Int64(new.count) && r.triples[0].copy == 0, "\(r.triples)")
        #expect(r.recut.count * 4 < r.plain.count, "\(r.recut.count) B recut, \(r.plain.count) B as the scan had it")
        #expect(try Delta.apply(old: old, patch: r.recut) == new)
        #expect(try Delta.apply(old: old, patch: r.plain) == new)
    }

    @Test("recutting makes new bytes that match nothing extra bytes, a leading run included, and joins what the scan cut at the same offset")
    func recutExtra() throws {
        var g = SeededGenerator(seed: 62)
        let old = g.bytes(32 << 10)
        let inserted = g.bytes(3000), lead = g.bytes(500)
        let new = lead + old[..<(16 << 10)] + inserted + old[(16 << 10)...]
        // The scan's view: everything as adds, the inserted bytes and the lead too (against
        // whatever old holds there), the second half cut in two at the same offset.
        let half = 16 << 10, rest = old.count - half
        let scan = [ControlTriple(add: Int64(500 + half), copy: 0, seek: -500),
                    ControlTriple(add: 3000, copy: 0, seek: -3000),
                    ControlTriple(add: Int64(rest / 2), copy: 0, seek: 0),
                    ControlTriple(add: Int64(rest - rest / 2), copy: 0, seek: 0)]
        let r = try Self.recut(old, new, scan)
        // Recut: 500 extra (leading), an add of half at 0, 3000 extra, one add of the rest.
        let made = r.triples.filter { $0.add > 0 || $0.copy > 0 }
        #expect(made.count == 3, "\(r.triples)")
        #expect(made.map(\.copy) == [500, 3000, 0] && made.map(\.add) == [0, Int64(half), Int64(rest)], "\(r.triples)")
        #expect(r.recut.count < r.plain.count)
        #expect(try Delta.apply(old: old, patch: r.recut) == new)
    }

    @Test("recutting does not turn adds into extra bytes when the scan's extra bytes are fill that compresses to almost nothing")
    func recutFill() throws {
        var g = SeededGenerator(seed: 63)
        let old = g.bytes(64 << 10)
        let new = old + [UInt8](repeating: 0xFF, count: 8 << 10)
        let scan = [ControlTriple(add: Int64(old.count), copy: 8 << 10, seek: 0)]
        let r = try Self.recut(old, new, scan)
        #expect(r.triples.filter { $0.add > 0 || $0.copy > 0 }.map(\.add) == [Int64(old.count)], "\(r.triples)")
        #expect(r.recut.count < 1000, "\(r.recut.count) B")
    }

    @Test("the wrong old image is refused before anything is written (delta.wrong-base, exit 1)")
    func wrongBase() throws {
        let patch = try createFirmchain1(old: Self.old, new: Self.new)
        var other = Self.old
        other[other.count / 2] ^= 1
        for base in [other, Array(Self.old.dropLast()), Self.new] {
            var written = 0
            let e = #expect(throws: FirmchainError.self) {
                try base.withUnsafeBufferPointer { o in
                    try patch.withUnsafeBufferPointer { p in try Delta.apply(old: o, patch: p, maxNewSize: 1 << 30) { written += $0.count } }
                }
            }
            #expect(e?.code.id == ErrorCode.deltaWrongBase.id)
            #expect(e?.code.exitCode == 1)
            #expect(written == 0, "nothing is handed on before the base is checked")
        }
    }

    @Test("a patch whose result is not the image its header names is refused (delta.digest-mismatch)")
    func resultDigest() throws {
        let triples = try Delta.computeTriples(old: Self.old, new: Self.new, options: DeltaCreateOptions(), progress: SilentProgress())
        var parts = Firmchain1Parts(old: Self.old, new: Self.new, triples: triples)
        #expect(try Delta.apply(old: Self.old, patch: parts.assemble()) == Self.new)
        // A changed extra byte, with the header still naming the real new image.
        parts.extra[parts.extra.count / 2] ^= 0x40
        #expect(try rejectionCode(old: Self.old, patch: parts.assemble()) == ErrorCode.deltaDigestMismatch.id)
    }

    /// Hostile firmchain1 patches for `old` (and the code the Swift applier gives each).
    static let hostileCases: [(String, String)] = [
        ("wrong magic", ErrorCode.deltaBadMagic.id), ("header cut short", ErrorCode.deltaPatchTruncated.id),
        ("version 2", ErrorCode.deltaUnsupportedVersion.id), ("codec 2", ErrorCode.deltaUnsupportedVersion.id),
        ("an unknown flag set", ErrorCode.deltaUnsupportedVersion.id), ("a reserved byte set", ErrorCode.deltaUnsupportedVersion.id),
        ("the carry flag cleared", ErrorCode.deltaDigestMismatch.id),
        ("dictionary of 1 KiB", ErrorCode.deltaBadHeader.id), ("a byte after the extra section", ErrorCode.deltaTrailingData.id),
        ("a section cut short", ErrorCode.deltaPatchTruncated.id), ("new length beyond 2^62", ErrorCode.deltaBadHeader.id),
        ("diff and extra not adding up to N", ErrorCode.deltaBadHeader.id), ("more triples than the control can hold", ErrorCode.deltaBadHeader.id),
        ("non-minimal LEB128", ErrorCode.deltaBadControl.id), ("an integer of 2^63", ErrorCode.deltaBadControl.id),
        ("an add past the end of old", ErrorCode.deltaOldOutOfRange.id), ("a seek before the start of old", ErrorCode.deltaBadControl.id),
        ("a copy past N", ErrorCode.deltaBadControl.id), ("a control byte after the last triple", ErrorCode.deltaBlockMismatch.id),
        ("a diff byte too many", ErrorCode.deltaBlockMismatch.id), ("garbage in the diff section", ErrorCode.deltaCorruptBlock.id),
        ("the LZMA2 end marker missing", ErrorCode.deltaCorruptBlock.id), ("a byte after the LZMA2 end marker", ErrorCode.deltaCorruptBlock.id),
        ("1025 triples that make nothing", ErrorCode.deltaBadControl.id), ("more than N + 1024 triples", ErrorCode.deltaBadHeader.id),
        ("a copy of old flagged with no length", ErrorCode.deltaBadControl.id), ("section lengths summing past 2^63", ErrorCode.deltaPatchTruncated.id),
        ("2^60 triples in a control section of 2^62 - 1 bytes", ErrorCode.deltaBadHeader.id),
        ("LZMA2 properties lc 3, lp 1 (lc + lp above 3)", ErrorCode.deltaCorruptBlock.id),
        ("an alignment shift of 5", ErrorCode.deltaUnsupportedVersion.id), ("a diff alignment shift of 5", ErrorCode.deltaUnsupportedVersion.id), ("a diff alignment byte not zero", ErrorCode.deltaCorruptBlock.id),
        ("an extra alignment byte not zero", ErrorCode.deltaCorruptBlock.id),
        ("the diff alignment cleared (its padding more bytes than N allows)", ErrorCode.deltaBadHeader.id),
    ]

    @Test("hostile headers and sections are each refused with their code and leave no output", arguments: hostileCases)
    func hostile(_ name: String, _ expected: String) throws {
        #expect(try rejectionCode(old: Self.old, patch: Self.hostilePatch(name)) == expected, "\(name)")
    }

    /// The patch of hostile case `name`, made from the good patch of old -> new.
    static func hostilePatch(_ name: String) throws -> [UInt8] {
        let old = Self.old, new = Self.new
        #expect(new.count > old.count)
        let good = try createFirmchain1(old: old, new: new)
        let triples = try Delta.computeTriples(old: old, new: new, options: DeltaCreateOptions(), progress: SilentProgress())
        let parts = Firmchain1Parts(old: old, new: new, triples: triples)
        func set(_ p: [UInt8], _ at: Int, _ bytes: [UInt8]) -> [UInt8] {
            var p = p
            p.replaceSubrange(at..<at + bytes.count, with: bytes)
            return p
        }
        func le(_ v: UInt64, _ n: Int) -> [UInt8] { var out = [UInt8](); FirmchainDelta1.appendLE(v, n, to: &out); return out }
        let header = try good.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }
        let diffStart = 176 + header.sections[0].compressed
        let patch: [UInt8]
        switch name {
        case "wrong magic": patch = set(good, 0, Array("FCDELTA2".utf8))
        case "header cut short": patch = Array(good.prefix(100))
        case "version 2": patch = set(good, 8, [2, 0])
        case "codec 2": patch = set(good, 10, [2])
        case "an unknown flag set": patch = set(good, 11, [FirmchainDelta1.flagCarry | 2])
        case "the carry flag cleared": patch = set(good, 11, [0])
        case "a reserved byte set": patch = set(good, 14, [1])
        case "dictionary of 1 KiB": patch = set(good, 104 + 16, le(1024, 4))
        case "a byte after the extra section": patch = good + [0]
        case "a section cut short": patch = Array(good.dropLast())
        case "new length beyond 2^62": patch = set(good, 24, le(1 << 62, 8))
        case "diff and extra not adding up to N":
            // More diff bytes than N adds could use, with the padding its alignment allows.
            patch = set(good, 128 + 8, le(UInt64(header.diffAlignment * new.count + 1), 8))
        case "LZMA2 properties lc 3, lp 1 (lc + lp above 3)":
            // The diff section's first chunk: control byte (dictionary reset, new properties), two
            // size bytes each for its decoded and compressed lengths, then its properties.
            // Made from the parts (liblzma's lc 3, lp 0, pb 2): the writer may choose others.
            let made = try parts.assemble()
            let start = 176 + (try made.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }).sections[0].compressed
            #expect(made[start] >= 0xE0 && made[start + 5] == (2 * 5 + 0) * 9 + 3, "an LZMA chunk with lc 3, lp 0, pb 2")
            patch = set(made, start + 5, [(2 * 5 + 1) * 9 + 3])
        case "more triples than the control can hold": patch = set(good, 96, le(UInt64(header.sections[0].length), 8))
        case "an alignment shift of 5": patch = set(good, 13, [5])
        case "a diff alignment shift of 5": patch = set(good, 12, [5])
        case "a diff alignment byte not zero", "an extra alignment byte not zero":
            // 16-byte alignment: the second part of the section starts after padding.
            let diff = name.contains("diff")
            let p = parts.aligned(diff: diff ? 4 : 0, extra: diff ? 0 : 4)
            let plain = diff ? parts.diff : parts.extra, padded = diff ? p.diff : p.extra
            let partsOf = diff ? parts.diffParts : parts.extraParts
            #expect(partsOf.count >= 2 && padded.count > plain.count, "the section has padding")
            // The first padding byte (§3: before a part, zeros up to its position modulo 16).
            var at = 0, pad: Int?
            for part in partsOf where pad == nil {
                if (part.newpos - at) & 15 != 0 { pad = at } else { at += part.length }
            }
            let first = try #require(pad, "some part needs padding")
            #expect(padded[first] == 0)
            #expect(try Delta.apply(old: old, patch: try p.assemble()) == new, "the patch applies with its padding as it is")
            var q = p
            if diff { q.diff[first] = 1 } else { q.extra[first] = 1 }
            patch = try q.assemble()
        case "the diff alignment cleared (its padding more bytes than N allows)":
            var p = parts.aligned(diff: 4, extra: 0)
            p.diffShift = 0
            patch = try p.assemble()
        case "non-minimal LEB128":
            var p = parts
            // The first triple's add, written with one needless continuation byte.
            var c = [UInt8]()
            FirmchainDelta1.appendLEB128(UInt64(triples[0].add) << 1, to: &c)
            c[c.count - 1] |= 0x80
            c.append(0)
            var rest = [UInt8]()
            FirmchainDelta1.appendLEB128(UInt64(triples[0].add) << 1, to: &rest)
            p.control = c + Array(p.control.dropFirst(rest.count))
            patch = try p.assemble()
        case "an integer of 2^63":
            var p = parts
            p.control = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01] + p.control
            p.triples += 1
            patch = try p.assemble()
        case "an add past the end of old":
            // One add of N > O bytes (new is 100 bytes longer than old).
            var p = parts
            p.triples = 1
            p.diff = [UInt8](repeating: 0, count: new.count)
            p.extra = []
            p.control = []
            FirmchainDelta1.appendLEB128(UInt64(new.count) << 1, to: &p.control)
            p.control += [0, 0]
            patch = try p.assemble()
        case "a seek before the start of old":
            var p = parts
            (p.triples, p.diff, p.extra) = (1, [], new)
            p.control = [0]
            FirmchainDelta1.appendLEB128(UInt64(new.count), to: &p.control)
            p.control += [1]  // zigzag(-1)
            patch = try p.assemble()
        case "a copy past N":
            var p = parts
            (p.triples, p.diff, p.extra) = (1, [], new)
            p.control = [0]
            FirmchainDelta1.appendLEB128(UInt64(new.count + 1), to: &p.control)
            p.control += [0]
            patch = try p.assemble()
        case "a control byte after the last triple":
            var p = parts
            p.control += [0]
            patch = try p.assemble()
        case "a diff byte too many":
            var p = parts
            p.diff += [0]
            p.extra.removeLast()
            patch = try p.assemble()
        case "garbage in the diff section":
            var p = good
            for k in diffStart..<min(diffStart + 8, p.count) { p[k] = 0xA5 }
            patch = p
        case "the LZMA2 end marker missing":
            // The extra section is last: drop its final byte (the end marker) and say so.
            var p = Array(good.dropLast())
            p = set(p, 152, le(UInt64(header.sections[2].compressed - 1), 8))
            patch = p
        case "a byte after the LZMA2 end marker":
            var p = good + [0]
            p = set(p, 152, le(UInt64(header.sections[2].compressed + 1), 8))
            patch = p
        case "a copy of old flagged with no length":
            var p = parts
            p.control = [1, 0, 0] + p.control
            p.triples += 1
            patch = try p.assemble()
        case "section lengths summing past 2^63":
            var p = set(good, 104, le((1 << 62) - 1, 8))
            p = set(p, 128, le((1 << 62) - 1, 8))
            patch = set(p, 152, le(2, 8))
        case "2^60 triples in a control section of 2^62 - 1 bytes":
            var p = set(good, 96, le(1 << 60, 8))
            p = set(p, 104 + 8, le((1 << 62) - 1, 8))
            patch = set(p, 24, le(0, 8))
        case "1025 triples that make nothing":
            var p = parts
            p.control = [UInt8](repeating: 0, count: 3 * 1025) + p.control
            p.triples += 1025
            patch = try p.assemble()
        case "more than N + 1024 triples":
            var p = parts
            let extra = new.count + 1025 - p.triples
            p.control = [UInt8](repeating: 0, count: 3 * extra) + p.control
            p.triples += extra
            patch = try p.assemble()
        default: throw TestSetupError("no case \(name)")
        }
        return patch
    }

    @Test("every coding the writer weighs (§3's alignment, LZMA's context bits) round-trips in both appliers; the header names the alignments and the sections hold zeros before each part")
    func codings() throws {
        let old = Cases.firmware(seed: 31, size: 200_000), new = Cases.edited(old, seed: 32)
        let triples = try Delta.computeTriples(old: old, new: new, options: DeltaCreateOptions(), progress: SilentProgress())
        for d in FirmchainDelta1.Coding.candidates {
            for e in [FirmchainDelta1.Coding.candidates[0], FirmchainDelta1.Coding.candidates[2]] {
                let patch = try old.withUnsafeBufferPointer { o in
                    try new.withUnsafeBufferPointer { n in
                        try FirmchainDelta1.write(old: o, new: n, triples: triples, concurrency: 2, codings: (d, e))
                    }
                }
                #expect(patch[12] == UInt8(d.shift) && patch[13] == UInt8(e.shift) && patch[14] == 0 && patch[15] == 0)
                #expect(try Delta.apply(old: old, patch: patch) == new, "\(d) \(e)")
                let c = try CApplierBuildTests.run(try CApplier.driver(), old: old, patch: patch)
                #expect(c.result.status == 0 && c.output == new, "\(d) \(e): \(c.result.err)")
                // Every aligned add's first diff byte sits at a section position congruent to
                // its position in new.
                if d.alignment > 1 {
                    let diff = try firmchain1Section(patch, 1)
                    var newpos = 0, at = 0
                    for t in try firmchain1Triples(patch) {
                        if !t.fromOld && t.add > 0 {
                            while at % d.alignment != newpos % d.alignment { #expect(diff[at] == 0); at += 1 }
                            at += t.add
                        }
                        newpos += t.add + t.copy
                    }
                    #expect(at == diff.count && diff.count > 0)
                }
            }
        }
        // The writer's own choice applies.
        let chosen = try createFirmchain1(old: old, new: new)
        #expect(try Delta.apply(old: old, patch: chosen) == new)
        // Every other alignment the format allows (2 to 16 bytes), on hand-made sections.
        let parts = Firmchain1Parts(old: old, new: new, triples: triples)
        for (d, e) in [(1, 3), (3, 1), (4, 0), (0, 4), (4, 4)] as [(UInt8, UInt8)] {
            let aligned = parts.aligned(diff: d, extra: e)
            #expect(aligned.diff.count > parts.diff.count || aligned.extra.count > parts.extra.count, "\(d), \(e): padding")
            let patch = try aligned.assemble()
            #expect(try Delta.apply(old: old, patch: patch) == new, "\(d), \(e)")
            let c = try CApplierBuildTests.run(try CApplier.driver(), old: old, patch: patch)
            #expect(c.result.status == 0 && c.output == new, "\(d), \(e): \(c.result.err)")
        }
    }

    @Test("bit flips anywhere are refused or give exactly new; a flip never yields another image")
    func bitFlips() throws {
        let patch = try createFirmchain1(old: Self.old, new: Self.new)
        var g = SeededGenerator(seed: 99)
        for _ in 0..<400 {
            var p = patch
            let bit = Int(g.next() % UInt64(p.count * 8))
            p[bit / 8] ^= UInt8(1 << (bit % 8))
            do {
                let out = try Delta.apply(old: Self.old, patch: p)
                #expect(out == Self.new, "bit \(bit): another image came out")
            } catch let e as FirmchainError {
                #expect(e.code.id.hasPrefix("delta."))
            }
        }
    }
}
