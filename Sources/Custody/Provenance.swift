import Foundation
import FirmchainCore
import Signing

/// A resource descriptor (in-toto attestation spec v1, `ResourceDescriptor`): what an artefact
/// is called and its digests. Firmchain always gives a name and a digest.
public struct ResourceDescriptor: Sendable, Hashable {
    /// The artefact's name (a target name, a path relative to `OUT`).
    public var name: String
    /// An optional URI for it.
    public var uri: String?
    /// Algorithm → hex.
    public var digest: ArtifactDigests

    /// A descriptor from its parts.
    public init(name: String, uri: String? = nil, digest: ArtifactDigests) {
        self.name = name
        self.uri = uri
        self.digest = digest
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "digest": .object(digest.mapValues { .string($0) })]
        if let uri { o["uri"] = .string(uri) }
        return .object(o)
    }

    init(json: JSONValue) throws {
        guard let o = json.objectValue, let d = o["digest"]?.objectValue, !d.isEmpty else {
            throw FirmchainError.malformedStatement("a resource descriptor needs a digest")
        }
        var digest = ArtifactDigests()
        for (k, v) in d {
            guard let s = v.stringValue else { throw FirmchainError.malformedStatement("digest \(k) is not a string") }
            digest[k] = s
        }
        self.init(name: o["name"]?.stringValue ?? "", uri: o["uri"]?.stringValue, digest: digest)
    }
}

/// An SLSA Provenance v1 statement (slsa.dev/spec/v1.0/provenance) inside an in-toto Statement
/// v1 (in-toto attestation spec v1): which artefacts (subjects) a release run built, from what
/// (resolved dependencies), by which builder, with which parameters.
public struct ProvenanceStatement: Sendable, Hashable {
    /// `_type` of an in-toto Statement v1.
    public static let statementType = "https://in-toto.io/Statement/v1"
    /// `predicateType` of SLSA Provenance v1.
    public static let predicateType = "https://slsa.dev/provenance/v1"
    /// The build type Firmchain's release pipeline records; its parameters are described in
    /// Docs/custody.md ("SLSA provenance").
    public static let releaseBuildType = "https://firmchain.dev/slsa/release/v1"

    /// The artefacts built.
    public var subjects: [LedgerSubject]
    /// How to read the parameters.
    public var buildType: String
    /// Parameters a user could change (pipeline file, version, hardware ids …).
    public var externalParameters: [String: JSONValue]
    /// Parameters the builder set itself.
    public var internalParameters: [String: JSONValue]
    /// The inputs the build read.
    public var resolvedDependencies: [ResourceDescriptor]
    /// The builder's identity (`builder.id`).
    public var builderID: String
    /// Versions of the builder's components (`builder.version`).
    public var builderVersion: [String: String]
    /// An identifier of this run.
    public var invocationID: String?
    /// When the run started and finished.
    public var startedOn: Date?, finishedOn: Date?
    /// Other evidence the run left: Firmchain lists its link files here.
    public var byproducts: [ResourceDescriptor]

    /// A statement from its parts.
    public init(subjects: [LedgerSubject], buildType: String = ProvenanceStatement.releaseBuildType, externalParameters: [String: JSONValue] = [:],
                internalParameters: [String: JSONValue] = [:], resolvedDependencies: [ResourceDescriptor] = [], builderID: String,
                builderVersion: [String: String] = [:], invocationID: String? = nil, startedOn: Date? = nil, finishedOn: Date? = nil,
                byproducts: [ResourceDescriptor] = []) {
        self.subjects = subjects
        self.buildType = buildType
        self.externalParameters = externalParameters
        self.internalParameters = internalParameters
        self.resolvedDependencies = resolvedDependencies
        self.builderID = builderID
        self.builderVersion = builderVersion
        self.invocationID = invocationID
        self.startedOn = startedOn
        self.finishedOn = finishedOn
        self.byproducts = byproducts
    }

    /// The statement as JSON.
    public var json: JSONValue {
        var build: [String: JSONValue] = ["buildType": .string(buildType), "externalParameters": .object(externalParameters)]
        if !internalParameters.isEmpty { build["internalParameters"] = .object(internalParameters) }
        if !resolvedDependencies.isEmpty { build["resolvedDependencies"] = .array(resolvedDependencies.map(\.json)) }
        var builder: [String: JSONValue] = ["id": .string(builderID)]
        if !builderVersion.isEmpty { builder["version"] = .object(builderVersion.mapValues { .string($0) }) }
        var metadata = [String: JSONValue]()
        if let invocationID { metadata["invocationId"] = .string(invocationID) }
        if let startedOn { metadata["startedOn"] = .string(UTCTimestamp.string(from: startedOn)) }
        if let finishedOn { metadata["finishedOn"] = .string(UTCTimestamp.string(from: finishedOn)) }
        var run: [String: JSONValue] = ["builder": .object(builder)]
        if !metadata.isEmpty { run["metadata"] = .object(metadata) }
        if !byproducts.isEmpty { run["byproducts"] = .array(byproducts.map(\.json)) }
        return [
            "_type": .string(Self.statementType),
            "subject": .array(subjects.map(\.json)),
            "predicateType": .string(Self.predicateType),
            "predicate": ["buildDefinition": .object(build), "runDetails": .object(run)],
        ]
    }

