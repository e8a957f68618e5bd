import ArgumentParser
import FirmchainCore
import Foundation
import Repository
import Signing

extension RepoCommand {
    struct Publish: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the staged targets, a new snapshot and a new timestamp (versions bumped).",
            discussion: """
                Example:
                  firmchain repo publish --out OUT --key keys/targets.pem \\
                      --key keys/snapshot.pem --key keys/timestamp.pem
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "A signing key for targets, snapshot or timestamp (repeatable).") var key: [String]
        @OptionGroup var expiry: ExpiryOptions
        @OptionGroup var keyAccess: KeyAccessOptions

        func run() throws {
            let signers = try key.map { try Signers.open($0, options: keyAccess.signerOptions()) }
            let v = try RepositoryStore(directory: out).publish(signers: signers, expiry: expiry.policy, now: Date())
            output.emit(text: "published targets v\(v.targets), snapshot v\(v.snapshot), timestamp v\(v.timestamp)",
                        json: ["targets": .int(v.targets), "snapshot": .int(v.snapshot), "timestamp": .int(v.timestamp)])
        }
    }
}
