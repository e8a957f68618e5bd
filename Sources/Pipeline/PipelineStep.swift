import Custody
import Delta
import FirmchainCore
import Foundation
import Release
import ReleasePolicy
import Repository
import Signing

/// A kind of artefact that pipeline steps pass on: where its files lie in `OUT` (as in-toto
/// patterns), whether it comes from outside the release, and whether it may already be in the
/// release from an earlier run. Steps declare the kinds they read and write; the runner checks
/// the order when the pipeline is loaded and compiles the in-toto layout from them.
public struct ArtefactKind: Sendable, Hashable, CustomStringConvertible {
    /// The name used in messages (`deltas`, `staged targets`).
    public let name: String
    /// in-toto artefact patterns of its files, relative to `OUT` (`build/deltas/*`).
    public let patterns: [String]
    /// The directories (relative to `OUT`) a step that reads or writes it hashes by default.
    public let directories: [String]
    /// Files from outside `OUT` (the images), named `inputs/<basename>` in links.
    public let external: Bool
    /// Written as new files (in-toto `CREATE`) rather than updated (`ALLOW`).
    public let fresh: Bool
    /// May be read from the release as an earlier run left it, with no step of this run producing it.
    public let preexisting: Bool

    /// A kind from its parts.
    public init(_ name: String, patterns: [String], directories: [String] = [], external: Bool = false, fresh: Bool = false,
                preexisting: Bool = false) {
        self.name = name
        self.patterns = patterns
        self.directories = directories
        self.external = external
        self.fresh = fresh
        self.preexisting = preexisting
    }

    /// The name.
    public var description: String { name }
}

/// A typed handle on an artefact kind: the value a step hands to the steps after it.
public struct Artefact<Value: Sendable>: Sendable {
    /// The kind.
    public let kind: ArtefactKind

    /// A handle for `kind`.
    public init(_ kind: ArtefactKind) { self.kind = kind }
}

/// The artefacts of the standard release chain (`Docs/pipeline.md`).
public enum ReleaseArtefacts {
    /// The image being released (from outside `OUT`).
    public static let image = Artefact<InputFile>(.init("image", patterns: ["\(Self.inputs)/*"], external: true))
    /// The earlier versions deltas start from (from outside `OUT`).
    public static let bases = Artefact<[InputFile]>(.init("bases", patterns: ["\(Self.inputs)/*"], external: true))
    /// BSDIFF40 patches in `build/deltas`.
    public static let deltas = Artefact<[BuiltDelta]>(.init("deltas", patterns: ["build/deltas/*"], directories: ["build/deltas"], fresh: true))
    /// Encrypted payloads (ciphertext ‖ tag and the COSE structure) of the image and the deltas,
    /// in `build/encrypted`.
    public static let encryptedPayloads = Artefact<[EncryptedPayload]>(
        .init("encrypted payloads", patterns: ["build/encrypted/*"], directories: ["build/encrypted"], fresh: true))
    /// The targets the release puts into the repository (copies in `repository/targets`).
    public static let stagedTargets = Artefact<Targets>(.init("staged targets", patterns: ["repository/targets/*", ".staging/*"],
                                                               directories: ["repository/targets"]))
    /// TUF metadata this run signed, in `repository/metadata`.
    public static let signedMetadata = Artefact<RepositoryStore.PreparedRelease>(
        .init("signed metadata", patterns: ["repository/metadata/*"], directories: ["repository/metadata"]))
    /// The metadata an earlier run published (verified by the runner before anything is signed).
    public static let publishedMetadata = Artefact<Targets>(
        .init("published metadata", patterns: ["repository/metadata/*"], directories: ["repository/metadata"], preexisting: true))
    /// Public keys in `keys/`.
    public static let publicKeys = Artefact<[String]>(.init("public keys", patterns: ["keys/*"], directories: ["keys"], preexisting: true))
    /// Human-readable reports in `report/`.
    public static let report = Artefact<[String]>(.init("report", patterns: ["report/*"], directories: ["report"], preexisting: true))

    /// The directory of pipeline inputs in artefact names (files outside `OUT`).
    public static let inputs = "inputs"
}

