import CSystem
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A copy of a directory, made beside it, that a run changes freely and then puts in the
/// directory's place in one step (Linux `renameat2(RENAME_EXCHANGE)`), so that a reader — or a
/// run killed at any point — finds either the whole previous directory or the whole new one,
/// never a mix (Docs/architecture.md "Rules that hold everywhere").
///
/// The copy is `.<name>.firmchain-next` in the directory's parent. Files the caller marks
/// shareable (written once, only ever replaced by rename, such as released targets) are hard
/// links, so staging a release of many large images costs no copies; every other file is
/// copied. Files marked guarded (an append-only ledger that other processes append to under
/// `flock`) are locked while the exchange happens and must be unchanged since they were copied,
/// so a concurrent append is never lost.
///
/// Only use a stage while holding `DirectoryLock` on the directory.
public final class DirectoryStage {
    /// The directory being replaced.
    public let target: String
    /// The staged copy.
    public let path: String
    private let guarded: [(relative: String, state: FileState?)]
    private var finished = false

    private struct FileState: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, modified: Int, modifiedNanos: Int
    }

    /// Where the staged copy of `target` lives.
    public static func stagePath(of target: String) -> String {
        let url = URL(fileURLWithPath: target).standardizedFileURL
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".firmchain-next"
    }

    /// Removes what a run killed before it finished left beside `target`: an unfinished copy, or
    /// the previous directory a run swapped out and was killed before removing.
    public static func removeLeftovers(of target: String) throws {
        let stale = stagePath(of: target)
        guard FileIO.exists(stale) else { return }
        try removeTree(stale)
    }

    /// Copies `target` (which must exist and be a directory of regular files and directories)
    /// to the stage.
    ///
    /// - Parameters:
    ///   - shareable: whether the file at a path relative to `target` may be hard-linked.
    ///   - guarded: paths relative to `target` checked unchanged (and locked) at `commit()`.
    /// - Throws: `io.cannot-create` when the parent cannot hold the stage or `target` is a mount
    ///   point (nothing can be exchanged across file systems); `io.not-a-file` for a symbolic
    ///   link or special file inside `target`.
    public init(replacing target: String, shareable: (String) -> Bool, guarded: [String] = []) throws {
        let target = URL(fileURLWithPath: target).standardizedFileURL.path
        self.target = target
        path = Self.stagePath(of: target)
        var top = stat(), parent = stat()
        guard stat(target, &top) == 0, (top.st_mode & S_IFMT) == S_IFDIR,
              stat(URL(fileURLWithPath: target).deletingLastPathComponent().path, &parent) == 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot stage the release: its directory or its parent cannot be read", path: target)
        }
        guard top.st_dev == parent.st_dev else {
            throw FirmchainError(.ioCannotCreate, "the release directory is a mount point; a run stages the new release beside it and swaps the two in one step, which cannot cross file systems: use a directory inside the mount",
                                 path: target)
        }
        try Self.removeLeftovers(of: target)
        // Before the copy: an append that lands while copying then shows at commit.
        self.guarded = guarded.map { ($0, Self.state(of: target + "/" + $0)) }
        do {
            try Self.copyTree(from: target, to: Self.stagePath(of: target), relative: "", mode: top.st_mode & 0o7777, shareable: shareable)
        } catch {
            try? Self.removeTree(Self.stagePath(of: target))
            throw error
        }
    }

    /// Puts the staged copy in the directory's place in one step and removes the previous
    /// directory. Everything staged is made durable first.
    ///
    /// - Throws: `io.locked` when a guarded file changed since it was copied (another process
    ///   appended to it; the stage is discarded and `target` is as it was); `io.cannot-create`
    ///   when the file system cannot exchange directories.
    public func commit() throws {
        precondition(!finished, "commit after commit or discard")
        finished = true
        defer { try? Self.removeTree(path) }
        try Self.syncTree(path)
        var locks = [Int32]()
        defer { for fd in locks { close(fd) } }
        for g in guarded {
            let live = target + "/" + g.relative
            let fd = open(live, O_RDONLY | O_CLOEXEC)
            if fd >= 0 {
                locks.append(fd)
                while flock(fd, LOCK_EX) != 0 { if errno != EINTR { break } }
            }
            guard Self.state(of: live) == g.state else {
                throw FirmchainError(.ioLocked, "another process wrote \(g.relative) while this run staged the release; nothing was changed — run again",
                                     path: live)
            }
        }
        guard firmchain_exchange_paths(path, target) == 0 else {
            let reason = errno == EINVAL || errno == ENOSYS ? "this file system cannot exchange two directories in one step"
                : String(cString: strerror(errno))
            throw FirmchainError(.ioCannotCreate, "cannot put the staged release in place: \(reason); the release is as it was", path: target)
        }
        AtomicFileWriter.syncDirectory(URL(fileURLWithPath: target).deletingLastPathComponent().path)
    }

    /// Removes the staged copy; `target` stays as it was.
    public func discard() {
        guard !finished else { return }
        finished = true
        try? Self.removeTree(path)
    }

    deinit { discard() }

    private static func state(of path: String) -> FileState? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileState(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                         modified: Int(st.st_mtim.tv_sec), modifiedNanos: Int(st.st_mtim.tv_nsec))
    }

    private static func copyTree(from source: String, to destination: String, relative: String, mode: mode_t,
                                 shareable: (String) -> Bool) throws {
        guard mkdir(destination, 0o700) == 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot stage the release: \(String(cString: strerror(errno)))", path: destination)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        for name in names {
            let from = source + "/" + name, to = destination + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(from, &st) == 0 else {
                throw FirmchainError(.ioFailed, "cannot read while staging the release: \(String(cString: strerror(errno)))", path: from)
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try copyTree(from: from, to: to, relative: rel, mode: st.st_mode & 0o7777, shareable: shareable)
            case S_IFREG where shareable(rel):
                guard link(from, to) == 0 else {
                    throw FirmchainError(.ioCannotCreate, "cannot stage the release (hard link): \(String(cString: strerror(errno)))", path: from)
                }
            case S_IFREG:
                try copyFile(from, to, mode: st.st_mode & 0o7777)
            default:
                throw FirmchainError(.ioNotAFile, "a release holds only regular files and directories, and this is a symbolic link or special file; remove it (or restore the release from the last good copy)",
                                     path: from)
            }
        }
        guard chmod(destination, mode) == 0 else {
            throw FirmchainError(.ioCannotCreate, "cannot stage the release: \(String(cString: strerror(errno)))", path: destination)
        }
    }

    private static func copyFile(_ from: String, _ to: String, mode: mode_t) throws {
        let input = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw FirmchainError(.ioFailed, "cannot read while staging the release: \(String(cString: strerror(errno)))", path: from) }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard output >= 0 else { throw FirmchainError(.ioCannotCreate, "cannot stage the release: \(String(cString: strerror(errno)))", path: to) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw FirmchainError(.ioFailed, "cannot read while staging the release: \(String(cString: strerror(errno)))", path: from) }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + done, n - done) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw FirmchainError(.ioWriteFailed, "cannot stage the release: \(String(cString: strerror(errno)))", path: to) }
                done += w
            }
        }
    }

    /// fsyncs every file and directory under `root` (hard-linked files are already durable;
    /// syncing them again is cheap).
    private static func syncTree(_ root: String) throws {
        var stack = [root]
        while let dir = stack.popLast() {
            for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
                let p = dir + "/" + name
                var st = stat()
                guard lstat(p, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR { stack.append(p); continue }
                let fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                if fd >= 0 { _ = fsync(fd); close(fd) }
            }
            AtomicFileWriter.syncDirectory(dir)
        }
    }

    private static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        try FileManager.default.removeItem(atPath: path)
    }
}
