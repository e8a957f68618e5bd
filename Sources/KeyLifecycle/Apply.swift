import Custody
import FirmchainCore
import Foundation
import Release
import Repository
import Signing

/// What `KeyCeremony.apply` published.
public struct AppliedCeremony: Sendable {
    /// The root version now the newest.
    public var rootVersion: Int64
    /// The revocation list version written, if the ceremony wrote one.
    public var revocationsVersion: Int64?
    /// The targets, snapshot and timestamp versions re-signed under the new root, when a role
    /// other than root changed.
    public var resigned: (targets: Int64, snapshot: Int64, timestamp: Int64)?
    /// Whether an earlier apply of the same proposal was interrupted and this run finished it.
    public var resumed: Bool
    /// Whether the proposal had been applied completely before: nothing was written.
    public var alreadyApplied: Bool
    /// The ceremony's warnings (keys past the maximum age, …).
    public var warnings: [String]
}

extension KeyCeremony {
    /// How long `apply` waits for another writer of the release.
    public static let writerWaitSeconds = 120

    /// Publishes an approved proposal into `release`, checking everything before the first write:
    ///
    /// 1. the release verifies (from its own `1.root.json`, revocations applied; expiry only warns);
    /// 2. the proposal extends the newest root byte for byte (or an earlier apply of it was
    ///    interrupted after writing the root: then this run finishes it) and has not expired;
    /// 3. every approval covers the proposal's bytes, and the thresholds hold: the base root's
    ///    root keys and the new root's (TUF spec §5.3.4), the revocation list's, and
    ///    `requiredApprovals` by `officers` when the policy asks for more;
    /// 4. the guards hold (`check`);
    /// 5. when a role other than root changed, targets, snapshot and timestamp are re-signed
    ///    under the new root with `signers` (their current targets, not a staged draft).
    ///
    /// Writes, under the release's lock: the re-signed targets and snapshot, `N+1.root.json`,
    /// `keys/revocations.json`, then `timestamp.json`, and the ledger entries (each approval with
    /// its officer's key and time, then the ceremony). A refused apply writes nothing.
    public static func apply(_ proposal: KeyProposal, to release: ReleaseDirectory, signers: [any Signer] = [], rules: KeyRules = KeyRules(),
                             requiredApprovals: Int? = nil, officers: Set<String>? = nil, expiry: ExpiryPolicy = ExpiryPolicy(),
                             now: Date) throws -> AppliedCeremony {
        let store = release.repository
        guard store.isInitialized else {
            throw FirmchainError(.repoNotInitialized, "no 1.root.json: run `firmchain repo init` first", path: store.metadataDirectory)
        }
        let lock = try DirectoryLock(release.path, waitSeconds: writerWaitSeconds)
        defer { lock.unlock() }
        try validateShape(proposal)
        if let change = proposal.delegation {
            return try applyDelegation(proposal, change, to: release, signers: signers, rules: rules, requiredApprovals: requiredApprovals,
                                       officers: officers, expiry: expiry, now: now)
        }
        let base = try proposal.baseRoot()
        let proposed = try proposal.root.signedBytes()
        let latest = store.latestRootVersion()
        let latestFile = try FileIO.read(store.metadataDirectory + "/\(latest).root.json", limit: RepositoryStore.metadataLimit)
        let resumed: Bool
        if latest == base.signed.version, DigestCalculator.sha256Hex(latestFile) == proposal.baseSHA256 {
            resumed = false
        } else if latest == base.signed.version + 1, (try? Metadata<Root>(bytes: latestFile).signedBytes()) == proposed {
            resumed = true
        } else {
            throw stale("the proposal was made against root v\(base.signed.version) (sha256 \(proposal.baseSHA256.prefix(12))…), but the newest root is v\(latest); make a new proposal")
        }
        guard resumed || now < proposal.expires else { throw stale("the proposal expired \(UTCTimestamp.string(from: proposal.expires)); make a new one") }

        // 1. The release as it stood before this ceremony verifies.
        let before = try verifyBefore(release, hiding: resumed ? "\(latest).root.json" : nil, now: now)
        var revocations = before.revocations
        // 3. Approvals and thresholds.
        let state = try state(of: proposal, revocations: revocations, requiredApprovals: requiredApprovals, officers: officers, at: now)
        if let broken = state.invalidApprovals.first {
            throw FirmchainError(.keysApprovalInvalid, "the approval by \(broken.prefix(8)) does not cover this proposal's bytes: it was edited after that approval; nothing was published")
        }
        guard state.isMet else {
            throw FirmchainError(.keysApprovalsMissing, "not enough approvals, nothing was published: " + state.missing.joined(separator: "; "))
        }
        // 4. Guards.
        let warnings = try check(proposal.root.signed, rules: rules, now: now)

        // 5. Sign everything before the first write.
        var root = proposal.root
        root.signatures.removeAll { !state.validApprovals.contains($0.keyid) }
        var list = proposal.revocations
        list?.signatures.removeAll { !state.validApprovals.contains($0.keyid) }
        if let list { revocations = list.signed.revoked }
        let next = root.signed
        let changedRoles = TopLevelRole.allCases.filter { $0 != .root && base.signed.roles[$0] != next.roles[$0] }
        var prepared: RepositoryStore.PreparedRelease?
        if !changedRoles.isEmpty {
            let current = try store.current()
            let underNew = next.keyRing(revocations: revocations)
            let stillValid = TopLevelRole.allCases.filter { $0 != .root }.allSatisfy { r in
                switch r {
                case .timestamp: return current.timestamp.verify(role: next.roles.timestamp, as: .tuf("timestamp"), ring: underNew, at: now).isMet
                case .snapshot: return current.snapshot.verify(role: next.roles.snapshot, as: .tuf("snapshot"), ring: underNew, at: now).isMet
                default: return current.targets.verify(role: next.roles.targets, as: .tuf("targets"), ring: underNew, at: now).isMet
                }
            }
            if !(resumed && stillValid) {
                prepared = try store.prepare(targets: current.targets.signed, root: next, signers: signers, expiry: expiry, now: now)
            }
        }

        let digest = try proposal.digest()
        if resumed, prepared == nil, list == nil || (try? release.revocationListBytes()) == list?.fileBytes(),
           (try? release.custody.ledger.entries())?.contains(where: {
               ["key.apply", "key.revocation", "key.window-close"].contains($0.record.action) && $0.record.details["proposal"] == .string(digest)
           }) == true {
            // Applied before, completely: nothing to write, nothing to record twice.
            return AppliedCeremony(rootVersion: base.signed.version + 1, revocationsVersion: list?.signed.version, resigned: nil,
                                   resumed: false, alreadyApplied: true, warnings: warnings)
        }

        // Writes: new targets and snapshot (not yet referenced), the root, the list, the timestamp.
        let metadata = store.metadataDirectory
        for f in prepared?.files ?? [] where f.name != "timestamp.json" { try AtomicFile.write(f.bytes, to: metadata + "/" + f.name) }
        let rootFile = root.fileBytes()
        if !resumed { try AtomicFile.write(rootFile, to: metadata + "/\(next.version).root.json") }
        if let list {
            try FileIO.makeDirectories(release.keysDirectory)
            if (try? release.revocationListBytes()) != list.fileBytes() { try AtomicFile.write(list.fileBytes(), to: release.revocationsPath) }
        }
        if let ts = prepared?.files.first(where: { $0.name == "timestamp.json" }) { try AtomicFile.write(ts.bytes, to: metadata + "/timestamp.json") }

        // Custody: who approved what, when, and the ceremony itself.
        let subject = LedgerSubject(name: "repository/metadata/\(next.version).root.json", sha256: DigestCalculator.sha256Hex(resumed ? latestFile : rootFile))
        var records = proposal.approvals.filter { state.validApprovals.contains($0.keyid) }.sorted { $0.time < $1.time }.map { a in
            LedgerRecord(action: "key.approve", actor: a.keyid, subjects: [subject],
                         details: ["proposal": .string(digest), "approved": .string(UTCTimestamp.string(from: a.time)), "kind": .string(proposal.kind.rawValue)])
        }
        var subjects = [subject]
        if let list { subjects.append(LedgerSubject(name: "keys/revocations.json", sha256: DigestCalculator.sha256Hex(list.fileBytes()))) }
        records.append(LedgerRecord(action: "key.\(proposal.kind == .rotation ? "apply" : proposal.kind.rawValue)",
                                    actor: signers.first.map { TUFKey($0.publicKey).keyid } ?? "",
                                    subjects: subjects,
                                    details: ["proposal": .string(digest), "role": .string(proposal.role.rawValue),
                                              "changes": .array(proposal.changes.map { .string($0) }),
                                              "approvals": .array(state.validApprovals.map { .string($0) }), "resumed": .bool(resumed)]))
        try FileIO.makeDirectories(release.custody.directory)
        _ = try release.custody.ledger.append(records, now: now)
        return AppliedCeremony(rootVersion: next.version, revocationsVersion: list?.signed.version,
                               resigned: prepared.map { ($0.targetsVersion, $0.snapshotVersion, $0.timestampVersion) }, resumed: resumed,
                               alreadyApplied: false, warnings: warnings)
    }

