import Delta
import FirmchainCore
import Foundation
import Repository
import Signing

/// What a pipeline run made, for the summary table and `--json`.
public struct PipelineResult: Sendable {
    /// One target of the release.
    public struct Target: Sendable {
        public let name: String
        public let kind: FirmwareInfo.Kind
        public let length: Int64
        public let sha256: String
        /// For a delta: the base version and patch size / image size.
        public let baseVersion: String?
        public let ratio: Double?
    }

    public var targets: [Target] = []
    /// False when the repository already held exactly this release: nothing was signed.
    public var changed = false
    /// The versions published (nil when unchanged).
    public var targetsVersion: Int64?
    public var snapshotVersion: Int64?
    public var timestampVersion: Int64?
    /// Key descriptions (never PINs) by role.
    public var signers: [String: [String]] = [:]
    /// Steps in the order they ran, with what each did.
    public var steps: [(step: String, summary: String)] = []
    /// The release directory.
    public var output = ""
}

/// How a run reaches keys and time; the command line fills it in.
public struct RunOptions: Sendable {
    /// Opens `pkcs11:` URIs and key files (PIN and passphrase providers inside).
    public var signerOptions: SignerOptions
    /// The run's one reference time.
    public var now: Date
    public var progress: ProgressReporter

    public init(signerOptions: SignerOptions, now: Date, progress: ProgressReporter = SilentProgress()) {
        self.signerOptions = signerOptions
        self.now = now
        self.progress = progress
    }
}

/// State handed from step to step.
struct RunContext {
    let spec: PipelineSpec
    let policy: Policy
    let options: RunOptions
    let store: RepositoryStore
    var result = PipelineResult()
    /// Deltas made by the delta step: base, patch path, patch length.
    var deltas: [(base: PipelineSpec.Base, baseSHA256: String, patch: String)] = []
    /// Targets the manifest step wants in the repository.
    var desired: Targets?
    /// Signed metadata from the sign step.
    var prepared: RepositoryStore.PreparedRelease?
    /// Opened signers by key reference, so each key is opened (and logged into) once.
    var signers: [String: any Signer] = [:]

    mutating func signer(_ reference: String) throws -> any Signer {
        if let s = signers[reference] { return s }
        let s = try Signers.open(reference, options: options.signerOptions)
        try policy.check(key: s.publicKey, reference: reference)
        signers[reference] = s
        return s
    }
}

/// One kind of step. The runner looks kinds up in `PipelineRunner.implementations`, so a new
/// kind of step is one new type and one line there.
protocol StepImplementation: Sendable {
    func run(_ step: Step, _ context: inout RunContext) throws -> String
}

/// Runs a pipeline: delta (one per base) → manifest → sign → publish, into the release
/// directory of DESIGN.md §3, under the pipeline's policy.
///
/// Steps are content-addressed: a delta is cached by the digests of its inputs, and when the
/// repository already holds exactly the targets this release describes, nothing is signed or
/// written, so a re-run changes nothing. Every file is written atomically and the timestamp
/// last, so a failed or killed run leaves the last good release and can simply be re-run.
public struct PipelineRunner: Sendable {
    public let spec: PipelineSpec
    public let policy: Policy

    public init(spec: PipelineSpec, policy: Policy) {
        self.spec = spec
        self.policy = policy
    }

    static let implementations: [Step.Kind: any StepImplementation] = [
        .delta: DeltaStep(), .manifest: ManifestStep(), .sign: SignStep(), .publish: PublishStep(),
    ]

    /// Runs every step in order.
    ///
    /// - Throws: `policy.violation` before anything is signed when the release breaks the
    ///   policy; step errors as they come (earlier output stays as it was).
    public func run(_ options: RunOptions) throws -> PipelineResult {
        var context = RunContext(spec: spec, policy: policy, options: options, store: RepositoryStore(directory: spec.output))
        context.result.output = spec.output
        try checkPolicy()
        // Every key the release signs with must satisfy the policy before any step runs
        // (public keys only: no login is needed to refuse a key).
        for role in Root.topLevelRoles {
            for reference in policy.roles[role]!.keys {
                try policy.check(key: try Signers.publicKey(of: reference, options: options.signerOptions), reference: reference)
            }
        }
        try FileIO.makeDirectories(spec.output)
        for step in spec.steps {
            let summary = try PipelineRunner.implementations[step.kind]!.run(step, &context)
            context.result.steps.append((step.kind.rawValue, summary))
        }
        return context.result
    }

