import FirmchainCore

/// A deterministic cpio `newc` writer (the SVR4 portable format without checksums, magic
/// `070701`): regular files in the order added, mode 0100644, uid/gid 0, mtime 0, one link,
/// inode numbers 1, 2, 3…, then `TRAILER!!!` and zero padding to a 512-byte block.
///
/// Header (110 ASCII bytes, every number 8 hex digits):
///
/// | offset | field |
/// |---|---|
/// | 0 | magic `070701` |
/// | 6 | ino, mode, uid, gid, nlink, mtime, filesize |
/// | 62 | devmajor, devminor, rdevmajor, rdevminor |
/// | 94 | namesize (with the NUL), check (0) |
///
/// The name (NUL-terminated) follows, padded so that the data starts on a 4-byte boundary;
/// the data is padded to 4 bytes too.
struct CPIOWriter {
    private(set) var bytes: [UInt8] = []
    private var inode = 0

    /// Appends a regular file; names up to 255 bytes.
    mutating func add(_ name: String, _ content: [UInt8]) throws {
        guard !name.utf8.isEmpty, name.utf8.count <= 255 else {
            throw FirmchainError(.exportOptionInvalid, "'\(name)' does not fit a cpio name (1 to 255 bytes)")
        }
        guard content.count <= Int(UInt32.max) else { throw FirmchainError(.exportOptionInvalid, "'\(name)' is too large for cpio newc (4 GiB)") }
        inode += 1
        entry(name, content, ino: inode, mode: 0o100644)
    }

    private mutating func entry(_ name: String, _ content: [UInt8], ino: Int, mode: Int) {
        let fields = [ino, mode, 0, 0, 1, 0, content.count, 0, 0, 0, 0, name.utf8.count + 1, 0]
        var header = "070701"
        for f in fields {
            let hex = String(f, radix: 16, uppercase: true)
            header += String(repeating: "0", count: 8 - hex.count) + hex
        }
        bytes += Array(header.utf8) + Array(name.utf8) + [0]
        pad(to: 4)
        bytes += content
        pad(to: 4)
    }

    private mutating func pad(to n: Int) {
        bytes += [UInt8](repeating: 0, count: (n - bytes.count % n) % n)
    }

    /// The archive with its trailer, padded to a 512-byte block.
    func finished() -> [UInt8] {
        var w = self
        w.entry("TRAILER!!!", [], ino: 0, mode: 0)
        w.pad(to: 512)
        return w.bytes
    }
}
