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
            Keys are pkcs11: URIs (PIN from FIRMCHAIN_PKCS11_PIN) or PEM key files (passphrase from
            FIRMCHAIN_KEY_PASSPHRASE). The repository lives in OUT/repository (see Docs/manifest.md).

            Example:
              firmchain repo init --out OUT --root-key keys/root.pem --targets-key keys/targets.pem \\
                  --snapshot-key keys/snapshot.pem --timestamp-key keys/timestamp.pem
              firmchain repo add-target --out OUT --file fw-1.2.0.bin --version 1.2.0 \\
                  --version-number 10200 --hardware-id acme-gw-v2
              firmchain repo publish --out OUT --key keys/targets.pem --key keys/snapshot.pem --key keys/timestamp.pem
              firmchain repo show --out OUT
            """,
        subcommands: [Init.self, AddTarget.self, Publish.self, Show.self]
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
            for (name, v) in [("root", rootExpiryDays), ("targets", targetsExpiryDays), ("snapshot", snapshotExpiryDays), ("timestamp", timestampExpiryHours)] where v < 1 {
                throw ValidationError("the \(name) expiry must be positive")
            }
        }
    }

    struct Init: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a repository: 1.root.json and version 1 of targets, snapshot and timestamp.",
            discussion: """
                Example:
                  firmchain repo init --out OUT --root-key 'pkcs11:token=release;object=root' \\
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

    struct AddTarget: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-target",
            abstract: "Add an image or delta to the targets staged for the next publish.",
            discussion: """
                Example:
                  firmchain repo add-target --out OUT --file fw-1.2.0-from-1.1.0.bsdiff --version 1.2.0 \\
                      --version-number 10200 --hardware-id acme-gw-v2 --kind delta \\
                      --base fw-1.1.0.bin:1.1.0:BASE_SHA256 --result fw-1.2.0.bin:RESULT_SHA256:LENGTH
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "The file to add.") var file: String
        @Option(help: "Target name (default: the file's base name).") var name: String?
        @Option(help: "Firmware version string.") var version: String
        @Option(help: "Monotonic version number (rollback protection).") var versionNumber: Int64
        @Option(help: "Hardware id it may install on (repeatable).") var hardwareId: [String]
        @Option(help: "full or delta.") var kind: String = "full"
        @Option(help: "critical, high, medium or low.") var priority: String = "medium"
        @Option(help: "For a delta: NAME:VERSION:SHA256 of the base image.") var base: String?
        @Option(help: "For a delta: NAME:SHA256:LENGTH of the image it reproduces.") var result: String?

        func validate() throws {
            guard FirmwareInfo.Kind(rawValue: kind) != nil else { throw ValidationError("--kind must be full or delta") }
            guard FirmwareInfo.Priority(rawValue: priority) != nil else { throw ValidationError("--priority must be critical, high, medium or low") }
            if kind == "delta" && (base == nil || result == nil) { throw ValidationError("a delta needs --base and --result") }
            if hardwareId.isEmpty { throw ValidationError("give at least one --hardware-id") }
        }

        func run() throws {
            var delta: FirmwareInfo.DeltaInfo?
            if kind == "delta", let base, let result {
                let b = base.split(separator: ":").map(String.init), r = result.split(separator: ":").map(String.init)
                guard b.count == 3, r.count == 3, let len = Int64(r[2]) else {
                    throw ValidationError("--base is NAME:VERSION:SHA256 and --result is NAME:SHA256:LENGTH")
                }
                delta = .init(baseName: b[0], baseVersion: b[1], baseSHA256: b[2], resultName: r[0], resultSHA256: r[1], resultLength: len)
            }
            let info = FirmwareInfo(version: version, versionNumber: versionNumber, hardwareIDs: hardwareId, kind: FirmwareInfo.Kind(rawValue: kind)!,
                                    delta: delta, priority: FirmwareInfo.Priority(rawValue: priority)!)
            let targetName = name ?? String(file.split(separator: "/").last ?? Substring(file))
            let entry = try RepositoryStore(directory: out).addTarget(file: file, name: targetName, custom: [FirmwareInfo.customKey: info.json], progress: progress)
            output.emit(text: "staged \(targetName) (\(entry.length) bytes, sha256 \(entry.hashes["sha256"]!)); run `firmchain repo publish` to sign it",
                        json: ["name": .string(targetName), "length": .int(entry.length), "hashes": .object(entry.hashes.mapValues { .string($0) })])
        }
    }

    struct Publish: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the staged targets, a new snapshot and a new timestamp (versions bumped).",
            discussion: """
                Example:
                  firmchain repo publish --out OUT --key keys/targets.pem --key keys/snapshot.pem --key keys/timestamp.pem
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

    struct Show: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the repository from its trusted root and list roles and targets.",
            discussion: """
                Walks the TUF client workflow (root chain, timestamp, snapshot, targets, target
                files) at the current time. Exit code 1 when a check fails.

                Example:
                  firmchain repo show --out OUT --trusted-root Keys/1.root.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "The root to trust (default: OUT/repository/metadata/1.root.json).") var trustedRoot: String?

        func run() throws {
            let store = RepositoryStore(directory: out)
            let rootPath = trustedRoot ?? store.metadataDirectory + "/1.root.json"
            let verification = RepositoryVerifier(store: store, now: Date())
                .verify(trustedRoot: try FileIO.read(rootPath, limit: RepositoryStore.metadataLimit), trustedRootPath: rootPath)
            var report = verification.report
            if trustedRoot == nil {
                report.trust.append("note: the root was taken from the repository itself; pass --trusted-root from a place you trust")
            }
            var lines = [String]()
            if let root = verification.root {
                for role in TopLevelRole.allCases {
                    let r = root.roles[role]
                    lines.append("role \(role.rawValue): threshold \(r.threshold) of \(r.keyids.map { String($0.prefix(8)) }.joined(separator: ", "))")
                }
            }
            let targets = verification.allTargets
            for (name, t) in targets.sorted(by: { $0.key < $1.key }) {
                let fw = try? FirmwareInfo(custom: t.custom)
                lines.append("target \(name): \(t.length) bytes" + (fw.map { ", \($0.kind.rawValue) \($0.version) for \($0.hardwareIDs.joined(separator: ","))" } ?? ""))
            }
            report.facts["targets"] = .object(targets.mapValues { ["length": .int($0.length), "custom": $0.custom ?? .null] })
            output.emit(text: ([report.text(verdict: "repository")] + lines).joined(separator: "\n"), json: report.json)
            if !report.passed { throw ExitCode(ErrorCategory.verificationFailed.exitCode) }
        }
    }
}