    /// The policy checks that need no keys: hardware classes and priority.
    private func checkPolicy() throws {
        for hw in spec.hardwareIDs where policy.hardwareClasses[hw] == nil {
            throw violation("hardware id \(hw) is not a hardware class of the policy (\(policy.hardwareClasses.keys.sorted().joined(separator: ", ")))")
        }
        guard policy.priorityClasses.contains(spec.priority) else {
            throw violation("priority \(spec.priority.rawValue) is not allowed by the policy")
        }
    }

    func violation(_ reason: String) -> PipelineError {
        PipelineError(PipelineError.policyViolation, .policyViolation, reason, path: spec.path)
    }
}

/// `delta`: a BSDIFF40 patch from every base to the new image, cached by content.
struct DeltaStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        if let f = step.options["format"], DeltaFormat(rawValue: f) == nil {
            throw PipelineError(PipelineError.badValue, .malformedInput, "delta format \(f) is not supported (bsdiff40)", path: context.spec.path)
        }
        let newSHA = try DigestCalculator.file(context.spec.image).sha256!
        let cache = context.spec.output + "/.cache/deltas"
        try FileIO.makeDirectories(cache)
        var made = 0, reused = 0
        for base in context.spec.bases {
            let baseSHA = try DigestCalculator.file(base.image).sha256!
            // Content-addressed: the same inputs give the same patch file, made once.
            let patch = "\(cache)/\(baseSHA)-\(newSHA).bsdiff"
            if FileIO.exists(patch) {
                reused += 1
            } else {
                let old = try FileIO.read(base.image, limit: Delta.maxInputSize)
                let new = try FileIO.read(context.spec.image, limit: Delta.maxInputSize)
                try AtomicFile.write(try Delta.create(old: old, new: new, progress: context.options.progress), to: patch)
                made += 1
            }
            context.deltas.append((base, baseSHA, patch))
        }
        return "\(context.spec.bases.count) delta(s): \(made) made, \(reused) reused from the content-addressed cache"
    }
}

/// `manifest`: the targets this release puts in the repository — the image and every delta,
/// with firmware fields — added to the targets already published.
struct ManifestStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        let spec = context.spec
        let store = context.store
        var targets: Targets
        if store.isInitialized {
            targets = try store.current().targets.signed
            try checkRollback(targets, context)
        } else {
            targets = Targets(common: CommonFields(version: 1, expires: context.options.now), targets: [:])
        }
        var image = try store.storeTargetFile(spec.image, name: spec.targetName, progress: context.options.progress)
        image.custom = [FirmwareInfo.customKey: FirmwareInfo(version: spec.version, versionNumber: spec.versionNumber,
                                                              hardwareIDs: spec.hardwareIDs, kind: .full, priority: spec.priority).json]
        targets.targets[spec.targetName] = image
        context.result.targets.append(.init(name: spec.targetName, kind: .full, length: image.length, sha256: image.hashes["sha256"]!,
                                            baseVersion: nil, ratio: nil))
        for d in context.deltas {
            let name = "deltas/\(spec.targetName).from-\(d.base.version).bsdiff"
            var entry = try store.storeTargetFile(d.patch, name: name)
            let baseName = String(d.base.image.split(separator: "/").last!)
            let info = FirmwareInfo(version: spec.version, versionNumber: spec.versionNumber, hardwareIDs: spec.hardwareIDs, kind: .delta,
                                    delta: .init(baseName: baseName, baseVersion: d.base.version, baseSHA256: d.baseSHA256,
                                                 resultName: spec.targetName, resultSHA256: image.hashes["sha256"]!, resultLength: image.length),
                                    priority: spec.priority)
            entry.custom = [FirmwareInfo.customKey: info.json]
            targets.targets[name] = entry
            context.result.targets.append(.init(name: name, kind: .delta, length: entry.length, sha256: entry.hashes["sha256"]!,
                                                baseVersion: d.base.version, ratio: Double(entry.length) / Double(max(image.length, 1))))
        }
        let current = store.isInitialized ? try store.current().targets.signed.targets : [:]
        context.result.changed = current != targets.targets
        context.desired = targets
        return context.result.changed ? "\(context.result.targets.count) target(s) described" : "the repository already holds this release: nothing to sign"
    }

    /// The rollback rule: a release's version number must exceed every published one, unless
    /// it is exactly the release already published (a re-run).
    private func checkRollback(_ published: Targets, _ context: RunContext) throws {
        let spec = context.spec
        for (name, t) in published.targets {
            guard let fw = try FirmwareInfo(custom: t.custom), fw.kind == .full else { continue }
            let sameRelease = name == spec.targetName && fw.versionNumber == spec.versionNumber
            if fw.versionNumber > spec.versionNumber || (fw.versionNumber == spec.versionNumber && !sameRelease) {
                throw PipelineError(PipelineError.policyViolation, .policyViolation,
                                    "version_number \(spec.versionNumber) does not exceed \(fw.versionNumber) of the published \(name) (rollback rule \(context.policy.rollback.rawValue))",
                                    path: spec.path)
            }
            if sameRelease, let sha = try? DigestCalculator.file(spec.image).sha256, t.hashes["sha256"] != sha {
                throw PipelineError(PipelineError.policyViolation, .policyViolation,
                                    "\(name) version_number \(fw.versionNumber) is already published with other content; a new image needs a new version_number",
                                    path: spec.path)
            }
        }
    }
}