/// A file from outside the release directory: where it is and the name links record it by.
public struct InputFile: Sendable, Hashable {
    /// Its path.
    public var path: String
    /// The artefact name, `inputs/<basename>`.
    public var name: String
    /// The version it is, for bases.
    public var version: String?
}

/// A delta a step made: from which base, to which file (relative to `OUT`).
public struct BuiltDelta: Sendable, Hashable {
    /// The base it starts from.
    public var base: PipelineSpec.Base
    /// The base image's sha256.
    public var baseSHA256: String
    /// The patch, relative to `OUT`.
    public var file: String
    /// Its format (the delta step's `format:`).
    public var format: DeltaFormat = .bsdiff40
}

/// A payload the encrypt step encrypted: which target it becomes, its ciphertext file and the
/// encryption fields the manifest records for it.
public struct EncryptedPayload: Sendable, Hashable {
    /// The target name it is released under (the image's, or a delta's `deltas/…`).
    public var target: String
    /// The ciphertext ‖ tag, relative to `OUT`.
    public var ciphertext: String
    /// The COSE structure, relative to `OUT`.
    public var structure: String
    /// What `custom.firmware.encryption` records: the plaintext's digest and the descriptor.
    public var info: FirmwareInfo.EncryptionInfo
}

/// What a step hashes as a material or product: a path in `OUT` (a directory stands for every
/// file below it) or a file outside it under its artefact name.
public enum ArtefactPath: Sendable, Hashable {
    /// A file or directory relative to `OUT`.
    case inRelease(String)
    /// A file outside `OUT`, recorded as `name`.
    case external(name: String, path: String)
}

/// How one artefact kind is used by a step.
public struct ArtefactUse: Sendable, Hashable {
    /// The kind.
    public var kind: ArtefactKind
    /// Whether the pipeline is refused when no earlier step (nor an earlier run) provides it.
    public var required: Bool

    /// A kind the step cannot run without.
    public static func required(_ k: ArtefactKind) -> ArtefactUse { ArtefactUse(kind: k, required: true) }
    /// A kind the step reads when an earlier step makes it.
    public static func optional(_ k: ArtefactKind) -> ArtefactUse { ArtefactUse(kind: k, required: false) }
}

/// The custody rules of one step: where its materials come from, how its products may appear,
/// and which delivered files of the release it vouches for (in-toto artifact rules, compiled
/// by `CustodyPolicy`).
public struct StepFlows: Sendable, Hashable {
    /// Materials: each must match a flow, anything else is refused.
    public var materials: [CustodyPolicy.Flow]
    /// Products: likewise.
    public var products: [CustodyPolicy.Flow]
    /// Files of the finished release that must be this step's products (the `delivered` inspection).
    public var delivers: [CustodyPolicy.Flow] = []
    /// Files that must exist in the finished release.
    public var requires: [String] = []
}

/// What the layout compiler knows about the steps before the one being compiled.
public struct ChainView: Sendable {
    /// The step being compiled.
    public let step: String
    /// The earlier steps in order, with what they read and write.
    public let earlier: [(name: String, reads: [ArtefactUse], writes: [ArtefactKind])]

    /// The material flows for reading `kind`: the products of the latest earlier step that
    /// wrote it; for a file from outside, the materials of the first earlier step that read it
    /// (every step reads the same inputs); otherwise (first reader, or left by an earlier run)
    /// allowed as it is.
    public func from(_ kind: ArtefactKind) -> [CustodyPolicy.Flow] {
        if let p = earlier.last(where: { $0.writes.contains(kind) }) { return kind.patterns.map { .productOf($0, step: p.name) } }
        if kind.external, let c = earlier.first(where: { s in s.reads.contains { $0.kind.patterns == kind.patterns } }) {
            return kind.patterns.map { .materialOf($0, step: c.name) }
        }
        return kind.patterns.map { .input($0) }
    }

    /// Whether an earlier step writes `kind`.
    public func isProduced(_ kind: ArtefactKind) -> Bool { earlier.contains { $0.writes.contains(kind) } }
}

