import Custody
import FirmchainCore
import Foundation
import Release
import Repository
import Signing

/// Step 7 of `ReleaseVerifier` beyond `CustodyVerifier`'s own checks: the evidence must be
/// exactly what the layout names, it must be about the targets TUF released, and the release's
/// own key files must agree with the trust given from outside.
struct CustodyChecks {
    let files: any ReleaseFiles
    let custody: CustodyVerification
    /// The verified repository; nil when it did not verify.
    let repository: RepositoryVerification?
    let trust: ReleaseTrust

    /// The files `custody/` may hold besides the links.
    static let evidenceFiles: Set<String> = ["custody/root.layout", "custody/provenance.intoto.jsonl", "custody/ledger.jsonl",
                                             "custody/ledger.checkpoint.json"]

    func all() -> [Check] {
        [linksExact(), products(), provenancePresent(), ledgerSealed(), keys()]
    }

    /// Every step has a link, and every file in `custody/` is the layout, the provenance, the
    /// ledger, its checkpoint, or a validly signed link of a functionary the layout names.
    private func linksExact() -> Check {
        let id = "custody.links.exact", title = "custody/ holds exactly the links the layout names, each validly signed"
        guard let layout = custody.layout?.layout, custody.report.check("custody.layout.signatures")?.status == .passed else {
            return Check(id, .skipped, title, details: ["the layout is not trusted"])
        }
        var valid = Set<String>()
        for (step, links) in custody.links { for l in links { valid.insert("custody/" + InTotoLink.fileName(step: step, keyid: l.keyid)) } }
        var failures = [String]()
        for path in files.entries(under: "custody") where !Self.evidenceFiles.contains(path) && !valid.contains(path) {
            failures.append(path.hasSuffix(".link") ? "\(path): not a validly signed link of a functionary the layout names"
                                                    : "\(path): not custody evidence the layout accounts for")
        }
        for step in layout.steps where (custody.links[step.name] ?? []).isEmpty {
            failures.append("step \(step.name): no link")
        }
        return .from(id, title, failures: failures, passedDetails: ["\(valid.count) link(s) for \(layout.steps.count) step(s)"], subject: "custody")
    }

    /// The products under `repository/targets/` of the last step that records any are exactly
    /// the copies of the targets the trusted metadata lists, with the same sha256.
    private func products() -> Check {
        let id = "custody.products", title = "the custody products under repository/targets are the released targets' copies"
        guard let repository else { return Check(id, .skipped, title, details: ["the repository did not verify"]) }
        guard let layout = custody.layout?.layout, custody.report.check("custody.links.threshold")?.status == .passed else {
            return Check(id, .skipped, title, details: ["the links are not trusted"])
        }
        var expected = [String: String]()
        for e in repository.allEntries {
            guard let sha = e.file.hashes["sha256"]?.lowercased() else { continue }
            for path in RepositoryContents.copies(e.name, e.file) { expected[path] = sha }
        }
        let prefix = "repository/targets/"
        let delivering = layout.steps.reversed().compactMap { step -> (String, InTotoLink)? in
            guard let link = custody.links[step.name]?.first?.link, link.products.keys.contains(where: { $0.hasPrefix(prefix) }) else { return nil }
            return (step.name, link)
        }.first
        guard let (step, link) = delivering else {
            return Check(id, .failed, title, details: ["no step's link records products under \(prefix)"])
        }
        var failures = [String]()
        let recorded = link.products.filter { $0.key.hasPrefix(prefix) }
        for (path, sha) in expected.sorted(by: { $0.key < $1.key }) {
            guard let got = recorded[path]?["sha256"] else { failures.append("\(path): released, but not a product of step \(step)"); continue }
            if got != sha { failures.append("\(path): step \(step) recorded sha256 \(got.prefix(16))…, the release lists \(sha.prefix(16))…") }
        }
        // Earlier releases' copies stay served (devices part-way through an update); the
        // inventory accounts for them by the signed earlier targets versions that list them.
        let unaccounted = Set(RepositoryContents.unlisted(in: files, verification: repository).map(\.path))
        let earlier = Set(files.entries(under: "repository/targets")).subtracting(unaccounted)
        for path in recorded.keys.sorted() where expected[path] == nil && !earlier.contains(path) {
            failures.append("\(path): a product of step \(step) that the release does not list")
        }
        return .from(id, title, failures: failures, passedDetails: ["\(expected.count) copies, as step \(step) recorded them"])
    }

