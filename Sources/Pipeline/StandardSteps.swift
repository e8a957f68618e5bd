import Custody
import Delta
import FirmchainCore
import Foundation
import Release
import ReleasePolicy
import Repository
import Signing

/// `delta`: a patch (BSDIFF40, or firmchain1 with `format: firmchain1`) from every base to the
/// new image, in `OUT/build/deltas/`.
/// Content-addressed through its in-toto link: when the recorded delta link names the same
/// input images (by sha256) and its products are still there unchanged, nothing is recomputed.
public struct DeltaStep: PipelineStep {
    /// `delta`, this step's name in pipeline files and links.
    public static let kind = "delta"
    /// The delta step takes one option, `format`.
    public static let optionKeys: Set<String> = ["format"]
    /// The patch format (`format:`).
    public let format: DeltaFormat

    /// Reads `format`, which must name a `DeltaFormat` and defaults to `bsdiff40`.
    public init(options: StepOptions) throws {
        format = try options.oneOf("format", default: DeltaFormat.bsdiff40)
    }

    /// The new image, which it needs, and the base images, when the pipeline lists any.
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.image.kind), .optional(ReleaseArtefacts.bases.kind)] }
    /// The patches in `build/deltas`.
    public var writes: [ArtefactKind] { [ReleaseArtefacts.deltas.kind] }

    /// `build/deltas/<target>.from-<base version>.<bsdiff|fcdelta>`.
    static func patchName(_ spec: PipelineSpec, _ base: PipelineSpec.Base, _ format: DeltaFormat) -> String {
        "build/" + targetName(spec, base, format)
    }

    /// The target name of the patch from `base`: `deltas/<target>.from-<base version>.<bsdiff|fcdelta>`.
    static func targetName(_ spec: PipelineSpec, _ base: PipelineSpec.Base, _ format: DeltaFormat) -> String {
        "deltas/\(spec.targetName).from-\(base.version).\(format.fileExtension)"
    }

    /// The delta format of the pipeline `spec` (bsdiff40 when it has no delta step).
    static func format(of spec: PipelineSpec) -> DeltaFormat {
        spec.steps.lazy.compactMap { $0.step as? DeltaStep }.first?.format ?? .bsdiff40
    }

    /// Exactly the patches it made (a link lists only what its step wrote).
    public func products(_ context: StepContext) throws -> [ArtefactPath] {
        try context.value(ReleaseArtefacts.deltas).map { .inRelease($0.file) }
    }

    /// Hashes the image and every base, writes one patch per base to `build/deltas/`
    /// unless the recorded delta link names the same inputs and its patches are unchanged, and
    /// hands the deltas on.
    public func run(_ context: inout StepContext) throws -> String {
        let spec = context.spec, out = context.out
        var materials = [String: ArtifactDigests]()
        let image = try context.value(ReleaseArtefacts.image)
        materials[image.name] = try context.digests(of: image)
        var deltas = [BuiltDelta]()
        for (base, input) in zip(spec.bases, try context.value(ReleaseArtefacts.bases)) {
            let d = try context.digests(of: input)
            materials[input.name] = d
            deltas.append(BuiltDelta(base: base, baseSHA256: d["sha256"] ?? "", file: Self.patchName(spec, base, format), format: format))
        }
        let names = deltas.map(\.file)
        let reusable = try context.recordedLinkHolds(step: Self.kind, materials: materials, products: names)
        if !reusable {
            try FileIO.makeDirectories(out + "/build/deltas")
            // Before anything is read (a container's limit would kill the run part way): the
            // largest base against the image, inputs over 2 GiB left to the reads' own error.
            let newSize = Int(try FileIO.size(spec.image))
            let oldSize = try deltas.map { Int(try FileIO.size($0.base.image)) }.max() ?? 0
            if newSize <= Delta.maxInputSize && oldSize <= Delta.maxInputSize {
                try Delta.checkMemory(oldSize: oldSize, newSize: newSize)
            }
            let new = try FileIO.read(spec.image, limit: Delta.maxInputSize)
            for d in deltas {
                try FileIO.makeDirectories((out + "/" + d.file as NSString).deletingLastPathComponent)
                let old = try FileIO.read(d.base.image, limit: Delta.maxInputSize)
                var options = DeltaCreateOptions()
                options.format = format
                try AtomicFile.write(try Delta.create(old: old, new: new, options: options,
                                                            progress: LabelledProgress("delta \(d.base.version) → \(spec.version)", context.options.progress)), to: out + "/" + d.file)
            }
        }
        context.set(ReleaseArtefacts.deltas, deltas)
        return reusable ? "\(names.count) delta(s) unchanged (inputs match the recorded delta link)" : "\(names.count) delta(s) made in build/deltas"
    }
}

