import Foundation
import FirmchainCore
import Signing

/// One artifact rule of an in-toto layout (in-toto spec v0.9 §4.3.3), in the list form
/// `in-toto-verify` reads: `["MATCH", pattern, ("IN", prefix)?, "WITH", "MATERIALS"|"PRODUCTS",
/// ("IN", prefix)?, "FROM", step]`, `["CREATE"|"DELETE"|"MODIFY"|"ALLOW"|"DISALLOW"|"REQUIRE", pattern]`.
/// Patterns are Python `fnmatch` patterns: `*` also matches `/`.
public enum ArtifactRule: Sendable, Hashable, CustomStringConvertible {
    /// Which artefacts of another step a MATCH rule compares with.
    public enum Side: String, Sendable, Hashable {
        case materials, products
    }

    /// Consumes queued artefacts matching `pattern` (under `sourcePrefix`) whose digests equal
    /// those of the same path (under `destinationPrefix`) in `side` of step `step`.
    case match(pattern: String, sourcePrefix: String?, side: Side, destinationPrefix: String?, step: String)
    /// Consumes matching artefacts that are products but not materials.
    case create(String)
    /// Consumes matching artefacts that are materials but not products.
    case delete(String)
    /// Consumes matching artefacts that are both, with different digests.
    case modify(String)
    /// Consumes matching artefacts.
    case allow(String)
    /// Fails if any queued artefact matches.
    case disallow(String)
    /// Fails unless the literal path is still queued.
    case require(String)

    /// Reads a rule from its list form (keywords are case-insensitive, as in in-toto's rulelib).
    public init(_ words: [String]) throws {
        let bad = { FirmchainError.malformedMetadata("unknown artifact rule \(words)") }
        guard words.count >= 2 else { throw bad() }
        let lower = words.map { $0.lowercased() }
        let p = words[1]
        switch lower[0] {
        case "create" where words.count == 2: self = .create(p)
        case "delete" where words.count == 2: self = .delete(p)
        case "modify" where words.count == 2: self = .modify(p)
        case "allow" where words.count == 2: self = .allow(p)
        case "disallow" where words.count == 2: self = .disallow(p)
        case "require" where words.count == 2: self = .require(p)
        case "match":
            var i = 2
            var src: String?, dst: String?
            if words.count > i + 1, lower[i] == "in" { src = words[i + 1]; i += 2 }
            guard words.count > i + 1, lower[i] == "with", let side = Side(rawValue: lower[i + 1]) else { throw bad() }
            i += 2
            if words.count > i + 1, lower[i] == "in" { dst = words[i + 1]; i += 2 }
            guard words.count == i + 2, lower[i] == "from" else { throw bad() }
            self = .match(pattern: p, sourcePrefix: src, side: side, destinationPrefix: dst, step: words[i + 1])
        default: throw bad()
        }
    }

    /// The list form.
    public var words: [String] {
        switch self {
        case .match(let p, let src, let side, let dst, let step):
            var w = ["MATCH", p]
            if let src { w += ["IN", src] }
            w += ["WITH", side.rawValue.uppercased()]
            if let dst { w += ["IN", dst] }
            return w + ["FROM", step]
        case .create(let p): return ["CREATE", p]
        case .delete(let p): return ["DELETE", p]
        case .modify(let p): return ["MODIFY", p]
        case .allow(let p): return ["ALLOW", p]
        case .disallow(let p): return ["DISALLOW", p]
        case .require(let p): return ["REQUIRE", p]
        }
    }

    /// The rule in in-toto's list form joined by spaces, e.g.
    /// `MATCH build/deltas/* WITH PRODUCTS FROM delta`.
    public var description: String { words.joined(separator: " ") }

    var json: JSONValue { .array(words.map { .string($0) }) }

    static func list(_ v: JSONValue?, _ ctx: String, _ bad: (String) -> FirmchainError) throws -> [ArtifactRule] {
        guard let a = (v ?? .array([])).arrayValue else { throw bad("\(ctx) is not a list") }
        return try a.map { r in
            guard let words = r.arrayValue?.compactMap(\.stringValue), words.count == r.arrayValue?.count else {
                throw bad("\(ctx) holds a rule that is not a list of strings")
            }
            return try ArtifactRule(words)
        }
    }
}

