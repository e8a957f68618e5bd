import FirmchainCore
import Foundation

/// The firmchain1 delta format (Docs/formats/FIRMCHAIN1.md): bsdiff's control/diff/extra
/// streams, the triples as LEB128 integers, each stream one raw LZMA2 section, and the lengths
/// and sha256 of the old and the new image in the header. Its writer here; its checked,
/// streaming applier in `apply`. The C applier (`CFirmchainPatch`) implements the same rules.
public enum FirmchainDelta1 {
    /// The 8 magic bytes, ASCII `FCDELTA1`.
    public static let magic: [UInt8] = Array("FCDELTA1".utf8)
    /// Size of the fixed header (§1).
    public static let headerSize = 176
    /// The format version this code writes and reads.
    public static let version: UInt16 = 1
    /// Codec 1: raw LZMA2 sections (§4).
    static let codecLZMA2: UInt8 = 1
    /// Header flag 1 (§3): the diff bytes of an add carry from byte to byte, as a multi-byte
    /// addition does. The writer always sets it; the appliers read patches with and without it.
    public static let flagCarry: UInt8 = 1
    /// A writer compresses a section in pieces of this many bytes, on all cores, joined at
    /// LZMA2 dictionary resets (§4): the bytes do not depend on the thread count.
    static let pieceSize = 2 << 20
    /// The largest alignment shift a header may name (§1, §3): 16-byte alignment.
    public static let maxAlignmentShift = 4
    /// Triples that make nothing (add = copy = 0) a patch may hold (§3), as for BSDIFF40.
    public static let maxEmptyTriples = 1024
    /// The writer's dictionaries, control section first: they keep the C applier's whole
    /// workspace under 100 KB (three dictionaries and three 16 KB probability tables, §5).
    /// 64 KiB ones made patches 0.1-0.9 % smaller on the corpus pairs and took 250 KB; the
    /// control section loses under 0.05 % of a patch at 8 KiB against 16 KiB.
    static let writerDictionaries = [8 << 10, 16 << 10, 16 << 10]

    /// A parsed, checked header (§1).
    public struct Header: Sendable, Equatable {
        /// O and N, the old and new images' lengths.
        public var oldLength: Int, newLength: Int
        /// Their sha256 digests (32 bytes each).
        public var oldSHA256: [UInt8], newSHA256: [UInt8]
        /// T, the number of control triples.
        public var triples: Int
        /// Whether the diff bytes carry (flag 1, §3).
        public var carry: Bool
        /// The diff and extra sections' alignments in bytes (1, 2, 4, 8 or 16; §3).
        public var diffAlignment: Int, extraAlignment: Int
        /// The control, diff and extra sections: compressed length, decompressed length, dictionary.
        public var sections: [Section]

        /// One section descriptor.
        public struct Section: Sendable, Equatable {
            /// Bytes in the patch.
            public var compressed: Int
            /// Bytes once decompressed.
            public var length: Int
            /// LZMA2 dictionary size.
            public var dictionary: Int
        }

