import FirmchainCore
import Signing

/// The digests of one artefact as in-toto records them: algorithm name → lower-case hex
/// (in-toto spec §4.2 "HASH_OBJ"). Firmchain records `sha256`.
public typealias ArtifactDigests = [String: String]

/// An in-toto link (in-toto spec v0.9 §4.3, the format `in-toto-verify` 3.x reads): evidence that
/// one step ran — the artefacts it read (materials) and wrote (products), with their sha256, the
/// command, byproducts and a chosen subset of the environment.
///
/// Artefact paths are relative to the release directory `OUT` (Docs/architecture.md "Release directory"), `/`-separated,
/// without `.` or `..` parts. A link is shipped as a DSSE envelope (`SignedLink`) named
/// `<step>.<first 8 hex of keyid>.link`.
public struct InTotoLink: Sendable, Hashable {
    /// The step name; equals the layout step it is evidence for.
    public var name: String
    /// Artefacts the step read: path → digests.
    public var materials: [String: ArtifactDigests]
    /// Artefacts the step wrote: path → digests.
    public var products: [String: ArtifactDigests]
    /// What the step reported besides its products (in-toto keys: `stdout`, `stderr`,
    /// `return-value`; Firmchain adds its own under other names).
    public var byproducts: [String: JSONValue]
    /// The command that ran, as argv.
    public var command: [String]
    /// The recorded environment subset (never secrets: no PINs, no passphrases).
    public var environment: [String: JSONValue]
    /// Members of the link Firmchain does not interpret, kept for re-encoding.
    public var unrecognized: [String: JSONValue]

    /// A link from its parts.
    public init(name: String, materials: [String: ArtifactDigests] = [:], products: [String: ArtifactDigests] = [:],
                byproducts: [String: JSONValue] = [:], command: [String] = [], environment: [String: JSONValue] = [:],
                unrecognized: [String: JSONValue] = [:]) {
        self.name = name
        self.materials = materials
        self.products = products
        self.byproducts = byproducts
        self.command = command
        self.environment = environment
        self.unrecognized = unrecognized
    }

    /// Reads a link object (`_type` must be `link`).
    ///
    /// - Throws: `custody.malformed-metadata`.
    public init(json: JSONValue, path: String? = nil) throws {
        let bad = { (r: String) in FirmchainError.malformedMetadata(r, path: path) }
        var f = try JSONFields(json, "link", error: bad)
        guard try f.string("_type") == "link" else { throw bad("link._type is not \"link\"") }
        name = try f.string("name")
        materials = try Self.artifacts(f.optional("materials") ?? .object([:]), "link.materials", bad)
        products = try Self.artifacts(f.optional("products") ?? .object([:]), "link.products", bad)
        guard let bp = (f.optional("byproducts") ?? .object([:])).objectValue else { throw bad("link.byproducts is not an object") }
        byproducts = bp
        guard let cmd = (f.optional("command") ?? .array([])).arrayValue else { throw bad("link.command is not a list") }
        command = try cmd.map { guard let s = $0.stringValue else { throw bad("link.command holds a non-string") }; return s }
        guard let env = (f.optional("environment") ?? .object([:])).objectValue else { throw bad("link.environment is not an object") }
        environment = env
        unrecognized = f.rest
    }

    private static func artifacts(_ v: JSONValue, _ ctx: String, _ bad: (String) -> FirmchainError) throws -> [String: ArtifactDigests] {
        guard let o = v.objectValue else { throw bad("\(ctx) is not an object") }
        var out = [String: ArtifactDigests]()
        for (path, digests) in o {
            guard let d = digests.objectValue, !d.isEmpty else { throw bad("\(ctx)[\(path)] is not a non-empty digest object") }
            var set = ArtifactDigests()
            for (alg, hex) in d {
                guard let h = hex.stringValue, !h.isEmpty, Hex.decode(h) != nil else { throw bad("\(ctx)[\(path)].\(alg) is not hex") }
                set[alg] = h
            }
            out[path] = set
        }
        return out
    }

    /// The link as in-toto metadata.
    public var json: JSONValue {
        func arts(_ a: [String: ArtifactDigests]) -> JSONValue { .object(a.mapValues { .object($0.mapValues { .string($0) }) }) }
        return .object((["_type": "link", "name": .string(name), "materials": arts(materials), "products": arts(products),
                         "byproducts": .object(byproducts), "command": .array(command.map { .string($0) }),
                         "environment": .object(environment)] as [String: JSONValue]).merging(unknown: unrecognized))
    }

    /// The DSSE payload: compact standard JSON with sorted keys. Not canonical JSON on purpose:
    /// DSSE signs exact bytes, and Python's strict JSON reader refuses the raw control
    /// characters canonical JSON would write.
    public var payload: [UInt8] { JSONEncoding.standard(json, indent: 0) }

    /// The file name `in-toto-verify` looks for: `<step>.<first 8 hex of keyid>.link`
    /// (in-toto `FILENAME_FORMAT`).
    public static func fileName(step: String, keyid: String) -> String { "\(step).\(keyid.prefix(8)).link" }

    /// Signs the link as a DSSE envelope (payload type `application/vnd.in-toto+json`).
    public func signed(by signer: any Signer) throws -> SignedLink {
        let env = try DSSEEnvelope.sign(payload: payload, payloadType: DSSEEnvelope.inTotoPayloadType, signers: [signer])
        return SignedLink(link: self, envelope: env)
    }
}

/// A link with the envelope that carries it.
public struct SignedLink: Sendable, Hashable {
    /// The link as parsed from the envelope's payload.
    public let link: InTotoLink
    /// The DSSE envelope (the bytes on disk).
    public let envelope: DSSEEnvelope

    /// A link and its envelope.
    public init(link: InTotoLink, envelope: DSSEEnvelope) {
        self.link = link
        self.envelope = envelope
    }

    /// The keyid of the (first) signature: the functionary that ran the step.
    public var keyid: String { envelope.signatures.first?.keyid ?? "" }

    /// `<step>.<keyid8>.link`.
    public var fileName: String { InTotoLink.fileName(step: link.name, keyid: keyid) }

    /// Reads a link file: a DSSE envelope with an in-toto payload whose `_type` is `link`.
    /// (Links in the older Metablock form are refused: Firmchain writes and accepts DSSE only.)
    ///
    /// - Throws: `custody.malformed-envelope`, `custody.malformed-metadata`, I/O errors.
    public init(file path: String) throws {
        try self.init(bytes: try FileIO.read(path, limit: DSSEEnvelope.sizeLimit), path: path)
    }

    /// Reads a link from the bytes of its file; `path` is named in errors.
    public init(bytes: [UInt8], path: String) throws {
        let env = try DSSEEnvelope(bytes: bytes, path: path)
        guard env.payloadType == DSSEEnvelope.inTotoPayloadType else {
            throw FirmchainError.malformedEnvelope("payload type \"\(env.payloadType)\" is not \(DSSEEnvelope.inTotoPayloadType)", path: path)
        }
        let value: JSONValue
        do { value = try JSONReader().parse(env.payload, path: path) } catch let e as FirmchainError {
            throw FirmchainError.malformedMetadata("the payload is not JSON: \(e.reason)", path: path)
        }
        self.init(link: try InTotoLink(json: value, path: path), envelope: env)
    }
}
