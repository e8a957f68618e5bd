import Custody
import Delta
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository

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
            if result.hashes["sha256"]?.lowercased() != d.resultSHA256 || result.length != d.resultLength {
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
                     failures: extra.map { "\($0): not listed by the signed metadata" }, subject: "repository")
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

    /// One `release.delta` per delta target: its BSDIFF40 patch, applied to the base its
    /// fields name (found by sha256), reproduces the result's sha256 and length.
    private func deltas(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> [Check] {
        let id = "release.delta"
        let deltas = targets.filter { $0.info.delta != nil }
        guard !deltas.isEmpty else { return [Check(id, .skipped, "the release has no delta targets")] }
        var bases = [String: [UInt8]]()
        for b in baseImages { bases[DigestCalculator.sha256Hex(b)] = b }
        return deltas.map { t in
            let d = t.info.delta!
            guard d.format == "bsdiff40" else { return Check(id, .failed, "the patch format \(d.format) is not one this verifier applies", subject: t.name) }
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
                let contents = try patch.withUnsafeBufferPointer { try BSDIFF40.read($0, maxNewSize: Int(d.resultLength)) }
                let out = try base.withUnsafeBufferPointer { try Patcher.apply(old: $0, contents) }
                let got = DigestCalculator.sha256Hex(out)
                guard Int64(out.count) == d.resultLength, got == d.resultSHA256 else {
                    return Check(id, .failed, "applied to \(d.baseName) \(d.baseVersion) it makes \(out.count) bytes with sha256 \(got.prefix(16))…, not the \(d.resultLength) bytes with sha256 \(d.resultSHA256.prefix(16))… of \(d.resultName)",
                                 subject: t.name)
                }
                return Check(id, .passed, "applied to \(d.baseName) \(d.baseVersion) it reproduces \(d.resultName) (\(out.count) bytes, sha256 \(got.prefix(16))…)", subject: t.name)
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

    /// Encrypted payloads (issue 21, step 6) are not verified yet: a release that declares one
    /// fails closed rather than passing unchecked.
    private func encryption(_ targets: [(name: String, file: TargetFile, info: FirmwareInfo)]) -> Check {
        let encrypted = targets.filter { $0.info.encryption != nil }.map(\.name).sorted()
        // A target whose custom fields could not be read may still declare encryption.
        let declared = repository.allEntries.filter { e in
            !encrypted.contains(e.name) && e.file.custom?[FirmwareInfo.customKey]?["encryption"] != nil
        }.map(\.name)
        let all = (encrypted + declared).sorted()
        guard !all.isEmpty else { return Check("release.encryption", .skipped, "no encrypted targets") }
        return Check("release.encryption", .failed,
                     "\(all.count) target(s) declare an encrypted payload, which this verifier cannot check yet (envelope, recipients, digests): refused rather than trusted unchecked",
                     details: all)
    }
}
