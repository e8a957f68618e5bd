import ArgumentParser
import FirmchainCore
import Foundation

extension JSONCommand {
    struct Canonical: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "canonical",
            abstract: "Write the OLPC canonical JSON form of a document (what TUF and in-toto signatures cover).",
            discussion: """
                Floats are refused (canonical JSON has none); duplicate keys and invalid UTF-8 are \
                rejected. Without --out the canonical bytes go to stdout.

                Example:
                  firmchain json canonical repository/metadata/1.root.json --field signed
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The JSON file to read.")
        var file: String

        @Option(help: "Canonicalize only this top-level member (e.g. signed).")
        var field: String?

        @Option(help: "Write the canonical bytes to this file (atomically) instead of stdout.")
        var out: String?

        func run() throws {
            var value = try JSONReader().parse(try FileIO.read(file, limit: 64 << 20), path: file)
            if let field {
                guard let member = value[field] else {
                    throw FirmchainError(.jsonMissingField, "has no top-level member \"\(field)\"", path: file)
                }
                value = member
            }
            let bytes: [UInt8]
            do { bytes = try JSONEncoding.canonical(value) } catch let e as FirmchainError { throw e.about(file) }
            let digest = DigestCalculator.sha256Hex(bytes)
            if let out {
                try AtomicFile.write(bytes, to: out)
                output.emit(text: "wrote \(bytes.count) canonical bytes to \(out) (sha256 \(digest))",
                            json: ["path": .string(out), "length": .int(bytes.count), "sha256": .string(digest)])
            } else if global.json {
                output.emit(text: "", json: ["canonical": .string(String(decoding: bytes, as: UTF8.self)),
                                             "length": .int(bytes.count), "sha256": .string(digest)])
            } else {
                FileHandle.standardOutput.write(Data(bytes))
            }
        }
    }
}
