import Foundation
import FirmchainCore
import Signing

/// The `custody/` directory of a release (Docs/architecture.md "Release directory") and the calls a pipeline step makes:
///
/// ```swift
/// let store = CustodyStore(out: out)
/// var link = InTotoLink(name: "delta", command: argv)
/// link.materials = [try Artifacts.hash(file: oldImage, as: "inputs/fw-1.0.0.bin")].dictionary …
/// link.products = try Artifacts.hash(["build/deltas/fw-1.1.0-from-1.0.0.bsdiff"], in: out)
/// try store.record(link, signer: functionary, now: now)   // link file + ledger entry
/// …
/// try store.ledger.checkpoint(signer: functionary, now: now)   // at the end of the run
/// ```
///
/// ```
/// OUT/custody/root.layout                 the owner-signed layout
/// OUT/custody/<step>.<keyid8>.link        one DSSE link per step and functionary
/// OUT/custody/provenance.intoto.jsonl     one DSSE SLSA Provenance v1 statement per line
/// OUT/custody/ledger.jsonl                the ledger; ledger.checkpoint.json beside it
/// ```
public struct CustodyStore: Sendable {
    /// The release directory `OUT`.
    public let out: String

    /// The custody part of the release directory `out`.
    public init(out: String) { self.out = out }

    /// `OUT/custody`.
    public var directory: String { out + "/custody" }
    /// `OUT/custody/root.layout`.
    public var layoutPath: String { directory + "/root.layout" }
    /// `OUT/custody/provenance.intoto.jsonl`.
    public var provenancePath: String { directory + "/provenance.intoto.jsonl" }
    /// The ledger `OUT/custody/ledger.jsonl`.
    public var ledger: Ledger { Ledger(path: directory + "/ledger.jsonl") }

    /// `OUT/custody/<step>.<keyid8>.link`.
    public func linkPath(step: String, keyid: String) -> String { directory + "/" + InTotoLink.fileName(step: step, keyid: keyid) }

    /// Signs `link` with the step's functionary key as a DSSE envelope, writes it atomically as
    /// `custody/<step>.<keyid8>.link`, and appends a `step.<name>` entry (products as subjects,
    /// materials as inputs, actor = the key) to the ledger. Returns the signed link.
    ///
    /// - Throws: `custody.bad-step-name`, `custody.bad-artifact-name`, signer and I/O errors.
    @discardableResult
    public func record(_ link: InTotoLink, signer: any Signer, now: Date) throws -> SignedLink {
        try CustodyPolicy.validateStepName(link.name)
        if let name = link.environment.keys.sorted().first(where: Self.isSecretName) {
            throw FirmchainError(.custodySecretInEnvironment,
                                 "the link of step \(link.name) would record the environment variable \(name), which holds a secret; links are public evidence")
        }
        for name in Array(link.materials.keys) + Array(link.products.keys) { try Artifacts.validateName(name) }
        let signed = try link.signed(by: signer)
        try FileIO.makeDirectories(directory)
        let path = directory + "/" + signed.fileName
        try AtomicFile.write(signed.envelope.fileBytes, to: path)
        try ledger.append(.step(link, actor: signed.keyid, linkFile: "custody/" + signed.fileName), now: now)
        return signed
    }

