import ArgumentParser
import FirmchainCore
import Foundation
import Repository
import Signing

/// `firmchain repo`: build and update a TUF 1.0 repository in the release layout.
struct RepoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo",
        abstract: "Build and update a TUF 1.0 repository (root, targets, snapshot, timestamp) with firmware metadata.",
        discussion: """
            Keys are pkcs11: URIs (PIN from FIRMCHAIN_PKCS11_PIN) or PEM key files (passphrase from \
            FIRMCHAIN_KEY_PASSPHRASE). The repository lives in OUT/repository (see Docs/manifest.md).

            Example:
              firmchain repo init --out OUT --root-key keys/root.pem \\
                  --targets-key keys/targets.pem \\
                  --snapshot-key keys/snapshot.pem --timestamp-key keys/timestamp.pem
              firmchain repo add-target --out OUT --file fw-1.2.0.bin --version 1.2.0 \\
                  --version-number 10200 --hardware-id acme-gw-v2
              firmchain repo publish --out OUT --key keys/targets.pem \\
                  --key keys/snapshot.pem --key keys/timestamp.pem
              firmchain repo show --out OUT
            """,
        subcommands: [Init.self, AddTarget.self, Publish.self, Refresh.self, Show.self]
    )

    /// Expiry windows, shared by the commands that sign.
    struct ExpiryOptions: ParsableArguments {
        @Option(help: "Days root metadata stays valid.") var rootExpiryDays: Int = 365
        @Option(help: "Days targets metadata stays valid.") var targetsExpiryDays: Int = 90
        @Option(help: "Days snapshot metadata stays valid.") var snapshotExpiryDays: Int = 7
        @Option(help: "Hours timestamp metadata stays valid.") var timestampExpiryHours: Int = 24

        var policy: ExpiryPolicy {
            ExpiryPolicy(root: TimeInterval(rootExpiryDays) * 86_400, targets: TimeInterval(targetsExpiryDays) * 86_400,
                         snapshot: TimeInterval(snapshotExpiryDays) * 86_400, timestamp: TimeInterval(timestampExpiryHours) * 3600)
        }

        func validate() throws {
            // Bounded so that every date stays one that python-tuf, in-toto and Firmchain read back.
            for (name, v, max) in [("root", rootExpiryDays, 36_500), ("targets", targetsExpiryDays, 36_500),
                                   ("snapshot", snapshotExpiryDays, 36_500), ("timestamp", timestampExpiryHours, 876_000)] where v < 1 || v > max {
                throw ValidationError("the \(name) expiry must be between 1 and \(max)")
            }
        }
    }
}
