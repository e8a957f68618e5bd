/// The block structure of a bzip2 stream, in pure Swift: where libbz2 cuts its input into
/// blocks, and how the blocks of single-block streams are joined into one stream. Together
/// with `BZip2.compressSingleBlock` this lets `BZip2.compress(_:concurrency:)` compress the
/// blocks of one stream on several threads and still write libbz2's serial bytes exactly.
///
/// Stream layout (bzip2 1.0.8 compress.c `BZ2_compressBlock`; bits are packed MSB first and
/// nothing is byte-aligned after the header):
///
/// | bits          | content                                                      |
/// |--------------:|--------------------------------------------------------------|
/// | 32            | `BZh9` (blockSize100k 9)                                     |
/// | per block: 48 | block magic 0x314159265359                                   |
/// |            32 | block CRC (CRC-32/BZIP2 of the block's input bytes)          |
/// |          rest | randomised bit, origPtr, symbol map, Huffman tables, data     |
/// | 48            | end-of-stream magic 0x177245385090                           |
/// | 32            | combined CRC: for each block c = rotl(c, 1) ^ blockCRC, c₀ = 0 |
/// | 0..7          | zero bits up to a byte boundary                              |
enum BZip2Blocks {
    /// `BZh9`: the stream header for blockSize100k 9.
    static let header: [UInt8] = Array("BZh9".utf8)
    /// The 48-bit magic that starts every block (BCD of pi).
    static let blockMagic: UInt64 = 0x3141_5926_5359
    /// The 48-bit magic that ends the stream (BCD of sqrt(pi)).
    static let endMagic: UInt64 = 0x1772_4538_5090
    /// libbz2's `nblockMAX` for blockSize100k 9: a block takes input while it holds fewer than
    /// this many run-length-coded bytes (bzlib.c `BZ2_bzCompressInit`: 100000 x 9 - 19).
    static let blockCapacity = 100_000 * 9 - 19

    /// Inputs shorter than this always fit in one block: the first run-length stage turns
    /// 4 input bytes into at most 5, so a block holds at least 4/5 of `blockCapacity`.
    static let alwaysOneBlock = blockCapacity / 5 * 4

    // MARK: Block boundaries

    /// The start offsets of the blocks libbz2 (blockSize100k 9) makes of `input`, in order:
    /// block k holds `input[starts[k] ..< starts[k + 1]]` (the last one runs to the end).
    /// Empty input gives `[]`; any other input gives `starts[0] == 0` and at least one block.
    ///
    /// This replays libbz2's block filling (bzip2 1.0.8 bzlib.c `copy_input_until_stop`,
    /// `ADD_CHAR_TO_BLOCK`, `add_pair_to_block`, `handle_compress`) on lengths only:
    /// - Input is read as runs. A run of 1-3 equal bytes enters the block as those bytes;
    ///   a run of 4-255 as 4 bytes plus a count byte (5 bytes); a run is cut at 255 bytes and
    ///   the next equal byte starts a new run. A run enters the block only when it ends
    ///   (a different byte or the 255 cut), so the current run is "pending", not counted.
    /// - Before each input byte, if the block already holds `blockCapacity` bytes or more, the
    ///   block is closed *without* the pending run (`handle_compress` calls
    ///   `BZ2_compressBlock` without `flush_RL` when a block is full), and the pending run
    ///   carries over into the next block. The count only grows when a byte starts a new run,
    ///   so the pending run is then exactly that one byte, and the next block starts at it.
    /// - When the input ends, the pending run goes into the current block, full or not.
    ///
    /// So each block's slice, compressed alone, ends with the same run flush and fits in one
    /// block, and its bytes equal that block of the serial stream (CRC included, since
    /// `add_pair_to_block` updates the CRC only for bytes that enter the block).
    static func blockStarts(_ input: UnsafeBufferPointer<UInt8>) -> [Int] {
        blocks(input).map(\.start)
    }

