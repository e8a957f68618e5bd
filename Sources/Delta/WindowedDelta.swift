#if canImport(Glibc)
import Glibc
#endif
import FirmchainCore
import Foundation

/// `delta create --max-memory`: a firmchain1 patch of images larger than memory allows, made
/// window by window. New is cut into segments; each segment is matched against a window of old
/// around the same relative position (its own suffix array), so memory follows the window, not
/// the images. A match that lies outside the window, or crosses a segment's end, is lost: the
/// patch is larger than an unbounded run's by what those matches were worth (the benchmark
/// shows it). The patch's sections are compressed segment by segment and spilled to unlinked
/// temporary files, so the patch is never held whole either.
///
/// Memory, for a segment of S bytes and a window of W: W (old) + 4 W (suffix array) + W / 2
/// (sampled keys) + S (new) + S (diff and extra) + the compressors (one 2 MiB piece in and out
/// and liblzma's 2 MiB encoder per thread) — `segmentLength(for:oldLength:newLength:threads:)`
/// picks S so that this stays within the limit less 64 MiB for the runtime. The control triples
/// are compressed and spilled segment by segment like the rest; the diff and extra sections'
/// first 256 KiB wait (with one more segment's, at most S) until their codings are chosen, which
/// the runtime's share holds.
public enum WindowedDelta {
    /// The smallest limit for images of these lengths on `threads` threads: one 1 MiB segment
    /// with its window, the compressors and the runtime.
    public static func minimumMemory(oldLength: Int, newLength: Int, threads: Int) -> Int {
        var m = 64 << 20
        while segmentLength(for: m, oldLength: oldLength, newLength: newLength, threads: threads) == nil { m += 1 << 20 }
        return m
    }

    /// What a windowed run made.
    public struct Summary: Sendable {
        /// The patch's length.
        public var patchLength: Int
        /// The segment length and the number of segments.
        public var segmentLength: Int, segments: Int
        /// The old and new images' lengths and sha256 (hex), as the patch names them.
        public var old: (length: Int, sha256: String), new: (length: Int, sha256: String)
    }

    /// The segment length S for a limit of `maxMemory` bytes: the largest multiple of 1 MiB
    /// whose window (S x old/new, plus S / 2 on each side) fits with the rest and stays below
    /// the suffix array's 2 GiB, or nil if even 1 MiB does not fit.
    static func segmentLength(for maxMemory: Int, oldLength: Int, newLength: Int, threads: Int) -> Int? {
        let ratio = newLength == 0 ? 1.0 : max(0.01, Double(oldLength) / Double(newLength))
        // Per byte of S: the window (ratio + 1) x 5.5, new, diff and extra (3).
        let perByte = (ratio + 1) * 5.5 + 3
        // 64 MiB for the runtime; per compressing thread a 2 MiB piece in and out and liblzma's
        // encoder (2 MiB at preset 9 with a 16 KiB dictionary).
        let usable = Double(maxMemory - (64 << 20) - max(1, threads) * (6 << 20))
        guard usable > 0 else { return nil }
        var s = Int(usable / perByte) / (1 << 20) * (1 << 20)
        while s >= 1 << 20 && Double(s) * (ratio + 1) >= Double(Delta.maxInputSize) { s -= 1 << 20 }
        return s >= 1 << 20 ? s : nil
    }