/// `manifest`: the targets this release puts in the repository — the image and every delta,
/// with firmware fields — added to the targets already published, their files copied into
/// `repository/targets` under their hashes. Refuses a rollback (the policy's rule).
public struct ManifestStep: PipelineStep {
    /// `manifest`, this step's name in pipeline files and links.
    public static let kind = "manifest"
    /// The manifest step takes no options.
    public init(options: StepOptions) throws {}

    /// The deltas and the encrypted payloads, when earlier steps made them, and the new image, which it needs.
    public var reads: [ArtefactUse] {
        [.optional(ReleaseArtefacts.deltas.kind), .optional(ReleaseArtefacts.encryptedPayloads.kind), .required(ReleaseArtefacts.image.kind)]
    }
    /// The staged targets: the image and every delta as TUF targets, copied into `repository/targets`.
    public var writes: [ArtefactKind] { [ReleaseArtefacts.stagedTargets.kind] }

    /// The staged targets are delivered through the steps that sign and publish them.
    public func flows(_ chain: ChainView) -> StepFlows {
        var f = defaultFlows(chain)
        f.delivers = []
        return f
    }

    /// Checks the rollback rule against the published targets, copies the image and each delta into
    /// `repository/targets` under their hashes, describes each as a target with `custom.firmware`
    /// fields, and hands on the published targets (none on a first release) with these added.
    public func run(_ context: inout StepContext) throws -> String {
        let spec = context.spec
        let store = context.release.repository
        let published = context.published
        var targets = published ?? Targets(common: CommonFields(version: 1, expires: context.options.now), targets: [:])
        // The rollback rule (`checkRollback`) was checked by the runner before the first write.
        // Encrypted payloads, when an encrypt step made them, are released under the targets' names.
        let encrypted = Dictionary((context.optionalValue(ReleaseArtefacts.encryptedPayloads) ?? []).map { ($0.target, $0) }) { a, _ in a }
        let input = try context.value(ReleaseArtefacts.image)
        let plainDigests = try context.digests(of: input)
        let plainImage = (sha256: plainDigests["sha256"] ?? "", length: try FileIO.size(input.path))
        let sealedImage = encrypted[spec.targetName]
        var image = try store.storeTargetFile(sealedImage.map { context.out + "/" + $0.ciphertext } ?? spec.image, name: spec.targetName,
                                             progress: context.options.progress)
        image.custom = [FirmwareInfo.customKey: FirmwareInfo(version: spec.version, versionNumber: spec.versionNumber,
                                                              hardwareIDs: spec.hardwareIDs, kind: .full, encryption: sealedImage?.info,
                                                              priority: spec.priority).json]
        targets.targets[spec.targetName] = image
        let imageHash = image.hashes["sha256"] ?? ""
        context.result.targets.append(.init(name: spec.targetName, kind: .full, length: image.length, sha256: imageHash, baseVersion: nil, ratio: nil))
        for d in context.optionalValue(ReleaseArtefacts.deltas) ?? [] {
            let name = Self.deltaTargetName(spec, d)
            let sealed = encrypted[name]
            var entry = try store.storeTargetFile(context.out + "/" + (sealed?.ciphertext ?? d.file), name: name)
            // The delta's result is the plaintext image a device rebuilds, encrypted or not.
            let info = FirmwareInfo(version: spec.version, versionNumber: spec.versionNumber, hardwareIDs: spec.hardwareIDs, kind: .delta,
                                    delta: .init(format: d.format.rawValue, baseName: basename(d.base.image), baseVersion: d.base.version, baseSHA256: d.baseSHA256,
                                                 resultName: spec.targetName, resultSHA256: plainImage.sha256, resultLength: plainImage.length),
                                    encryption: sealed?.info, priority: spec.priority)
            entry.custom = [FirmwareInfo.customKey: info.json]
            targets.targets[name] = entry
            context.result.targets.append(.init(name: name, kind: .delta, length: entry.length, sha256: entry.hashes["sha256"] ?? "",
                                                baseVersion: d.base.version, ratio: Double(entry.length) / Double(max(image.length, 1))))
        }
        context.set(ReleaseArtefacts.stagedTargets, targets)
        let same = published?.targets == targets.targets
        return same ? "\(context.result.targets.count) target(s) described, as published" : "\(context.result.targets.count) target(s) described"
    }

