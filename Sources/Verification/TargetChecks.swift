import Custody
import Delta
import Encryption
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing

/// Steps 4–6 of `ReleaseVerifier`: what the targets the trusted metadata lists must be beyond
/// their hashes. Runs only once the repository verified.
struct TargetChecks {
    let files: any ReleaseFiles
    let repository: RepositoryVerification
    let trust: ReleaseTrust
    let baseImages: [[UInt8]]

    /// The ids skipped when the repository did not verify.
    static let ids = ["release.repository.roots", "release.repository.unlisted", "release.targets.custom", "release.targets.hardware", "release.targets.rollback",
                      "release.delta", "release.encryption"]

    /// The largest delta target read and the largest result it may declare.
    static let patchLimit = 1 << 30, resultLimit = Int(Int32.max)

    func all() -> [Check] {
        let entries = repository.allEntries
        var parsed = [(name: String, file: TargetFile, info: FirmwareInfo)]()
        var customFailures = [String]()
        for e in entries {
            do {
                guard let info = try FirmwareInfo(custom: e.file.custom) else {
                    customFailures.append("\(e.name): has no custom.firmware fields (version, hardware ids, kind)")
                    continue
                }
                try info.validate()
                parsed.append((e.name, e.file, info))
            } catch {
                customFailures.append("\(e.name): \(error)")
            }
        }
        let byName = Dictionary(entries.map { ($0.name, $0.file) }, uniquingKeysWith: { first, _ in first })
        for p in parsed {
            guard let d = p.info.delta else { continue }
            guard let result = byName[d.resultName] else {
                customFailures.append("\(p.name): the delta's result \(d.resultName) is not a target of the release")
                continue
            }
            // An encrypted result is compared by its plaintext, which the delta rebuilds.
            let plain = (try? FirmwareInfo(custom: result.custom))??.encryption
            if (plain?.plaintextSHA256 ?? result.hashes["sha256"]?.lowercased()) != d.resultSHA256 || (plain?.plaintextLength ?? result.length) != d.resultLength {
                customFailures.append("\(p.name): the delta's result sha256/length differ from the target \(d.resultName)'s")
            }
            if let r = try? FirmwareInfo(custom: result.custom), r.versionNumber != p.info.versionNumber || Set(r.hardwareIDs) != Set(p.info.hardwareIDs) {
                customFailures.append("\(p.name): version_number or hardware ids differ from those of its result \(d.resultName)")
            }
        }
        let roots = RepositoryContents.rootHistoryFailures(in: files, trustedRoot: trust.trustedRoot)
        var checks = [Check.from("release.repository.roots", "the release's roots up to the trusted one are the trusted root and the roots it chains back to",
                                 failures: roots, subject: "repository/metadata"), unlisted()]
        checks.append(.from("release.targets.custom", "every target carries well-formed custom.firmware fields (\(entries.count) target(s))",
                            failures: customFailures.sorted()))
        checks.append(hardware(parsed))
        checks.append(rollback(parsed))
        checks += deltas(parsed)
        checks.append(encryption(parsed))
        return checks
    }

    private func unlisted() -> Check {
        let extra = RepositoryContents.unlisted(in: files, verification: repository)
        return .from("release.repository.unlisted", "repository/ holds only what the signed metadata lists",
                     failures: extra.map(\.description), subject: "repository")
    }

