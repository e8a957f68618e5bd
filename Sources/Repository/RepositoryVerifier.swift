import FirmchainCore
import Foundation

/// One step of a repository check and its outcome.
public struct RepositoryCheck: Sendable, Hashable {
    /// Short stable name of the check, e.g. `root.chain`, `timestamp.signatures`.
    public let name: String
    /// Whether the check passed.
    public let passed: Bool
    /// What was checked, or why it failed.
    public let detail: String
}

/// The outcome of verifying a repository: every check that ran, in order. A failed check
/// stops the walk where later checks would rely on it (TUF spec §5: the client update workflow).
public struct RepositoryReport: Sendable {
    public var checks: [RepositoryCheck] = []
    /// The trusted root after walking the chain, when the walk got that far.
    public var root: Root?
    /// The verified targets, when the walk got that far.
    public var targets: Targets?

    /// Whether every check passed.
    public var passed: Bool { !checks.isEmpty && checks.allSatisfy(\.passed) }
    /// The checks that failed.
    public var failures: [RepositoryCheck] { checks.filter { !$0.passed } }

    mutating func record(_ name: String, _ passed: Bool, _ detail: String) {
        checks.append(RepositoryCheck(name: name, passed: passed, detail: detail))
    }
}

/// Verifies a repository the way a TUF client does (TUF spec §5.3–§5.7), starting from a
/// trusted root, at one reference time. Everything read is untrusted.
///
/// Steps, in order:
/// 1. the trusted root is signed by its own root threshold;
/// 2. each `N.root.json` after it is signed by a threshold of the previous root's root keys
///    and of its own, and has version N (§5.3.4–5);
/// 3. the final root has not expired (§5.3.10);
/// 4. `timestamp.json` meets the timestamp threshold and has not expired (§5.4);
/// 5. the snapshot it names matches its length/hashes, meets the snapshot threshold, has the
///    named version and has not expired (§5.5);
/// 6. the targets the snapshot names meet the targets threshold, have that version and have
///    not expired (§5.6);
/// 7. every target file exists under each of its hashes with the listed length and hashes (§5.7).
public struct RepositoryVerifier: Sendable {
    public let store: RepositoryStore
    public let now: Date

    public init(store: RepositoryStore, now: Date) {
        self.store = store
        self.now = now
    }

    /// Runs every step and returns the report; throws only when the trusted root itself cannot be read.
    public func verify(trustedRoot: [UInt8], trustedRootPath: String? = nil, checkTargetFiles: Bool = true) throws -> RepositoryReport {
        var report = RepositoryReport()
        var trusted = try Metadata<Root>(bytes: trustedRoot, path: trustedRootPath)
        let selfCheck = trusted.verify(role: trusted.signed.roles.root, keys: trusted.signed.keys)
        report.record("root.trusted", selfCheck.isMet, describe(selfCheck, "trusted root v\(trusted.signed.version)"))
        guard selfCheck.isMet else { return report }

        // 2. Walk the root chain.
        var n = trusted.signed.version + 1
        while FileIO.exists(store.metadataPath("\(n).root.json")) {
            let next: Metadata<Root>
            do { next = try store.load(Root.self, "\(n).root.json") } catch {
                report.record("root.chain", false, "\(n).root.json: \(error)")
                return report
            }
            let byOld = next.verify(role: trusted.signed.roles.root, keys: trusted.signed.keys)
            let byNew = next.verify(role: next.signed.roles.root, keys: next.signed.keys)
            let ok = byOld.isMet && byNew.isMet && next.signed.version == n
            report.record("root.chain", ok, ok ? "\(n).root.json signed by the old and the new root keys"
                : "\(n).root.json: " + (next.signed.version != n ? "has version \(next.signed.version)" : describe(byOld.isMet ? byNew : byOld, byOld.isMet ? "new root keys" : "previous root keys")))
            guard ok else { return report }
            trusted = next
            n += 1
        }
        let root = trusted.signed
        report.root = root
        report.record("root.expiry", root.expires > now, "root v\(root.version) expires \(UTCTimestamp.string(from: root.expires))")
        guard root.expires > now else { return report }

        // 4. Timestamp.
        let timestamp: Metadata<Timestamp>
        do { timestamp = try store.load(Timestamp.self, "timestamp.json") } catch {
            report.record("timestamp.read", false, "\(error)"); return report
        }
        guard checkRole(&report, timestamp, .timestamp, root) else { return report }

        // 5. Snapshot, checked against what the timestamp says.
        let snapMeta = timestamp.signed.snapshot
        guard let snapshot = loadListed(Snapshot.self, .snapshot, snapMeta, root, &report) else { return report }

        // 6. Targets, checked against what the snapshot says.
        guard let targetsMeta = snapshot.signed.meta["targets.json"] else {
            report.record("targets.read", false, "\(snapMeta.version).snapshot.json does not list targets.json"); return report
        }
        guard let targets = loadListed(Targets.self, .targets, targetsMeta, root, &report) else { return report }
        report.targets = targets.signed

        // 7. Target files.
        guard checkTargetFiles else { return report }
        for (name, entry) in targets.signed.targets.sorted(by: { $0.key < $1.key }) {
            report.checks.append(checkTarget(name, entry))
        }
        return report
    }

