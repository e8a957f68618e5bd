// Two ways in (Docs/fuzzing.md):
//
// - built with `--sanitize fuzzer -Xswiftc -DFUZZING` (`make fuzz`, Tests/Fuzz/run.sh), libFuzzer
//   owns `main` and calls `LLVMFuzzerTestOneInput` for the target `FIRMCHAIN_FUZZ_TARGET` names;
// - built as part of the package, `firmchain-fuzz TARGET FILE|DIR …` runs files through a target
//   once (a finding's reproducer, the seed corpus as a regression test), and
//   `firmchain-fuzz --list` names the targets.
import FirmchainCore
import Foundation

#if FUZZING
/// The target this process fuzzes, from `FIRMCHAIN_FUZZ_TARGET` (read once).
nonisolated(unsafe) var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["FIRMCHAIN_FUZZ_TARGET"] ?? ""
    if name == "--list" {
        for t in fuzzTargets { print(t.name) }
        exit(0)
    }
    guard let t = fuzzTargets.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("set FIRMCHAIN_FUZZ_TARGET to one of: \(fuzzTargets.map(\.name).joined(separator: " "))\n".utf8))
        exit(2)
    }
    selectedTarget = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzOne(selectedTarget!, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main
struct FuzzDriver {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--list" || args.isEmpty {
            for t in fuzzTargets { print("\(t.name)\t\(t.parses)") }
            return
        }
        guard let target = fuzzTargets.first(where: { $0.name == args[0] }) else {
            FileHandle.standardError.write(Data("firmchain-fuzz: no target \(args[0]) (see --list)\n".utf8))
            exit(64)
        }
        var count = 0
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            let files = isDir.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 } : [path]
            for f in files {
                guard let bytes = try? FileIO.read(f, limit: 1 << 24) else { continue }
                fuzzOne(target, bytes)
                count += 1
            }
        }
        print("\(target.name): \(count) input(s), no finding")
    }
}
#endif
