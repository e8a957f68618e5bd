import FirmchainCore
import Foundation
import Testing
import TestSupport

@Suite("Digests, atomic files and time")
struct FileTests {
    @Test("streaming SHA-256 and SHA-512 agree with coreutils on a file larger than one chunk")
    func digestsMatchCoreutils() throws {
        let tmp = try TemporaryDirectory()
        let path = tmp.file("image.bin")
        var rng = SeededGenerator(seed: 42)
        try Data(rng.bytes(3 * DigestCalculator.chunkSize + 12_345)).write(to: URL(fileURLWithPath: path))
        let d = try DigestCalculator.file(path, algorithms: [.sha256, .sha512])
        #expect(d.length == Int64(3 * DigestCalculator.chunkSize + 12_345))
        let s256 = try runProcess("sha256sum", [path]).out.split(separator: " ").first.map(String.init)
        let s512 = try runProcess("sha512sum", [path]).out.split(separator: " ").first.map(String.init)
        #expect(d.hex[.sha256] == s256)
        #expect(d.hex[.sha512] == s512)
        #expect(DigestCalculator.bytes(Array("abc".utf8)).sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("a missing file is an input-not-found error naming the file")
    func missingFile() {
        #expect(throws: FirmchainError(.ioNotFound, "")) {
            try DigestCalculator.file("/nonexistent/firmware.bin")
        }
    }

    @Test("an aborted atomic write leaves the previous file and no temporary file")
    func abortLeavesPrevious() throws {
        let tmp = try TemporaryDirectory()
        let path = tmp.file("state.json")
        try AtomicFile.write(Array("old".utf8), to: path)
        let w = try AtomicFileWriter(path: path)
        try w.write(Array("new but unfinished".utf8))
        w.abort()
        #expect(try FileIO.read(path) == Array("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["state.json"])
    }

