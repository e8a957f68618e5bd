import Custody
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
    /// Where custody evidence goes (`OUT/custody`), and whether the evidence already there
    /// verifies for the current release.
    let custody: CustodyStore
    var custodyComplete = false
    /// Links of steps that ran before the run knew whether anything changed.
    var pendingLinks: [InTotoLink] = []
    /// The new image as an in-toto material (`inputs/<name>` and its digests), hashed once per run.
    var image: (name: String, digests: ArtifactDigests)? = nil

    mutating func imageMaterial() throws -> (name: String, digests: ArtifactDigests) {
        if let image { return image }
        let m = try Artifacts.hash(file: spec.image, as: "\(ReleaseChain.inputs)/\(basename(spec.image))", progress: options.progress)
        image = m
        return m
    }

    /// The first functionary key the policy names for `step`, opened.
    mutating func functionary(_ step: String) throws -> any Signer {
        guard let ref = policy.functionaries[step]?.first else {
            throw FirmchainError(.policyViolation, "the policy names no functionary for the \(step) step", path: policy.path)
        }
        return try signer(ref)
    }

    /// Signs `link` with the step's functionary key, writes it and its ledger entry.
    mutating func record(_ link: InTotoLink) throws {
        _ = try custody.record(link, signer: try functionary(link.name), now: options.now)
    }

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
        var context = RunContext(spec: spec, policy: policy, options: options, store: RepositoryStore(directory: spec.output),
                                 custody: CustodyStore(out: spec.output))
        context.result.output = spec.output
        try checkPolicy()
        // Every key the release signs with must satisfy the policy before any step runs
        // (public keys only: no login is needed to refuse a key).
        for role in TopLevelRole.allCases {
            for reference in policy.roles[role].keys {
                try policy.check(key: try Signers.publicKey(of: reference, options: options.signerOptions), reference: reference)
            }
        }
        try FileIO.makeDirectories(spec.output)
        // One run at a time per release; then clear what killed runs' atomic writers left, or
        // in-toto's inspection would find files no step produced.
        let lock = try DirectoryLock(spec.output)
        defer { lock.unlock() }
        AtomicFile.removeStaleTemporaries(under: spec.output)
        if FileIO.exists(context.custody.layoutPath) {
            let owners = try policy.ownerKeys.map { try Signers.publicKey(of: $0, options: options.signerOptions) }
            context.custodyComplete = CustodyVerifier(ownerKeys: owners, now: options.now).verify(out: spec.output).holds
        }
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

    func violation(_ reason: String) -> FirmchainError {
        FirmchainError(.policyViolation, reason, path: spec.path)
    }
}

/// `delta`: a BSDIFF40 patch from every base to the new image, in `OUT/build/deltas/`.
/// Content-addressed through its in-toto link: when the recorded delta link names the same
/// input images (by sha256) and its products are still there unchanged, nothing is recomputed.
struct DeltaStep: StepImplementation {
    static func patchName(_ spec: PipelineSpec, _ base: PipelineSpec.Base) -> String {
        "build/deltas/\(spec.targetName).from-\(base.version).bsdiff"
    }

    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        if let f = step.options["format"], DeltaFormat(rawValue: f) == nil {
            throw FirmchainError(.pipelineBadValue, "delta format \(f) is not supported (bsdiff40)", path: context.spec.path)
        }
        let spec = context.spec
        var link = InTotoLink(name: ReleaseChain.delta, command: ["firmchain", "pipeline", "run", spec.path])
        let image = try context.imageMaterial()
        link.materials[image.name] = image.digests
        var bases = [(PipelineSpec.Base, String)]()
        for base in spec.bases {
            let m = try Artifacts.hash(file: base.image, as: "\(ReleaseChain.inputs)/\(basename(base.image))")
            link.materials[m.name] = m.digests
            bases.append((base, m.digests["sha256"]!))
        }
        let names = spec.bases.map { DeltaStep.patchName(spec, $0) }
        let recorded = context.custody.links().links.first { $0.link.link.name == ReleaseChain.delta }?.link.link
        let onDisk = try names.filter { FileIO.exists(spec.output + "/" + $0) }
        var reusable = false
        if let recorded, recorded.materials == link.materials, onDisk.count == names.count {
            reusable = try Artifacts.hash(names, in: spec.output) == recorded.products.filter { names.contains($0.key) }
        }
        if !reusable {
            try FileIO.makeDirectories(spec.output + "/build/deltas")
            let new = try FileIO.read(spec.image, limit: Delta.maxInputSize)
            for (base, name) in zip(spec.bases, names) {
                let old = try FileIO.read(base.image, limit: Delta.maxInputSize)
                try AtomicFile.write(try Delta.create(old: old, new: new, progress: context.options.progress), to: spec.output + "/" + name)
            }
        }
        link.products = try Artifacts.hash(names, in: spec.output)
        for ((base, sha), name) in zip(bases, names) { context.deltas.append((base, sha, spec.output + "/" + name)) }
        if !reusable || !context.custodyComplete { context.pendingLinks.append(link) }
        return reusable ? "\(names.count) delta(s) unchanged (inputs match the recorded delta link)" : "\(names.count) delta(s) made in build/deltas"
    }
}

