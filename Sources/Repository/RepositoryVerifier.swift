import FirmchainCore
import Foundation
import Signing

/// What `RepositoryVerifier.verify` found: the report of every check, and the metadata it
/// came to trust (nil past the first failure that stops the walk).
public struct RepositoryVerification: Sendable {
    /// Every check in the order it ran.
    public var report: VerificationReport
    /// The trusted metadata, as far as the walk got.
    public var trusted: TrustedMetadataSet?

    /// A result from its parts.
    public init(report: VerificationReport, trusted: TrustedMetadataSet?) {
        self.report = report
        self.trusted = trusted
    }

    /// Whether every check passed.
    public var passed: Bool { report.passed }
    /// The trusted root, when the walk got that far.
    public var root: Root? { trusted?.root.signed }
    /// The trusted top-level targets, when the walk got that far.
    public var targets: Targets? { trusted?.targets?.signed }
    /// Every trusted target by name, as a client resolves it: the top-level role's first, then
    /// each delegated role's in the order of the delegation walk (the first role naming a target wins).
    public var allTargets: [String: TargetFile] {
        var all = trusted?.targets?.signed.targets ?? [:]
        for name in trusted?.delegationOrder ?? [] {
            all.merge(trusted?.delegated[name]?.signed.targets ?? [:]) { first, _ in first }
        }
        return all
    }

    /// Every target entry of every trusted role, with the role that lists it.
    public var allEntries: [(role: String, name: String, file: TargetFile)] {
        var out = (trusted?.targets?.signed.targets ?? [:]).sorted { $0.key < $1.key }.map { ("targets", $0.key, $0.value) }
        for role in trusted?.delegationOrder ?? [] {
            out += (trusted?.delegated[role]?.signed.targets ?? [:]).sorted { $0.key < $1.key }.map { (role, $0.key, $0.value) }
        }
        return out
    }
}

/// Verifies a repository the way a TUF client does (TUF spec §5.3–§5.7), starting from a root
/// trusted from outside, at one reference time, against previously trusted versions when
/// given. Everything the source returns is untrusted; the checks run through
/// `TrustedMetadataSet`.
///
/// Steps, in order (check ids in `Docs/verify.md`):
/// 1. `repo.root.trusted`: the trusted root is signed by its own root threshold;
/// 2. `repo.root.chain`: each `N.root.json` after it is signed by a threshold of the previous
///    root's root keys and of its own, and has version N (§5.3.4–5);
/// 3. `repo.root.rollback`, `repo.root.expiry`: the final root is not older than the trusted
///    state and has not expired (§5.3.10);
/// 4. `repo.timestamp.*`: threshold, rollback, expiry (§5.4);
/// 5. `repo.snapshot.*`: length/hashes as the timestamp lists them, threshold, version,
///    rollback of every listed role, expiry (§5.5);
/// 6. `repo.targets.*`: likewise for the top-level targets (§5.6);
/// 7. `repo.delegation.*`: every delegated role reachable from targets, signed by the keys its
///    delegator names, listing only targets inside its delegated paths (§5.6.7);
/// 8. `repo.target`: every copy of every target (one per listed hash) has the listed length and
///    hashes (§5.7).
public struct RepositoryVerifier: Sendable {
    /// Where the repository is read from.
    public let source: any MetadataSource
    /// The reference time of the run.
    public let now: Date
    /// The versions trusted before (rollback protection), if any.
    public var previous: TrustedVersions?
    /// Revocations applied to every signature.
    public var revocations: [Revocation]
    /// Expired metadata is a warning, not a failure: only for a writer about to re-sign it.
    public var expiredIsWarning = false

    /// Limits on untrusted structure: root versions walked and delegated roles visited.
    public static let maxRootVersions: Int64 = 1024, maxDelegatedRoles = 256

    /// A verifier of `source` at `now`.
    public init(source: any MetadataSource, now: Date, previous: TrustedVersions? = nil, revocations: [Revocation] = []) {
        self.source = source
        self.now = now
        self.previous = previous
        self.revocations = revocations
    }

