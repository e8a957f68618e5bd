import Foundation

/// How the firmchain1 writer lays out and compresses its diff and extra sections
/// (Docs/formats/FIRMCHAIN1.md §3 "Alignment", §4 "Choosing a coding").
///
/// LZMA's contexts see a byte's position in the stream it decodes (pb, lp) and the byte before
/// it (lc). A diff or extra section is new's bytes with gaps (extra bytes, adds flagged as copies
/// of old), so a section position says nothing about where the byte sits in new: the low bits of
/// an instruction word or a pointer land anywhere. With an alignment A, the writer pads the
/// section with zeros before each add (or copy) so that every byte sits at a section position
/// congruent to its position in new modulo A, and LZMA's position contexts line up with new's
/// words. Whether that pays depends on the image: on 4-byte instruction sets (arm64) the diff
/// and extra sections shrink 1-5 %, on x86 code the extra section grows. The writer estimates
/// each candidate on samples of the section and keeps the cheapest.
extension FirmchainDelta1 {
    /// One way to write a section: its alignment (a power of two, at most 16) and LZMA's
    /// context bits for it.
    struct Coding: Sendable, Equatable {
        var alignment: Int
        var literal: LZMA2.Literal

        /// The header's shift for `alignment` (§1).
        var shift: Int { alignment.trailingZeroBitCount }

        /// The section as earlier writers wrote it: unaligned, liblzma's lc 3, lp 0, pb 2.
        static let plain = Coding(alignment: 1, literal: LZMA2.Literal())
        /// The control section's: its LEB128 bytes have no position to align to, and the byte
        /// before says little (lc 1, pb 0: control sections 0.3-4 % smaller on the tuning pairs
        /// than with lc 3, pb 2; whole patches 0.03-0.4 %).
        static let control = Coding(alignment: 1, literal: LZMA2.Literal(lc: 1, lp: 0, pb: 0))
        /// What the writer weighs: unaligned without position bits (pb 0), aligned to 4 with
        /// the position in the literal context (lp 2, lc 1) and without. Measured on the
        /// corpus's tuning pairs (RESULTS.md, session 20): `plain`, lc 0 and 8-byte alignment
        /// were never better than the best of these by more than 0.2 % of a patch, and each
        /// candidate costs its samples' compression.
        static let candidates = [
            Coding(alignment: 1, literal: LZMA2.Literal(lc: 3, lp: 0, pb: 0)),
            Coding(alignment: 4, literal: LZMA2.Literal(lc: 3, lp: 0, pb: 2)),
            Coding(alignment: 4, literal: LZMA2.Literal(lc: 1, lp: 2, pb: 2)),
        ]
    }

    /// Where one add's diff bytes (or one copy's extra bytes) go: the position in new of its
    /// first byte and how many bytes it has. A section is its parts' bytes in order.
    struct Part: Sendable {
        var newpos: Int, length: Int
    }

    /// Samples per section, and their length in bytes of the section before padding: 8 x 32
    /// KiB picked the best candidate, or one within 0.2 % of a patch, on every tuning pair;
    /// 4 x 32 KiB missed W1's diff by 1.2 %.
    static let codingSamples = 8, codingSampleLength = 32 << 10
    /// Sections up to this long are compressed whole under every candidate instead (the choice
    /// exact, the winner's bytes kept): about the samples' and the final compression's cost.
    static let codingWhole = 512 << 10

    /// `bytes` (a section before padding, made of `parts`) padded for `alignment` (§3): before
    /// each part, zeros until the section's position, counted from `start`, is congruent to the
    /// part's position in new. Alignment 1 returns `bytes` as they are.
    static func pad(_ bytes: [UInt8], parts: [Part], alignment: Int, start: Int = 0) -> [UInt8] {
        guard alignment > 1 else { return bytes }
        let layout = Layout(parts)
        precondition(layout.total == bytes.count, "the parts cover the section")
        return layout.padded(bytes, 0..<bytes.count, alignment: alignment, start: start)
    }

    /// Where each part of a section starts in its unpadded bytes.
    struct Layout {
        let parts: [Part]
        let starts: [Int]
        let total: Int

        init(_ parts: [Part]) {
            var starts = [Int](), at = 0
            starts.reserveCapacity(parts.count)
            for part in parts { starts.append(at); at += part.length }
            (self.parts, self.starts, total) = (parts, starts, at)
        }