    /// One block of `blocks(_:)`: where it starts, and how much of it lies in long runs of one
    /// byte value.
    struct Block: Equatable {
        /// Offset of the block's first input byte.
        var start: Int
        /// Sum over the maximal runs of equal bytes in the block (the part inside it) of
        /// (length / 255)^2: the first run-length stage turns a run into a repeating 5-byte
        /// pattern of length / 255 periods, whose rotations libbz2's main sort compares the
        /// whole pattern long (see `fallbackRunWeight`).
        var runWeight: Int
    }

    /// A block whose `runWeight` is at least this (one run of about 480 kB, or several long
    /// runs adding up to as much in squares) is sorted by libbz2's fallback sort from the
    /// start (workFactor 1): its main sort would spend its whole work budget on the runs'
    /// periodic patterns and then fall back anyway. libbz2 writes the same bytes with either
    /// sort (bzip2 manual, `BZ2_bzCompressInit`); only the time differs. Measured per block
    /// (CPU seconds, main then fallback): L1's diff blocks with weights 6.6e6-2.0e7 0.18-0.26 s
    /// against 0.13-0.16 s; X1's (3.1e7-8.9e9) 0.20-0.27 against 0.14-0.19; T1's 5.2e6 0.165
    /// against 0.123; under the threshold M1's 1.45e6 0.079 against 0.166 and W2's 9.4e5 0.10
    /// against 0.19 (the main sort wins where it finishes). One 400 kB zero run inside ordinary
    /// diff bytes still sorted in 0.08 s, 500 kB took 0.17-0.20 s.
    ///
    /// Such a block is now written by `BZip2Encoder` (same bytes; about 55 ms CPU for each of
    /// L1's three); libbz2 with work factor 1 takes only the periodic ones it declines.
    static let fallbackRunWeight = (480_000 / 255) * (480_000 / 255)

    /// `blockStarts(_:)` with each block's `Block.runWeight`.
    static func blocks(_ input: UnsafeBufferPointer<UInt8>) -> [Block] {
        guard !input.isEmpty else { return [] }
        var out = [Block]()
        // Invariants before byte i: `filled` = bytes the current block holds (flushed runs
        // only); the pending run is `runLength` (1...255) copies of `input[i - 1]`, i.e.
        // input[i - runLength ..< i]; everything before it since the block start is flushed.
        // `same` (>= runLength) counts the whole run of input[i - 1] ending at i, across the
        // 255-byte cuts; `weight` is the current block's run weight without that run.
        var filled = 0
        var runLength = 1
        var same = 1
        var weight = 0
        var blockStart = 0
        var previous = input[0]
        var i = 1
        let n = input.count
        let raw = UnsafeRawPointer(input.baseAddress!)
        let oneBlock = n < alwaysOneBlock
        @inline(__always) func square(_ length: Int) -> Int { (length / 255) * (length / 255) }
        while i < n {
            // Eight bytes, each different from the one before it (most of a diff block that is
            // not a run): the first flushes the pending run, the other seven flush runs of one
            // byte, and the last is pending. Taken at once when no block can close among them:
            // before byte i + k the block holds at most filled + 5 + (k - 1) < blockCapacity.
            if i &+ 8 <= n && filled &+ 12 < blockCapacity {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let x = w ^ (w << 8 | UInt64(previous))  // byte k: input[i+k] ^ input[i+k-1]
                if (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 == 0 {
                    filled &+= (runLength < 4 ? runLength : 5) &+ 7
                    if same >= 255 { weight &+= square(min(same, i - blockStart)) }
                    same = 1
                    previous = UInt8(truncatingIfNeeded: w >> 56)
                    runLength = 1
                    i &+= 8
                    continue
                }
            }
            if filled >= blockCapacity && !oneBlock {
                // The block closes before the pending run, which opens the next one.
                let next = i - runLength
                if same > runLength { weight += square(min(same - runLength, next - blockStart)) }
                out.append(Block(start: blockStart, runWeight: weight))
                blockStart = next
                weight = 0
                filled = 0
            }
            let b = input[i]
            if b != previous || runLength == 255 {
                filled += runLength < 4 ? runLength : 5
                if b != previous {
                    if same >= 255 { weight += square(min(same, i - blockStart)) }
                    same = 1
                } else {
                    same += 1
                }
                previous = b
                runLength = 1
                i += 1
                continue
            }
            // Inside a run nothing enters the block, so the check above cannot fire: take
            // the rest of the run (up to the 255 cut) at once.
            var j = i + 1
            let stop = min(n, i + (255 - runLength))
            while j < stop && input[j] == b { j += 1 }
            runLength += j - i
            same += j - i
            i = j
        }
        if same >= 255 { weight += square(min(same, n - blockStart)) }
        out.append(Block(start: blockStart, runWeight: weight))
        return out
    }

    // MARK: CRC

    /// CRC-32/BZIP2 (polynomial 0x04C11DB7, MSB first, init and final xor 0xFFFFFFFF), the
    /// block CRC of bzip2 (bzlib_private.h `BZ_UPDATE_CRC`). Used by tests as an oracle.
    static func crc(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = (c << 8) ^ crcTable[Int((c >> 24) ^ UInt32(b))] }
        return ~c
    }

