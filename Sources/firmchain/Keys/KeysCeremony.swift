import ArgumentParser
import FirmchainCore
import Foundation
import KeyLifecycle
import Release
import ReleasePolicy
import Repository
import Signing

/// Options every proposing command shares.
struct ProposalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The release directory whose newest root the proposal extends.", valueName: "OUT")) var repo: String
    @Option(help: ArgumentHelp("Where to write the proposal (must not exist).", valueName: "PROPOSAL")) var out: String
    @Option(help: ArgumentHelp("Days the proposed root stays valid.", valueName: "DAYS")) var expiresIn: Int = 365
    @Option(help: ArgumentHelp("Days officers have to approve and apply the proposal.", valueName: "DAYS")) var proposalDays: Int = 7
    @Option(help: ArgumentHelp("Policy whose algorithms and maximum key age the proposal must respect.", valueName: "FILE")) var policy: String?
    @Flag(help: "Allow a root whose threshold equals its key count (one lost key makes it unrecoverable).") var forceUnrecoverable = false

    func validate() throws {
        guard (1...36_500).contains(expiresIn) else { throw ValidationError("--expires-in must be between 1 and 36500 days") }
        guard (1...365).contains(proposalDays) else { throw ValidationError("--proposal-days must be between 1 and 365") }
    }

    var expiry: CeremonyExpiry { CeremonyExpiry(root: TimeInterval(expiresIn) * 86_400, proposal: TimeInterval(proposalDays) * 86_400) }

    func rules() throws -> KeyRules {
        var rules = KeyRules(allowUnrecoverableRoot: forceUnrecoverable)
        if let policy {
            let p = try Policy(contentsOf: policy)
            rules.allowedAlgorithms = p.allowedAlgorithms
            rules.minimumRSABits = p.minimumRSABits
            rules.maximumKeyAge = TimeInterval(p.maximumKeyAgeDays) * 86_400
        }
        return rules
    }

    /// The newest root's file, after the release verified.
    func base(now: Date) throws -> (bytes: [UInt8], release: ReleaseDirectory, revocations: ReleaseRepositoryVerification) {
        let release = ReleaseDirectory(repo)
        let store = release.repository
        guard store.isInitialized else {
            throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: store.metadataDirectory)
        }
        let v = try release.verifyRepository(now: now, expiredIsWarning: true, checkTargetFiles: false)
        if let f = v.report.failures.first {
            throw FirmchainError(.keysReleaseUnverified, "the release does not verify (\(f.id)\(f.subject.map { " \($0)" } ?? ""): \(f.reason)); no ceremony may extend it",
                                 path: release.path)
        }
        guard FileIO.exists(out) == false else {
            throw FirmchainError(.ioWouldReplace, "a file is already here; choose another --out (a proposal is never overwritten)", path: out)
        }
        let latest = store.latestRootVersion()
        return (try FileIO.read(store.metadataDirectory + "/\(latest).root.json", limit: RepositoryStore.metadataLimit), release, v)
    }

    /// Writes the proposal and its ledger entry, prints the summary.
    func finish(_ proposal: KeyProposal, warnings: [String], release: ReleaseDirectory, now: Date, output: Output) throws {
        try AtomicFile.write(proposal.fileBytes(), to: out)
        let digest = try proposal.digest()
        try FileIO.makeDirectories(release.custody.directory)
        _ = try release.custody.ledger.append(
            LedgerRecordFactory.propose(proposal, digest: digest, file: out), now: now)
        for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        let officers = (try? KeyCeremony.officers(of: proposal)) ?? []
        output.emit(text: (["wrote \(proposal.kind.rawValue) proposal \(out) (root v\(proposal.root.signed.version), digest \(digest.prefix(16))…, expires \(UTCTimestamp.string(from: proposal.expires)))"]
                           + proposal.changes.map { "  \($0)" }
                           + ["next: each officer runs `firmchain keys approve \(out) --key KEY` (officers: \(officers.map { String($0.prefix(8)) }.joined(separator: ", ")))"]).joined(separator: "\n"),
                    json: ["proposal": .string(out), "digest": .string(digest), "kind": .string(proposal.kind.rawValue),
                           "root_version": .int(proposal.root.signed.version), "changes": .array(proposal.changes.map { .string($0) }),
                           "warnings": .array(warnings.map { .string($0) }), "officers": .array(officers.map { .string($0) })])
    }
}

import Custody

