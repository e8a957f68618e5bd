import Custody
import Delta
import FirmchainCore
import Foundation
import Release
import ReleasePolicy
import Repository
import Signing

/// What a pipeline run made, for the summary table and `--json`.
public struct PipelineResult: Sendable {
    /// One target of the release.
    public struct Target: Sendable {
        /// The target name: the image's, or for a delta
        /// `deltas/<image's target name>.from-<base version>.<bsdiff|fcdelta>`.
        public let name: String
        /// Whether the target is the whole image or a delta.
        public let kind: FirmwareInfo.Kind
        /// The target's size in bytes.
        public let length: Int64
        /// The target's hex sha256.
        public let sha256: String
        /// For a delta: the base version and patch size / image size.
        public let baseVersion: String?
        /// For a delta: its size divided by the image's; nil for the image.
        public let ratio: Double?
    }

    /// The targets the release describes.
    public var targets: [Target] = []
    /// False when the repository already held exactly this release and its evidence
    /// verified: nothing was signed.
    public var changed = false
    /// The versions published (nil when unchanged).
    public var targetsVersion: Int64?
    /// The snapshot version the `publish` step reported; nil when it did not run.
    public var snapshotVersion: Int64?
    /// The timestamp version the `publish` step reported; nil when it did not run.
    public var timestampVersion: Int64?
    /// Key descriptions (never PINs) by role.
    public var signers: [String: [String]] = [:]
    /// Steps in the order they ran, with what each did.
    public var steps: [(step: String, summary: String)] = []
    /// The release directory.
    public var output = ""
}

/// Runs a pipeline's steps in order into the release directory, under the pipeline's policy.
///
/// The runner owns custody: it hashes each step's materials before the step and its products
/// after, signs the step's in-toto link with the step's functionary and records it in the
/// ledger, compiles the layout from the pipeline's own steps, and ends a run that changed the
/// release with SLSA provenance and a signed ledger checkpoint.
///
/// Steps are content-addressed: when the repository already holds exactly the targets this
/// release describes and its custody evidence verifies, the steps that commit the release
/// (sign, publish) do not run and nothing is signed, so a re-run changes nothing. Every file is
/// written atomically and the timestamp last, so a failed or killed run leaves the last good
/// release and can simply be re-run.
public struct PipelineRunner: Sendable {
    /// The pipeline.
    public let spec: PipelineSpec
    /// Its policy.
    public let policy: Policy

    /// A runner for `spec` under `policy`.
    public init(spec: PipelineSpec, policy: Policy) {
        self.spec = spec
        self.policy = policy
    }

    /// Files `repo refresh` re-signs between runs (the timestamp, newer snapshots): delivered
    /// without a step's link, their bytes bound by TUF's signatures instead.
    public static let refreshable = ["repository/metadata/timestamp.json", "repository/metadata/*.snapshot.json"]

    /// The layout's custody policy compiled from the pipeline's steps: each step's functionary
    /// keys and flows, the delivered files, expiry from the root role's window.
    public static func custodyPolicy(steps: [any PipelineStep], functionaries: [String: [PublicKey]], thresholds: [String: Int] = [:],
                                     expires: Date) throws -> CustodyPolicy {
        var earlier = [(name: String, reads: [ArtefactUse], writes: [ArtefactKind])]()
        var compiled = [CustodyPolicy.Step](), delivered = [[CustodyPolicy.Flow]](), required = [String]()
        for step in steps {
            let name = type(of: step).kind
            guard let keys = functionaries[name], !keys.isEmpty else {
                throw FirmchainError(.custodyMissingFunctionary, "step \(name) has no functionary key")
            }
            let flows = step.flows(ChainView(step: name, earlier: earlier))
            compiled.append(.init(name: name, functionaries: keys, threshold: thresholds[name] ?? 1, materials: flows.materials, products: flows.products))
            delivered.append(flows.delivers)
            for r in flows.requires where !required.contains(r) { required.append(r) }
            earlier.append((name, step.reads, step.writes))
        }
        // A later step is the final word on the files it delivers: its rules come first. The
        // timestamp and snapshot `repo refresh` re-signs between runs are left to TUF's own
        // signatures (the refresh is a ledger entry), so custody still verifies after one.
        return CustodyPolicy(steps: compiled, delivered: delivered.reversed().flatMap { $0 }, required: required,
                             unchecked: ["custody/*", "report/*"] + refreshable, expires: expires,
                             readme: "Firmchain release chain (Docs/custody.md): \(compiled.map(\.name).joined(separator: ", ")).")
    }

