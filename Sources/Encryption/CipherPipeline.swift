import Crypto
import Dispatch
import FirmchainCore
import Foundation
import Signing

/// AES-GCM over a stream as three stages on their own threads, so reading, AES-GCM and writing
/// overlap (the machine's second core reads, writes and hashes while the first runs the cipher):
///
///     reader ──full──▶ AES-GCM (caller's thread, in place) ──sealed──▶ writer ──free──▶ reader
///
/// The reader hashes what it reads and the writer hashes what it writes, so one pass gives the
/// SHA-256 of both sides: plaintext and ciphertext for encryption, ciphertext and plaintext for
/// decryption. Encryption and decryption (and the tag check before adding a recipient, which
/// writes nothing) run through the same pipeline.
///
/// Memory: `slots` buffers of `chunkSize` bytes, allocated once (4 × 1 MiB by default), whatever
/// the file's size. Invariants: a slot is owned by exactly one stage at a time; chunks reach the
/// writer in file order (each queue is FIFO and each stage is one thread); the caller sees the
/// result only after the writer has written every chunk.
final class CipherPipeline: @unchecked Sendable {
    /// What a run read and wrote: the running SHA-256 of each side (the caller adds the tag to
    /// the ciphertext's) and the number of bytes that went through the cipher.
    struct Hashes {
        var input: SHA256
        var output: SHA256
        let count: Int64
    }

    private let chunkSize: Int
    private let buffers: [UnsafeMutableRawBufferPointer]
    private let free = SlotQueue(), full = SlotQueue(), sealed = SlotQueue()
    private let lock = NSLock()
    private var firstError: Error?
    private var cancelled = false

    /// Number of buffers in flight.
    static let slots = 4

    init(chunkSize: Int) {
        self.chunkSize = chunkSize
        buffers = (0..<Self.slots).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64) }
        for i in 0..<Self.slots { free.put(.chunk(slot: i, count: 0)) }
    }

    deinit { buffers.forEach { $0.deallocate() } }

    private func fail(_ e: Error) {
        lock.lock(); defer { lock.unlock() }
        if firstError == nil { firstError = e }
        cancelled = true
    }

    private var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelled }

    /// Runs the first `length` bytes of `source` through `gcm` into `sink` (or nowhere), reporting
    /// `phase` progress. `source` is left just after those bytes (a decryption then reads the
    /// tag from it). A source that ends early fails with `encryption.truncated` about `path`.
    /// With `hashingInput` false the input's hash is left empty (its caller already has it).
    func run<Source: ByteSource>(source: inout Source, length: Int64, gcm: StreamingGCM, sink: AtomicFileWriter?,
                                 hashingInput: Bool = true, phase: String, path: String?, progress: ProgressReporter) throws -> Hashes {
        let group = DispatchGroup()
        // Each is used by one stage only; the queues' locks order every hand-over.
        nonisolated(unsafe) var reading = source
        nonisolated(unsafe) let sink = sink
        nonisolated(unsafe) var inputHash = SHA256(), outputHash = SHA256()
        nonisolated(unsafe) var readBytes: Int64 = 0

        // Reader: fills free slots in file order; hashes the input.
        DispatchQueue.global().async(group: group) { [self] in
            while readBytes < length {
                guard case .chunk(let slot, _) = free.take(), !isCancelled else { break }
                do {
                    let want = Int(min(Int64(chunkSize), length - readBytes))
                    let n = try reading.read(into: UnsafeMutableRawBufferPointer(rebasing: buffers[slot][0..<want]))
                    guard n > 0 else { throw FirmchainError(.encryptionTruncated, "the input ended early", path: path) }
                    if hashingInput { inputHash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffers[slot][0..<n])) }
                    readBytes += Int64(n)
                    full.put(.chunk(slot: slot, count: n))
                } catch {
                    fail(error)
                    break
                }
            }
            full.put(.end)
        }
        // Writer: hashes and writes sealed slots in order, then returns them to the reader.
        DispatchQueue.global().async(group: group) { [self] in
            var written: Int64 = 0
            while case .chunk(let slot, let n) = sealed.take() {
                if !isCancelled {
                    let chunk = UnsafeRawBufferPointer(rebasing: buffers[slot][0..<n])
                    outputHash.update(bufferPointer: chunk)
                    do {
                        try sink?.write(chunk.bindMemory(to: UInt8.self))
                        written += Int64(n)
                        progress.report(phase: phase, completed: written, total: length)
                    } catch {
                        fail(error)
                    }
                }
                free.put(.chunk(slot: slot, count: 0))
            }
        }
        // AES-GCM, in place, on this thread.
        var done: Int64 = 0
        while case .chunk(let slot, let n) = full.take() {
            if !isCancelled {
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffers[slot][0..<n])
                do {
                    try gcm.update(UnsafeRawBufferPointer(chunk), into: chunk)
                    done += Int64(n)
                } catch {
                    fail(error)
                }
            }
            sealed.put(.chunk(slot: slot, count: n))
        }
        sealed.put(.end)
        group.wait()
        source = reading
        if let firstError { throw firstError }
        guard done == readBytes, done == length else { throw FirmchainError(.internal, "the cipher pipeline lost a chunk") }
        return Hashes(input: inputHash, output: outputHash, count: done)
    }
}

/// A blocking FIFO of slot messages between two pipeline stages.
final class SlotQueue: @unchecked Sendable {
    enum Message { case chunk(slot: Int, count: Int), end }
    private let condition = NSCondition()
    private var items: [Message] = []
    private var head = 0

    func put(_ m: Message) {
        condition.lock()
        items.append(m)
        condition.signal()
        condition.unlock()
    }

    func take() -> Message {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count { condition.wait() }
        let m = items[head]
        head += 1
        if head > 64 { items.removeFirst(head); head = 0 }
        return m
    }
}