    @Test("a process killed during an atomic write leaves the old or the new file, never a torn one")
    func killDuringAtomicWrite() throws {
        let probe = TestEnv.productsDirectory.appendingPathComponent("atomic-write-probe").path
        try #require(FileManager.default.isExecutableFile(atPath: probe), "build the tests first (swift build --build-tests)")
        let tmp = try TemporaryDirectory()
        let path = tmp.file("firmware.bin")
        let mib = 16
        let hashes = (0...1).map { DigestCalculator.sha256Hex([UInt8](repeating: UInt8(65 + $0), count: mib << 20)) }
        _ = try runProcess(probe, [path, String(mib), "65"])
        var killedMidWrite = 0
        var rng = SeededGenerator(seed: 7)
        for round in 1...30 {
            let fill = UInt8(65 + round % 2)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: probe)
            p.arguments = [path, String(mib), String(fill)]
            try p.run()
            usleep(UInt32(rng.next() % 120_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { killedMidWrite += 1 }
            let h = try DigestCalculator.file(path)
            #expect(h.length == Int64(mib << 20), "round \(round): torn length \(h.length)")
            #expect(hashes.contains(h.sha256!), "round \(round): content is neither the old nor the new file")
            // Leftover temporaries from killed writers are the only debris; the target is whole.
            for f in try FileManager.default.contentsOfDirectory(atPath: tmp.path) where f != "firmware.bin" {
                #expect(f.hasPrefix(".firmware.bin.tmp-"))
                try FileManager.default.removeItem(atPath: tmp.file(f))
            }
        }
        #expect(killedMidWrite > 0, "no round killed the writer before it finished; the test proved nothing")
    }

    @Test("stale temporaries of killed writers are recognised and removed, nothing else is")
    func staleTemporaries() throws {
        let tmp = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: tmp.file("a/b"), withIntermediateDirectories: true)
        for f in ["a/.x.json.tmp-Ab12Cd", "a/b/.fw.bin.tmp-zzzzzz", "keep.json", ".hidden", "a/.tmp-abcdef", "a/.y.tmp-abc"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: tmp.file(f)))
        }
        let removed = AtomicFile.removeStaleTemporaries(under: tmp.path).map { String($0.dropFirst(tmp.path.count + 1)) }.sorted()
        #expect(removed == ["a/.x.json.tmp-Ab12Cd", "a/b/.fw.bin.tmp-zzzzzz"])
        #expect(FileIO.exists(tmp.file("keep.json")) && FileIO.exists(tmp.file("a/.tmp-abcdef")) && FileIO.exists(tmp.file("a/.y.tmp-abc")))
    }

    @Test("a directory lock is exclusive across processes")
    func directoryLock() throws {
        let tmp = try TemporaryDirectory()
        let lock = try DirectoryLock(tmp.path)
        // flock locks are per open file description: a child process (flock(1)) must be refused.
        let r = try runProcess("flock", ["-n", tmp.path, "true"])
        #expect(r.status != 0)
        lock.unlock()
        #expect(try runProcess("flock", ["-n", tmp.path, "true"]).status == 0)
    }

    @Test("a second lock on a held directory is refused with io.locked naming the directory, at once or after its wait")
    func heldLockRefused() throws {
        let tmp = try TemporaryDirectory()
        let held = try DirectoryLock(tmp.path)
        // A second open file description, even in the same process, conflicts with the first.
        for wait in [0, 1] {
            let error = #expect(throws: FirmchainError.self) { try DirectoryLock(tmp.path, waitSeconds: wait) }
            #expect(error?.code == .ioLocked && error?.path == tmp.path && error?.category.exitCode == 74, "\(String(describing: error))")
        }
        held.unlock()
        _ = try DirectoryLock(tmp.path)
    }

    @Test("a directory that cannot be made (a regular file stands in its path) is io.mkdir-failed naming that part")
    func mkdirUnderAFile() throws {
        let tmp = try TemporaryDirectory()
        try AtomicFile.write(Array("not a directory".utf8), to: tmp.file("release"))
        let error = #expect(throws: FirmchainError.self) { try FileIO.makeDirectories(tmp.file("release/repository/metadata")) }
        #expect(error?.code == .ioMkdirFailed && error?.path == tmp.file("release/repository"), "\(String(describing: error))")
        #expect(error?.reason.contains("Not a directory") == true, "\(String(describing: error))")
        #expect(error?.category.exitCode == 73)
    }

    @Test("a file over the reader's limit is io.too-large naming the file and both sizes; a directory over its entry limit too")
    func overTheLimit() throws {
        let tmp = try TemporaryDirectory()
        try AtomicFile.write([UInt8](repeating: 1, count: 1025), to: tmp.file("big.json"))
        let error = #expect(throws: FirmchainError.self) { try FileIO.read(tmp.file("big.json"), limit: 1024) }
        #expect(error?.code == .ioTooLarge && error?.path == tmp.file("big.json") && error?.reason == "is 1025 bytes, more than the limit of 1024")
        #expect(try FileIO.read(tmp.file("big.json"), limit: 1025).count == 1025)
        for i in 0..<4 { try AtomicFile.write([UInt8(i)], to: tmp.file("f\(i)")) }
        let listing = #expect(throws: FirmchainError.self) { try FileIO.entries(under: tmp.path, limit: 3) }
        #expect(listing?.code == .ioTooLarge && listing?.path == tmp.path, "\(String(describing: listing))")
    }

    @Test("UTC timestamps are exactly YYYY-MM-DDTHH:MM:SSZ and round-trip")
    func timestamps() {
        let d = Date(timeIntervalSince1970: 1_893_456_000)  // 2030-01-01T00:00:00Z
        #expect(UTCTimestamp.string(from: d) == "2030-01-01T00:00:00Z")
        #expect(UTCTimestamp.date(from: "2030-01-01T00:00:00Z") == d)
        #expect(UTCTimestamp.string(from: Date(timeIntervalSince1970: 951_782_400.9)) == "2000-02-29T00:00:00Z")
        for bad in ["2030-01-01T00:00:00", "2030-01-01T00:00:00.5Z", "2030-02-30T00:00:00Z", "2030-01-01 00:00:00Z", "2030-13-01T00:00:00Z"] {
            #expect(UTCTimestamp.date(from: bad) == nil, "\(bad) accepted")
        }
    }
}
