import FirmchainCore
import Foundation
import Signing

/// Dead Simple Signing Envelope (DSSE v1.0, secure-systems-lab/dsse `envelope.md` and
/// `protocol.md`): a payload, its type, and signatures over the pre-authentication encoding
/// (PAE) of both — never over re-serialised JSON, so the signed bytes are exactly the bytes
/// shipped.
///
/// Firmchain puts in-toto links (payload type `application/vnd.in-toto+json`) and SLSA
/// provenance statements in DSSE. Each signature carries the securesystemslib keyid of its key
/// (sha256 of the canonical `{keytype, scheme, keyval}`), because `in-toto-verify` and
/// securesystemslib only try keys whose keyid matches (Docs/formats/interop.md "in-toto and DSSE").
public struct DSSEEnvelope: Sendable, Hashable {
    /// The payload type of in-toto links, layouts and statements (in-toto ITE-5, attestation spec).
    public static let inTotoPayloadType = "application/vnd.in-toto+json"

    /// The exact payload bytes the signatures cover.
    public let payload: [UInt8]
    /// How to interpret the payload (a media type).
    public let payloadType: String
    /// The signatures, each over `DSSEEnvelope.pae(payloadType:payload:)`.
    public let signatures: [DSSESignature]
    /// Members of the envelope Firmchain does not interpret, kept for re-encoding.
    public let unrecognized: [String: JSONValue]

    /// Largest envelope file Firmchain reads (links and statements are far smaller).
    public static let sizeLimit = 16 << 20

    /// An envelope from its parts.
    public init(payload: [UInt8], payloadType: String, signatures: [DSSESignature], unrecognized: [String: JSONValue] = [:]) {
        self.payload = payload
        self.payloadType = payloadType
        self.signatures = signatures
        self.unrecognized = unrecognized
    }

    /// PAE (DSSE `protocol.md`): `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where
    /// LEN is the byte length as ASCII decimal without leading zeros and SP is one space.
    public static func pae(payloadType: String, payload: [UInt8]) -> [UInt8] {
        let type = Array(payloadType.utf8)
        var out = Array("DSSEv1 \(type.count) ".utf8)
        out += type
        out += Array(" \(payload.count) ".utf8)
        out += payload
        return out
    }

    /// Signs `payload` with every signer (each with the algorithm its securesystemslib scheme
    /// names: DER ECDSA, RSA-PSS, Ed25519) and returns the envelope.
    ///
    /// - Throws: `custody.no-signer` when `signers` is empty; the signers' own errors (a
    ///   token that refuses, a wrong PIN) as they come.
    public static func sign(payload: [UInt8], payloadType: String, signers: [any Signer]) throws -> DSSEEnvelope {
        guard !signers.isEmpty else { throw FirmchainError(.custodyNoSigner, "a DSSE envelope needs at least one signing key") }
        let message = pae(payloadType: payloadType, payload: payload)
        var signatures = [DSSESignature]()
        for signer in signers {
            let key = TUFKey(signer.publicKey)
            let algorithm = key.algorithm ?? signer.supportedAlgorithms[0]
            let sig = try signer.sign(message, algorithm: algorithm)
            signatures.append(DSSESignature(keyid: key.keyid, sig: sig))
        }
        return DSSEEnvelope(payload: payload, payloadType: payloadType, signatures: signatures)
    }

