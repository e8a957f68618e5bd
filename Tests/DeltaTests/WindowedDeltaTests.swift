import Foundation
import Testing
import TestSupport
import FirmchainCore
@testable import Delta

/// A pair of `megabytes` MiB of random bytes and an edited copy (blocks rewritten, a block
/// inserted, one removed), written with dd and Python so the test itself stays small in memory.
private func writeLargePair(in dir: TemporaryDirectory, megabytes: Int) throws -> (old: String, new: String) {
    let old = dir.file("old"), new = dir.file("new")
    let script = """
        import os, random, sys
        r = random.Random(5)
        old = open(sys.argv[1], 'rb').read()
        new = bytearray(old)
        for _ in range(200):
            at = r.randrange(len(new) - 4096); new[at:at + 64] = r.randbytes(64)
        at = r.randrange(len(new)); new[at:at] = r.randbytes(300000)
        at = r.randrange(len(new) - 500000); del new[at:at + 400000]
        open(sys.argv[2], 'wb').write(new)
        """
    let dd = try runProcess("dd", ["if=/dev/urandom", "of=\(old)", "bs=1M", "count=\(megabytes)", "status=none"])
    try #require(dd.status == 0, "\(dd.err)")
    let py = try runProcess("python3", ["-c", script, old, new])
    try #require(py.status == 0, "\(py.err)")
    return (old, new)
}

@Suite("delta create --max-memory: firmchain1 patches window by window, within the limit", .serialized)
struct WindowedDeltaTests {
    @Test("a pair cut into many windows round-trips through the Swift and the C applier, a little larger than the unbounded patch")
    func roundTrip() throws {
        let dir = try TemporaryDirectory()
        let old = Cases.firmware(seed: 31, size: 3 << 20)
        // Local edits only: a block moved far (outside its window) would be sent as new bytes.
        let new = Cases.edited(old, seed: 32)
        let oldPath = try dir.write("old", old), newPath = try dir.write("new", new)
        let made = try WindowedDelta.create(oldPath: oldPath, newPath: newPath, outPath: dir.file("p"), maxMemory: WindowedDelta.minimumMemory(oldLength: old.count, newLength: new.count, threads: 0 + ProcessInfo.processInfo.activeProcessorCount))
        #expect(made.segmentLength == 1 << 20 && made.segments == 4, "\(made.segments) segments of \(made.segmentLength)")
        let patch = try dir.read("p")
        #expect(patch.count == made.patchLength)
        #expect(try Delta.apply(old: old, patch: patch) == new)
        let c = try runProcess(try CApplier.driver(), [oldPath, dir.file("p"), dir.file("c.out")], environment: CApplier.sanitizerEnvironment)
        #expect(c.status == 0, "\(c.err)")
        #expect(try dir.read("c.out") == new)
        let unbounded = try createFirmchain1(old: old, new: new)
        #expect(patch.count < unbounded.count * 2, "windowed \(patch.count) B, unbounded \(unbounded.count) B")
    }

