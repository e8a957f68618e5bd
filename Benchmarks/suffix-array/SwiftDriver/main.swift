// sa-bench FILE [REPEATS]
//
// Times SuffixArray.build on the bytes of FILE (best of REPEATS, default 1), then runs the
// linear-time checker on the result. Prints one line:
//   <seconds> <bytes> <check-seconds> valid|invalid <cpu-seconds>
// (seconds: best wall time of build; cpu-seconds: the process CPU time of that same run, which
// is steadier than wall time on a shared machine).
// and exits 1 if the checker rejects the array. Used by Benchmarks/suffix-array/run.sh.
import Foundation
import SuffixArray

let args = CommandLine.arguments
/// The bytes of `path`, read straight into one array (no intermediate copy, so the peak RSS
/// measured by run.sh is the text plus what SuffixArray.build needs).
func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    guard fseek(f, 0, SEEK_END) == 0 else { return nil }
    let n = ftell(f)
    guard n >= 0, fseek(f, 0, SEEK_SET) == 0 else { return nil }
    var ok = true
    let bytes = [UInt8](unsafeUninitializedCapacity: n) { buf, count in
        ok = n == 0 || fread(buf.baseAddress!, 1, n, f) == n
        count = ok ? n : 0
    }
    return ok ? bytes : nil
}

guard args.count >= 2, let text = readFile(args[1]) else {
    FileHandle.standardError.write("usage: sa-bench FILE [REPEATS]\n".data(using: .utf8)!)
    exit(64)
}
let repeats = args.count >= 3 ? max(1, Int(args[2]) ?? 1) : 1
let clock = ContinuousClock()
var best = Double.infinity
var bestCPU = Double.infinity
func cpuNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
var sa: [Int32] = []
for _ in 0..<repeats {
    sa = []
    let cpuStart = cpuNow()
    let start = clock.now
    sa = try SuffixArray.build(text)
    let d = clock.now - start
    bestCPU = min(bestCPU, cpuNow() - cpuStart)
    best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
}
let cstart = clock.now
let verdict = SuffixArray.check(text, sa)
let cd = clock.now - cstart
let checkSeconds = Double(cd.components.seconds) + Double(cd.components.attoseconds) * 1e-18
print(String(format: "%.3f %d %.3f %@ %.3f", best, text.count, checkSeconds, verdict.isValid ? "valid" : "invalid", bestCPU))
if !verdict.isValid {
    FileHandle.standardError.write("sa-bench: \(verdict)\n".data(using: .utf8)!)
    exit(1)
}
