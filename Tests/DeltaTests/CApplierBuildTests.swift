import Foundation
import Testing
import TestSupport
@testable import Delta

/// The C applier (Sources/CFirmchainPatch) as a firmware project would build it: with `cc`, from
/// its own files and no library, strict C99 with every warning an error; the `fcpatch` driver with
/// address and undefined-behaviour sanitizers. Inputs are in Resources/firmchain1 (README.md there).
enum CApplier {
    static let sources = TestEnv.packageRoot.appendingPathComponent("Sources/CFirmchainPatch").path
    static let resources = TestEnv.packageRoot.appendingPathComponent("Tests/DeltaTests/Resources/firmchain1").path
    static let strict = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    static let sanitized = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
    /// Exit codes a sanitizer report gets, apart from the driver's own 1, 65 and 74.
    static let sanitizerEnvironment = ["ASAN_OPTIONS": "exitcode=86", "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87"]

    static var library: [String] { ["\(sources)/fcpatch.c", "\(sources)/fcpatch_sha256.c", "\(sources)/fcpatch_lzma2.c"] }

    /// Compiles `files` into `output` in `dir`; a warning (any compiler output) fails the test.
    static func compile(_ files: [String], flags: [String], into output: String, in dir: String) throws -> String {
        try requireTool("cc")
        let r = try cc(files, flags: flags, output: "\(dir)/\(output)")
        try #require(r.status == 0 && r.err.isEmpty, "cc \(output):\n\(r.err)")
        return "\(dir)/\(output)"
    }

    /// No `-l`: the applier needs no library (`libraries` is for test programs that do).
    static func cc(_ files: [String], flags: [String], output: String, libraries: [String] = []) throws -> ProcessResult {
        try runProcess("cc", strict + flags + ["-I\(sources)/include"] + files + ["-o", output] + libraries)
    }

    /// The sanitized `fcpatch` driver, built once per test process beside the other products
    /// (the hostile cases share it); nil and the compiler's output if it did not build cleanly.
    static let sharedDriver: (path: String?, log: String) = {
        let dir = TestEnv.productsDirectory.appendingPathComponent("fcpatch-cc").path
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // Built under a name of its own and renamed: another test process may be running the last one.
            let staging = "\(dir)/fcpatch.\(ProcessInfo.processInfo.processIdentifier)"
            let r = try cc(library + ["\(sources)/cli/fcpatch_main.c"], flags: sanitized, output: staging)
            guard r.status == 0 && r.err.isEmpty else { return (nil, r.err) }
            guard rename(staging, "\(dir)/fcpatch") == 0 else { return (nil, "rename \(staging): errno \(errno)") }
            return ("\(dir)/fcpatch", r.err)
        } catch {
            return (nil, "\(error)")
        }
    }()

    static func driver() throws -> String {
        try requireTool("cc")
        return try #require(sharedDriver.path, "cc fcpatch:\n\(sharedDriver.log)")
    }

    static func resource(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: "\(resources)/\(name)")))
    }
}

/// A patch the driver must refuse, and the exit code it must refuse it with.
struct HostileCase: CustomStringConvertible, Sendable {
    let name: String
    let patch: [UInt8]
    var old: [UInt8]? = nil
    let exit: Int32
    var description: String { name }
}

@Suite("The C applier builds cleanly, applies a firmchain1 patch byte for byte and refuses hostile ones leaving nothing", .serialized)
struct CApplierBuildTests {
    static let old = try! CApplier.resource("valid.old")
    static let new = try! CApplier.resource("valid.new")
    static let valid = try! CApplier.resource("valid.fc1")

    /// Runs the driver on `patch` against `old` in a fresh directory; returns the result, the
    /// directory's listing afterwards and the output (if any).
    static func run(_ fcpatch: String, old: [UInt8], patch: [UInt8], arguments: [String] = [])
        throws -> (result: ProcessResult, listing: [String], output: [UInt8]?, patchPath: String) {
        let dir = try TemporaryDirectory()
        let oldPath = try dir.write("old", old), patchPath = try dir.write("patch", patch)
        let r = try runProcess(fcpatch, arguments + [oldPath, patchPath, dir.file("new")], environment: CApplier.sanitizerEnvironment)
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        let output = listing.contains("new") ? try dir.read("new") : nil
        return (r, listing, output, patchPath)
    }