    /// Writes the firmchain1 patch from the file at `oldPath` to the one at `newPath` into
    /// `outPath` (atomically), using about `maxMemory` bytes at most.
    ///
    /// - Throws: `delta.memory-too-small` when `maxMemory` cannot hold one segment; `io.*` for
    ///   the files.
    public static func create(oldPath: String, newPath: String, outPath: String, maxMemory: Int,
                              options: DeltaCreateOptions = DeltaCreateOptions(), progress: ProgressReporter = SilentProgress()) throws -> Summary {
        let oldFile = try RangeReader(oldPath), newFile = try RangeReader(newPath)
        let o = oldFile.length, n = newFile.length
        let threads = options.alignment.resolvedThreads
        guard let s = segmentLength(for: maxMemory, oldLength: o, newLength: n, threads: threads) else {
            let least = minimumMemory(oldLength: o, newLength: n, threads: threads)
            throw FirmchainError(.deltaMemoryTooSmall, "--max-memory \(maxMemory >> 20) MiB cannot hold one 1 MiB segment of new with its window of old, \(threads) compressors and the runtime (\(least >> 20) MiB at least for these images)")
        }
        let oldSHA = try oldFile.sha256(), newSHA = try newFile.sha256()
        let parent = (outPath as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        let spills = try (0..<3).map { _ in try SpillFile(in: directory) }
        // Per section: bytes before compression, and the largest dictionary a piece used.
        var lengths = [0, 0, 0], dictionaries = [LZMA2.minimumDictionary, LZMA2.minimumDictionary, LZMA2.minimumDictionary]
        var triples = 0
        // The segment's control, and the last triple's seek while the next segment may change it.
        var control = [UInt8]()
        // The diff and extra sections' codings (§3, `FirmchainDelta1.Coding`): each chosen once
        // (the header names one alignment per section), on the section's first
        // `chooseAfter` bytes, which wait unpadded in `undecided` until then (or the end).
        var codings: [FirmchainDelta1.Coding?] = [FirmchainDelta1.Coding.control, nil, nil]
        var undecided: [(bytes: [UInt8], parts: [FirmchainDelta1.Part])] = [([], []), ([], []), ([], [])]
        // Bytes of a section held back so that every spilled run is a multiple of 16 bytes long:
        // each piece then starts at a section position that is a multiple of 16, and LZMA2's
        // positions keep the alignment.
        var pending: [[UInt8]] = [[], [], []]
        /// Compresses `bytes` as pieces of `section` and appends them to its spill file (all but
        /// the last `count % 16` bytes of the diff and extra sections until `final`).
        func spill(_ bytes: [UInt8], section: Int, final: Bool = false) throws {
            var all = pending[section] + bytes
            let keep = final || section == 0 ? 0 : all.count % 16
            pending[section] = Array(all.suffix(keep))
            all.removeLast(keep)
            guard !all.isEmpty else { return }
            let dictionary = FirmchainDelta1.dictionary(for: all.count, section: section)
            let literal = (codings[section] ?? .plain).literal
            try spills[section].append(compressedPieces(of: all, dictionary: dictionary, literal: literal, threads: threads))
            lengths[section] += all.count
            dictionaries[section] = max(dictionaries[section], dictionary)
        }
        /// The segment's `bytes` of `section` (1 or 2) made of `parts` (positions in new from
        /// `a`): padded for the section's coding and spilled, or kept in `undecided` until there
        /// are `chooseAfter` of them (or `final`) to choose the coding on.
        func add(_ bytes: [UInt8], parts: [FirmchainDelta1.Part], section: Int, from a: Int, final: Bool = false) throws {
            let global = parts.map { FirmchainDelta1.Part(newpos: a + $0.newpos, length: $0.length) }
            if let coding = codings[section] {
                let start = lengths[section] + pending[section].count
                try spill(FirmchainDelta1.pad(bytes, parts: global, alignment: coding.alignment, start: start), section: section, final: final)
                return
            }
            undecided[section].bytes += bytes
            undecided[section].parts += global
            guard final || undecided[section].bytes.count >= chooseAfter else { return }
            let (held, heldParts) = undecided[section]
            undecided[section] = ([], [])
            let coding = FirmchainDelta1.chooseCoding(held, parts: heldParts, section: section, concurrency: threads).coding
            codings[section] = coding
            // Nothing of the section was spilled yet: it starts here, at 0.
            try spill(FirmchainDelta1.pad(held, parts: heldParts, alignment: coding.alignment), section: section, final: final)
        }
        // The old cursor where the last segment left it, and a seek owed to the next triple.
        var oldpos = 0
        let segments = max(1, (n + s - 1) / s)
        for k in 0..<segments {
            let a = k * s, b = min(n, a + s)
            if b <= a { break }
            progress.report(phase: "windows", completed: Int64(k), total: Int64(segments))
            let new = try newFile.read(a, b - a)
            // The window: old around the same relative position, S / 2 either side.
            let ratio = n == 0 ? 1.0 : Double(o) / Double(n)
            let center = Int(Double(a) * ratio), span = Int(Double(b - a) * ratio)
            let wa = max(0, min(o, center - s / 2)), wb = max(wa, min(o, center + span + s / 2))
            let window = try oldFile.read(wa, wb - wa)
            let local = try Delta.computeTriples(old: window, new: new, options: options, progress: SilentProgress())
            precondition(!local.isEmpty, "the triples of a non-empty segment cover it")
            // The segment's triples as FirmchainDelta1.write encodes them, the cursor kept inside
            // the window and left where the last add ended; a first triple that only seeks is
            // folded into the move below (one per segment would soon pass §2's 1024).
            let e = window.withUnsafeBufferPointer { w in
                new.withUnsafeBufferPointer { nw in
                    FirmchainDelta1.encode(old: w, new: nw, triples: local, concurrency: threads,
                                           lastSeekZero: true, detachLeadingSeek: true)
                }
            }
            let (segmentControl, count, end, lead) = (e.control, e.triples, e.oldEnd, e.leadingSeek)
            // The first add of the segment reads window[lead...]: move the cursor there first, by
            // the previous triple's seek or, on the first segment, from 0.
            if wa + lead != oldpos {
                if triples == 0 {
                    // Nothing before it: a triple that only seeks (one of the 1024 allowed).
                    appendTriple(add: 0, copy: 0, seek: wa + lead - oldpos, to: &control)
                    triples += 1
                } else {
                    fixLastSeek(&control, by: wa + lead - oldpos)
                }
            }
            control += segmentControl
            triples += count
            oldpos = wa + end
            // The control up to this segment's last triple is final: spill it, keep that triple
            // (its seek may still change when the next segment starts elsewhere).
            let keep = lastTripleStart(control)
            try spill(Array(control[..<keep]), section: 0)
            control.removeSubrange(..<keep)
            try add(e.diff, parts: e.diffParts, section: 1, from: a)
            try add(e.extra, parts: e.extraParts, section: 2, from: a)
        }
        try spill(control, section: 0)
        try add([], parts: [], section: 1, from: n, final: true)
        try add([], parts: [], section: 2, from: n, final: true)
        progress.report(phase: "windows", completed: Int64(segments), total: Int64(segments))
        // Every section ends with LZMA2's end marker (the pieces were written without theirs).
        for f in spills { try f.append([0]) }

        let writer = try AtomicFileWriter(path: outPath)
        do {
            var header = FirmchainDelta1.magic
            FirmchainDelta1.appendLE(UInt64(FirmchainDelta1.version), 2, to: &header)
            header += [FirmchainDelta1.codecLZMA2, FirmchainDelta1.flagCarry,
                       UInt8((codings[1] ?? .plain).shift), UInt8((codings[2] ?? .plain).shift), 0, 0]
            FirmchainDelta1.appendLE(UInt64(o), 8, to: &header)
            FirmchainDelta1.appendLE(UInt64(n), 8, to: &header)
            header += oldSHA
            header += newSHA
            FirmchainDelta1.appendLE(UInt64(triples), 8, to: &header)
            for k in 0..<3 {
                FirmchainDelta1.appendLE(UInt64(spills[k].length), 8, to: &header)
                FirmchainDelta1.appendLE(UInt64(lengths[k]), 8, to: &header)
                FirmchainDelta1.appendLE(UInt64(dictionaries[k]), 4, to: &header)
                FirmchainDelta1.appendLE(0, 4, to: &header)
            }
            try writer.write(header)
            for f in spills { try f.copy(to: writer) }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        return Summary(patchLength: FirmchainDelta1.headerSize + spills.reduce(0) { $0 + $1.length },
                       segmentLength: s, segments: segments, old: (o, Hex.encode(oldSHA)), new: (n, Hex.encode(newSHA)))
    }

    /// `bytes` as LZMA2 pieces (`FirmchainDelta1.pieces(of:)`, each starting with a dictionary
    /// reset), compressed with `dictionary` on `threads` threads, joined without their end markers.
    /// Bytes of a section a windowed run holds before it chooses the section's coding: as many
    /// as the unbounded writer's samples read.
    static let chooseAfter = FirmchainDelta1.codingSamples * FirmchainDelta1.codingSampleLength

    static func compressedPieces(of bytes: [UInt8], dictionary: Int, literal: LZMA2.Literal, threads: Int) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        let ranges = FirmchainDelta1.pieces(of: bytes.count), count = ranges.count
        nonisolated(unsafe) var pieces = [[UInt8]](repeating: [], count: count)
        let lock = NSLock()
        let compress: @Sendable (Int) -> Void = { j in
            // LZMA2 with a fixed preset fails only when memory runs out (Docs/exit-codes.md).
            var piece = try! bytes.withUnsafeBufferPointer {
                try LZMA2.compress(UnsafeBufferPointer(rebasing: $0[ranges[j]]), dictionary: dictionary, literal: literal)
            }
            precondition(piece.last == 0, "an LZMA2 stream ends with its end marker")
            piece.removeLast()
            lock.lock(); pieces[j] = piece; lock.unlock()
        }
        if threads <= 1 || count == 1 {
            for j in 0..<count { compress(j) }
        } else {
            DispatchQueue.concurrentPerform(iterations: count, execute: compress)
        }
        return Array(pieces.joined())
    }

    private static func appendTriple(add: Int, copy: Int, seek: Int, to control: inout [UInt8]) {
        FirmchainDelta1.appendLEB128(UInt64(add) << 1, to: &control)
        FirmchainDelta1.appendLEB128(UInt64(copy), to: &control)
        FirmchainDelta1.appendLEB128(FirmchainDelta1.zigzag(Int64(seek)), to: &control)
    }

    /// Where the last triple of `control` starts (0 if it holds at most one): the byte after
    /// the fourth-last LEB128 integer's last byte.
    private static func lastTripleStart(_ control: [UInt8]) -> Int {
        var ends = 0, i = control.count - 1
        while i >= 0 {
            if control[i] & 0x80 == 0 {
                ends += 1
                if ends == 4 { return i + 1 }
            }
            i -= 1
        }
        return 0
    }

    /// Adds `delta` to the seek of the last triple in `control`.
    private static func fixLastSeek(_ control: inout [UInt8], by delta: Int) {
        // The last LEB128 integer starts after the last byte with the high bit clear before it.
        var start = control.count - 1
        while start > 0 && control[start - 1] & 0x80 != 0 { start -= 1 }
        var v: UInt64 = 0
        for (i, b) in control[start...].enumerated() { v |= UInt64(b & 0x7F) << UInt64(7 * i) }
        let seek = v & 1 == 0 ? Int(v >> 1) : -Int(v >> 1) - 1
        control.removeSubrange(start...)
        FirmchainDelta1.appendLEB128(FirmchainDelta1.zigzag(Int64(seek + delta)), to: &control)
    }
}

/// A regular file read by offset (`pread`), never whole.
final class RangeReader {
    let path: String
    let fd: Int32
    let length: Int

