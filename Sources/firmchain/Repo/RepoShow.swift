import ArgumentParser
import FirmchainCore
import Foundation
import Repository
import Signing

extension RepoCommand {
    struct Show: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the repository from its trusted root and list roles and targets.",
            discussion: """
                Walks the TUF client workflow (root chain, timestamp, snapshot, targets, target \
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
                report.anchored = false
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
