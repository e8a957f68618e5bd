import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Layout: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the owner-signed in-toto layout of the standard release chain (delta, manifest, sign, publish).",
            discussion: """
                Compiles the standard pipeline steps (Docs/custody.md) with the given functionaries \
                into OUT/custody/root.layout, signed by every --owner-key, and writes the owners' \
                public keys to OUT/keys/owner.pub.pem (owner-2.pub.pem, …).

                Example:
                  firmchain custody layout --out OUT \\
                      --owner-key 'pkcs11:token=owner;object=layout' \\
                      --functionary delta=keys/builder.pub.pem \\
                      --functionary manifest=keys/builder.pub.pem \\
                      --functionary sign=keys/release.pub.pem \\
                      --functionary publish=keys/release.pub.pem --expires-days 90
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("An owner key that signs the layout (repeatable).", valueName: "URI|FILE")) var ownerKey: [String]
        @Option(help: ArgumentHelp("STEP=KEY: a functionary of a step (public or private key file, or pkcs11: URI; repeatable).", valueName: "STEP=KEY"))
        var functionary: [String]
        @Option(help: ArgumentHelp("STEP=N: links a step needs from distinct functionaries (default 1).", valueName: "STEP=N")) var threshold: [String] = []
        @Flag(help: "No delta step (a first release without earlier versions).") var noDeltas = false
        @Option(help: "Days until the layout expires.") var expiresDays: Int = 365
        @Option(help: "Layout format: metablock (default) or dsse.") var format: String = "metablock"
        @Flag(help: "Replace the layout and owner keys of an existing release (a new chain of trust: every verifier must be told).")
        var force = false

        func validate() throws {
            if ownerKey.isEmpty { throw ValidationError("give at least one --owner-key") }
            if expiresDays < 1 || expiresDays > 36_500 { throw ValidationError("--expires-days must be between 1 and 36500") }
            if LayoutFormat(rawValue: format) == nil { throw ValidationError("--format must be metablock or dsse") }
            for f in functionary { _ = try CustodyCommand.split(f, "--functionary") }
            for t in threshold { guard Int(try CustodyCommand.split(t, "--threshold").1) != nil else { throw ValidationError("--threshold takes STEP=N") } }
        }

        func run() throws {
            let now = Date()
            let options = keyAccess.signerOptions()
            var functionaries = [String: [PublicKey]]()
            for f in functionary {
                let (step, ref) = try CustodyCommand.split(f, "--functionary")
                functionaries[step, default: []].append(try Signers.publicKey(of: ref, options: options))
            }
            var thresholds = [String: Int]()
            for t in threshold { let (s, n) = try CustodyCommand.split(t, "--threshold"); thresholds[s] = Int(n)! }
            let registry = StepRegistry.standard
            let kinds = (noDeltas ? [] : [DeltaStep.kind]) + [ManifestStep.kind, SignStep.kind, PublishStep.kind]
            let steps = try kinds.compactMap { try registry.type($0)?.init(options: StepOptions()) }
            let policy = try PipelineRunner.custodyPolicy(steps: steps, functionaries: functionaries, thresholds: thresholds,
                                                          expires: now.addingTimeInterval(TimeInterval(expiresDays) * 86_400))
            let release = ReleaseDirectory(out)
            let existing = (FileIO.exists(release.custody.layoutPath) ? ["custody/root.layout"] : [])
                + release.ownerKeyPaths().map { "keys/" + ($0.split(separator: "/").last.map(String.init) ?? $0) }
            if !existing.isEmpty && !force {
                throw FirmchainError(.ioWouldReplace,
                                     "\(existing.joined(separator: " and ")) already exist: replacing them changes whom the release trusts (pass --force to do it on purpose)",
                                     path: out)
            }
            let owners = try ownerKey.map { try Signers.open($0, options: options) }
            let store = release.custody
            let (signed, keyFiles) = try release.writeLayout(policy, owners: owners, format: LayoutFormat(rawValue: format) ?? .metablock, now: now)
            output.emit(text: "wrote \(store.layoutPath) (\(signed.layout.steps.map(\.name).joined(separator: " → ")), expires \(UTCTimestamp.string(from: signed.layout.expires))) and \(keyFiles.joined(separator: ", "))",
                        json: ["layout": .string(store.layoutPath), "steps": .array(signed.layout.steps.map { .string($0.name) }),
                               "expires": .string(UTCTimestamp.string(from: signed.layout.expires)), "owner_keys": .array(keyFiles.map { .string($0) })])
        }
    }
}