/// `sign`: creates the repository from the policy when there is none, then signs targets,
/// snapshot and timestamp with the policy's keys (nothing when the release is unchanged).
struct SignStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        guard let desired = context.desired else {
            throw PipelineError(PipelineError.badValue, .malformedInput, "the sign step needs a manifest step before it", path: context.spec.path)
        }
        guard context.result.changed else { return "unchanged: nothing signed" }
        let policy = context.policy
        var all = [any Signer]()
        for role in ["targets", "snapshot", "timestamp"] {
            let refs = policy.roles[role]!.keys
            all += try refs.map { try context.signer($0) }
            context.result.signers[role] = refs
        }
        let prepared: RepositoryStore.PreparedRelease
        if context.store.isInitialized {
            prepared = try context.store.prepare(targets: desired, signers: all, expiry: policy.expiryPolicy, now: context.options.now)
        } else {
            // A first release: the policy compiles into 1.root.json, signed with the root keys.
            var roles = [String: RoleAssignment]()
            for role in Root.topLevelRoles {
                let r = policy.roles[role]!
                roles[role] = RoleAssignment(keys: try r.keys.map { try context.signer($0).publicKey }, threshold: r.threshold)
            }
            let rootSigners = try policy.roles["root"]!.keys.map { try context.signer($0) }
            context.result.signers["root"] = policy.roles["root"]!.keys
            prepared = try context.store.prepareInitial(roles: roles, signers: rootSigners + all, targets: desired,
                                                        expiry: policy.expiryPolicy, now: context.options.now).1
        }
        context.prepared = prepared
        return "signed targets v\(prepared.targetsVersion), snapshot v\(prepared.snapshotVersion), timestamp v\(prepared.timestampVersion)"
    }
}

/// `publish`: writes the signed metadata, timestamp last.
struct PublishStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        guard context.result.changed else { return "unchanged: the published release stays as it is" }
        guard let prepared = context.prepared else {
            throw PipelineError(PipelineError.badValue, .malformedInput, "the publish step needs a sign step before it", path: context.spec.path)
        }
        try context.store.commit(prepared)
        context.result.targetsVersion = prepared.targetsVersion
        context.result.snapshotVersion = prepared.snapshotVersion
        context.result.timestampVersion = prepared.timestampVersion
        return "published \(context.store.metadataDirectory)/timestamp.json (timestamp v\(prepared.timestampVersion))"
    }
}
