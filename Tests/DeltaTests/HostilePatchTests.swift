import Foundation
import Testing
import TestSupport
import FirmchainCore
@testable import Delta

/// Applies `patch` through the file API and returns the FirmchainError code; also checks that no
/// output file appeared (the apply is atomic).
func rejectionCode(old: [UInt8], patch: [UInt8], limits: DeltaApplyLimits = DeltaApplyLimits()) throws -> String? {
    let dir = try TemporaryDirectory()
    let oldPath = try dir.write("old", old), patchPath = try dir.write("patch", patch)
    defer { #expect(!FileIO.exists(dir.file("out")), "a rejected patch left an output file") }
    do {
        try Delta.applyFile(oldPath: oldPath, patchPath: patchPath, outPath: dir.file("out"), limits: limits)
        try? FileManager.default.removeItem(atPath: dir.file("out"))
        return nil
    } catch let e as FirmchainError {
        #expect(e.path == patchPath, "the error names the patch file")
        #expect(e.category == .malformedInput || e.code.id == ErrorCode.deltaTooLarge.id)
        // The directory holds nothing but the two inputs: no temporary file left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["old", "patch"])
        return e.code.id
    }
}

@Suite("Hostile, truncated and corrupted patches are rejected with a stable code and no output")
struct HostilePatchTests {
    static let old: [UInt8] = Array(Cases.firmware(seed: 3, size: 4000))
    static let new: [UInt8] = Cases.edited(old, seed: 4)

    @Test("a patch cut at any length is rejected as truncated")
    func truncationEverywhere() throws {
        let patch = try Delta.create(old: Self.old, new: Self.new)
        var codes = Set<String>()
        for cut in 0..<patch.count {
            let code = try rejectionCode(old: Self.old, patch: Array(patch[..<cut]))
            #expect(code == ErrorCode.deltaPatchTruncated.id, "cut at \(cut) of \(patch.count) gave \(code ?? "success")")
            if let code { codes.insert(code) }
        }
        #expect(codes == [ErrorCode.deltaPatchTruncated.id])
    }

    @Test("seeded random bit flips are rejected or, if harmless (bzip2 padding bits), still give new")
    func bitFlips() throws {
        let patch = try Delta.create(old: Self.old, new: Self.new)
        var g = SeededGenerator(seed: 2024)
        var accepted = 0
        for _ in 0..<600 {
            var p = patch
            let bit = Int(g.next() % UInt64(p.count * 8))
            p[bit / 8] ^= UInt8(1 << (bit % 8))
            do {
                let out = try Delta.apply(old: Self.old, patch: p)
                accepted += 1
                // bzip2 CRCs protect the blocks; an accepted flip must not change the output.
                #expect(out == Self.new, "bit \(bit) flipped and the patch produced different output")
            } catch let e as FirmchainError {
                #expect(e.code.id.hasPrefix("delta."))
            }
        }
        #expect(accepted < 60, "too many flips went unnoticed: \(accepted)")
    }

    @Test("multi-bit corruption of every region never crashes and never yields wrong output silently")
    func burstCorruption() throws {
        let patch = try Delta.create(old: Self.old, new: Self.new)
        var g = SeededGenerator(seed: 77)
        for _ in 0..<300 {
            var p = patch
            let start = Int(g.next() % UInt64(p.count))
            for k in start..<min(p.count, start + 1 + Int(g.next() % 16)) { p[k] = UInt8(truncatingIfNeeded: g.next()) }
            if let out = try? Delta.apply(old: Self.old, patch: p) { #expect(out == Self.new || p[24..<32] != patch[24..<32]) }
        }
    }

    struct Crafted: CustomStringConvertible, Sendable {
        let name: String
        let expected: String
        let make: @Sendable () throws -> [UInt8]
        var description: String { name }
    }

    static let old16: [UInt8] = Array(0..<16)

    static let crafted: [Crafted] = [
        Crafted(name: "wrong magic", expected: ErrorCode.deltaBadMagic.id) {
            var p = try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4); p[0] = 0x41; return p
        },
        Crafted(name: "8th magic byte differs (bsdiff4 would accept)", expected: ErrorCode.deltaBadMagic.id) {
            var p = try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4); p[7] = 0x31; return p
        },
        Crafted(name: "huge N", expected: ErrorCode.deltaTooLarge.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 1 << 62)
        },
        Crafted(name: "negative N", expected: ErrorCode.deltaBadHeader.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: -4)
        },
        Crafted(name: "huge X", expected: ErrorCode.deltaPatchTruncated.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, headerX: Int64.max)
        },
        Crafted(name: "huge Y", expected: ErrorCode.deltaPatchTruncated.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, headerY: 1 << 61)
        },
        Crafted(name: "negative X", expected: ErrorCode.deltaBadHeader.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, headerX: -1)
        },
        Crafted(name: "negative Y", expected: ErrorCode.deltaBadHeader.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, headerY: -100)
        },
        // The streaming applier reads the triples before it could know the blocks' totals: the
        // triples end at 4 bytes of a declared 1,000,000.
        Crafted(name: "N larger than the data can produce", expected: ErrorCode.deltaSizeMismatch.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 1_000_000)
        },
        Crafted(name: "negative add length", expected: ErrorCode.deltaBadControl.id) {
            try craftPatch(triples: [(-4, 8, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "negative copy length", expected: ErrorCode.deltaBadControl.id) {
            try craftPatch(triples: [(8, -4, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "add length of 2^40", expected: ErrorCode.deltaBadControl.id) {
            try craftPatch(triples: [(1 << 40, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "triple writing past N", expected: ErrorCode.deltaBadControl.id) {
            try craftPatch(triples: [(4, 0, 0), (2, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "seek drives oldpos negative before an add", expected: ErrorCode.deltaOldOutOfRange.id) {
            try craftPatch(triples: [(2, 0, -10), (2, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "add reads past the end of old", expected: ErrorCode.deltaOldOutOfRange.id) {
            try craftPatch(triples: [(2, 0, 100), (2, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "seek overflows the 64-bit cursor", expected: ErrorCode.deltaBadControl.id) {
            try craftPatch(triples: [(1, 0, Int64.max), (1, 0, Int64.max), (2, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "too few triples", expected: ErrorCode.deltaSizeMismatch.id) {
            try craftPatch(triples: [(2, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "copy needs more extra bytes than exist", expected: ErrorCode.deltaBlockMismatch.id) {
            try craftPatch(triples: [(0, 4, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        },
        Crafted(name: "control block not a multiple of 24 bytes", expected: ErrorCode.deltaBadControl.id) {
            var control = [UInt8]()
            BSDIFF40.encodeInteger(4, into: &control); BSDIFF40.encodeInteger(0, into: &control)
            let c = try control.withUnsafeBufferPointer { try BZip2.compress($0) }
            let d = try [UInt8](repeating: 0, count: 4).withUnsafeBufferPointer { try BZip2.compress($0) }
            let e = try [UInt8]().withUnsafeBufferPointer { try BZip2.compress($0) }
            var p = BSDIFF40.magic
            BSDIFF40.encodeInteger(Int64(c.count), into: &p); BSDIFF40.encodeInteger(Int64(d.count), into: &p)
            BSDIFF40.encodeInteger(4, into: &p)
            return p + c + d + e
        },
        Crafted(name: "bytes after the extra stream", expected: ErrorCode.deltaTrailingData.id) {
            try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, trailing: [0])
        },
        Crafted(name: "a second bzip2 stream after the extra stream", expected: ErrorCode.deltaTrailingData.id) {
            let again = try [UInt8]().withUnsafeBufferPointer { try BZip2.compress($0) }
            return try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4, trailing: again)
        },
        Crafted(name: "X larger than the control stream (junk inside the block)", expected: ErrorCode.deltaCorruptBlock.id) {
            let good = try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
            let x = BSDIFF40.decodeInteger(good, at: 8)
            var p = Array(good[0..<8])
            BSDIFF40.encodeInteger(x + 3, into: &p)
            p += good[16..<32]
            return p + good[32..<(32 + Int(x))] + [1, 2, 3] + good[(32 + Int(x))...]
        },
        Crafted(name: "control block is not bzip2", expected: ErrorCode.deltaCorruptBlock.id) {
            let good = try craftPatch(triples: [(4, 0, 0)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
            var p = good
            p[32] = 0x00  // 'B' of BZh9
            return p
        },
    ]

    @Test("crafted hostile patches are rejected with the expected code and no output file", arguments: crafted)
    func craftedPatches(_ c: Crafted) throws {
        #expect(try rejectionCode(old: Self.old16, patch: try c.make()) == c.expected)
    }

    @Test("the crafting helper itself makes patches that apply (so the rejections above are meaningful)")
    func craftedControlApplies() throws {
        let p = try craftPatch(triples: [(2, 0, 5), (2, 1, 0)], diff: [1, 1, 1, 1], extra: [9], newSize: 5)
        #expect(try Delta.apply(old: Self.old16, patch: p) == [1, 2, 8, 9, 9])
        // Trailing empty triples are accepted (Debian ignores them, bsdiff4 applies them).
        let q = try craftPatch(triples: [(4, 0, 0), (0, 0, 7)], diff: [0, 0, 0, 0], extra: [], newSize: 4)
        #expect(try Delta.apply(old: Self.old16, patch: q) == [0, 1, 2, 3])
        // "Negative zero" reads as 0 (Docs/formats/BSDIFF40.md §2).
        var r = try craftPatch(triples: [], diff: [], extra: [], newSize: 0)
        r[31] = 0x80
        #expect(try Delta.apply(old: Self.old16, patch: r) == [])
    }

    @Test("the output limit is enforced from the header before any block is decoded")
    func outputLimit() throws {
        let patch = try Delta.create(old: Self.old, new: Self.new)
        #expect(try rejectionCode(old: Self.old, patch: patch, limits: DeltaApplyLimits(maxNewSize: Self.new.count - 1)) == ErrorCode.deltaTooLarge.id)
        #expect(try rejectionCode(old: Self.old, patch: patch, limits: DeltaApplyLimits(maxNewSize: Self.new.count)) == nil)
    }

    @Test("a patch applied to the wrong old file is rejected when its adds fall outside it")
    func wrongOldFile() throws {
        let patch = try Delta.create(old: Self.old, new: Self.new)
        #expect(try rejectionCode(old: Array(Self.old.prefix(100)), patch: patch) == ErrorCode.deltaOldOutOfRange.id)
    }

    @Test("a failed apply leaves an existing output file untouched")
    func existingOutputKept() throws {
        let dir = try TemporaryDirectory()
        let out = try dir.write("out", [1, 2, 3])
        #expect(throws: FirmchainError.self) {
            try Delta.applyFile(oldPath: try dir.write("old", Self.old), patchPath: try dir.write("patch", [1, 2, 3]), outPath: out)
        }
        #expect(try dir.read("out") == [1, 2, 3])
    }
}