    /// The target name of delta `d`: `deltas/<target>.from-<base version>.<bsdiff|fcdelta>`.
    static func deltaTargetName(_ spec: PipelineSpec, _ d: BuiltDelta) -> String {
        DeltaStep.targetName(spec, d.base, d.format)
    }

    /// The rollback rule: a release's version number must exceed every published one, unless
    /// it is exactly the release already published (a re-run). An encrypted target is compared
    /// by its plaintext digest (its ciphertext differs each time it is encrypted).
    static func checkRollback(_ published: Targets, imageSHA256: String, spec: PipelineSpec, policy: Policy) throws {
        for (name, t) in published.targets {
            guard let fw = try FirmwareInfo(custom: t.custom), fw.kind == .full else { continue }
            let sameRelease = name == spec.targetName && fw.versionNumber == spec.versionNumber
            if fw.versionNumber > spec.versionNumber || (fw.versionNumber == spec.versionNumber && !sameRelease) {
                throw FirmchainError(.policyViolation,
                                     "version_number \(spec.versionNumber) does not exceed \(fw.versionNumber) of the published \(name) (rollback rule \(policy.rollback.rawValue))",
                                     path: spec.path)
            }
            if sameRelease, (fw.encryption?.plaintextSHA256 ?? t.hashes["sha256"]) != imageSHA256 {
                throw FirmchainError(.policyViolation,
                                     "\(name) version_number \(fw.versionNumber) is already published with other content; a new image needs a new version_number",
                                     path: spec.path)
            }
        }
    }
}

/// `sign`: creates the repository from the policy when there is none, then signs targets,
/// snapshot and timestamp with the policy's keys and writes them (timestamp last, then a first
/// release's root).
public struct SignStep: PipelineStep {
    /// `sign`, this step's name in pipeline files and links.
    public static let kind = "sign"
    /// The sign step takes no options.
    public init(options: StepOptions) throws {}

