import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Provenance: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign SLSA Provenance v1 statements for every target of the current TUF targets metadata.",
            discussion: """
                Each target gets one in-toto Statement v1 in a DSSE envelope, appended to \
                OUT/custody/provenance.intoto.jsonl. Dependencies are the chain's inputs, byproducts \
                the link files.

                Example:
                  firmchain custody provenance --out OUT --key release.pem \\
                      --builder-id https://ci.example.com/runners/7
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("The signing key.", valueName: "URI|FILE")) var key: String
        @Option(help: "builder.id: the CI system or host that ran the release.") var builderId: String
        @Option(help: "runDetails.metadata.invocationId.") var invocationId: String?

        func run() throws {
            let now = Date()
            let release = ReleaseDirectory(out)
            let targets = try release.repository.current().targets.signed.targets
            let subjects = targets.sorted(by: { $0.key < $1.key }).map { name, t in
                LedgerSubject(name: name, digests: t.hashes.filter { $0.key == "sha256" || $0.key == "sha512" })
            }
            let signer = try Signers.open(key, options: keyAccess.signerOptions())
            try CustodyStore(out: out).requireKeyInLayout(signer.publicKey)
            let count = try release.appendProvenance(
                targets: subjects,
                run: .init(builderID: builderId, builderVersion: ["firmchain": FirmchainCore.Firmchain.version], invocationID: invocationId, finishedOn: now),
                signer: signer, now: now)
            output.emit(text: "appended \(count) provenance statement(s) to \(release.custody.provenancePath)",
                        json: ["statements": .int(count), "path": .string(release.custody.provenancePath)])
        }
    }
}
