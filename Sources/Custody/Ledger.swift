import Foundation
import FirmchainCore
import Signing

#if canImport(Glibc)
import Glibc
#endif

/// The append-only, hash-chained record of every action (`custody/ledger.jsonl`, Docs/architecture.md "Release directory").
///
/// - Appends take an exclusive `flock` on the ledger file, so several runs (processes) may share
///   one ledger; sequence numbers and chain hashes are assigned under the lock.
/// - Each append is one `write(2)` of whole lines to a file opened `O_APPEND`, then `fsync`:
///   an entry is committed when `append` returns, and a crash can only leave a torn last line.
/// - A torn last line (no trailing newline) is detected by `verify` and reported; the next
///   append cuts it off (it was never committed) and records a `ledger.torn-tail-discarded`
///   entry with its sha256 and length, so committed entries are never lost and the cut is on
///   record.
/// - `checkpoint` appends an entry signed through a `Signer` and copies it to the checkpoint
///   file (`ledger.checkpoint.json` beside the ledger), so a ledger cut short — even at a line
///   boundary — no longer holds the entry the checkpoint names.
public struct Ledger: Sendable {
    /// The ledger file.
    public let path: String
    /// The latest signed checkpoint, copied beside the ledger.
    public let checkpointPath: String

    /// Largest ledger line accepted (an entry with thousands of subjects still fits).
    public static let lineLimit = 1 << 20
    /// Largest ledger file `verify` reads.
    public static let fileLimit = 1 << 30

    /// A ledger at `path`; the checkpoint file defaults to `<path without .jsonl>.checkpoint.json`.
    public init(path: String, checkpointPath: String? = nil) {
        self.path = path
        let base = path.hasSuffix(".jsonl") ? String(path.dropLast(6)) : path
        self.checkpointPath = checkpointPath ?? base + ".checkpoint.json"
    }

    // MARK: appending

    /// Appends `records` as consecutive entries stamped `now`, under the lock, in one write.
    /// Returns the entries as written.
    ///
    /// - Throws: `custody.ledger-corrupt` when the last whole line cannot be read (nothing is
    ///   appended to a ledger whose head is unknown), `custody.ledger-entry-too-large`, I/O errors.
    @discardableResult
    public func append(_ records: [LedgerRecord], now: Date) throws -> [LedgerEntry] {
        try withLockedFile { file in
            var (last, lastHash) = try file.head()
            var entries = [LedgerEntry]()
            var bytes = [UInt8]()
            if let torn = file.tornTail {
                // Never committed: the append that wrote it did not return. Cut it off and say so.
                let e = LedgerEntry(seq: (last?.seq ?? 0) + 1, time: now,
                                    record: LedgerRecord(action: "ledger.torn-tail-discarded", actor: records.first?.actor ?? "",
                                                         subjects: [LedgerSubject(name: "torn-tail", sha256: DigestCalculator.sha256Hex(torn))],
                                                         details: ["length": .int(torn.count)]),
                                    prev: lastHash)
                try file.truncate(to: file.size - Int64(torn.count))
                entries.append(e)
                last = e
                lastHash = DigestCalculator.sha256Hex(e.line)
                bytes += e.line + [0x0A]
            }
            for r in records {
                let e = LedgerEntry(seq: (last?.seq ?? 0) + 1, time: now, record: r, prev: lastHash)
                let line = e.line
                guard line.count <= Self.lineLimit else {
                    throw FirmchainError(.custodyLedgerEntryTooLarge, "a ledger entry of \(line.count) bytes exceeds \(Self.lineLimit)", path: path)
                }
                entries.append(e)
                last = e
                lastHash = DigestCalculator.sha256Hex(line)
                bytes += line + [0x0A]
            }
            try file.appendDurably(bytes)
            return entries
        }
    }

    /// Appends one record.
    @discardableResult
    public func append(_ record: LedgerRecord, now: Date) throws -> LedgerEntry {
        try append([record], now: now).last!
    }

