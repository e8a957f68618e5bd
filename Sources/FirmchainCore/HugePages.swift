#if canImport(Glibc)
import Glibc
#endif

/// Asks the kernel to back the whole 2 MiB pages inside `bytes` of fresh memory with huge pages
/// (Linux `madvise(MADV_HUGEPAGE)`; where transparent huge pages are off or absent, nothing
/// happens). Call it before the memory is first touched. The suffix sort and the alignment
/// search read a ~130 MiB suffix array and a ~30 MiB text at random: with 4 KiB pages nearly
/// every such read also misses the TLB, and the first touch of the array costs one page fault
/// per 4 KiB. Never changes a result.
public func adviseHugePages(_ start: UnsafeMutableRawPointer, byteCount: Int) {
    #if os(Linux)
    let huge = 2 << 20
    let first = (Int(bitPattern: start) + huge - 1) & ~(huge - 1)
    let end = (Int(bitPattern: start) + byteCount) & ~(huge - 1)
    guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
    _ = madvise(p, end - first, 14)  // MADV_HUGEPAGE
    #endif
}
