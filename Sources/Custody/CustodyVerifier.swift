import Foundation
import FirmchainCore
import Signing

/// The result of `CustodyVerifier.verify`: the report of every check in the order it ran,
/// plus what was read and verified.
public struct CustodyVerification: Sendable {
    /// The checks in order, with where trust came from.
    public var report: VerificationReport
    /// The checks (`report.checks`).
    public var checks: [Check] { report.checks }
    /// The layout, when it could be read.
    public var layout: SignedLayout?
    /// The links that were validly signed by authorised functionaries, per step.
    public var links: [String: [SignedLink]]
    /// The ledger checks, when a ledger was checked.
    public var ledger: LedgerVerification?

    /// Whether no check failed.
    public var holds: Bool { report.passed }
}

/// Firmchain's own custody verifier: the in-toto verification of a release directory plus the
/// ledger and the provenance. It needs no Python and runs no commands.
public struct CustodyVerifier: Sendable {
    /// Keys the layout must be signed by (every one of them, as `in-toto-verify --verification-keys`).
    public var ownerKeys: [PublicKey]
    /// The reference time for expiry (the command's start time).
    public var now: Date
    /// Revocations in force (the release's verified `keys/revocations.json`): a revoked key's
    /// layout, link, provenance and checkpoint signatures do not count (a `compromised` key's
    /// at any time).
    public var revocations: [Revocation]

    /// A verifier for the given owner keys and reference time.
    public init(ownerKeys: [PublicKey], now: Date, revocations: [Revocation] = []) {
        self.ownerKeys = ownerKeys
        self.now = now
        self.revocations = revocations
    }

    /// Verifies the release directory `out`, in this order (in-toto's `in_toto_verify` order,
    /// then Firmchain's own evidence):
    ///
    /// 1. `custody/root.layout` can be read;
    /// 2. it is signed by every owner key;
    /// 3. it has not expired at `now`;
    /// 4. every step has `threshold` links named `<step>.<keyid8>.link`, each validly signed by
    ///    an authorised functionary (bad links are reported and do not count);
    /// 5. for steps with threshold > 1, the links agree on materials and products;
    /// 6. every step's material and product rules hold;
    /// 7. the files in `out` (as in-toto records them, `*.link*` excluded) satisfy each
    ///    inspection's rules — Firmchain records the files itself instead of running the
    ///    inspection command, and refuses inspections whose command is not the no-op `true`;
    /// 8. the ledger checks of `Ledger.verify`, with the owner and functionary keys trusted;
    /// 9. every provenance statement is a valid SLSA Provenance v1 statement signed by a trusted
    ///    key, about artefacts the links produced.
    ///
    /// Checks after a failed layout read or signature are skipped (nothing unsigned is trusted).
    /// Check ids are `custody.*` (`Docs/verify.md`).
    public func verify(out: String) -> CustodyVerification { verify(files: DiskReleaseFiles(out)) }