enum LedgerRecordFactory {
    static func propose(_ p: KeyProposal, digest: String, file: String) -> LedgerRecord {
        var details: [String: JSONValue] = ["proposal": .string(digest), "kind": .string(p.kind.rawValue), "role": .string(p.role.rawValue),
                                            "changes": .array(p.changes.map { .string($0) }), "base_root_sha256": .string(p.baseSHA256)]
        if let d = p.delegation { details["delegated_role"] = .string(d.role) }
        return LedgerRecord(action: p.kind == .revocation ? "key.propose-revocation" : "key.propose", actor: "",
                            subjects: [LedgerSubject(name: (file as NSString).lastPathComponent, sha256: DigestCalculator.sha256Hex(p.fileBytes()))],
                            details: details)
    }
}

/// A key given as a PEM public key, a PEM private key (its public half) or a pkcs11: URI.
func publicKeyArgument(_ s: String, access: KeyAccessOptions) throws -> PublicKey {
    try Signers.publicKey(of: s, options: access.signerOptions())
}

extension TopLevelRole: ExpressibleByArgument {}
extension RevocationReason: ExpressibleByArgument {}

extension KeysCommand {
    struct Rotate: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose a change of one role's keys or threshold (officers approve it, then `keys apply`).",
            discussion: """
                Writes the proposed next root, unsigned, with what it changes; nothing is published. For a delegated role (a product line's team) the root stays as it is: the proposal names the role's new keys, the root officers and the new keys approve it, and `keys apply` re-signs targets (with the targets key), the role's metadata (with its new keys), snapshot and timestamp. --remove takes a keyid or a public key file. With --overlap-days the removed keys stay in the role until then, so devices that missed an update keep verifying; --close-windows proposes removing the keys whose windows ended.

                Example:
                  firmchain keys rotate --repo OUT --role root --add keys/officer-c.pub.pem \\
                      --remove 1a2b3c… --threshold 2 --out rotate-root.json
                  firmchain keys rotate --repo OUT --role targets \\
                      --add 'pkcs11:token=release;object=targets-2' \\
                      --remove keys/targets.pub.pem --overlap-days 30 --out t.json
                  firmchain keys rotate --repo OUT --role root --renew --expires-in 365 \\
                      --out renew-root.json
                  firmchain keys rotate --repo OUT --role board-a-team \\
                      --add 'pkcs11:token=team-a;object=team-2' --remove 9f8e7d… \\
                      --out team-a.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var proposal: ProposalOptions
        @OptionGroup var access: KeyAccessOptions
        @Option(help: ArgumentHelp("The role whose keys change: root, targets, snapshot, timestamp, or a delegated role of the published targets (a product line's team).", valueName: "ROLE"))
        var role: String?
        @Option(help: ArgumentHelp("A key to add (PUB.pem, PEM key or pkcs11: URI; repeatable).", valueName: "KEY")) var add: [String] = []
        @Option(help: ArgumentHelp("A key to remove (keyid or PUB.pem; repeatable).", valueName: "KEYID|PUB.pem")) var remove: [String] = []
        @Option(help: "The role's new threshold.") var threshold: Int?
        @Option(help: ArgumentHelp("Keep the removed keys in the role for this many days (an overlap window).", valueName: "DAYS")) var overlapDays: Int?
        @Flag(help: "Propose removing every key whose overlap window has ended (in --role, or in every role).") var closeWindows = false
        @Flag(help: "Propose the next root with a new expiry (--expires-in) and, unless other options change them, the same keys.") var renew = false

        func validate() throws {
            if closeWindows {
                guard add.isEmpty, remove.isEmpty, threshold == nil, overlapDays == nil, !renew else {
                    throw ValidationError("--close-windows takes no --add, --remove, --threshold, --overlap-days or --renew")
                }
            } else if role == nil {
                throw ValidationError("--role is required (root, targets, snapshot, timestamp or a delegated role)")
            }
            if let overlapDays, !(1...3650).contains(overlapDays) { throw ValidationError("--overlap-days must be between 1 and 3650") }
        }

        func run() throws {
            let now = Date()
            let (base, release, _) = try proposal.base(now: now)
            let rules = try proposal.rules()
            let result: (proposal: KeyProposal, warnings: [String])
            let topLevel = role.flatMap(TopLevelRole.init(rawValue:))
            if closeWindows {
                guard role == nil || topLevel != nil else { throw FirmchainError(.usageInvalid, "--close-windows works on the top-level roles (root, targets, snapshot, timestamp)") }
                result = try KeyCeremony.proposeWindowClose(base: base, role: topLevel, rules: rules, expiry: proposal.expiry, now: now)
            } else if let delegated = role, topLevel == nil {
                // A delegated role: its keys live in the published targets, and the root stays as it is.
                guard overlapDays == nil, !renew else { throw FirmchainError(.usageInvalid, "--overlap-days and --renew are for the top-level roles") }
                let store = release.repository
                let current = try store.current()
                guard current.targets.signed.delegations?.roles.contains(where: { $0.name == delegated }) == true else {
                    throw FirmchainError(.usageInvalid, "--role \(delegated) is neither a top-level role (root, targets, snapshot, timestamp) nor a role the published targets delegate (\((current.targets.signed.delegations?.roles.map(\.name) ?? []).joined(separator: ", ")))")
                }
                let targetsFile = try FileIO.read(store.metadataDirectory + "/\(current.targets.signed.version).targets.json", limit: RepositoryStore.metadataLimit)
                let adds = try add.map { try publicKeyArgument($0, access: access) }
                let removes = try remove.map { r -> String in
                    if r.utf8.count == 64, Hex.decode(r) != nil { return r.lowercased() }
                    return try publicKeyArgument(r, access: access).keyid
                }
                result = try KeyCeremony.proposeDelegationRotation(baseRoot: base, targetsFile: targetsFile, role: delegated, add: adds, remove: removes,
                                                                   threshold: threshold, rules: rules, expiry: proposal.expiry, now: now)
            } else {
                let adds = try add.map { try publicKeyArgument($0, access: access) }
                let removes = try remove.map { r -> String in
                    if r.utf8.count == 64, Hex.decode(r) != nil { return r.lowercased() }
                    return try publicKeyArgument(r, access: access).keyid
                }
                let request = RotationRequest(role: topLevel!, add: adds, remove: removes, threshold: threshold,
                                              overlapUntil: overlapDays.map { now.addingTimeInterval(TimeInterval($0) * 86_400) }, renew: renew)
                result = try KeyCeremony.proposeRotation(base: base, request: request, rules: rules, expiry: proposal.expiry, now: now)
            }
            try proposal.finish(result.proposal, warnings: result.warnings, release: release, now: now, output: output)
        }
    }

    struct Revoke: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose revoking a key: the next revocation list lists it and the next root drops it from every role.",
            discussion: """
                A compromised key's signatures are void at every time; a superseded or retired key's stay valid before the revocation time. --add puts a replacement into every role that loses the key (an emergency rotation in the same ceremony).

