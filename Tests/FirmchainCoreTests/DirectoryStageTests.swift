import FirmchainCore
import Foundation
import Testing
import TestSupport

/// A release-shaped tree: a shareable target, a small metadata file, an append-only ledger.
private func makeRelease(in tmp: TemporaryDirectory) throws -> String {
    let out = tmp.file("release")
    try FileIO.makeDirectories(out + "/repository/targets")
    try FileIO.makeDirectories(out + "/custody")
    try AtomicFile.write(Array("image v1".utf8), to: out + "/repository/targets/fw.bin")
    try AtomicFile.write(Array("{\"version\":1}".utf8), to: out + "/repository/timestamp.json")
    try AtomicFile.write(Array("entry 1\n".utf8), to: out + "/custody/ledger.jsonl")
    return out
}

private func contents(_ root: String) throws -> [String: String] {
    var files = [String: String]()
    for entry in try FileIO.entries(under: root) where entry.kind == .regular {
        files[entry.path] = String(decoding: try FileIO.read(root + "/" + entry.path), as: UTF8.self)
    }
    return files
}

private func inode(_ path: String) -> UInt64 {
    var st = stat()
    return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
}

@Suite("A staged release replaces the published one in one step")
struct DirectoryStageTests {
    let targets = { (rel: String) in rel.hasPrefix("repository/targets/") }

    @Test("a committed stage becomes the directory whole; shareable files are hard links, the rest copies")
    func commitReplaces() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        let stage = try DirectoryStage(replacing: out, shareable: targets, guarded: ["custody/ledger.jsonl"])
        #expect(inode(stage.path + "/repository/targets/fw.bin") == inode(out + "/repository/targets/fw.bin"))
        #expect(inode(stage.path + "/custody/ledger.jsonl") != inode(out + "/custody/ledger.jsonl"))
        try AtomicFile.write(Array("{\"version\":2}".utf8), to: stage.path + "/repository/timestamp.json")
        #expect(try contents(out)["repository/timestamp.json"] == "{\"version\":1}", "the stage is invisible until it commits")
        try stage.commit()
        #expect(try contents(out) == ["repository/targets/fw.bin": "image v1", "repository/timestamp.json": "{\"version\":2}",
                                       "custody/ledger.jsonl": "entry 1\n"])
        #expect(!FileIO.exists(DirectoryStage.stagePath(of: out)), "the previous directory is removed after the exchange")
    }

    @Test("a discarded stage, or one dropped by a failed run, leaves the directory exactly as it was")
    func discardLeavesTarget() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        let before = try contents(out)
        do {
            let stage = try DirectoryStage(replacing: out, shareable: targets)
            try AtomicFile.write(Array("evil".utf8), to: stage.path + "/repository/timestamp.json")
            try FileManager.default.removeItem(atPath: stage.path + "/custody/ledger.jsonl")
        }
        #expect(try contents(out) == before)
        #expect(!FileIO.exists(DirectoryStage.stagePath(of: out)))
    }

    @Test("an append to a guarded ledger while the stage was open refuses the commit with io.locked, and nothing changes")
    func concurrentAppendRefused() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        let stage = try DirectoryStage(replacing: out, shareable: targets, guarded: ["custody/ledger.jsonl"])
        try AtomicFile.write(Array("{\"version\":2}".utf8), to: stage.path + "/repository/timestamp.json")
        let h = try #require(FileHandle(forWritingAtPath: out + "/custody/ledger.jsonl"))
        h.seekToEndOfFile()
        h.write(Data("entry 2 by another process\n".utf8))
        try h.close()
        let before = try contents(out)
        #expect {
            try stage.commit()
        } throws: { ($0 as? FirmchainError)?.code == .ioLocked && "\($0)".contains("custody/ledger.jsonl") }
        #expect(try contents(out) == before)
        #expect(!FileIO.exists(DirectoryStage.stagePath(of: out)))
    }

    @Test("a symbolic link inside the directory is refused with io.not-a-file, naming it, and nothing is staged")
    func symlinkRefused() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        try FileManager.default.createSymbolicLink(atPath: out + "/custody/link.json", withDestinationPath: "/etc/passwd")
        #expect {
            _ = try DirectoryStage(replacing: out, shareable: targets)
        } throws: { ($0 as? FirmchainError)?.code == .ioNotAFile && "\($0)".contains("custody/link.json") }
        #expect(!FileIO.exists(DirectoryStage.stagePath(of: out)))
    }

    @Test("what a killed run left beside the directory is removed by the next stage")
    func leftoversRemoved() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        let stale = DirectoryStage.stagePath(of: out)
        try FileIO.makeDirectories(stale + "/repository")
        try AtomicFile.write(Array("half a run".utf8), to: stale + "/repository/timestamp.json")
        let stage = try DirectoryStage(replacing: out, shareable: targets)
        #expect(try contents(stage.path) == contents(out))
        stage.discard()
    }

    @Test("a writer waiting on the lock when the stage replaced the directory then holds the new directory's lock, not the gone one's")
    func lockFollowsExchange() throws {
        let tmp = try TemporaryDirectory()
        let out = try makeRelease(in: tmp)
        let lock = try DirectoryLock(out)
        let stage = try DirectoryStage(replacing: out, shareable: targets)
        final class Waiter: @unchecked Sendable {
            let acquired = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            var error: (any Error)?
        }
        let waiter = Waiter()
        Thread {
            do {
                let held = try DirectoryLock(out, waitSeconds: 20)
                waiter.acquired.signal()
                waiter.done.wait()
                held.unlock()
            } catch { waiter.error = error; waiter.acquired.signal() }
        }.start()
        usleep(200_000)
        #expect(try runProcess("flock", ["-n", out, "true"]).status != 0, "the run holds the lock while it stages")
        try stage.commit()
        lock.unlock()
        #expect(waiter.acquired.wait(timeout: .now() + 20) == .success)
        #expect(waiter.error == nil)
        // flock(1) on the directory now at `out` must find it locked by the waiter.
        #expect(try runProcess("flock", ["-n", out, "true"]).status != 0, "the waiter locked the directory it waited for, which is gone")
        waiter.done.signal()
    }
}