    /// Reads a statement from a DSSE envelope's payload (payload type and `_type` checked).
    ///
    /// - Throws: `custody.malformed-statement`.
    public init(envelope: DSSEEnvelope) throws {
        guard envelope.payloadType == DSSEEnvelope.inTotoPayloadType else {
            throw FirmchainError.malformedStatement("payload type \(envelope.payloadType) is not \(DSSEEnvelope.inTotoPayloadType)")
        }
        let v: JSONValue
        do { v = try JSONReader().parse(envelope.payload) } catch { throw FirmchainError.malformedStatement("the payload is not JSON") }
        guard v["_type"]?.stringValue == Self.statementType, v["predicateType"]?.stringValue == Self.predicateType,
              let subj = v["subject"]?.arrayValue, !subj.isEmpty,
              let build = v["predicate"]?["buildDefinition"], let run = v["predicate"]?["runDetails"],
              let buildType = build["buildType"]?.stringValue, let builderID = run["builder"]?["id"]?.stringValue
        else { throw FirmchainError.malformedStatement("not an in-toto Statement v1 with an SLSA Provenance v1 predicate") }
        let subjects = try subj.map { s -> LedgerSubject in
            let r = try ResourceDescriptor(json: s)
            return LedgerSubject(name: r.name, digests: r.digest)
        }
        self.init(subjects: subjects, buildType: buildType, externalParameters: build["externalParameters"]?.objectValue ?? [:],
                  internalParameters: build["internalParameters"]?.objectValue ?? [:],
                  resolvedDependencies: try (build["resolvedDependencies"]?.arrayValue ?? []).map(ResourceDescriptor.init(json:)),
                  builderID: builderID, builderVersion: (run["builder"]?["version"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
                  invocationID: run["metadata"]?["invocationId"]?.stringValue,
                  startedOn: run["metadata"]?["startedOn"]?.stringValue.flatMap(UTCTimestamp.date(from:)),
                  finishedOn: run["metadata"]?["finishedOn"]?.stringValue.flatMap(UTCTimestamp.date(from:)),
                  byproducts: try (run["byproducts"]?.arrayValue ?? []).map(ResourceDescriptor.init(json:)))
    }

    /// The DSSE payload: compact JSON with sorted keys.
    public var payload: [UInt8] { JSONEncoding.standard(json, indent: 0) }

    /// Signs the statement as a DSSE envelope (payload type `application/vnd.in-toto+json`).
    public func signed(by signers: [any Signer]) throws -> DSSEEnvelope {
        try DSSEEnvelope.sign(payload: payload, payloadType: DSSEEnvelope.inTotoPayloadType, signers: signers)
    }

    /// What the release run was, for `release(targets:…)`.
    public struct RunDetails: Sendable {
        /// `builder.id`: the CI system or host that ran the pipeline.
        public var builderID: String
        /// `builder.version`, e.g. `["firmchain": "0.1.0"]`.
        public var builderVersion: [String: String]
        /// The pipeline's parameters (pipeline file, version, hardware ids, bases).
        public var externalParameters: [String: JSONValue]
        /// An identifier of this run, if the CI has one.
        public var invocationID: String?
        /// When the run started and finished.
        public var startedOn: Date?, finishedOn: Date?

        /// Run details from their parts.
        public init(builderID: String, builderVersion: [String: String] = [:], externalParameters: [String: JSONValue] = [:],
                    invocationID: String? = nil, startedOn: Date? = nil, finishedOn: Date? = nil) {
            self.builderID = builderID
            self.builderVersion = builderVersion
            self.externalParameters = externalParameters
            self.invocationID = invocationID
            self.startedOn = startedOn
            self.finishedOn = finishedOn
        }
    }

    /// One statement per released target. The resolved dependencies are the chain's inputs:
    /// walking `links` in step order, every material that no earlier step produced with the
    /// same name and bytes (the images the pipeline read, the repository state and keys it
    /// started from); the byproducts are the link files (by `custody/<file>` and sha256).
    public static func release(targets: [LedgerSubject], links: [(file: String, link: SignedLink)], run: RunDetails) -> [ProvenanceStatement] {
        var produced = Set<String>()
        var inputs = [String: ArtifactDigests]()
        for (_, l) in links {
            for (p, d) in l.link.materials where !produced.contains(p + "\u{0}" + (d["sha256"] ?? "")) && inputs[p] == nil { inputs[p] = d }
            for (p, d) in l.link.products { produced.insert(p + "\u{0}" + (d["sha256"] ?? "")) }
        }
        let deps = inputs.keys.sorted().map { ResourceDescriptor(name: $0, digest: inputs[$0]!) }
        let byproducts = links.sorted { $0.file < $1.file }.map {
            ResourceDescriptor(name: "custody/" + $0.file, digest: ["sha256": DigestCalculator.sha256Hex($0.link.envelope.fileBytes)])
        }
        return targets.map {
            ProvenanceStatement(subjects: [$0], externalParameters: run.externalParameters, resolvedDependencies: deps,
                                builderID: run.builderID, builderVersion: run.builderVersion, invocationID: run.invocationID,
                                startedOn: run.startedOn, finishedOn: run.finishedOn, byproducts: byproducts)
        }
    }
}
