/// Python `fnmatch.fnmatchcase` semantics, which in-toto uses for artifact rule patterns:
/// `*` matches any run of characters (including `/`), `?` one character, `[seq]` / `[!seq]`
/// a character in / not in a set with `a-z` ranges; an unclosed `[` is a literal.
/// Matching is over Unicode scalars and covers the whole name.
public enum FNMatch {
    /// Whether `name` matches `pattern`.
    public static func matches(_ name: String, _ pattern: String) -> Bool {
        let n = Array(name.unicodeScalars), p = Array(pattern.unicodeScalars)
        // Iterative glob match with one backtrack point for the last `*` (linear in practice).
        var i = 0, j = 0
        var star = -1, mark = 0
        while i < n.count {
            if j < p.count, p[j] == "*" {
                star = j; mark = i; j += 1
                continue
            }
            if j < p.count, let (ok, next) = single(p, j, n[i]), ok {
                i += 1; j = next
                continue
            }
            if star >= 0 {
                j = star + 1; mark += 1; i = mark
                continue
            }
            return false
        }
        while j < p.count, p[j] == "*" { j += 1 }
        return j == p.count
    }

    /// Matches one pattern element at `j` against `c`: returns (matched, index after the
    /// element), or nil when `j` is a `*`.
    private static func single(_ p: [Unicode.Scalar], _ j: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
        switch p[j] {
        case "*": return nil
        case "?": return (true, j + 1)
        case "[":
            // Find the closing bracket the way Python's translate does.
            var k = j + 1
            if k < p.count, p[k] == "!" { k += 1 }
            if k < p.count, p[k] == "]" { k += 1 }
            while k < p.count, p[k] != "]" { k += 1 }
            guard k < p.count else { return (c == "[", j + 1) }  // unclosed: literal '['
            var s = j + 1
            var negate = false
            if p[s] == "!" { negate = true; s += 1 }
            var found = false
            var t = s
            while t < k {
                if t + 2 < k, p[t + 1] == "-" {
                    if p[t].value <= c.value && c.value <= p[t + 2].value { found = true }
                    t += 3
                } else {
                    if p[t] == c { found = true }
                    t += 1
                }
            }
            return (found != negate, k + 1)
        default:
            return (p[j] == c, j + 1)
        }
    }
}

/// Why an artifact rule list rejected a step's or inspection's artefacts.
public struct RuleFailure: Sendable, Hashable, CustomStringConvertible {
    /// The step or inspection.
    public var item: String
    /// Whether the rules were its expected materials or products.
    public var side: ArtifactRule.Side
    /// The rule that failed (a DISALLOW or REQUIRE).
    public var rule: ArtifactRule
    /// The artefacts it found (DISALLOW) or missed (REQUIRE).
    public var artifacts: [String]

    /// One line naming the item, the side and the rule, with the artefacts it matched (DISALLOW) or
    /// did not find (REQUIRE).
    public var description: String {
        switch rule {
        case .require: return "\(item) \(side.rawValue): '\(rule)' did not find \(artifacts.joined(separator: ", "))"
        default: return "\(item) \(side.rawValue): '\(rule)' matched \(artifacts.joined(separator: ", "))"
        }
    }
}

/// The artifact-rule engine of in-toto's `verify_item_rules` (in-toto spec §4.3.3): each
/// artefact of the item starts in a queue; rules consume artefacts in order; DISALLOW fails on
/// anything still queued that it matches, REQUIRE fails if its path is no longer queued.
public enum ArtifactRuleEngine {
    /// Applies `rules` to `side` of `item`'s link; `links` holds every step's (and inspection's)
    /// link by name, for MATCH. Returns the first failure, or nil when the rules pass.
    public static func check(_ rules: [ArtifactRule], item: String, side: ArtifactRule.Side, links: [String: InTotoLink]) -> RuleFailure? {
        guard let link = links[item] else { return nil }
        let materials = link.materials, products = link.products
        let artifacts = side == .materials ? materials : products
        var queue = Set(artifacts.keys)
        for rule in rules {
            var consumed = Set<String>()
            switch rule {
            case .match(let pattern, let src, let destSide, let dst, let step):
                guard let dest = links[step] else { break }
                let destArtifacts = destSide == .materials ? dest.materials : dest.products
                let srcPrefix = src.flatMap { $0.isEmpty ? nil : normalizedPrefix($0) } ?? ""
                for path in queue where path.hasPrefix(srcPrefix) {
                    let rel = String(path.dropFirst(srcPrefix.count))
                    guard FNMatch.matches(rel, pattern) else { continue }
                    let destPath = dst.flatMap { $0.isEmpty ? nil : normalizedPrefix($0) + rel } ?? rel
                    if let d = destArtifacts[destPath], d == artifacts[path] { consumed.insert(path) }
                }
            case .create(let p):
                consumed = Set(queue.filter { FNMatch.matches($0, p) && products[$0] != nil && materials[$0] == nil })
            case .delete(let p):
                consumed = Set(queue.filter { FNMatch.matches($0, p) && materials[$0] != nil && products[$0] == nil })
            case .modify(let p):
                consumed = Set(queue.filter { FNMatch.matches($0, p) && materials[$0] != nil && products[$0] != nil && materials[$0] != products[$0] })
            case .allow(let p):
                consumed = Set(queue.filter { FNMatch.matches($0, p) })
            case .disallow(let p):
                let hit = queue.filter { FNMatch.matches($0, p) }.sorted()
                if !hit.isEmpty { return RuleFailure(item: item, side: side, rule: rule, artifacts: hit) }
            case .require(let path):
                if !queue.contains(path) { return RuleFailure(item: item, side: side, rule: rule, artifacts: [path]) }
            }
            queue.subtract(consumed)
        }
        return nil
    }

    /// `os.path.join(prefix, "")`: the prefix with exactly one trailing `/`.
    static func normalizedPrefix(_ p: String) -> String { p.hasSuffix("/") ? p : p + "/" }
}
