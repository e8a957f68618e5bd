// scan-bench OLD NEW [REPEATS] [--threads T] [--whole 1] [--batch B] [--interleave L] [--pieces P] [--infer-stride S] [--skip N] [--classic 1] [--patch FILE]
//
// Times Firmchain's delta phases apart on one pair: the suffix sort of OLD once, then the
// alignment scan REPEATS times (default 3) with the given options. Prints one line per scan:
//   sa <wall> <cpu>   then   scan <wall> <cpu> <triples> <hash of the triples, to compare runs>
// (seconds; cpu = process CPU time, steadier than wall time on a shared machine). With --patch
// it also writes the BSDIFF40 patch of each scan's triples to FILE and prints `patch <bytes>`.
// --classic 1 scans exactly as bsdiff 4.3 (`AlignmentOptions.classic`: one piece, no skip,
// bsdiff's search), --skip N sets `longMatchSkip`: both to see which shortcut moves a patch.
// Used to tune the scan (Benchmarks/delta/README.md); the full tool is timed by
// Benchmarks/delta/run.sh.
#if canImport(Glibc)
import Glibc
#endif
import Delta
import SuffixArray

func fail(_ message: String) -> Never {
    let line = Array("scan-bench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(64)
}

func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(f) }
    fseek(f, 0, SEEK_END)
    let n = ftell(f)
    fseek(f, 0, SEEK_SET)
    return [UInt8](unsafeUninitializedCapacity: n) { buf, count in
        count = fread(buf.baseAddress!, 1, n, f)
    }
}

func now(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

var args = Array(CommandLine.arguments.dropFirst())
var options = AlignmentOptions()
func take(_ flag: String, from args: inout [String]) -> Int? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count, let v = Int(args[i + 1]) else { return nil }
    args.removeSubrange(i...(i + 1))
    return v
}
if let v = take("--batch", from: &args) { options.searchBatch = v }
if let v = take("--interleave", from: &args) { options.interleave = v }
if let v = take("--pieces", from: &args) { options.parallelPieces = v }
if let v = take("--infer-stride", from: &args) { options.inferStride = v }
if let v = take("--threads", from: &args) { options.threads = v }
if take("--whole", from: &args) == 1 { options.parallelMinimumSize = .max }
if let v = take("--skip", from: &args) { options.longMatchSkip = v }
if take("--classic", from: &args) == 1 { options = .classic }
args.removeAll { $0 == "--hugepages" }
var patchPath: String? = nil
if let i = args.firstIndex(of: "--patch"), i + 1 < args.count {
    patchPath = args[i + 1]
    args.removeSubrange(i...(i + 1))
}
guard args.count >= 2 else { fail("usage: scan-bench OLD NEW [REPEATS] [--threads T] [--whole 1] [--batch B] [--interleave L] [--pieces P] [--infer-stride S] [--skip N] [--classic 1] [--patch FILE]") }
let repeats = args.count > 2 ? Int(args[2]) ?? 3 : 3
let hugePages = CommandLine.arguments.contains("--hugepages")
/// The file's bytes in memory the scan reads directly (2 MiB-aligned, huge pages advised with --hugepages).
func load(_ path: String) -> UnsafeBufferPointer<UInt8> {
    let a = readFile(path)
    var raw: UnsafeMutableRawPointer? = nil
    posix_memalign(&raw, 2 << 20, a.count + (2 << 20))
    if hugePages { _ = madvise(raw!, a.count + (2 << 20), 14) }  // MADV_HUGEPAGE
    _ = a.withUnsafeBytes { memcpy(raw!, $0.baseAddress!, a.count) }
    return UnsafeBufferPointer(start: raw!.assumingMemoryBound(to: UInt8.self), count: a.count)
}
let old = load(args[0]), new = load(args[1])

var w = now(CLOCK_MONOTONIC), c = now(CLOCK_PROCESS_CPUTIME_ID)
let sa = try SuffixArray.build(old, threads: options.threads > 0 ? options.threads : sysconf(Int32(_SC_NPROCESSORS_ONLN)))
print("sa", now(CLOCK_MONOTONIC) - w, now(CLOCK_PROCESS_CPUTIME_ID) - c)
for _ in 0..<repeats {
    w = now(CLOCK_MONOTONIC)
    c = now(CLOCK_PROCESS_CPUTIME_ID)
    let triples = sa.withUnsafeBufferPointer { Alignment.triples(old: old, new: new, suffixArray: $0, options: options) }
    var h: UInt64 = 1469598103934665603
    for t in triples { for v in [t.add, t.copy, t.seek] { h = (h ^ UInt64(bitPattern: v)) &* 1099511628211 } }
    print("scan", now(CLOCK_MONOTONIC) - w, now(CLOCK_PROCESS_CPUTIME_ID) - c, triples.count, String(h, radix: 16))
    if let patchPath {
        let patch = try BSDIFF40.write(old: old, new: new, triples: triples)
        guard let f = fopen(patchPath, "wb") else { fail("cannot write \(patchPath)") }
        _ = patch.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        print("patch", patch.count)
    }
}
