import Foundation
import FirmchainCore

/// The lineage of one artefact (`firmchain custody trace`): the step that produced it, the
/// materials that step read, the steps that produced those, and so on back to the inputs that
/// no step produced; plus the ledger entries and provenance statements that name it.
public struct CustodyTrace: Sendable, Hashable {
    /// The version of the trace document (`--json`).
    public static let documentVersion = 1

    /// One artefact in the lineage and where it came from.
    public struct Node: Sendable, Hashable {
        /// Its path (relative to `OUT`) as the links name it.
        public var name: String
        /// Its sha256.
        public var sha256: String
        /// The last step that produced it (none for an input).
        public var producedBy: [Production]
    }

    /// A step that produced an artefact.
    public struct Production: Sendable, Hashable {
        /// The step.
        public var step: String
        /// The link file (`custody/<step>.<keyid8>.link`).
        public var linkFile: String
        /// The functionary's keyid.
        public var keyid: String
        /// The command the link records.
        public var command: [String]
        /// Whether the step read the same bytes under the same name (it passed the file on).
        public var passedThrough: Bool
        /// What the step read (its materials), each traced further; for a pass-through only
        /// the material it passed on.
        public var materials: [Node]
    }

    /// The sha256 that was traced.
    public var sha256: String
    /// Every name the links give these bytes, each with its lineage.
    public var roots: [Node]
    /// Steps that read these bytes as a material.
    public var consumedBy: [String]
    /// Ledger entries whose subjects or inputs carry this digest.
    public var ledgerEntries: [LedgerEntry]
    /// Subjects of provenance statements with this digest.
    public var provenanceSubjects: [String]

    /// Whether anything in the custody evidence names these bytes.
    public var isKnown: Bool { !roots.isEmpty || !ledgerEntries.isEmpty || !provenanceSubjects.isEmpty }

    /// Traces `sha256` through `links` (in step order, as `CustodyStore.linksInStepOrder`
    /// returns them), `ledger` and `provenance`. Each name is followed back to the last step
    /// that produced it; a step that passed the file on unchanged is followed to the step
    /// before it, a step that wrote it to each of its materials.
    public static func trace(sha256: String, links: [(file: String, link: SignedLink)], ledger: [LedgerEntry],
                             provenance: [ProvenanceStatement]) -> CustodyTrace {
        let digest = sha256.lowercased()
        var names = Set<String>()
        var consumers = [String]()
        for (_, l) in links {
            for (p, d) in l.link.products where d["sha256"] == digest { names.insert(p) }
            for (p, d) in l.link.materials where d["sha256"] == digest {
                names.insert(p)
                if !consumers.contains(l.link.name) { consumers.append(l.link.name) }
            }
        }
        let roots = names.sorted().map { lineage(name: $0, sha256: digest, links: links, before: links.count) }
        let entries = ledger.filter { e in (e.record.subjects + e.record.inputs).contains { $0.digests["sha256"] == digest } }
        let subjects = provenance.flatMap { $0.subjects.filter { $0.digests["sha256"] == digest }.map(\.name) }
        return CustodyTrace(sha256: digest, roots: roots, consumedBy: consumers, ledgerEntries: entries, provenanceSubjects: subjects)
    }

    /// The lineage of `name` with `sha256` as produced by one of `links[0..<before]` (the last
    /// such); the recursion only looks at earlier links, so it ends.
    private static func lineage(name: String, sha256: String, links: [(file: String, link: SignedLink)], before: Int) -> Node {
        guard let i = links[0..<before].lastIndex(where: { $0.link.link.products[name]?["sha256"] == sha256 }) else {
            return Node(name: name, sha256: sha256, producedBy: [])
        }
        let (file, l) = links[i]
        let passed = l.link.materials[name]?["sha256"] == sha256
        let mats = passed ? [name] : l.link.materials.keys.sorted()
        let nodes = mats.compactMap { m -> Node? in
            guard let d = l.link.materials[m]?["sha256"] else { return nil }
            return lineage(name: m, sha256: d, links: links, before: i)
        }
        let p = Production(step: l.link.name, linkFile: "custody/" + file, keyid: l.keyid, command: l.link.command,
                           passedThrough: passed, materials: nodes)
        return Node(name: name, sha256: sha256, producedBy: [p])
    }

    /// The trace as a JSON document.
    public var json: JSONValue {
        func node(_ n: Node) -> JSONValue {
            ["name": .string(n.name), "sha256": .string(n.sha256), "produced_by": .array(n.producedBy.map { p in
                ["step": .string(p.step), "link": .string(p.linkFile), "keyid": .string(p.keyid),
                 "command": .array(p.command.map { .string($0) }), "passed_through": .bool(p.passedThrough),
                 "materials": .array(p.materials.map(node))]
            })]
        }
        return [
            "version": .int(Self.documentVersion), "sha256": .string(sha256), "lineage": .array(roots.map(node)),
            "consumed_by": .array(consumedBy.map { .string($0) }),
            "ledger": .array(ledgerEntries.map { $0.json() }),
            "provenance_subjects": .array(provenanceSubjects.map { .string($0) }),
        ]
    }

    /// The trace for people: each name, then the steps back to the inputs, one per line,
    /// numbered in the order they are walked.
    public var text: String {
        var lines = [String]()
        var counter = 0
        func short(_ h: String) -> String { String(h.prefix(12)) }
        func walk(_ n: Node, depth: Int) {
            let pad = String(repeating: "   ", count: depth)
            if n.producedBy.isEmpty {
                lines.append("\(pad)   \(n.name) (sha256 \(short(n.sha256))…) — an input: no step produced it")
                return
            }
            for p in n.producedBy {
                counter += 1
                let who = "by \(p.keyid.prefix(8)) (\(p.linkFile))"
                if p.passedThrough {
                    lines.append("\(pad)\(counter). \(p.step): passed on \(n.name) unchanged \(who)")
                } else {
                    lines.append("\(pad)\(counter). \(p.step): wrote \(n.name) \(who)")
                    if !p.command.isEmpty { lines.append("\(pad)   command: \(p.command.joined(separator: " "))") }
                    lines.append("\(pad)   from \(p.materials.count) material(s):")
                }
                for m in p.materials { walk(m, depth: p.passedThrough ? depth : depth + 1) }
            }
        }
        lines.append("sha256 \(sha256)")
        for r in roots {
            lines.append("")
            lines.append("\(r.name):")
            counter = 0
            walk(r, depth: 0)
        }
        if !consumedBy.isEmpty { lines.append(""); lines.append("read by step(s): \(consumedBy.joined(separator: ", "))") }
        if !ledgerEntries.isEmpty {
            lines.append("")
            lines.append("ledger:")
            for e in ledgerEntries {
                lines.append("  #\(e.seq) \(UTCTimestamp.string(from: e.time)) \(e.record.action) by \(e.record.actor.prefix(8))")
            }
        }
        if !provenanceSubjects.isEmpty { lines.append(""); lines.append("provenance: \(provenanceSubjects.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}