    /// Checks what can be checked without writing anything: the policy names a functionary
    /// for every step, hardware classes and priority are the policy's, and every key the
    /// release signs with satisfies it (public keys only: no login is needed to refuse a key).
    public func check(_ options: RunOptions) throws {
        for planned in spec.steps where planned.step.recordsCustody && policy.functionaries[planned.name]?.isEmpty ?? true {
            throw FirmchainError(.policyViolation, "the policy names no functionary for the \(planned.name) step (pipeline line \(planned.line))", path: policy.path)
        }
        let names = Set(spec.steps.map(\.name))
        if let extra = policy.functionaries.keys.sorted().first(where: { !names.contains($0) }) {
            throw FirmchainError(.pipelineBadValue, "line \(policy.functionaryLines[extra] ?? 0): functionaries.\(extra): the pipeline \(spec.path) has no \(extra) step (steps: \(spec.steps.map(\.name).joined(separator: ", ")))",
                                 path: policy.path)
        }
        for hw in spec.hardwareIDs where policy.hardwareClasses[hw] == nil {
            throw violation("hardware id \(hw) is not a hardware class of the policy (\(policy.hardwareClasses.keys.sorted().joined(separator: ", ")))")
        }
        guard policy.priorityClasses.contains(spec.priority) else {
            throw violation("priority \(spec.priority.rawValue) is not allowed by the policy")
        }
        for role in TopLevelRole.allCases {
            for reference in policy.roles[role].keys {
                try policy.check(key: try Signers.publicKey(of: reference, options: options.signerOptions), reference: reference)
            }
        }
        try checkDelegations(options)
        if let rule = policy.encryption, !spec.steps.contains(where: { $0.step.writes.contains(ReleaseArtefacts.encryptedPayloads.kind) }) {
            throw violation("the policy \(policy.path) (line \(rule.line)) requires \(rule.kinds.map(\.rawValue).sorted().joined(separator: " and ")) targets to be encrypted, and the pipeline has no encrypt step")
        }
        for planned in spec.steps { try planned.step.check(policy: policy, options: options) }
    }

    /// The policy's product-line delegations: every delegated key passes the policy, and the
    /// release's targets fall under a delegated role exactly when its hardware is delegated, to
    /// a role that signs for all of the release's hardware (so one board's team cannot sign
    /// another board's images, and a delegated board's images are never signed by the top-level
    /// role alone).
    func checkDelegations(_ options: RunOptions) throws {
        guard !policy.delegations.isEmpty else { return }
        for d in policy.delegations {
            for ref in d.keys { try policy.check(key: try Signers.publicKey(of: ref, options: options.signerOptions), reference: ref) }
        }
        let (roles, _) = try SignStep.delegatedRoles(policy) { try Signers.publicKey(of: $0, options: options.signerOptions) }
        let format = DeltaStep.format(of: spec)
        let names = [spec.targetName] + spec.bases.map { DeltaStep.targetName(spec, $0, format) }
        let hardware = Set(spec.hardwareIDs)
        for name in names {
            if let i = roles.firstIndex(where: { $0.mayList(name) }) {
                let d = policy.delegations[i]
                guard hardware.isSubset(of: d.hardware) else {
                    throw violation("target \(name) falls under the delegated role \(d.name) (policy line \(d.line)), which signs only for \(d.hardware.joined(separator: ", ")); this release is for \(spec.hardwareIDs.joined(separator: ", "))")
                }
            } else if let d = policy.delegations.first(where: { !hardware.isDisjoint(with: $0.hardware) }) {
                throw violation("hardware \(hardware.intersection(d.hardware).sorted().joined(separator: ", ")) is delegated to the role \(d.name) (paths \(d.paths.joined(separator: ", "))), but target \(name) falls under none of its paths: name the release so that it does (release.name)")
            }
        }
    }

