import Custody
import Encryption
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing

/// `encrypt`: the image and every delta encrypted once each for all the step's recipients
/// (COSE_Encrypt, SUIT firmware-encryption profile; Docs/encryption.md), into
/// `OUT/build/encrypted/`: `NAME` (ciphertext ‖ tag), `NAME.cose` (the structure) and
/// `NAME.json` (what the manifest records). The manifest then releases the ciphertext under the
/// target's name, with the plaintext digest and the descriptor in `custom.firmware.encryption`.
///
/// ```yaml
/// - encrypt:
///     recipients: ["pkcs11:token=fleet;object=hw-class-a", keys/hw-class-b.pub.pem, "kek:keys/fleet-eu.kek"]
/// ```
///
/// Encryption draws a fresh content key each time, so, like the delta step, it is
/// content-addressed through its link: when the recorded encrypt link (signed by this step's
/// functionary) names the same plaintexts, its files are unchanged and the recipients are the
/// same, nothing is encrypted again and a re-run changes nothing.
public struct EncryptStep: PipelineStep {
    /// `encrypt`, this step's name in pipeline files and links.
    public static let kind = "encrypt"
    /// `recipients` (a list: P-256 public key files or `pkcs11:` URIs, `kek:FILE` for group
    /// keys) and `content` (`A256GCM`, the default, or `A128GCM`).
    public static let optionKeys: Set<String> = ["recipients", "content"]

    /// The recipients as given, paths resolved against the pipeline's base directory.
    public let recipients: [String]
    /// The content encryption algorithm.
    public let content: ContentAlgorithm
    private let line: Int, file: String

    /// Reads `recipients` (at least one, none twice) and `content`.
    public init(options: StepOptions) throws {
        let given = options.lists["recipients"] ?? options.values["recipients"].map { [$0] } ?? []
        guard !given.isEmpty else { throw options.fail("encrypt: name at least one recipient (recipients: [KEY.pub.pem, \"kek:FILE\"])") }
        guard Set(given).count == given.count else { throw options.fail("encrypt: a recipient is listed twice") }
        recipients = given.map { r in
            if r.hasPrefix("kek:") { return "kek:" + options.resolve(String(r.dropFirst(4))) }
            return PKCS11URI.isPKCS11URI(r) ? r : options.resolve(r)
        }
        content = try options.oneOf("content", default: ContentAlgorithm.a256gcm)
        line = options.line
        file = options.file
    }

