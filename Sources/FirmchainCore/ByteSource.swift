#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes read in chunks, so a multi-GiB file passes through a fixed-size buffer: encryption,
/// decryption and hashing stream through this instead of reading whole files.
public protocol ByteSource {
    /// The number of bytes the source holds (fixed when it was opened).
    var length: Int64 { get }
    /// Reads up to `buffer.count` bytes into `buffer` and returns how many; 0 only at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A regular file read from its start, never past the length it had when opened (a file that
/// grows meanwhile is read only up to that length; one that shrinks fails with `io.failed`).
public final class FileByteSource: ByteSource {
    /// The file's path, for errors.
    public let path: String
    /// The file's length when it was opened.
    public let length: Int64
    private var fd: Int32
    private var consumed: Int64 = 0

    /// Opens the regular file at `path` (`io.not-found`, `io.not-a-file`, … otherwise).
    public init(path: String) throws {
        self.path = path
        fd = try FileIO.openRegular(path)
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = FileIO.ioError(path, "cannot stat")
            close(fd)
            throw e
        }
        length = Int64(st.st_size)
    }

    /// Reads the next bytes, up to `buffer.count` and the remaining length.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let want = Int(min(Int64(buffer.count), length - consumed))
        guard want > 0 else { return 0 }
        var done = 0
        while done < want {
            let n = Glibc.read(fd, buffer.baseAddress! + done, want - done)
            if n < 0 { if errno == EINTR { continue }; throw FileIO.ioError(path, "read failed") }
            if n == 0 { throw FirmchainError(.ioFailed, "the file became shorter while it was read", path: path) }
            done += n
        }
        consumed += Int64(done)
        return done
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// Bytes in memory as a `ByteSource` (small inputs, tests).
public struct MemoryByteSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0
    /// A source over `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// The number of bytes.
    public var length: Int64 { Int64(bytes.count) }
    /// Copies the next bytes into `buffer`.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}