/// A step of a layout (in-toto spec §4.3.1): who may run it, how many must agree, and what it
/// may read and write.
public struct LayoutStep: Sendable, Hashable {
    /// The step name; its links are `<name>.<keyid8>.link`.
    public var name: String
    /// Rules over the step's materials.
    public var expectedMaterials: [ArtifactRule]
    /// Rules over the step's products.
    public var expectedProducts: [ArtifactRule]
    /// Keyids of the functionaries allowed to sign links for the step.
    public var pubkeys: [String]
    /// The command the step is expected to run (a mismatch is only a warning in in-toto).
    public var expectedCommand: [String]
    /// How many distinct functionaries must sign links that agree.
    public var threshold: Int
    /// Members Firmchain does not interpret.
    public var unrecognized: [String: JSONValue] = [:]

    /// A step from its parts.
    public init(name: String, expectedMaterials: [ArtifactRule], expectedProducts: [ArtifactRule], pubkeys: [String],
                expectedCommand: [String] = [], threshold: Int = 1) {
        self.name = name
        self.expectedMaterials = expectedMaterials
        self.expectedProducts = expectedProducts
        self.pubkeys = pubkeys
        self.expectedCommand = expectedCommand
        self.threshold = threshold
    }

    init(json: JSONValue, _ bad: @escaping (String) -> FirmchainError) throws {
        var f = try JSONFields(json, "step", error: bad)
        guard (f.optional("_type")?.stringValue ?? "step") == "step" else { throw bad("step._type is not \"step\"") }
        name = try f.string("name")
        expectedMaterials = try ArtifactRule.list(f.optional("expected_materials"), "step \(name) expected_materials", bad)
        expectedProducts = try ArtifactRule.list(f.optional("expected_products"), "step \(name) expected_products", bad)
        pubkeys = f.rest["pubkeys"] == nil ? [] : try f.strings("pubkeys")
        expectedCommand = f.rest["expected_command"] == nil ? [] : try f.strings("expected_command")
        if let t = f.optional("threshold") {
            guard let v = t.int64Value, v >= 1, v <= 1000 else { throw bad("step \(name) threshold must be an integer of at least 1") }
            threshold = Int(v)
        } else { threshold = 1 }
        unrecognized = f.rest
    }

    var json: JSONValue {
        .object((["_type": "step", "name": .string(name), "expected_materials": .array(expectedMaterials.map(\.json)),
                  "expected_products": .array(expectedProducts.map(\.json)), "pubkeys": .array(pubkeys.map { .string($0) }),
                  "expected_command": .array(expectedCommand.map { .string($0) }), "threshold": .int(threshold)] as [String: JSONValue])
            .merging(unknown: unrecognized))
    }
}

/// An inspection (in-toto spec §4.3.2): a command the verifier runs in the release directory,
/// recording every file there as materials and products, then checking them by rules.
public struct LayoutInspection: Sendable, Hashable {
    /// The inspection name.
    public var name: String
    /// Rules over the files present before the command.
    public var expectedMaterials: [ArtifactRule]
    /// Rules over the files present after the command.
    public var expectedProducts: [ArtifactRule]
    /// The command, as argv.
    public var run: [String]
    /// Members Firmchain does not interpret.
    public var unrecognized: [String: JSONValue] = [:]

    /// An inspection from its parts.
    public init(name: String, expectedMaterials: [ArtifactRule], expectedProducts: [ArtifactRule], run: [String]) {
        self.name = name
        self.expectedMaterials = expectedMaterials
        self.expectedProducts = expectedProducts
        self.run = run
    }

    init(json: JSONValue, _ bad: @escaping (String) -> FirmchainError) throws {
        var f = try JSONFields(json, "inspection", error: bad)
        guard (f.optional("_type")?.stringValue ?? "inspection") == "inspection" else { throw bad("inspection._type is not \"inspection\"") }
        name = try f.string("name")
        expectedMaterials = try ArtifactRule.list(f.optional("expected_materials"), "inspection \(name) expected_materials", bad)
        expectedProducts = try ArtifactRule.list(f.optional("expected_products"), "inspection \(name) expected_products", bad)
        run = f.rest["run"] == nil ? [] : try f.strings("run")
        unrecognized = f.rest
    }

    var json: JSONValue {
        .object((["_type": "inspection", "name": .string(name), "expected_materials": .array(expectedMaterials.map(\.json)),
                  "expected_products": .array(expectedProducts.map(\.json)), "run": .array(run.map { .string($0) })] as [String: JSONValue])
            .merging(unknown: unrecognized))
    }
}