    /// Publishes an approved change of a delegated role (the caller holds the release's lock):
    /// checks, as for a root, that the root and `targets.json` are still the ones the proposal
    /// extends, the release verifies, and the approvals meet the root officers' threshold, the
    /// new keys' threshold and the policy's; then signs, before the first write, the next
    /// `targets` naming the role's new keys (with the targets key among `signers`), the role's
    /// next metadata with its new keys, a snapshot and a timestamp; writes them, timestamp
    /// last, and records the approvals and the ceremony in the ledger.
    static func applyDelegation(_ proposal: KeyProposal, _ change: DelegationChange, to release: ReleaseDirectory, signers: [any Signer],
                                rules: KeyRules, requiredApprovals: Int?, officers: Set<String>?, expiry: ExpiryPolicy,
                                now: Date) throws -> AppliedCeremony {
        let store = release.repository
        let base = try proposal.baseRoot()
        let latest = store.latestRootVersion()
        let latestFile = try FileIO.read(store.metadataDirectory + "/\(latest).root.json", limit: RepositoryStore.metadataLimit)
        guard latest == base.signed.version, DigestCalculator.sha256Hex(latestFile) == proposal.baseSHA256 else {
            throw stale("the proposal was made against root v\(base.signed.version), but the newest root is v\(latest); make a new proposal")
        }
        let before = try verifyBefore(release, hiding: nil, now: now)
        let cur = try store.current()
        let targetsFile = try FileIO.read(store.metadataDirectory + "/\(cur.targets.signed.version).targets.json", limit: RepositoryStore.metadataLimit)
        let digest = try proposal.digest()
        let state = try state(of: proposal, revocations: before.revocations, requiredApprovals: requiredApprovals, officers: officers, at: now)
        if let broken = state.invalidApprovals.first {
            throw FirmchainError(.keysApprovalInvalid, "the approval by \(broken.prefix(8)) does not cover this proposal's bytes: it was edited after that approval; nothing was published")
        }
        guard state.isMet else {
            throw FirmchainError(.keysApprovalsMissing, "not enough approvals, nothing was published: " + state.missing.joined(separator: "; "))
        }
        let publishedRole = cur.targets.signed.delegations?.roles.first { $0.name == change.role }
        guard DigestCalculator.sha256Hex(targetsFile) == change.baseTargetsSHA256 else {
            // Published already (by an earlier apply of this proposal): record it if that apply
            // stopped before its ledger entries, else nothing to do.
            if let role = publishedRole, Set(role.keys.keyids) == Set(change.keys.map(\.keyid)), role.keys.threshold == change.threshold {
                let recorded = (try? release.custody.ledger.entries())?.contains {
                    $0.record.action == "key.apply" && $0.record.details["proposal"] == .string(digest)
                } == true
                if !recorded { try recordDelegation(proposal, change, state: state, digest: digest, targetsVersion: cur.targets.signed.version,
                                                    release: release, signers: signers, resumed: true, now: now) }
                return AppliedCeremony(rootVersion: latest, revocationsVersion: nil, resigned: nil, resumed: !recorded, alreadyApplied: recorded, warnings: [])
            }
            throw stale("the proposal was made against targets.json sha256 \(change.baseTargetsSHA256.prefix(12))…, but the published targets v\(cur.targets.signed.version) differ; make a new proposal")
        }
        guard now < proposal.expires else { throw stale("the proposal expired \(UTCTimestamp.string(from: proposal.expires)); make a new one") }
        guard var delegations = cur.targets.signed.delegations, let index = delegations.roles.firstIndex(where: { $0.name == change.role }),
              let roleVersion = cur.snapshot.signed.meta["\(change.role).json"]?.version else {
            throw stale("the published targets no longer delegate \(change.role)")
        }
        guard delegations.roles[index].keys.keyids == change.previousKeyids, delegations.roles[index].keys.threshold == change.previousThreshold else {
            throw FirmchainError(.keysMalformedProposal, "the proposal says \(change.role) had keys and threshold it does not have in the targets it extends")
        }
        let revoked = Set(before.revocations.map(\.keyid))
        for key in change.keys {
            guard !revoked.contains(key.keyid) else { throw refused("key \(key.keyid.prefix(8)) is on the revocation list; it cannot become a key of \(change.role)") }
            guard delegations.keys[key.keyid] == nil else { continue }
            guard let pk = key.publicKey() else { throw refused("key \(key.keyid.prefix(8)) of the proposal cannot be read") }
            try allow(pk, rules)
        }
        // Sign everything before the first write.
        delegations.roles[index].keys = RoleKeys(keyids: change.keys.map(\.keyid), threshold: change.threshold)
        for key in change.keys { delegations.keys[key.keyid] = key }
        let used = Set(delegations.roles.flatMap(\.keys.keyids))
        delegations.keys = delegations.keys.filter { used.contains($0.key) }
        var targets = cur.targets.signed
        targets.delegations = delegations
        var roleMetadata = try Metadata<Targets>(bytes: try FileIO.read(store.metadataDirectory + "/\(roleVersion).\(change.role).json", limit: RepositoryStore.metadataLimit),
                                                 path: "\(roleVersion).\(change.role).json").signed
        roleMetadata.common.version = roleVersion + 1
        roleMetadata.common.expires = now.addingTimeInterval(expiry.targets)
        var signedRole = Metadata(signed: roleMetadata)
        try signedRole.sign(with: signers, role: delegations.roles[index].keys, roleName: change.role)
        let prepared = try store.prepare(targets: targets, delegated: [(change.role, signedRole)], signers: signers, expiry: expiry, now: now)
        for f in prepared.files { try AtomicFile.write(f.bytes, to: store.metadataDirectory + "/" + f.name) }

        try recordDelegation(proposal, change, state: state, digest: digest, targetsVersion: prepared.targetsVersion, release: release,
                             signers: signers, resumed: false, now: now)
        return AppliedCeremony(rootVersion: latest, revocationsVersion: nil,
                               resigned: (prepared.targetsVersion, prepared.snapshotVersion, prepared.timestampVersion), resumed: false,
                               alreadyApplied: false, warnings: [])
    }

