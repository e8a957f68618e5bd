import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Release
import Repository
import Signing

extension RepoCommand {
    struct Refresh: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-sign the timestamp (or the snapshot and the timestamp) of a verified release with a fresh expiry.",
            discussion: """
                Keeps a release fresh between releases with only the online keys: the timestamp \
                (--role timestamp) or the snapshot and then the timestamp (--role snapshot) get the \
                next version and a new expiry; nothing else changes. The release is verified first, \
                from --trusted-root (default: its own 1.root.json), and must hold nothing its \
                metadata does not account for. The refresh is a ledger entry, and a checkpoint when \
                the timestamp key is an owner or functionary of custody/root.layout, so custody \
                verify keeps passing.

                Example:
                  firmchain repo refresh --out OUT --role timestamp \\
                      --key 'pkcs11:token=release;object=timestamp'
                  firmchain repo refresh --out OUT --role snapshot --key keys/snapshot.pem \\
                      --key keys/timestamp.pem
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "timestamp, or snapshot (re-signs the snapshot, then the timestamp).") var role: TopLevelRole
        @Option(help: ArgumentHelp("A timestamp or snapshot key (repeatable).", valueName: "URI|FILE")) var key: [String]
        @Option(help: "The root to trust (default: OUT/repository/metadata/1.root.json).") var trustedRoot: String?
        @OptionGroup var expiry: ExpiryOptions
        @OptionGroup var keyAccess: KeyAccessOptions

        func validate() throws {
            guard role == .timestamp || role == .snapshot else {
                throw ValidationError("--role is timestamp or snapshot: targets changes by a release, root by a key ceremony")
            }
            if key.isEmpty { throw ValidationError("give --key for the role (and the timestamp key for --role snapshot)") }
        }

        func run() throws {
            let now = Date()
            let release = ReleaseDirectory(out)
            let store = release.repository
            guard store.isInitialized else {
                throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: store.metadataDirectory)
            }
            let signers = try key.map { try Signers.open($0, options: keyAccess.signerOptions()) }
            // Extend only what verifies — the chain from the trusted root, every signature and copy,
            // nothing planted beside them — checked under the release's lock, right before the
            // write. Expiry alone is what this command repairs.
            let rootPath = trustedRoot ?? store.metadataDirectory + "/1.root.json"
            let trusted = try FileIO.read(rootPath, limit: RepositoryStore.metadataLimit)
            var verified: ReleaseRepositoryVerification?
            var recorded = "no custody/ledger.jsonl: not recorded"
            let r = try store.refresh(role, signers: signers, expiry: expiry.policy, now: now, admit: {
                let v = try release.verifyRepository(trustedRoot: trusted, trustedRootPath: rootPath, now: now, expiredIsWarning: true)
                if let f = v.report.failures.first {
                    throw FirmchainError(.repoUnverified, "the release does not verify (\(f.id)\(f.subject.map { " \($0)" } ?? ""): \(f.reason)); refusing to re-sign it",
                                         path: out)
                }
                let planted = try RepositoryInventory.unaccounted(in: store, verified: v.repository, revocations: v.revocations)
                if !planted.isEmpty {
                    throw FirmchainError(.repoUnverified, "the repository holds \(planted.count) file(s) its metadata does not account for: \(planted.prefix(5).map(\.description).joined(separator: "; ")); refusing to re-sign it",
                                         path: out)
                }
                if let root = v.repository.root, root.expires <= now {
                    throw FirmchainError(.repoUnverified, "root v\(root.version) expired at \(UTCTimestamp.string(from: root.expires)): a refresh cannot help; renew the root by a ceremony (`firmchain keys rotate --repo \(out) --role root --renew`, Docs/keys.md)",
                                         path: out)
                }
                verified = v
            }, record: { r in
                guard let v = verified else { throw FirmchainError(.internal, "the release was not verified before the refresh", path: out) }

                // Custody, still under the lock: who refreshed what, and a checkpoint over it when that key may sign one.
                if FileIO.exists(release.custody.ledger.path) {
                    let timestampIDs = Set(v.repository.root?.roles.timestamp.keyids ?? [])
                    let actor = signers.first { timestampIDs.contains($0.publicKey.keyid) }
                    _ = try release.custody.ledger.append(
                        LedgerRecord(action: "repo.refresh", actor: actor?.publicKey.keyid ?? "",
                                     subjects: r.files.map { LedgerSubject(name: "repository/metadata/\($0.name)", sha256: $0.sha256) },
                                     details: ["role": .string(role.rawValue), "timestamp_version": .int(r.timestamp)]
                                         .merging(r.snapshot.map { ["snapshot_version": .int($0)] } ?? [:]) { a, _ in a }),
                        now: now)
                    if let actor, (try? release.custody.requireKeyInLayout(actor.publicKey)) != nil {
                        _ = try release.custody.ledger.checkpoint(signer: actor, now: now)
                        recorded = "recorded in the ledger with a checkpoint by \(actor.publicKey.keyid.prefix(8))"
                    } else {
                        recorded = "recorded in the ledger (no checkpoint: the timestamp key is not in custody/root.layout; the next pipeline run covers it)"
                    }
                }
            })
            output.emit(text: (r.snapshot.map { "refreshed snapshot v\($0), " } ?? "refreshed ") + "timestamp v\(r.timestamp); \(recorded)",
                        json: ["timestamp": .int(r.timestamp), "snapshot": r.snapshot.map { .int($0) } ?? .null,
                               "files": .array(r.files.map { .object(["name": .string($0.name), "sha256": .string($0.sha256)]) })])
        }
    }
}
