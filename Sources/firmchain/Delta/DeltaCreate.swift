import ArgumentParser
import Delta
import FirmchainCore
import Foundation

extension DeltaCommand {
    /// `firmchain delta create`.
    struct Create: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Write the patch that turns OLD into NEW.",
            discussion: """
                Memory: about 5 x OLD + 3 x NEW bytes. Inputs must be smaller than 2 GiB.
                --format firmchain1 writes Firmchain's own format for fleets that ship their own
                applier (Sources/CFirmchainPatch): LZMA2 sections, and the old and new images'
                lengths and sha256 inside the patch.

                Example:
                  firmchain delta create --old fw-1.0.bin --new fw-1.1.bin --out fw-1.0-1.1.bsdiff --json
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(help: "The old (base) file the device already has.")
        var old: String

        @Option(help: "The new file to reach.")
        var new: String

        @Option(help: "Where to write the patch (atomically).")
        var out: String

        @Option(help: "Patch format: bsdiff40 (stock bspatch applies it) or firmchain1 (smaller; names its base and result; Docs/formats/FIRMCHAIN1.md).")
        var format: String = DeltaFormat.bsdiff40.rawValue

        func run() throws {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let deltaFormat = DeltaFormat(rawValue: format) else {
                throw FirmchainError(.deltaUnsupportedFormat,
                                     "--format \(format) is not a patch format Firmchain writes (supported: \(DeltaFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            // The 32-bit suffix array bounds the inputs: say so before reading gigabytes.
            for path in [old, new] where FileIO.exists(path) {
                let size = try FileIO.size(path)
                if size > Int64(Delta.maxInputSize) {
                    throw FirmchainError(.deltaInputTooLarge, "is \(size) bytes; delta create takes inputs below 2 GiB (\(Delta.maxInputSize) bytes)", path: path)
                }
            }
            let oldBytes = try FileIO.read(old, limit: Delta.maxInputSize)
            let newBytes = try FileIO.read(new, limit: Delta.maxInputSize)
            var options = DeltaCreateOptions()
            options.format = deltaFormat
            let reporter: ProgressReporter = oldBytes.count + newBytes.count >= 8 << 20 ? progress : SilentProgress()
            let patch = try Delta.create(old: oldBytes, new: newBytes, options: options, progress: reporter)
            try AtomicFile.write(patch, to: out)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let ratio = newBytes.isEmpty ? 0 : Double(patch.count) / Double(newBytes.count)
            output.emit(
                text: "wrote \(out): \(patch.count) bytes, \(String(format: "%.2f", ratio * 100))% of new (\(newBytes.count) bytes) in \(String(format: "%.2f", seconds)) s",
                json: DeltaCommand.report(action: "create", format: format, old: (old, oldBytes), new: (new, newBytes),
                                          patch: (out, patch), seconds: seconds))
        }
    }
}