    /// The combined CRC after one more block (compress.c `BZ2_compressBlock`).
    static func combine(_ combined: UInt32, _ blockCRC: UInt32) -> UInt32 {
        ((combined << 1) | (combined >> 31)) ^ blockCRC
    }

    private static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i) << 24
        for _ in 0..<8 { c = c & 0x8000_0000 != 0 ? (c << 1) ^ 0x04C1_1DB7 : c << 1 }
        return c
    }
}

/// The one block of a single-block bzip2 stream, as located by `BZip2Blocks.parseSingleBlock`.
struct BZip2Block {
    /// The block's CRC (the 32 bits after its magic).
    let crc: UInt32
    /// Bit length of the block: from its magic (bit 32 of the stream) up to the
    /// end-of-stream magic.
    let bitCount: Int
}

extension BZip2Blocks {
    /// Locates the block of `stream`, which must be a stream with exactly one block as
    /// `BZip2.compressSingleBlock` makes it; nil if it does not have that shape.
    ///
    /// Checks: the `BZh9` header; the block magic at bit 32; the stream ends with the
    /// end-of-stream magic, a combined CRC equal to the block CRC (what one block gives:
    /// rotl(0, 1) ^ crc) and 0-7 zero bits, for exactly one choice of the padding (so the end
    /// of the block bits is not ambiguous).
    static func parseSingleBlock(_ stream: UnsafeBufferPointer<UInt8>) -> BZip2Block? {
        // Header 4 bytes + magic and CRC 10 bytes + trailer 10 bytes at least.
        guard stream.count >= 24, stream.prefix(4).elementsEqual(header),
              BitReader.read(stream, at: 32, count: 48) == blockMagic else { return nil }
        let crc = UInt32(BitReader.read(stream, at: 80, count: 32))
        let total = stream.count * 8
        var found: Int?
        for pad in 0..<8 {
            let end = total - 80 - pad
            guard end > 112 else { break }
            if pad > 0 && BitReader.read(stream, at: total - pad, count: pad) != 0 { continue }
            guard BitReader.read(stream, at: end, count: 48) == endMagic,
                  UInt32(BitReader.read(stream, at: end + 48, count: 32)) == crc else { continue }
            if found != nil { return nil }  // two readings: refuse rather than guess
            found = end
        }
        guard let end = found else { return nil }
        return BZip2Block(crc: crc, bitCount: end - 32)
    }
}