/// One kind of pipeline step as a typed unit: its options, the artefacts it reads and
/// writes, and what it does. The runner — not the step — hashes materials before it and
/// products after it, signs and writes its in-toto link and ledger entry, and puts it into the
/// layout; a new kind of step is a new type and one `StepRegistry.register` line.
public protocol PipelineStep: Sendable {
    /// The name of the kind in pipeline files and links (`delta`).
    static var kind: String { get }
    /// The option keys the step accepts in the pipeline file.
    static var optionKeys: Set<String> { get }
    /// Builds the step from its options (checked here: errors name file, line and key).
    init(options: StepOptions) throws

    /// What it reads, in order.
    var reads: [ArtefactUse] { get }
    /// What it writes.
    var writes: [ArtefactKind] { get }
    /// Whether it changes the published release (signing, publishing): such steps run only
    /// when the release differs from the one published, or its evidence does not verify.
    var commitsRelease: Bool { get }

    /// Its materials, hashed by the runner before it runs.
    func materials(_ context: StepContext) throws -> [ArtefactPath]
    /// Its products, hashed by the runner after it ran.
    func products(_ context: StepContext) throws -> [ArtefactPath]
    /// Its custody rules.
    func flows(_ chain: ChainView) -> StepFlows
    /// Does the work; returns one line saying what it did.
    func run(_ context: inout StepContext) throws -> String
    /// Checks what the step can check against `policy` before the run writes anything (the
    /// keys and files it will need, what the policy requires of it); `plan` and `run` call it.
    func check(policy: Policy, options: RunOptions) throws
    /// False for a gate that checks the finished release and changes nothing (`verify`): it
    /// gets no link and no place in the layout, needs no functionary, may stand after the steps
    /// that commit the release, and runs after the runner closed custody (provenance and the
    /// ledger checkpoint), on every run.
    var recordsCustody: Bool { get }
}

extension PipelineStep {
    /// No options.
    public static var optionKeys: Set<String> { [] }
    /// Steps do not change the published release unless they say so.
    public var commitsRelease: Bool { false }
    /// Nothing to check by default.
    public func check(policy: Policy, options: RunOptions) throws {}
    /// Steps record custody unless they say otherwise.
    public var recordsCustody: Bool { true }

    /// The kind's name.
    public var name: String { Self.kind }

    /// By default: the files of every kind it reads (inputs under their artefact names, the
    /// kinds' directories in `OUT`).
    public func materials(_ context: StepContext) throws -> [ArtefactPath] {
        reads.flatMap { use in context.paths(of: use.kind) }
    }

    /// By default: the directories of every kind it writes.
    public func products(_ context: StepContext) throws -> [ArtefactPath] {
        writes.flatMap { kind in kind.directories.map { .inRelease($0) } }
    }

    /// By default: materials from wherever the chain made them, products written under the
    /// kinds' patterns (created for fresh kinds), and the step vouches for what it wrote.
    public func flows(_ chain: ChainView) -> StepFlows { defaultFlows(chain) }
}

/// The options of one step in a pipeline file, read once and checked.
public struct StepOptions: Sendable {
    /// Option values by key (scalars).
    public let values: [String: String]
    /// Options whose value is a list of scalars (`recipients: [a, b]`).
    public let lists: [String: [String]]
    /// The pipeline file and the step's line, for messages.
    public let file: String, line: Int
    /// The directory relative paths in the pipeline file are taken from.
    public let baseDirectory: String

    /// Options from their parts.
    public init(_ values: [String: String] = [:], lists: [String: [String]] = [:], file: String = "", line: Int = 0, baseDirectory: String = ".") {
        self.values = values
        self.lists = lists
        self.file = file
        self.line = line
        self.baseDirectory = baseDirectory
    }

    /// `path` as the pipeline file means it: absolute, or relative to `baseDirectory`.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") || baseDirectory == "." ? path : "\(baseDirectory)/\(path)"
    }

    /// One of `choices` for `key`, or `fallback` when the key is absent.
    public func oneOf<T: RawRepresentable & CaseIterable>(_ key: String, default fallback: T) throws -> T where T.RawValue == String {
        guard let s = values[key] else { return fallback }
        guard let v = T(rawValue: s) else { throw fail("\(key): \"\(s)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))") }
        return v
    }

    /// An error about these options naming the file and line.
    public func fail(_ what: String) -> FirmchainError {
        FirmchainError(.pipelineBadValue, "line \(line): \(what)", path: file)
    }
}