    /// Appends a checkpoint signed by `signer` (DSSE PAE over the entry without its
    /// signatures) and replaces the checkpoint file with it. Call it at the end of every run.
    @discardableResult
    public func checkpoint(signer: any Signer, now: Date) throws -> LedgerEntry {
        let key = TUFKey(signer.publicKey)
        return try withLockedFile { file in
            var (last, lastHash) = try file.head()
            var bytes = [UInt8]()
            if let torn = file.tornTail {
                let e = LedgerEntry(seq: (last?.seq ?? 0) + 1, time: now,
                                    record: LedgerRecord(action: "ledger.torn-tail-discarded", actor: key.keyid,
                                                         subjects: [LedgerSubject(name: "torn-tail", sha256: DigestCalculator.sha256Hex(torn))],
                                                         details: ["length": .int(torn.count)]),
                                    prev: lastHash)
                try file.truncate(to: file.size - Int64(torn.count))
                last = e
                lastHash = DigestCalculator.sha256Hex(e.line)
                bytes += e.line + [0x0A]
            }
            var cp = LedgerEntry(seq: (last?.seq ?? 0) + 1, time: now,
                                 record: LedgerRecord(action: LedgerEntry.checkpointAction, actor: key.keyid,
                                                      details: ["entries": .int((last?.seq ?? 0))]),
                                 prev: lastHash)
            let sig = try signer.sign(cp.checkpointSignedBytes, algorithm: key.algorithm ?? signer.supportedAlgorithms[0])
            cp.signatures = [DSSESignature(keyid: key.keyid, sig: sig)]
            bytes += cp.line + [0x0A]
            try file.appendDurably(bytes)
            // Still under the lock: the checkpoint file only ever moves forward.
            if let existing = try? Self.readCheckpointFile(checkpointPath), existing.seq >= cp.seq { return cp }
            try AtomicFile.write(cp.line + [0x0A], to: checkpointPath)
            return cp
        }
    }

    // MARK: reading

    /// The whole entries of the ledger (a torn last line is left out), read under a shared
    /// lock. Lines that cannot be read are skipped here; `verify` reports them.
    public func entries() throws -> [LedgerEntry] {
        try readSnapshot().lines.compactMap { try? LedgerEntry(line: $0.bytes) }
    }

    struct Snapshot {
        var lines: [(number: Int, bytes: ArraySlice<UInt8>)]
        var tornTail: ArraySlice<UInt8>?
        var exists: Bool
        /// The checkpoint file as it was under the same lock (nil when absent).
        var checkpointFile: [UInt8]? = nil
    }

    func readSnapshot() throws -> Snapshot {
        guard FileIO.exists(path) else {
            return Snapshot(lines: [], tornTail: nil, exists: false, checkpointFile: try? FileIO.read(checkpointPath, limit: Self.lineLimit + 1))
        }
        let fd = try FileIO.openRegular(path)
        guard fd >= 0 else {
            throw FirmchainError(.ioFailed, "cannot open: \(String(cString: strerror(errno)))", path: path)
        }
        defer { close(fd) }
        while flock(fd, LOCK_SH) != 0 { if errno != EINTR { break } }
        let bytes = try FileIO.read(path, limit: Self.fileLimit)
        // Read under the same lock: writers replace the checkpoint file while holding it.
        let checkpoint = FileIO.exists(checkpointPath) ? try FileIO.read(checkpointPath, limit: Self.lineLimit + 1) : nil
        return Self.snapshot(bytes, checkpoint: checkpoint)
    }

    /// The lines of ledger bytes (a torn last line apart) with the checkpoint file's bytes.
    static func snapshot(_ bytes: [UInt8], checkpoint: [UInt8]?) -> Snapshot {
        var lines = [(Int, ArraySlice<UInt8>)]()
        var start = 0, number = 1
        for i in bytes.indices where bytes[i] == 0x0A {
            lines.append((number, bytes[start..<i]))
            number += 1
            start = i + 1
        }
        return Snapshot(lines: lines, tornTail: start < bytes.count ? bytes[start...] : nil, exists: true, checkpointFile: checkpoint)
    }

    static func readCheckpointFile(_ path: String) throws -> LedgerEntry {
        try parseCheckpoint(try FileIO.read(path, limit: lineLimit + 1), path: path)
    }

    /// The checkpoint entry `file` holds. Never an error code of its own: verification reports
    /// an unreadable checkpoint file as a failed `custody.ledger.anchor` check, and a writer
    /// replaces it.
    static func parseCheckpoint(_ file: [UInt8], path: String) throws -> LedgerEntry {
        var bytes = file
        if bytes.last == 0x0A { bytes.removeLast() }
        do { return try LedgerEntry(line: bytes[...]) } catch {
            throw LedgerLineError("\(path): the ledger checkpoint cannot be read: \(error)")
        }
    }

    // MARK: the locked file

