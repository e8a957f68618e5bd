// libFuzzer target for the BSDIFF40 patch reader and patcher (Docs/architecture.md "Every algorithm ships with its oracle": a fuzz target for
// every parser of untrusted bytes). Built and run by `make fuzz` (Tests/Fuzz/run.sh) with
// `swiftc -sanitize=fuzzer,address`; not part of the SwiftPM package.
//
// Each input is a patch, applied to a fixed 4 KiB old file (the one the seed patches were
// made for). Any input must either be rejected with a FirmchainError or produce exactly the
// declared number of bytes; a crash, an ASan report, or a timeout is a finding.
import FirmchainCore
import Delta

/// The old file every input is applied to: byte i = (i * 31 + i / 7) mod 251.
let fuzzOld: [UInt8] = (0..<4096).map { UInt8(truncatingIfNeeded: ($0 * 31 + $0 / 7) % 251) }

@_cdecl("LLVMFuzzerTestOneInput")
public func bspatchFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let patch = UnsafeBufferPointer(start: data, count: size)
    do {
        let contents = try BSDIFF40.read(patch, maxNewSize: 1 << 20)
        let out = try fuzzOld.withUnsafeBufferPointer { try Patcher.apply(old: $0, contents) }
        if out.count != contents.newSize { fatalError("output size \(out.count) != declared \(contents.newSize)") }
    } catch is FirmchainError {
        // Rejected: the expected outcome for almost every input.
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    return 0
}