    /// The ledger entries of a delegated role's ceremony: each counted approval, then the apply.
    private static func recordDelegation(_ proposal: KeyProposal, _ change: DelegationChange, state: CeremonyState, digest: String, targetsVersion: Int64,
                                         release: ReleaseDirectory, signers: [any Signer], resumed: Bool, now: Date) throws {
        let name = "\(targetsVersion).targets.json"
        let bytes = (try? FileIO.read(release.repository.metadataDirectory + "/" + name, limit: RepositoryStore.metadataLimit)) ?? []
        let subject = LedgerSubject(name: "repository/metadata/" + name, sha256: DigestCalculator.sha256Hex(bytes))
        var records = proposal.approvals.filter { state.validApprovals.contains($0.keyid) }.sorted { $0.time < $1.time }.map { a in
            LedgerRecord(action: "key.approve", actor: a.keyid, subjects: [subject],
                         details: ["proposal": .string(digest), "approved": .string(UTCTimestamp.string(from: a.time)), "kind": .string(proposal.kind.rawValue)])
        }
        records.append(LedgerRecord(action: "key.apply", actor: signers.first.map { TUFKey($0.publicKey).keyid } ?? "", subjects: [subject],
                                    details: ["proposal": .string(digest), "role": .string(change.role), "delegated": .bool(true),
                                              "changes": .array(proposal.changes.map { .string($0) }),
                                              "approvals": .array(state.validApprovals.map { .string($0) }), "resumed": .bool(resumed)]))
        try FileIO.makeDirectories(release.custody.directory)
        _ = try release.custody.ledger.append(records, now: now)
    }