    /// The staged targets, and the signed metadata an earlier run left in `repository/metadata`
    /// (none on a first release).
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.stagedTargets.kind), .required(ReleaseArtefacts.publishedMetadata.kind)] }
    /// The new signed metadata in `repository/metadata`.
    public var writes: [ArtefactKind] { [ReleaseArtefacts.signedMetadata.kind] }
    /// True: signing changes the published release, so the step runs only when the release differs
    /// from the published one or its evidence does not verify.
    public var commitsRelease: Bool { true }

    /// The whole repository before and after: the targets pass through unchanged.
    public func materials(_ context: StepContext) throws -> [ArtefactPath] { [.inRelease("repository")] }
    /// The whole `repository` directory after signing: the targets as they came and the new metadata.
    public func products(_ context: StepContext) throws -> [ArtefactPath] { [.inRelease("repository")] }

    /// Materials from wherever the chain made them; as products, the targets unchanged from its
    /// materials and the metadata it wrote; it delivers nothing itself but requires
    /// `repository/metadata/timestamp.json` in the finished release.
    public func flows(_ chain: ChainView) -> StepFlows {
        StepFlows(materials: defaultFlows(chain).materials,
                  products: [.materialOf("repository/targets/*", step: name), .written("repository/metadata/*")],
                  requires: ["repository/metadata/timestamp.json"])
    }

    /// Signs the staged targets, a snapshot and a timestamp with the policy's keys (on a first
    /// release also `1.root.json`, compiled from the policy and signed with the root keys), writes
    /// them timestamp last and then a first release's root, and hands the signed metadata on.
    public func run(_ context: inout StepContext) throws -> String {
        let desired = try context.value(ReleaseArtefacts.stagedTargets)
        let policy = context.policy
        let store = context.release.repository
        var all = [any Signer]()
        for role in [TopLevelRole.targets, .snapshot, .timestamp] {
            let refs = policy.roles[role].keys
            all += try refs.map { try context.signer($0) }
            context.result.signers[role.rawValue] = refs
        }
        let (topLevel, delegated) = try Self.delegate(desired, &context)
        let prepared: RepositoryStore.PreparedRelease
        if store.isInitialized {
            prepared = try store.prepare(targets: topLevel, delegated: delegated, signers: all, expiry: policy.expiryPolicy, now: context.options.now)
        } else {
            // A first release: the policy compiles into 1.root.json, signed with the root keys.
            var roleSigners = [TopLevelRole: [any Signer]]()
            for role in TopLevelRole.allCases { roleSigners[role] = try policy.roles[role].keys.map { try context.signer($0) } }
            let roles = policy.roles.map { role, r in RoleAssignment(keys: (roleSigners[role] ?? []).map(\.publicKey), threshold: r.threshold) }
            context.result.signers["root"] = policy.roles.root.keys
            prepared = try store.prepareInitial(roles: roles, signers: (roleSigners[.root] ?? []) + all, targets: topLevel, delegated: delegated,
                                                expiry: policy.expiryPolicy, now: context.options.now).1
        }
        try store.commit(prepared)
        context.set(ReleaseArtefacts.signedMetadata, prepared)
        return "signed and wrote targets v\(prepared.targetsVersion), snapshot v\(prepared.snapshotVersion), timestamp v\(prepared.timestampVersion)"
    }
}

extension SignStep {
    /// The policy's product-line delegations as TUF delegated roles (terminating, by path).
    static func delegatedRoles(_ policy: Policy, keys: (String) throws -> PublicKey) throws -> (roles: [DelegatedRole], keys: [String: TUFKey]) {
        var all = [String: TUFKey](), roles = [DelegatedRole]()
        for d in policy.delegations {
            let tufKeys = try d.keys.map { TUFKey(try keys($0)) }
            for k in tufKeys { all[k.keyid] = k }
            roles.append(DelegatedRole(name: d.name, keys: RoleKeys(keyids: tufKeys.map(\.keyid), threshold: d.threshold), terminating: true, paths: d.paths))
        }
        return (roles, all)
    }

    /// Splits `desired` by the policy's delegations (TUF spec §4.5, Docs/policy.md): each target
    /// goes to the first delegated role whose paths match it, signed by that team's keys with the
    /// next version of the role; the rest stay in the top-level targets, which names the roles
    /// in its `delegations`. Without delegations, `desired` as it is.
    static func delegate(_ desired: Targets, _ context: inout StepContext) throws -> (Targets, [(name: String, metadata: Metadata<Targets>)]) {
        let policy = context.policy
        guard !policy.delegations.isEmpty else { return (desired, []) }
        var signers = [String: [any Signer]]()
        for d in policy.delegations { signers[d.name] = try d.keys.map { try context.signer($0) } }
        let (roles, keys) = try delegatedRoles(policy) { ref in try context.signer(ref).publicKey }
        var top = desired
        top.targets = [:]
        top.delegations = Delegations(keys: keys, roles: roles)
        var byRole = [String: [String: TargetFile]]()
        for (name, t) in desired.targets {
            if let role = roles.first(where: { $0.mayList(name) }) { byRole[role.name, default: [:]][name] = t } else { top.targets[name] = t }
        }
        let previous = (try? context.release.repository.current().snapshot.signed.meta) ?? [:]
        let expires = context.options.now.addingTimeInterval(policy.expiryPolicy.targets)
        var out = [(name: String, metadata: Metadata<Targets>)]()
        for role in roles {
            var md = Metadata(signed: Targets(common: CommonFields(version: (previous["\(role.name).json"]?.version ?? 0) + 1, expires: expires),
                                              targets: byRole[role.name] ?? [:]))
            try md.sign(with: signers[role.name] ?? [], role: role.keys, roleName: role.name)
            out.append((role.name, md))
        }
        return (top, out)
    }
}

