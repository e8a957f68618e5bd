#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading files with explicit limits, and the POSIX helpers the atomic writer shares.
public enum FileIO {
    /// Reads the whole file at `path`, refusing files larger than `limit` bytes.
    ///
    /// - Throws: `FirmchainError` `io.not-found`, `io.too-large` or `io.read-failed`, naming `path`.
    public static func read(_ path: String, limit: Int = 1 << 30) throws -> [UInt8] {
        let fd = try openRegular(path)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError(path, "cannot stat") }
        let size = Int(st.st_size)
        guard size <= limit else {
            throw FirmchainError(.ioTooLarge, "is \(size) bytes, more than the limit of \(limit)", path: path)
        }
        // Read straight into the array's storage (no zero fill first).
        return try [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            count = 0
            var done = 0
            while done < size {
                let n = Glibc.read(fd, buf.baseAddress! + done, size - done)
                if n < 0 { if errno == EINTR { continue }; throw ioError(path, "read failed") }
                if n == 0 { break }
                done += n
            }
            // The file may have shrunk or grown while we read; take exactly what was there.
            count = done
        }
    }

    /// Opens the regular file at `path` for reading, refusing anything else — a directory, a
    /// device, a FIFO or a socket — before it can block (a FIFO opened for reading waits for a
    /// writer forever). The caller closes the descriptor.
    ///
    /// - Throws: `io.not-found`, `io.permission-denied`, `io.not-a-file`.
    public static func openRegular(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw openError(path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); throw ioError(path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FirmchainError(.ioNotAFile, "is not a regular file (a directory, device, FIFO or socket)", path: path)
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        return fd
    }

    /// Whether a file (or directory) exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Size in bytes of the regular file at `path`.
    public static func size(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw openError(path) }
        return Int64(st.st_size)
    }

    /// Creates `path` and its parents (mode 0755) if missing.
    public static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw FirmchainError(.ioMkdirFailed, "cannot create directory: \(String(cString: strerror(errno)))", path: prefix)
            }
            prefix += "/"
        }
    }

    /// What a directory entry is, read without following a symbolic link.
    public enum EntryKind: Sendable, Hashable {
        /// A regular file.
        case regular
        /// A symbolic link (never followed).
        case symbolicLink
        /// A FIFO, socket or device.
        case other
    }

    /// Every entry below `directory` that is not a directory, as paths relative to it with their
    /// kind, sorted by path. Symbolic links are reported, never followed (a link to a directory
    /// is not descended into), so a planted link cannot point the walk outside `directory`.
    /// At most `limit` entries are listed. A missing `directory` has no entries.
    ///
    /// - Throws: `io.failed` when a directory cannot be listed; `io.too-large` past `limit`.
    public static func entries(under directory: String, limit: Int = 1 << 20) throws -> [(path: String, kind: EntryKind)] {
        var out = [(path: String, kind: EntryKind)]()
        var st = stat()
        guard lstat(directory, &st) == 0 else { return [] }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return [("", (st.st_mode & S_IFMT) == S_IFLNK ? .symbolicLink : .other)] }
        var stack = [""]
        while let rel = stack.popLast() {
            let dir = rel.isEmpty ? directory : directory + "/" + rel
            guard let d = opendir(dir) else { throw ioError(dir, "cannot list the directory") }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let childRel = rel.isEmpty ? name : rel + "/" + name
                guard lstat(directory + "/" + childRel, &st) == 0 else { continue }  // removed meanwhile
                switch st.st_mode & S_IFMT {
                case S_IFDIR: stack.append(childRel)
                case S_IFREG: out.append((childRel, .regular))
                case S_IFLNK: out.append((childRel, .symbolicLink))
                default: out.append((childRel, .other))
                }
                guard out.count <= limit else {
                    throw FirmchainError(.ioTooLarge, "holds more than \(limit) files", path: directory)
                }
            }
        }
        return out.sorted { $0.path < $1.path }
    }

    static func openError(_ path: String) -> FirmchainError {
        let e = errno
        if e == ENOENT || e == ENOTDIR {
            return FirmchainError(.ioNotFound, "no such file", path: path)
        }
        if e == EACCES || e == EPERM {
            return FirmchainError(.ioPermissionDenied, "permission denied", path: path)
        }
        return ioError(path, "cannot open")
    }

    static func ioError(_ path: String, _ what: String) -> FirmchainError {
        FirmchainError(.ioFailed, "\(what): \(String(cString: strerror(errno)))", path: path)
    }
}