    /// The new image, which it needs, and the deltas, when an earlier step made them.
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.image.kind), .optional(ReleaseArtefacts.deltas.kind)] }
    /// The encrypted payloads in `build/encrypted`.
    public var writes: [ArtefactKind] { [ReleaseArtefacts.encryptedPayloads.kind] }

    /// Exactly the files it wrote (or kept): per payload the ciphertext, the structure and the record.
    public func products(_ context: StepContext) throws -> [ArtefactPath] {
        try context.value(ReleaseArtefacts.encryptedPayloads).flatMap { [.inRelease($0.ciphertext), .inRelease($0.structure), .inRelease(Self.record($0.ciphertext))] }
    }

    /// The recipients opened: public keys (no PIN needed) and key-encryption key files.
    func openRecipients(_ options: RunOptions) throws -> [EncryptionRecipient] {
        try recipients.map { r in
            if r.hasPrefix("kek:") { return .keyEncryptionKey(try KeyEncryptionKey(file: String(r.dropFirst(4)))) }
            return try .publicKey(try Signers.publicKey(of: r, options: options.signerOptions))
        }
    }

    /// Every recipient can be opened, and the step encrypts for every recipient the policy's
    /// `encryption` rule names (compared by key id); nothing is written.
    public func check(policy: Policy, options: RunOptions) throws {
        let ids = Set(try openRecipients(options).map { Hex.encode($0.keyID) })
        guard let rule = policy.encryption else { return }
        for required in rule.recipients {
            let id = required.hasPrefix("kek:") ? Hex.encode(Array(required.dropFirst(4).utf8))
                : Hex.encode(EncryptionRecipient.defaultKeyID(for: try Signers.publicKey(of: required, options: options.signerOptions)))
            guard ids.contains(id) else {
                throw FirmchainError(.policyViolation,
                                     "the policy \(policy.path) (line \(rule.line)) requires encryption for \(required) (key id \(id.prefix(16))…), which the encrypt step (line \(line)) does not name",
                                     path: file)
            }
        }
    }

    /// `build/encrypted/NAME.json`: the encryption fields of the payload `NAME`.
    static func record(_ ciphertext: String) -> String { ciphertext + ".json" }

    /// Encrypts the image and each delta (unless the recorded link shows the same payloads for
    /// the same recipients are already there) and hands the payloads on.
    public func run(_ context: inout StepContext) throws -> String {
        let spec = context.spec, out = context.out
        let image = try context.value(ReleaseArtefacts.image)
        let deltas = context.optionalValue(ReleaseArtefacts.deltas) ?? []
        // Each plaintext with the name it has among this step's materials.
        var sources: [(target: String, path: String, material: String)] = [(spec.targetName, image.path, image.name)]
        sources += deltas.map { (ManifestStep.deltaTargetName(spec, $0), out + "/" + $0.file, $0.file) }
        let payloads = sources.map { s -> (target: String, path: String, material: String, ciphertext: String) in
            (s.target, s.path, s.material, "build/encrypted/" + s.target)
        }

        var materials = [String: ArtifactDigests]()
        materials[image.name] = try context.digests(of: image)
        for (k, v) in try Artifacts.hash(deltas.map(\.file), in: out) { materials[k] = v }
        let recipients = try openRecipients(context.options)
        let wanted = Set(recipients.map { Hex.encode($0.keyID) })
        let files = payloads.flatMap { [$0.ciphertext, $0.ciphertext + ".cose", Self.record($0.ciphertext)] }

        // Reuse what this step's functionary recorded, when the plaintexts and recipients match.
        var kept = [EncryptedPayload]()
        if try context.recordedLinkHolds(step: Self.kind, materials: materials, products: files) {
            kept = payloads.compactMap { p in
                guard let info = try? Self.readRecord(out + "/" + Self.record(p.ciphertext)),
                      Set((info.descriptor["recipients"]?.arrayValue ?? []).compactMap { $0["key_id"]?.stringValue }) == wanted,
                      info.descriptor["content_algorithm"]?.stringValue == content.rawValue else { return nil }
                return EncryptedPayload(target: p.target, ciphertext: p.ciphertext, structure: p.ciphertext + ".cose", info: info)
            }
        }
        if kept.count == payloads.count {
            context.set(ReleaseArtefacts.encryptedPayloads, kept)
            return "\(kept.count) payload(s) unchanged (plaintexts and recipients match the recorded encrypt link)"
        }

        let encryptor = try Encryptor(recipients: recipients, options: EncryptionOptions(contentAlgorithm: content, progress: context.options.progress))
        var made = [EncryptedPayload]()
        for p in payloads {
            let ciphertext = out + "/" + p.ciphertext
            try FileIO.makeDirectories((ciphertext as NSString).deletingLastPathComponent)
            // The plaintexts are this step's materials, hashed by the runner for this run (the
            // same digests the link, the delta records and the rollback check use): the encryptor
            // records those instead of hashing each plaintext again.
            let d = try encryptor.encrypt(file: p.path, ciphertextTo: ciphertext, structureTo: ciphertext + ".cose",
                                          plaintextSHA256: materials[p.material]?["sha256"])
            // The structure travels inside the signed manifest: a device needs nothing else.
            var descriptor = d.json.objectValue ?? [:]
            descriptor["cose"] = .string(Base64.encode(try FileIO.read(ciphertext + ".cose", limit: 1 << 20)))
            let info = FirmwareInfo.EncryptionInfo(plaintextSHA256: d.plaintext.sha256, plaintextLength: d.plaintext.length, descriptor: .object(descriptor))
            try AtomicFile.write(JSONEncoding.standard(Self.recordJSON(info)), to: out + "/" + Self.record(p.ciphertext))
            made.append(EncryptedPayload(target: p.target, ciphertext: p.ciphertext, structure: p.ciphertext + ".cose", info: info))
        }
        context.set(ReleaseArtefacts.encryptedPayloads, made)
        return "\(made.count) payload(s) encrypted for \(recipients.count) recipient(s) in build/encrypted"
    }

    static func recordJSON(_ info: FirmwareInfo.EncryptionInfo) -> JSONValue {
        ["plaintext": ["sha256": .string(info.plaintextSHA256), "length": .int(info.plaintextLength)], "descriptor": info.descriptor]
    }

    static func readRecord(_ path: String) throws -> FirmwareInfo.EncryptionInfo {
        let json = try JSONReader().parse(try FileIO.read(path, limit: 1 << 20), path: path)
        guard let sha = json["plaintext"]?["sha256"]?.stringValue, let length = json["plaintext"]?["length"]?.int64Value,
              let descriptor = json["descriptor"] else {
            throw FirmchainError(.repoMalformedMetadata, "is not an encryption record", path: path)
        }
        return FirmwareInfo.EncryptionInfo(plaintextSHA256: sha, plaintextLength: length, descriptor: descriptor)
    }
}
