import Foundation
import FirmchainCore
import Signing

/// One artefact an action touched: a name (a path relative to `OUT`, a target name, a key URI)
/// and its digests.
public struct LedgerSubject: Sendable, Hashable {
    /// What the artefact is called.
    public var name: String
    /// Algorithm → hex (Firmchain records `sha256`).
    public var digests: ArtifactDigests

    /// A subject from its parts.
    public init(name: String, digests: ArtifactDigests) {
        self.name = name
        self.digests = digests
    }

    /// A subject with one sha256 digest.
    public init(name: String, sha256: String) { self.init(name: name, digests: ["sha256": sha256]) }

    var json: JSONValue { ["name": .string(name), "digest": .object(digests.mapValues { .string($0) })] }

    init(json: JSONValue) throws {
        guard let o = json.objectValue, let n = o["name"]?.stringValue, let d = o["digest"]?.objectValue, !d.isEmpty else {
            throw LedgerLineError("a subject needs a name and a digest object")
        }
        var digests = ArtifactDigests()
        for (k, v) in d {
            guard let h = v.stringValue, Hex.decode(h) != nil else { throw LedgerLineError("subject \(n): digest \(k) is not hex") }
            digests[k] = h
        }
        self.init(name: n, digests: digests)
    }

    /// Subjects for a link's artefacts, sorted by name.
    public static func from(_ artifacts: [String: ArtifactDigests]) -> [LedgerSubject] {
        artifacts.keys.sorted().map { LedgerSubject(name: $0, digests: artifacts[$0]!) }
    }
}

/// What a caller asks the ledger to record: everything except the sequence number, time and
/// chain hash, which the ledger assigns under its lock.
public struct LedgerRecord: Sendable, Hashable {
    /// What happened, as a dotted name: `step.delta`, `key.generate`, `key.sign`,
    /// `ledger.checkpoint`, `ledger.torn-tail-discarded` (Docs/custody.md lists them).
    public var action: String
    /// The keyid (securesystemslib form) of the key that acted.
    public var actor: String
    /// What the action produced or acted upon.
    public var subjects: [LedgerSubject]
    /// What it read, if anything.
    public var inputs: [LedgerSubject]
    /// Other facts (link file name, command, key description); never secrets.
    public var details: [String: JSONValue]

    /// A record from its parts.
    public init(action: String, actor: String, subjects: [LedgerSubject] = [], inputs: [LedgerSubject] = [], details: [String: JSONValue] = [:]) {
        self.action = action
        self.actor = actor
        self.subjects = subjects
        self.inputs = inputs
        self.details = details
    }

    /// The record for a step that produced `link`, signed by the key with `actor`'s keyid.
    public static func step(_ link: InTotoLink, actor: String, linkFile: String) -> LedgerRecord {
        LedgerRecord(action: "step.\(link.name)", actor: actor, subjects: LedgerSubject.from(link.products),
                     inputs: LedgerSubject.from(link.materials),
                     details: ["link": .string(linkFile), "command": .array(link.command.map { .string($0) })])
    }
}

/// One line of `custody/ledger.jsonl` (ledger format version 1, Docs/custody.md):
///
/// ```
/// {"action":"step.delta","actor":KEYID,"details":{…},"inputs":[…],"prev":HEX64,"seq":N,
///  "subjects":[{"digest":{"sha256":HEX},"name":"build/deltas/x.bsdiff"}],"time":"…Z","version":1}
/// ```
///
/// `prev` is the sha256 of the previous line's bytes (without its newline); the first entry has
/// 64 zeros. A checkpoint entry (`action` `ledger.checkpoint`) also has `signatures`: DSSE-style
/// signatures over PAE(`application/vnd.firmchain.ledger-checkpoint+json`, the entry's line
/// without `signatures`), so it commits to every entry before it.
public struct LedgerEntry: Sendable, Hashable {
    /// The ledger format version Firmchain writes and reads.
    public static let formatVersion: Int64 = 1
    /// `prev` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)
    /// The DSSE payload type checkpoint signatures cover.
    public static let checkpointPayloadType = "application/vnd.firmchain.ledger-checkpoint+json"
    /// The action name of checkpoints.
    public static let checkpointAction = "ledger.checkpoint"

    /// The format version (1).
    public var version: Int64
    /// Position in the ledger, from 1, without gaps.
    public var seq: Int64
    /// When it was recorded (whole seconds, UTC).
    public var time: Date
    /// The record.
    public var record: LedgerRecord
    /// sha256 hex of the previous line.
    public var prev: String
    /// Checkpoint signatures (empty for other entries).
    public var signatures: [DSSESignature]
    /// Members Firmchain does not interpret, kept (Docs/architecture.md "Data types; unknown fields survive").
    public var unrecognized: [String: JSONValue]