    private func withLockedFile<T>(_ body: (LockedFile) throws -> T) throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot open the ledger: \(String(cString: strerror(errno)))", path: path)
        }
        defer { close(fd) }  // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw FirmchainError(.ioFailed, "cannot lock the ledger: \(String(cString: strerror(errno)))", path: path)
            }
        }
        let file = try LockedFile(fd: fd, path: path)
        return try body(file)
    }
}

/// The ledger file while this process holds the exclusive lock.
private final class LockedFile {
    let fd: Int32
    let path: String
    private(set) var size: Int64
    /// Bytes after the last newline: a torn, never-committed line.
    private(set) var tornTail: [UInt8]?
    /// The last whole line.
    private var lastLine: [UInt8]?

    init(fd: Int32, path: String) throws {
        self.fd = fd
        self.path = path
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FirmchainError(.ioFailed, "cannot stat the ledger", path: path) }
        size = Int64(st.st_size)
        try readTail()
    }

    /// Reads backwards from the end (4 KiB first, doubling) until it has seen the newline ending
    /// the last whole line and the one before it, or the start of the file; whatever follows
    /// the last newline is torn. Only those few KiB are read, however long the ledger is.
    private func readTail() throws {
        guard size > 0 else { return }
        var data = [UInt8]()          // the bytes [offset, size)
        var offset = size
        var chunk: Int64 = 4096
        var newlines = [Int64]()      // absolute positions, last first; at most two
        while newlines.count < 2 && offset > 0 {
            guard size - offset <= Int64(2 * Ledger.lineLimit) + chunk else {
                throw FirmchainError(.custodyLedgerCorrupt, "the last ledger line is longer than \(Ledger.lineLimit) bytes", path: path)
            }
            let n = Int(min(chunk, offset))
            offset -= Int64(n)
            var buf = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let r = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, n - got, off_t(offset) + off_t(got)) }
                if r < 0 { if errno == EINTR { continue }; throw FirmchainError(.ioFailed, "cannot read the ledger", path: path) }
                guard r > 0 else { throw FirmchainError(.ioFailed, "the ledger shrank while locked", path: path) }
                got += r
            }
            buf.withUnsafeBufferPointer { p in
                var i = p.count - 1
                while i >= 0 && newlines.count < 2 {
                    if p[i] == 0x0A { newlines.append(offset + Int64(i)) }
                    i -= 1
                }
            }
            data = buf + data
            chunk = min(chunk * 2, 1 << 20)
        }
        guard let lastNL = newlines.first else {
            tornTail = data  // no newline at all: nothing was ever committed
            return
        }
        if lastNL < size - 1 { tornTail = Array(data[Int(lastNL + 1 - offset)...]) }
        // With fewer than two newlines the loop only stops at the start of the file.
        let start = newlines.count >= 2 ? newlines[1] + 1 : 0
        lastLine = Array(data[Int(start - offset)..<Int(lastNL - offset)])
    }

    /// The last whole entry and the sha256 of its line (genesis when the ledger is empty).
    func head() throws -> (LedgerEntry?, String) {
        guard let lastLine else { return (nil, LedgerEntry.genesis) }
        do {
            return (try LedgerEntry(line: lastLine[...]), DigestCalculator.sha256Hex(lastLine))
        } catch {
            throw FirmchainError(.custodyLedgerCorrupt, "the last ledger entry cannot be read (\(error)); run `firmchain custody verify` — nothing was appended", path: path)
        }
    }

    func truncate(to newSize: Int64) throws {
        guard ftruncate(fd, off_t(newSize)) == 0 else {
            throw FirmchainError(.ioWriteFailed, "cannot cut the torn ledger line: \(String(cString: strerror(errno)))", path: path)
        }
        size = newSize
        tornTail = nil
    }

    /// One `write` of all of `bytes` (the file is `O_APPEND`), then `fsync`. A short write is
    /// undone so the ledger never keeps half an entry written by a live process.
    func appendDurably(_ bytes: [UInt8]) throws {
        let before = size
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                _ = ftruncate(fd, off_t(before))
                throw FirmchainError(.ioWriteFailed, "cannot append to the ledger: \(reason)", path: path)
            }
            done += n
        }
        guard fsync(fd) == 0 else {
            throw FirmchainError(.ioWriteFailed, "fsync of the ledger failed: \(String(cString: strerror(errno)))", path: path)
        }
        if before == 0 {
            // A new ledger: make its directory entry durable too.
            let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        }
        size = before + Int64(bytes.count)
    }
}
