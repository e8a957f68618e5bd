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
                FILE is hashed; a 64-digit hex string is taken as its sha256. The release directory \
                is found by walking up from FILE to a directory with custody/, or given with --release. \
                The evidence is verified first (as custody verify does, with --owner-key or the \
                release's own keys/owner.pub.pem, which the output then says); evidence that does \
                not verify is never shown as fact (custody.unverified, exit 1). Exits 1 \
                (custody.unknown-artifact) when no verified evidence names the artefact.

                Example:
                  firmchain custody trace OUT/repository/targets/3f2a….fw-1.1.0.bin
                  firmchain custody trace --release OUT 3f2a… --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A file, or the sha256 of one.") var artifact: String
        @Option(help: "The release directory (default: found from FILE, else the current directory).") var release: String?
        @Option(help: ArgumentHelp("A trusted owner public key (repeatable; default: the release's keys/owner.pub.pem).", valueName: "PUB.pem"))
        var ownerKey: [String] = []

        func run() throws {
            let isHash = artifact.utf8.count == 64 && Hex.decode(artifact) != nil && !FileIO.exists(artifact)
            let sha256 = isHash ? artifact.lowercased() : try DigestCalculator.file(artifact, progress: progress).sha256!
            let out = release ?? (isHash ? "." : Self.releaseDirectory(containing: artifact) ?? ".")
            let store = CustodyStore(out: out)
            guard FileIO.exists(store.directory) else {
                throw FirmchainError(.custodyNoEvidence, "no custody directory (give --release OUT)", path: store.directory)
            }
            // Verify before showing: only links, ledger entries and statements that verified are used.
            let ownerPaths = ownerKey.isEmpty ? ReleaseDirectory(out).ownerKeyPaths() : ownerKey
            let owners = try ownerPaths.map { p -> PublicKey in
                do { return try PublicKey(pem: String(decoding: try FileIO.read(p, limit: 1 << 16), as: UTF8.self)) } catch let e as FirmchainError { throw e.about(p) }
            }
            let verification = CustodyVerifier(ownerKeys: owners, now: Date()).verify(out: out)
            if let f = verification.report.failures.first {
                throw FirmchainError(.custodyUnverified,
                                     "the custody evidence does not verify (\(f.id): \(f.details.first ?? f.reason)); nothing is shown as fact — run `firmchain custody verify`",
                                     path: out)
            }
            if ownerKey.isEmpty {
                FileHandle.standardError.write(Data("note: trusted the release's own keys/owner.pub.pem; pass --owner-key for keys you trust\n".utf8))
            }
            let verifiedFiles = Set(verification.links.values.flatMap { $0 }.map(\.fileName))
            let links = store.linksInStepOrder().filter { verifiedFiles.contains($0.file) }
            let statements = ((try? store.provenance()) ?? []).compactMap { try? ProvenanceStatement(envelope: $0) }
            // Ledger entries count once a signed checkpoint covers them.
            let lastCheckpoint = verification.ledger?.lastValidCheckpoint ?? 0
            let covered = (verification.ledger?.entries ?? []).filter { $0.seq <= lastCheckpoint }
            let trace = CustodyTrace.trace(sha256: sha256, links: links, ledger: covered, provenance: statements)
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
