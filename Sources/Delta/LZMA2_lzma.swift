import FirmchainCore
internal import CLZMA

/// Raw LZMA2 streams through the system liblzma, for the sections of a firmchain1 patch
/// (Docs/formats/FIRMCHAIN1.md §4). The only file of the module that calls liblzma; nothing
/// C-typed leaves it.
enum LZMA2 {
    /// Smallest and largest dictionary a firmchain1 section may name (§3).
    static let minimumDictionary = 4096
    static let maximumDictionary = 64 << 20

    /// liblzma's `LZMA_FILTER_LZMA2` (a function-like macro Swift does not import).
    static let filterLZMA2: UInt64 = 0x21

    /// LZMA's context bits: lc high bits of the byte before a literal, lp low bits of its
    /// position, pb low bits of the position for matches and the coder's state.
    struct Literal: Sendable, Equatable {
        var lc: UInt32 = 3, lp: UInt32 = 0, pb: UInt32 = 2
    }

    /// One raw LZMA2 stream of `input` with `dictionary` bytes of dictionary: preset 9 with the
    /// longest match length (273). Diff sections are mostly long runs of zeros, which preset
    /// 9's 64 cuts into four times as many matches: 5-17 % larger (T1's diff 67 KB against
    /// 58 KB per 4 MiB); the extreme preset gets the same size in 10 % more time. Since runs of
    /// 128+ zeros became flagged adds, whole patches with nice_len 128 / 64 are +0.2-0.5 % /
    /// +1.3-3.1 % on L1 and W1 (+1.8 % / +8 % on T1, +3.6 % / +6.4 % on S1) and made in 81 % /
    /// 67 % of the time on L1 (RESULTS.md, session 14): size first, as the format's purpose is.
    ///
    /// `preset` below 9 (liblzma's own settings for it, a quick estimate) is for `Recut`.
    /// `literal` sets LZMA's lc, lp and pb (§4 allows lc + lp <= 3; liblzma's default is
    /// 3, 0, 2).
    static func compress(_ input: UnsafeBufferPointer<UInt8>, dictionary: Int, preset: UInt32 = 9,
                         literal: Literal = Literal()) throws -> [UInt8] {
        var options = lzma_options_lzma()
        guard lzma_lzma_preset(&options, preset) == 0 else {
            throw FirmchainError(.deltaCompressionFailed, "liblzma has no preset \(preset)")
        }
        precondition(literal.lc + literal.lp <= 3 && literal.pb <= 4, "firmchain1 allows lc + lp <= 3 (§4)")
        options.dict_size = UInt32(dictionary)
        options.lc = literal.lc
        options.lp = literal.lp
        options.pb = literal.pb
        if preset == 9 { options.nice_len = 273 }
        var strm = lzma_stream()
        let rc = withUnsafeMutablePointer(to: &options) { opt in
            var filters = [lzma_filter(id: filterLZMA2, options: UnsafeMutableRawPointer(opt)),
                           lzma_filter(id: UInt64.max, options: nil)]
            return lzma_raw_encoder(&strm, &filters)
        }
        guard rc == LZMA_OK else { throw FirmchainError(.deltaCompressionFailed, "lzma_raw_encoder failed (\(rc.rawValue))") }
        defer { lzma_end(&strm) }
        // Delta sections compress well: start small and grow by half.
        var out = [UInt8](repeating: 0, count: max(4096, input.count / 8))
        var produced = 0
        strm.next_in = input.baseAddress
        strm.avail_in = input.count
        while true {
            if produced == out.count { out.append(contentsOf: [UInt8](repeating: 0, count: out.count / 2)) }
            let r: lzma_ret = out.withUnsafeMutableBufferPointer { ob in
                strm.next_out = ob.baseAddress! + produced
                strm.avail_out = ob.count - produced
                let r = lzma_code(&strm, LZMA_FINISH)
                produced = ob.count - strm.avail_out
                return r
            }
            if r == LZMA_STREAM_END { break }
            guard r == LZMA_OK else { throw FirmchainError(.deltaCompressionFailed, "liblzma failed to compress (\(r.rawValue))") }
        }
        out.removeSubrange(produced...)
        return out
    }
}

