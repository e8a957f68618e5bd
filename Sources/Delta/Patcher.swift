import FirmchainCore

/// Applies an untrusted BSDIFF40 patch to `old` (Docs/formats/BSDIFF40.md §1, §3, §5), handing
/// the new file on in chunks as it is made: memory is the old file, the patch, three bzip2
/// decoders and one chunk, whatever size the patch declares — so a device-side tool can apply a
/// patch that makes a 1 GiB image, and a hostile 874-byte patch declaring one costs nothing until
/// its bytes really decode. The caller writes the chunks somewhere it can throw away (a temporary
/// file) and keeps them only when `apply` returns: every rule is checked before it returns, and
/// most of them before the first chunk.
///
/// Rules enforced (stricter than either reference reader where they differ, so a patch accepted
/// here applies with both Debian bspatch and bsdiff4):
/// 1. at least 32 bytes; magic equals all 8 bytes `BSDIFF40`;
/// 2. X >= 0, Y >= 0, 0 <= N <= `maxNewSize`, 32 + X + Y <= patch length;
/// 3. the diff block is one bzip2 stream filling exactly Y bytes, the extra block one stream
///    running exactly to the end of the patch; each decodes to at most N bytes;
/// 4. the control block is one stream filling exactly X bytes, decoding to a multiple of 24
///    bytes, at most 24 x (N + 1024) (one triple per output byte plus 1024 empty ones), with
///    at most 1024 triples that produce nothing;
/// 5. per triple: 0 <= add, copy <= 2^31 - 1, the output cursor stays <= N, diff and extra hold
///    the bytes it needs;
/// 6. after all triples the output cursor equals N and diff and extra are used exactly.
///    Trailing triples that produce nothing are allowed (both readers accept them).
///
/// Old bytes outside [0, oldsize): upstream bsdiff 4.3 and bsdiff4 read them as 0; Debian's
/// bspatch reads out of bounds below 0 (§5). Firmchain **rejects** any add step that would read
/// outside `old` (`delta.old-out-of-range`), failing closed (Docs/architecture.md "Rules that hold
/// everywhere"): no writer we know of (bsdiff 4.3, bsdiff4, Firmchain) produces such an add, so a
/// patch that needs one is hostile or meant for another old file.
public enum Patcher {
    /// The bytes handed to `write` at a time (the last chunk may be shorter).
    public static let chunkSize = 1 << 20

