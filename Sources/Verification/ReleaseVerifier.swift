import Custody
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing

/// The trust a release is verified against, all of it from outside the release
/// (Docs/architecture.md "Trust comes from outside what is verified"): nothing in `OUT`
/// vouches for itself.
public struct ReleaseTrust: Sendable {
    /// The bytes of the root a device ships with (or an auditor keeps): the start of the chain.
    public var trustedRoot: [UInt8]
    /// How the trusted root is named in the report (its path).
    public var trustedRootName: String
    /// The keys that must all have signed the in-toto layout.
    public var ownerKeys: [PublicKey]
    /// The policy the release must follow (hardware classes, algorithms, key ages, steps), if any.
    public var policy: Policy?
    /// What a device remembered from the last verification (rollback and downgrade checks), if any.
    public var previous: DeviceState?

    /// Trust from its parts.
    public init(trustedRoot: [UInt8], trustedRootName: String, ownerKeys: [PublicKey], policy: Policy? = nil, previous: DeviceState? = nil) {
        self.trustedRoot = trustedRoot
        self.trustedRootName = trustedRootName
        self.ownerKeys = ownerKeys
        self.policy = policy
        self.previous = previous
    }
}

/// What `ReleaseVerifier.verify` found: one report, the repository walk behind it, and the
/// state a device would remember when everything passed.
public struct ReleaseVerification: Sendable {
    /// Every check in the order it ran, with where trust came from.
    public var report: VerificationReport
    /// The TUF walk (with the release's revocations applied).
    public var repository: RepositoryVerification
    /// The custody verification.
    public var custody: CustodyVerification
    /// The versions and released version numbers a device would remember after accepting this
    /// release; nil when the report did not pass (nothing unverified is remembered).
    public var state: DeviceState?

    /// Whether at least one check ran and none failed.
    public var passed: Bool { report.passed }
}

/// Verifies a whole release directory against trust given from outside it, and returns one
/// `VerificationReport` (`firmchain verify`, Docs/verify.md). It composes the verifiers that
/// exist — `RepositoryVerifier` (TUF client workflow), `RevocationList.verify`,
/// `CustodyVerifier` (in-toto, ledger, provenance) — and adds the checks none of them makes.
///
/// Steps, in order (check ids in Docs/verify.md):
/// 1. the root chain from the trusted root onward: `repo.root.*`;
/// 2. the revocation list against the newest root: `keys.revocations`, applied to every later
///    signature check (TUF, layout, links, provenance, checkpoints);
/// 3. timestamp → snapshot → targets → delegations: `repo.timestamp.*`, `repo.snapshot.*`,
///    `repo.targets.*`, `repo.delegation.*`, rollback against the previous state, expiry at
///    the reference time;
/// 4. every hash-named copy of every target (`repo.target`); nothing in `repository/` the
///    metadata does not account for (`release.repository.unlisted`); firmware fields
///    well-formed (`release.targets.custom`); the policy's hardware classes and priorities
///    (`release.targets.hardware`); no downgrade below the last released version number
///    (`release.targets.rollback`);
/// 5. every delta applied to its named base reproduces its stated target (`release.delta`);
/// 6. encrypted payloads (`release.encryption`); distributor containers in `exports/` carry
///    released targets (`release.exports`, only when there are exports);
/// 7. custody: `custody.*` of `CustodyVerifier` with the owner keys given, then exactly the
///    links the layout names (`custody.links.exact`), products equal to the released targets
///    (`custody.products`), provenance present for every target (`custody.provenance.present`),
///    the ledger's tail covered by a signed checkpoint (`custody.ledger.sealed`), and the
///    release's own key files agreeing with the trust given (`release.keys`);
/// 8. policy: algorithms and key sizes (`policy.algorithms`), thresholds (`policy.thresholds`),
///    key ages (`policy.key-age`), required steps (`policy.steps`).
///
/// A check that cannot run because what it needs was not verified is `skipped`, and the report
/// fails through the check that stopped it.
public struct ReleaseVerifier: Sendable {
    /// The trust given from outside.
    public var trust: ReleaseTrust
    /// The reference time (one per run).
    public var now: Date
    /// Base images deltas may be applied to, found by their sha256 (they need no trust: a base
    /// is used only when its sha256 is the one the signed delta fields name). Bases kept in
    /// `repository/targets` as earlier releases' copies are found without being given.
    public var baseImages: [[UInt8]]