    @Test("fcpatch.c, fcpatch_sha256.c, fcpatch_lzma2.c and the driver compile under -std=c99 -Wall -Wextra -Werror -pedantic with sanitizers and link with no library; the valid patch gives new byte for byte")
    func validPatch() throws {
        let fcpatch = try CApplier.driver()
        let run = try Self.run(fcpatch, old: Self.old, patch: Self.valid, arguments: ["-v"])
        #expect(run.result.status == 0, "\(run.result.err)")
        #expect(run.result.err.isEmpty)
        #expect(run.result.out.hasPrefix("fcpatch: workspace "), "-v names the workspace: \(run.result.out)")
        #expect(run.output == Self.new, "the output is not valid.new")
        #expect(run.listing == ["new", "old", "patch"], "a temporary was left: \(run.listing)")
    }

    @Test("every patch Firmchain's writer makes (generated pairs, the committed kernel-module pairs) is applied by the C applier, under the sanitizers, to exactly what the Swift applier makes",
          arguments: Cases.all.map(\.name) + Fixtures.names)
    func sameAsSwift(_ name: String) throws {
        let pair = try Cases.all.first { $0.name == name } ?? Fixtures.pair(name)
        let patch = try createFirmchain1(old: pair.old, new: pair.new)
        let swift = try Delta.apply(old: pair.old, patch: patch)
        #expect(swift == pair.new)
        let run = try Self.run(try CApplier.driver(), old: pair.old, patch: patch)
        #expect(run.result.status == 0, "\(run.result.err)")
        #expect(run.output == swift, "the C applier's output differs from the Swift applier's")
    }

    @Test("patches exactly at §2's limits are accepted by both appliers: 1024 triples that make nothing, and T = N + 1024 triples")
    func limitsAccepted() throws {
        let old = Array(Cases.firmware(seed: 61, size: 3000))
        let new = old
        let ones = [ControlTriple](repeating: ControlTriple(add: 1, copy: 0, seek: 0), count: new.count)
        for (name, triples) in [("1024 empty, one add", [ControlTriple(add: Int64(new.count), copy: 0, seek: 0)]),
                                ("1024 empty, N adds of one byte", ones)] {
            var parts = Firmchain1Parts(old: old, new: new, triples: triples)
            parts.control = [UInt8](repeating: 0, count: 3 * FirmchainDelta1.maxEmptyTriples) + parts.control
            parts.triples += FirmchainDelta1.maxEmptyTriples
            let patch = try parts.assemble()
            #expect(try Delta.apply(old: old, patch: patch) == new, "\(name): Swift")
            let run = try Self.run(try CApplier.driver(), old: old, patch: patch)
            #expect(run.result.status == 0, "\(name): \(run.result.err)")
            #expect(run.output == new, "\(name): C")
        }
    }

    @Test("every hostile patch of the Swift applier's table is refused by the C applier too (65), leaving nothing",
          arguments: FirmchainDelta1Tests.hostileCases.map(\.0))
    func sameRefusals(_ name: String) throws {
        let run = try Self.run(try CApplier.driver(), old: FirmchainDelta1Tests.old, patch: try FirmchainDelta1Tests.hostilePatch(name))
        Self.expectRefusal(run, exit: [65])
    }

