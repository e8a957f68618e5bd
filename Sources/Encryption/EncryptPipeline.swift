import Crypto
import Dispatch
import FirmchainCore
import Foundation
import Signing

/// Encryption as three stages on their own threads, so reading, AES-GCM and writing overlap
/// (the machine's second core does the I/O and the hashing while the first encrypts):
///
///     reader ──full──▶ encrypt (caller's thread, in place) ──sealed──▶ writer ──free──▶ reader
///
/// Memory: `slots` buffers of `chunkSize` bytes, allocated once (4 × 1 MiB by default), whatever
/// the file's size. Invariants: a slot is owned by exactly one stage at a time; chunks reach the
/// writer in file order (each queue is FIFO and each stage is one thread); the tag is written only
/// after the writer has written every chunk.
final class EncryptPipeline: @unchecked Sendable {
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

    /// Runs the pipeline over `source` into `sink`; returns the digests of both sides.
    func run(source: FileByteSource, gcm: StreamingGCM, sink: AtomicFileWriter,
             progress: ProgressReporter) throws -> (plaintext: FileDigest, ciphertext: FileDigest) {
        let group = DispatchGroup()
        let total = source.length
        // Each is used by one stage only; the queues' locks order every hand-over.
        nonisolated(unsafe) let source = source
        nonisolated(unsafe) let sink = sink
        nonisolated(unsafe) var plainHash = SHA256(), cipherHash = SHA256()
        nonisolated(unsafe) var readBytes: Int64 = 0

        // Reader: fills free slots in file order; hashes the plaintext.
        DispatchQueue.global().async(group: group) { [self] in
            while true {
                guard case .chunk(let slot, _) = free.take(), !isCancelled else { full.put(.end); return }
                do {
                    let n = try source.read(into: buffers[slot])
                    if n == 0 { full.put(.end); return }
                    plainHash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffers[slot][0..<n]))
                    readBytes += Int64(n)
                    full.put(.chunk(slot: slot, count: n))
                } catch {
                    fail(error)
                    full.put(.end)
                    return
                }
            }
        }
        // Writer: hashes and writes sealed slots in order, then returns them to the reader.
        DispatchQueue.global().async(group: group) { [self] in
            var written: Int64 = 0
            while case .chunk(let slot, let n) = sealed.take() {
                if !isCancelled {
                    let chunk = UnsafeRawBufferPointer(rebasing: buffers[slot][0..<n])
                    cipherHash.update(bufferPointer: chunk)
                    do {
                        try sink.write(chunk.bindMemory(to: UInt8.self))
                        written += Int64(n)
                        progress.report(phase: "encrypting", completed: written, total: total)
                    } catch {
                        fail(error)
                    }
                }
                free.put(.chunk(slot: slot, count: 0))
            }
        }
        // Encrypt, in place, on this thread.
        var encrypted: Int64 = 0
        while case .chunk(let slot, let n) = full.take() {
            if !isCancelled {
                let chunk = UnsafeMutableRawBufferPointer(rebasing: buffers[slot][0..<n])
                do {
                    try gcm.update(UnsafeRawBufferPointer(chunk), into: chunk)
                    encrypted += Int64(n)
                } catch {
                    fail(error)
                }
            }
            sealed.put(.chunk(slot: slot, count: n))
        }
        sealed.put(.end)
        group.wait()
        if let firstError { throw firstError }
        guard encrypted == readBytes else { throw FirmchainError(.internal, "the encryption pipeline lost a chunk") }
        let tag = try gcm.finishEncrypting()
        cipherHash.update(data: tag)
        try sink.write(tag)
        return (FileDigest(sha256: Hex.encode(Array(plainHash.finalize())), length: encrypted),
                FileDigest(sha256: Hex.encode(Array(cipherHash.finalize())), length: encrypted + 16))
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
