import FirmchainCore
import Foundation
import Repository

/// One step of a pipeline, as data: its kind and options. The runner maps each kind to one
/// implementation, so a new kind of step is added in one place.
public struct Step: Sendable, Hashable {
    /// The kinds of step Firmchain runs, in data-flow order (DESIGN.md §2).
    public enum Kind: String, Sendable, CaseIterable {
        /// A BSDIFF40 delta from each base to the new image.
        case delta
        /// Targets metadata for the image and every delta, with firmware fields.
        case manifest
        /// Signatures on targets, snapshot and timestamp.
        case sign
        /// The signed repository made current (timestamp written last).
        case publish
    }

    public var kind: Kind
    /// Step options; which keys are allowed depends on the kind.
    public var options: [String: String]
}

/// A release pipeline (`Pipelines/*.yml`, schema 1, documented in Docs/pipeline.md).
public struct PipelineSpec: Sendable {
    public static let schemaVersion: Int64 = 1

    /// An earlier version still in the field, to build a delta from.
    public struct Base: Sendable, Hashable {
        public var image: String
        public var version: String
    }

    public var name: String
    /// The policy file, resolved relative to the pipeline file.
    public var policyPath: String
    /// The release directory (`OUT`), resolved relative to the pipeline file unless absolute.
    public var output: String
    /// The new image and what it is.
    public var image: String
    public var targetName: String
    public var version: String
    public var versionNumber: Int64
    public var hardwareIDs: [String]
    public var priority: FirmwareInfo.Priority
    public var bases: [Base]
    public var steps: [Step]
    public var path: String

    /// Reads a pipeline file; relative paths inside it are taken relative to `baseDirectory`
    /// (the repository root when run from there).
    public init(contentsOf path: String, baseDirectory: String = ".") throws {
        let bytes = try FileIO.read(path, limit: 1 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FirmchainError(.pipelineBadYAML, "is not UTF-8 text", path: path)
        }
        try self.init(yaml: text, path: path, baseDirectory: baseDirectory)
    }

    public init(yaml text: String, path: String, baseDirectory: String = ".") throws {
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
        bases = try (rel["bases"]?.sequence() ?? []).map { b in
            let m = try b.mapping(allowed: ["image", "version"])
            return Base(image: resolve(try m.required("image", in: b).string()), version: try m.required("version", in: b).string())
        }

        let stepsNode = try top.required("steps", in: doc)
        var steps = [Step]()
        for s in try stepsNode.sequence() {
            let entry = try s.dictionary()
            guard entry.count == 1, let (kindName, opts) = entry.first else { throw s.fail("each step is one `kind: {options}` pair") }
            guard let kind = Step.Kind(rawValue: kindName) else {
                throw opts.fail("unknown step \"\(kindName)\" (steps: \(Step.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var options = [String: String]()
            if case .mapping = opts.node {
                for (k, v) in try opts.mapping(allowed: PipelineSpec.allowedOptions[kind]!) { options[k] = try v.string() }
            } else if case .scalar(let sc) = opts.node, sc.string.isEmpty || sc.string == "~" || sc.string == "null" {
                // `- publish:` with no options
            } else {
                throw opts.fail("step options must be a mapping")
            }
            steps.append(Step(kind: kind, options: options))
        }
        guard !steps.isEmpty else { throw stepsNode.fail("a pipeline needs at least one step") }
        self.steps = steps
    }

    /// Options each step kind understands.
    static let allowedOptions: [Step.Kind: Set<String>] = [
        .delta: ["format"], .manifest: [], .sign: [], .publish: [],
    ]
}

import Yams
