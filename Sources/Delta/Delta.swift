import FirmchainCore
import Foundation
import SuffixArray

/// Patch formats Firmchain writes.
public enum DeltaFormat: String, Sendable, CaseIterable {
    /// bsdiff 4.x (Docs/formats/BSDIFF40.md), applied by Debian `bspatch` and PyPI `bsdiff4`.
    case bsdiff40
}

/// Options for `Delta.create`.
public struct DeltaCreateOptions: Sendable {
    /// The patch format (only `bsdiff40` today).
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

    /// The BSDIFF40 patch that turns `old` into `new`.
    ///
    /// Every step runs on `options.alignment.threads` threads (0: one per core; 1: one thread
    /// throughout).
    ///
    /// Steps: (1) suffix array of `old` (its byte-level passes on all the threads); (2) alignment scan over it, giving control triples;
    /// (3) the suffix array is released, then the diff/extra blocks are built and the three
    /// bzip2 streams compressed block by block on all cores (`BSDIFF40.write`). Peak memory:
    /// old + new + 4 x old (suffix array) during (1)-(2) (plus what the suffix sort itself
    /// needs), old + 3 x new during (3).
    ///
    /// - Throws: `delta.input-too-large` if either input is >= 2^31 - 1 bytes.
    public static func create(old: [UInt8], new: [UInt8], options: DeltaCreateOptions = DeltaCreateOptions(),
                              progress: ProgressReporter = SilentProgress()) throws -> [UInt8] {
        guard old.count <= maxInputSize, new.count <= maxInputSize else {
            throw FirmchainError(.deltaInputTooLarge, "inputs must be smaller than 2 GiB - 1 bytes (BSDIFF40 32-bit limit)")
        }
        let triples = try computeTriples(old: old, new: new, options: options, progress: progress)
        progress.report(phase: "compressing", completed: 0, total: 1)
        let patch = try old.withUnsafeBufferPointer { o in
            try new.withUnsafeBufferPointer { n in
                try BSDIFF40.write(old: o, new: n, triples: triples, concurrency: options.alignment.resolvedThreads)
            }
        }
        progress.report(phase: "compressing", completed: 1, total: 1)
        return patch
    }

    /// Steps (1) and (2) of `create`; the suffix array dies when this returns.
    static func computeTriples(old: [UInt8], new: [UInt8], options: DeltaCreateOptions,
                               progress: ProgressReporter) throws -> [ControlTriple] {
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

    /// The new file made from `old` and an untrusted BSDIFF40 `patch` (see `Patcher` for the
    /// rules). Memory: old + patch + N for the output (N <= `limits.maxNewSize`, backed by real
    /// decompressed data) + three bzip2 decoders; `Patcher.apply(old:patch:maxNewSize:write:)`
    /// streams the output instead.
    public static func apply(old: [UInt8], patch: [UInt8], limits: DeltaApplyLimits = DeltaApplyLimits()) throws -> [UInt8] {
        try old.withUnsafeBufferPointer { o in
            try patch.withUnsafeBufferPointer { p in try Patcher.apply(old: o, patch: p, maxNewSize: limits.maxNewSize) }
        }
    }

    /// Reads `oldPath` and `patchPath`, applies the patch and writes `outPath` atomically: on
    /// any error nothing appears at `outPath` (an existing file there is left untouched).
    /// Errors about the patch name `patchPath`.
    @discardableResult
    public static func applyFile(oldPath: String, patchPath: String, outPath: String,
                                 limits: DeltaApplyLimits = DeltaApplyLimits()) throws -> [UInt8] {
        let old = try FileIO.read(oldPath, limit: limits.maxInputSize)
        let patch = try FileIO.read(patchPath, limit: limits.maxInputSize)
        let new: [UInt8]
        do { new = try apply(old: old, patch: patch, limits: limits) } catch let e as FirmchainError { throw e.about(patchPath) }
        try AtomicFile.write(new, to: outPath)
        return new
    }
}
