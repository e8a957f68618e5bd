// sa-bench FILE [REPEATS] [THREADS]
//
// Times SuffixArray.build on the bytes of FILE (best of REPEATS, default 1; THREADS, default 1,
// as SuffixArray.build's `threads`), then runs the
// linear-time checker on the result. Prints one line:
//   <wall-seconds> <bytes> <check-seconds> valid|invalid <cpu-seconds>
// (wall-seconds: the best wall time of build; cpu-seconds: the process CPU time of the best run
// by CPU, steadier than wall time on a shared machine) and exits 1 if the checker rejects the
// array. Used by Benchmarks/suffix-array/run.sh, which measures its peak RSS: so this driver
// avoids Foundation (whose libraries alone add megabytes of RSS) and reads the file straight
// into the one array SuffixArray.build sorts.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SuffixArray

func fail(_ message: String, _ code: Int32) -> Never {
    let line = Array("sa-bench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// The bytes of `path`, read straight into one array.
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

func seconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// `x` with three decimals, without Foundation's String(format:).
func fixed3(_ x: Double) -> String {
    let ms = Int((x * 1000).rounded())
    let frac = String(ms % 1000)
    return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
}

let args = CommandLine.arguments
guard args.count >= 2 else { fail("usage: sa-bench FILE [REPEATS] [THREADS]", 64) }
guard let text = readFile(args[1]) else { fail("cannot read \(args[1])", 66) }
let repeats = args.count >= 3 ? max(1, Int(args[2]) ?? 1) : 1
let threads = args.count >= 4 ? max(1, Int(args[3]) ?? 1) : 1

// WARM=1: sort into one array allocated (and touched) before the timing, as a caller reusing
// its buffer would; otherwise every run gets a fresh array from SuffixArray.build.
let warm = getenv("WARM").map { String(cString: $0) == "1" } ?? false
var bestWall = Double.infinity
var bestCPU = Double.infinity
var sa: [Int32] = warm ? [Int32](repeating: 0, count: text.count) : []
for _ in 0..<repeats {
    if !warm { sa = [] }  // free the previous result first: one SA alive at a time
    let cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC)
    do {
        if warm {
            try text.withUnsafeBufferPointer { t in
                try sa.withUnsafeMutableBufferPointer { try SuffixArray.build(t, into: $0, threads: threads) }
            }
        } else {
            sa = try SuffixArray.build(text, threads: threads)
        }
    } catch { fail("\(error)", 65) }
    let wall = seconds(CLOCK_MONOTONIC) - wall0, cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0
    bestWall = min(bestWall, wall)
    bestCPU = min(bestCPU, cpu)
}
let check0 = seconds(CLOCK_MONOTONIC)
let verdict = SuffixArray.check(text, sa)
let checkSeconds = seconds(CLOCK_MONOTONIC) - check0
print("\(fixed3(bestWall)) \(text.count) \(fixed3(checkSeconds)) \(verdict.isValid ? "valid" : "invalid") \(fixed3(bestCPU))")
if !verdict.isValid { fail("\(verdict)", 1) }