    /// The same checks over any `ReleaseFiles`: the directory on disk, or a copy in memory.
    public func verify(files: any ReleaseFiles) -> CustodyVerification {
        var checks = [Check]()
        var report = CustodyVerification(report: VerificationReport(subject: files.location, referenceTime: now,
                                                                    trust: ownerKeys.map { "owner key \($0.keyid.prefix(8))" }),
                                         layout: nil, links: [:], ledger: nil)

        // 1–3: the layout.
        let signed: SignedLayout
        do {
            guard let bytes = try files.read("custody/root.layout", limit: DSSEEnvelope.sizeLimit) else {
                throw FirmchainError(.ioNotFound, "no such file", path: "custody/root.layout")
            }
            signed = try SignedLayout(bytes: bytes, path: "custody/root.layout")
            checks.append(Check("custody.layout.read", .passed, "the layout can be read (format \(signed.format.rawValue), \(signed.layout.steps.count) step(s))",
                                subject: "custody/root.layout"))
        } catch {
            checks.append(Check("custody.layout.read", .failed, "\(error)", subject: "custody/root.layout"))
            return finish(report, checks, skipping: ["custody.layout.signatures", "custody.layout.expiry"])
        }
        report.layout = signed
        let owners = ownerKeys.map { $0.keyid }
        var ring = KeyRing()
        for k in ownerKeys { ring.add(k, roles: [.owner, .checkpoint]) }
        for r in revocations { ring.revoke(r) }
        if ownerKeys.isEmpty {
            checks.append(Check("custody.layout.signatures", .failed, "no owner key was given", subject: "custody/root.layout"))
            return finish(report, checks, skipping: ["custody.layout.expiry"])
        }
        let lv = signed.verify(ring: ring, at: now)
        let missing = owners.filter { !lv.valid.contains($0) }
        checks.append(.from("custody.layout.signatures", "the layout is signed by every owner key (\(owners.count))",
                            failures: missing.map { "no valid signature by owner key \($0.prefix(8))" + (lv.invalid.contains($0) ? " (the signature does not verify)" : lv.untrusted.contains($0) ? " (the key is revoked)" : "") },
                            passedDetails: owners.map { "signed by \($0.prefix(8))" }, subject: "custody/root.layout"))
        guard missing.isEmpty else { return finish(report, checks, skipping: ["custody.layout.expiry"]) }
        let layout = signed.layout
        for step in layout.steps {
            for id in step.pubkeys { if let key = layout.keys[id] { ring.add(key, roles: [.functionary(step.name), .checkpoint], listedAs: id) } }
        }
        let expired = layout.expires <= now
        checks.append(Check("custody.layout.expiry", expired ? .failed : .passed, "the layout has not expired",
                            subject: "custody/root.layout",
                            details: ["expires \(UTCTimestamp.string(from: layout.expires)), reference time \(UTCTimestamp.string(from: now))"]))

        // 4: links per step, signed by authorised functionaries.
        var verified = [String: [SignedLink]]()
        var linkFailures = [String](), linkDetails = [String]()
        var usedFiles = Set<String>()
        for step in layout.steps {
            var good = [SignedLink]()
            for keyid in step.pubkeys {
                let file = InTotoLink.fileName(step: step.name, keyid: keyid)
                let path = "custody/" + file
                let bytes: [UInt8]
                do {
                    guard let read = try files.read(path, limit: DSSEEnvelope.sizeLimit) else { continue }
                    bytes = read
                } catch {
                    if files.fileNames(in: "custody").contains(file) {
                        usedFiles.insert(file)
                        linkDetails.append("\(file): skipped, it cannot be read (\((error as? FirmchainError)?.reason ?? "\(error)"))")
                    }
                    continue
                }
                usedFiles.insert(file)
                guard layout.keys[keyid] != nil else { linkDetails.append("\(file): skipped, key \(keyid.prefix(8)) is not in the layout"); continue }
                do {
                    let l = try SignedLink(bytes: bytes, path: path)
                    let v = l.envelope.verify(ring: ring, role: .functionary(step.name), members: [keyid], at: now)
                    if !v.isMet { linkDetails.append("\(file): skipped, not validly signed by \(keyid.prefix(8))"); continue }
                    if l.link.name != step.name { linkDetails.append("\(file): skipped, it is a link for step \(l.link.name)"); continue }
                    good.append(l)
                } catch {
                    linkDetails.append("\(file): skipped, \(error)")
                }
            }
            if good.count < step.threshold {
                linkFailures.append("step \(step.name) needs \(step.threshold) link(s) validly signed by authorised functionaries, found \(good.count)")
            } else {
                linkDetails.append("step \(step.name): \(good.count) link(s) by \(good.map { String($0.keyid.prefix(8)) }.joined(separator: ", "))")
            }
            verified[step.name] = good
        }
        for file in files.fileNames(in: "custody").filter({ $0.hasSuffix(".link") }) where !usedFiles.contains(file) {
            linkDetails.append("\(file): ignored, not the name of a link by an authorised functionary of a step")
        }
        report.links = verified
        checks.append(Check("custody.links.threshold", linkFailures.isEmpty ? .passed : .failed,
                            "every step has its threshold of links signed by authorised functionaries", details: linkFailures + linkDetails))

        // 5: agreement among threshold links.
        var disagreements = [String]()
        for step in layout.steps where step.threshold > 1 {
            let ls = verified[step.name] ?? []
            if let first = ls.first, ls.contains(where: { $0.link.materials != first.link.materials || $0.link.products != first.link.products }) {
                disagreements.append("the links of step \(step.name) record different materials or products")
            }
        }
        checks.append(.from("custody.links.agree", "links of the same step agree on materials and products", failures: disagreements))

        // 6: step rules, over one link per step (in-toto's reduce_chain_links).
        var chain = [String: InTotoLink]()
        for (name, ls) in verified { if let l = ls.first { chain[name] = l.link } }
        let chainComplete = linkFailures.isEmpty && disagreements.isEmpty
        if chainComplete {
            var ruleFailures = [String]()
            for step in layout.steps {
                if let f = ArtifactRuleEngine.check(step.expectedMaterials, item: step.name, side: .materials, links: chain) { ruleFailures.append(f.description) }
                if let f = ArtifactRuleEngine.check(step.expectedProducts, item: step.name, side: .products, links: chain) { ruleFailures.append(f.description) }
            }
            checks.append(.from("custody.rules", "every step's materials and products follow the layout's rules", failures: ruleFailures))

            // 7: inspections over the files present.
            var inspFailures = [String](), inspDetails = [String]()
            if !layout.inspections.isEmpty {
                do {
                    let files = try files.scan()
                    inspDetails.append("\(files.count) file(s) in the release directory")
                    var links = chain
                    for insp in layout.inspections {
                        guard insp.run == CustodyPolicy.deliveredInspectionCommand else {
                            inspFailures.append("inspection \(insp.name) runs \(insp.run); Firmchain runs no inspection commands (use in-toto-verify)")
                            continue
                        }
                        links[insp.name] = InTotoLink(name: insp.name, materials: files, products: files)
                        let order = layout.steps.map(\.name)
                        if let f = ArtifactRuleEngine.check(insp.expectedMaterials, item: insp.name, side: .materials, links: links) {
                            inspFailures += Self.inPlainWords(f, present: files, chain: chain, order: order)
                        } else if let f = ArtifactRuleEngine.check(insp.expectedProducts, item: insp.name, side: .products, links: links) {
                            inspFailures += Self.inPlainWords(f, present: files, chain: chain, order: order)
                        }
                    }
                } catch {
                    inspFailures.append("\(error)")
                }
            }
            checks.append(Check("custody.inspections", inspFailures.isEmpty ? (layout.inspections.isEmpty ? .skipped : .passed) : .failed,
                                "the files in the release directory follow the inspections' rules",
                                details: inspFailures.isEmpty ? (layout.inspections.isEmpty ? ["the layout has no inspection"] : inspDetails) : inspFailures))
        } else {
            checks.append(Check("custody.rules", .skipped, "every step's materials and products follow the layout's rules", details: ["the links are incomplete"]))
            checks.append(Check("custody.inspections", .skipped, "the files in the release directory follow the inspections' rules",
                                details: ["the links are incomplete"]))
        }

        // 8: the ledger, trusting the owner and functionary keys for checkpoints.
        do {
            let lv = try files.verifyLedger(ring: ring)
            report.ledger = lv
            checks += lv.checks
        } catch {
            checks.append(Check("custody.ledger.exists", .failed, "the ledger cannot be read", details: ["\(error)"]))
        }

        // 9: provenance.
        checks.append(checkProvenance(files, ring: ring, chain: chain))
        report.report.checks = checks
        return report
    }

