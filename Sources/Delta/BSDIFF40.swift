import FirmchainCore
import Foundation

/// The BSDIFF40 patch format of bsdiff 4.3 (Docs/formats/BSDIFF40.md), as a writer and a bounds-checked
/// reader. Alignment (which triples) and application (what they do to `old`) live elsewhere;
/// this type only turns triples plus their diff/extra bytes into patch bytes and back.
public enum BSDIFF40 {
    /// The 8 magic bytes, ASCII `BSDIFF40`.
    public static let magic: [UInt8] = Array("BSDIFF40".utf8)
    /// Size of the fixed header.
    public static let headerSize = 32
    /// Largest add or copy length of one triple that Debian bspatch accepts (INT_MAX, §5).
    public static let maxTripleLength: Int64 = Int64(Int32.max)

    // MARK: Integers (§2)

    /// Writes `v` as 8 bytes, sign-magnitude little-endian (`offtout`, Docs/formats/BSDIFF40.md §2):
    /// |v| in the low 63 bits, the sign in bit 7 of the last byte. Not two's complement.
    /// - Precondition: `v != Int64.min` (its magnitude does not fit in 63 bits).
    public static func encodeInteger(_ v: Int64, into out: inout [UInt8]) {
        precondition(v != Int64.min, "-2^63 has no BSDIFF40 encoding")
        var m = UInt64(v.magnitude)
        for k in 0..<8 {
            var b = UInt8(truncatingIfNeeded: m)
            if k == 7 && v < 0 { b |= 0x80 }
            out.append(b)
            m >>= 8
        }
    }

    /// Reads 8 bytes at `offset` as a sign-magnitude integer (`offtin`, §2); "negative zero"
    /// reads as 0, like both reference readers.
    public static func decodeInteger<C: RandomAccessCollection>(_ bytes: C, at offset: C.Index) -> Int64
    where C.Element == UInt8 {
        var m: UInt64 = 0
        var i = bytes.index(offset, offsetBy: 7)
        let top = bytes[i]
        m = UInt64(top & 0x7F)
        for _ in 0..<7 {
            i = bytes.index(before: i)
            m = (m << 8) | UInt64(bytes[i])
        }
        let v = Int64(m)  // m < 2^63
        return top & 0x80 != 0 ? -v : v
    }

    // MARK: Writer (§1, §3, §4)

