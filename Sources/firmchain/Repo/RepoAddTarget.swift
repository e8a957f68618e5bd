import ArgumentParser
import FirmchainCore
import Foundation
import Repository
import Signing

extension RepoCommand {
    struct AddTarget: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-target",
            abstract: "Add an image or delta to the targets staged for the next publish.",
            discussion: """
                Example:
                  firmchain repo add-target --out OUT --file fw-1.2.0-from-1.1.0.bsdiff \\
                      --version 1.2.0 \\
                      --version-number 10200 --hardware-id acme-gw-v2 --kind delta \\
                      --base fw-1.1.0.bin:1.1.0:BASE_SHA256 \\
                      --result fw-1.2.0.bin:RESULT_SHA256:LENGTH
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
            if kind == "full" && (base != nil || result != nil) { throw ValidationError("--base and --result are for --kind delta") }
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
            try info.validate()
            let targetName = name ?? String(file.split(separator: "/").last ?? Substring(file))
            try RepositoryStore.validateTargetName(targetName)
            let store = RepositoryStore(directory: out)
            // No rollback: a full image's version number is not below one already in the
            // repository for the same hardware — checked under the release's lock.
            let entry = try store.addTarget(file: file, name: targetName, custom: [FirmwareInfo.customKey: info.json], progress: progress) { staged in
                guard info.kind == .full else { return }
                for (other, t) in staged.targets where other != targetName {
                    if let fw = try FirmwareInfo(custom: t.custom), fw.kind == .full, fw.versionNumber > versionNumber,
                       !Set(fw.hardwareIDs).isDisjoint(with: info.hardwareIDs) {
                        throw FirmchainError(.policyViolation, "version_number \(versionNumber) does not exceed \(fw.versionNumber) of \(other) already in the repository (rollback)", path: out)
                    }
                }
            }
            output.emit(text: "staged \(targetName) (\(entry.length) bytes, sha256 \(entry.hashes["sha256"]!)); run `firmchain repo publish` to sign it",
                        json: ["name": .string(targetName), "length": .int(entry.length), "hashes": .object(entry.hashes.mapValues { .string($0) })])
        }
    }
}
