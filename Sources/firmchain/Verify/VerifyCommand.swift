import ArgumentParser
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing
import Verification

/// `firmchain verify`: the whole release against trust given from outside it (`ReleaseVerifier`).
struct VerifyCommand: FirmchainCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a whole release against a trusted root, owner keys and a policy kept outside it.",
        discussion: """
            Runs, in order: the root chain from --trusted-root, the revocation list, timestamp, \
            snapshot, targets and delegations (rollback against --previous, expiry at --at), \
            every hash-named copy of every target, nothing unlisted in repository/, firmware \
            fields, hardware ids and downgrades, every delta applied to its base, custody (layout \
            signed by every --owner-key, exactly the links it names, products equal to the \
            released targets, provenance, the ledger sealed by a signed checkpoint) and the \
            policy. Nothing inside the release vouches for itself. Check ids: Docs/verify.md.

            Exit 0 only when every check passed (with --strict, and none warned); 1 when one \
            failed. --save-state writes, only then, what a device would remember.

            Example:
              firmchain verify --release OUT --trusted-root trusted/1.root.json \\
                --owner-key trusted/owner.pub.pem --policy Policies/release.yml \\
                --base images/fw-1.0.0.bin --previous state.json --save-state state.json
            """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The release directory.", valueName: "OUT")) var release: String
    @Option(help: ArgumentHelp("The root to trust, kept outside the release.", valueName: "ROOT.json")) var trustedRoot: String
    @Option(help: ArgumentHelp("An owner public key the layout must be signed by (repeatable).", valueName: "PUB.pem")) var ownerKey: [String] = []
    @Option(help: ArgumentHelp("The policy the release must follow.", valueName: "FILE")) var policy: String?
    @Option(help: ArgumentHelp("The state remembered from the last verification (rollback and downgrade checks).", valueName: "STATE")) var previous: String?
    @Option(help: ArgumentHelp("Write the state a device would remember, when the release verified.", valueName: "STATE")) var saveState: String?
    @Option(help: ArgumentHelp("The reference time for expiry (YYYY-MM-DDTHH:MM:SSZ; default: now).", valueName: "TIME")) var at: String?
    @Option(help: ArgumentHelp("A base image deltas may be applied to (repeatable; found by sha256).", valueName: "FILE")) var base: [String] = []
    @Flag(help: "Fail on warnings too (a delta whose base was not given, a key of unknown age).") var strict = false

    func validate() throws {
        if let at, UTCTimestamp.date(from: at) == nil { throw ValidationError("--at \(at) is not YYYY-MM-DDTHH:MM:SSZ") }
    }

    func run() throws {
        guard FileIO.exists(release + "/repository") || FileIO.exists(release + "/custody") else {
            throw FirmchainError(.ioNotFound, "is not a release directory (no repository/ or custody/)", path: release)
        }
        let now = at.flatMap(UTCTimestamp.date(from:)) ?? Date()
        let owners = try ownerKey.map { p -> PublicKey in
            do { return try PublicKey(pem: String(decoding: try FileIO.read(p, limit: 1 << 16), as: UTF8.self)) } catch let e as FirmchainError {
                throw e.about(p)
            }
        }
        let trust = ReleaseTrust(
            trustedRoot: try FileIO.read(trustedRoot, limit: RepositoryStore.metadataLimit), trustedRootName: trustedRoot, ownerKeys: owners,
            policy: try policy.map { try Policy(contentsOf: $0) },
            previous: try previous.map { try DeviceState(bytes: try FileIO.read($0, limit: DeviceState.fileLimit), path: $0) })
        let bases = try base.map { try FileIO.read($0) }
        let verification = ReleaseVerifier(trust: trust, now: now, baseImages: bases).verify(out: release)
        let report = verification.report
        let ok = strict ? report.passedStrictly : report.passed
        if ok, let saveState, let state = verification.state {
            try AtomicFile.write(state.fileBytes, to: saveState)
        }
        output.emit(text: report.text(verdict: "release \(release)"), json: report.json)
        if !ok { throw ExitCode(ErrorCategory.verificationFailed.exitCode) }
    }
}
