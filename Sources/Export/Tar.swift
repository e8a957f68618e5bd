import FirmchainCore

/// A deterministic POSIX ustar writer (POSIX.1-2001 `pax` "ustar Interchange Format"): regular
/// files only, in the order added, every member with mode 0644, uid/gid 0, empty owner names
/// and mtime 0, ended by two zero blocks. The same members give the same bytes.
///
/// Header block (512 bytes; numbers are octal ASCII, NUL-terminated):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 100 | name |
/// | 100 | 8 | mode |
/// | 108 | 8 | uid |
/// | 116 | 8 | gid |
/// | 124 | 12 | size |
/// | 136 | 12 | mtime |
/// | 148 | 8 | chksum (sum of the header bytes with this field as spaces) |
/// | 156 | 1 | typeflag `0` |
/// | 257 | 6 | magic `ustar\0` |
/// | 263 | 2 | version `00` |
/// | 345 | 155 | prefix |
struct TarWriter {
    private(set) var bytes: [UInt8] = []

    /// Appends a regular file. Names up to 100 bytes (no prefix splitting).
    mutating func add(_ name: String, _ content: [UInt8]) throws {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count <= 100 else {
            throw FirmchainError(.exportOptionInvalid, "'\(name)' does not fit a ustar name (1 to 100 bytes)")
        }
        guard content.count < (1 << 33) else { throw FirmchainError(.exportOptionInvalid, "'\(name)' is too large for ustar") }
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: [UInt8], at offset: Int) { for (i, b) in s.enumerated() { h[offset + i] = b } }
        func octal(_ v: Int, width: Int) -> [UInt8] {
            let digits = String(v, radix: 8)
            return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(content.count, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put(Array("        ".utf8), at: 148)
        h[156] = UInt8(ascii: "0")
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148)
        bytes += h
        bytes += content
        bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    /// The archive with its end-of-archive marker (two zero blocks).
    func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}
