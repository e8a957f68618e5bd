import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written so that readers see either the previous content or the complete new content,
/// never a torn mix, even if the process is killed or the machine loses power part way:
/// data goes to a temporary file in the same directory, is fsynced, renamed over the target,
/// and the directory is fsynced so the rename itself is durable (Docs/architecture.md "Rules that hold everywhere").
///
/// Until `commit()` nothing is visible at `path`. Dropping an uncommitted writer (or calling
/// `abort()`) removes the temporary file, so a failed command leaves no partial output.
/// A process killed by SIGKILL cannot clean up: it may leave a `.<name>.tmp-XXXXXX` file next
/// to the target, but the target itself is intact.
public final class AtomicFileWriter {
    /// The final path of the file.
    public let path: String
    private let tempPath: String
    private var fd: Int32
    private var finished = false

    /// Opens a temporary file beside `path`. `mode` is applied to the final file (use `0o600`
    /// for anything private).
    public init(path: String, mode: mode_t = 0o644) throws {
        self.path = path
        let dir = AtomicFileWriter.directory(of: path)
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(dir)/.\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot create a file in \(dir): \(String(cString: strerror(errno)))", path: path)
        }
        self.fd = fd
        self.tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if fchmod(fd, mode) != 0 {
            close(fd); unlink(tempPath)
            throw FirmchainError(.ioCannotCreate, "cannot set file mode", path: path)
        }
    }

    /// Appends `bytes` to the pending content.
    public func write<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        precondition(!finished, "write after commit or abort")
        let done: Bool? = bytes.withContiguousStorageIfAvailable { buf in writeAll(UnsafeRawBufferPointer(buf)) }
        let ok = done ?? Array(bytes).withUnsafeBytes { writeAll($0) }
        if !ok {
            let e = FirmchainError(.ioWriteFailed, "write failed: \(String(cString: strerror(errno)))", path: path)
            abort()
            throw e
        }
    }

    private func writeAll(_ buf: UnsafeRawBufferPointer) -> Bool {
        var off = 0
        while off < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 { if errno == EINTR { continue }; return false }
            off += n
        }
        return true
    }

    /// Calls `body` with the temporary file's descriptor, for a writer that needs one (a C
    /// library streaming its output). `body` must only write; the writer still commits or aborts.
    public func withDescriptor<R>(_ body: (Int32) throws -> R) rethrows -> R {
        precondition(!finished, "write after commit or abort")
        return try body(fd)
    }

    /// Makes the new content durable and visible at `path` in one step.
    public func commit() throws {
        precondition(!finished, "commit after commit or abort")
        guard fsync(fd) == 0 else {
            let e = FirmchainError(.ioWriteFailed, "fsync failed: \(String(cString: strerror(errno)))", path: path)
            abort()
            throw e
        }
        close(fd)
        finished = true
        guard rename(tempPath, path) == 0 else {
            let e = FirmchainError(.ioCannotCreate, "cannot rename into place: \(String(cString: strerror(errno)))", path: path)
            unlink(tempPath)
            throw e
        }
        AtomicFileWriter.syncDirectory(AtomicFileWriter.directory(of: path))
    }

    /// Discards the pending content; `path` is left as it was.
    public func abort() {
        guard !finished else { return }
        finished = true
        close(fd)
        unlink(tempPath)
    }

    deinit { abort() }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return }
        _ = fsync(dfd)
        close(dfd)
    }
}

/// One-call atomic writes.
public enum AtomicFile {
    /// Replaces the file at `path` with `bytes` atomically (see `AtomicFileWriter`).
    public static func write<C: Collection>(_ bytes: C, to path: String, mode: mode_t = 0o644) throws where C.Element == UInt8 {
        let w = try AtomicFileWriter(path: path, mode: mode)
        try w.write(bytes)
        try w.commit()
    }
}

extension AtomicFile {
    /// Whether `name` is the temporary name `AtomicFileWriter` gives (`.<name>.tmp-XXXXXX`).
    public static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix("."), let r = name.range(of: ".tmp-", options: .backwards) else { return false }
        let suffix = name[r.upperBound...]
        return suffix.count == 6 && suffix.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } && r.lowerBound > name.index(after: name.startIndex)
    }

    /// Removes the temporary files that writers killed part way (SIGKILL, power loss) left
    /// under `directory`, recursively; returns their paths. Only call this while holding
    /// `DirectoryLock` on `directory`, so no live writer's file is removed.
    @discardableResult
    public static func removeStaleTemporaries(under directory: String) -> [String] {
        var removed = [String]()
        guard let e = FileManager.default.enumerator(atPath: directory) else { return removed }
        for case let rel as String in e {
            let name = rel.split(separator: "/").last.map(String.init) ?? rel
            if isTemporaryName(name), unlink(directory + "/" + rel) == 0 { removed.append(directory + "/" + rel) }
        }
        return removed
    }
}

/// An exclusive advisory lock (`flock`) on a directory, held until `unlock()` or deinit, so two
/// runs never write the same release at once. It adds no file to the directory.
public final class DirectoryLock {
    private var fd: Int32

    /// Takes the lock on `path` (which must exist). With `waitSeconds` 0 it fails at once when
    /// another process holds it; otherwise it waits up to that long (short writers such as
    /// `repo add-target` queue behind each other instead of losing each other's updates).
    ///
    /// A run that holds the lock may put a new directory in `path`'s place (`DirectoryStage`):
    /// a waiter that then gets the lock of the directory it opened finds it is no longer the one
    /// at `path`, and locks the new one instead.
    public init(_ path: String, waitSeconds: Int = 0) throws {
        fd = -1
        var attempts = max(0, waitSeconds) * 50
        while true {
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else {
                throw FirmchainError(.ioCannotCreate, "cannot open the directory to lock it", path: path)
            }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard attempts > 0 else {
                    close(fd)
                    fd = -1
                    throw FirmchainError(.ioLocked, "another Firmchain run is writing this directory; wait for it to finish", path: path)
                }
                attempts -= 1
                usleep(20_000)
            }
            var held = stat(), now = stat()
            if fstat(fd, &held) == 0, stat(path, &now) == 0, held.st_dev == now.st_dev, held.st_ino == now.st_ino { return }
            close(fd)
            fd = -1
        }
    }

    /// Releases the lock.
    public func unlock() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { unlock() }
}
