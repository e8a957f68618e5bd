// A helper process for the atomic-write kill test: writes `MiB` mebibytes of the byte `fill`
// to PATH through AtomicFileWriter, one MiB at a time, then commits. The test kills it with
// SIGKILL at random moments and checks that PATH is always either the old or the new file.
import FirmchainCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
guard args.count == 4, let mib = Int(args[2]), let fill = UInt8(args[3]) else {
    FileHandle.standardError.write(Data("usage: atomic-write-probe PATH MiB FILL-BYTE\n".utf8))
    exit(64)
}
do {
    let writer = try AtomicFileWriter(path: args[1])
    let chunk = [UInt8](repeating: fill, count: 1 << 20)
    for _ in 0..<mib { try writer.write(chunk) }
    try writer.commit()
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(74)
}