    /// A verifier for `trust` at `now`.
    public init(trust: ReleaseTrust, now: Date, baseImages: [[UInt8]] = []) {
        self.trust = trust
        self.now = now
        self.baseImages = baseImages
    }

    /// Verifies the release directory `out` on disk.
    public func verify(out: String) -> ReleaseVerification { verify(files: DiskReleaseFiles(out)) }

    /// Verifies a release read through `files` (the directory on disk, or a copy in memory).
    public func verify(files: any ReleaseFiles) -> ReleaseVerification {
        var report = VerificationReport(subject: files.location, referenceTime: now)
        let source: any MetadataSource = (files as? DiskReleaseFiles).map { DirectorySource(RepositoryStore(directory: $0.out)) }
            ?? ReleaseFilesSource(files: files)

        // 1–3. The repository, with the revocation list of the newest root applied.
        var verifier = RepositoryVerifier(source: source, now: now, previous: trust.previous?.versions)
        let chain = verifier.verify(trustedRoot: trust.trustedRoot, trustedRootPath: trust.trustedRootName, checkTargetFiles: false)
        var repository = chain
        var revocations = [Revocation]()
        if let newest = chain.trusted?.root.signed {
            let check: Check
            do {
                let bytes = try files.read("keys/revocations.json", limit: RevocationList.fileLimit)
                let r = RevocationList.verify(bytes: bytes, named: "keys/revocations.json", root: newest, at: now)
                revocations = r.revocations
                check = r.check
            } catch {
                check = Check("keys.revocations", .failed, "\(error)", subject: "keys/revocations.json")
            }
            verifier.revocations = revocations
            repository = verifier.verify(trustedRoot: trust.trustedRoot, trustedRootPath: trust.trustedRootName, checkTargetFiles: true)
            // The list is judged right after the root chain it hangs from.
            let at = repository.report.checks.firstIndex { !$0.id.hasPrefix("repo.root.") } ?? repository.report.checks.count
            repository.report.checks.insert(check, at: at)
        }
        report.merge(repository.report)

        // 4–6. The targets.
        let trustedTargets = repository.trusted?.targets != nil && !repository.report.checks.contains { $0.status == .failed && $0.id != "repo.target" }
        let targetChecks = TargetChecks(files: files, repository: repository, trust: trust, baseImages: baseImages)
        if trustedTargets {
            report.checks += targetChecks.all()
            if let exports = ExportChecks(files: files, repository: repository).check() { report.checks.append(exports) }
        } else {
            report.skip(TargetChecks.ids, because: "the repository did not verify, so its targets are not trusted")
        }

        // 7. Custody, with the owner keys given and the revocations in force.
        let custody = CustodyVerifier(ownerKeys: trust.ownerKeys, now: now, revocations: revocations).verify(files: files)
        report.checks += custody.report.checks
        let evidence = CustodyChecks(files: files, custody: custody, repository: trustedTargets ? repository : nil, trust: trust)
        report.checks += evidence.all()

        // 8. Policy.
        report.checks += PolicyChecks(policy: trust.policy, repository: repository, custody: custody, trust: trust, now: now).all()

        report.trust = repository.report.trust + trust.ownerKeys.map { "owner key \($0.keyid.prefix(16))… (given)" }
        if let p = trust.policy { report.trust.append("policy \(p.path)") }
        if let prev = trust.previous, !prev.released.isEmpty {
            report.trust.append("previously released: " + prev.released.sorted { $0.key < $1.key }.map { "\($0.key) #\($0.value)" }.joined(separator: ", "))
        }
        if trustedTargets {
            report.facts["targets"] = .object(repository.allTargets.mapValues { ["length": .int($0.length), "custom": $0.custom ?? .null] })
        }
        var state: DeviceState?
        if report.passed, let versions = repository.trusted?.versions {
            var released = trust.previous?.released ?? [:]
            for (name, file) in repository.allTargets {
                if let fw = try? FirmwareInfo(custom: file.custom), fw.kind == .full { released[name] = max(released[name] ?? 0, fw.versionNumber) }
            }
            state = DeviceState(versions: versions, released: released)
        }
        return ReleaseVerification(report: report, repository: repository, custody: custody, state: state)
    }
}