    /// The patch that turns `old` into `new` using `triples` (from `Alignment.triples`).
    ///
    /// Patch layout written here (Docs/formats/BSDIFF40.md §1; integers as in §2):
    ///
    /// | offset  | size | content                                               |
    /// |--------:|-----:|-------------------------------------------------------|
    /// | 0       | 8    | ASCII `BSDIFF40`                                      |
    /// | 8       | 8    | X = length of the compressed control block            |
    /// | 16      | 8    | Y = length of the compressed diff block               |
    /// | 24      | 8    | N = `new.count`                                       |
    /// | 32      | X    | bzip2(control): 24 bytes (add, copy, seek) per triple  |
    /// | 32+X    | Y    | bzip2(diff): new - old (mod 256) over every add range |
    /// | 32+X+Y  | rest | bzip2(extra): every copy range of `new`, to EOF       |
    ///
    /// Each block is exactly one bzip2 stream (level 9, workFactor 0) and nothing follows
    /// the extra stream, so Debian bspatch and bsdiff4 both accept it (§4, §5). The bzip2
    /// blocks of the three streams are compressed on up to `concurrency` threads; the bytes
    /// do not depend on `concurrency`.
    ///
    /// - Precondition: `triples` is valid for `old`/`new`: adds read only `old[0..<n]`,
    ///   add + copy lengths sum to `new.count`, each length <= `maxTripleLength`;
    ///   `concurrency >= 1` (default: the active cores).
    public static func write(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>,
                             triples: [ControlTriple],
                             concurrency: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [UInt8] {
        var control = [UInt8]()
        control.reserveCapacity(triples.count * 24)
        // Invariant: before triple k, newpos = addTotal + copyTotal = sum of add+copy of 0..<k,
        // oldpos = sum of add+seek of 0..<k. The triples are cut into `parts` runs of about
        // equal output, each starting from the cursors recorded here.
        let parts = max(1, min(concurrency, 16, new.count >> 20))
        var cuts = [Cursor(triple: 0, newpos: 0, oldpos: 0, diff: 0, extra: 0)]
        var addTotal = 0, copyTotal = 0, oldpos = 0
        for (k, t) in triples.enumerated() {
            precondition(t.add >= 0 && t.copy >= 0 && t.add <= maxTripleLength && t.copy <= maxTripleLength)
            let x = Int(t.add), y = Int(t.copy)
            precondition(oldpos >= 0 && oldpos <= old.count - x, "add reads outside old")
            if cuts.count < parts && addTotal + copyTotal >= new.count / parts * cuts.count {
                cuts.append(Cursor(triple: k, newpos: addTotal + copyTotal, oldpos: oldpos, diff: addTotal, extra: copyTotal))
            }
            encodeInteger(t.add, into: &control)
            encodeInteger(t.copy, into: &control)
            encodeInteger(t.seek, into: &control)
            addTotal += x
            copyTotal += y
            oldpos += x + Int(t.seek)
        }
        precondition(addTotal + copyTotal == new.count, "triples do not cover new")

        // Diff and extra blocks: every byte of both is written once (the adds cover the diff
        // block, the copies the extra block), by the part its triple belongs to.
        var extra = [UInt8]()
        let diff = [UInt8](unsafeUninitializedCapacity: addTotal) { db, diffCount in
            extra = [UInt8](unsafeUninitializedCapacity: copyTotal) { eb, extraCount in
                nonisolated(unsafe) let dp = db.baseAddress, ep = eb.baseAddress
                nonisolated(unsafe) let np = new.baseAddress, op = old.baseAddress
                let cutsNow = cuts
                DispatchQueue.concurrentPerform(iterations: cutsNow.count) { p in
                    let from = cutsNow[p], to = p + 1 < cutsNow.count ? cutsNow[p + 1].triple : triples.count
                    var newpos = from.newpos, oldpos = from.oldpos, d = from.diff, e = from.extra
                    for k in from.triple..<to {
                        let t = triples[k]
                        let x = Int(t.add), y = Int(t.copy)
                        for i in 0..<x { dp![d &+ i] = np![newpos &+ i] &- op![oldpos &+ i] }
                        d += x; newpos += x; oldpos += x
                        if y > 0 { (ep! + e).update(from: np! + newpos, count: y) }
                        e += y; newpos += y
                        oldpos += Int(t.seek)
                    }
                }
                extraCount = copyTotal
            }
            diffCount = addTotal
        }

        // Compress the three blocks with one work list over all their bzip2 blocks, so the
        // diff block (often most of the work) is spread over the cores too. The streams are
        // byte-identical to serial libbz2 (`BZip2.compress(_:concurrency:)`).
        let streams = try control.withUnsafeBufferPointer { c in
            try diff.withUnsafeBufferPointer { d in
                try extra.withUnsafeBufferPointer { e in try BZip2.compress([c, d, e], concurrency: concurrency) }
            }
        }
        let cc = streams[0], cd = streams[1], ce = streams[2]

        var patch = [UInt8]()
        patch.reserveCapacity(headerSize + cc.count + cd.count + ce.count)
        patch += magic
        encodeInteger(Int64(cc.count), into: &patch)
        encodeInteger(Int64(cd.count), into: &patch)
        encodeInteger(Int64(new.count), into: &patch)
        patch += cc
        patch += cd
        patch += ce
        return patch
    }

    /// Where a run of triples starts: its first triple and the cursors before it.
    private struct Cursor {
        let triple: Int, newpos: Int, oldpos: Int, diff: Int, extra: Int
    }

    // MARK: Reader (§1, §5)

    /// A patch whose header and blocks were read and bounds-checked, but not yet applied.
    public struct Contents: Sendable {
        /// N, the size of the output.
        public let newSize: Int
        /// The control triples in order (each already checked: lengths in range, output
        /// never beyond N, cursors never overflow, lengths sum to N, blocks consumed exactly).
        public let triples: [ControlTriple]
        /// The decompressed diff block (length = sum of adds).
        public let diff: [UInt8]
        /// The decompressed extra block (length = sum of copies).
        public let extra: [UInt8]
    }

    /// Reads and checks a patch, in the order of Docs/formats/BSDIFF40.md §1 and §5. The patch is untrusted:
    /// every field is checked before use and memory grows only with real decompressed data.
    ///
    /// Rules enforced (stricter than either reference reader where they differ, so a patch
    /// accepted here applies with both Debian bspatch and bsdiff4):
    /// 1. at least 32 bytes; magic equals all 8 bytes `BSDIFF40`;
    /// 2. X >= 0, Y >= 0, 0 <= N <= `maxNewSize`, 32 + X + Y <= patch length;
    /// 3. the diff block is one bzip2 stream filling exactly Y bytes, the extra block one stream
    ///    running exactly to the end of the patch; each decodes to at most N bytes, together to N;
    /// 4. the control block is one stream filling exactly X bytes, decoding to a multiple of 24
    ///    bytes, at most 24 x (N + 1024) (one triple per output byte plus 1024 empty ones);
    /// 5. per triple: 0 <= add, copy <= 2^31 - 1, the output cursor stays <= N;
    /// 6. after all triples the output cursor equals N and diff and extra are used exactly.
    ///    Trailing triples that produce nothing are allowed (both readers accept them).
    ///
    /// Where the add step reads old bytes is checked by `Patcher`, which knows `old`.
    public static func read(_ patch: UnsafeBufferPointer<UInt8>, maxNewSize: Int) throws -> Contents {
        // 1. Header.
        guard patch.count >= headerSize else {
            throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes, shorter than the 32-byte BSDIFF40 header")
        }
        guard patch.prefix(8).elementsEqual(magic) else {
            throw FirmchainError(.deltaBadMagic, "does not start with BSDIFF40 (not a bsdiff 4.x patch)")
        }
        let x = decodeInteger(patch, at: 8), y = decodeInteger(patch, at: 16), n = decodeInteger(patch, at: 24)
        // 2. Sizes.
        guard x >= 0, y >= 0, n >= 0 else {
            throw FirmchainError(.deltaBadHeader, "has a negative size in its header (X=\(x), Y=\(y), N=\(n))")
        }
        guard n <= Int64(maxNewSize) else {
            throw FirmchainError(.deltaTooLarge, "declares a \(n)-byte output, more than the limit of \(maxNewSize)")
        }
        let available = Int64(patch.count - headerSize)
        guard x <= available, y <= available - x else {
            throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes but its header declares blocks of \(x) and \(y) bytes")
        }
        let newSize = Int(n), xi = Int(x), yi = Int(y)
        let cStart = headerSize, dStart = cStart + xi, eStart = dStart + yi

        // 3. Diff and extra blocks first: real data that must add up to N, which then bounds
        //    how much control data can be meaningful (memory follows the patch's real content).
        let diff = try block(patch, dStart..<eStart, limit: newSize, what: "diff")
        let extra = try block(patch, eStart..<patch.count, limit: newSize, what: "extra")
        guard diff.count + extra.count == newSize else {
            throw FirmchainError(.deltaBlockMismatch, "has \(diff.count) diff and \(extra.count) extra bytes, which cannot make the declared \(newSize) output bytes")
        }
        // 4. Control block: at most one triple per output byte, plus 1024 empty ones.
        let maxControl = 24 * (newSize + 1024)
        let control = try block(patch, cStart..<dStart, limit: maxControl, what: "control")
        guard control.count % 24 == 0 else {
            throw FirmchainError(.deltaBadControl, "has a control block of \(control.count) bytes, not a multiple of 24")
        }

        // 5. Triples.
        var triples = [ControlTriple]()
        triples.reserveCapacity(control.count / 24)
        var newpos: Int64 = 0, addTotal: Int64 = 0, copyTotal: Int64 = 0
        var k = 0
        while k < control.count {
            let t = ControlTriple(add: decodeInteger(control, at: k), copy: decodeInteger(control, at: k + 8),
                                  seek: decodeInteger(control, at: k + 16))
            let index = k / 24
            guard t.add >= 0, t.copy >= 0 else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) has a negative length (\(t.add), \(t.copy))")
            }
            guard t.add <= maxTripleLength, t.copy <= maxTripleLength else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) moves more than 2^31 - 1 bytes")
            }
            guard t.add <= n - newpos, t.copy <= n - newpos - t.add else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) writes past the declared output size \(n)")
            }
            guard t.add <= Int64(diff.count) - addTotal, t.copy <= Int64(extra.count) - copyTotal else {
                throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more diff or extra bytes than the patch holds")
            }
            newpos += t.add + t.copy
            addTotal += t.add
            copyTotal += t.copy
            triples.append(t)
            k += 24
        }
        // 6. Totals.
        guard newpos == n else {
            throw FirmchainError(.deltaSizeMismatch, "control triples produce \(newpos) bytes, the header says \(n)")
        }
        guard addTotal == Int64(diff.count), copyTotal == Int64(extra.count) else {
            throw FirmchainError(.deltaBlockMismatch, "leaves diff or extra bytes unused (\(diff.count - Int(addTotal)) diff, \(extra.count - Int(copyTotal)) extra)")
        }
        return Contents(newSize: newSize, triples: triples, diff: diff, extra: extra)
    }

    private static func block(_ patch: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, limit: Int,
                              what: String) throws -> [UInt8] {
        let slice = UnsafeBufferPointer(rebasing: patch[range])
        let d = try BZip2.decompress(slice, limit: limit, what: what)
        if d.consumed != slice.count {
            if what == "extra" {
                throw FirmchainError(.deltaTrailingData, "has \(slice.count - d.consumed) bytes after the extra block's bzip2 stream")
            }
            throw FirmchainError(.deltaCorruptBlock, "the \(what) block's bzip2 stream ends \(slice.count - d.consumed) bytes before the block does")
        }
        return d.bytes
    }
}