    /// Whether an environment variable's name says it holds a secret (PIN, passphrase, password,
    /// token, secret, private key, credential): such variables never go into a link.
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["PIN", "PASSPHRASE", "PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE", "CREDENTIAL", "API_KEY", "APIKEY"]
            .contains { upper.contains($0) }
    }

    /// Throws `custody.no-evidence` unless `custody/` holds a layout: evidence is recorded into
    /// an existing chain of custody, never silently into a new one (a mistyped `--out`).
    public func requireLayout() throws {
        guard FileIO.exists(layoutPath) else {
            throw FirmchainError(.custodyNoEvidence, "there is no custody/root.layout here: run `firmchain custody layout` first (or check --out)", path: out)
        }
    }

    /// Throws `custody.key-not-in-layout` unless `key` is an owner (it signed the layout) or a
    /// functionary of a step of the layout: only their checkpoints and provenance verify.
    public func requireKeyInLayout(_ key: PublicKey) throws {
        try requireLayout()
        let signed = try layout()
        let id = key.keyid
        guard signed.layout.keys[id] != nil || signed.signatures.contains(where: { $0.keyid == id }) else {
            throw FirmchainError(.custodyKeyNotInLayout,
                                 "key \(id.prefix(8)) is neither an owner nor a functionary of custody/root.layout; what it signs would never verify",
                                 path: layoutPath)
        }
    }

    /// Writes the signed layout to `custody/root.layout` and records `layout.sign` in the ledger
    /// for each owner signature.
    public func writeLayout(_ layout: SignedLayout, now: Date) throws {
        try FileIO.makeDirectories(directory)
        let bytes = layout.fileBytes
        try AtomicFile.write(bytes, to: layoutPath)
        let subject = LedgerSubject(name: "custody/root.layout", sha256: DigestCalculator.sha256Hex(bytes))
        try ledger.append(layout.signatures.map {
            LedgerRecord(action: "layout.sign", actor: $0.keyid, subjects: [subject],
                         details: ["expires": .string(UTCTimestamp.string(from: layout.layout.expires)), "format": .string(layout.format.rawValue)])
        }, now: now)
    }

    /// Reads `custody/root.layout`.
    public func layout() throws -> SignedLayout { try SignedLayout(file: layoutPath) }

    /// The names of all `*.link` files in `custody/`, sorted.
    public func linkFileNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".link") }.sorted()
    }

    /// Every readable link in `custody/`, with the files that could not be read and why.
    public func links() -> (links: [(file: String, link: SignedLink)], unreadable: [(file: String, error: String)]) {
        var links = [(String, SignedLink)](), bad = [(String, String)]()
        for name in linkFileNames() {
            do { links.append((name, try SignedLink(file: directory + "/" + name))) } catch { bad.append((name, "\(error)")) }
        }
        return (links, bad)
    }

    /// The readable links in the order of the layout's steps (links of steps the layout does
    /// not name, or every link when there is no readable layout, by file name at the end).
    public func linksInStepOrder() -> [(file: String, link: SignedLink)] {
        let all = links().links
        let order = ((try? layout())?.layout.steps.map(\.name)) ?? []
        func rank(_ l: SignedLink) -> Int { order.firstIndex(of: l.link.name) ?? order.count }
        return all.enumerated().sorted { (rank($0.element.link), $0.offset) < (rank($1.element.link), $1.offset) }.map(\.element)
    }

    /// Appends provenance envelopes to `custody/provenance.intoto.jsonl` (the file is rewritten
    /// atomically with the old lines kept) and records `provenance.sign` per statement.
    public func appendProvenance(_ envelopes: [DSSEEnvelope], now: Date) throws {
        try FileIO.makeDirectories(directory)
        var bytes = FileIO.exists(provenancePath) ? try FileIO.read(provenancePath, limit: 1 << 28) : []
        if let last = bytes.last, last != 0x0A { bytes.append(0x0A) }
        var records = [LedgerRecord]()
        for env in envelopes {
            bytes += env.fileBytes
            let subjects = (try? ProvenanceStatement(envelope: env))?.subjects ?? []
            records.append(LedgerRecord(action: "provenance.sign", actor: env.signatures.first?.keyid ?? "", subjects: subjects,
                                        details: ["statement": .string(DigestCalculator.sha256Hex(env.payload))]))
        }
        try AtomicFile.write(bytes, to: provenancePath)
        try ledger.append(records, now: now)
    }

    /// The envelopes of `custody/provenance.intoto.jsonl` (empty when the file is absent).
    ///
    /// - Throws: `custody.malformed-envelope` naming the line.
    public func provenance() throws -> [DSSEEnvelope] {
        guard FileIO.exists(provenancePath) else { return [] }
        return try Self.provenance(try FileIO.read(provenancePath, limit: 1 << 28), path: provenancePath)
    }

    /// The envelopes of provenance bytes, one per line; `path` is named in errors.
    public static func provenance(_ bytes: [UInt8], path provenancePath: String) throws -> [DSSEEnvelope] {
        var out = [DSSEEnvelope]()
        for (i, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: true).enumerated() {
            do { out.append(try DSSEEnvelope(json: try JSONReader().parse(line, path: provenancePath), path: provenancePath)) } catch {
                throw FirmchainError.malformedEnvelope("line \(i + 1) is not a DSSE envelope: \(error)", path: provenancePath)
            }
        }
        return out
    }
}

extension LedgerRecord {
    /// `key.generate`: a key was created; the actor is the new key itself, the subject its
    /// SPKI (sha256 of the DER) named by `description` (a `pkcs11:` URI without PIN, a file).
    public static func keyGenerated(_ key: PublicKey, description: String) -> LedgerRecord {
        LedgerRecord(action: "key.generate", actor: key.keyid,
                     subjects: [LedgerSubject(name: description, sha256: DigestCalculator.sha256Hex(key.spkiDER))],
                     details: ["key_type": .string(key.keyType.rawValue)])
    }

    /// `key.sign`: `key` signed the artefacts `subjects` (a file, metadata, a link).
    public static func signed(_ subjects: [LedgerSubject], by key: PublicKey, purpose: String) -> LedgerRecord {
        LedgerRecord(action: "key.sign", actor: key.keyid, subjects: subjects, details: ["purpose": .string(purpose)])
    }
}