/// `publish`: exports the public keys of every role to `OUT/keys/`. (The runner then signs
/// SLSA provenance for each released target and a ledger checkpoint.)
public struct PublishStep: PipelineStep {
    /// `publish`, this step's name in pipeline files and links.
    public static let kind = "publish"
    /// The publish step takes no options.
    public init(options: StepOptions) throws {}

    /// The signed metadata, and the public keys an earlier run left in `keys/` (if any).
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.signedMetadata.kind), .required(ReleaseArtefacts.publicKeys.kind)] }
    /// The public keys in `keys/` and the reports in `report/`; `run` itself writes only the keys.
    public var writes: [ArtefactKind] { [ReleaseArtefacts.publicKeys.kind, ReleaseArtefacts.report.kind] }
    /// True: publishing changes the release, so the step runs only when the release differs from
    /// the published one or its evidence does not verify.
    public var commitsRelease: Bool { true }

    /// The whole `repository` and `keys` directories before it runs.
    public func materials(_ context: StepContext) throws -> [ArtefactPath] { [.inRelease("repository"), .inRelease("keys")] }
    /// The whole `repository` and `keys` directories after it ran.
    public func products(_ context: StepContext) throws -> [ArtefactPath] { [.inRelease("repository"), .inRelease("keys")] }

    /// The repository as the step that signed it left it, and the keys; it vouches for both.
    public func flows(_ chain: ChainView) -> StepFlows {
        let signer = chain.earlier.last { $0.writes.contains(ReleaseArtefacts.signedMetadata.kind) }?.name
        let repository: CustodyPolicy.Flow = signer.map { .productOf("repository/*", step: $0) } ?? .input("repository/*")
        return StepFlows(materials: [repository, .input("keys/*")],
                         products: [.materialOf("repository/*", step: name), .written("keys/*"), .written("report/*")],
                         delivers: [.productOf("repository/*", step: name), .productOf("keys/*", step: name)])
    }

    /// Writes the PEM public key of every key each TUF role names in the policy to `OUT/keys/` and
    /// records the published targets, snapshot and timestamp versions in the run's result.
    public func run(_ context: inout StepContext) throws -> String {
        let prepared = try context.value(ReleaseArtefacts.signedMetadata)
        var keys = RoleTable<[PublicKey]> { _ in [] }
        for role in TopLevelRole.allCases { keys[role] = try context.policy.roles[role].keys.map { try context.signer($0).publicKey } }
        try context.release.writeRoleKeys(keys)
        context.result.targetsVersion = prepared.targetsVersion
        context.result.snapshotVersion = prepared.snapshotVersion
        context.result.timestampVersion = prepared.timestampVersion
        return "published timestamp v\(prepared.timestampVersion); public keys in keys/, custody in custody/ (layout, links, provenance, ledger checkpoint)"
    }
}

extension PipelineStep {
    /// The flows the protocol's default gives, for steps that adjust them.
    public func defaultFlows(_ chain: ChainView) -> StepFlows {
        var materials = [CustodyPolicy.Flow]()
        for use in reads where use.required || chain.isProduced(use.kind) || use.kind.external {
            for f in chain.from(use.kind) where !materials.contains(f) { materials.append(f) }
        }
        let products = writes.flatMap { k in k.patterns.map { k.fresh ? CustodyPolicy.Flow.created($0) : .written($0) } }
        return StepFlows(materials: materials, products: products,
                         delivers: writes.filter { !$0.external }.flatMap { k in k.patterns.map { .productOf($0, step: chain.step) } })
    }
}
