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
}

/// One bzip2 stream decoded on demand from the front of a byte range, at most `limit` bytes.
/// libbz2's state points back at its `bz_stream`, so the stream lives at a fixed address.
final class BZip2Reader {
    let what: String
    private let limit: Int
    private let stream: UnsafeMutablePointer<bz_stream>
    private let input: UnsafeBufferPointer<UInt8>
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private var start = 0, end = 0, produced = 0, ended = false

    /// Bytes of the range after the stream's end (meaningful once the stream ended).
    var unusedInput: Int { Int(stream.pointee.avail_in) }

    init(_ input: UnsafeBufferPointer<UInt8>, limit: Int, what: String) throws {
        self.input = input
        self.limit = limit
        self.what = what
        stream = .allocate(capacity: 1)
        stream.initialize(to: bz_stream())
        buffer = .allocate(capacity: 1 << 16)
        guard BZ2_bzDecompressInit(stream, 0, 0) == BZ_OK else {
            stream.deallocate(); buffer.deallocate()
            throw FirmchainError(.deltaCompressionFailed, "BZ2_bzDecompressInit failed for the \(what) block")
        }
        stream.pointee.next_in = input.count > 0
            ? UnsafeMutableRawPointer(mutating: input.baseAddress!).assumingMemoryBound(to: CChar.self) : nil
        stream.pointee.avail_in = UInt32(input.count)
    }

    deinit {
        BZ2_bzDecompressEnd(stream)
        stream.deallocate()
        buffer.deallocate()
    }

    /// Copies the next `count` bytes of the stream to `destination`; fewer only at its end.
    func read(into destination: UnsafeMutablePointer<UInt8>, count: Int) throws -> Int {
        var done = 0
        while done < count {
            if start == end {
                if ended { break }
                try refill()
                continue
            }
            let take = min(count - done, end - start)
            (destination + done).update(from: buffer.baseAddress! + start, count: take)
            start += take; done += take
        }
        return done
    }

    /// Whether every byte of the stream was read (decoding on to its end if need be).
    func isAtEnd() throws -> Bool {
        while start == end && !ended { try refill() }
        return start == end
    }

    private func refill() throws {
        stream.pointee.next_out = UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
        stream.pointee.avail_out = UInt32(buffer.count)
        let inputBefore = stream.pointee.avail_in
        let rc = BZ2_bzDecompress(stream)
        let n = buffer.count - Int(stream.pointee.avail_out)
        start = 0; end = n; produced += n
        if produced > limit {
            throw FirmchainError(.deltaBlockMismatch, "the \(what) block decompresses to more than the \(limit) bytes the patch can use")
        }
        switch rc {
        case BZ_STREAM_END:
            ended = true
        case BZ_OK:
            // No progress with all input used: the stream is cut short.
            if n == 0 && stream.pointee.avail_in == 0 && inputBefore == 0 {
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
}