    /// An entry from its parts.
    public init(seq: Int64, time: Date, record: LedgerRecord, prev: String, signatures: [DSSESignature] = [],
                version: Int64 = LedgerEntry.formatVersion, unrecognized: [String: JSONValue] = [:]) {
        self.version = version
        self.seq = seq
        self.time = time
        self.record = record
        self.prev = prev
        self.signatures = signatures
        self.unrecognized = unrecognized
    }

    /// Whether this entry is a signed checkpoint.
    public var isCheckpoint: Bool { record.action == Self.checkpointAction }

    /// The entry as JSON (with or without its signatures).
    func json(includingSignatures: Bool = true) -> JSONValue {
        var o: [String: JSONValue] = [
            "version": .int(version), "seq": .int(seq), "time": .string(UTCTimestamp.string(from: time)),
            "actor": .string(record.actor), "action": .string(record.action), "subjects": .array(record.subjects.map(\.json)),
            "prev": .string(prev),
        ]
        if !record.inputs.isEmpty { o["inputs"] = .array(record.inputs.map(\.json)) }
        if !record.details.isEmpty { o["details"] = .object(record.details) }
        if includingSignatures && !signatures.isEmpty { o["signatures"] = .array(signatures.map(\.json)) }
        return .object(o.merging(unknown: unrecognized))
    }

    /// The line bytes (no newline): compact JSON with sorted keys and escaped control
    /// characters, so one entry is always exactly one line.
    public var line: [UInt8] { JSONEncoding.standard(json(), indent: 0) }

    /// What checkpoint signatures cover.
    public var checkpointSignedBytes: [UInt8] {
        DSSEEnvelope.pae(payloadType: Self.checkpointPayloadType, payload: JSONEncoding.standard(json(includingSignatures: false), indent: 0))
    }

    /// Parses one line. The line must be exactly the encoding Firmchain writes (so that a
    /// reformatted line is reported, not silently accepted).
    init(line: ArraySlice<UInt8>) throws {
        let value: JSONValue
        do { value = try JSONReader(maxDepth: 32).parse(line) } catch let e as FirmchainError { throw LedgerLineError("not JSON: \(e.reason)") }
        guard var o = value.objectValue else { throw LedgerLineError("not a JSON object") }
        func take(_ k: String) -> JSONValue? { o.removeValue(forKey: k) }
        guard let v = take("version")?.int64Value else { throw LedgerLineError("no integer version") }
        guard v == Self.formatVersion else { throw LedgerLineError("ledger format version \(v) is not 1") }
        guard let seq = take("seq")?.int64Value, seq >= 1 else { throw LedgerLineError("no positive integer seq") }
        guard let t = take("time")?.stringValue, let time = UTCTimestamp.date(from: t) else { throw LedgerLineError("no YYYY-MM-DDTHH:MM:SSZ time") }
        guard let actor = take("actor")?.stringValue, let action = take("action")?.stringValue, !action.isEmpty else {
            throw LedgerLineError("no actor or action")
        }
        guard let prev = take("prev")?.stringValue, prev.utf8.count == 64, Hex.decode(prev) != nil else { throw LedgerLineError("prev is not 64 hex digits") }
        guard let subjects = (take("subjects") ?? .array([])).arrayValue, let inputs = (take("inputs") ?? .array([])).arrayValue,
              let details = (take("details") ?? .object([:])).objectValue else { throw LedgerLineError("subjects, inputs or details malformed") }
        var sigs = [DSSESignature]()
        for s in (take("signatures") ?? .array([])).arrayValue ?? [] {
            guard let keyid = s["keyid"]?.stringValue, let b = s["sig"]?.stringValue, let sig = Base64.decode(b, lenient: true) else {
                throw LedgerLineError("a checkpoint signature is malformed")
            }
            sigs.append(DSSESignature(keyid: keyid, sig: sig))
        }
        self.init(seq: seq, time: time,
                  record: LedgerRecord(action: action, actor: actor, subjects: try subjects.map(LedgerSubject.init(json:)),
                                       inputs: try inputs.map(LedgerSubject.init(json:)), details: details),
                  prev: prev, signatures: sigs, version: v, unrecognized: o)
        guard self.line.elementsEqual(line) else { throw LedgerLineError("not in the ledger's encoding (compact JSON, sorted keys): edited by hand?") }
    }

    /// Whether a key `ring` trusts for checkpoints at the entry's own time validly signed
    /// this checkpoint (a key revoked as compromised never counts).
    public func isSigned(in ring: KeyRing) -> Bool {
        ring.tally(signatures.map { ($0.keyid, $0.sig) }, over: checkpointSignedBytes, role: .checkpoint, threshold: 1, at: time).isMet
    }
}

/// Why one ledger line could not be read (internal; reported as a failed check).
struct LedgerLineError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
