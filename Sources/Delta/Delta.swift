import FirmchainCore
import Foundation
import SuffixArray

/// Patch formats Firmchain writes.
public enum DeltaFormat: String, Sendable, CaseIterable {
    /// bsdiff 4.x (Docs/formats/BSDIFF40.md), applied by Debian `bspatch` and PyPI `bsdiff4`.
    case bsdiff40
    /// Firmchain's own format (Docs/formats/FIRMCHAIN1.md): the same triples, LZMA2 sections,
    /// the old and new images' lengths and sha256 inside; for fleets that ship their own
    /// applier (the C one in `CFirmchainPatch`, or `firmchain delta apply`).
    case firmchain1

    /// The file name extension a release gives patches of this format (`bsdiff`, `fcdelta`).
    public var fileExtension: String {
        switch self {
        case .bsdiff40: "bsdiff"
        case .firmchain1: "fcdelta"
        }
    }

    /// The format of `patch`, by its magic; nil if it is neither.
    public static func of(_ patch: UnsafeBufferPointer<UInt8>) -> DeltaFormat? {
        if patch.count >= 8 && patch.prefix(8).elementsEqual(BSDIFF40.magic) { return .bsdiff40 }
        if patch.count >= 8 && patch.prefix(8).elementsEqual(FirmchainDelta1.magic) { return .firmchain1 }
        return nil
    }
}

/// Options for `Delta.create`.
public struct DeltaCreateOptions: Sendable {
    /// The patch format.
    public var format: DeltaFormat = .bsdiff40
    /// Alignment tuning (see `AlignmentOptions`).
    public var alignment = AlignmentOptions()
    /// Default options.
    public init() {}
}

/// Limits for `Delta.apply`: a patch is untrusted, so its header never decides memory alone.
public struct DeltaApplyLimits: Sendable {
    /// Largest output the header may declare (default 2^31 - 1, Debian bsdiff's own limit).
    public var maxNewSize: Int = Int(Int32.max)
    /// Largest old or patch file read from disk by `applyFile`.
    public var maxInputSize: Int = Int(Int32.max)
    /// Default limits.
    public init() {}
    /// Limits with the given maximum output size.
    public init(maxNewSize: Int) { self.maxNewSize = maxNewSize }
}

/// Creating and applying binary deltas: the suffix array (`SuffixArray`), bsdiff's alignment
/// (`Alignment`), the BSDIFF40 format (`BSDIFF40`) and its checked, streaming application (`Patcher`).
public enum Delta {
    /// Largest old or new input `create` accepts: 32-bit suffix-array indices, and Debian
    /// bspatch's 2^31 - 1 bytes per triple.
    public static let maxInputSize = Int(Int32.max) - 1

    /// The patch (in `options.format`) that turns `old` into `new`.
    ///
    /// Every step runs on `options.alignment.threads` threads (0: one per core; 1: one thread
    /// throughout).
    ///
    /// Steps: (1) suffix array of `old` (its byte-level passes on all the threads); (2) alignment scan over it, giving control triples;
    /// (3) the suffix array is released, then the diff/extra blocks are built and the three
    /// bzip2 streams compressed block by block on all cores (`BSDIFF40.write`). Peak memory:
    /// old + new + 4 x old (suffix array) during (1)-(2) (plus what the suffix sort itself
    /// needs), old + 3 x new during (3). When new is old, (1) and (2) are skipped: their one
    /// triple is known (`identicalInputTriples`).
    ///
    /// - Throws: `delta.input-too-large` if either input is >= 2^31 - 1 bytes.
    public static func create(old: [UInt8], new: [UInt8], options: DeltaCreateOptions = DeltaCreateOptions(),
                              progress: ProgressReporter = SilentProgress()) throws -> [UInt8] {
        guard old.count <= maxInputSize, new.count <= maxInputSize else {
            throw FirmchainError(.deltaInputTooLarge, "inputs must be smaller than 2 GiB - 1 bytes (32-bit suffix-array indices)")
        }
        let triples = try computeTriples(old: old, new: new, options: options, progress: progress)
        progress.report(phase: "compressing", completed: 0, total: 1)
        let patch = try old.withUnsafeBufferPointer { o in
            try new.withUnsafeBufferPointer { n in
                switch options.format {
                case .bsdiff40: try BSDIFF40.write(old: o, new: n, triples: triples, concurrency: options.alignment.resolvedThreads)
                case .firmchain1: try FirmchainDelta1.write(old: o, new: n, triples: triples, concurrency: options.alignment.resolvedThreads)
                }
            }
        }
        progress.report(phase: "compressing", completed: 1, total: 1)
        return patch
    }

