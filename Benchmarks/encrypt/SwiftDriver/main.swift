// encrypt-bench BYTES [CHUNK...]
// encrypt-bench --pipeline FILE OUTDIR [CHUNK...]
//
// Times, in memory and on one thread, the two per-byte computations of `firmchain encrypt`:
//
//   gcm     Firmchain's streaming AES-GCM engine (`StreamingGCM`, OpenSSL EVP, AES-256) encrypting
//           BYTES in CHUNK-byte pieces, in place in one CHUNK buffer, as the encryption pipeline
//           does with each of its buffers, then taking the tag. The same work as
//           `openssl speed -evp aes-256-gcm -bytes CHUNK`: one message, EVP update calls of CHUNK
//           bytes over one buffer.
//   sha256  the SHA-256 the pipeline hashes plaintext and ciphertext with (swift-crypto, through
//           FirmchainCore's `DigestCalculator.Streaming`) over BYTES in CHUNK pieces.
//
// CHUNK defaults to 16384 (openssl speed's largest default block) and 1048576 (Firmchain's
// chunk). Prints one line per measurement:
//   gcm <chunk> <wall-s> <cpu-s> <bytes>
//   sha256 <chunk> <wall-s> <cpu-s> <bytes>
// (wall: CLOCK_MONOTONIC; cpu: this process's CPU time). Used by Benchmarks/encrypt/run.sh.
//
// --pipeline: `Encryptor.encrypt` (what `firmchain encrypt` runs: the three-stage pipeline with
// both digests and the atomic writes) of FILE into OUTDIR for one group key, once per CHUNK
// (EncryptionOptions.chunkSize; default 1048576), to compare chunk sizes without the command's
// start-up. Prints `pipeline <chunk> <wall-s> <cpu-s> <bytes>` and removes what it wrote.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Encryption
import FirmchainCore
import Signing

func fail(_ message: String, _ code: Int32) -> Never {
    let line = Array("encrypt-bench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

func seconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `x` with four decimals, without Foundation's String(format:).
func fixed4(_ x: Double) -> String {
    let t = Int((x * 10_000).rounded())
    let frac = String(t % 10_000)
    return "\(t / 10_000)." + String(repeating: "0", count: 4 - frac.count) + frac
}

/// Wall and CPU seconds of `body`.
func timed(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    let cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC)
    try body()
    return (seconds(CLOCK_MONOTONIC) - wall0, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0)
}

let args = CommandLine.arguments
if args.count >= 4, args[1] == "--pipeline" {
    let file = args[2], dir = args[3]
    let sizes = args.count > 4 ? args.dropFirst(4).map { Int($0) ?? 0 } : [1 << 20]
    guard sizes.allSatisfy({ $0 >= 4096 }) else { fail("a CHUNK is below 4096", 64) }
    var rng = SystemRandomNumberGenerator()
    do {
        let kek = try KeyEncryptionKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, keyID: Array("bench".utf8))
        for chunk in sizes {
            let encryptor = try Encryptor(recipients: [.keyEncryptionKey(kek)], options: EncryptionOptions(chunkSize: chunk))
            var length: Int64 = 0
            let t = try timed { length = try encryptor.encrypt(file: file, into: dir, name: "bench.bin").plaintext.length }
            unlink(dir + "/bench.bin")
            unlink(dir + "/bench.bin.cose")
            print("pipeline \(chunk) \(fixed4(t.wall)) \(fixed4(t.cpu)) \(length)")
        }
    } catch { fail("\(error)", 1) }
    exit(0)
}
guard args.count >= 2, let total = Int(args[1]), total > 0 else { fail("usage: encrypt-bench BYTES [CHUNK...]", 64) }
let chunks = args.count > 2 ? args.dropFirst(2).map { Int($0) ?? 0 } : [16384, 1 << 20]
guard chunks.allSatisfy({ $0 > 0 && $0 <= Int(Int32.max) }) else { fail("a CHUNK is not a positive 32-bit size", 64) }

var rng = SystemRandomNumberGenerator()
let key = Secret(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })

/// Encrypts `count` bytes in `chunk` pieces in place in `buffer` under `key` and `iv`.
func encrypt(_ count: Int, chunk: Int, in buffer: UnsafeMutableRawBufferPointer, key: Secret, iv: [UInt8]) throws {
    let gcm = try StreamingGCM(encrypting: true, key: key, iv: iv, aad: [0x84, 0x40, 0xa0, 0xf6])
    var done = 0
    while done < count {
        let n = min(chunk, count - done)
        let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
        try gcm.update(UnsafeRawBufferPointer(piece), into: piece)
        done += n
    }
    _ = try gcm.finishEncrypting()
}

for chunk in chunks {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    defer { buffer.deallocate() }
    do {
        // Warm-up (caches, clock), then the timed message under a fresh IV.
        try encrypt(min(total, 64 << 20), chunk: chunk, in: buffer, key: key, iv: (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let iv = (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let t = try timed { try encrypt(total, chunk: chunk, in: buffer, key: key, iv: iv) }
        print("gcm \(chunk) \(fixed4(t.wall)) \(fixed4(t.cpu)) \(total)")
    } catch { fail("\(error)", 1) }
}

let chunk = chunks.max()!
let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
buffer.initializeMemory(as: UInt8.self, repeating: 0x5a)
var hasher = DigestCalculator.Streaming()
let t = timed {
    var done = 0
    while done < total {
        let n = min(chunk, total - done)
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]).bindMemory(to: UInt8.self))
        done += n
    }
}
guard hasher.sha256Hex().count == 64 else { fail("no digest", 1) }
print("sha256 \(chunk) \(fixed4(t.wall)) \(fixed4(t.cpu)) \(total)")