/// An in-toto layout (in-toto spec v0.9 §4.3): the supply chain the owner allows — steps in
/// order, the functionaries' public keys, inspections, and an expiry.
public struct InTotoLayout: Sendable, Hashable {
    /// The steps, in the order they run.
    public var steps: [LayoutStep]
    /// The inspections the verifier runs after the steps' rules.
    public var inspections: [LayoutInspection]
    /// Functionary keys by keyid, in securesystemslib form (each also carries its `keyid`).
    public var keys: [String: TUFKey]
    /// When the layout stops being valid (`YYYY-MM-DDTHH:MM:SSZ`).
    public var expires: Date
    /// Free text for people.
    public var readme: String
    /// Members Firmchain does not interpret. (`in-toto-verify` signs only the members it knows,
    /// so a Metablock layout with extra members fails there; Firmchain writes none.)
    public var unrecognized: [String: JSONValue] = [:]

    /// A layout from its parts.
    public init(steps: [LayoutStep], inspections: [LayoutInspection] = [], keys: [String: TUFKey], expires: Date, readme: String = "") {
        self.steps = steps
        self.inspections = inspections
        self.keys = keys
        self.expires = expires
        self.readme = readme
    }

    /// The securesystemslib key object a layout lists for `publicKey`: keytype, scheme,
    /// keyval and (as in-toto writes it) the keyid itself.
    public static func key(for publicKey: PublicKey) -> TUFKey {
        let k = TUFKey(publicKey)
        return TUFKey(keytype: k.keytype, scheme: k.scheme, publicValue: k.publicValue, unrecognized: ["keyid": .string(k.keyid)])
    }

    /// Reads a layout object (`_type` must be `layout`).
    ///
    /// - Throws: `custody.malformed-metadata`.
    public init(json: JSONValue, path: String? = nil) throws {
        let bad = { (r: String) in FirmchainError.malformedMetadata(r, path: path) }
        var f = try JSONFields(json, "layout", error: bad)
        guard try f.string("_type") == "layout" else { throw bad("layout._type is not \"layout\"") }
        let exp = try f.string("expires")
        guard let date = UTCTimestamp.date(from: exp) else { throw bad("layout.expires \"\(exp)\" is not YYYY-MM-DDTHH:MM:SSZ") }
        expires = date
        readme = f.optional("readme")?.stringValue ?? ""
        steps = try f.array("steps").map { try LayoutStep(json: $0, bad) }
        inspections = try (f.optional("inspect")?.arrayValue ?? []).map { try LayoutInspection(json: $0, bad) }
        var keys = [String: TUFKey]()
        for (id, k) in try f.object("keys") {
            do { keys[id] = try TUFKey(json: k, error: bad) } catch { throw bad("layout.keys[\(id)] is not a key: \(error)") }
        }
        self.keys = keys
        let names = steps.map(\.name) + inspections.map(\.name)
        guard Set(names).count == names.count else { throw bad("layout has two steps or inspections with the same name") }
        unrecognized = f.rest
    }

    /// The layout as in-toto metadata.
    public var json: JSONValue {
        .object((["_type": "layout", "expires": .string(UTCTimestamp.string(from: expires)), "readme": .string(readme),
                  "steps": .array(steps.map(\.json)), "inspect": .array(inspections.map(\.json)),
                  "keys": .object(keys.mapValues(\.json))] as [String: JSONValue]).merging(unknown: unrecognized))
    }

    /// Signs the layout with the owner key(s) in `format`.
    public func signed(by owners: [any Signer], format: LayoutFormat = .metablock) throws -> SignedLayout {
        guard !owners.isEmpty else { throw FirmchainError(.custodyNoSigner, "a layout needs at least one owner key") }
        switch format {
        case .metablock:
            let bytes = try JSONEncoding.canonical(json)
            var sigs = [DSSESignature]()
            for o in owners {
                let key = TUFKey(o.publicKey)
                sigs.append(DSSESignature(keyid: key.keyid, sig: try o.sign(bytes, algorithm: key.algorithm ?? o.supportedAlgorithms[0])))
            }
            return SignedLayout(layout: self, format: .metablock, signatures: sigs, envelope: nil)
        case .dsse:
            let env = try DSSEEnvelope.sign(payload: JSONEncoding.standard(json, indent: 0), payloadType: DSSEEnvelope.inTotoPayloadType, signers: owners)
            return SignedLayout(layout: self, format: .dsse, signatures: env.signatures, envelope: env)
        }
    }
}

/// How a signed layout is stored. `in-toto-verify` 3.x reads both, and either works with DSSE
/// links (see Docs/custody.md); Firmchain writes `metablock` by default, the form every
/// in-toto implementation reads.
public enum LayoutFormat: String, Sendable, CaseIterable {
    /// `{"signed": layout, "signatures": [{keyid, sig(hex)}]}`, signatures over the OLPC
    /// canonical JSON of `signed` (in-toto spec §4.2).
    case metablock
    /// A DSSE envelope with the layout as its payload (in-toto ITE-5).
    case dsse
}

