// sa-bench FILE [REPEATS]
//
// Times SuffixArray.build on the bytes of FILE (best of REPEATS, default 1), then runs the
// linear-time checker on the result. Prints one line:
//   <seconds> <bytes> <check-seconds> valid|invalid
// and exits 1 if the checker rejects the array. Used by Benchmarks/suffix-array/run.sh.
import Foundation
import SuffixArray

let args = CommandLine.arguments
guard args.count >= 2, let data = FileManager.default.contents(atPath: args[1]) else {
    FileHandle.standardError.write("usage: sa-bench FILE [REPEATS]\n".data(using: .utf8)!)
    exit(64)
}
let repeats = args.count >= 3 ? max(1, Int(args[2]) ?? 1) : 1
let text = [UInt8](data)
let clock = ContinuousClock()
var best = Double.infinity
var sa: [Int32] = []
for _ in 0..<repeats {
    sa = []
    let start = clock.now
    sa = try SuffixArray.build(text)
    let d = clock.now - start
    best = min(best, Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
}
let cstart = clock.now
let verdict = SuffixArray.check(text, sa)
let cd = clock.now - cstart
let checkSeconds = Double(cd.components.seconds) + Double(cd.components.attoseconds) * 1e-18
print(String(format: "%.3f %d %.3f %@", best, text.count, checkSeconds, verdict.isValid ? "valid" : "invalid"))
if !verdict.isValid {
    FileHandle.standardError.write("sa-bench: \(verdict)\n".data(using: .utf8)!)
    exit(1)
}
