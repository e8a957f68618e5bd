#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FirmchainCore

/// A PIN or passphrase held in memory Firmchain owns and zeroes when it is released.
///
/// Swift `String`s and arrays may be copied freely by the runtime, so secrets travel as
/// `Secret` from the moment they are read (a file, the environment, a terminal prompt) until
/// they are handed to `C_Login` or PBKDF2. The bytes are never printed: `description` is
/// a fixed placeholder.
public final class Secret: @unchecked Sendable, CustomStringConvertible {
    private let buffer: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into a fresh buffer. The caller should zero its own copy.
    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        _ = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count]).initializeMemory(as: UInt8.self, from: bytes)
        count = bytes.count
    }

    /// Copies the UTF-8 bytes of `string` (for values that arrive as a String, such as an
    /// environment variable the CLI read; that String itself cannot be zeroed).
    public convenience init(string: String) {
        var bytes = Array(string.utf8)
        self.init(bytes: bytes)
        for i in bytes.indices { bytes[i] = 0 }
    }

    /// Reads a secret from a file: the first line, without its line ending. Throws
    /// `FirmchainError` when the file cannot be read.
    public static func fromFile(_ path: String) throws -> Secret {
        var bytes = try FileIO.read(path, limit: 4096)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        var end = bytes.firstIndex { $0 == 0x0A || $0 == 0x0D } ?? bytes.endIndex
        if end > bytes.startIndex, bytes[end - 1] == 0x0D { end -= 1 }
        return Secret(bytes: bytes[..<end])
    }

    /// The number of bytes.
    public let count: Int

    /// Calls `body` with the secret bytes. Do not copy them out.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    /// `Secret(N bytes)`: a placeholder with the byte count only, never the bytes.
    public var description: String { "Secret(\(count) bytes)" }

    deinit {
        if let base = buffer.baseAddress { explicit_bzero(base, buffer.count) }
        buffer.deallocate()
    }
}