    /// Runs every step in order.
    ///
    /// - Throws: `policy.violation` before anything is signed when the release breaks the
    ///   policy; step errors as they come (earlier output stays as it was).
    public func run(_ options: RunOptions) throws -> PipelineResult {
        try check(options)
        let published = ReleaseDirectory(spec.output)
        try FileIO.makeDirectories(spec.output)
        // One writer at a time per release (a second run waits for the first, then finds the
        // release as the first left it); then clear what killed runs' atomic writers and stages left, or
        // in-toto's inspection would find files no step produced.
        let lock = try DirectoryLock(spec.output, waitSeconds: RepositoryStore.writerWaitSeconds)
        defer { lock.unlock() }
        AtomicFile.removeStaleTemporaries(under: spec.output)
        try DirectoryStage.removeLeftovers(of: spec.output)
        // The repository first: it refuses a tampered release from its metadata alone, before the
        // custody check hashes every file in OUT.
        let verified = try verifiedPublished(published, options)
        var custodyComplete = false
        if FileIO.exists(published.custody.layoutPath) {
            let owners = try policy.ownerKeys.map { try Signers.publicKey(of: $0, options: options.signerOptions) }
            custodyComplete = CustodyVerifier(ownerKeys: owners, now: options.now).verify(out: spec.output).holds
        }
        var context = StepContext(spec: spec, policy: policy, options: options, release: published, published: verified?.targets,
                                  custodyComplete: custodyComplete, refreshDue: verified?.refreshDue ?? false)
        try preflight(&context)
        // Every write goes to a copy of OUT beside it, made only once the run passed every check,
        // which replaces OUT in one step once the whole run (gates included) succeeded: a run
        // killed or refused at any point leaves the last good release exactly as it was, TUF and
        // custody alike.
        let stage = try DirectoryStage(replacing: spec.output, shareable: Self.writtenOnce, guarded: [Self.sharedLedger])
        defer { stage.release() }
        let release = ReleaseDirectory(stage.path)
        context.release = release

        var pending = [InTotoLink]()
        var decided = false
        for planned in spec.steps where planned.step.recordsCustody {
            let step = planned.step
            if step.commitsRelease && !decided {
                decided = true
                try decide(&context, pending: &pending)
            }
            if step.commitsRelease && !context.result.changed {
                context.result.steps.append((planned.name, "unchanged: the published release stays as it is"))
                options.onStep(planned.name, "skipped: the release is unchanged")
                continue
            }
            options.onStep(planned.name, "started")
            var link = InTotoLink(name: planned.name, command: ["firmchain", "pipeline", "run", spec.path])
            link.materials = try hash(try step.materials(context), &context)
            let summary = try step.run(&context)
            link.products = try hash(try step.products(context), &context)
            if !decided { pending.append(link) } else if context.result.changed { try record(link, &context) }
            context.result.steps.append((planned.name, summary))
            options.onStep(planned.name, summary)
        }
        if !decided { try decide(&context, pending: &pending) }
        // Provenance and the checkpoint close the run in the name of the step that committed it.
        if context.result.changed, let last = spec.steps.last(where: { $0.step.commitsRelease && $0.step.recordsCustody })
            ?? spec.steps.last(where: { $0.step.recordsCustody }) {
            let signer = try context.functionary(last.name)
            try release.appendProvenance(
                targets: context.result.targets.map { LedgerSubject(name: $0.name, sha256: $0.sha256) },
                run: .init(builderID: "https://firmchain.dev/pipeline/\(spec.name)",
                           externalParameters: ["pipeline": .string(spec.path), "version": .string(spec.version),
                                                "version_number": .int(spec.versionNumber)]),
                signer: signer, now: options.now)
            try release.custody.ledger.checkpoint(signer: signer, now: options.now)
        }
        // Gates last, over the staged release exactly as clients and auditors will find it: a
        // release is published only after it verifies.
        for planned in spec.steps where !planned.step.recordsCustody {
            options.onStep(planned.name, "started")
            let summary = try planned.step.run(&context)
            context.result.steps.append((planned.name, summary))
            options.onStep(planned.name, summary)
        }
        if context.result.changed { try stage.commit() } else { stage.discard() }
        for action in context.afterCommit { try action() }
        return context.result
    }

