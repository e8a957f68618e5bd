import ArgumentParser
import FirmchainCore

/// `firmchain hash`: streaming digests of files, as recorded in TUF and in-toto metadata.
struct HashCommand: FirmchainCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the SHA-256 / SHA-512 digests and lengths of files (bounded memory).",
        discussion: """
            Example:
              firmchain hash --algorithm sha512 images/fw-1.2.0.bin
              firmchain hash --json images/*.bin
              firmchain hash --check-format images/*.bin > SHA256SUMS
              sha256sum -c SHA256SUMS
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Digest to compute: sha256 or sha512 (repeatable; default sha256).")
    var algorithm: [DigestAlgorithm] = []

    @Flag(help: "Print the lines sha256sum -c / sha512sum -c read (one algorithm).")
    var checkFormat = false

    @Argument(help: "Files to hash.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file to hash") }
        if checkFormat && Set(algorithm).count > 1 { throw ValidationError("--check-format takes one --algorithm") }
    }

    func run() throws {
        let algorithms = Set(algorithm.isEmpty ? [.sha256] : algorithm)
        var lines = [String]()
        var docs = [JSONValue]()
        for file in files {
            let d = try DigestCalculator.file(file, algorithms: algorithms, progress: progress)
            var hashes = [String: JSONValue]()
            for a in DigestAlgorithm.allCases {
                guard let h = d.hex[a] else { continue }
                hashes[a.rawValue] = .string(h)
                lines.append(checkFormat ? "\(h)  \(file)" : "\(a.rawValue):\(h)  \(file)")
            }
            docs.append(["path": .string(file), "length": .int(d.length), "hashes": .object(hashes)])
        }
        output.emit(text: lines.joined(separator: "\n"), json: ["files": .array(docs)])
    }
}

extension DigestAlgorithm: ExpressibleByArgument {}