                Example:
                  firmchain keys revoke 1a2b3c… --reason compromised --repo OUT \\
                      --add keys/root-new.pub.pem --out revoke.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var proposal: ProposalOptions
        @OptionGroup var access: KeyAccessOptions
        @Argument(help: ArgumentHelp("The key to revoke (keyid or PUB.pem).", valueName: "KEYID|PUB.pem")) var key: String
        @Option(help: "compromised, superseded or retired.") var reason: RevocationReason
        @Option(help: ArgumentHelp("A replacement key for each role that loses the revoked one (repeatable).", valueName: "KEY")) var add: [String] = []
        @Option(help: "The new threshold of each role that loses the key.") var threshold: Int?

        func run() throws {
            let now = Date()
            let (base, release, current) = try proposal.base(now: now)
            let keyid = key.utf8.count == 64 && Hex.decode(key) != nil ? key.lowercased() : try publicKeyArgument(key, access: access).keyid
            let result = try KeyCeremony.proposeRevocation(
                base: base, list: current.revocationList?.signed, revocation: Revocation(keyid: keyid, reason: reason, time: now),
                replacements: try add.map { try publicKeyArgument($0, access: access) }, threshold: threshold,
                rules: try proposal.rules(), expiry: proposal.expiry, now: now)
            try proposal.finish(result.proposal, warnings: result.warnings, release: release, now: now, output: output)
        }
    }

    struct Show: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what an officer is about to approve: the changes, the digest, the approvals so far.",
            discussion: """
                Example:
                  firmchain keys show rotate-root.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The proposal file.", valueName: "PROPOSAL")) var proposal: String

        func run() throws {
            let p = try KeyProposal.read(proposal)
            let now = Date()
            let base = try p.baseRoot().signed, next = p.root.signed
            let state = try KeyCeremony.state(of: p, at: now)
            let digest = try p.digest()
            var diff = [String]()
            for r in TopLevelRole.allCases where base.roles[r] != next.roles[r] {
                let a = base.roles[r], b = next.roles[r]
                diff.append("\(r.rawValue): keys \(a.keyids.map { String($0.prefix(8)) }.sorted().joined(separator: ",")) -> \(b.keyids.map { String($0.prefix(8)) }.sorted().joined(separator: ",")); threshold \(a.threshold) -> \(b.threshold)")
            }
            if let d = p.delegation {
                diff.append("\(d.role) (delegated): keys -> \(d.keys.map { String($0.keyid.prefix(8)) }.sorted().joined(separator: ",")); threshold -> \(d.threshold)")
            }
            let approvals = p.approvals.map { "\($0.keyid.prefix(8)) at \(UTCTimestamp.string(from: $0.time))\(state.invalidApprovals.contains($0.keyid) ? " (does NOT cover these bytes)" : "")" }
            let heading = p.delegation.map { "\(p.kind.rawValue) proposal: delegated role \($0.role), under root v\(base.version) (unchanged)" }
                ?? "\(p.kind.rawValue) proposal: root v\(base.version) -> v\(next.version)"
            let text = ([heading,
                         "digest: \(digest)", "base root sha256: \(p.baseSHA256)",
                         "created \(UTCTimestamp.string(from: p.created)), expires \(UTCTimestamp.string(from: p.expires))\(now >= p.expires ? " (EXPIRED)" : "")",
                         "changes:"] + p.changes.map { "  \($0)" } + ["roles:"] + diff.map { "  \($0)" }
                        + ["approvals (\(p.approvals.count)):"] + approvals.map { "  \($0)" }
                        + (state.isMet ? ["thresholds: met"] : ["still needed:"] + state.missing.map { "  \($0)" })).joined(separator: "\n")
            output.emit(text: text, json: [
                "kind": .string(p.kind.rawValue), "digest": .string(digest), "base_version": .int(base.version), "root_version": .int(next.version),
                "base_sha256": .string(p.baseSHA256), "created": .string(UTCTimestamp.string(from: p.created)),
                "expires": .string(UTCTimestamp.string(from: p.expires)), "expired": .bool(now >= p.expires),
                "changes": .array(p.changes.map { .string($0) }),
                "approvals": .array(p.approvals.map { ["keyid": .string($0.keyid), "time": .string(UTCTimestamp.string(from: $0.time)),
                                                       "covers_proposal": .bool(!state.invalidApprovals.contains($0.keyid))] }),
                "thresholds_met": .bool(state.isMet), "missing": .array(state.missing.map { .string($0) }),
                "delegation": p.delegation.map { ["role": .string($0.role), "keyids": .array($0.keys.map { .string($0.keyid) }), "threshold": .int(Int64($0.threshold))] } ?? .null,
            ])
        }
    }

    struct Approve: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add one officer's approval to a proposal (needs only the proposal file and the key).",
            discussion: """
                Refuses a key with no say in the change, an expired proposal, and a proposal edited after an earlier approval. Other officers' approvals are kept; two officers approving the same file at once both land.

                Example:
                  firmchain keys approve rotate-root.json \\
                      --key 'pkcs11:token=officer-a;object=root'
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions
        @Argument(help: ArgumentHelp("The proposal file.", valueName: "PROPOSAL")) var proposal: String
        @Option(help: ArgumentHelp("The officer's key (pkcs11: URI or PEM file).", valueName: "URI|FILE")) var key: String

        func run() throws {
            let signer = try Signers.open(key, options: access.signerOptions())
            let dir = (proposal as NSString).deletingLastPathComponent
            // Read, sign and write under a lock on the proposal's directory: concurrent
            // approvals queue instead of losing each other.
            let lock = try DirectoryLock(dir.isEmpty ? "." : dir, waitSeconds: 120)
            defer { lock.unlock() }
            var p = try KeyProposal.read(proposal)
            let state = try KeyCeremony.approve(&p, signer: signer, now: Date())
            try AtomicFile.write(p.fileBytes(), to: proposal)
            let keyid = signer.publicKey.keyid
            output.emit(text: (["approved \(proposal) with key \(keyid.prefix(8)) (\(p.approvals.count) approval(s))"]
                               + (state.isMet ? ["thresholds met: `firmchain keys apply \(proposal) --repo OUT`"] : ["still needed:"] + state.missing.map { "  \($0)" }))
                .joined(separator: "\n"),
                        json: ["proposal": .string(proposal), "keyid": .string(keyid), "approvals": .int(p.approvals.count),
                               "thresholds_met": .bool(state.isMet), "missing": .array(state.missing.map { .string($0) })])
        }
    }

    struct Apply: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish an approved proposal: the next N.root.json (and revocation list), only when every threshold holds.",
            discussion: """
                Checks everything before the first write: the release verifies, the proposal extends its newest root, every approval covers the proposal, the thresholds of the old and the new root hold. A refused apply writes nothing and says which signatures are missing. When a role other than root changed, targets, snapshot and timestamp are re-signed under the new root with the --key keys.

                Example:
                  firmchain keys apply rotate-root.json --repo OUT
                  firmchain keys apply rotate-timestamp.json --repo OUT \\
                      --key keys/targets.pem --key keys/snapshot.pem \\
                      --key keys/timestamp-2.pem
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions
        @OptionGroup var expiry: RepoCommand.ExpiryOptions
        @Argument(help: ArgumentHelp("The proposal file.", valueName: "PROPOSAL")) var proposal: String
        @Option(help: ArgumentHelp("The release directory.", valueName: "OUT")) var repo: String
        @Option(help: ArgumentHelp("A targets, snapshot or timestamp key for re-signing, or a delegated role's new key (repeatable).", valueName: "URI|FILE")) var key: [String] = []
        @Option(help: ArgumentHelp("Policy whose algorithms, key age and ceremony approvals apply.", valueName: "FILE")) var policy: String?
        @Flag(help: "Allow a root whose threshold equals its key count.") var forceUnrecoverable = false

        func run() throws {
            let p = try KeyProposal.read(proposal)
            var rules = KeyRules(allowUnrecoverableRoot: forceUnrecoverable)
            var required: Int?
            var officers: Set<String>?
            if let policy {
                let pol = try Policy(contentsOf: policy)
                rules.allowedAlgorithms = pol.allowedAlgorithms
                rules.minimumRSABits = pol.minimumRSABits
                rules.maximumKeyAge = TimeInterval(pol.maximumKeyAgeDays) * 86_400
                required = pol.ceremonyApprovals[p.kind.rawValue]
                if !pol.officers.isEmpty {
                    officers = Set(try pol.officers.values.map { try publicKeyArgument($0, access: access).keyid })
                }
            }
            let signers = try key.map { try Signers.open($0, options: access.signerOptions()) }
            let r = try KeyCeremony.apply(p, to: ReleaseDirectory(repo), signers: signers, rules: rules, requiredApprovals: required, officers: officers,
                                          expiry: expiry.policy, now: Date())
            for w in r.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            var lines: [String]
            if let d = p.delegation {
                lines = [r.alreadyApplied ? "already applied: \(d.role) has this proposal's keys; nothing was written"
                         : "published the new keys of \(d.role) (threshold \(d.threshold)); root v\(r.rootVersion) unchanged"]
            } else {
                lines = [r.alreadyApplied ? "already applied: root v\(r.rootVersion) is this proposal's; nothing was written"
                         : "published root v\(r.rootVersion)\(r.resumed ? " (finished an interrupted apply)" : "")"]
            }
            if let v = r.revocationsVersion { lines.append("published revocation list v\(v)") }
            if let s = r.resigned { lines.append("re-signed targets v\(s.targets), snapshot v\(s.snapshot), timestamp v\(s.timestamp)\(p.delegation == nil ? " under it" : "")") }
            var doc: [String: JSONValue] = ["root_version": .int(r.rootVersion), "resumed": .bool(r.resumed), "already_applied": .bool(r.alreadyApplied),
                                            "warnings": .array(r.warnings.map { .string($0) })]
            doc["revocations_version"] = r.revocationsVersion.map { .int($0) } ?? .null
            doc["delegated_role"] = p.delegation.map { .string($0.role) } ?? .null
            if let s = r.resigned { doc["resigned"] = ["targets": .int(s.targets), "snapshot": .int(s.snapshot), "timestamp": .int(s.timestamp)] }
            output.emit(text: lines.joined(separator: "\n"), json: .object(doc))
        }
    }

    struct Status: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per role: keys, algorithms, ages, thresholds, overlap windows, revocations, and what expires soon.",
            discussion: """
                The release is verified first (expired metadata is reported, not refused).

                Example:
                  firmchain keys status --repo OUT --json
                """
        )
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The release directory.", valueName: "OUT")) var repo: String
        @Option(help: ArgumentHelp("Warn about what expires within this many days.", valueName: "DAYS")) var horizonDays: Int = 30
        @Option(help: ArgumentHelp("Policy whose maximum key age to warn about.", valueName: "FILE")) var policy: String?

        func run() throws {
            let maxAge = try policy.map { TimeInterval(try Policy(contentsOf: $0).maximumKeyAgeDays) * 86_400 }
            let s = try KeyStatus.of(ReleaseDirectory(repo), now: Date(), horizon: TimeInterval(max(0, horizonDays)) * 86_400, maximumKeyAge: maxAge)
            output.emit(text: s.text, json: s.json)
        }
    }
}
