import FirmchainCore
import Foundation
import ReleasePolicy
import Repository

/// One step of a pipeline file: the typed step and the line it was declared on.
public struct PlannedStep: Sendable {
    /// The step.
    public let step: any PipelineStep
    /// Its line in the pipeline file.
    public let line: Int
    /// The step's name (its kind).
    public var name: String { type(of: step).kind }
}

/// A release pipeline (`Pipelines/*.yml`, schema 1, documented in Docs/pipeline.md).
public struct PipelineSpec: Sendable {
    /// The pipeline file schema this Firmchain reads (`schema: 1`); a file with any other is refused.
    public static let schemaVersion: Int64 = 1

    /// An earlier version still in the field, to build a delta from.
    public struct Base: Sendable, Hashable {
        /// The base image's path (`release.bases[].image`), resolved like the file's other paths.
        public var image: String
        /// The base's version string (`release.bases[].version`), which names its delta.
        public var version: String
    }

    /// The release's name (`name`).
    public var name: String
    /// The policy file, resolved relative to the pipeline file.
    public var policyPath: String
    /// The release directory (`OUT`), resolved relative to the pipeline file unless absolute.
    public var output: String
    /// The new image and what it is.
    public var image: String
    /// The image's target name (`release.name`, by default the image's file name): a relative path
    /// without `.` or `..` parts.
    public var targetName: String
    /// The firmware version as people read it, e.g. `1.2.0` (`release.version`).
    public var version: String
    /// The monotonic number for rollback protection (`release.version_number`, at least 1).
    public var versionNumber: Int64
    /// The hardware ids the image may be installed on (`release.hardware`, at least one).
    public var hardwareIDs: [String]
    /// How urgently a fleet should take the release (`release.priority`, by default `.medium`).
    public var priority: FirmwareInfo.Priority
    /// The earlier versions still in the field to build deltas from (`release.bases`), in file order.
    public var bases: [Base]
    /// The steps in order, already checked: every artefact a step needs is made by an earlier
    /// step, comes from outside the release, or may be left by an earlier run.
    public var steps: [PlannedStep]
    /// The pipeline file this was read from, named in errors.
    public var path: String

    /// Reads a pipeline file; relative paths inside it are taken relative to `baseDirectory`
    /// (the repository root when run from there).
    public init(contentsOf path: String, baseDirectory: String = ".", registry: StepRegistry = .standard) throws {
        let bytes = try FileIO.read(path, limit: 1 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FirmchainError(.pipelineBadYAML, "is not UTF-8 text", path: path)
        }
        try self.init(yaml: text, path: path, baseDirectory: baseDirectory, registry: registry)
    }

    /// Reads a pipeline from YAML text; `path` is named in errors.
    public init(yaml text: String, path: String, baseDirectory: String = ".", registry: StepRegistry = .standard) throws {
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (baseDirectory == "." ? p : "\(baseDirectory)/\(p)") }
        let doc = try YAMLValue.document(text, file: path)
        let top = try doc.mapping(allowed: ["schema", "name", "policy", "output", "release", "steps"])
        let schema = try top.required("schema", in: doc).int()
        guard schema == PipelineSpec.schemaVersion else {
            throw FirmchainError(.pipelineUnknownSchema, "line \(top["schema"]!.line): schema \(schema) is not supported (this Firmchain reads \(PipelineSpec.schemaVersion))", path: path)
        }
        self.path = path
        name = try top.required("name", in: doc).string()
        policyPath = resolve(try top.required("policy", in: doc).string())
        output = resolve(try top.required("output", in: doc).string())