    private func hardware(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> Check {
        let title = "every target's hardware ids and priority are the policy's"
        guard let policy = trust.policy else { return Check("release.targets.hardware", .skipped, title, details: ["no policy was given"]) }
        var failures = [String]()
        for t in targets {
            for hw in t.info.hardwareIDs where policy.hardwareClasses[hw] == nil {
                failures.append("\(t.name): hardware id \(hw) is not a hardware class of the policy (\(policy.hardwareClasses.keys.sorted().joined(separator: ", ")))")
            }
            if !policy.priorityClasses.contains(t.info.priority) { failures.append("\(t.name): priority \(t.info.priority.rawValue) is not allowed by the policy") }
        }
        return .from("release.targets.hardware", title, failures: failures)
    }

    private func rollback(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> Check {
        let title = "no image is downgraded below the version number last released"
        guard let released = trust.previous?.released, !released.isEmpty else {
            return Check("release.targets.rollback", .skipped, title, details: ["no previous state with released versions was given"])
        }
        var failures = [String]()
        let current = Dictionary(targets.map { ($0.name, $0.info) }, uniquingKeysWith: { a, _ in a })
        for (name, last) in released.sorted(by: { $0.key < $1.key }) {
            guard let info = current[name] else { failures.append("\(name): released as #\(last) before, no longer listed"); continue }
            if info.versionNumber < last { failures.append("\(name): version_number \(info.versionNumber) is below #\(last), released before") }
        }
        return .from("release.targets.rollback", title, failures: failures, passedDetails: released.sorted { $0.key < $1.key }.map { "\($0.key): at least #\($0.value)" })
    }

    /// One `release.delta` per delta target: its patch is of the declared format (BSDIFF40 or
    /// firmchain1) and, applied to the base its fields name (found by sha256), reproduces the
    /// result's sha256 and length.
    private func deltas(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> [Check] {
        let id = "release.delta"
        let deltas = targets.filter { $0.info.delta != nil }
        guard !deltas.isEmpty else { return [Check(id, .skipped, "the release has no delta targets")] }
        var bases = [String: [UInt8]]()
        for b in baseImages { bases[DigestCalculator.sha256Hex(b)] = b }
        return deltas.map { t in
            let d = t.info.delta!
            guard let format = DeltaFormat(rawValue: d.format) else {
                return Check(id, .failed, "the patch format \(d.format) is not one this verifier applies", subject: t.name)
            }
            guard t.info.encryption == nil else {
                return Check(id, .skipped, "the patch is encrypted: only a recipient can apply it (release.encryption checks its envelope; devices check the plaintext digest)",
                             subject: t.name)
            }
            guard let sha = t.file.hashes["sha256"]?.lowercased() else { return Check(id, .failed, "lists no sha256, so no copy can be read", subject: t.name) }
            let base: [UInt8]
            if let given = bases[d.baseSHA256] {
                base = given
            } else if let kept = keptCopy(sha256: d.baseSHA256) {
                base = kept
            } else {
                return Check(id, .warning, "the base \(d.baseName) \(d.baseVersion) (sha256 \(d.baseSHA256.prefix(16))…) was not given and is not in the release: the patch could not be applied",
                             subject: t.name)
            }
            guard d.resultLength <= Int64(Self.resultLimit) else { return Check(id, .failed, "declares a \(d.resultLength)-byte result, above the limit", subject: t.name) }
            do {
                guard let patch = try files.read("repository/targets/" + InMemorySource.targetKey(name: t.name, hash: sha), limit: Self.patchLimit) else {
                    return Check(id, .failed, "the copy under \(sha.prefix(16))… is missing", subject: t.name)
                }
                // A device picks its applier by the declared format: the patch must be one.
                let actual = patch.withUnsafeBufferPointer { DeltaFormat.of($0) }
                guard actual == format else {
                    return Check(id, .failed, "is declared \(d.format) but is \(actual.map { "a \($0.rawValue) patch" } ?? "neither BSDIFF40 nor firmchain1")", subject: t.name)
                }
                let out = try Delta.digestOfApplying(old: base, patch: patch, limits: DeltaApplyLimits(maxNewSize: Int(d.resultLength)))
                let got = out.sha256
                guard Int64(out.length) == d.resultLength, got == d.resultSHA256 else {
                    return Check(id, .failed, "applied to \(d.baseName) \(d.baseVersion) it makes \(out.length) bytes with sha256 \(got.prefix(16))…, not the \(d.resultLength) bytes with sha256 \(d.resultSHA256.prefix(16))… of \(d.resultName)",
                                 subject: t.name)
                }
                return Check(id, .passed, "applied to \(d.baseName) \(d.baseVersion) it reproduces \(d.resultName) (\(out.length) bytes, sha256 \(got.prefix(16))…)", subject: t.name)
            } catch {
                return Check(id, .failed, "cannot be applied to \(d.baseName) \(d.baseVersion): \(error)", subject: t.name)
            }
        }
    }

    /// A copy in `repository/targets` named for `sha256` whose bytes have that sha256.
    private func keptCopy(sha256: String) -> [UInt8]? {
        for path in files.entries(under: "repository/targets") {
            let name = path.split(separator: "/").last.map(String.init) ?? ""
            guard name.hasPrefix(sha256 + "."), let bytes = try? files.read(path, limit: Self.resultLimit),
                  DigestCalculator.sha256Hex(bytes) == sha256 else { continue }
            return bytes
        }
        return nil
    }

    /// Step 6, one `release.encryption` check: every target whose `custom.firmware.encryption`
    /// declares an encrypted payload carries a well-formed COSE_Encrypt of the SUIT profile (the
    /// strict decoder), detached, whose digest, content algorithm and recipients (key id and
    /// algorithm, in order) are the descriptor's; the descriptor's ciphertext digest is the
    /// released bytes' and its plaintext digest the one devices check; and, with a policy, every
    /// target of a kind the policy's `encryption` rule names is encrypted for every recipient it
    /// names. The plaintext itself is checked by devices after decrypting (no key is needed here).
    private func encryption(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> Check {
        let id = "release.encryption"
        let rule = trust.policy?.encryption
        var failures = [String]()
        var required = [(reference: String, keyID: String)]()
        for ref in rule?.recipients ?? [] {
            if ref.hasPrefix("kek:") { required.append((ref, Hex.encode(Array(ref.dropFirst(4).utf8)))); continue }
            do {
                required.append((ref, Hex.encode(EncryptionRecipient.defaultKeyID(for: try Signers.publicKey(of: ref, options: SignerOptions())))))
            } catch {
                failures.append("the policy's recipient \(ref) cannot be read: \(error)")
            }
        }
        var encrypted = 0
        for t in targets {
            guard let e = t.info.encryption else {
                if let rule, rule.kinds.contains(t.info.kind) {
                    failures.append("\(t.name): the policy requires \(t.info.kind.rawValue) targets encrypted, and this one is released in the clear")
                }
                continue
            }
            encrypted += 1
            failures += Self.envelopeFailures(t.name, t.file, e, required: required)
        }
        // A target whose custom fields could not be read may still declare encryption.
        for e in repository.allEntries where !targets.contains(where: { $0.name == e.name }) && e.file.custom?[FirmwareInfo.customKey]?["encryption"] != nil {
            failures.append("\(e.name): declares an encrypted payload in custom fields that cannot be read")
        }
        guard encrypted > 0 || !failures.isEmpty else { return Check(id, .skipped, "no encrypted targets") }
        return .from(id, "every encrypted target's envelope is well-formed and matches its descriptor, the released bytes and the policy's recipients",
                     failures: failures.sorted(),
                     passedDetails: ["\(encrypted) encrypted target(s); devices check each plaintext digest after decrypting"])
    }

    /// What is wrong with one encrypted target's fields, envelope and recipients.
    static func envelopeFailures(_ name: String, _ file: TargetFile, _ e: FirmwareInfo.EncryptionInfo,
                                 required: [(reference: String, keyID: String)]) -> [String] {
        let d = e.descriptor
        var f = [String]()
        guard d["format"]?.stringValue == EncryptionFormat.cose.rawValue else {
            return ["\(name): the descriptor's format \(d["format"]?.stringValue ?? "(none)") is not cose"]
        }
        guard let text = d["cose"]?.stringValue, let bytes = Base64.decode(text) else { return ["\(name): the descriptor carries no COSE structure (cose)"] }
        let cose: COSEEncrypt
        do { cose = try COSEEncrypt(decoding: bytes) } catch { return ["\(name): the COSE structure is refused: \(error)"] }
        if cose.ciphertext != nil { f.append("\(name): the COSE structure carries its ciphertext; a released target's is detached") }
        if d["structure"]?["sha256"]?.stringValue != DigestCalculator.sha256Hex(bytes) || d["structure"]?["length"]?.int64Value != Int64(bytes.count) {
            f.append("\(name): the descriptor's structure digest is not the structure's")
        }
        if d["content_algorithm"]?.stringValue != cose.contentAlgorithm.rawValue {
            f.append("\(name): the descriptor names \(d["content_algorithm"]?.stringValue ?? "(none)"), the structure \(cose.contentAlgorithm.rawValue)")
        }
        let listed = (d["recipients"]?.arrayValue ?? []).map { "\($0["key_id"]?.stringValue ?? "?")/\($0["algorithm"]?.stringValue ?? "?")" }
        let actual = cose.recipients.map { "\($0.keyID.map(Hex.encode) ?? "?")/\($0.algorithm.description)" }
        if listed != actual { f.append("\(name): the descriptor lists recipients \(listed), the structure holds \(actual)") }
        if d["ciphertext"]?["sha256"]?.stringValue != file.hashes["sha256"]?.lowercased() || d["ciphertext"]?["length"]?.int64Value != file.length {
            f.append("\(name): the descriptor's ciphertext digest is not the released target's")
        }
        if d["plaintext"]?["sha256"]?.stringValue != e.plaintextSHA256 || d["plaintext"]?["length"]?.int64Value != e.plaintextLength {
            f.append("\(name): the descriptor's plaintext digest is not custom.firmware.encryption.plaintext")
        }
        let ids = Set(cose.recipients.compactMap { $0.keyID.map(Hex.encode) })
        for r in required where !ids.contains(r.keyID) {
            f.append("\(name): not encrypted for \(r.reference) (key id \(r.keyID.prefix(16))…), which the policy requires")
        }
        return f
    }
}
