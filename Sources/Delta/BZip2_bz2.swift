import FirmchainCore
internal import CBZip2

/// The bzip2 streams of a BSDIFF40 patch, through the system libbz2 (Docs/formats/BSDIFF40.md §4).
/// The only file of the module that calls C; nothing C-typed leaves it.
enum BZip2 {
    /// One complete bzip2 stream of `input`: blockSize100k 9, verbosity 0, workFactor 0 (the
    /// parameters of bsdiff 4.3 and bsdiff4, so equal input gives equal bytes). One thread;
    /// `compress(_:concurrency:)` gives the same bytes on several.
    /// `workFactor` 1 goes straight to libbz2's fallback sort; the bytes are the same for
    /// every work factor (see `BZip2Blocks.fallbackRunWeight`).
    static func compress(_ input: UnsafeBufferPointer<UInt8>, workFactor: Int32 = 0) throws -> [UInt8] {
        // Start small (delta blocks compress well) and grow by half as needed, so memory
        // follows the compressed size rather than the input size.
        try run(input, initialCapacity: input.count / 8 + 4096, singleBlock: false, workFactor: workFactor)!
    }

    /// The bzip2 stream libbz2 makes of `input` (same parameters as `compress(_:)`) if that
    /// stream has exactly one block; nil if libbz2 needed more than one block for it.
    ///
    /// The answer comes from libbz2 itself, not from a model of it: the first
    /// `BZ2_bzCompress(BZ_FINISH)` call gets room for one output byte only. libbz2 then fills
    /// its first block from the input (until the input ends or the block is full), compresses
    /// it and returns after copying one byte (bzlib.c `handle_compress`: a compressed block is
    /// always longer than one byte). Input left over at that point did not fit in the first block.
    ///
    /// - Precondition: `0 < input.count < 2^30` (one `avail_in`).
    static func compressSingleBlock(_ input: UnsafeBufferPointer<UInt8>, workFactor: Int32 = 0) throws -> [UInt8]? {
        precondition(input.count > 0 && input.count < 1 << 30)
        // One block compresses to at most about 1% more than the 900 kB it holds, plus 600
        // bytes (bzip2 manual §3.3); start there and let the loop grow it if ever needed.
        return try run(input, initialCapacity: min(input.count + input.count / 100 + 600, 1 << 20), singleBlock: true,
                       workFactor: workFactor)
    }