extension LZMA2 {
    /// §4 narrows LZMA2's `lc + lp <= 4` to `<= 3`, so a device's decoder needs at most 7,991
    /// probabilities: walks the stream's chunk headers (liblzma checks everything else) and
    /// refuses a properties byte outside that, as the C applier does. Stops at the end marker or
    /// at the first header that does not parse, which liblzma then refuses.
    static func checkProperties(_ s: UnsafeBufferPointer<UInt8>, what: String) throws {
        var i = 0
        while i < s.count {
            let control = Int(s[i])
            if control == 0 { return }
            if control == 1 || control == 2 {
                guard i + 2 < s.count else { return }
                i += 3 + (Int(s[i + 1]) << 8 | Int(s[i + 2])) + 1
            } else if control >= 0x80 {
                guard i + 4 < s.count else { return }
                let packed = (Int(s[i + 3]) << 8 | Int(s[i + 4])) + 1
                i += 5
                if control >= 0xC0 {
                    guard i < s.count else { return }
                    let props = Int(s[i])
                    if props < 225 && props % 9 + (props / 9) % 5 > 3 {
                        throw FirmchainError(.deltaCorruptBlock, "the \(what) section uses LZMA2 properties lc \(props % 9), lp \((props / 9) % 5): firmchain1 allows lc + lp <= 3")
                    }
                    i += 1
                }
                i += packed
            } else {
                return
            }
        }
    }
}

/// One section of an untrusted firmchain1 patch, decompressed on demand: at most `length`
/// bytes come out, and `finish` checks that the stream ends exactly at its last compressed
/// byte with exactly `length` bytes made (§4). Errors name the section (`what`).
final class LZMA2Reader {
    let what: String
    let length: Int
    private(set) var produced = 0
    private var strm = lzma_stream()
    private var ended = false

    init(_ section: UnsafeBufferPointer<UInt8>, dictionary: Int, length: Int, what: String) throws {
        self.what = what
        self.length = length
        try LZMA2.checkProperties(section, what: what)
        var options = lzma_options_lzma()
        options.dict_size = UInt32(dictionary)
        let rc = withUnsafeMutablePointer(to: &options) { opt in
            var filters = [lzma_filter(id: LZMA2.filterLZMA2, options: UnsafeMutableRawPointer(opt)), lzma_filter(id: UInt64.max, options: nil)]
            return lzma_raw_decoder(&strm, &filters)
        }
        guard rc == LZMA_OK else {
            throw FirmchainError(.deltaCorruptBlock, "the \(what) section's LZMA2 decoder cannot start (dictionary \(dictionary) bytes)")
        }
        strm.next_in = section.baseAddress
        strm.avail_in = section.count
    }

    deinit { lzma_end(&strm) }

    /// Decodes up to `count` bytes into `into`; fewer only at the end of the section's data.
    func read(into buffer: UnsafeMutablePointer<UInt8>, count: Int) throws -> Int {
        guard count > 0, !ended else { return 0 }
        let want = min(count, length - produced)
        guard want > 0 else { return 0 }
        strm.next_out = buffer
        strm.avail_out = want
        while strm.avail_out > 0 && !ended {
            let r = lzma_code(&strm, LZMA_RUN)
            if r == LZMA_STREAM_END { ended = true; break }
            guard r == LZMA_OK else { throw corrupt(r) }
            if strm.avail_in == 0 && strm.avail_out > 0 {
                // All input used, output still wanted, and no end marker: cut short.
                throw FirmchainError(.deltaCorruptBlock, "the \(what) section ends before its LZMA2 stream does")
            }
        }
        let got = want - strm.avail_out
        produced += got
        return got
    }

    /// Checks that the section made exactly `length` bytes and its stream ended at the
    /// section's last byte.
    func finish() throws {
        guard produced == length else {
            throw FirmchainError(.deltaBlockMismatch, "uses \(produced) of the \(length) bytes its \(what) section declares")
        }
        if !ended {
            // The stream may hold more than `length` bytes: one more byte out means it does.
            let extra = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
            defer { extra.deallocate() }
            strm.next_out = extra
            strm.avail_out = 1
            while !ended {
                let r = lzma_code(&strm, LZMA_RUN)
                if r == LZMA_STREAM_END { ended = true; break }
                guard r == LZMA_OK else { throw corrupt(r) }
                if strm.avail_out == 0 {
                    throw FirmchainError(.deltaBlockMismatch, "has more in its \(what) section than the \(length) bytes its header declares")
                }
                if strm.avail_in == 0 {
                    throw FirmchainError(.deltaCorruptBlock, "the \(what) section ends before its LZMA2 stream does")
                }
            }
        }
        guard strm.avail_in == 0 else {
            throw FirmchainError(.deltaCorruptBlock, "the \(what) section's LZMA2 stream ends \(strm.avail_in) bytes before the section does")
        }
    }

    private func corrupt(_ r: lzma_ret) -> FirmchainError {
        r == LZMA_MEM_ERROR
            ? FirmchainError(.deltaCorruptBlock, "the \(what) section needs more memory than liblzma could get")
            : FirmchainError(.deltaCorruptBlock, "the \(what) section is not a valid LZMA2 stream (liblzma error \(r.rawValue))")
    }
}
