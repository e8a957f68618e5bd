import ArgumentParser
import Delta
import FirmchainCore
import Foundation

/// `firmchain delta`: create and apply binary deltas (BSDIFF40, bsdiff 4.x compatible).
struct DeltaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delta",
        abstract: "Create and apply bsdiff 4.x (BSDIFF40) binary deltas between firmware images.",
        discussion: """
            Patches apply with Debian's bspatch and PyPI bsdiff4 as well as with `delta apply`.
            A patch does not record which old file it belongs to: check the old and new hashes
            (printed with --json) against your signed manifest.

            Example:
              firmchain delta create --old fw-1.0.bin --new fw-1.1.bin --out fw-1.0-1.1.bsdiff
              firmchain delta apply --old fw-1.0.bin --patch fw-1.0-1.1.bsdiff --out fw-1.1.bin
            """,
        subcommands: [Create.self, Apply.self]
    )

    /// `firmchain delta create`.
    struct Create: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Write the patch that turns OLD into NEW.",
            discussion: """
                Memory: about 5 x OLD + 3 x NEW bytes. Inputs must be smaller than 2 GiB.

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

        @Option(help: "Patch format: bsdiff40 (the only one).")
        var format: String = DeltaFormat.bsdiff40.rawValue

        func validate() throws {
            guard DeltaFormat(rawValue: format) != nil else {
                throw ValidationError("unsupported --format \(format); supported: \(DeltaFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() throws {
            let start = DispatchTime.now().uptimeNanoseconds
            let oldBytes = try FileIO.read(old, limit: Delta.maxInputSize)
            let newBytes = try FileIO.read(new, limit: Delta.maxInputSize)
            var options = DeltaCreateOptions()
            options.format = DeltaFormat(rawValue: format)!
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

    /// The `--json` document of both subcommands.
    static func report(action: String, format: String, old: (String, [UInt8]), new: (String, [UInt8]),
                       patch: (String, [UInt8]), seconds: Double) -> JSONValue {
        func file(_ f: (String, [UInt8])) -> JSONValue {
            ["path": .string(f.0), "length": .int(f.1.count), "sha256": .string(DigestCalculator.sha256Hex(f.1))]
        }
        let ratio = new.1.isEmpty ? 0 : Double(patch.1.count) / Double(new.1.count)
        return [
            "action": .string(action), "format": .string(format),
            "old": file(old), "new": file(new), "patch": file(patch),
            // patch size / new size, and wall time; report-only floats (never signed).
            "ratio": .float(String(format: "%.6f", ratio)),
            "seconds": .float(String(format: "%.3f", seconds)),
        ]
    }
}
