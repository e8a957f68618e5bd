import ArgumentParser
import Delta
import FirmchainCore
import Foundation

extension DeltaCommand {
    /// `firmchain delta apply`.
    struct Apply: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply a BSDIFF40 or firmchain1 patch to OLD and write NEW; the patch is treated as untrusted.",
            discussion: """
                The output streams to a temporary file (memory: the old file, the patch and a 1 MiB \
                chunk, whatever size the patch declares) that is renamed into place only when the whole \
                patch checked out: on any error (truncated, corrupt or hostile patch, wrong old file) \
                no output file appears. Exit code 65 means the patch was rejected. \
                Give the result's sha256 and length from the manifest (custom.firmware.delta.result) \
                with --expect-sha256 and --expect-length: a patch declaring another length is refused \
                before anything is allocated, and a wrong result is never written (exit 1). \
                A firmchain1 patch names its base and its result itself: the wrong old file is \
                refused before anything is written (delta.wrong-base, exit 1), and a result \
                whose sha256 is not the patch's is never kept (delta.digest-mismatch, 65).

                Example:
                  firmchain delta apply --old fw-1.0.bin --patch fw-1.0-1.1.bsdiff \\
                      --out fw-1.1.bin \\
                      --expect-sha256 3f2a… --expect-length 1048576 --json
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(help: "The old (base) file.")
        var old: String

        @Option(help: "The patch (BSDIFF40 or firmchain1, told apart by its first bytes).")
        var patch: String

        @Option(help: "Where to write the new file (atomically).")
        var out: String

        @Option(help: "Refuse patches declaring an output larger than this many bytes (default 256 MiB).")
        var maxOutput: Int = 256 << 20

        @Option(help: ArgumentHelp("The sha256 the result must have (from the manifest).", valueName: "HEX"))
        var expectSha256: String?

        @Option(help: ArgumentHelp("The length the result must have (from the manifest).", valueName: "N"))
        var expectLength: Int?

        func validate() throws {
            if maxOutput < 0 { throw ValidationError("--max-output must be >= 0") }
            if let h = expectSha256, h.utf8.count != 64 || Hex.decode(h) == nil { throw ValidationError("--expect-sha256 takes 64 hex digits") }
            if let n = expectLength, n < 0 { throw ValidationError("--expect-length must be >= 0") }
        }

        func run() throws {
            let start = DispatchTime.now().uptimeNanoseconds
            let applied = try Delta.applyFile(oldPath: old, patchPath: patch, outPath: out, limits: DeltaApplyLimits(maxNewSize: maxOutput),
                                              expectedLength: expectLength, expectedSHA256: expectSha256)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            // The old file and the patch as they were read and applied, not read again.
            let oldFile = (old, applied.old?.length ?? 0, applied.old?.sha256 ?? ""), patchFile = (patch, applied.patch?.length ?? 0, applied.patch?.sha256 ?? "")
            output.emit(
                text: "wrote \(out): \(applied.length) bytes from a \(patchFile.1)-byte patch in \(String(format: "%.2f", seconds)) s",
                json: DeltaCommand.report(action: "apply", format: (applied.format ?? .bsdiff40).rawValue, old: oldFile,
                                          new: (out, applied.length, applied.sha256), patch: patchFile, seconds: seconds))
        }
    }
}