    init(_ path: String) throws {
        self.path = path
        fd = try FileIO.openRegular(path)
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); throw FirmchainError(.ioFailed, "cannot stat", path: path) }
        length = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Bytes [offset, offset + count).
    func read(_ offset: Int, _ count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buf, got in
            got = 0
            while got < count {
                let r = pread(fd, buf.baseAddress! + got, count - got, off_t(offset + got))
                if r < 0 { if errno == EINTR { continue }; throw FirmchainError(.ioFailed, "read failed", path: path) }
                if r == 0 { throw FirmchainError(.ioFailed, "changed while it was read (shorter than \(length) bytes)", path: path) }
                got += r
            }
        }
    }

    /// The sha256 of the whole file, read 4 MiB at a time.
    func sha256() throws -> [UInt8] {
        var h = DigestCalculator.Streaming()
        var at = 0
        while at < length {
            let chunk = try read(at, min(4 << 20, length - at))
            h.update(chunk)
            at += chunk.count
        }
        return Hex.decode(h.sha256Hex())!
    }
}

/// An unlinked temporary file beside the output: written once, then copied into it.
final class SpillFile {
    let fd: Int32
    private(set) var length = 0

    init(in directory: String) throws {
        var template = Array("\(directory)/.firmchain-delta-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot create a temporary file: \(String(cString: strerror(errno)))", path: directory)
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    deinit { close(fd) }

    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let r = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if r < 0 { if errno == EINTR { continue }; throw FirmchainError(.ioWriteFailed, "write failed: \(String(cString: strerror(errno)))", path: "temporary file") }
                off += r
            }
        }
        length += bytes.count
    }

    func copy(to writer: AtomicFileWriter) throws {
        var at = 0
        let chunk = 4 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        while at < length {
            let want = min(chunk, length - at)
            let r = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(at)) }
            if r < 0 { if errno == EINTR { continue }; throw FirmchainError(.ioFailed, "read failed", path: "temporary file") }
            guard r > 0 else { throw FirmchainError(.ioFailed, "ended early", path: "temporary file") }
            try writer.write(buffer[0..<r])
            at += r
        }
    }
}