    /// A delivered-files failure as a person reads it (issue #18 item 13): one line per file,
    /// `modified: PATH (expected sha256 …, found …; as STEP produced it)`, `extra: PATH (no step
    /// produced it; sha256 …)` or `missing: PATH (…)`, then the in-toto rule that failed.
    static func inPlainWords(_ f: RuleFailure, present: [String: ArtifactDigests], chain: [String: InTotoLink], order: [String]) -> [String] {
        let short: (String?) -> String = { $0.map { String($0.prefix(16)) + "…" } ?? "none" }
        var lines = [String]()
        for path in f.artifacts.prefix(20) {
            if case .require = f.rule {
                lines.append("missing: \(path) (the layout requires it)")
                continue
            }
            let found = present[path]?["sha256"]
            if let step = order.reversed().first(where: { chain[$0]?.products[path] != nil }), let expected = chain[step]?.products[path]?["sha256"] {
                lines.append(expected == found
                    ? "not allowed here: \(path) (sha256 \(short(found)), as \(step) produced it)"
                    : "modified: \(path) (expected sha256 \(short(expected)) as \(step) produced it, found \(short(found)))")
            } else {
                lines.append("extra: \(path) (no step produced it; sha256 \(short(found)))")
            }
        }
        if f.artifacts.count > 20 { lines.append("… and \(f.artifacts.count - 20) more") }
        lines.append("(in-toto rule: \(f.description))")
        return lines
    }

    private func checkProvenance(_ files: any ReleaseFiles, ring: KeyRing, chain: [String: InTotoLink]) -> Check {
        let id = "custody.provenance", title = "provenance statements are SLSA Provenance v1, signed by a trusted key, about artefacts the steps produced"
        let envelopes: [DSSEEnvelope]
        do {
            envelopes = try files.read("custody/provenance.intoto.jsonl", limit: 1 << 28)
                .map { try CustodyStore.provenance($0, path: "custody/provenance.intoto.jsonl") } ?? []
        } catch { return Check(id, .failed, title, details: ["\(error)"]) }
        guard !envelopes.isEmpty else { return Check(id, .skipped, title, details: ["no custody/provenance.intoto.jsonl"]) }
        let produced = Set(chain.values.flatMap { $0.products.values.compactMap { $0["sha256"] } })
        var failures = [String]()
        for (i, env) in envelopes.enumerated() {
            if !env.verify(ring: ring, role: .checkpoint, at: now).isMet { failures.append("line \(i + 1): not validly signed by a trusted key") }
            do {
                let st = try ProvenanceStatement(envelope: env)
                for s in st.subjects where !produced.contains(s.digests["sha256"] ?? "") {
                    failures.append("line \(i + 1): subject \(s.name) is not a product of any step")
                }
            } catch { failures.append("line \(i + 1): \(error)") }
        }
        return .from(id, title, failures: failures, passedDetails: ["\(envelopes.count) statement(s)"], subject: "custody/provenance.intoto.jsonl")
    }

    private func finish(_ report: CustodyVerification, _ checks: [Check], skipping ids: [String]) -> CustodyVerification {
        var r = report
        r.report.checks = checks
        r.report.skip(ids + ["custody.remaining"], because: "an earlier check failed; nothing unsigned is trusted")
        return r
    }
}
