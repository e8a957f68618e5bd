@testable import FirmchainCore
import Testing

/// Reading the limits a process runs under (`MemoryLimit`), from the kernel files' texts.
@Suite("Memory limits: address space and control groups")
struct MemoryLimitTests {
    @Test("the address-space headroom is the limit less the process's size in pages")
    func addressSpace() {
        let h = MemoryLimit.addressSpaceHeadroom(limit: 1 << 30, statm: "65536 433 404 5 0 123 0\n", pageSize: 4096)
        #expect(h == MemoryLimit.Headroom(source: "the address-space limit (ulimit -v)", bytes: (1 << 30) - 65536 * 4096, addressSpace: true))
        // Already past the limit: nothing left, never negative.
        #expect(MemoryLimit.addressSpaceHeadroom(limit: 4096, statm: "10 1 1 1 0 1 0", pageSize: 4096)?.bytes == 0)
        #expect(MemoryLimit.addressSpaceHeadroom(limit: 1 << 30, statm: "garbage", pageSize: 4096) == nil)
    }

    @Test("cgroup paths: v2's 0:: line, v1's memory controller (alone or in a list)")
    func cgroupPaths() {
        let v1 = "9:name=systemd:/\n4:memory:/process_api/cb63\n0::/\n"
        #expect(MemoryLimit.cgroupPath(v1) == "/")
        #expect(MemoryLimit.cgroupV1MemoryPath(v1) == "/process_api/cb63")
        #expect(MemoryLimit.cgroupV1MemoryPath("5:cpu,memory:/ci/job7\n") == "/ci/job7")
        #expect(MemoryLimit.cgroupPath("0::/system.slice/docker-1.scope\n") == "/system.slice/docker-1.scope")
        #expect(MemoryLimit.cgroupV1MemoryPath("0::/a\n") == nil)
        #expect(MemoryLimit.cgroupPath("4:memory:/x\n") == nil)
    }

    @Test("a group's headroom is its limit less its use; no limit gives none")
    func cgroupHeadroom() {
        let h = MemoryLimit.cgroupHeadroom(group: "/ci/job7", max: "536870912\n", current: "104857600\n")
        #expect(h == MemoryLimit.Headroom(source: "the memory limit of control group /ci/job7", bytes: 536_870_912 - 104_857_600))
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "max\n", current: "5") == nil)
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "9223372036854771712\n", current: "5") == nil)  // v1, unlimited
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "100", current: "200")?.bytes == 0)
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "", current: "1") == nil)
    }

    @Test("the page cache a group's use counts is not held against it (v2 file, v1 total_cache)")
    func pageCacheIsNotUse() {
        let v2 = "anon 52428800\nfile 419430400\nkernel 1048576\n"
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "536870912", current: "524288000", stat: v2)?.bytes == 536_870_912 - (524_288_000 - 419_430_400))
        let v1 = "cache 300000000\nrss 20000000\ntotal_cache 400000000\ntotal_rss 20000000\n"
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "536870912", current: "500000000", stat: v1)?.bytes == 536_870_912 - 100_000_000)
        // No stat, or none of those lines: the use as it stands.
        #expect(MemoryLimit.cgroupHeadroom(group: "/", max: "1000", current: "400", stat: "anon 400\n")?.bytes == 600)
    }

    @Test("the groups above the process count too, each from its own directory; v2 before v1")
    func ancestors() {
        let files = [
            "/sys/fs/cgroup/ci/job7/memory.max": "max", "/sys/fs/cgroup/ci/job7/memory.current": "10",
            "/sys/fs/cgroup/ci/memory.max": "1000", "/sys/fs/cgroup/ci/memory.current": "300",
            "/sys/fs/cgroup/memory.max": "5000", "/sys/fs/cgroup/memory.current": "100",
            "/sys/fs/cgroup/memory/docker/c1/memory.limit_in_bytes": "2000", "/sys/fs/cgroup/memory/docker/c1/memory.usage_in_bytes": "500",
            "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes": "9223372036854771712", "/sys/fs/cgroup/memory/docker/memory.usage_in_bytes": "1",
        ]
        var asked = [String]()
        let limits = MemoryLimit.cgroupHeadrooms("4:memory:/docker/c1\n0::/ci/job7\n") { path in
            asked.append(path)
            return files[path]
        }
        #expect(limits.map(\.bytes) == [700, 4900, 1500])
        #expect(limits.map(\.source) == ["the memory limit of control group /ci", "the memory limit of control group /",
                                         "the memory limit of control group /docker/c1"])
        // The walk reaches the root of each hierarchy and stops there.
        #expect(asked.contains("/sys/fs/cgroup/memory.max") && asked.contains("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        #expect(!asked.contains { $0.hasPrefix("/sys/fs/cgroup//") })
        #expect(MemoryLimit.cgroupHeadrooms("garbage") { _ in nil }.isEmpty)
    }

    @Test("where the hierarchies are mounted, from mountinfo: hybrid, v2 only, memory co-mounted with cpu, a container's own group, escaped paths")
    func mounts() {
        // This machine's kind (hybrid: v1 controllers, v2 at unified).
        let hybrid = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let m = MemoryLimit.cgroupMounts(hybrid)
        #expect(m.v2 == .init(point: "/sys/fs/cgroup/unified", root: "/"))
        #expect(m.v1Memory == .init(point: "/sys/fs/cgroup/memory", root: "/"))
        #expect(MemoryLimit.cgroupMounts("29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n")
            == .init(v2: .init(point: "/sys/fs/cgroup", root: "/"), v1Memory: nil))
        let coMounted = MemoryLimit.cgroupMounts("40 31 0:40 / /sys/fs/cgroup/cpu,memory rw - cgroup cgroup rw,cpu,memory\n")
        #expect(coMounted.v1Memory == .init(point: "/sys/fs/cgroup/cpu,memory", root: "/"))
        let escaped = MemoryLimit.cgroupMounts("50 31 0:41 /ci\\040jobs /mnt/cg\\040v1 rw - cgroup cgroup rw,memory\n")
        #expect(escaped.v1Memory == .init(point: "/mnt/cg v1", root: "/ci jobs"))
        #expect(MemoryLimit.cgroupMounts("garbage\n\n") == .init())

        // A container without its own cgroup namespace: /proc/self/cgroup names /docker/c1, the
        // mount shows that group at its point, and nothing above it.
        let container = MemoryLimit.cgroupMounts("60 50 0:33 /docker/c1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n")
        let files = ["/sys/fs/cgroup/memory/memory.limit_in_bytes": "1000", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "400"]
        var asked = [String]()
        let limits = MemoryLimit.cgroupHeadrooms("4:memory:/docker/c1\n", mounts: container) { path in
            asked.append(path)
            return files[path]
        }
        #expect(limits == [MemoryLimit.Headroom(source: "the memory limit of control group /docker/c1", bytes: 600)])
        #expect(asked.allSatisfy { $0.hasPrefix("/sys/fs/cgroup/memory/memory.") }, "\(asked)")
        // With the memory controller co-mounted, its files are read there.
        let co = MemoryLimit.cgroupHeadrooms("5:cpu,memory:/ci/job7\n", mounts: coMounted) { path in
            ["/sys/fs/cgroup/cpu,memory/ci/job7/memory.limit_in_bytes": "2000",
             "/sys/fs/cgroup/cpu,memory/ci/job7/memory.usage_in_bytes": "500"][path]
        }
        #expect(co.map(\.bytes) == [1500])
    }
}
