import ArgumentParser
import Delta
import FirmchainCore
import Foundation

extension DeltaCommand {
    /// `firmchain delta apply`.
    struct Apply: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply a BSDIFF40 patch to OLD and write NEW; the patch is treated as untrusted.",
            discussion: """
                The output is written atomically: on any error (truncated, corrupt or hostile patch,
                wrong old file) no output file appears. Exit code 65 means the patch was rejected.

                Example:
                  firmchain delta apply --old fw-1.0.bin --patch fw-1.0-1.1.bsdiff --out fw-1.1.bin --json
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(help: "The old (base) file.")
        var old: String

        @Option(help: "The BSDIFF40 patch.")
        var patch: String

        @Option(help: "Where to write the new file (atomically).")
        var out: String

        @Option(help: "Refuse patches declaring an output larger than this many bytes.")
        var maxOutput: Int = Int(Int32.max)

        func validate() throws {
            if maxOutput < 0 { throw ValidationError("--max-output must be >= 0") }
        }

        func run() throws {
            let start = DispatchTime.now().uptimeNanoseconds
            let oldBytes = try FileIO.read(old, limit: Int(Int32.max))
            let patchBytes = try FileIO.read(patch, limit: Int(Int32.max))
            let newBytes: [UInt8]
            do {
                newBytes = try Delta.apply(old: oldBytes, patch: patchBytes, limits: DeltaApplyLimits(maxNewSize: maxOutput))
            } catch let e as FirmchainError { throw e.about(patch) }
            try AtomicFile.write(newBytes, to: out)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            output.emit(
                text: "wrote \(out): \(newBytes.count) bytes from a \(patchBytes.count)-byte patch in \(String(format: "%.2f", seconds)) s",
                json: DeltaCommand.report(action: "apply", format: DeltaFormat.bsdiff40.rawValue, old: (old, oldBytes),
                                          new: (out, newBytes), patch: (patch, patchBytes), seconds: seconds))
        }
    }
}