    /// About the most memory `create` takes for inputs of these sizes: 5 x old + new while the
    /// suffix array lives (old, new, the array, the sampled keys and the scan's state), old + 3 x
    /// new while the patch is written, plus 64 MiB for the compressors, threads and runtime (the
    /// budget `Benchmarks/delta` checks every corpus pair against).
    public static func memoryNeeded(oldSize: Int, newSize: Int) -> Int {
        max(5 * oldSize + newSize, oldSize + 3 * newSize) + (64 << 20)
    }

    /// Refuses, before anything is read, inputs that `create` could not finish within the
    /// process's memory limits (`MemoryLimit.current()`: `ulimit -v`, where an allocation fails
    /// and the program aborts, and a container's cgroup limit, where the kernel kills it part
    /// way without a word). Each limit is held against its own need.
    ///
    /// - Throws: `delta.not-enough-memory` for the first limit that is too small, saying what
    ///   the inputs need, what the limit leaves, and the windowed alternative.
    public static func checkMemory(oldSize: Int, newSize: Int, limits: [MemoryLimit.Headroom] = MemoryLimit.current()) throws {
        let inUse = memoryNeeded(oldSize: oldSize, newSize: newSize)
        // Under an address-space limit the threads' malloc arenas and stacks count too: measured
        // (VmPeak less the size at this check) 61-65 MiB above `memoryNeeded` on L1, M1 and T1
        // with 2 cores. 48 MiB per core is an allowance scaled from there (each thread that
        // allocates gets an arena of its own), not a measurement on larger machines.
        let arenas = ProcessInfo.processInfo.activeProcessorCount * (48 << 20)
        for limit in limits {
            let need = limit.addressSpace ? inUse + arenas : inUse
            guard limit.bytes < need else { continue }
            throw FirmchainError(.deltaNotEnoughMemory,
                                 "these inputs need about \(need >> 20) MiB, but \(limit.source) leaves this process \(limit.bytes >> 20) MiB; "
                                     + "raise the limit, or make a firmchain1 patch window by window (--format firmchain1 --max-memory SIZE)")
        }
    }

    /// Steps (1) and (2) of `create`; the suffix array dies when this returns.
    static func computeTriples(old: [UInt8], new: [UInt8], options: DeltaCreateOptions,
                               progress: ProgressReporter) throws -> [ControlTriple] {
        if let triples = identicalInputTriples(old: old, new: new, options: options.alignment) { return triples }
        progress.report(phase: "suffix sort", completed: 0, total: Int64(old.count))
        let sa = try SuffixArray.build(old, threads: options.alignment.resolvedThreads)
        progress.report(phase: "suffix sort", completed: Int64(old.count), total: Int64(old.count))
        let total = Int64(new.count)
        return old.withUnsafeBufferPointer { o in
            new.withUnsafeBufferPointer { n in
                sa.withUnsafeBufferPointer { s in
                    Alignment.triples(old: o, new: n, suffixArray: s, options: options.alignment) { done in
                        progress.report(phase: "matching", completed: Int64(done), total: total)
                    }
                }
            }
        }
    }

    /// The scan's triples when `new` is `old` (an image rebuilt without change), without the
    /// suffix sort; nil otherwise. The scan's first search at 0 finds all of old, whose score
    /// at offset 0 is its whole length, so nothing is emitted until the end of new: then one
    /// triple adds all n bytes (forward extension over the whole file), copies none, and seeks
    /// back to the match at 0 (`seek` -n); empty inputs give none. The tests compare it with
    /// the scan. bsdiff 4.3's original search (`AlignmentOptions.classic`) is left to the scan.
    static func identicalInputTriples(old: [UInt8], new: [UInt8], options: AlignmentOptions) -> [ControlTriple]? {
        guard options.prefixAwareSearch, old.count == new.count, old == new else { return nil }
        return old.isEmpty ? [] : [ControlTriple(add: Int64(old.count), copy: 0, seek: -Int64(old.count))]
    }

    /// Applies an untrusted patch of either format (by its magic: `Patcher` for BSDIFF40,
    /// `FirmchainDelta1.apply` for firmchain1), handing the new file on in chunks; returns N.
    @discardableResult
    public static func apply(old: UnsafeBufferPointer<UInt8>, patch: UnsafeBufferPointer<UInt8>, maxNewSize: Int,
                             write: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        switch DeltaFormat.of(patch) {
        case .firmchain1: try FirmchainDelta1.apply(old: old, patch: patch, maxNewSize: maxNewSize, write: write)
        case .bsdiff40, nil: try Patcher.apply(old: old, patch: patch, maxNewSize: maxNewSize, write: write)
        }
    }