/// The step kinds a pipeline file may name.
public struct StepRegistry: Sendable {
    private var kinds: [String: any PipelineStep.Type] = [:]
    private var order: [String] = []

    /// A registry with `types`.
    public init(_ types: [any PipelineStep.Type] = []) { for t in types { register(t) } }

    /// The standard release chain: delta, manifest, sign, publish.
    public static let standard = StepRegistry([DeltaStep.self, EncryptStep.self, ManifestStep.self, SignStep.self, PublishStep.self, VerifyStep.self, ExportStep.self])

    /// Adds a kind of step (replacing one of the same name).
    public mutating func register(_ type: any PipelineStep.Type) {
        if kinds[type.kind] == nil { order.append(type.kind) }
        kinds[type.kind] = type
    }

    /// The kind named `name`.
    public func type(_ name: String) -> (any PipelineStep.Type)? { kinds[name] }

    /// The registered kinds' names, in registration order.
    public var names: [String] { order }
}

/// How a run reaches keys and time; the command line fills it in.
public struct RunOptions: Sendable {
    /// Opens `pkcs11:` URIs and key files (PIN and passphrase providers inside).
    public var signerOptions: SignerOptions
    /// The run's one reference time.
    public var now: Date
    /// Where progress goes.
    public var progress: ProgressReporter
    /// Told when each step starts and ends (`pipeline run --verbose` logs it).
    public var onStep: @Sendable (_ step: String, _ event: String) -> Void

    /// Options for one run.
    public init(signerOptions: SignerOptions, now: Date, progress: ProgressReporter = SilentProgress(),
                onStep: @escaping @Sendable (_ step: String, _ event: String) -> Void = { _, _ in }) {
        self.signerOptions = signerOptions
        self.now = now
        self.progress = progress
        self.onStep = onStep
    }
}

/// What a step sees: the pipeline, the policy, the release directory, the published release,
/// and the typed artefacts earlier steps handed on (no bag of optionals: a step reads what it
/// declared, and the runner has checked at load time that an earlier step makes it).
public struct StepContext {
    /// The pipeline.
    public let spec: PipelineSpec
    /// Its policy.
    public let policy: Policy
    /// The run's options.
    public let options: RunOptions
    /// The release this run writes: a staged copy of `OUT` that replaces it in one step when
    /// the run succeeds (`DirectoryStage`; `OUT` itself only while the run's checks read it).
    /// Steps read and write here, never `spec.output`.
    public internal(set) var release: ReleaseDirectory
    /// The staged release's directory (`release.path`).
    public var out: String { release.path }
    /// Writes outside the release that must wait until the release is published (a verifier's
    /// remembered versions): run after the stage replaced `OUT`.
    public var afterCommit: [() throws -> Void] = []
    /// The targets published before this run (nil for a first release).
    public let published: Targets?
    /// Whether the custody evidence already in `OUT` verifies (false after a killed run).
    public let custodyComplete: Bool
    /// Whether the published timestamp, snapshot or targets expire soon (or have): the run
    /// re-signs them although nothing else changed.
    public let refreshDue: Bool
    /// The run's summary, filled in by the steps.
    public var result: PipelineResult
    private var values: [String: any Sendable] = [:]
    private var signers: [String: any Signer] = [:]
    private var digests: [String: ArtifactDigests] = [:]