    /// Files of a release that are only ever replaced by rename, never rewritten in place
    /// (released targets, deltas and ciphertexts under build/, exports): a stage shares them by
    /// hard link instead of copying them. Everything else (metadata, custody, the ledger that is
    /// appended to in place) is copied.
    static func writtenOnce(_ relative: String) -> Bool {
        ["repository/targets/", "build/", "exports/"].contains { relative.hasPrefix($0) }
    }

    /// The ledger other commands (`custody record`) may append to under its own lock while a
    /// run stages the release: it must be unchanged when the stage replaces OUT.
    static let sharedLedger = "custody/ledger.jsonl"

    /// Everything a run can refuse for, checked before its first write: every key it will sign
    /// with is opened now (a wrong or missing PIN stops the run here, not after the deltas were
    /// written) and passes the policy, and the release's version does not roll back the
    /// published one.
    private func preflight(_ context: inout StepContext) throws {
        for planned in spec.steps where planned.step.recordsCustody { _ = try context.functionary(planned.name) }
        for reference in policy.ownerKeys { _ = try context.signer(reference) }
        let roles: [TopLevelRole] = context.published == nil ? TopLevelRole.allCases : [.targets, .snapshot, .timestamp]
        for role in roles { for reference in policy.roles[role].keys { _ = try context.signer(reference) } }
        for d in policy.delegations { for reference in d.keys { _ = try context.signer(reference) } }
        if let published = context.published {
            let image = try context.value(ReleaseArtefacts.image)
            try ManifestStep.checkRollback(published, imageSHA256: try context.digests(of: image)["sha256"] ?? "", spec: spec, policy: policy)
        }
    }

    /// The plan of a run, written nowhere: the steps in order with what each reads and writes,
    /// and the checks that need no key (`pipeline run --dry-run`).
    public func plan(_ options: RunOptions) throws -> [(step: String, reads: [String], writes: [String], commits: Bool)] {
        try check(options)
        return spec.steps.map { p in
            (p.name, p.step.reads.map { $0.kind.name + ($0.required ? "" : " (if any)") }, p.step.writes.map(\.name), p.step.commitsRelease)
        }
    }

    /// The targets of the published release, after verifying it the way a client would — from
    /// its `1.root.json` along the root chain, every signature, version and target copy — and
    /// checking that the newest root names exactly the policy's keys for every role (a
    /// repository replaced wholesale chains to other keys). Expiry alone is no reason to
    /// refuse: this run re-signs what expired. Nil for a first release.
    ///
    /// `refreshDue` is true when the timestamp, snapshot or targets expire within a quarter of
    /// their window (or already have): the run then signs them anew even if nothing else
    /// changed, so a release does not expire under a fleet that updates rarely.
    ///
    /// - Throws: `pipeline.release-unverified` naming the first failed check; nothing is signed.
    private func verifiedPublished(_ release: ReleaseDirectory, _ options: RunOptions) throws -> (targets: Targets, refreshDue: Bool)? {
        let store = release.repository
        guard store.isInitialized else { return nil }
        // From the release's own 1.root.json, with its revocation list applied.
        let v = try release.verifyRepository(now: options.now, expiredIsWarning: true)
        if let f = v.report.failures.first {
            throw FirmchainError(.pipelineReleaseUnverified,
                                 "the published release does not verify (\(f.id)\(f.subject.map { " \($0)" } ?? ""): \(f.reason)); refusing to sign on top of it — restore it from the last good copy",
                                 path: store.directory + "/repository")
        }
        guard let root = v.repository.root, let targets = v.repository.targets else {
            throw FirmchainError(.pipelineReleaseUnverified, "the published release could not be read to its targets", path: store.directory + "/repository")
        }
        // Clients refuse everything under an expired root, and this run cannot make a new one.
        if root.expires <= options.now {
            throw FirmchainError(.pipelineRootExpired,
                                 "root v\(root.version) expired at \(UTCTimestamp.string(from: root.expires)); renew it by a root ceremony first: `firmchain keys rotate --repo \(spec.output) --role root --renew --out renew-root.json`, `firmchain keys approve renew-root.json --key KEY` by the root officers, then `firmchain keys apply renew-root.json --repo \(spec.output) --key …` (Docs/keys.md)",
                                 path: store.directory + "/repository/metadata/\(root.version).root.json")
        }
        for role in TopLevelRole.allCases {
            let expected = Set(try policy.roles[role].keys.map { try Signers.publicKey(of: $0, options: options.signerOptions).keyid })
            guard Set(root.roles[role].keyids) == expected else {
                throw FirmchainError(.pipelineReleaseUnverified,
                                     "root v\(root.version) of the published release names other \(role.rawValue) keys than the policy \(policy.path): it is not the release this policy made (or its root was replaced); refusing to extend it",
                                     path: store.directory + "/repository")
            }
        }
        // Nothing beside what the verified metadata and the policy account for: a file planted in
        // repository/ or keys/ would otherwise become a product of the next signed link.
        let owners = try policy.ownerKeys.map { try Signers.publicKey(of: $0, options: options.signerOptions) }
        let planted = try release.unaccountedFiles(verified: v, ownerKeys: owners)
        if !planted.isEmpty {
            let shown = planted.prefix(5).map(\.description).joined(separator: "; ")
            throw FirmchainError(.pipelineReleaseUnverified,
                                 "the published release holds \(planted.count) file(s) its signed metadata and policy do not account for: \(shown)\(planted.count > 5 ? "; …" : ""); refusing to sign on top of them — remove them or restore the release from the last good copy",
                                 path: store.directory)
        }
        let expiry = policy.expiryPolicy
        let due = [(v.repository.trusted?.timestamp?.signed.expires, expiry.timestamp), (v.repository.trusted?.snapshot?.signed.expires, expiry.snapshot),
                   (targets.expires, expiry.targets)]
            .contains { expires, window in (expires ?? .distantPast) < options.now.addingTimeInterval(window / 4) }
            || (v.repository.trusted?.delegated.values.contains { $0.signed.expires < options.now.addingTimeInterval(expiry.targets / 4) } ?? false)
        // The delegations the policy compiles to, against the published ones: a new product line
        // is signed anew even when no target changed.
        let (roles, _) = try SignStep.delegatedRoles(policy) { try Signers.publicKey(of: $0, options: options.signerOptions) }
        // A team's keys change only by ceremony (root officers and the new keys approve), never by
        // a policy edit alone: the run refuses until the published release names the policy's keys.
        // The published roles must stay, in order and unchanged (name, paths, keys, threshold), at
        // the head of the policy's: renaming, removing or putting a role before them would hand a
        // team's targets to other keys without the ceremony. New roles go after them.
        let publishedRoles = targets.delegations?.roles ?? []
        for (i, published) in publishedRoles.enumerated() {
            guard i < roles.count, roles[i].name == published.name, roles[i].paths == published.paths else {
                throw violation("the published release delegates \(publishedRoles.map(\.name).joined(separator: ", ")) in that order; the policy \(policy.path) must keep them, in order and with the same paths, before any new role (it has \(roles.map(\.name).joined(separator: ", ")))")
            }
        }
        for role in roles {
            guard let published = publishedRoles.first(where: { $0.name == role.name }) else { continue }
            if Set(published.keys.keyids) != Set(role.keys.keyids) || published.keys.threshold != role.keys.threshold {
                throw violation("the policy \(policy.path) names keys \(role.keys.keyids.map { String($0.prefix(8)) }.sorted().joined(separator: ", ")) (threshold \(role.keys.threshold)) for the delegated role \(role.name), but the published release delegates it to \(published.keys.keyids.map { String($0.prefix(8)) }.sorted().joined(separator: ", ")) (threshold \(published.keys.threshold)); a team's keys change by ceremony: `firmchain keys rotate --repo \(spec.output) --role \(role.name) …`, approved by the root officers and the new keys, then `keys apply` (Docs/keys.md \"Delegated roles per product line\")")
            }
        }
        let delegationsChanged = roles.map { [$0.name, $0.keys.keyids.sorted().joined(separator: ","), String($0.keys.threshold), ($0.paths ?? []).joined(separator: ",")] }
            != (targets.delegations?.roles ?? []).map { [$0.name, $0.keys.keyids.sorted().joined(separator: ","), String($0.keys.threshold), ($0.paths ?? []).joined(separator: ",")] }
        // What was released, whichever role signed it: the manifest adds to it, the sign step splits it again.
        var released = targets
        released.targets = v.repository.allTargets
        released.delegations = nil
        return (released, due || delegationsChanged)
    }