    /// Reads `<version>.<role>.json` as listed by `meta` (length and hashes when given), then
    /// checks its signatures, version and expiry; records each check, nil when one fails.
    private func loadListed<T: SignedMetadata>(_ type: T.Type, _ role: TopLevelRole, _ meta: MetaFile, _ root: Root,
                                               _ report: inout RepositoryReport) -> Metadata<T>? {
        let name = "\(meta.version).\(role.rawValue).json"
        let path = store.metadataPath(name)
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path, limit: RepositoryStore.metadataLimit) } catch {
            report.record("\(role.rawValue).read", false, "\(error)"); return nil
        }
        guard checkFile(&report, "\(role.rawValue).hashes", name, bytes: bytes, length: meta.length, hashes: meta.hashes) else { return nil }
        let md: Metadata<T>
        do { md = try Metadata<T>(bytes: bytes, path: path) } catch {
            report.record("\(role.rawValue).read", false, "\(error)"); return nil
        }
        return checkRole(&report, md, role, root, expectedVersion: meta.version) ? md : nil
    }

    private func describe(_ r: ThresholdResult, _ what: String) -> String {
        if r.isMet { return "\(what): \(r.valid.count) of threshold \(r.threshold) valid signature(s)" }
        var parts = ["\(what): \(r.valid.count) valid signature(s), threshold \(r.threshold)"]
        if !r.invalid.isEmpty { parts.append("invalid from \(r.invalid.map { String($0.prefix(8)) }.joined(separator: ","))") }
        if !r.missing.isEmpty { parts.append("missing from \(r.missing.map { String($0.prefix(8)) }.joined(separator: ","))") }
        return parts.joined(separator: "; ")
    }

    private func checkRole<T: SignedMetadata>(_ report: inout RepositoryReport, _ md: Metadata<T>, _ role: TopLevelRole, _ root: Root,
                                              expectedVersion: Int64? = nil) -> Bool {
        let r = md.verify(role: root.roles[role], keys: root.keys)
        report.record("\(role.rawValue).signatures", r.isMet, describe(r, "\(role.rawValue) v\(md.signed.version)"))
        guard r.isMet else { return false }
        if let v = expectedVersion {
            let ok = md.signed.version == v
            report.record("\(role.rawValue).version", ok, ok ? "version \(v) as listed" : "version \(md.signed.version), but \(v) is listed")
            guard ok else { return false }
        }
        let fresh = md.signed.expires > now
        report.record("\(role.rawValue).expiry", fresh, "expires \(UTCTimestamp.string(from: md.signed.expires))")
        return fresh
    }

    private func checkFile(_ report: inout RepositoryReport, _ check: String, _ name: String, bytes: [UInt8], length: Int64?,
                           hashes: [String: String]?) -> Bool {
        if let length, Int64(bytes.count) != length {
            report.record(check, false, "\(name) is \(bytes.count) bytes, \(length) listed"); return false
        }
        for (alg, want) in hashes ?? [:] {
            guard let a = DigestAlgorithm(rawValue: alg) else {
                report.record(check, false, "\(name): unsupported hash algorithm \(alg)"); return false
            }
            if DigestCalculator.bytes(bytes, algorithms: [a]).hex[a] != want.lowercased() {
                report.record(check, false, "\(name): \(alg) does not match"); return false
            }
        }
        report.record(check, true, "\(name) matches its listed length and hashes")
        return true
    }

    private func checkTarget(_ name: String, _ entry: TargetFile) -> RepositoryCheck {
        do {
            try RepositoryStore.validateTargetName(name)
            let algorithms = try Set(entry.hashes.keys.map { alg -> DigestAlgorithm in
                guard let a = DigestAlgorithm(rawValue: alg) else {
                    throw FirmchainError(.repoUnsupportedHash, "unsupported hash algorithm \(alg)")
                }
                return a
            })
            for (_, hash) in entry.hashes {
                let path = store.targetPath(name: name, hash: hash)
                let d = try DigestCalculator.file(path, algorithms: algorithms)
                guard d.length == entry.length else {
                    return RepositoryCheck(name: "target", passed: false, detail: "\(name): \(d.length) bytes, \(entry.length) listed")
                }
                for (alg, want) in entry.hashes where d.hex[DigestAlgorithm(rawValue: alg)!] != want.lowercased() {
                    return RepositoryCheck(name: "target", passed: false, detail: "\(name): \(alg) of \(path) does not match")
                }
            }
            return RepositoryCheck(name: "target", passed: true, detail: "\(name): \(entry.length) bytes, hashes match")
        } catch {
            return RepositoryCheck(name: "target", passed: false, detail: "\(name): \(error)")
        }
    }
}
