import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Trace: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where an artefact came from: the steps back to the inputs, the ledger entries, the provenance.",
            discussion: """
                FILE is hashed; a 64-digit hex string is taken as its sha256. The release directory
                is found by walking up from FILE to a directory with custody/, or given with --release.
                Exits 1 (custody.unknown-artifact) when no evidence names the artefact.

                Example:
                  firmchain custody trace OUT/repository/targets/3f2a….fw-1.1.0.bin
                  firmchain custody trace --release OUT 3f2a… --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A file, or the sha256 of one.") var artifact: String
        @Option(help: "The release directory (default: found from FILE, else the current directory).") var release: String?

        func run() throws {
            let isHash = artifact.utf8.count == 64 && Hex.decode(artifact) != nil && !FileIO.exists(artifact)
            let sha256 = isHash ? artifact.lowercased() : try DigestCalculator.file(artifact, progress: progress).sha256!
            let out = release ?? (isHash ? "." : Self.releaseDirectory(containing: artifact) ?? ".")
            let store = CustodyStore(out: out)
            guard FileIO.exists(store.directory) else {
                throw FirmchainError(.custodyNoEvidence, "no custody directory (give --release OUT)", path: store.directory)
            }
            let statements = ((try? store.provenance()) ?? []).compactMap { try? ProvenanceStatement(envelope: $0) }
            let trace = CustodyTrace.trace(sha256: sha256, links: store.linksInStepOrder(), ledger: (try? store.ledger.entries()) ?? [], provenance: statements)
            guard trace.isKnown else {
                throw FirmchainError(.custodyUnknownArtifact, "no link, ledger entry or provenance statement names sha256 \(sha256)", path: isHash ? nil : artifact)
            }
            output.emit(text: trace.text, json: trace.json)
        }

        /// The nearest directory above `file` that has a `custody/` directory.
        static func releaseDirectory(containing file: String) -> String? {
            var url = URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent()
            while url.path != "/" {
                if FileIO.exists(url.appendingPathComponent("custody").path) { return url.path }
                url.deleteLastPathComponent()
            }
            return nil
        }
    }
}
