import ArgumentParser
import FirmchainCore
import Foundation
import Repository
import Signing

extension RepoCommand {
    struct Init: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a repository: 1.root.json and version 1 of targets, snapshot and timestamp.",
            discussion: """
                Example:
                  firmchain repo init --out OUT \\
                      --root-key 'pkcs11:token=release;object=root' \\
                      --targets-key 'pkcs11:token=release;object=targets' \\
                      --snapshot-key 'pkcs11:token=release;object=snapshot' \\
                      --timestamp-key 'pkcs11:token=release;object=timestamp'
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The release directory (the repository goes to OUT/repository).") var out: String
        @Option(help: "A root key (repeatable).") var rootKey: [String]
        @Option(help: "A targets key (repeatable).") var targetsKey: [String]
        @Option(help: "A snapshot key (repeatable).") var snapshotKey: [String]
        @Option(help: "A timestamp key (repeatable).") var timestampKey: [String]
        @Option(help: "Signatures root needs.") var rootThreshold = 1
        @Option(help: "Signatures targets needs.") var targetsThreshold = 1
        @Option(help: "Signatures snapshot needs.") var snapshotThreshold = 1
        @Option(help: "Signatures timestamp needs.") var timestampThreshold = 1
        @OptionGroup var expiry: ExpiryOptions
        @OptionGroup var keyAccess: KeyAccessOptions

        func run() throws {
            let now = Date()
            let keys = RoleTable(root: rootKey, targets: targetsKey, snapshot: snapshotKey, timestamp: timestampKey)
            let thresholds = RoleTable(root: rootThreshold, targets: targetsThreshold, snapshot: snapshotThreshold, timestamp: timestampThreshold)
            var signers = [any Signer]()
            let roles = try keys.map { role, refs -> RoleAssignment in
                let s = try refs.map { try Signers.open($0, options: keyAccess.signerOptions()) }
                signers += s
                return RoleAssignment(keys: s.map(\.publicKey), threshold: thresholds[role])
            }
            let store = RepositoryStore(directory: out)
            let root = try store.initialize(roles: roles, signers: signers, expiry: expiry.policy, now: now)
            logger.info("created repository", metadata: ["path": "\(store.metadataDirectory)"])
            output.emit(text: "created \(store.metadataDirectory)/1.root.json (\(root.signed.keys.count) keys) and version 1 of targets, snapshot, timestamp",
                        json: ["root": .string(store.metadataDirectory + "/1.root.json"), "keys": .int(root.signed.keys.count)])
        }
    }
}