/// Reads MSB-first bit fields.
enum BitReader {
    /// The `count` (0...57) bits of `bytes` starting at bit `offset`, MSB first.
    /// - Precondition: `offset + count <= 8 * bytes.count`.
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, count: Int) -> UInt64 {
        precondition(count >= 0 && count <= 57 && offset >= 0 && offset + count <= bytes.count * 8)
        var v: UInt64 = 0
        var bit = offset
        while bit < offset + count {
            let byte = bytes[bit >> 3]
            let inByte = bit & 7
            let take = min(8 - inByte, offset + count - bit)
            let part = (UInt64(byte) >> UInt64(8 - inByte - take)) & ((1 << UInt64(take)) - 1)
            v = (v << UInt64(take)) | part
            bit += take
        }
        return v
    }
}

/// Builds one bzip2 stream from the blocks of single-block streams, in order (the layout
/// table of `BZip2Blocks`): `BZh9`, each block's bits, then the end-of-stream magic, the
/// combined CRC and zero padding. With no blocks it gives libbz2's empty stream.
struct BZip2StreamSplicer {
    /// Whole bytes written so far.
    private var bytes: [UInt8]
    /// Bits written after `bytes`, high-aligned: the top `pendingCount` (0...7) bits.
    private var pending: UInt8 = 0
    private var pendingCount = 0
    /// The combined CRC of the blocks appended so far.
    private(set) var combinedCRC: UInt32 = 0
    /// How many blocks were appended.
    private(set) var blockCount = 0

    /// A stream with only its header so far; `capacity` reserves room for the output.
    init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes += BZip2Blocks.header
    }

    /// Appends the block of `stream` (a single-block stream from `BZip2.compressSingleBlock`).
    /// Returns false, appending nothing, if `stream` is not a single-block stream
    /// (`BZip2Blocks.parseSingleBlock`).
    mutating func append(blockOf stream: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let block = BZip2Blocks.parseSingleBlock(stream) else { return false }
        // The block bits start at the byte boundary of bit 32: whole bytes, then a partial one.
        let whole = block.bitCount >> 3, rest = block.bitCount & 7
        appendBytes(UnsafeBufferPointer(rebasing: stream[4 ..< 4 + whole]))
        if rest > 0 { appendBits(UInt64(stream[4 + whole] >> UInt8(8 - rest)), count: rest) }
        combinedCRC = BZip2Blocks.combine(combinedCRC, block.crc)
        blockCount += 1
        return true
    }

    /// The finished stream: the end-of-stream magic, the combined CRC and zero padding.
    /// Call once; the splicer is empty afterwards.
    mutating func finish() -> [UInt8] {
        appendBits(BZip2Blocks.endMagic, count: 48)
        appendBits(UInt64(combinedCRC), count: 32)
        if pendingCount > 0 {
            bytes.append(pending)
            pending = 0
            pendingCount = 0
        }
        defer { bytes = [] }
        return bytes
    }

    /// Appends whole bytes at the current (unaligned) bit position.
    private mutating func appendBytes(_ source: UnsafeBufferPointer<UInt8>) {
        guard pendingCount > 0 else {
            bytes.append(contentsOf: source)
            return
        }
        // Each output byte is the pending bits followed by the top 8 - k bits of the next
        // source byte; its low k bits become the new pending bits.
        let k = UInt8(pendingCount)
        var carry = pending
        bytes.reserveCapacity(bytes.count + source.count)
        for b in source {
            bytes.append(carry | (b >> k))
            carry = b << (8 - k)
        }
        pending = carry
    }

    /// Appends the low `count` (0...57) bits of `value`, MSB first.
    private mutating func appendBits(_ value: UInt64, count: Int) {
        var left = count
        while left > 0 {
            let room = 8 - pendingCount
            let take = min(room, left)
            let part = UInt8(truncatingIfNeeded: (value >> UInt64(left - take)) & ((1 << UInt64(take)) - 1))
            pending |= part << UInt8(room - take)
            pendingCount += take
            left -= take
            if pendingCount == 8 {
                bytes.append(pending)
                pending = 0
                pendingCount = 0
            }
        }
    }
}