        /// Reads and checks the header of `patch` (every rule of §1 and §3 that needs no
        /// section): the magic, version 1, codec 1, no flag but 1, alignment shifts up to 4,
        /// zero reserved bytes,
        /// dictionaries of 4 KiB ... 64 MiB, and section lengths that add up to the patch's
        /// length exactly.
        public init(_ patch: UnsafeBufferPointer<UInt8>) throws {
            guard patch.count >= 8, patch.prefix(8).elementsEqual(magic) else {
                throw FirmchainError(.deltaBadMagic, "does not start with BSDIFF40 or FCDELTA1 (not a patch Firmchain reads)")
            }
            guard patch.count >= headerSize else {
                throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes, shorter than the 176-byte firmchain1 header")
            }
            func u(_ at: Int, _ size: Int) -> UInt64 {
                var v: UInt64 = 0
                for i in (0..<size).reversed() { v = v << 8 | UInt64(patch[at + i]) }
                return v
            }
            let version = u(8, 2), codec = u(10, 1), flags = u(11, 1), reserved = u(14, 2)
            let diffShift = u(12, 1), extraShift = u(13, 1)
            guard version == UInt64(FirmchainDelta1.version), codec == UInt64(codecLZMA2), flags & ~UInt64(flagCarry) == 0, reserved == 0 else {
                throw FirmchainError(.deltaUnsupportedVersion,
                                     "is firmchain1 version \(version), codec \(codec), flags \(flags), reserved \(reserved) (this reader knows version 1, codec 1, flags 0 and 1, reserved 0)")
            }
            guard diffShift <= UInt64(maxAlignmentShift), extraShift <= UInt64(maxAlignmentShift) else {
                throw FirmchainError(.deltaUnsupportedVersion,
                                     "names alignment shifts \(diffShift) and \(extraShift) for its diff and extra sections (this reader knows 0 to \(maxAlignmentShift))")
            }
            carry = flags & UInt64(flagCarry) != 0
            diffAlignment = 1 << Int(diffShift)
            extraAlignment = 1 << Int(extraShift)
            // Every length must fit comfortably in an Int; 2^62 bounds sums of three.
            func length(_ at: Int, _ name: String) throws -> Int {
                let v = u(at, 8)
                guard v < 1 << 62 else { throw FirmchainError(.deltaBadHeader, "declares a \(name) of \(v) bytes") }
                return Int(v)
            }
            oldLength = try length(16, "old length")
            newLength = try length(24, "new length")
            oldSHA256 = Array(patch[32..<64])
            newSHA256 = Array(patch[64..<96])
            triples = try length(96, "triple count")
            var sections = [Section]()
            for (k, name) in ["control", "diff", "extra"].enumerated() {
                let at = 104 + 24 * k
                let dictionary = Int(u(at + 16, 4))
                guard u(at + 20, 4) == 0 else { throw FirmchainError(.deltaBadHeader, "has nonzero reserved bytes in its \(name) section descriptor") }
                guard dictionary >= LZMA2.minimumDictionary, dictionary <= LZMA2.maximumDictionary else {
                    throw FirmchainError(.deltaBadHeader, "names a \(dictionary)-byte dictionary for its \(name) section (4 KiB to 64 MiB)")
                }
                sections.append(Section(compressed: try length(at, "\(name) section"), length: try length(at + 8, "\(name) section length"),
                                        dictionary: dictionary))
            }
            // An LZMA2 stream holds at least its end marker.
            if let empty = sections.firstIndex(where: { $0.compressed == 0 }) {
                throw FirmchainError(.deltaBadHeader, "declares an empty \(["control", "diff", "extra"][empty]) section (an LZMA2 stream is at least its end marker)")
            }
            self.sections = sections
            // Section by section, so no sum can overflow (each length is below 2^62).
            var body = 0
            for s in sections {
                guard s.compressed <= patch.count - headerSize - body else {
                    throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes, shorter than its header's sections declare")
                }
                body += s.compressed
            }
            guard patch.count - headerSize == body else {
                throw FirmchainError(.deltaTrailingData, "has \(patch.count - headerSize - body) bytes after its extra section")
            }
            // Diff and extra hold at most N bytes between them (§3: adds flagged as copies of old
            // take none), and before each add or copy fewer padding bytes than the alignment: at
            // most alignment x its bytes. (Each length is below 2^62: no sum overflows.)
            let diffBytes = (sections[1].length + diffAlignment - 1) / diffAlignment
            let extraBytes = (sections[2].length + extraAlignment - 1) / extraAlignment
            guard diffBytes <= newLength, extraBytes <= newLength - diffBytes else {
                throw FirmchainError(.deltaBadHeader, "declares diff and extra sections of \(sections[1].length) and \(sections[2].length) bytes for a \(newLength)-byte image")
            }
            // A triple takes 3 to 27 bytes of control (three integers below 2^63).
            guard triples <= sections[0].length / 3, (sections[0].length + 26) / 27 <= triples else {
                throw FirmchainError(.deltaBadHeader, "declares \(triples) triples in a \(sections[0].length)-byte control section")
            }
            // At most `maxEmptyTriples` triples make nothing: the decoding work follows N.
            guard triples <= newLength + maxEmptyTriples else {
                throw FirmchainError(.deltaBadHeader, "declares \(triples) triples for a \(newLength)-byte image")
            }
        }
    }

    // MARK: Writer