    /// Applies `patch` to `old`, calling `write` with each chunk of the new file in order;
    /// returns N, the new file's size.
    ///
    /// - Throws: the `delta.*` code of the rule the patch broke (`Docs/exit-codes.md`), or what
    ///   `write` throws. Chunks already handed on are then meaningless: discard them.
    @discardableResult
    public static func apply(old: UnsafeBufferPointer<UInt8>, patch: UnsafeBufferPointer<UInt8>, maxNewSize: Int,
                             write: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        // 1, 2. Header and sizes.
        guard patch.count >= BSDIFF40.headerSize else {
            throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes, shorter than the 32-byte BSDIFF40 header")
        }
        guard patch.prefix(8).elementsEqual(BSDIFF40.magic) else {
            throw FirmchainError(.deltaBadMagic, "does not start with BSDIFF40 or FCDELTA1 (not a patch Firmchain reads)")
        }
        let x = BSDIFF40.decodeInteger(patch, at: 8), y = BSDIFF40.decodeInteger(patch, at: 16), n = BSDIFF40.decodeInteger(patch, at: 24)
        guard x >= 0, y >= 0, n >= 0 else {
            throw FirmchainError(.deltaBadHeader, "has a negative size in its header (X=\(x), Y=\(y), N=\(n))")
        }
        guard n <= Int64(maxNewSize) else {
            throw FirmchainError(.deltaTooLarge, "declares a \(n)-byte output, more than the limit of \(maxNewSize)")
        }
        let available = Int64(patch.count - BSDIFF40.headerSize)
        guard x <= available, y <= available - x else {
            throw FirmchainError(.deltaPatchTruncated, "is \(patch.count) bytes but its header declares blocks of \(x) and \(y) bytes")
        }
        guard patch.count <= Int(UInt32.max) else {
            throw FirmchainError(.deltaTooLarge, "is \(patch.count) bytes; a patch is read up to 4 GiB")
        }
        let newSize = Int(n), cStart = BSDIFF40.headerSize, dStart = cStart + Int(x), eStart = dStart + Int(y)
        let block = { (r: Range<Int>) in UnsafeBufferPointer(rebasing: patch[r]) }
        // 3, 4. One decoder per block, each bounded by what the block may hold.
        let control = try BZip2Reader(block(cStart..<dStart), limit: 24 * (newSize + 1024), what: "control")
        let diff = try BZip2Reader(block(dStart..<eStart), limit: newSize, what: "diff")
        let extra = try BZip2Reader(block(eStart..<patch.count), limit: newSize, what: "extra")

        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, min(chunkSize, newSize)))
        defer { out.deallocate() }
        var filled = 0
        func flush() throws {
            if filled > 0 { try write(UnsafeBufferPointer(rebasing: out[0..<filled])) }
            filled = 0
        }
        let oldSize = Int64(old.count)
        var newpos: Int64 = 0, oldpos: Int64 = 0, index = 0, empty = 0
        var triple = [UInt8](repeating: 0, count: 24)
        while true {
            let got = try triple.withUnsafeMutableBufferPointer { try control.read(into: $0.baseAddress!, count: 24) }
            if got == 0 { break }
            guard got == 24 else {
                throw FirmchainError(.deltaBadControl, "has a control block of \(index * 24 + got) bytes, not a multiple of 24")
            }
            let add = BSDIFF40.decodeInteger(triple, at: 0), copy = BSDIFF40.decodeInteger(triple, at: 8), seek = BSDIFF40.decodeInteger(triple, at: 16)
            // 5. The triple, before any byte of it is made.
            guard add >= 0, copy >= 0 else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) has a negative length (\(add), \(copy))")
            }
            guard add <= BSDIFF40.maxTripleLength, copy <= BSDIFF40.maxTripleLength else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) moves more than 2^31 - 1 bytes")
            }
            guard add <= n - newpos, copy <= n - newpos - add else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) writes past the declared output size \(n)")
            }
            // Rule 4's 1024 triples that produce nothing, counted: more would cost decoding and
            // loop turns out of all proportion to the output.
            if add == 0 && copy == 0 {
                empty += 1
                guard empty <= 1024 else {
                    throw FirmchainError(.deltaBadControl, "has more than 1024 control triples that produce nothing")
                }
            }
            if add > 0 {
                guard oldpos >= 0, oldpos <= oldSize, add <= oldSize - oldpos else {
                    throw FirmchainError(.deltaOldOutOfRange, "control triple \(index) adds old bytes [\(oldpos), \(oldpos &+ add)) outside the \(oldSize)-byte old file (wrong old file, or a hostile patch)")
                }
            }
            // Add: diff bytes plus old bytes, chunk by chunk.
            var remaining = Int(add), op = Int(oldpos)
            while remaining > 0 {
                if filled == out.count { try flush() }
                let take = min(remaining, out.count - filled)
                let o = out.baseAddress! + filled
                guard try diff.read(into: o, count: take) == take else {
                    throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more diff bytes than the patch holds")
                }
                let s = old.baseAddress! + op
                for i in 0..<take { o[i] = o[i] &+ s[i] }
                filled += take; op += take; remaining -= take
            }
            // Copy: extra bytes as they are.
            remaining = Int(copy)
            while remaining > 0 {
                if filled == out.count { try flush() }
                let take = min(remaining, out.count - filled)
                guard try extra.read(into: out.baseAddress! + filled, count: take) == take else {
                    throw FirmchainError(.deltaBlockMismatch, "control triple \(index) needs more extra bytes than the patch holds")
                }
                filled += take; remaining -= take
            }
            newpos += add + copy
            var (p, o1) = oldpos.addingReportingOverflow(add)
            (p, o1) = o1 ? (p, true) : p.addingReportingOverflow(seek)
            guard !o1 else {
                throw FirmchainError(.deltaBadControl, "control triple \(index) moves the old cursor out of the 64-bit range")
            }
            oldpos = p
            index += 1
        }
        // 6. Totals, and each stream filling its block exactly.
        guard newpos == n else {
            throw FirmchainError(.deltaSizeMismatch, "control triples produce \(newpos) bytes, the header says \(n)")
        }
        for reader in [diff, extra] {
            guard try reader.isAtEnd() else { throw FirmchainError(.deltaBlockMismatch, "leaves \(reader.what) bytes unused") }
        }
        for reader in [control, diff, extra] where reader.unusedInput > 0 {
            if reader.what == "extra" {
                throw FirmchainError(.deltaTrailingData, "has \(reader.unusedInput) bytes after the extra block's bzip2 stream")
            }
            throw FirmchainError(.deltaCorruptBlock, "the \(reader.what) block's bzip2 stream ends \(reader.unusedInput) bytes before the block does")
        }
        try flush()
        return newSize
    }

    /// The new file in memory: `apply` into one array of N bytes.
    public static func apply(old: UnsafeBufferPointer<UInt8>, patch: UnsafeBufferPointer<UInt8>, maxNewSize: Int) throws -> [UInt8] {
        var new = [UInt8]()
        try apply(old: old, patch: patch, maxNewSize: maxNewSize) { new.append(contentsOf: $0) }
        return new
    }
}