    /// Every header field of §1/§3, truncations, the wrong base and a tampered result, made from
    /// valid.fc1 here; the rest (control and section errors need recompression) are committed.
    static let cases: [HostileCase] = {
        func header(_ edit: (inout [UInt8]) -> Void) -> [UInt8] { var p = valid; edit(&p); return p }
        func put(_ v: UInt64, at offset: Int, width: Int = 8, in p: inout [UInt8]) {
            for i in 0..<width { p[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        }
        var wrongOld = old
        wrongOld[old.count / 2] ^= 1
        var cases: [HostileCase] = [
            HostileCase(name: "an empty file", patch: [], exit: 65),
            HostileCase(name: "cut inside the header", patch: Array(valid[..<100]), exit: 65),
            HostileCase(name: "cut by one byte", patch: Array(valid.dropLast()), exit: 65),
            HostileCase(name: "one trailing byte", patch: valid + [0], exit: 65),
            HostileCase(name: "wrong magic", patch: header { $0[0] ^= 0x20 }, exit: 65),
            HostileCase(name: "version 2", patch: header { $0[8] = 2 }, exit: 65),
            HostileCase(name: "codec 2", patch: header { $0[10] = 2 }, exit: 65),
            HostileCase(name: "flags 2 (no such flag)", patch: header { $0[11] = 2 }, exit: 65),
            HostileCase(name: "a reserved header byte set", patch: header { $0[15] = 1 }, exit: 65),
            HostileCase(name: "a reserved descriptor byte set", patch: header { $0[128 + 20] = 1 }, exit: 65),
            HostileCase(name: "a dictionary below 4 KiB", patch: header { put(2048, at: 104 + 16, width: 4, in: &$0) }, exit: 65),
            HostileCase(name: "a dictionary above 64 MiB", patch: header { put((64 << 20) + 1, at: 152 + 16, width: 4, in: &$0) }, exit: 65),
            HostileCase(name: "compressed lengths that overflow", patch: header { put(UInt64.max, at: 104, in: &$0) }, exit: 65),
            HostileCase(name: "N one more than diff plus extra", patch: header { put(UInt64(new.count + 1), at: 24, in: &$0) }, exit: 65),
            HostileCase(name: "more triples than the control section can hold", patch: header { put(1 << 40, at: 96, in: &$0) }, exit: 65),
            HostileCase(name: "wrong base: one old byte changed", patch: valid, old: wrongOld, exit: 1),
            HostileCase(name: "wrong base: old one byte short", patch: valid, old: Array(old.dropLast()), exit: 1),
            HostileCase(name: "wrong base: the header's old sha256 changed", patch: header { $0[32] ^= 1 }, exit: 1),
            HostileCase(name: "tampered result: the header's new sha256 changed", patch: header { $0[64] ^= 1 }, exit: 65),
        ]
        for (file, what) in [("leb128-nonminimal.fc1", "a non-minimal LEB128 (80 00)"), ("leb128-too-long.fc1", "a ten-byte LEB128"),
                             ("add-past-old.fc1", "an add one byte past the old image"), ("seek-before-start.fc1", "a seek before the old image"),
                             ("section-trailing.fc1", "a byte after the control stream's end marker")] {
            cases.append(HostileCase(name: "\(what) (\(file))", patch: try! CApplier.resource(file), exit: 65))
        }
        return cases
    }()

    @Test("a hostile patch exits with its documented code, one stderr line naming the patch, no file at NEW, no temporary, no sanitizer report",
          arguments: cases)
    func hostile(_ c: HostileCase) throws {
        let run = try Self.run(try CApplier.driver(), old: c.old ?? Self.old, patch: c.patch)
        Self.expectRefusal(run, exit: [c.exit])
    }

    @Test("seeded bit flips in the sections are refused as malformed (65), by LZMA2 or, when it cannot see them, by the digest")
    func bitFlips() throws {
        let fcpatch = try CApplier.driver()
        var g = SeededGenerator(seed: 1)
        for _ in 0..<40 {
            var p = Self.valid
            let bit = 176 * 8 + Int(g.next() % UInt64((p.count - 176) * 8))
            p[bit / 8] ^= UInt8(1 << (bit % 8))
            Self.expectRefusal(try Self.run(fcpatch, old: Self.old, patch: p), exit: [65], flipped: bit)
        }
    }

    @Test("the applier's LZMA2 decoder, under the sanitizers, gives back byte for byte what liblzma encoded (presets 0-9, lc/lp/pb with lc + lp <= 3, dictionaries 4 KiB-1 MiB, pieces joined at dictionary resets), refuses lc + lp = 4, cut streams and trailing bytes, and survives bit flips")
    func lzma2AgainstLiblzma() throws {
        let dir = try TemporaryDirectory()
        try requireTool("cc")
        let probe = dir.file("lzma2_probe")
        let r = try CApplier.cc(["\(CApplier.sources)/fcpatch_lzma2.c", "\(CApplier.resources)/lzma2_probe.c"],
                                flags: CApplier.sanitized + ["-I\(CApplier.sources)"], output: probe, libraries: ["-llzma"])
        try #require(r.status == 0 && r.err.isEmpty, "cc lzma2_probe (make setup installs liblzma-dev):\n\(r.err)")
        let run = try runProcess(probe, [], environment: CApplier.sanitizerEnvironment)
        #expect(run.status == 0, "\(run.out)\(run.err)")
        #expect(run.out.hasPrefix("61 streams, ") && run.out.contains(" refusals, 1200 flips"), "\(run.out)")
        #expect(!run.err.contains("Sanitizer") && !run.err.contains("runtime error"), "\(run.err)")
    }

    @Test("a missing old image is an I/O error (74)")
    func missingOld() throws {
        let fcpatch = try CApplier.driver()
        let dir = try TemporaryDirectory()
        let patch = try dir.write("patch", Self.valid)
        let r = try runProcess(fcpatch, [dir.file("absent"), patch, dir.file("new")], environment: CApplier.sanitizerEnvironment)
        #expect(r.status == 74, "\(r.err)")
        #expect(r.err.hasPrefix("fcpatch: \(patch): ") && r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("new")))
    }

    @Test("the applier allocates nothing: no malloc symbol in its objects, no heap call while applying (malloc replaced), and a workspace one byte short of fcpatch_workspace_size is refused")
    func noHeap() throws {
        let dir = try TemporaryDirectory()
        for file in CApplier.library {
            let object = dir.file(URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent + ".o")
            let cc = try runProcess("cc", CApplier.strict + ["-I\(CApplier.sources)/include", "-c", file, "-o", object])
            try #require(cc.status == 0 && cc.err.isEmpty, "\(cc.err)")
            let nm = try runProcess("nm", ["-u", object])
            try #require(nm.status == 0, "\(nm.err)")
            let heap = nm.out.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
                .filter { ["malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign"].contains($0) }
            #expect(heap.isEmpty, "\(file) calls \(heap)")
        }
        // Without sanitizers: they replace malloc themselves.
        let probe = try CApplier.compile(CApplier.library + ["\(CApplier.resources)/alloc_probe.c"], flags: ["-g"], into: "alloc_probe", in: dir.path)
        let files = try ["valid.old", "valid.fc1", "valid.new"].map { name in try dir.write(name, CApplier.resource(name)) }
        let r = try runProcess(probe, files)
        #expect(r.status == 0 && r.out.hasSuffix(", 0 heap calls\n"), "\(r.out)\(r.err)")
    }

    static func expectRefusal(_ run: (result: ProcessResult, listing: [String], output: [UInt8]?, patchPath: String), exit: Set<Int32>,
                              flipped bit: Int? = nil) {
        let r = run.result, at = bit.map { " (bit \($0) flipped)" } ?? ""
        #expect(exit.contains(r.status), "exit \(r.status), expected \(exit.sorted())\(at): \(r.err)")
        let lines = r.err.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 1 && r.err.hasPrefix("fcpatch: \(run.patchPath): "), "not one line naming the patch\(at): \(r.err)")
        #expect(!r.err.contains("Sanitizer") && !r.err.contains("runtime error"), "sanitizer report\(at): \(r.err)")
        #expect(run.output == nil && run.listing == ["old", "patch"], "left \(run.listing)\(at)")
    }
}