    /// The release verified as it stood before the ceremony (an interrupted apply's root hidden).
    static func verifyBefore(_ release: ReleaseDirectory, hiding hidden: String?, now: Date) throws -> ReleaseRepositoryVerification {
        let v: ReleaseRepositoryVerification
        if let hidden {
            // Walk as if the interrupted root were not there.
            let rootPath = release.repository.metadataDirectory + "/1.root.json"
            var verifier = RepositoryVerifier(source: HidingSource(base: DirectorySource(release.repository), hidden: [hidden]), now: now)
            verifier.expiredIsWarning = true
            let chain = verifier.verify(trustedRoot: try FileIO.read(rootPath, limit: RepositoryStore.metadataLimit), trustedRootPath: rootPath,
                                        checkTargetFiles: false)
            let newest = chain.trusted?.root.signed
            let r = newest.map { RevocationList.verify(bytes: try? release.revocationListBytes(), named: "keys/revocations.json", root: $0, at: now,
                                                       expiredIsWarning: true) }
            // The timestamp may already be re-signed under the new root: only the root chain
            // and the revocation list must hold here.
            let rootChecks = chain.report.checks.filter { $0.id.hasPrefix("repo.root.") }
            var report = VerificationReport(subject: chain.report.subject, referenceTime: now, trust: chain.report.trust)
            report.checks = rootChecks
            if let check = r?.check, check.status == .failed || r?.list != nil { report.append(check) }
            v = ReleaseRepositoryVerification(repository: RepositoryVerification(report: report, trusted: chain.trusted),
                                              revocations: r?.revocations ?? [], revocationList: r?.list)
        } else {
            v = try release.verifyRepository(now: now, expiredIsWarning: true)
        }
        if let f = v.report.failures.first {
            throw FirmchainError(.keysReleaseUnverified,
                                 "the release does not verify (\(f.id)\(f.subject.map { " \($0)" } ?? ""): \(f.reason)); no ceremony may extend it",
                                 path: release.path)
        }
        return v
    }
}

/// A metadata source with some files hidden (an interrupted ceremony's root).
struct HidingSource: MetadataSource {
    let base: any MetadataSource
    let hidden: Set<String>
    func metadata(_ name: String, limit: Int) throws -> [UInt8]? { hidden.contains(name) ? nil : try base.metadata(name, limit: limit) }
    func targetDigests(name: String, hash: String, algorithms: Set<DigestAlgorithm>) throws -> Digests? {
        try base.targetDigests(name: name, hash: hash, algorithms: algorithms)
    }
    func describe(_ name: String) -> String { base.describe(name) }
    var location: String { base.location }
}