/// A layout with the owner signatures that make it authoritative.
public struct SignedLayout: Sendable, Hashable {
    /// The layout.
    public let layout: InTotoLayout
    /// How it is stored.
    public let format: LayoutFormat
    /// Owner signatures (hex-decoded for Metablock).
    public let signatures: [DSSESignature]
    /// For DSSE layouts, the envelope as read (its payload is what was signed).
    public let envelope: DSSEEnvelope?
    /// For Metablock layouts, the canonical bytes of `signed` as read.
    let signedBytes: [UInt8]?

    init(layout: InTotoLayout, format: LayoutFormat, signatures: [DSSESignature], envelope: DSSEEnvelope?) {
        self.layout = layout
        self.format = format
        self.signatures = signatures
        self.envelope = envelope
        self.signedBytes = nil
    }

    /// The file bytes: pretty JSON for a Metablock (people read layouts), one line for DSSE.
    public var fileBytes: [UInt8] {
        if let envelope { return envelope.fileBytes }
        let sigs = JSONValue.array(signatures.map { ["keyid": .string($0.keyid), "sig": .string(Hex.encode($0.sig))] })
        return JSONEncoding.standard(["signed": layout.json, "signatures": sigs], indent: 1)
    }

    /// Reads a layout file in either format.
    ///
    /// - Throws: `custody.malformed-envelope`, `custody.malformed-metadata`, I/O errors.
    public init(file path: String) throws {
        try self.init(bytes: try FileIO.read(path, limit: DSSEEnvelope.sizeLimit), path: path)
    }

    /// Reads a layout, in either format, from the bytes of a file; `path` is named in errors.
    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count <= DSSEEnvelope.sizeLimit else { throw FirmchainError(.ioTooLarge, "is larger than \(DSSEEnvelope.sizeLimit) bytes", path: path) }
        let value: JSONValue
        do { value = try JSONReader().parse(bytes, path: path) } catch let e as FirmchainError { throw FirmchainError.malformedMetadata(e.reason, path: path) }
        if value["payload"] != nil {
            let env = try DSSEEnvelope(json: value, path: path)
            guard env.payloadType == DSSEEnvelope.inTotoPayloadType else {
                throw FirmchainError.malformedEnvelope("payload type \"\(env.payloadType)\" is not \(DSSEEnvelope.inTotoPayloadType)", path: path)
            }
            let inner: JSONValue
            do { inner = try JSONReader().parse(env.payload, path: path) } catch let e as FirmchainError {
                throw FirmchainError.malformedMetadata("the payload is not JSON: \(e.reason)", path: path)
            }
            layout = try InTotoLayout(json: inner, path: path)
            format = .dsse
            signatures = env.signatures
            envelope = env
            signedBytes = nil
        } else {
            let bad = { (r: String) in FirmchainError.malformedMetadata(r, path: path) }
            var f = try JSONFields(value, "metablock", error: bad)
            let signed = try f.take("signed")
            layout = try InTotoLayout(json: signed, path: path)
            var sigs = [DSSESignature]()
            for (i, s) in try f.array("signatures").enumerated() {
                var sf = try JSONFields(s, "signatures[\(i)]", error: bad)
                let keyid = try sf.string("keyid")
                guard let sig = Hex.decode(try sf.string("sig")) else { throw bad("signatures[\(i)].sig is not hex") }
                sigs.append(DSSESignature(keyid: keyid, sig: sig, unrecognized: sf.rest))
            }
            format = .metablock
            signatures = sigs
            envelope = nil
            do { signedBytes = try JSONEncoding.canonical(signed) } catch { throw bad("the layout contains a float, which canonical JSON cannot sign") }
        }
    }

    /// in-toto-verify's first check: every owner key `ring` trusts at `time` must have a valid
    /// signature on the layout (a key without one, or with a bad one, fails: the threshold is
    /// the number of owner keys). Returns which keys signed.
    public func verify(ring: KeyRing, at time: Date) -> ThresholdTally {
        let owners = ring.keyids(for: .owner)
        if let envelope { return envelope.verify(ring: ring, role: .owner, members: owners, threshold: max(1, owners.count), at: time) }
        let message = signedBytes ?? ((try? JSONEncoding.canonical(layout.json)) ?? [])
        return ring.tally(signatures.map { ($0.keyid, $0.sig) }, over: message, members: owners, role: .owner, threshold: max(1, owners.count), at: time)
    }
}
