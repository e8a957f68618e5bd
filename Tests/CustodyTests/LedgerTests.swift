import Custody
import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A ledger in a temporary directory with a software checkpoint key.
private struct LedgerFixture {
    let dir: TemporaryDirectory
    let ledger: Ledger
    let key: SoftwareSigner
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        dir = try TemporaryDirectory("firmchain-ledger")
        ledger = Ledger(path: dir.file("ledger.jsonl"))
        key = try SoftwareSigner(generating: .ecdsaP256)
    }

    var actor: String { key.publicKey.keyid }

    func record(_ i: Int) -> LedgerRecord {
        LedgerRecord(action: "test.step", actor: actor, subjects: [LedgerSubject(name: "file-\(i)", sha256: DigestCalculator.sha256Hex(Array("\(i)".utf8)))])
    }

    func lines() throws -> [String] {
        String(decoding: try FileIO.read(ledger.path), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    func write(_ lines: [String]) throws {
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: ledger.path))
    }

    func verify() throws -> LedgerVerification { try ledger.verify(ring: KeyRing(trusting: [key.publicKey], for: [.checkpoint])) }
}

private func status(_ v: LedgerVerification, _ id: String) -> CheckStatus? {
    v.checks.first { $0.id == id }?.status
}

@Suite("The ledger is append-only, hash-chained, locked and crash-safe")
struct LedgerTests {
    @Test("an append waiting for the lock while the ledger file is replaced (a staged release put in place) goes to the new file, not the gone one")
    func waiterFollowsReplacedFile() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        // Hold the lock as a pipeline run does while it exchanges the release directory.
        let held = open(f.ledger.path, O_RDONLY | O_CLOEXEC)
        #expect(held >= 0 && flock(held, LOCK_EX) == 0)
        final class Done: @unchecked Sendable { let signal = DispatchSemaphore(value: 0); var error: (any Error)? }
        let done = Done()
        let ledger = f.ledger, record = f.record(2), t0 = f.t0
        Thread {
            do { try ledger.append(record, now: t0.addingTimeInterval(1)) } catch { done.error = error }
            done.signal.signal()
        }.start()
        usleep(200_000)
        // The staged copy of the ledger takes the path's place; the lock on the old file is let go.
        try FileManager.default.copyItem(atPath: f.ledger.path, toPath: f.dir.file("staged.jsonl"))
        #expect(rename(f.dir.file("staged.jsonl"), f.ledger.path) == 0)
        close(held)
        #expect(done.signal.wait(timeout: .now() + 20) == .success)
        #expect(done.error == nil)
        #expect(try f.ledger.entries().map(\.seq) == [1, 2], "the waiting append landed in the ledger now at the path")
    }

    @Test("appends assign consecutive sequence numbers and chain each entry to the line before")
    func appendChains() throws {
        let f = try LedgerFixture()
        for i in 1...5 { try f.ledger.append(f.record(i), now: f.t0.addingTimeInterval(Double(i))) }
        let cp = try f.ledger.checkpoint(signer: f.key, now: f.t0.addingTimeInterval(10))
        #expect(cp.seq == 6 && cp.isCheckpoint && cp.isSigned(in: KeyRing(trusting: [f.key.publicKey], for: [.checkpoint])))
        let entries = try f.ledger.entries()
        #expect(entries.map(\.seq) == [1, 2, 3, 4, 5, 6])
        #expect(entries[0].prev == LedgerEntry.genesis)
        let lines = try f.lines()
        for i in 1..<entries.count { #expect(entries[i].prev == DigestCalculator.sha256Hex(Array(lines[i - 1].utf8))) }
        #expect(lines.last == "", "the file ends with a newline")
        let v = try f.verify()
        #expect(v.holds && v.holdsStrictly, "\(v.checks)")
        #expect(v.lastValidCheckpoint == 6)
        // The checkpoint file holds exactly the checkpoint line.
        #expect(String(decoding: try FileIO.read(f.ledger.checkpointPath), as: UTF8.self) == lines[5] + "\n")
    }

    @Test("unknown members of an entry survive reading and are part of its hash")
    func unknownMembersSurvive() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        var lines = try f.lines()
        let value = try JSONReader().parse(Array(lines[0].utf8))
        var o = value.objectValue!
        o["z_future"] = ["kept": true]
        lines[0] = String(decoding: JSONEncoding.standard(.object(o), indent: 0), as: UTF8.self)
        try f.write(lines)
        let e = try #require(try f.ledger.entries().first)
        #expect(e.unrecognized["z_future"] == ["kept": true])
        #expect(e.line == Array(lines[0].utf8))
        try f.ledger.append(f.record(2), now: f.t0)
        #expect(try f.ledger.entries()[1].prev == DigestCalculator.sha256Hex(Array(lines[0].utf8)))
    }

    @Test("nothing is appended to a ledger whose last entry cannot be read")
    func refusesCorruptHead() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        try Data("{\"not\":\"an entry\"}\n".utf8).write(to: URL(fileURLWithPath: f.ledger.path), options: [])
        let before = try FileIO.read(f.ledger.path)
        #expect(throws: FirmchainError(.custodyLedgerCorrupt, "")) { try f.ledger.append(f.record(2), now: f.t0) }
        #expect(try FileIO.read(f.ledger.path) == before)
    }

    /// Each row: a way to tamper with lines of a ledger of 8 entries + checkpoint (9 lines), and
    /// the check that must fail.
    static let tampering: [(name: String, failed: String, apply: @Sendable ([String]) -> [String])] = [
        ("an edited entry", "custody.ledger.chain", { l in
            var l = l
            l[2] = l[2].replacingOccurrences(of: "\"action\":\"test.step\"", with: "\"action\":\"test.stop\"")
            return l
        }),
        ("an entry reformatted by hand", "custody.ledger.format", { l in
            var l = l
            l[3] = l[3].replacingOccurrences(of: ",", with: ", ")
            return l
        }),
        ("a deleted entry", "custody.ledger.sequence", { l in var l = l; l.remove(at: 4); return l }),
        ("two reordered entries", "custody.ledger.sequence", { l in var l = l; l.swapAt(3, 4); return l }),
        ("an inserted entry", "custody.ledger.chain", { l in var l = l; l.insert(l[2], at: 5); return l }),
        ("a ledger truncated at a line boundary", "custody.ledger.anchor", { l in Array(l.prefix(5)) + [""] }),
        ("a ledger truncated in the middle of a line", "custody.ledger.anchor", { l in
            Array(l.prefix(6)) + [String(l[6].prefix(40))]
        }),
        ("an edited checkpoint", "custody.ledger.checkpoints", { l in
            var l = l
            l[8] = l[8].replacingOccurrences(of: "\"entries\":8", with: "\"entries\":7")
            return l
        }),
    ]

    @Test("Ledger.verify detects an edited, reformatted, deleted, reordered or inserted entry, truncation and a forged checkpoint")
    func detectsTampering() throws {
        for t in Self.tampering {
            let f = try LedgerFixture()
            for i in 1...8 { try f.ledger.append(f.record(i), now: f.t0) }
            try f.ledger.checkpoint(signer: f.key, now: f.t0)
            #expect(try f.verify().holds)
            try f.write(t.apply(try f.lines()))
            let v = try f.verify()
            #expect(!v.holds, "\(t.name) was not detected")
            #expect(status(v, t.failed) == .failed, "\(t.name): expected '\(t.failed)' to fail: \(v.checks.map { "\($0.id): \($0.status) \($0.details)" })")
        }
    }

    @Test("a checkpoint file that holds no checkpoint entry fails custody.ledger.anchor naming the file, and the next checkpoint replaces it")
    func unreadableCheckpointFile() throws {
        let f = try LedgerFixture()
        for i in 1...3 { try f.ledger.append(f.record(i), now: f.t0) }
        try f.ledger.checkpoint(signer: f.key, now: f.t0)
        try AtomicFile.write(Array("{\"seq\": \"three\"}\n".utf8), to: f.ledger.checkpointPath)
        let v = try f.verify()
        let anchor = try #require(v.checks.first { $0.id == "custody.ledger.anchor" })
        #expect(anchor.status == .failed && anchor.details.contains { $0.hasPrefix("\(f.ledger.checkpointPath): the ledger checkpoint cannot be read") },
                "\(anchor.details)")
        try f.ledger.checkpoint(signer: f.key, now: f.t0)
        #expect(try f.verify().holds)
    }

    @Test("an entry over 1 MiB is refused with custody.ledger-entry-too-large naming the ledger, and nothing is appended")
    func entryTooLarge() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        let before = try FileIO.read(f.ledger.path)
        let huge = LedgerRecord(action: "test.step", actor: f.actor, details: ["notes": .string(String(repeating: "x", count: Ledger.lineLimit))])
        let error = #expect(throws: FirmchainError.self) { try f.ledger.append([f.record(2), huge], now: f.t0) }
        #expect(error?.code == .custodyLedgerEntryTooLarge && error?.path == f.ledger.path && error?.reason.contains("exceeds 1048576") == true,
                "\(String(describing: error))")
        #expect(try FileIO.read(f.ledger.path) == before, "neither entry of the refused append was written")
    }

    @Test("an append cut short by the file size limit (as by a full disk) is io.write-failed and undone: the ledger keeps its bytes")
    func shortAppendUndone() throws {
        let dir = try TemporaryDirectory("firmchain-ledger-full")
        try #require(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", dir.file("k.pem")]).status == 0)
        try AtomicFile.write(Array("firmware".utf8), to: dir.file("fw.bin"))
        let ledger = dir.file("OUT/custody/ledger.jsonl")
        func sign(_ n: Int, limitBlocks: Int? = nil) throws -> ProcessResult {
            let args = ["sign", "--key", dir.file("k.pem"), "--in", dir.file("fw.bin"), "--out", dir.file("fw.sig\(n)"), "--custody", dir.file("OUT")]
                + (n == 1 ? ["--new-ledger"] : [])
            guard let limitBlocks else { return try runProcess(TestEnv.firmchain, args) }
            // RLIMIT_FSIZE in 512-byte blocks; SIGXFSZ ignored by the shell stays ignored across exec.
            return try runProcess("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f \(limitBlocks); exec \"$0\" \"$@\"", TestEnv.firmchain] + args)
        }
        try #require(try sign(1).status == 0)
        let entry = try FileIO.size(ledger)
        // Grow the ledger until the next entry would cross a 512-byte boundary, so the write is partly done when it fails.
        var n = 1
        while (try FileIO.size(ledger)) / 512 == (try FileIO.size(ledger) + entry - 1) / 512, n < 20 {
            n += 1
            try #require(try sign(n).status == 0)
        }
        let before = try FileIO.read(ledger)
        let r = try sign(n + 1, limitBlocks: before.count / 512 + 1)
        #expect(r.status == 74 && r.err == "firmchain: error: \(ledger): cannot append to the ledger: File too large [io.write-failed]\n", "\(r.err)")
        #expect(try FileIO.read(ledger) == before, "the partly written entry was cut off again")
        #expect(!FileIO.exists(dir.file("fw.sig\(n + 1)")), "no signature appears that the ledger does not record")
        #expect(try Ledger(path: ledger).entries().count == n)
        #expect(try sign(n + 2).status == 0, "the next append, with room, goes on from the same chain")
        #expect(try Ledger(path: ledger).entries().map(\.seq) == Array(1...Int64(n + 1)))
    }

    @Test("a checkpoint signed by a key that is not trusted fails")
    func untrustedCheckpoint() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        try f.ledger.checkpoint(signer: try SoftwareSigner(generating: .ed25519), now: f.t0)
        let v = try f.verify()
        #expect(status(v, "custody.ledger.checkpoints") == .failed)
        #expect(status(v, "custody.ledger.anchor") == .failed)
    }

    @Test("a torn last line is reported, the entries before it still verify, and the next append cuts it off on record")
    func tornTail() throws {
        let f = try LedgerFixture()
        for i in 1...3 { try f.ledger.append(f.record(i), now: f.t0) }
        try f.ledger.checkpoint(signer: f.key, now: f.t0)
        // What a power loss in the middle of write(2) can leave: half a line, no newline.
        let half = Array(f.record(4).subjects[0].name.utf8) + Array("{\"action\":\"test.st".utf8)
        let fd = open(f.ledger.path, O_WRONLY | O_APPEND)
        _ = half.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        let v = try f.verify()
        #expect(v.holds, "a torn tail alone must not fail verification: \(v.checks)")
        #expect(status(v, "custody.ledger.tail") == .warning)
        #expect(v.tornTailLength == half.count)
        #expect(v.entries.count == 4)

        try f.ledger.append(f.record(5), now: f.t0)
        try f.ledger.checkpoint(signer: f.key, now: f.t0)
        let after = try f.verify()
        #expect(after.holds && after.holdsStrictly, "\(after.checks)")
        let entries = after.entries
        #expect(entries.map(\.record.action) == ["test.step", "test.step", "test.step", "ledger.checkpoint", "ledger.torn-tail-discarded", "test.step", "ledger.checkpoint"])
        #expect(entries[4].record.subjects[0].digests["sha256"] == DigestCalculator.sha256Hex(half))
    }

    @Test("entries after the last checkpoint are a warning, not a failure")
    func uncoveredTail() throws {
        let f = try LedgerFixture()
        try f.ledger.append(f.record(1), now: f.t0)
        try f.ledger.checkpoint(signer: f.key, now: f.t0)
        try f.ledger.append(f.record(2), now: f.t0)
        let v = try f.verify()
        #expect(v.holds)
        #expect(status(v, "custody.ledger.coverage") == .warning)
        #expect(!v.holdsStrictly)
    }

    @Test("8 processes appending at once lose no entry and keep the chain")
    func concurrentAppends() throws {
        let dir = try TemporaryDirectory("firmchain-ledger-concurrent")
        let out = dir.file("OUT")
        let pub = dir.file("actor.pub.pem")
        try Data(try SoftwareSigner(generating: .ecdsaP256).publicKey.pem.utf8).write(to: URL(fileURLWithPath: pub))
        // Eight real processes started together (not through a shared thread pool, which the rest
        // of the suite may hold and so run them one after another), each appending long enough
        // that they overlap.
        let perProcess = 200
        var processes = [Process]()
        for p in 0..<8 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnv.firmchain)
            process.arguments = ["custody", "log", "--out", out, "--action", "test.p\(p)", "--actor-key", pub, "--count", "\(perProcess)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            processes.append(process)
        }
        try FileIO.makeDirectories(out + "/custody")
        for process in processes { try process.run() }
        for process in processes { process.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 }, "exit statuses \(processes.map(\.terminationStatus))")
        let ledger = CustodyStore(out: out).ledger
        let v = try ledger.verify(ring: KeyRing())
        #expect(v.entries.count == 8 * perProcess)
        #expect(status(v, "custody.ledger.sequence") == .passed)
        #expect(status(v, "custody.ledger.chain") == .passed)
        #expect(status(v, "custody.ledger.format") == .passed)
        for p in 0..<8 { #expect(v.entries.filter { $0.record.action == "test.p\(p)" }.count == perProcess) }
        // The writers really interleaved (otherwise the lock was never contended).
        let switches = zip(v.entries, v.entries.dropFirst()).filter { $0.record.action != $1.record.action }.count
        #expect(switches > 7, "only \(switches) switches between writers")
    }

    @Test("a writer killed with SIGKILL in the middle of appending leaves a ledger that verifies up to its last whole entry")
    func killedWriter() throws {
        let dir = try TemporaryDirectory("firmchain-ledger-kill")
        let out = dir.file("OUT")
        let pub = dir.file("actor.pub.pem")
        let key = try SoftwareSigner(generating: .ecdsaP256)
        try Data(key.publicKey.pem.utf8).write(to: URL(fileURLWithPath: pub))
        let ledger = CustodyStore(out: out).ledger
        var rng = SeededGenerator(seed: 9)
        var previous = 0
        for round in 0..<5 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.firmchain)
            p.arguments = ["custody", "log", "--out", out, "--action", "test.kill\(round)", "--actor-key", pub,
                           "--subject", TestEnv.firmchain, "--count", "1000000"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait until it has appended something, then kill it at a random moment.
            let deadline = Date().addingTimeInterval(20)
            while ((try? ledger.entries().count) ?? 0) <= previous && Date() < deadline { usleep(2_000) }
            usleep(UInt32(rng.next() % 150_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal)
            let v = try ledger.verify(ring: KeyRing(trusting: [key.publicKey], for: [.checkpoint]))
            #expect(status(v, "custody.ledger.format") == .passed, "round \(round): \(v.checks)")
            #expect(status(v, "custody.ledger.sequence") == .passed, "round \(round)")
            #expect(status(v, "custody.ledger.chain") == .passed, "round \(round)")
            #expect(v.entries.count > previous, "round \(round): the killed writer committed nothing")
            #expect(v.entries.map(\.seq) == (1...Int64(v.entries.count)).map { $0 }, "round \(round): committed entries were lost")
            previous = v.entries.count
        }
        // The next run continues the chain (cutting off any torn line) and signs a checkpoint.
        try ledger.checkpoint(signer: key, now: Date())
        let v = try ledger.verify(ring: KeyRing(trusting: [key.publicKey], for: [.checkpoint]))
        #expect(v.holds && v.holdsStrictly, "\(v.checks)")
        #expect(v.entries.count >= previous + 1)
    }
}