    /// Drives one libbz2 compression of `input` to the end of the stream. With `singleBlock`,
    /// the first call may write one byte only and the result is nil when input is left after
    /// it (see `compressSingleBlock`).
    private static func run(_ input: UnsafeBufferPointer<UInt8>, initialCapacity: Int, singleBlock: Bool,
                            workFactor: Int32) throws -> [UInt8]? {
        precondition(workFactor >= 0 && workFactor <= 250)
        var strm = bz_stream()
        guard BZ2_bzCompressInit(&strm, 9, 0, workFactor) == BZ_OK else {
            throw FirmchainError(.deltaCompressionFailed, "BZ2_bzCompressInit failed")
        }
        defer { BZ2_bzCompressEnd(&strm) }
        var out = [UInt8](repeating: 0, count: max(initialCapacity, 1))
        var produced = 0
        var consumed = 0
        var firstCall = true
        while true {
            // avail_in is 32-bit: feed at most 1 GiB per call.
            let chunk = min(input.count - consumed, 1 << 30)
            strm.next_in = chunk > 0
                ? UnsafeMutableRawPointer(mutating: input.baseAddress! + consumed).assumingMemoryBound(to: CChar.self) : nil
            strm.avail_in = UInt32(chunk)
            let last = consumed + chunk == input.count
            if produced == out.count { out.append(contentsOf: [UInt8](repeating: 0, count: max(out.count / 2, 4096))) }
            let room = singleBlock && firstCall ? 1 : 1 << 30
            let rc: Int32 = out.withUnsafeMutableBufferPointer { ob in
                strm.next_out = UnsafeMutableRawPointer(ob.baseAddress! + produced).assumingMemoryBound(to: CChar.self)
                strm.avail_out = UInt32(min(ob.count - produced, room))
                let before = strm.avail_out
                let r = BZ2_bzCompress(&strm, last ? BZ_FINISH : BZ_RUN)
                produced += Int(before - strm.avail_out)
                return r
            }
            consumed += chunk - Int(strm.avail_in)
            if singleBlock && firstCall && consumed != input.count { return nil }
            firstCall = false
            if rc == BZ_STREAM_END { break }
            guard rc == BZ_RUN_OK || rc == BZ_FINISH_OK else {
                throw FirmchainError(.deltaCompressionFailed, "BZ2_bzCompress returned \(rc)")
            }
        }
        if singleBlock {
            // A copy of exactly the stream's size: a block may wait a while for earlier ones.
            return out.withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[..<produced])) }
        }
        out.removeLast(out.count - produced)
        return out
    }

    /// The result of decoding one bzip2 stream from the front of a byte range.
    struct Decoded {
        /// The decompressed bytes.
        var bytes: [UInt8]
        /// How many input bytes the stream occupied.
        var consumed: Int
    }

    /// Decodes exactly one bzip2 stream from the front of `input`, producing at most `limit`
    /// bytes. Memory grows with the actual output, never with a size claimed by the patch.
    ///
    /// - Throws: `delta.patch-truncated` if the stream does not end inside `input`,
    ///   `delta.corrupt-block` for invalid data or a CRC mismatch, `delta.block-mismatch`
    ///   when the stream holds more than `limit` bytes (`what` names the block).
    static func decompress(_ input: UnsafeBufferPointer<UInt8>, limit: Int, what: String) throws -> Decoded {
        var strm = bz_stream()
        guard BZ2_bzDecompressInit(&strm, 0, 0) == BZ_OK else {
            throw FirmchainError(.deltaCompressionFailed, "BZ2_bzDecompressInit failed")
        }
        defer { BZ2_bzDecompressEnd(&strm) }
        var out = [UInt8](repeating: 0, count: min(limit, 1 << 16) + 1)
        var produced = 0
        var consumed = 0
        while true {
            let chunk = min(input.count - consumed, 1 << 30)
            strm.next_in = chunk > 0
                ? UnsafeMutableRawPointer(mutating: input.baseAddress! + consumed).assumingMemoryBound(to: CChar.self) : nil
            strm.avail_in = UInt32(chunk)
            if produced == out.count {
                // Grow geometrically, but never past limit + 1 (one byte more proves "too much").
                let cap = limit + 1
                guard out.count < cap else {
                    throw FirmchainError(.deltaBlockMismatch, "the \(what) block decompresses to more than the \(limit) bytes the patch can use")
                }
                out.append(contentsOf: [UInt8](repeating: 0, count: min(out.count, cap - out.count)))
            }
            let rc: Int32 = out.withUnsafeMutableBufferPointer { ob in
                strm.next_out = UnsafeMutableRawPointer(ob.baseAddress! + produced).assumingMemoryBound(to: CChar.self)
                strm.avail_out = UInt32(min(ob.count - produced, 1 << 30))
                let before = strm.avail_out
                let r = BZ2_bzDecompress(&strm)
                produced += Int(before - strm.avail_out)
                return r
            }
            consumed += chunk - Int(strm.avail_in)
            if rc == BZ_STREAM_END { break }
            switch rc {
            case BZ_OK:
                // No progress with all input used: the stream is cut short.
                if consumed == input.count && produced < out.count {
                    throw FirmchainError(.deltaPatchTruncated, "the \(what) block's bzip2 stream is cut short")
                }
            case BZ_DATA_ERROR, BZ_DATA_ERROR_MAGIC:
                throw FirmchainError(.deltaCorruptBlock, "the \(what) block is not valid bzip2 data (error \(rc))")
            case BZ_MEM_ERROR:
                throw FirmchainError(.internal, "out of memory decoding the \(what) block")
            default:
                throw FirmchainError(.deltaCorruptBlock, "the \(what) block failed to decode (error \(rc))")
            }
        }
        if produced > limit {
            throw FirmchainError(.deltaBlockMismatch, "the \(what) block decompresses to more than the \(limit) bytes the patch can use")
        }
        out.removeLast(out.count - produced)
        return Decoded(bytes: out, consumed: consumed)
    }
}
