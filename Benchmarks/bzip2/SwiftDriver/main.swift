// bz2-bench OLD NEW [REPEATS] [THREADS]
//
// Times BSDIFF40.write on a diff-like block: one triple that adds new[i] - old[i] over the
// common length and copies the rest of NEW as extra, so the diff stream is the bytewise
// difference of the two files (the shape of a bsdiff diff block: mostly zeros where the files
// agree). Runs it serially (concurrency 1) and on THREADS threads (default: active cores), best
// of REPEATS (default 3) each, checks both patches are byte-identical and prints:
//   serial <wall-s> <cpu-s>
//   parallel <threads> <wall-s> <cpu-s>
//   identical <patch-bytes>
// and exits 1 if the patches differ. Wall time includes building the diff block (one pass).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Delta
import Foundation

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("bz2-bench: \(message)\n".utf8))
    exit(code)
}

func seconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: bz2-bench OLD NEW [REPEATS] [THREADS]", 64) }
guard let old = FileManager.default.contents(atPath: args[1]).map({ [UInt8]($0) }) else { fail("cannot read \(args[1])", 66) }
guard let new = FileManager.default.contents(atPath: args[2]).map({ [UInt8]($0) }) else { fail("cannot read \(args[2])", 66) }
let repeats = args.count >= 4 ? max(1, Int(args[3]) ?? 3) : 3
let threads = args.count >= 5 ? max(1, Int(args[4]) ?? 2) : ProcessInfo.processInfo.activeProcessorCount
let common = min(old.count, new.count)
let triples = [ControlTriple(add: Int64(common), copy: Int64(new.count - common), seek: 0)]

/// Best wall and CPU seconds of `repeats` runs of BSDIFF40.write on `concurrency` threads.
func run(concurrency: Int) -> (wall: Double, cpu: Double, patch: [UInt8]) {
    var best = (wall: Double.infinity, cpu: Double.infinity, patch: [UInt8]())
    for _ in 0..<repeats {
        let w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_PROCESS_CPUTIME_ID)
        let patch = old.withUnsafeBufferPointer { o in
            new.withUnsafeBufferPointer { n in
                try! BSDIFF40.write(old: o, new: n, triples: triples, concurrency: concurrency)
            }
        }
        let wall = seconds(CLOCK_MONOTONIC) - w0, cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - c0
        best = (min(best.wall, wall), min(best.cpu, cpu), patch)
    }
    return best
}

let serial = run(concurrency: 1)
print("serial \(String(format: "%.3f", serial.wall)) \(String(format: "%.3f", serial.cpu))")
let parallel = run(concurrency: threads)
print("parallel \(threads) \(String(format: "%.3f", parallel.wall)) \(String(format: "%.3f", parallel.cpu))")
guard serial.patch == parallel.patch else { fail("the parallel patch differs from the serial one", 1) }
print("identical \(serial.patch.count)")
