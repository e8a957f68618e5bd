import Testing
import TestSupport
import FirmchainCore
@testable import Delta

/// Firmchain's patches against the real reference tools, both directions (Docs/formats/BSDIFF40.md §5).
@Suite("BSDIFF40 interop with Debian bsdiff/bspatch 4.3 and PyPI bsdiff4", .serialized)
struct InteropTests {
    static let bspatch = "/usr/bin/bspatch"
    static let bsdiff = "/usr/bin/bsdiff"

    /// Applies `patch` with Debian bspatch and bsdiff4 and checks both produce `new` byte-exactly.
    func checkReferenceReadersApply(_ pair: Pair, patch: [UInt8]) throws {
        try requireTool(Self.bspatch)
        try requireBsdiff4()
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old)
        let p = try dir.write("patch", patch)
        let r1 = try runProcess(Self.bspatch, [old, dir.file("new.bspatch"), p])
        #expect(r1.status == 0, "bspatch failed on \(pair.name): \(r1.err)")
        if r1.status == 0 { #expect(try dir.read("new.bspatch") == pair.new, "bspatch output differs on \(pair.name)") }
        let r2 = try runProcess(TestEnv.python, ["-c", "import sys, bsdiff4; bsdiff4.file_patch(sys.argv[1], sys.argv[2], sys.argv[3])",
                                                 old, dir.file("new.bsdiff4"), p])
        #expect(r2.status == 0, "bsdiff4 failed on \(pair.name): \(r2.err)")
        if r2.status == 0 { #expect(try dir.read("new.bsdiff4") == pair.new, "bsdiff4 output differs on \(pair.name)") }
    }

    @Test("Debian bspatch and bsdiff4 apply Firmchain's patches byte-exactly", arguments: Cases.all)
    func referenceReadersApplyOurPatches(_ pair: Pair) throws {
        try checkReferenceReadersApply(pair, patch: try Delta.create(old: pair.old, new: pair.new))
    }

    @Test("Debian bspatch and bsdiff4 apply Firmchain's patches of real kernel modules", arguments: Fixtures.names)
    func referenceReadersApplyOurKernelModulePatches(_ name: String) throws {
        let pair = try Fixtures.pair(name)
        try checkReferenceReadersApply(pair, patch: try Delta.create(old: pair.old, new: pair.new))
    }

    @Test("patches from the parallel scan (pieces, and the bridges between them) apply with both reference readers",
          arguments: Cases.all)
    func referenceReadersApplySplitScanPatches(_ pair: Pair) throws {
        var options = DeltaCreateOptions()
        options.alignment.parallelMinimumSize = 2
        try checkReferenceReadersApply(pair, patch: try Delta.create(old: pair.old, new: pair.new, options: options))
    }

    @Test("Firmchain applies patches written by Debian bsdiff 4.3 and by bsdiff4",
          arguments: Cases.all.filter { !$0.old.isEmpty && !$0.new.isEmpty })
    func weApplyReferencePatches(_ pair: Pair) throws {
        try requireTool(Self.bsdiff)
        try requireBsdiff4()
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
        // Debian's bsdiff mmaps its inputs and cannot take empty files (Docs/formats/BSDIFF40.md §6): not tested there.
        let r1 = try runProcess(Self.bsdiff, [old, new, dir.file("p.debian")])
        try #require(r1.status == 0, "bsdiff failed: \(r1.err)")
        #expect(try Delta.apply(old: pair.old, patch: try dir.read("p.debian")) == pair.new)
        let r2 = try runProcess(TestEnv.python, ["-c", "import sys, bsdiff4; bsdiff4.file_diff(*sys.argv[1:4])", old, new, dir.file("p.bsdiff4")])
        try #require(r2.status == 0, "bsdiff4 failed: \(r2.err)")
        #expect(try Delta.apply(old: pair.old, patch: try dir.read("p.bsdiff4")) == pair.new)
    }

    @Test("Firmchain applies bsdiff4's patches with empty old or new (Debian bsdiff cannot make them)",
          arguments: Cases.all.filter { $0.old.isEmpty || $0.new.isEmpty })
    func weApplyBsdiff4EmptyPatches(_ pair: Pair) throws {
        try requireBsdiff4()
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
        let r = try runProcess(TestEnv.python, ["-c", "import sys, bsdiff4; bsdiff4.file_diff(*sys.argv[1:4])", old, new, dir.file("p")])
        try #require(r.status == 0, "bsdiff4 failed: \(r.err)")
        let patch = try dir.read("p")
        #expect(try Delta.apply(old: pair.old, patch: patch) == pair.new)
        // And our own writer makes the same bytes as bsdiff4 (same scan, same bzip2 parameters).
        #expect(try Delta.create(old: pair.old, new: pair.new) == patch)
    }

    @Test("on real kernel modules Firmchain's patch is no larger than Debian bsdiff 4.3's (in fact byte-identical)",
          arguments: Fixtures.names)
    func patchSizeVersusDebianBsdiff(_ name: String) throws {
        try requireTool(Self.bsdiff)
        let pair = try Fixtures.pair(name)
        let dir = try TemporaryDirectory()
        let r = try runProcess(Self.bsdiff, [try dir.write("old", pair.old), try dir.write("new", pair.new), dir.file("p")])
        try #require(r.status == 0, "bsdiff failed: \(r.err)")
        let reference = try dir.read("p")
        let ours = try Delta.create(old: pair.old, new: pair.new)
        #expect(ours.count <= reference.count, "\(name): Firmchain \(ours.count) B > bsdiff \(reference.count) B")
        // The scan reproduces bsdiff 4.3 (Docs/formats/BSDIFF40.md §6), so the bytes match too.
        #expect(ours == reference)
        #expect(try Delta.apply(old: pair.old, patch: reference) == pair.new)
    }

    @Test("on generated firmware-like pairs Firmchain's patch equals Debian bsdiff's byte for byte",
          arguments: Cases.all.filter { !$0.old.isEmpty && !$0.new.isEmpty })
    func sameBytesAsDebianBsdiff(_ pair: Pair) throws {
        try requireTool(Self.bsdiff)
        let dir = try TemporaryDirectory()
        let r = try runProcess(Self.bsdiff, [try dir.write("old", pair.old), try dir.write("new", pair.new), dir.file("p")])
        try #require(r.status == 0, "bsdiff failed: \(r.err)")
        let ours = try Delta.create(old: pair.old, new: pair.new)
        let reference = try dir.read("p")
        #expect(ours.count <= reference.count)
        if !pair.name.contains("zero") {  // long runs: the guard may (legitimately) cut differently
            #expect(ours == reference)
        }
    }
}
