import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Verify: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a release's custody evidence: layout, links, delivered files, ledger chain and checkpoints, provenance.",
            discussion: """
                Prints a numbered list of checks; exits 1 if any fails. Owner keys default to \
                DIR/keys/owner.pub.pem (and owner-N.pub.pem): pass --owner-key from a trusted \
                place, or the check only proves that DIR agrees with itself.

                Example:
                  firmchain custody verify OUT --owner-key Keys/owner.pub.pem
                  firmchain custody verify OUT --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The release directory.") var dir: String
        @Option(help: ArgumentHelp("A trusted owner public key (repeatable).", valueName: "PUB.pem")) var ownerKey: [String] = []
        @Flag(help: "Fail on warnings too (a torn ledger line, entries not yet covered by a checkpoint).") var strict = false

        func run() throws {
            guard FileIO.exists(dir + "/custody") else {
                throw FirmchainError(.custodyNoEvidence, "no custody directory", path: dir + "/custody")
            }
            var paths = ownerKey
            var fromDir = false
            if paths.isEmpty {
                fromDir = true
                paths = ReleaseDirectory(dir).ownerKeyPaths()
            }
            let keys = try paths.map { p -> PublicKey in
                do { return try PublicKey(pem: String(decoding: try FileIO.read(p, limit: 1 << 16), as: UTF8.self)) } catch let e as FirmchainError {
                    throw e.about(p)
                }
            }
            // The release's revocation list, checked against its newest root, applies to every
            // custody signature; a list that does not verify is reported as a failed check.
            let now = Date()
            let release = ReleaseDirectory(dir)
            var revocations = [Revocation]()
            var revocationCheck: Check?
            if FileIO.exists(release.revocationsPath), release.repository.isInitialized {
                let v = try release.verifyRepository(now: now, expiredIsWarning: true, checkTargetFiles: false)
                revocations = v.revocations
                revocationCheck = v.report.checks.last { $0.id == "keys.revocations" }
                    ?? Check("keys.revocations", .failed, "the repository does not verify, so its revocation list cannot be trusted", subject: "keys/revocations.json")
            }
            var report = CustodyVerifier(ownerKeys: keys, now: now, revocations: revocations).verify(out: dir).report
            if let revocationCheck { report.append(revocationCheck) }
            if fromDir {
                report.trust.append("note: owner keys taken from \(dir)/keys; pass --owner-key to check against keys you trust")
                report.anchored = false
            }
            let ok = strict ? report.passedStrictly : report.passed
            output.emit(text: report.text(verdict: "custody evidence"), json: report.json)
            if !ok { throw ExitCode(ErrorCategory.verificationFailed.exitCode) }
        }
    }
}