    /// Provenance exists, and every released target is the subject of a statement signed by a
    /// trusted key (`custody.provenance` checks the signatures of every statement).
    private func provenancePresent() -> Check {
        let id = "custody.provenance.present", path = "custody/provenance.intoto.jsonl"
        let title = "every released target has an SLSA provenance statement"
        let envelopes: [DSSEEnvelope]
        do {
            guard let bytes = try files.read(path, limit: 1 << 28) else { return Check(id, .failed, title, subject: path, details: ["\(path) is missing"]) }
            envelopes = try CustodyStore.provenance(bytes, path: path)
        } catch {
            return Check(id, .failed, title, subject: path, details: ["\(error)"])
        }
        guard !envelopes.isEmpty else { return Check(id, .failed, title, subject: path, details: ["\(path) holds no statement"]) }
        guard let repository else { return Check(id, .skipped, title, subject: path, details: ["the repository did not verify"]) }
        var ring = KeyRing()
        for k in trust.ownerKeys { ring.add(k, roles: [.checkpoint]) }
        if let layout = custody.layout?.layout {
            for step in layout.steps { for kid in step.pubkeys { if let k = layout.keys[kid] { ring.add(k, roles: [.checkpoint], listedAs: kid) } } }
        }
        var subjects = Set<String>()
        for env in envelopes where env.verify(ring: ring, role: .checkpoint, at: custody.report.referenceTime).isMet {
            if let st = try? ProvenanceStatement(envelope: env) { for s in st.subjects { subjects.insert(s.name + " " + (s.digests["sha256"] ?? "")) } }
        }
        let missing = repository.allEntries.filter { !subjects.contains($0.name + " " + ($0.file.hashes["sha256"]?.lowercased() ?? "")) }.map(\.name).sorted()
        return .from(id, title, failures: missing.map { "\($0): no validly signed statement names it with its sha256" },
                     passedDetails: ["\(envelopes.count) statement(s)"], subject: path)
    }

    /// The ledger ends with a whole line and every entry, the last one included, is covered by
    /// a signed checkpoint (`custody.ledger.coverage` and `custody.ledger.tail` only warn).
    private func ledgerSealed() -> Check {
        let id = "custody.ledger.sealed", title = "the ledger's tail is covered by a signed checkpoint"
        guard let ledger = custody.ledger else {
            // The custody verifier stops before the ledger when the layout is not trusted (and
            // that check has failed); otherwise the ledger could not be read.
            let stopped = custody.report.checks.contains { $0.id == "custody.remaining" }
            return Check(id, stopped ? .skipped : .failed, title, subject: "custody/ledger.jsonl",
                         details: [stopped ? "the layout is not trusted, so neither are the checkpoint keys" : "the ledger could not be read"])
        }
        var failures = [String]()
        for c in ledger.checks where ["custody.ledger.coverage", "custody.ledger.tail"].contains(c.id) && c.status != .passed {
            failures += c.details.isEmpty ? [c.reason] : c.details
        }
        if ledger.lastValidCheckpoint == nil { failures.append("no signed checkpoint") }
        return .from(id, title, failures: failures, passedDetails: ledger.lastValidCheckpoint.map { ["the last entry, seq \($0), is a signed checkpoint"] } ?? [],
                     subject: "custody/ledger.jsonl")
    }

    /// The release's own key files (`keys/`) agree with the trust given
    /// (`ReleaseDirectory.unaccountedKeyFiles`, the rule the pipeline applies too): owner keys
    /// are among those given and every given one has its file, every role key is one a trusted
    /// root gives that role, and no other file (a private key least of all) is there.
    private func keys() -> Check {
        let id = "release.keys", title = "keys/ holds the owner keys given and the trusted roots' role keys, and nothing else"
        let given = Set(trust.ownerKeys.map(\.keyid))
        let entries = files.entries(under: "keys").map { path in
            ReleaseDirectory.KeyFile(path: path, bytes: (try? files.read(path, limit: ReleaseDirectory.KeyFile.limit)) ?? nil)
        }
        let roots = RepositoryInventory.chainOfRoots(ReleaseFilesSource(files: files), newest: repository?.root?.version ?? 0)
        var failures = ReleaseDirectory.unaccountedKeyFiles(entries, ownerKeyIDs: given, roots: roots,
                                                            functionaryKeyIDs: Set(custody.layout?.layout.keys.keys.map { $0 } ?? []))
            .map(\.description)
        let owners = Set(entries.filter { $0.path.hasPrefix("keys/owner") }.compactMap { $0.bytes.flatMap { try? PublicKey(pem: String(decoding: $0, as: UTF8.self)) }?.keyid })
        for missing in given.subtracting(owners).sorted() { failures.append("keys/: no owner key file for the given key \(missing.prefix(8))") }
        return .from(id, title, failures: failures, subject: "keys")
    }
}
