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
                Memory: about max(5 x OLD + NEW, OLD + 3 x NEW) + 64 MiB, checked before \
                anything is read against ulimit -v and a container's cgroup limit \
                (delta.not-enough-memory, exit 64, rather than a crash part way). Inputs must be \
                smaller than 2 GiB.

                --format firmchain1 writes Firmchain's own format for fleets that ship their own \
                applier (Sources/CFirmchainPatch): LZMA2 sections, and the old and new images' \
                lengths and sha256 inside the patch.

                Example:
                  firmchain delta create --old fw-1.0.bin --new fw-1.1.bin \\
                      --out fw-1.0-1.1.bsdiff --json
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(help: "The old (base) file the device already has.")
        var old: String

        @Option(help: "The new file to reach.")
        var new: String

        @Option(help: "Where to write the patch (atomically).")
        var out: String

        @Option(help: ArgumentHelp("Make the patch window by window in about this much memory (firmchain1 only): images larger than memory allows; bytes or a K/M/G suffix.", valueName: "SIZE"))
        var maxMemory: String?

        @Option(help: "Patch format: bsdiff40 (stock bspatch applies it) or firmchain1 (smaller; names its base and result; Docs/formats/FIRMCHAIN1.md).")
        var format: String = DeltaFormat.bsdiff40.rawValue

        func run() throws {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let deltaFormat = DeltaFormat(rawValue: format) else {
                throw FirmchainError(.deltaUnsupportedFormat,
                                     "--format \(format) is not a patch format Firmchain writes (supported: \(DeltaFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let limit = maxMemory {
                guard deltaFormat == .firmchain1 else {
                    throw FirmchainError(.deltaUnsupportedFormat, "--max-memory makes firmchain1 patches only (add --format firmchain1)")
                }
                guard let bytes = Self.size(limit) else {
                    throw FirmchainError(.usageInvalid, "--max-memory \(limit) is not a size (bytes, or a number with K, M or G)")
                }
                var options = DeltaCreateOptions()
                options.format = .firmchain1
                let made = try WindowedDelta.create(oldPath: old, newPath: new, outPath: out, maxMemory: bytes, options: options, progress: progress)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let patchSHA = try DigestCalculator.file(out).sha256 ?? ""
                var doc = DeltaCommand.report(action: "create", format: format, old: (old, made.old.length, made.old.sha256),
                                              new: (new, made.new.length, made.new.sha256), patch: (out, made.patchLength, patchSHA), seconds: seconds)
                if case .object(var members) = doc {
                    members["windows"] = JSONValue.object(["count": .int(made.segments), "segment_length": .int(made.segmentLength),
                                                           "max_memory": .int(bytes)])
                    doc = .object(members)
                }
                output.emit(
                    text: "wrote \(out): \(made.patchLength) bytes, \(made.segments) window(s) of \(made.segmentLength >> 20) MiB of new, in \(String(format: "%.2f", seconds)) s",
                    json: doc)
                return
            }
            // The 32-bit suffix array bounds the inputs: say so before reading gigabytes. Then
            // the memory they need (a container's limit would kill the process part way, without
            // a word). A missing input is left to the read's own error.
            var sizes = [Int]()
            for path in [old, new] where FileIO.exists(path) {
                let size = try FileIO.size(path)
                if size > Int64(Delta.maxInputSize) {
                    throw FirmchainError(.deltaInputTooLarge, "is \(size) bytes; delta create takes inputs below 2 GiB (\(Delta.maxInputSize) bytes)", path: path)
                }
                sizes.append(Int(size))
            }
            if sizes.count == 2 { try Delta.checkMemory(oldSize: sizes[0], newSize: sizes[1]) }
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

extension DeltaCommand.Create {
    /// `--max-memory`'s value in bytes: digits, optionally followed by K, M or G (powers of 1024).
    static func size(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text), scale = 1
        if let last = text.last?.uppercased().first, let u = units[last] { digits = text.dropLast(); scale = u }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let v = Int(digits), v > 0, v <= Int.max / scale else { return nil }
        return v * scale
    }
}