    @Test("a section's coding is chosen on its first 256 KiB across segments, then every later segment is padded where the whole section puts it: aligned patches round-trip in both appliers")
    func alignedAcrossSegments() throws {
        let dir = try TemporaryDirectory()
        let old = Cases.firmware(seed: 41, size: 3 << 20)
        // 32-bit words at random positions 0 mod 4, about one in 12, moved by small random
        // amounts (relocated pointers and branches): the diff section is most of new, its
        // non-zero bytes at positions 0 mod 4 of new.
        var new = old
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return state >> 33 }
        var k = 0
        while k < new.count - 4 {
            var v = UInt32(new[k]) | UInt32(new[k + 1]) << 8 | UInt32(new[k + 2]) << 16 | UInt32(new[k + 3]) << 24
            v &+= UInt32(next() % 200) + 1
            for i in 0..<4 { new[k + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
            k += 4 * Int(1 + next() % 6)
        }
        let oldPath = try dir.write("old", old), newPath = try dir.write("new", new)
        let made = try WindowedDelta.create(oldPath: oldPath, newPath: newPath, outPath: dir.file("p"),
                                            maxMemory: WindowedDelta.minimumMemory(oldLength: old.count, newLength: new.count, threads: 2))
        #expect(made.segments >= 3)
        let patch = try dir.read("p")
        let header = try patch.withUnsafeBufferPointer { try FirmchainDelta1.Header($0) }
        #expect(header.sections[1].length > 2 * WindowedDelta.chooseAfter, "the diff section spans segments after the choice")
        #expect(header.diffAlignment == 4, "words moved at positions 0 mod 4 choose the aligned diff")
        #expect(try Delta.apply(old: old, patch: patch) == new)
        let c = try runProcess(try CApplier.driver(), [oldPath, dir.file("p"), dir.file("c.out")], environment: CApplier.sanitizerEnvironment)
        #expect(c.status == 0, "\(c.err)")
        #expect(try dir.read("c.out") == new)
    }

    @Test("segments that start with a match do not each leave a triple that only seeks (2.5 GiB would pass §2's 1024): at most one, leading")
    func segmentsFoldTheirLeadingSeek() throws {
        let dir = try TemporaryDirectory()
        let old = Cases.firmware(seed: 33, size: 4 << 20)
        let path = try dir.write("old", old)
        let made = try WindowedDelta.create(oldPath: path, newPath: path, outPath: dir.file("p"),
                                            maxMemory: WindowedDelta.minimumMemory(oldLength: old.count, newLength: old.count, threads: ProcessInfo.processInfo.activeProcessorCount))
        #expect(made.segments >= 4)
        let patch = try dir.read("p")
        let triples = try firmchain1Triples(patch)
        #expect(triples.filter { $0.add == 0 && $0.copy == 0 }.count <= 1, "\(triples.prefix(12))")
        #expect(try Delta.apply(old: old, patch: patch) == old)
    }

    @Test("empty and one-sided inputs, and a new image much longer than old, still round-trip")
    func edges() throws {
        let dir = try TemporaryDirectory()
        var g = SeededGenerator(seed: 8)
        let big = g.bytes(3 << 20)
        for (name, old, new) in [("both empty", [UInt8](), [UInt8]()), ("empty old", [], big), ("empty new", big, []),
                                 ("new 3x old", Array(big.prefix(1 << 20)), big)] {
            let oldPath = try dir.write("old", old), newPath = try dir.write("new", new)
            _ = try WindowedDelta.create(oldPath: oldPath, newPath: newPath, outPath: dir.file("p"), maxMemory: 128 << 20)
            #expect(try Delta.apply(old: old, patch: try dir.read("p")) == new, "\(name)")
        }
    }

    @Test("on the command line: within the limit on a 24 MiB pair that needs 208 MiB unbounded; refusals are usage errors that write nothing")
    func commandLine() throws {
        let dir = try TemporaryDirectory()
        let (old, new) = try writeLargePair(in: dir, megabytes: 24)
        let limit = 100 << 20
        let run = try runProcess("/usr/bin/time", ["-f", "%M", TestEnv.firmchain, "delta", "create", "--format", "firmchain1", "--max-memory", "100M",
                                                   "--old", old, "--new", new, "--out", dir.file("p"), "--json"])
        #expect(run.status == 0, "\(run.err)")
        let rssKiB = Int(run.err.split(separator: "\n").last.map(String.init) ?? "") ?? Int.max / 1024
        #expect(rssKiB * 1024 <= limit, "peak RSS \(rssKiB) KiB above the 100 MiB limit")
        let doc = try JSONReader().parse(Array(run.stdout))
        #expect(doc["format"] == "firmchain1" && doc["windows"]?["count"]?.int64Value ?? 0 > 1, "\(run.out)")
        let apply = try runProcess(TestEnv.firmchain, ["delta", "apply", "--old", old, "--patch", dir.file("p"), "--out", dir.file("out")])
        #expect(apply.status == 0, "\(apply.err)")
        #expect(try DigestCalculator.file(dir.file("out")).sha256 == DigestCalculator.file(new).sha256)

        for (args, code) in [(["--format", "firmchain1", "--max-memory", "64M"], "delta.memory-too-small"),
                             (["--max-memory", "512M"], "delta.unsupported-format"),
                             (["--format", "firmchain1", "--max-memory", "lots"], "usage.invalid")] {
            let r = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", old, "--new", new, "--out", dir.file("q")] + args)
            #expect(r.status == 64 && r.err.contains("[\(code)]"), "\(args): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("q")))
        }
        // No temporary is left beside the output.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["new", "old", "out", "p"])
    }
}