func basename(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

/// `manifest`: the targets this release puts in the repository — the image and every delta,
/// with firmware fields — added to the targets already published.
struct ManifestStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        let spec = context.spec
        let store = context.store
        let published = store.isInitialized ? try store.current().targets.signed : nil
        var targets = published ?? Targets(common: CommonFields(version: 1, expires: context.options.now), targets: [:])
        if let published { try checkRollback(published, imageSHA256: try context.imageMaterial().digests["sha256"]!, context) }
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
        let current = published?.targets ?? [:]
        // Changed when the targets differ, or when the custody evidence does not verify (a run
        // killed part way): then the release is signed and recorded again from here.
        context.result.changed = current != targets.targets || !context.custodyComplete
        context.desired = targets
        if context.result.changed {
            try writeLayout(&context)
            for link in context.pendingLinks { try context.record(link) }
            var link = InTotoLink(name: ReleaseChain.manifest, command: ["firmchain", "pipeline", "run", spec.path])
            link.materials = try Artifacts.hash(context.deltas.map { "build/deltas/" + basename($0.patch) }, in: spec.output)
            let imageMaterial = try context.imageMaterial()
            link.materials[imageMaterial.name] = imageMaterial.digests
            link.products = try Artifacts.hash(["repository/targets"], in: spec.output)
            try context.record(link)
        }
        return context.result.changed ? "\(context.result.targets.count) target(s) described" : "the repository already holds this release: nothing to sign"
    }

    /// The in-toto layout compiled from the policy (functionaries per step), signed by the
    /// owner keys, with their public keys in `OUT/keys/owner.pub.pem` (`owner-N.pub.pem`).
    private func writeLayout(_ context: inout RunContext) throws {
        var functionaries = [String: [PublicKey]]()
        for step in [ReleaseChain.delta, ReleaseChain.manifest, ReleaseChain.sign, ReleaseChain.publish] {
            functionaries[step] = [try context.functionary(step).publicKey]
        }
        let chain = try ReleaseChain.policy(.init(functionaries: functionaries, deltas: !context.spec.bases.isEmpty,
                                                  expires: context.options.now.addingTimeInterval(context.policy.roles.root.expiry)))
        let owners = try context.policy.ownerKeys.map { try context.signer($0) }
        try context.custody.writeLayout(try chain.layout().signed(by: owners), now: context.options.now)
        try FileIO.makeDirectories(context.spec.output + "/keys")
        for (i, o) in owners.enumerated() {
            try AtomicFile.write(Array(o.publicKey.pem.utf8), to: context.spec.output + "/keys/" + (i == 0 ? "owner.pub.pem" : "owner-\(i + 1).pub.pem"))
        }
    }

    /// The rollback rule: a release's version number must exceed every published one, unless
    /// it is exactly the release already published (a re-run).
    private func checkRollback(_ published: Targets, imageSHA256: String, _ context: RunContext) throws {
        let spec = context.spec
        for (name, t) in published.targets {
            guard let fw = try FirmwareInfo(custom: t.custom), fw.kind == .full else { continue }
            let sameRelease = name == spec.targetName && fw.versionNumber == spec.versionNumber
            if fw.versionNumber > spec.versionNumber || (fw.versionNumber == spec.versionNumber && !sameRelease) {
                throw FirmchainError(.policyViolation, "version_number \(spec.versionNumber) does not exceed \(fw.versionNumber) of the published \(name) (rollback rule \(context.policy.rollback.rawValue))",
                                    path: spec.path)
            }
            if sameRelease, t.hashes["sha256"] != imageSHA256 {
                throw FirmchainError(.policyViolation, "\(name) version_number \(fw.versionNumber) is already published with other content; a new image needs a new version_number",
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
            throw FirmchainError(.pipelineBadValue, "the sign step needs a manifest step before it", path: context.spec.path)
        }
        guard context.result.changed else { return "unchanged: nothing signed" }
        let policy = context.policy
        var all = [any Signer]()
        for role in [TopLevelRole.targets, .snapshot, .timestamp] {
            let refs = policy.roles[role].keys
            all += try refs.map { try context.signer($0) }
            context.result.signers[role.rawValue] = refs
        }
        let prepared: RepositoryStore.PreparedRelease
        if context.store.isInitialized {
            prepared = try context.store.prepare(targets: desired, signers: all, expiry: policy.expiryPolicy, now: context.options.now)
        } else {
            // A first release: the policy compiles into 1.root.json, signed with the root keys.
            let roles = try policy.roles.map { _, r in
                RoleAssignment(keys: try r.keys.map { try context.signer($0).publicKey }, threshold: r.threshold)
            }
            let rootSigners = try policy.roles.root.keys.map { try context.signer($0) }
            context.result.signers["root"] = policy.roles.root.keys
            prepared = try context.store.prepareInitial(roles: roles, signers: rootSigners + all, targets: desired,
                                                        expiry: policy.expiryPolicy, now: context.options.now).1
        }
        // The signed metadata is written here (timestamp last, then a first release's root):
        // the sign step's in-toto products are the metadata files.
        var link = InTotoLink(name: ReleaseChain.sign, command: ["firmchain", "pipeline", "run", context.spec.path])
        link.materials = try Artifacts.hash(["repository"], in: context.spec.output)
        try context.store.commit(prepared)
        link.products = try Artifacts.hash(["repository"], in: context.spec.output)
        try context.record(link)
        context.prepared = prepared
        return "signed and wrote targets v\(prepared.targetsVersion), snapshot v\(prepared.snapshotVersion), timestamp v\(prepared.timestampVersion)"
    }
}

/// `publish`: exports the public keys of every role to `OUT/keys/`, records the publish link,
/// SLSA provenance for each released target and a signed ledger checkpoint.
struct PublishStep: StepImplementation {
    func run(_ step: Step, _ context: inout RunContext) throws -> String {
        guard context.result.changed else { return "unchanged: the published release stays as it is" }
        guard let prepared = context.prepared else {
            throw FirmchainError(.pipelineBadValue, "the publish step needs a sign step before it", path: context.spec.path)
        }
        let out = context.spec.output
        var link = InTotoLink(name: ReleaseChain.publish, command: ["firmchain", "pipeline", "run", context.spec.path])
        link.materials = try Artifacts.hash(["repository", "keys"], in: out)
        for role in TopLevelRole.allCases {
            for (i, ref) in context.policy.roles[role].keys.enumerated() {
                let pem = try context.signer(ref).publicKey.pem
                try AtomicFile.write(Array(pem.utf8), to: out + "/keys/\(role.rawValue)\(i == 0 ? "" : "-\(i + 1)").pub.pem")
            }
        }
        link.products = try Artifacts.hash(["repository", "keys"], in: out)
        try context.record(link)
        let publisher = try context.functionary(ReleaseChain.publish)
        let subjects = context.result.targets.map { LedgerSubject(name: $0.name, sha256: $0.sha256) }
        let statements = ProvenanceStatement.release(
            targets: subjects, links: context.custody.linksInStepOrder(),
            run: .init(builderID: "https://firmchain.dev/pipeline/\(context.spec.name)",
                       externalParameters: ["pipeline": .string(context.spec.path), "version": .string(context.spec.version),
                                            "version_number": .int(context.spec.versionNumber)]))
        try context.custody.appendProvenance(try statements.map { try $0.signed(by: [publisher]) }, now: context.options.now)
        try context.custody.ledger.checkpoint(signer: publisher, now: context.options.now)
        context.result.targetsVersion = prepared.targetsVersion
        context.result.snapshotVersion = prepared.snapshotVersion
        context.result.timestampVersion = prepared.timestampVersion
        return "published timestamp v\(prepared.timestampVersion); public keys in keys/, custody in custody/ (layout, links, provenance, ledger checkpoint)"
    }
}
