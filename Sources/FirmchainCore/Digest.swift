import Crypto
#if canImport(Glibc)
import Glibc
#endif

/// Hash algorithms Firmchain records for artefacts (TUF `hashes`, in-toto digests).
public enum DigestAlgorithm: String, Sendable, CaseIterable, Codable {
    case sha256
    case sha512
}

/// The digests of one byte stream, by algorithm, as lower-case hex.
public struct Digests: Sendable, Hashable {
    /// Hex digests keyed by algorithm.
    public let hex: [DigestAlgorithm: String]
    /// Number of bytes hashed.
    public let length: Int64

    /// The SHA-256 digest as hex (always computed by `DigestCalculator.file`).
    public var sha256: String? { hex[.sha256] }
}

/// Streaming digests with bounded memory: files are read in 1 MiB chunks, so hashing a
/// multi-GiB image uses the same memory as hashing a small one.
public enum DigestCalculator {
    /// Chunk size used when reading files.
    public static let chunkSize = 1 << 20

    /// Hashes the file at `path` with every algorithm in `algorithms` in one pass.
    public static func file(
        _ path: String, algorithms: Set<DigestAlgorithm> = [.sha256],
        progress: ProgressReporter = SilentProgress()
    ) throws -> Digests {
        let fd = try FileIO.openRegular(path)
        defer { close(fd) }
        let total = (try? FileIO.size(path)) ?? 0
        var s256 = algorithms.contains(.sha256) ? SHA256() : nil
        var s512 = algorithms.contains(.sha512) ? SHA512() : nil
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var length: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, chunkSize) }
            if n < 0 { if errno == EINTR { continue }; throw FileIO.ioError(path, "read failed") }
            if n == 0 { break }
            buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                s256?.update(bufferPointer: chunk)
                s512?.update(bufferPointer: chunk)
            }
            length += Int64(n)
            progress.report(phase: "hashing", completed: length, total: total)
        }
        var hex = [DigestAlgorithm: String]()
        if let s = s256 { hex[.sha256] = Hex.encode(Array(s.finalize())) }
        if let s = s512 { hex[.sha512] = Hex.encode(Array(s.finalize())) }
        return Digests(hex: hex, length: length)
    }

    /// Hashes bytes in memory.
    public static func bytes<C: Collection>(_ data: C, algorithms: Set<DigestAlgorithm> = [.sha256]) -> Digests where C.Element == UInt8 {
        let array = Array(data)
        var hex = [DigestAlgorithm: String]()
        if algorithms.contains(.sha256) { hex[.sha256] = Hex.encode(Array(SHA256.hash(data: array))) }
        if algorithms.contains(.sha512) { hex[.sha512] = Hex.encode(Array(SHA512.hash(data: array))) }
        return Digests(hex: hex, length: Int64(array.count))
    }

    /// SHA-256 of bytes in memory as hex.
    public static func sha256Hex<C: Collection>(_ data: C) -> String where C.Element == UInt8 {
        Hex.encode(Array(SHA256.hash(data: Array(data))))
    }
}

extension DigestCalculator {
    /// An incremental SHA-256 for data that arrives in pieces (copies, streams).
    public struct Streaming: Sendable {
        private var hasher = SHA256()
        /// An empty SHA-256 hash.
        public init() {}
        /// Adds `bytes` to the hash.
        public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
                hasher.update(data: Array(bytes))
            }
        }
        /// The digest of everything added, as hex.
        public func sha256Hex() -> String { Hex.encode(Array(hasher.finalize())) }
    }
}