    /// Decides whether the release changes — the targets differ from the published ones, or the
    /// evidence in `OUT` does not verify (a run killed part way) — and when it does, writes the
    /// layout and the links of the steps that ran before.
    private func decide(_ context: inout StepContext, pending: inout [InTotoLink]) throws {
        let desired = context.optionalValue(ReleaseArtefacts.stagedTargets)
        context.result.changed = desired?.targets != context.published?.targets || !context.custodyComplete || context.refreshDue
        guard context.result.changed else { return }
        var functionaries = [String: [PublicKey]]()
        for planned in spec.steps where planned.step.recordsCustody { functionaries[planned.name] = [try context.functionary(planned.name).publicKey] }
        let custody = try Self.custodyPolicy(steps: spec.steps.map(\.step).filter(\.recordsCustody), functionaries: functionaries,
                                             expires: context.options.now.addingTimeInterval(policy.roles.root.expiry))
        let owners = try policy.ownerKeys.map { try context.signer($0) }
        try context.release.writeLayout(custody, owners: owners, now: context.options.now)
        for link in pending { try record(link, &context) }
        pending = []
    }

    /// Signs `link` with its step's functionary key, writes it and its ledger entry.
    private func record(_ link: InTotoLink, _ context: inout StepContext) throws {
        _ = try context.release.custody.record(link, signer: try context.functionary(link.name), now: context.options.now)
    }

    private func hash(_ paths: [ArtefactPath], _ context: inout StepContext) throws -> [String: ArtifactDigests] {
        var out = [String: ArtifactDigests]()
        var inRelease = [String]()
        for p in paths {
            switch p {
            case .inRelease(let path): inRelease.append(path)
            case .external(let name, let path): out[name] = try context.digests(of: InputFile(path: path, name: name))
            }
        }
        for (k, v) in try Artifacts.hash(inRelease.filter { FileIO.exists(context.out + "/" + $0) }, in: context.out) { out[k] = v }
        return out
    }

    func violation(_ reason: String) -> FirmchainError {
        FirmchainError(.policyViolation, reason, path: spec.path)
    }
}
