#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// How much more memory this process may take before a hard limit stops it: the address-space
/// limit (`ulimit -v`, RLIMIT_AS), where allocations beyond it fail (and a Swift program
/// aborts), and the memory limit of its control group (cgroup v2 `memory.max`, a container's or a
/// CI job's `--memory`), where the kernel kills the process without a word. A command that
/// knows roughly what it will need checks this first and says so in one line instead.
public enum MemoryLimit {
    /// What limits the process, and how many bytes it may still take under it.
    public struct Headroom: Sendable, Equatable {
        /// What sets the limit, for a message: "the address-space limit (ulimit -v)" or "the
        /// memory limit of control group /…".
        public var source: String
        /// Bytes the process may still take.
        public var bytes: Int
        /// Whether the limit counts address space (RLIMIT_AS: every mapping, reserved or not,
        /// such as malloc's per-thread arenas and thread stacks) rather than memory in use.
        public var addressSpace: Bool

        /// A headroom from its parts.
        public init(source: String, bytes: Int, addressSpace: Bool = false) {
            self.source = source
            self.bytes = bytes
            self.addressSpace = addressSpace
        }
    }

    /// Every limit on this process now, the address-space limit first; empty when nothing
    /// limits it (or the limits cannot be read: then no check stands in the way).
    public static func current() -> [Headroom] {
        var limits = [Headroom]()
        var rl = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max,  // RLIM_INFINITY
           let statm = readSmall("/proc/self/statm") {
            let pages = Int(sysconf(Int32(_SC_PAGESIZE)))
            if let h = addressSpaceHeadroom(limit: UInt64(rl.rlim_cur), statm: String(decoding: statm, as: UTF8.self), pageSize: pages) {
                limits.append(h)
            }
        }
        if let own = readSmall("/proc/self/cgroup") {
            let mounts = readSmall("/proc/self/mountinfo").map { cgroupMounts(String(decoding: $0, as: UTF8.self)) }
            limits += cgroupHeadrooms(String(decoding: own, as: UTF8.self), mounts: mounts) { path in
                readSmall(path).map { String(decoding: $0, as: UTF8.self) }
            }
        }
        return limits
    }

    /// The limits of the process's control group and of each group above it, given
    /// /proc/self/cgroup and a reader of the files under /sys/fs/cgroup: cgroup v2 (memory.max,
    /// "max" when unlimited), then v1's memory controller (memory.limit_in_bytes, a huge number
    /// when unlimited). A group above may set a tighter limit than the process's own, up to the
    /// top of what the mount shows. `mounts` says where each hierarchy is mounted
    /// (`cgroupMounts`); without it the usual places are assumed (/sys/fs/cgroup for v2,
    /// /sys/fs/cgroup/memory for v1).
    static func cgroupHeadrooms(_ cgroup: String, mounts: CgroupMounts? = nil, read: (String) -> String?) -> [Headroom] {
        var limits = [Headroom]()
        let usual = CgroupMounts(v2: CgroupMount(point: "/sys/fs/cgroup", root: "/"),
                                 v1Memory: CgroupMount(point: "/sys/fs/cgroup/memory", root: "/"))
        for (path, mount, maxFile, currentFile) in [
            (cgroupPath(cgroup), (mounts ?? usual).v2, "memory.max", "memory.current"),
            (cgroupV1MemoryPath(cgroup), (mounts ?? usual).v1Memory, "memory.limit_in_bytes", "memory.usage_in_bytes"),
        ] {
            guard var group = path, let mount else { continue }
            while let dir = mount.directory(of: group) {
                if let max = read(dir + "/" + maxFile), let now = read(dir + "/" + currentFile),
                   let h = cgroupHeadroom(group: group, max: max, current: now, stat: read(dir + "/memory.stat")) {
                    limits.append(h)
                }
                if group == "/" { break }
                group = "/" + group.split(separator: "/").dropLast().joined(separator: "/")
            }
        }
        return limits
    }

    /// Where a cgroup hierarchy is mounted: at `point`, showing the hierarchy's group `root`
    /// and what lies below it (a container without its own cgroup namespace sees its group at
    /// /sys/fs/cgroup/memory, mounted from /docker/<id>).
    struct CgroupMount: Equatable {
        var point: String
        var root: String

