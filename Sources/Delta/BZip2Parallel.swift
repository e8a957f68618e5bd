import Dispatch
import Foundation

extension BZip2 {
    /// The number of threads `BSDIFF40.write` compresses on by default: the active cores.
    static var defaultConcurrency: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Exactly the bytes of `compress(input)` (one bzip2 stream, one block sequence), with the
    /// blocks of the stream compressed on up to `concurrency` threads. See `compress(_:concurrency:)`
    /// for several inputs.
    static func compress(_ input: UnsafeBufferPointer<UInt8>, concurrency: Int) throws -> [UInt8] {
        try compress([input], concurrency: concurrency)[0]
    }

    /// Exactly the bytes of `compress(inputs[k])` for each k, computed on up to `concurrency`
    /// threads that share one work list over the blocks of all inputs.
    ///
    /// Steps:
    /// 1. For each input, `BZip2Blocks.blocks` finds the blocks libbz2 would make. An input
    ///    of one block (or every input, when `concurrency` is 1 and no block needs the fallback
    ///    sort, see below) is one job: `compress(_:)` as is. A block (or single-block input)
    ///    whose long runs would exhaust libbz2's main sort (`BZip2Blocks.fallbackRunWeight`) is
    ///    written by `BZip2Encoder`, whose suffix sort takes such blocks in linear time (a
    ///    periodic one, which it declines, goes to libbz2 with work factor 1, straight to the
    ///    fallback sort): same bytes.
    /// 2. Otherwise each block's slice is a job: `compressSingleBlock` compresses it alone, and
    ///    libbz2 itself confirms the slice filled exactly one block.
    /// 3. Finished jobs are taken in order; `BZip2StreamSplicer` joins each input's blocks bit
    ///    by bit and ends the stream with the combined CRC.
    /// 4. Should a slice not come out as one block, or its stream not have the expected
    ///    shape, that input is compressed again serially: the output is never anything but
    ///    libbz2's serial stream.
    ///
    /// Memory beyond the outputs: one libbz2 compressor (about 7.6 MB at level 9) per thread,
    /// or for a block of long runs `BZip2Encoder`'s working arrays (about 8.5 MB: the coded
    /// block and its rotation, its suffix array, the last column and the symbols), and at most 2 x `concurrency` compressed blocks (about 1 MB each at worst) waiting for
    /// an earlier block to finish; a thread does not start a job further ahead than that.
    ///
    /// - Precondition: `concurrency >= 1`.
    static func compress(_ inputs: [UnsafeBufferPointer<UInt8>], concurrency: Int) throws -> [[UInt8]] {
        precondition(concurrency >= 1, "concurrency must be at least 1")
        var jobs = [CompressionJob]()
        for (k, input) in inputs.enumerated() {
            let blocks = BZip2Blocks.blocks(input)
            // A block of long runs goes straight to the fallback sort (same bytes, less time).
            func factor(_ b: BZip2Blocks.Block) -> Int32 { b.runWeight >= BZip2Blocks.fallbackRunWeight ? 1 : 0 }
            guard blocks.count > 1 && (concurrency > 1 || blocks.contains { factor($0) != 0 }) else {
                jobs.append(CompressionJob(input: k, range: 0..<input.count, kind: .whole, workFactor: blocks.first.map(factor) ?? 0))
                continue
            }
            for (b, block) in blocks.enumerated() {
                let end = b + 1 < blocks.count ? blocks[b + 1].start : input.count
                jobs.append(CompressionJob(input: k, range: block.start..<end, kind: b + 1 < blocks.count ? .block : .lastBlock,
                                           workFactor: factor(block)))
            }
        }
        if jobs.count == inputs.count {
            // Nothing to split: one serial stream per input, as many at once as allowed.
            if concurrency == 1 || inputs.count == 1 {
                return try jobs.map { try CompressionScheduler.run($0, inputs: inputs)! }
            }
        }
        let scheduler = CompressionScheduler(inputs: inputs, jobs: jobs, window: 2 * concurrency)
        DispatchQueue.concurrentPerform(iterations: min(concurrency, jobs.count)) { _ in scheduler.work() }
        return try scheduler.outputs()
    }
}

/// One unit of parallel compression: a whole input, or one block's slice of it.
struct CompressionJob {
    /// What the job's result is.
    enum Kind {
        /// The whole input through `BZip2.compress(_:)`: the finished stream.
        case whole
        /// A block slice through `BZip2.compressSingleBlock`, more blocks follow.
        case block
        /// The input's last block slice.
        case lastBlock
    }
    /// Index of the input the job belongs to.
    let input: Int
    /// The slice of that input.
    let range: Range<Int>
    /// Whole input or block.
    let kind: Kind
    /// libbz2's work factor for it (0: the default; 1: the fallback sort at once).
    var workFactor: Int32 = 0
}

