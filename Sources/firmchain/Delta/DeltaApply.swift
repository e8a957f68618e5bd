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
                The output streams to a temporary file (memory: the old file, the patch and a 1 MiB
                chunk, whatever size the patch declares) that is renamed into place only when the whole
                patch checked out: on any error (truncated, corrupt or hostile patch, wrong old file)
                no output file appears. Exit code 65 means the patch was rejected.
                Give the result's sha256 and length from the manifest (custom.firmware.delta.result)
                with --expect-sha256 and --expect-length: a patch declaring another length is refused
                before anything is allocated, and a wrong result is never written (exit 1).

                Example:
                  firmchain delta apply --old fw-1.0.bin --patch fw-1.0-1.1.bsdiff --out fw-1.1.bin \\
                      --expect-sha256 3f2a… --expect-length 1048576 --json
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(help: "The old (base) file.")
        var old: String

        @Option(help: "The BSDIFF40 patch.")
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
            let oldBytes = try FileIO.read(old, limit: Int(Int32.max))
            let patchBytes = try FileIO.read(patch, limit: Int(Int32.max))
            // The output streams to a temporary file beside --out, hashed as it is written, and is
            // renamed into place only when the patch checked out and the result is the expected one.
            // A known length bounds the output before the patch can make the tool write it.
            let writer = try AtomicFileWriter(path: out)
            var hash = DigestCalculator.Streaming()
            let length: Int
            do {
                length = try oldBytes.withUnsafeBufferPointer { o in
                    try patchBytes.withUnsafeBufferPointer { p in
                        try Patcher.apply(old: o, patch: p, maxNewSize: min(maxOutput, expectLength ?? maxOutput)) { chunk in
                            hash.update(chunk)
                            try writer.write(chunk)
                        }
                    }
                }
            } catch let e as FirmchainError { writer.abort(); throw e.code.id.hasPrefix("io.") ? e : e.about(patch) }
            let sha256 = hash.sha256Hex()
            if let n = expectLength, length != n {
                writer.abort()
                throw FirmchainError(.deltaResultMismatch, "the patch reproduces \(length) bytes, not the expected \(n); nothing was written", path: patch)
            }
            if let h = expectSha256, sha256 != h.lowercased() {
                writer.abort()
                throw FirmchainError(.deltaResultMismatch, "the patch reproduces a file whose sha256 is not the expected one (wrong base or tampered patch); nothing was written",
                                     path: patch)
            }
            try writer.commit()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            output.emit(
                text: "wrote \(out): \(length) bytes from a \(patchBytes.count)-byte patch in \(String(format: "%.2f", seconds)) s",
                json: DeltaCommand.report(action: "apply", format: DeltaFormat.bsdiff40.rawValue,
                                          old: (old, oldBytes.count, DigestCalculator.sha256Hex(oldBytes)), new: (out, length, sha256),
                                          patch: (patch, patchBytes.count, DigestCalculator.sha256Hex(patchBytes)), seconds: seconds))
        }
    }
}