    /// The firmchain1 patch that turns `old` into `new` using `triples` (from `Alignment`).
    /// The diff and extra sections are each written in the coding (`Coding`, §3 alignment and
    /// LZMA's context bits) their samples favour, and compressed in pieces (`pieces(of:)`) on up
    /// to `concurrency` threads.
    ///
    /// - Precondition: `triples` is valid for `old`/`new` (as for `BSDIFF40.write`).
    public static func write(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple],
                             concurrency: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [UInt8] {
        try write(old: old, new: new, triples: triples, concurrency: concurrency, codings: nil)
    }

    /// `write`, with the diff and extra sections' codings given (tests) instead of chosen.
    static func write(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple],
                      concurrency: Int, codings given: (diff: Coding, extra: Coding)?) throws -> [UInt8] {
        let e = encode(old: old, new: new, triples: triples, concurrency: concurrency)
        let count = e.triples
        // A section short enough to be its own sample comes back compressed (`whole`).
        let diffChoice = given.map { ($0.diff, nil) } ?? chooseCoding(e.diff, parts: e.diffParts, section: 1, concurrency: concurrency)
        let extraChoice = given.map { ($0.extra, nil) } ?? chooseCoding(e.extra, parts: e.extraParts, section: 2, concurrency: concurrency)
        let (diffCoding, extraCoding) = (diffChoice.0, extraChoice.0)
        let codings = [Coding.control, diffCoding, extraCoding]
        let done: [[UInt8]?] = [nil, diffChoice.1, extraChoice.1]

        // Sections in pieces, all of them on one work list (the diff is usually most of it).
        let inputs = [e.control, pad(e.diff, parts: e.diffParts, alignment: diffCoding.alignment),
                      pad(e.extra, parts: e.extraParts, alignment: extraCoding.alignment)]
        let dictionaries = inputs.enumerated().map { dictionary(for: $0.element.count, section: $0.offset) }
        var jobs = [(section: Int, range: Range<Int>)]()
        precondition((0..<3).allSatisfy { done[$0] == nil || FirmchainDelta1.pieces(of: inputs[$0].count).count == 1 }, "a whole sample is one piece")
        for (s, bytes) in inputs.enumerated() where done[s] == nil {
            for range in pieces(of: bytes.count) { jobs.append((s, range)) }
        }
        nonisolated(unsafe) var pieces = [[UInt8]](repeating: [], count: jobs.count)
        nonisolated(unsafe) var failure: Error?
        let lock = NSLock()
        nonisolated(unsafe) let inputsNow = inputs
        let jobsNow = jobs, dictionariesNow = dictionaries
        let compress: @Sendable (Int) -> Void = { j in
            let job = jobsNow[j]
            do {
                let piece = try inputsNow[job.section].withUnsafeBufferPointer {
                    try LZMA2.compress(UnsafeBufferPointer(rebasing: $0[job.range]), dictionary: dictionariesNow[job.section],
                                       literal: codings[job.section].literal)
                }
                lock.lock(); pieces[j] = piece; lock.unlock()
            } catch {
                lock.lock(); failure = failure ?? error; lock.unlock()
            }
        }
        // The images' digests for the header, as two more jobs (after the pieces, which they fill
        // in behind).
        nonisolated(unsafe) var digests = [[UInt8]](repeating: [], count: 2)
        nonisolated(unsafe) let images = [old, new]
        let hash: @Sendable (Int) -> Void = { i in
            let d = sha256(images[i])
            lock.lock(); digests[i] = d; lock.unlock()
        }
        if concurrency <= 1 {
            for j in jobs.indices { compress(j) }
            for i in 0..<2 { hash(i) }
        } else {
            // Largest first, so a big piece does not start last and run on alone (stable: ties
            // keep their order).
            let order = jobs.indices.sorted { a, b in
                jobs[a].range.count != jobs[b].range.count ? jobs[a].range.count > jobs[b].range.count : a < b
            }
            DispatchQueue.concurrentPerform(iterations: jobs.count + 2) { k in
                if k < order.count { compress(order[k]) } else { hash(k - order.count) }
            }
        }
        if let failure { throw failure }
        // A section is its pieces joined: each piece starts with a dictionary reset, and every
        // piece but the last loses its end marker (the one byte 0x00).
        var sections = done.map { $0 ?? [] }
        for (j, job) in jobs.enumerated() {
            var piece = pieces[j]
            let last = j + 1 == jobs.count || jobs[j + 1].section != job.section
            if !last {
                precondition(piece.last == 0, "an LZMA2 stream ends with its end marker")
                piece.removeLast()
            }
            sections[job.section] += piece
        }

        var patch = [UInt8]()
        patch.reserveCapacity(headerSize + sections.reduce(0) { $0 + $1.count })
        patch += magic
        appendLE(UInt64(version), 2, to: &patch)
        patch.append(codecLZMA2)
        patch.append(flagCarry)
        patch += [UInt8(diffCoding.shift), UInt8(extraCoding.shift), 0, 0]
        appendLE(UInt64(old.count), 8, to: &patch)
        appendLE(UInt64(new.count), 8, to: &patch)
        patch += digests[0]
        patch += digests[1]
        appendLE(UInt64(count), 8, to: &patch)
        for s in 0..<3 {
            appendLE(UInt64(sections[s].count), 8, to: &patch)
            appendLE(UInt64(inputs[s].count), 8, to: &patch)
            appendLE(UInt64(dictionaries[s]), 4, to: &patch)
            appendLE(0, 4, to: &patch)
        }
        for s in sections { patch += s }
        return patch
    }

    /// Runs of at least this many zero differences (new - old, before §3's carry) inside an
    /// add become adds of their own that
    /// copy old as it is (§2's flag), their bytes left out of the diff section: LZMA2's match
    /// finder slows down on long zero runs (every position matches everything before it), and
    /// a run costs a few control bytes instead (identical images: 1 KB of diff section before,
    /// a handful of bytes now). Measured on the corpus's diff streams, 128 gives sections within
    /// -3 % ... -0.2 % of keeping the zeros.
    static let zeroRunMinimum = 128

    /// The three sections' bytes before compression (§2), from `triples` recut first
    /// (`Recut`, §4) unless `recut` is false: the control triples (seeks clamped to
    /// [0, O] where no add reads next, the difference carried to the next seek, so every add
    /// starts where the triples' did; with `lastSeekZero` the last seek leaves the cursor where
    /// the last add ended), the diff bytes (with §3's carry) without the runs of zeros moved
    /// into flagged adds, and the extra bytes; and where the old cursor ends. With `detachLeadingSeek`, a first
    /// triple that only seeks is not written but its (clamped) seek returned as `leadingSeek`,
    /// for a caller that moves the cursor there itself (a windowed patch's segments).
    ///
    /// - Precondition: `triples` is valid for `old`/`new` (adds read only old, add and copy
    ///   lengths sum to `new.count`).
    static func encode(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple], concurrency: Int,
                       lastSeekZero: Bool = false, detachLeadingSeek: Bool = false, recut: Bool = true) -> Encoded {
        // The scan's triples recut for this format's costs (§4, `Recut`).
        let triples = recut ? Recut.triples(old: old, new: new, triples: triples, concurrency: concurrency) : triples
        // A triple that makes nothing (bsdiff's search emits them: a match that starts where the
        // last one ended) only moves the old cursor: its seek joins the one before it, so a patch
        // never holds more than the one that may lead (§2 allows 1024; the search may emit more).
        var joined = [ControlTriple]()
        joined.reserveCapacity(triples.count)
        for t in triples {
            if t.add == 0 && t.copy == 0, !joined.isEmpty {
                joined[joined.count - 1].seek += t.seek
            } else {
                joined.append(t)
            }
        }
        var clamped = joined
        var actual = 0, intended = 0, produced = 0
        for (i, t) in joined.enumerated() {
            precondition(t.add >= 0 && t.copy >= 0)
            precondition(intended == actual || t.add == 0, "an add starts outside old")
            precondition(t.add == 0 || (actual >= 0 && Int(t.add) <= old.count - actual), "an add reads outside old")
            intended += Int(t.add) + Int(t.seek)
            actual += Int(t.add)
            produced += Int(t.add) + Int(t.copy)
            let target = lastSeekZero && i == joined.count - 1 ? actual : min(max(intended, 0), old.count)
            clamped[i].seek = Int64(target - actual)
            actual = target
        }
        precondition(produced == new.count, "triples do not cover new")
        let (full, extra) = BSDIFF40.diffAndExtra(old: old, new: new, triples: clamped, concurrency: concurrency)

        var control = [UInt8](), diff = [UInt8](), count = 0, leadingSeek = 0
        var diffParts = [Part](), extraParts = [Part]()
        control.reserveCapacity(triples.count * 6)
        diff.reserveCapacity(full.count)
        full.withUnsafeBufferPointer { f in
            var d = 0, oldpos = 0, newpos = 0
            for (index, t) in clamped.enumerated() {
                defer {
                    oldpos += Int(t.add) + Int(t.seek)
                    if t.copy > 0 { extraParts.append(Part(newpos: newpos + Int(t.add), length: Int(t.copy))) }
                    newpos += Int(t.add) + Int(t.copy)
                }
                if index == 0 && detachLeadingSeek && t.add == 0 && t.copy == 0 {
                    leadingSeek = Int(t.seek)
                    continue
                }
                let end = d + Int(t.add)
                // Parts of the add: (length, all zero), cut at runs of `zeroRunMinimum` zeros;
                // a run keeps its first (length mod 16) zeros in the part before it, so the diff
                // bytes keep their position modulo 16 (LZMA2's literal and position contexts).
                var parts = [(Int, Bool)]()
                var from = d, i = d
                while i < end {
                    guard f[i] == 0 else { i += 1; continue }
                    var j = i
                    while j < end && f[j] == 0 { j += 1 }
                    let run = j - i
                    if run >= zeroRunMinimum {
                        let cut = i + run % 16
                        if cut > from { parts.append((cut - from, false)) }
                        parts.append((j - cut, true))
                        from = j
                    }
                    i = j
                }
                if end > from || parts.isEmpty { parts.append((end - from, false)) }
                var at = d
                for (k, (length, zero)) in parts.enumerated() {
                    let last = k == parts.count - 1
                    appendLEB128(UInt64(length) << 1 | (zero ? 1 : 0), to: &control)
                    appendLEB128(last ? UInt64(t.copy) : 0, to: &control)
                    appendLEB128(last ? zigzag(t.seek) : 0, to: &control)
                    if !zero && length > 0 {
                        diffParts.append(Part(newpos: newpos + (at - d), length: length))
                        // §3's carry, from 0 at the start of each add: the stored byte is the
                        // difference less the carry the bytes before it make.
                        var carry: UInt8 = 0
                        let partOld = oldpos + (at - d)
                        for k in 0..<length {
                            let stored = f[at + k] &- carry
                            diff.append(stored)
                            carry = carryOut(old: old[partOld + k], stored: stored, carry: carry)
                        }
                    }
                    at += length
                }
                count += parts.count
                d = end
            }
        }
        return Encoded(control: control, diff: diff, extra: extra, triples: count, oldEnd: actual, leadingSeek: leadingSeek,
                       diffParts: diffParts, extraParts: extraParts)
    }

    /// What `encode` makes: the three sections before padding and compression, the triple count,
    /// where the old cursor ends, a detached leading seek, and the parts the diff and extra
    /// sections are made of (for `pad` and `chooseCoding`; positions in new count from 0).
    struct Encoded {
        var control: [UInt8], diff: [UInt8], extra: [UInt8]
        var triples: Int, oldEnd: Int, leadingSeek: Int
        var diffParts: [Part], extraParts: [Part]
    }

    /// §3's carry out of a byte of an add: old + the stored diff byte (signed) + the carry in
    /// (-1, 0 or 1, as 0xFF, 0 or 1) is a number in [-129, 383]; what leaves its low 8 bits,
    /// -1, 0 or 1, carries into the next byte. A pointer or offset that moved by k then makes
    /// the same diff bytes wherever it sits (k's bytes, and no borrow's 0xFF after them).
    @inline(__always)
    static func carryOut(old: UInt8, stored: UInt8, carry: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (Int(old) + Int(Int8(bitPattern: stored)) + Int(Int8(bitPattern: carry))) >> 8)
    }

    /// How the writer cuts a section of `length` bytes: into as few pieces of about
    /// `pieceSize` (at most 16 bytes more) as hold it, lengths within 32 bytes of each other, so that two
    /// threads finish together (2.6 MB as 2 MiB + 0.6 MB left one thread compressing alone for
    /// most of the time). At least one piece, empty for an empty section.
    static func pieces(of length: Int) -> [Range<Int>] {
        let k = max(1, (length + pieceSize - 1) / pieceSize)
        // Cut at multiples of 16 (pieceSize is one): a piece's LZMA2 positions then keep the
        // section's positions modulo every alignment (§3).
        func cut(_ i: Int) -> Int { i == k ? length : i * length / k & ~15 }
        return (0..<k).map { i in cut(i)..<cut(i + 1) }
    }

    /// The writer's dictionary for `section` (0 control, 1 diff, 2 extra) of `length` bytes:
    /// its entry in `writerDictionaries`, or the power of two that holds the section if
    /// smaller, at least 4 KiB.
    static func dictionary(for length: Int, section: Int) -> Int {
        var d = LZMA2.minimumDictionary
        while d < writerDictionaries[section] && d < length { d <<= 1 }
        return d
    }

    static func sha256(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var h = DigestCalculator.Streaming()
        h.update(bytes)
        return Hex.decode(h.sha256Hex())!
    }

    static func appendLE(_ v: UInt64, _ size: Int, to out: inout [UInt8]) {
        for i in 0..<size { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func appendLEB128(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func zigzag(_ s: Int64) -> UInt64 { s >= 0 ? UInt64(s) << 1 : (UInt64(-(s + 1)) << 1) | 1 }

    // MARK: Applier

    /// Applies an untrusted firmchain1 `patch` to `old`, calling `write` with each chunk of the
    /// new image in order; returns N. Checks, in order: the header (`Header`), N against
    /// `maxNewSize`, the old image's length and sha256 (`delta.wrong-base`, before any chunk),
    /// every triple (§3) and section (§4) as it is used, and the new image's sha256
    /// (`delta.digest-mismatch`, after the last chunk: discard what was written). Memory: one
    /// chunk, three LZMA2 decoders and a control buffer.
    @discardableResult
    public static func apply(old: UnsafeBufferPointer<UInt8>, patch: UnsafeBufferPointer<UInt8>, maxNewSize: Int,
                             write: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        let h = try Header(patch)
        guard h.newLength <= maxNewSize else {
            throw FirmchainError(.deltaTooLarge, "declares a \(h.newLength)-byte output, more than the limit of \(maxNewSize)")
        }
        guard old.count == h.oldLength else {
            throw FirmchainError(.deltaWrongBase, "was made for a \(h.oldLength)-byte old image, not this \(old.count)-byte one")
        }
        guard sha256(old) == h.oldSHA256 else {
            throw FirmchainError(.deltaWrongBase, "was made for an old image with sha256 \(Hex.encode(h.oldSHA256)), not this one")
        }
        var start = headerSize
        var readers = [LZMA2Reader]()
        for (k, name) in ["control", "diff", "extra"].enumerated() {
            let s = h.sections[k]
            readers.append(try LZMA2Reader(UnsafeBufferPointer(rebasing: patch[start..<start + s.compressed]), dictionary: s.dictionary,
                                           length: s.length, what: name))
            start += s.compressed
        }
        let control = ByteSource(readers[0]), diff = readers[1], extra = readers[2]

        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, min(Patcher.chunkSize, h.newLength)))
        defer { out.deallocate() }
        var filled = 0
        var hash = DigestCalculator.Streaming()
        func flush() throws {
            guard filled > 0 else { return }
            let chunk = UnsafeBufferPointer(rebasing: out[0..<filled])
            hash.update(chunk)
            try write(chunk)
            filled = 0
        }
        let n = h.newLength, oldSize = old.count
        var newpos = 0, oldpos = 0, empty = 0
        for index in 0..<h.triples {
            let field = try control.leb128(index), copy = try control.leb128(index), zz = try control.leb128(index)
            let add = field >> 1, fromOld = field & 1 == 1
            guard !fromOld || add > 0 else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) copies zero bytes of old (a flag without a length)")
            }
            if add == 0 && copy == 0 {
                empty += 1
                guard empty <= maxEmptyTriples else {
                    throw FirmchainError(.deltaBadControl, "has more than \(maxEmptyTriples) control triples that make nothing")
                }
            }
            let seek = zz & 1 == 0 ? Int(zz >> 1) : -Int(zz >> 1) - 1
            guard add <= oldSize - oldpos else {
                throw FirmchainError(.deltaOldOutOfRange, "control triple \(index) adds old bytes [\(oldpos), \(oldpos + add)) outside the \(oldSize)-byte old image")
            }
            guard add <= n - newpos, copy <= n - newpos - add else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) writes past the declared output size \(n)")
            }
            if !fromOld && add > 0 {
                try skipPadding(diff, to: newpos, alignment: h.diffAlignment, index: index)
            }
            var remaining = add, op = oldpos, carry: UInt8 = 0
            while remaining > 0 {
                if filled == out.count { try flush() }
                let take = min(remaining, out.count - filled)
                let o = out.baseAddress! + filled
                let s = old.baseAddress! + op
                if fromOld {
                    o.update(from: s, count: take)
                } else {
                    guard try diff.read(into: o, count: take) == take else {
                        throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more diff bytes than the patch holds")
                    }
                    if h.carry {
                        for i in 0..<take {
                            let stored = o[i]
                            o[i] = s[i] &+ stored &+ carry
                            carry = carryOut(old: s[i], stored: stored, carry: carry)
                        }
                    } else {
                        for i in 0..<take { o[i] = o[i] &+ s[i] }
                    }
                }
                filled += take; op += take; remaining -= take
            }
            if copy > 0 {
                try skipPadding(extra, to: newpos + add, alignment: h.extraAlignment, index: index)
            }
            remaining = copy
            while remaining > 0 {
                if filled == out.count { try flush() }
                let take = min(remaining, out.count - filled)
                guard try extra.read(into: out.baseAddress! + filled, count: take) == take else {
                    throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more extra bytes than the patch holds")
                }
                filled += take; remaining -= take
            }
            newpos += add + copy
            oldpos += add
            // |seek| < 2^62 (a zigzagged integer below 2^63) and 0 <= oldpos <= O < 2^62: no overflow.
            guard seek >= -oldpos, seek <= oldSize - oldpos else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) moves the old cursor outside the old image")
            }
            oldpos += seek
        }
        guard newpos == n else {
            throw FirmchainError(.deltaSizeMismatch, "control triples produce \(newpos) bytes, the header says \(n)")
        }
        try control.finish()
        try diff.finish()
        try extra.finish()
        try flush()
        guard Hex.decode(hash.sha256Hex())! == h.newSHA256 else {
            throw FirmchainError(.deltaDigestMismatch, "makes an image whose sha256 is not the one its header names (a corrupt or tampered patch); discard it")
        }
        return n
    }

    /// §3's alignment: reads the zeros `section` holds before the bytes of new position
    /// `newpos` (until its position is congruent to `newpos` modulo `alignment`) and refuses
    /// any that is not zero.
    private static func skipPadding(_ section: LZMA2Reader, to newpos: Int, alignment: Int, index: Int) throws {
        let gap = (newpos - section.produced) & (alignment - 1)
        guard gap > 0 else { return }
        var bytes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) as (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
        try withUnsafeMutableBytes(of: &bytes) { b in
            let p = b.baseAddress!.assumingMemoryBound(to: UInt8.self)
            guard try section.read(into: p, count: gap) == gap else {
                throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more \(section.what) bytes than the patch holds")
            }
            guard (0..<gap).allSatisfy({ p[$0] == 0 }) else {
                throw FirmchainError(.deltaCorruptBlock, "control triple \(index): the \(section.what) section's alignment bytes before it are not zero")
            }
        }
    }

    /// The control section read a buffer at a time, for LEB128 integers (§2).
    private final class ByteSource {
        let reader: LZMA2Reader
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var at = 0, end = 0

        init(_ reader: LZMA2Reader) { self.reader = reader }

        func next(_ index: Int) throws -> UInt8 {
            if at == end {
                end = try buffer.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, count: $0.count) }
                at = 0
                guard end > 0 else { throw FirmchainError(.deltaBadControl, "control triple \(index) runs past the end of the control section") }
            }
            defer { at += 1 }
            return buffer[at]
        }

        /// One LEB128 integer: below 2^63 (so at most 9 bytes), minimal encoding.
        func leb128(_ index: Int) throws -> Int {
            var v: UInt64 = 0
            for k in 0..<9 {
                let b = try next(index)
                v |= UInt64(b & 0x7F) << UInt64(7 * k)
                if b & 0x80 == 0 {
                    guard b != 0 || k == 0 else { throw FirmchainError(.deltaBadControl, "control triple \(index) has a non-minimal LEB128 integer") }
                    return Int(v)
                }
            }
            throw FirmchainError(.deltaBadControl, "control triple \(index) has an integer of 2^63 or more")
        }

        func finish() throws {
            guard at == end else { throw FirmchainError(.deltaBlockMismatch, "has control bytes after its last triple") }
            try reader.finish()
        }
    }
}