/// Hands out `CompressionJob`s in order to worker threads and takes their results in order,
/// splicing blocks as soon as all earlier jobs are done (so finished blocks do not pile up).
/// All state is guarded by `condition`; the compression itself runs outside it.
final class CompressionScheduler: @unchecked Sendable {
    private let inputs: [UnsafeBufferPointer<UInt8>]
    private let jobs: [CompressionJob]
    private let window: Int
    private let condition = NSCondition()
    /// Next job to hand out; jobs `0..<next` have been handed out.
    private var next = 0
    /// Jobs `0..<consumed` have been taken into the outputs, in order.
    private var consumed = 0
    /// Finished jobs waiting for an earlier one: job index -> result (nil: not one block).
    private var finished: [Int: [UInt8]?] = [:]
    private var splicers: [BZip2StreamSplicer?]
    private var streams: [[UInt8]?]
    /// Inputs whose block path failed; they are compressed serially at the end.
    private var fallback: Set<Int> = []
    private var error: Error?

    /// A scheduler for `jobs` over `inputs` that never starts a job `window` or more jobs
    /// ahead of the oldest one not yet taken in.
    init(inputs: [UnsafeBufferPointer<UInt8>], jobs: [CompressionJob], window: Int) {
        self.inputs = inputs
        self.jobs = jobs
        self.window = max(1, window)
        splicers = Array(repeating: nil, count: inputs.count)
        streams = Array(repeating: nil, count: inputs.count)
    }

    /// One worker: takes jobs until none are left or one failed. No deadlock: a worker waits
    /// only for job `consumed`, which was handed out to a worker that is running it (workers
    /// wait only before taking a job, never while holding one).
    func work() {
        while true {
            condition.lock()
            while next < jobs.count && next >= consumed + window && error == nil { condition.wait() }
            guard next < jobs.count, error == nil else {
                condition.unlock()
                return
            }
            let k = next
            next += 1
            let skip = fallback.contains(jobs[k].input)
            condition.unlock()

            var result: Result<[UInt8]?, Error> = .success(nil)
            if !skip { result = Result { try run(jobs[k]) } }

            condition.lock()
            switch result {
            case .success(let bytes): finished[k] = .some(bytes)
            case .failure(let e): if error == nil { error = e }
            }
            while let bytes = finished.removeValue(forKey: consumed) {
                take(jobs[consumed], bytes)
                consumed += 1
            }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The streams, in input order, after all workers returned; inputs whose block path
    /// failed are compressed serially here.
    func outputs() throws -> [[UInt8]] {
        if let error { throw error }
        return try (0..<inputs.count).map { k in
            if let s = streams[k] { return s }
            return try BZip2.compress(inputs[k])
        }
    }

    private func run(_ job: CompressionJob) throws -> [UInt8]? { try Self.run(job, inputs: inputs) }

    /// The stream of one job: whole, or nil when a block slice did not come out as one block.
    static func run(_ job: CompressionJob, inputs: [UnsafeBufferPointer<UInt8>]) throws -> [UInt8]? {
        let slice = UnsafeBufferPointer(rebasing: inputs[job.input][job.range])
        // A block of long runs: the Swift encoder's suffix sort instead of libbz2's fallback
        // sort, same bytes (it declines a periodic block, and a whole input of several blocks).
        if job.workFactor == 1, let stream = BZip2Encoder.singleBlockStream(slice) { return stream }
        switch job.kind {
        case .whole: return try BZip2.compress(slice, workFactor: job.workFactor)
        case .block, .lastBlock: return try BZip2.compressSingleBlock(slice, workFactor: job.workFactor)
        }
    }

    /// Takes the result of the oldest unconsumed job into its input's output (under the lock).
    private func take(_ job: CompressionJob, _ bytes: [UInt8]?) {
        let k = job.input
        switch job.kind {
        case .whole:
            streams[k] = bytes
        case .block, .lastBlock:
            if !fallback.contains(k) {
                var splicer = splicers[k] ?? BZip2StreamSplicer()
                splicers[k] = nil  // keep the splicer's buffer uniquely referenced
                let ok = bytes.map { b in b.withUnsafeBufferPointer { splicer.append(blockOf: $0) } } ?? false
                if ok { splicers[k] = splicer } else { fallback.insert(k) }
            }
            if job.kind == .lastBlock, !fallback.contains(k), var splicer = splicers[k] {
                splicers[k] = nil
                streams[k] = splicer.finish()
            }
        }
    }
}