    /// A verifier of the repository in `store`'s release directory.
    public init(store: RepositoryStore, now: Date) {
        self.init(source: DirectorySource(store), now: now)
    }

    /// Runs every step; a failure stops the walk where later steps would rely on it, and the
    /// steps not run are reported as skipped.
    public func verify(trustedRoot: [UInt8], trustedRootPath: String? = nil, checkTargetFiles: Bool = true) -> RepositoryVerification {
        let name = trustedRootPath ?? "trusted root"
        var report = VerificationReport(subject: source.location,
                                        referenceTime: now,
                                        trust: ["trusted root \(name) (sha256 \(DigestCalculator.sha256Hex(trustedRoot).prefix(16))…)"])
        if let previous { report.trust.append("previous state: root v\(previous.root), timestamp v\(previous.timestamp), snapshot v\(previous.snapshot)") }
        let (start, first) = TrustedMetadataSet.start(trustedRoot: trustedRoot, named: name, referenceTime: now, previous: previous,
                                                        revocations: revocations, expiredIsWarning: expiredIsWarning)
        report.checks += first
        guard var set = start else { return RepositoryVerification(report: stop(report), trusted: nil) }

        // 2–3. The root chain.
        var n = set.root.signed.version + 1
        let last = n + Self.maxRootVersions
        while n < last {
            let file = "\(n).root.json"
            let bytes: [UInt8]?
            do { bytes = try source.metadata(file, limit: RepositoryStore.metadataLimit) } catch {
                report.append(Check("repo.root.chain", .failed, "\(error)", subject: file))
                return RepositoryVerification(report: stop(report), trusted: set)
            }
            guard let bytes else { break }
            let c = set.updateRoot(bytes, named: file)
            report.append(c)
            guard c.status == .passed else { return RepositoryVerification(report: stop(report), trusted: set) }
            n += 1
        }
        if n == last, (try? source.metadata("\(n).root.json", limit: RepositoryStore.metadataLimit)) != nil {
            report.append(Check("repo.root.chain", .failed, "more than \(Self.maxRootVersions) root versions after the trusted one", subject: "\(n).root.json"))
            return RepositoryVerification(report: stop(report), trusted: set)
        }
        report.checks += set.finishRoot()
        guard report.passed else { return RepositoryVerification(report: stop(report), trusted: set) }

        // 4–6. Timestamp, snapshot, targets.
        guard step(&report, "repo.timestamp.read", "timestamp.json", { set.updateTimestamp($0, named: "timestamp.json") }),
              let ts = set.timestamp,
              step(&report, "repo.snapshot.read", "\(ts.signed.snapshot.version).snapshot.json",
                   { set.updateSnapshot($0, named: "\(ts.signed.snapshot.version).snapshot.json") }),
              let snap = set.snapshot
        else { return RepositoryVerification(report: stop(report), trusted: set) }
        let targetsFile = "\(snap.signed.meta["targets.json"]?.version ?? 0).targets.json"
        guard step(&report, "repo.targets.read", targetsFile, { set.updateTargets($0, named: targetsFile) }), let top = set.targets else {
            return RepositoryVerification(report: stop(report), trusted: set)
        }

        // 7. Delegations, breadth first from the top-level targets, each role once.
        var queue = (top.signed.delegations.map { d in d.roles.map { ($0, d) } } ?? [])
        var visited = Set<String>()
        var next = 0
        while next < queue.count {
            let (role, delegator) = queue[next]
            next += 1
            guard TopLevelRole(rawValue: role.name) == nil else {
                report.append(Check("repo.delegation.read", .failed, "a delegated role may not be named like the top-level role \(role.name)", subject: role.name))
                return RepositoryVerification(report: stop(report), trusted: set)
            }
            guard visited.insert(role.name).inserted else { continue }
            guard visited.count <= Self.maxDelegatedRoles, queue.count <= 16 * Self.maxDelegatedRoles else {
                report.append(Check("repo.delegation.read", .failed, "more than \(Self.maxDelegatedRoles) delegated roles"))
                return RepositoryVerification(report: stop(report), trusted: set)
            }
            guard Self.isSafeRoleName(role.name), let v = snap.signed.meta["\(role.name).json"]?.version else {
                report.append(Check("repo.delegation.read", .failed,
                                    Self.isSafeRoleName(role.name) ? "the snapshot does not list \(role.name).json" : "the role name \"\(role.name)\" is not a safe file name",
                                    subject: role.name))
                return RepositoryVerification(report: stop(report), trusted: set)
            }
            let file = "\(v).\(role.name).json"
            guard step(&report, "repo.delegation.read", file, { set.updateDelegated(role, by: delegator, $0, named: file) }),
                  let md = set.delegated[role.name] else {
                return RepositoryVerification(report: stop(report), trusted: set)
            }
            if let d = md.signed.delegations { queue += d.roles.map { ($0, d) } }
        }

        // 8. Target files.
        var result = RepositoryVerification(report: report, trusted: set)
        if checkTargetFiles {
            // Every entry of every role, not only the one a client resolves first.
            for entry in result.allEntries { result.report.append(checkTarget(entry.name, entry.file)) }
        }
        return result
    }

