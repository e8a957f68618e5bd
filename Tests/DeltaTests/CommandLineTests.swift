import Foundation
import Testing
import TestSupport
import FirmchainCore
@testable import Delta

@Suite("firmchain delta create / apply on the command line", .serialized)
struct CommandLineTests {
    let pair = Cases.all.first { $0.name == "firmware with edits" }!

    @Test("delta create says delta.unsupported-format for another --format and delta.input-too-large for a 2 GiB input, writing nothing (issue 18, item 14)")
    func createRefusals() throws {
        let dir = try TemporaryDirectory()
        let small = try dir.write("small", [1, 2, 3])
        let format = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", small, "--new", small, "--out", dir.file("p"), "--format", "xdelta"])
        #expect(format.status == 64 && format.err.contains("[delta.unsupported-format]"), "\(format.err)")
        // A sparse 2 GiB file: refused from its size, never read.
        let big = dir.file("big")
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try h.truncate(atOffset: 1 << 31)
        try h.close()
        let large = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", big, "--new", small, "--out", dir.file("p")])
        #expect(large.status == 64 && large.err.contains("[delta.input-too-large]") && large.err.contains(big), "\(large.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("p")))
    }

    @Test("delta create under an address-space limit too small for its inputs says delta.not-enough-memory in one line before reading them, and writes nothing")
    func createRefusesWithinTooSmallALimit() throws {
        let dir = try TemporaryDirectory()
        // Sparse 512 MiB inputs: about 3 GiB to diff, refused from their sizes under a 1 GiB limit.
        for name in ["old", "new"] {
            #expect(FileManager.default.createFile(atPath: dir.file(name), contents: nil))
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file(name)))
            try h.truncate(atOffset: 512 << 20)
            try h.close()
        }
        let r = try runProcess("/bin/sh", ["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\"", TestEnv.firmchain,
                                           "delta", "create", "--old", dir.file("old"), "--new", dir.file("new"), "--out", dir.file("p")])
        #expect(r.status == 64, "\(r.err)")
        #expect(r.err.contains("[delta.not-enough-memory]") && r.err.contains("ulimit -v") && r.err.contains("--max-memory"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line, no backtrace: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("p")))
    }

    @Test("Delta.checkMemory holds each limit against its own need: threads' arenas count under an address-space limit only")
    func checkMemoryArithmetic() throws {
        let need = Delta.memoryNeeded(oldSize: 10 << 20, newSize: 10 << 20)
        #expect(need == 60 << 20 + 64 << 20)
        #expect(Delta.memoryNeeded(oldSize: 1 << 20, newSize: 10 << 20) == 31 << 20 + 64 << 20)  // old + 3 new when new is larger
        func check(_ limits: [MemoryLimit.Headroom]) throws { try Delta.checkMemory(oldSize: 10 << 20, newSize: 10 << 20, limits: limits) }
        let group = MemoryLimit.Headroom(source: "the memory limit of control group /x", bytes: need)
        let space = MemoryLimit.Headroom(source: "the address-space limit (ulimit -v)", bytes: need, addressSpace: true)
        var roomySpace = space
        roomySpace.bytes = need + ProcessInfo.processInfo.activeProcessorCount * (48 << 20)
        #expect(throws: Never.self) { try check([]) }
        #expect(throws: Never.self) { try check([group]) }
        #expect(throws: Never.self) { try check([roomySpace, group]) }
        var short = group
        short.bytes = need - 1
        #expect { try check([roomySpace, short]) } throws: { error in
            (error as? FirmchainError)?.code == .deltaNotEnoughMemory && "\(error)".contains("control group /x")
        }
        // The same bytes as an address-space limit are short by the arenas, even where a
        // cgroup limit with fewer bytes would pass.
        var tighterGroup = group
        tighterGroup.bytes = need - 0
        #expect { try check([space, tighterGroup]) } throws: { error in
            (error as? FirmchainError)?.code == .deltaNotEnoughMemory && "\(error)".contains("ulimit -v")
        }
    }

    @Test("apply --expect-sha256/--expect-length refuses a wrong result and a patch declaring another length, writing nothing")
    func applyChecksExpectedResult() throws {
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
        #expect(try runProcess(TestEnv.firmchain, ["delta", "create", "--old", old, "--new", new, "--out", dir.file("p")]).status == 0)
        let sha = DigestCalculator.sha256Hex(pair.new)
        func apply(_ extra: [String]) throws -> ProcessResult {
            try runProcess(TestEnv.firmchain, ["delta", "apply", "--old", old, "--patch", dir.file("p"), "--out", dir.file("out")] + extra)
        }
        let good = try apply(["--expect-sha256", sha, "--expect-length", "\(pair.new.count)"])
        #expect(good.status == 0, "\(good.err)")
        #expect(try dir.read("out") == pair.new)
        try FileManager.default.removeItem(atPath: dir.file("out"))
        let wrongHash = try apply(["--expect-sha256", String(repeating: "0", count: 64)])
        #expect(wrongHash.status == 1 && wrongHash.err.contains("[delta.result-mismatch]"), "\(wrongHash.err)")
        // A shorter expected length bounds the output: the patch's declared size is refused up front.
        let shorter = try apply(["--expect-length", "\(pair.new.count - 1)"])
        #expect(shorter.status == 65 && shorter.err.contains("[delta.too-large]"), "\(shorter.err)")
        let longer = try apply(["--expect-length", "\(pair.new.count + 1)"])
        #expect(longer.status == 1 && longer.err.contains("[delta.result-mismatch]"), "\(longer.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")), "no output on any refusal")
        #expect(try apply(["--expect-sha256", "xyz"]).status == 64)
    }

    @Test("apply streams its output: a small patch making 512 MiB runs in bounded memory, and with a wrong expected hash leaves no file (issue 18, item 6)")
    func applyStreams() throws {
        try requireTool("/usr/bin/time")
        let dir = try TemporaryDirectory()
        let size = 512 << 20
        // 16 old bytes added to 16 diff bytes, then 512 MiB - 16 of extra zeros: a patch of a few KiB.
        let patch = try craftPatch(triples: [(16, Int64(size - 16), 0)], diff: [UInt8](repeating: 1, count: 16),
                                   extra: [UInt8](repeating: 0, count: size - 16), newSize: Int64(size))
        #expect(patch.count < 64 << 10)
        let old = try dir.write("old", [UInt8](repeating: 2, count: 16))
        let p = try dir.write("p", patch)
        let expected = [UInt8](repeating: 3, count: 16) + [UInt8](repeating: 0, count: size - 16)
        let sha = DigestCalculator.sha256Hex(expected)
        let r = try runProcess("/usr/bin/time", ["-f", "%M", TestEnv.firmchain, "delta", "apply", "--old", old, "--patch", p, "--out", dir.file("out"),
                                                 "--max-output", "\(1 << 30)", "--expect-length", "\(size)", "--expect-sha256", sha])
        #expect(r.status == 0, "\(r.err)")
        let peakKiB = Int(r.err.split(separator: "\n").last.map(String.init) ?? "") ?? Int.max
        #expect(peakKiB < 96 << 10, "delta apply peaked at \(peakKiB) KiB for a 512 MiB output: it does not stream")
        #expect(try DigestCalculator.file(dir.file("out")).sha256 == sha)
        try FileManager.default.removeItem(atPath: dir.file("out"))
        let wrong = try runProcess(TestEnv.firmchain, ["delta", "apply", "--old", old, "--patch", p, "--out", dir.file("out"),
                                                      "--max-output", "\(1 << 30)", "--expect-sha256", String(repeating: "0", count: 64)])
        #expect(wrong.status == 1 && wrong.err.contains("[delta.result-mismatch]"), "\(wrong.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["old", "p"], "no output and no temporary file after a refusal")
    }

    @Test("create then apply reproduces new, and --json reports sizes, ratio, seconds and sha256")
    func createApplyJSON() throws {
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
        let c = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", old, "--new", new, "--out", dir.file("p"), "--json"])
        try #require(c.status == 0, "create failed: \(c.err)")
        let doc = try JSONReader().parse(Array(c.stdout), path: "stdout")
        let patch = try dir.read("p")
        #expect(doc["patch"]?["length"]?.int64Value == Int64(patch.count))
        #expect(doc["new"]?["length"]?.int64Value == Int64(pair.new.count))
        #expect(doc["old"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(pair.old))
        #expect(doc["patch"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(patch))
        #expect(doc["format"]?.stringValue == "bsdiff40")
        #expect(doc["ratio"] != nil && doc["seconds"] != nil)

        let a = try runProcess(TestEnv.firmchain, ["delta", "apply", "--old", old, "--patch", dir.file("p"), "--out", dir.file("out"), "--json"])
        try #require(a.status == 0, "apply failed: \(a.err)")
        #expect(try dir.read("out") == pair.new)
        let adoc = try JSONReader().parse(Array(a.stdout), path: "stdout")
        #expect(adoc["new"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(pair.new))
    }

    @Test("a hostile patch exits 65 with the code on stderr and leaves no output file")
    func hostilePatchExitCode() throws {
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old)
        var patch = try Delta.create(old: pair.old, new: pair.new)
        patch.removeLast(5)
        let p = try dir.write("p", patch)
        let r = try runProcess(TestEnv.firmchain, ["delta", "apply", "--old", old, "--patch", p, "--out", dir.file("out")])
        #expect(r.status == 65)
        #expect(r.err.contains("[delta.patch-truncated]") && r.err.contains(p), "\(r.err)")
        #expect(!FileIO.exists(dir.file("out")))
    }

    @Test("a missing old file exits 66; an unknown --format is a usage error")
    func usageErrors() throws {
        let dir = try TemporaryDirectory()
        let new = try dir.write("new", pair.new)
        let r = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", dir.file("nope"), "--new", new, "--out", dir.file("p")])
        #expect(r.status == 66, "\(r.err)")
        #expect(!FileIO.exists(dir.file("p")))
        let f = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", new, "--new", new, "--out", dir.file("p"), "--format", "vcdiff"])
        #expect(f.status == 64, "\(f.err)")
    }

    @Test("the patch written by the CLI applies with Debian bspatch")
    func cliPatchAppliesWithBspatch() throws {
        try requireTool("/usr/bin/bspatch")
        let dir = try TemporaryDirectory()
        let old = try dir.write("old", pair.old), new = try dir.write("new", pair.new)
        let c = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", old, "--new", new, "--out", dir.file("p")])
        try #require(c.status == 0, "\(c.err)")
        let b = try runProcess("/usr/bin/bspatch", [old, dir.file("out"), dir.file("p")])
        #expect(b.status == 0, "\(b.err)")
        #expect(try dir.read("out") == pair.new)
    }
}