        /// The directory of `group` under this mount, or nil when the mount does not show it.
        func directory(of group: String) -> String? {
            if root == "/" { return point + (group == "/" ? "" : group) }
            if group == root { return point }
            return group.hasPrefix(root + "/") ? point + group.dropFirst(root.count) : nil
        }
    }

    /// The cgroup v2 hierarchy and the v1 hierarchy that holds the memory controller.
    struct CgroupMounts: Equatable {
        var v2: CgroupMount?
        var v1Memory: CgroupMount?
    }

    /// The cgroup mounts in /proc/self/mountinfo: a `cgroup2` file system, and a `cgroup` one
    /// whose options name `memory` (alone, or with other controllers mounted with it, as in
    /// /sys/fs/cgroup/cpu,memory). Each line is "id parent dev root point options [tags] - type
    /// source super-options"; spaces and the like in paths come as octal escapes (\040).
    static func cgroupMounts(_ mountinfo: String) -> CgroupMounts {
        var found = CgroupMounts()
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " "), tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { continue }
            let mount = CgroupMount(point: unescapeMountPath(fields[4]), root: unescapeMountPath(fields[3]))
            if tail[0] == "cgroup2" && found.v2 == nil { found.v2 = mount }
            if tail[0] == "cgroup" && found.v1Memory == nil && tail[2].split(separator: ",").contains("memory") { found.v1Memory = mount }
        }
        return found
    }

    /// A mountinfo path with its octal escapes (\040 space, \011 tab, \012 newline, \134
    /// backslash) decoded.
    static func unescapeMountPath(_ field: Substring) -> String {
        let raw = Array(field.utf8)
        var bytes = [UInt8](), i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
               let v = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The text of a small kernel file (/proc, /sys: they report a size of 0, so it is read to
    /// its end), or nil.
    static func readSmall(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    /// The headroom under an address-space limit of `limit` bytes, given /proc/self/statm (its
    /// first field is the process's size in pages); nil when statm does not parse.
    static func addressSpaceHeadroom(limit: UInt64, statm: String, pageSize: Int) -> Headroom? {
        guard let first = statm.split(separator: " ").first, let pages = Int(first.trimmingCharacters(in: .whitespacesAndNewlines)),
              pageSize > 0 else { return nil }
        let used = UInt64(pages) &* UInt64(pageSize)
        let left = limit > used ? limit - used : 0
        return Headroom(source: "the address-space limit (ulimit -v)", bytes: Int(min(left, UInt64(Int.max))), addressSpace: true)
    }

    /// The process's cgroup v2 path from /proc/self/cgroup (the line `0::/path`), or nil (cgroup
    /// v1 only, or unreadable).
    static func cgroupPath(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let path = String(line.dropFirst(3))
            return path.hasPrefix("/") ? path : nil
        }
        return nil
    }

    /// The process's cgroup v1 memory-controller path from /proc/self/cgroup (the line
    /// `N:memory:/path`, or a controller list holding `memory`), or nil.
    static func cgroupV1MemoryPath(_ text: String) -> String? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[1].split(separator: ",").contains("memory") else { continue }
            let path = String(fields[2])
            return path.hasPrefix("/") ? path : nil
        }
        return nil
    }

    /// The headroom a group's limit and use leave (v2: memory.max and memory.current; v1:
    /// memory.limit_in_bytes and memory.usage_in_bytes); nil when there is no limit ("max", or
    /// v1's 2^63 less a page) or either does not parse. The use counts the page cache, which
    /// the kernel reclaims before it kills anything: the file pages in `stat` (memory.stat: v2
    /// `file`, v1 `total_cache` or `cache`) are not counted, so that a build's cached files do
    /// not make a roomy container look full.
    static func cgroupHeadroom(group: String, max: String, current: String, stat: String? = nil) -> Headroom? {
        let m = max.trimmingCharacters(in: .whitespacesAndNewlines), c = current.trimmingCharacters(in: .whitespacesAndNewlines)
        guard m != "max", let limit = Int(m), limit < 1 << 62, var used = Int(c) else { return nil }
        if let stat {
            var fields = [Substring: Int]()
            for line in stat.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let v = Int(parts[1]) { fields[parts[0]] = v }
            }
            if let cache = fields["file"] ?? fields["total_cache"] ?? fields["cache"] { used = Swift.max(0, used - cache) }
        }
        return Headroom(source: "the memory limit of control group \(group)", bytes: Swift.max(0, limit - used))
    }
}
