import FirmchainCore
import Foundation

/// The BSDIFF40 patch format of bsdiff 4.3 (Docs/formats/BSDIFF40.md): its integers and its
/// writer. Alignment (which triples) lives in `Alignment`; reading and applying an untrusted
/// patch, with every rule of the format checked, in `Patcher`.
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
        var addTotal = 0, copyTotal = 0, oldpos = 0
        for t in triples {
            precondition(t.add >= 0 && t.copy >= 0 && t.add <= maxTripleLength && t.copy <= maxTripleLength)
            let x = Int(t.add), y = Int(t.copy)
            precondition(oldpos >= 0 && oldpos <= old.count - x, "add reads outside old")
            encodeInteger(t.add, into: &control)
            encodeInteger(t.copy, into: &control)
            encodeInteger(t.seek, into: &control)
            addTotal += x
            copyTotal += y
            oldpos += x + Int(t.seek)
        }
        precondition(addTotal + copyTotal == new.count, "triples do not cover new")
        let (diff, extra) = diffAndExtra(old: old, new: new, triples: triples, concurrency: concurrency)

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

    /// The diff block (new - old over every add range) and the extra block (every copy range
    /// of new) of `triples`, built on up to `concurrency` threads. Shared by both formats.
    static func diffAndExtra(old: UnsafeBufferPointer<UInt8>, new: UnsafeBufferPointer<UInt8>, triples: [ControlTriple],
                             concurrency: Int) -> (diff: [UInt8], extra: [UInt8]) {
        let parts = max(1, min(concurrency, 16, new.count >> 20))
        var cuts = [Cursor(triple: 0, newpos: 0, oldpos: 0, diff: 0, extra: 0)]
        var addTotal = 0, copyTotal = 0, oldpos = 0
        for (k, t) in triples.enumerated() {
            if cuts.count < parts && addTotal + copyTotal >= new.count / parts * cuts.count {
                cuts.append(Cursor(triple: k, newpos: addTotal + copyTotal, oldpos: oldpos, diff: addTotal, extra: copyTotal))
            }
            addTotal += Int(t.add)
            copyTotal += Int(t.copy)
            oldpos += Int(t.add) + Int(t.seek)
        }
        // Every byte of both is written once (the adds cover the diff block, the copies the
        // extra block), by the run its triple belongs to: `parts` runs of about equal output,
        // each starting from the cursors recorded in `cuts`.
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
        return (diff, extra)
    }

    /// Where a run of triples starts: its first triple and the cursors before it.
    private struct Cursor {
        let triple: Int, newpos: Int, oldpos: Int, diff: Int, extra: Int
    }
}