        let relNode = try top.required("release", in: doc)
        let rel = try relNode.mapping(allowed: ["image", "name", "version", "version_number", "hardware", "priority", "bases"])
        image = resolve(try rel.required("image", in: relNode).string())
        targetName = try rel["name"]?.string() ?? String(image.split(separator: "/").last!)
        try RepositoryStore.validateTargetName(targetName)
        version = try rel.required("version", in: relNode).string()
        versionNumber = try rel.required("version_number", in: relNode).int(in: 1...Int64.max)
        hardwareIDs = try rel.required("hardware", in: relNode).strings()
        guard !hardwareIDs.isEmpty else { throw rel["hardware"]!.fail("name at least one hardware id") }
        priority = try rel["priority"]?.oneOf(FirmwareInfo.Priority.self, FirmwareInfo.Priority.allCases) ?? .medium
        guard Set(hardwareIDs).count == hardwareIDs.count else { throw rel["hardware"]!.fail("a hardware id is listed twice") }
        var bases = [Base]()
        for b in try rel["bases"]?.sequence() ?? [] {
            let m = try b.mapping(allowed: ["image", "version"])
            let base = Base(image: resolve(try m.required("image", in: b).string()), version: try m.required("version", in: b).string())
            guard base.version != version else { throw b.fail("a base of version \(version) is the release itself") }
            guard base.image != image else { throw b.fail("the base image is the release image") }
            guard !bases.contains(where: { $0.version == base.version || $0.image == base.image }) else {
                throw b.fail("base \(base.version) (\(base.image)) is listed twice")
            }
            guard base.version.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && $0 != "/" }) else {
                throw b.fail("a base version may not hold control characters or /")
            }
            bases.append(base)
        }
        self.bases = bases

        let stepsNode = try top.required("steps", in: doc)
        var steps = [PlannedStep]()
        for s in try stepsNode.sequence() {
            let entry = try s.dictionary()
            guard entry.count == 1, let (kindName, opts) = entry.first else { throw s.fail("each step is one `kind: {options}` pair") }
            guard let type = registry.type(kindName) else {
                throw opts.fail("unknown step \"\(kindName)\" (steps: \(registry.names.joined(separator: ", ")))")
            }
            var options = [String: String](), lists = [String: [String]]()
            if case .mapping = opts.node {
                for (k, v) in try opts.mapping(allowed: type.optionKeys) {
                    if case .sequence = v.node { lists[k] = try v.strings() } else { options[k] = try v.string() }
                }
            } else if case .scalar(let sc) = opts.node, sc.string.isEmpty || sc.string == "~" || sc.string == "null" {
                // `- publish:` with no options
            } else {
                throw opts.fail("step options must be a mapping")
            }
            guard !steps.contains(where: { $0.name == kindName }) else { throw s.fail("step \(kindName) is declared twice") }
            steps.append(PlannedStep(step: try type.init(options: StepOptions(options, lists: lists, file: path, line: s.line, baseDirectory: baseDirectory)),
                                     line: s.line))
        }
        guard !steps.isEmpty else { throw stepsNode.fail("a pipeline needs at least one step") }
        try Self.checkOrder(steps, path: path)
        self.steps = steps
    }

    /// Every artefact a step must read is made by an earlier step, comes from outside the
    /// release (the images), or may be left by an earlier run; otherwise the file is refused,
    /// naming the line and the step.
    static func checkOrder(_ steps: [PlannedStep], path: String) throws {
        var made = Set<ArtefactKind>()
        var committer: PlannedStep?
        var gate: PlannedStep?
        for planned in steps {
            // Gates check the finished release and run last: nothing may follow one.
            if let g = gate, planned.step.recordsCustody {
                throw FirmchainError(.pipelineBadValue,
                                     "line \(planned.line): step \(planned.name) cannot follow \(g.name), which checks the finished release (put \(g.name) last)",
                                     path: path)
            }
            if !planned.step.recordsCustody { gate = planned }
            // After a step that commits the release only such steps may follow: a step that ran
            // on an unchanged release would write files no link records.
            if let c = committer, !planned.step.commitsRelease, planned.step.recordsCustody {
                throw FirmchainError(.pipelineBadValue,
                                     "line \(planned.line): step \(planned.name) cannot follow \(c.name), which commits the release (put it before \(c.name))",
                                     path: path)
            }
            if planned.step.commitsRelease { committer = planned }
            for use in planned.step.reads where use.required && !use.kind.external && !use.kind.preexisting && !made.contains(use.kind) {
                let makers = steps.filter { $0.step.writes.contains(use.kind) }.map(\.name)
                throw FirmchainError(.pipelineBadValue,
                                     "line \(planned.line): step \(planned.name) needs \(use.kind), which no earlier step makes"
                                        + (makers.isEmpty ? "" : " (put \(makers.joined(separator: " or ")) before it)"),
                                     path: path)
            }
            made.formUnion(planned.step.writes)
        }
    }
}

import Yams