    /// Reads an envelope object: `payload` (base64), `payloadType`, `signatures` [{keyid, sig}].
    /// Standard and URL-safe base64, padded or not, are accepted (DSSE `envelope.md`).
    ///
    /// - Throws: `custody.malformed-envelope`.
    public init(json: JSONValue, path: String? = nil) throws {
        let bad = { (r: String) in FirmchainError.malformedEnvelope(r, path: path) }
        var f = try JSONFields(json, "envelope", error: bad)
        guard let payload = Base64.decode(try f.string("payload"), lenient: true) else { throw bad("envelope.payload is not base64") }
        let payloadType = try f.string("payloadType")
        var sigs = [DSSESignature]()
        for (i, s) in try f.array("signatures").enumerated() {
            var sf = try JSONFields(s, "envelope.signatures[\(i)]", error: bad)
            guard let sig = Base64.decode(try sf.string("sig"), lenient: true) else { throw bad("envelope.signatures[\(i)].sig is not base64") }
            // keyid is optional in DSSE; without one no Firmchain key is tried (fail closed).
            let keyid = sf.optional("keyid")?.stringValue ?? ""
            sigs.append(DSSESignature(keyid: keyid, sig: sig, unrecognized: sf.rest))
        }
        self.init(payload: payload, payloadType: payloadType, signatures: sigs, unrecognized: f.rest)
    }

    /// Reads an envelope file (at most `sizeLimit` bytes).
    public init(file path: String) throws {
        try self.init(bytes: try FileIO.read(path, limit: Self.sizeLimit), path: path)
    }

    /// Reads an envelope from the bytes of a file; `path` is named in errors.
    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count <= Self.sizeLimit else { throw FirmchainError(.ioTooLarge, "is larger than \(Self.sizeLimit) bytes", path: path) }
        let value: JSONValue
        do { value = try JSONReader().parse(bytes, path: path) } catch let e as FirmchainError { throw FirmchainError.malformedEnvelope(e.reason, path: path) }
        try self.init(json: value, path: path)
    }

    /// The envelope as JSON: standard base64 with padding, as securesystemslib writes it.
    public var json: JSONValue {
        .object((["payload": .string(Base64.encode(payload)), "payloadType": .string(payloadType),
                  "signatures": .array(signatures.map(\.json))] as [String: JSONValue]).merging(unknown: unrecognized))
    }

    /// The file form: compact JSON on one line with a trailing newline (one envelope per line
    /// also makes a valid JSON Lines file).
    public var fileBytes: [UInt8] { JSONEncoding.standard(json, indent: 0) + [0x0A] }

    /// The bytes every signature covers.
    public var signedBytes: [UInt8] { Self.pae(payloadType: payloadType, payload: payload) }

    /// Checks the signatures over the PAE against the keys `ring` trusts for `role` at `time`
    /// (or only `members` of them): a signature counts when its keyid names such a key and it
    /// verifies with the key's scheme; each key counts once.
    public func verify(ring: KeyRing, role: KeyRole, members: [String]? = nil, threshold: Int = 1, at time: Date) -> ThresholdTally {
        ring.tally(signatures.map { ($0.keyid, $0.sig) }, over: signedBytes, members: members, role: role, threshold: threshold, at: time)
    }

    /// Checks the signatures against `keys` (keyid → key), trusted at any time. A key listed
    /// under an id that is not its own keyid does not count (no aliasing).
    public func verify(keys: [String: TUFKey], threshold: Int = 1) -> ThresholdTally {
        var ring = KeyRing()
        for (id, key) in keys { ring.add(key, roles: [.checkpoint], listedAs: id) }
        return verify(ring: ring, role: .checkpoint, members: Array(keys.keys), threshold: threshold, at: .distantPast)
    }
}

/// One DSSE signature: the securesystemslib keyid and the raw signature bytes.
public struct DSSESignature: Sendable, Hashable {
    /// sha256 hex of the canonical securesystemslib key (empty when the envelope gave none).
    public let keyid: String
    /// Signature bytes (DER for ECDSA, as securesystemslib expects).
    public let sig: [UInt8]
    /// Members Firmchain does not interpret.
    public let unrecognized: [String: JSONValue]

    /// A signature from its parts.
    public init(keyid: String, sig: [UInt8], unrecognized: [String: JSONValue] = [:]) {
        self.keyid = keyid
        self.sig = sig
        self.unrecognized = unrecognized
    }

    var json: JSONValue {
        .object((["keyid": .string(keyid), "sig": .string(Base64.encode(sig))] as [String: JSONValue]).merging(unknown: unrecognized))
    }
}