    /// The new file made from `old` and an untrusted `patch` of either format (see `Patcher`
    /// and `FirmchainDelta1.apply` for the rules). Memory: old + patch + N for the output (N <= `limits.maxNewSize`, backed by real
    /// decompressed data) + three bzip2 decoders; `Patcher.apply(old:patch:maxNewSize:write:)`
    /// streams the output instead.
    public static func apply(old: [UInt8], patch: [UInt8], limits: DeltaApplyLimits = DeltaApplyLimits()) throws -> [UInt8] {
        try old.withUnsafeBufferPointer { o in
            try patch.withUnsafeBufferPointer { p in
                var new = [UInt8]()
                try apply(old: o, patch: p, maxNewSize: limits.maxNewSize) { new.append(contentsOf: $0) }
                return new
            }
        }
    }

    /// What a streamed application made: the new file's length and sha256.
    public struct Applied: Sendable, Equatable {
        /// N, the new file's length.
        public var length: Int
        /// sha256 hex of the new file.
        public var sha256: String
        /// The length and sha256 of the old file and of the patch as they were read and applied
        /// (`applyFile`; nil from `digestOfApplying`).
        public var old: (length: Int, sha256: String)?, patch: (length: Int, sha256: String)?
        /// The patch's format (`applyFile`; nil from `digestOfApplying`).
        public var format: DeltaFormat?

        /// A result from its parts.
        public init(length: Int, sha256: String, old: (length: Int, sha256: String)? = nil, patch: (length: Int, sha256: String)? = nil,
                    format: DeltaFormat? = nil) {
            self.length = length
            self.sha256 = sha256
            self.old = old
            self.patch = patch
            self.format = format
        }

        /// Results compare by what was made.
        public static func == (a: Applied, b: Applied) -> Bool { a.length == b.length && a.sha256 == b.sha256 }
    }

    /// The length and sha256 of what `patch` makes from `old`, never holding the new file (a
    /// verifier checking a delta against its manifest).
    public static func digestOfApplying(old: [UInt8], patch: [UInt8], limits: DeltaApplyLimits = DeltaApplyLimits()) throws -> Applied {
        var hash = DigestCalculator.Streaming()
        let n = try old.withUnsafeBufferPointer { o in
            try patch.withUnsafeBufferPointer { p in try apply(old: o, patch: p, maxNewSize: limits.maxNewSize) { hash.update($0) } }
        }
        return Applied(length: n, sha256: hash.sha256Hex())
    }

    /// Reads `oldPath` and `patchPath`, applies the patch and streams the new file to a temporary
    /// file beside `outPath`, hashed as it is written; renames it into place only when the whole
    /// patch checked out and the result has `expectedLength` and `expectedSHA256` (when given,
    /// from the manifest). On any error nothing appears at `outPath` (an existing file there is
    /// left untouched). Memory: old + patch + one chunk, whatever size the patch declares.
    ///
    /// - Throws: the patch's `delta.*` code naming `patchPath`; `delta.result-mismatch` when the
    ///   result is not the expected one; `io.*` for the files.
    @discardableResult
    public static func applyFile(oldPath: String, patchPath: String, outPath: String, limits: DeltaApplyLimits = DeltaApplyLimits(),
                                 expectedLength: Int? = nil, expectedSHA256: String? = nil) throws -> Applied {
        let old = try FileIO.read(oldPath, limit: limits.maxInputSize)
        let patch = try FileIO.read(patchPath, limit: limits.maxInputSize)
        let writer = try AtomicFileWriter(path: outPath)
        var hash = DigestCalculator.Streaming()
        let length: Int
        do {
            // A known length bounds the output before the patch can make the tool write it.
            let bound = min(limits.maxNewSize, expectedLength ?? limits.maxNewSize)
            length = try old.withUnsafeBufferPointer { o in
                try patch.withUnsafeBufferPointer { p in
                    try apply(old: o, patch: p, maxNewSize: bound) { chunk in
                        hash.update(chunk)
                        try writer.write(chunk)
                    }
                }
            }
        } catch let e as FirmchainError {
            writer.abort()
            throw e.category == .malformedInput ? e.about(patchPath) : e
        }
        let sha256 = hash.sha256Hex()
        if let n = expectedLength, length != n {
            writer.abort()
            throw FirmchainError(.deltaResultMismatch, "the patch reproduces \(length) bytes, not the expected \(n); nothing was written", path: patchPath)
        }
        if let h = expectedSHA256, sha256 != h.lowercased() {
            writer.abort()
            throw FirmchainError(.deltaResultMismatch, "the patch reproduces a file whose sha256 is not the expected one (wrong base or tampered patch); nothing was written",
                                 path: patchPath)
        }
        try writer.commit()
        return Applied(length: length, sha256: sha256, old: (old.count, DigestCalculator.sha256Hex(old)),
                       patch: (patch.count, DigestCalculator.sha256Hex(patch)), format: patch.withUnsafeBufferPointer { DeltaFormat.of($0) })
    }
}