        /// `bytes[range]` (the unpadded section) padded as §3 pads it for `alignment`, the first
        /// byte out standing for section position `start`: before each part's bytes (or the
        /// range's first byte), zeros until the position is congruent to its position in new.
        func padded(_ bytes: [UInt8], _ range: Range<Int>, alignment: Int, start: Int) -> [UInt8] {
            guard !range.isEmpty else { return [] }
            // The part holding the range's first byte: the last whose start is at or before it.
            var lo = 0, hi = parts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= range.lowerBound { lo = mid } else { hi = mid - 1 }
            }
            var out = [UInt8]()
            out.reserveCapacity(range.count + range.count / 4)
            let mask = alignment - 1
            var i = lo, offset = range.lowerBound - starts[lo]
            while i < parts.count && starts[i] + offset < range.upperBound {
                let take = min(parts[i].length - offset, range.upperBound - starts[i] - offset)
                if take > 0 {
                    let gap = (parts[i].newpos + offset - (start + out.count)) & mask
                    if gap > 0 { out.append(contentsOf: repeatElement(0, count: gap)) }
                    out += bytes[starts[i] + offset..<starts[i] + offset + take]
                }
                i += 1
                offset = 0
            }
            return out
        }
    }

    /// The candidate (`Coding.candidates`) whose samples of `section` (1 diff, 2 extra)
    /// compress smallest; `Coding.plain` for an empty section. The samples are the same bytes of
    /// the section for every candidate (each padded as the candidate pads them),
    /// `codingSamples` evenly spaced runs of `codingSampleLength`, or the whole section if it is
    /// at most `codingWhole` bytes: then `whole` is the chosen candidate's compression of the whole padded
    /// section with the writer's dictionary for it, one piece (`pieces(of:)`), ready to use.
    /// The candidates are compressed on up to `concurrency` threads.
    static func chooseCoding(_ bytes: [UInt8], parts: [Part], section: Int, concurrency: Int) -> (coding: Coding, whole: [UInt8]?) {
        guard !bytes.isEmpty else { return (.plain, nil) }
        let total = bytes.count
        let whole = total <= codingWhole
        let sampleCount = whole ? 1 : codingSamples, sampleLength = whole ? total : codingSampleLength
        let layout = Layout(parts)
        precondition(layout.total == total, "the parts cover the section")
        // Sample k, padded as a candidate of `alignment` pads it (its first byte at a section
        // position congruent to 0: the whole section is then exactly what `pad` makes).
        func sample(_ k: Int, alignment: Int) -> [UInt8] {
            let from = sampleCount == 1 ? 0 : k * (total - sampleLength) / (sampleCount - 1)
            return layout.padded(bytes, from..<from + sampleLength, alignment: alignment, start: 0)
        }
        let candidates = Coding.candidates
        let jobs = candidates.count * sampleCount
        nonisolated(unsafe) var sizes = [Int](repeating: 0, count: jobs)
        nonisolated(unsafe) var outputs = [[UInt8]](repeating: [], count: whole ? jobs : 0)
        let lock = NSLock()
        nonisolated(unsafe) let shared = sample
        let sampled = dictionary(for: total, section: section)
        let work: @Sendable (Int) -> Void = { j in
            let c = candidates[j / sampleCount]
            let bytes = shared(j % sampleCount, c.alignment)
            // The whole section with the dictionary `write` gives it padded; samples with the
            // section's.
            let d = whole ? dictionary(for: bytes.count, section: section) : sampled
            // A failure (memory) scores -1: the section is then written plain, and its own
            // compression reports the failure.
            let out = try? bytes.withUnsafeBufferPointer { try LZMA2.compress($0, dictionary: d, literal: c.literal) }
            lock.lock()
            sizes[j] = out?.count ?? -1
            if whole, let out { outputs[j] = out }
            lock.unlock()
        }
        if concurrency <= 1 {
            for j in 0..<jobs { work(j) }
        } else {
            DispatchQueue.concurrentPerform(iterations: jobs, execute: work)
        }
        guard !sizes.contains(-1) else { return (.plain, nil) }
        var best = 0, bestSize = Int.max
        for c in candidates.indices {
            let size = sizes[c * sampleCount..<(c + 1) * sampleCount].reduce(0, +)
            if size < bestSize { best = c; bestSize = size }
        }
        return (candidates[best], whole ? outputs[best] : nil)
    }
}