    /// Reads `file` and feeds it to `update`; records the checks, or a failed `readID` check
    /// when the file is missing or unreadable. True when every check passed.
    private func step(_ report: inout VerificationReport, _ readID: String, _ file: String, _ update: ([UInt8]) -> [Check]) -> Bool {
        let bytes: [UInt8]?
        do { bytes = try source.metadata(file, limit: RepositoryStore.metadataLimit) } catch {
            report.append(Check(readID, .failed, "\(error)", subject: file)); return false
        }
        guard let bytes else { report.append(Check(readID, .failed, "\(file) does not exist", subject: file)); return false }
        let checks = update(bytes)
        report.checks += checks
        return !checks.contains { $0.status == .failed }
    }

    private func stop(_ report: VerificationReport) -> VerificationReport {
        var r = report
        r.append(Check("repo.remaining", .skipped, "later checks did not run: an earlier check failed and nothing unverified is trusted"))
        return r
    }

    /// A delegated role's name becomes a file name: no `/`, no leading `.`, no control characters.
    static func isSafeRoleName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".") && !name.contains("/")
            && !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    private func checkTarget(_ name: String, _ entry: TargetFile) -> Check {
        do {
            try RepositoryStore.validateTargetName(name)
            var algorithms = Set<DigestAlgorithm>()
            for alg in entry.hashes.keys {
                guard let a = DigestAlgorithm(rawValue: alg) else { return Check("repo.target", .failed, "lists the unsupported hash algorithm \(alg)", subject: name) }
                algorithms.insert(a)
            }
            for (_, hash) in entry.hashes.sorted(by: { $0.key < $1.key }) {
                guard let d = try source.targetDigests(name: name, hash: hash, algorithms: algorithms) else {
                    return Check("repo.target", .failed, "the copy under \(hash.prefix(16))… is missing", subject: name)
                }
                guard d.length == entry.length else {
                    return Check("repo.target", .failed, "the copy under \(hash.prefix(16))… is \(d.length) bytes, \(entry.length) listed", subject: name)
                }
                for a in algorithms.sorted(by: { $0.rawValue < $1.rawValue }) where d.hex[a] != entry.hashes[a.rawValue]?.lowercased() {
                    let alg = a.rawValue
                    return Check("repo.target", .failed, "the \(alg) of the copy under \(hash.prefix(16))… does not match", subject: name)
                }
            }
            return Check("repo.target", .passed, "\(entry.length) bytes; every copy matches its hashes", subject: name)
        } catch {
            return Check("repo.target", .failed, "\(error)", subject: name)
        }
    }
}