    init(spec: PipelineSpec, policy: Policy, options: RunOptions, release: ReleaseDirectory, published: Targets?, custodyComplete: Bool,
         refreshDue: Bool = false) {
        self.refreshDue = refreshDue
        self.spec = spec
        self.policy = policy
        self.options = options
        self.release = release
        self.published = published
        self.custodyComplete = custodyComplete
        result = PipelineResult()
        result.output = spec.output
        // Inputs are named `inputs/<basename>`; when two share a basename (a build tree laid out
        // as 1.0.0/Image, 1.1.0/Image, …) each is named `inputs/<version>/<basename>` instead,
        // so that custody's artefact names never collide.
        let all = [(spec.image, spec.version)] + spec.bases.map { ($0.image, $0.version) }
        let clash = Dictionary(grouping: all.map { basename($0.0) }, by: { $0 }).filter { $0.value.count > 1 }.keys
        func input(_ path: String, _ version: String) -> InputFile {
            let base = basename(path)
            return InputFile(path: path, name: "\(ReleaseArtefacts.inputs)/" + (clash.contains(base) ? "\(version)/\(base)" : base), version: version)
        }
        values[ReleaseArtefacts.image.kind.name] = input(spec.image, spec.version)
        values[ReleaseArtefacts.bases.kind.name] = spec.bases.map { input($0.image, $0.version) }
    }

    /// The value of `artefact`, which an earlier step must have handed on.
    public func value<V>(_ artefact: Artefact<V>) throws -> V {
        guard let v = values[artefact.kind.name] as? V else {
            throw FirmchainError(.internal, "no earlier step produced \(artefact.kind.name)", path: spec.path)
        }
        return v
    }

    /// The value of `artefact`, if an earlier step handed it on.
    public func optionalValue<V>(_ artefact: Artefact<V>) -> V? { values[artefact.kind.name] as? V }

    /// Hands `value` on to the steps after this one.
    public mutating func set<V>(_ artefact: Artefact<V>, _ value: V) { values[artefact.kind.name] = value }

    /// The files of `kind` as materials: the input files under their artefact names, or the
    /// kind's directories in `OUT`.
    public func paths(of kind: ArtefactKind) -> [ArtefactPath] {
        if kind == ReleaseArtefacts.image.kind, let i = optionalValue(ReleaseArtefacts.image) { return [.external(name: i.name, path: i.path)] }
        if kind == ReleaseArtefacts.bases.kind { return (optionalValue(ReleaseArtefacts.bases) ?? []).map { .external(name: $0.name, path: $0.path) } }
        if kind == ReleaseArtefacts.deltas.kind, let d = optionalValue(ReleaseArtefacts.deltas) { return d.map { .inRelease($0.file) } }
        return kind.directories.map { .inRelease($0) }
    }

    /// The sha256 (and sha512) of a file outside `OUT`, hashed once per run.
    public mutating func digests(of input: InputFile) throws -> ArtifactDigests {
        if let d = digests[input.path] { return d }
        let d = try Artifacts.hash(file: input.path, as: input.name, progress: options.progress).digests
        digests[input.path] = d
        return d
    }

    /// The key `reference`, opened once per run (one login per token) and checked against the policy.
    public mutating func signer(_ reference: String) throws -> any Signer {
        if let s = signers[reference] { return s }
        let s = try Signers.open(reference, options: options.signerOptions)
        try policy.check(key: s.publicKey, reference: reference)
        signers[reference] = s
        return s
    }

    /// Whether the link of `step` recorded in `OUT` — signed by this run's functionary of the
    /// step, so an unsigned or foreign link cannot vouch for planted files — names exactly
    /// `materials` and lists every file of `products` with the digest it has now: the step's
    /// work is then already done and need not be redone (a content-addressed step).
    public mutating func recordedLinkHolds(step: String, materials: [String: ArtifactDigests], products: [String]) throws -> Bool {
        let key = try functionary(step).publicKey
        let ring = KeyRing(trusting: [key], for: [.functionary(step)])
        guard let recorded = release.custody.links().links.map(\.link).first(where: {
            $0.link.name == step && $0.envelope.verify(ring: ring, role: .functionary(step), at: options.now).isMet
        })?.link, recorded.materials == materials, products.allSatisfy({ FileIO.exists(out + "/" + $0) }) else { return false }
        return try Artifacts.hash(products, in: out) == recorded.products.filter { products.contains($0.key) }
    }

    /// The first functionary key the policy names for `step`, opened.
    public mutating func functionary(_ step: String) throws -> any Signer {
        guard let ref = policy.functionaries[step]?.first else {
            throw FirmchainError(.policyViolation, "the policy names no functionary for the \(step) step", path: policy.path)
        }
        return try signer(ref)
    }
}

/// The last path component.
func basename(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }
