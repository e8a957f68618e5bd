import FirmchainCore
import Yams

/// Typed, line-aware access to a YAML document, for policy and pipeline files (untrusted
/// input). Every value is read once, at the edge, into typed values; an error names the file,
/// the line and the key path (`roles.targets.threshold`), and unknown keys are errors, so a
/// typo never silently turns into a default.
package struct YAMLValue {
    /// The YAML node.
    package let node: Node
    /// Where the node sits, e.g. `roles.targets.threshold`.
    package let keyPath: String
    /// The file, for messages.
    package let file: String

    /// Limits checked before the YAML parser sees the text: policy and pipeline files are
    /// small, flat and written by people; anything beyond these is refused, not parsed.
    package static let maxBytes = 256 * 1024, maxLineLength = 4096, maxDepth = 32, maxIndent = 128

    /// Parses `text`; the root must be a mapping. The text is first checked against the limits
    /// (size, line length, nesting depth) and for YAML features these files never need and a
    /// hostile file would use: anchors and aliases (a billion laughs), tags, several documents.
    /// A deeply nested file used to crash the YAML parser.
    package static func document(_ text: String, file: String) throws -> YAMLValue {
        try checkLimits(text, file: file)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw FirmchainError(.pipelineBadYAML, YAMLValue.describe(e), path: file)
        } catch {
            throw FirmchainError(.pipelineBadYAML, "not valid YAML", path: file)
        }
        guard let node, case .mapping = node else {
            throw FirmchainError(.pipelineBadValue, "line 1: the document must be a mapping of keys", path: file)
        }
        return YAMLValue(node: node, keyPath: "", file: file)
    }

    /// The checks of `document` that run before parsing, line by line, outside quotes and comments.
    static func checkLimits(_ text: String, file: String) throws {
        func fail(_ line: Int, _ what: String) -> FirmchainError {
            FirmchainError(.pipelineBadYAML, "line \(line): \(what)", path: file)
        }
        guard text.utf8.count <= maxBytes else {
            throw FirmchainError(.pipelineBadYAML, "is \(text.utf8.count) bytes; policy and pipeline files are limited to \(maxBytes)", path: file)
        }
        let space = UInt8(ascii: " ")
        var flow = 0  // [ and { still open, across lines
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let n = i + 1
            let bytes = Array(raw.utf8)
            guard bytes.count <= maxLineLength else { throw fail(n, "the line is longer than \(maxLineLength) bytes") }
            var indent = 0
            while indent < bytes.count, bytes[indent] == space { indent += 1 }
            guard indent <= maxIndent else { throw fail(n, "nested deeper than \(maxIndent) columns of indentation") }
            if (i > 0 && bytes.starts(with: Array("---".utf8))) || bytes.starts(with: Array("...".utf8)) {
                throw fail(n, "a second YAML document (--- or ...) is not allowed")
            }
            // Where a YAML token may start: the line's first character, after a flow
            // indicator, or after "key: " / "- ".
            func tokenStart(_ j: Int) -> Bool {
                if j == indent { return true }
                let p = bytes[j - 1]
                if p == UInt8(ascii: "[") || p == UInt8(ascii: "{") || p == UInt8(ascii: ",") { return true }
                return p == space && j >= 2 && (bytes[j - 2] == UInt8(ascii: ":") || bytes[j - 2] == UInt8(ascii: "-") || bytes[j - 2] == UInt8(ascii: ","))
            }
            var quote: UInt8?
            var dashes = 0
            var j = indent
            scan: while j < bytes.count {
                let b = bytes[j]
                defer { j += 1 }
                if let q = quote {
                    if b == q { quote = nil }
                    continue
                }
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "'") where tokenStart(j) || flow > 0:
                    quote = b
                case UInt8(ascii: "#") where j == indent || bytes[j - 1] == space:
                    break scan
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    flow += 1
                    guard flow <= maxDepth else { throw fail(n, "brackets nested deeper than \(maxDepth)") }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    flow = max(0, flow - 1)
                case UInt8(ascii: "&"), UInt8(ascii: "*"), UInt8(ascii: "!") where tokenStart(j) && j + 1 < bytes.count && bytes[j + 1] != space:
                    let what = b == UInt8(ascii: "!") ? "a YAML tag" : (b == UInt8(ascii: "&") ? "a YAML anchor" : "a YAML alias")
                    throw fail(n, "\(what) is not allowed in policy and pipeline files")
                case UInt8(ascii: "-") where (j == indent || bytes[j - 1] == space) && (j + 1 == bytes.count || bytes[j + 1] == space)
                    && bytes[indent...j].allSatisfy({ $0 == space || $0 == UInt8(ascii: "-") }):
                    dashes += 1
                    guard dashes <= maxDepth else { throw fail(n, "list items nested deeper than \(maxDepth) on one line") }
                default:
                    break
                }
            }
        }
    }

    private static func describe(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line): not valid YAML: \(problem)"
        case .reader(let problem, _, _, _):
            return "not valid YAML: \(problem)"
        default:
            return "not valid YAML"
        }
    }

    package var line: Int { node.mark?.line ?? 0 }

    package func fail(_ what: String) -> FirmchainError {
        FirmchainError(.pipelineBadValue, "line \(line): \(keyPath.isEmpty ? "document" : keyPath): \(what)", path: file)
    }

    private func child(_ key: String, _ node: Node) -> YAMLValue {
        YAMLValue(node: node, keyPath: keyPath.isEmpty ? key : "\(keyPath).\(key)", file: file)
    }

    /// The members of a mapping, after checking that no key outside `allowed` is present.
    package func mapping(allowed: Set<String>) throws -> [String: YAMLValue] {
        guard case .mapping(let m) = node else { throw fail("expected a mapping of keys") }
        var out = [String: YAMLValue]()
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw fail("keys must be plain strings") }
            let key = ks.string
            guard allowed.contains(key) else {
                throw YAMLValue(node: k, keyPath: keyPath.isEmpty ? key : "\(keyPath).\(key)", file: file)
                    .fail("unknown key (allowed here: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard out[key] == nil else { throw child(key, k).fail("duplicate key") }
            out[key] = child(key, v)
        }
        return out
    }

    /// The members of a mapping whose keys are data (role names, hardware ids).
    package func dictionary() throws -> [(key: String, value: YAMLValue)] {
        guard case .mapping(let m) = node else { throw fail("expected a mapping") }
        return try m.map { k, v in
            guard case .scalar(let ks) = k else { throw fail("keys must be plain strings") }
            return (ks.string, child(ks.string, v))
        }
    }

    package func sequence() throws -> [YAMLValue] {
        guard case .sequence(let s) = node else { throw fail("expected a list") }
        return s.enumerated().map { YAMLValue(node: $0.element, keyPath: "\(keyPath)[\($0.offset)]", file: file) }
    }

    package func string() throws -> String {
        guard case .scalar(let s) = node, s.tag.description != Tag.Name.null.rawValue, !(s.style == .plain && s.string == "~") else {
            throw fail("expected a string")
        }
        guard !s.string.isEmpty else { throw fail("must not be empty") }
        return s.string
    }

    package func int(in range: ClosedRange<Int64> = 0...Int64.max) throws -> Int64 {
        guard case .scalar(let s) = node, s.style == .plain, let v = Int64(s.string) else { throw fail("expected a whole number") }
        guard range.contains(v) else { throw fail("must be between \(range.lowerBound) and \(range.upperBound)") }
        return v
    }

    package func bool() throws -> Bool {
        guard case .scalar(let s) = node, s.style == .plain else { throw fail("expected true or false") }
        switch s.string {
        case "true": return true
        case "false": return false
        default: throw fail("expected true or false")
        }
    }

    package func strings() throws -> [String] { try sequence().map { try $0.string() } }

    /// One of `choices`, as a typed value.
    package func oneOf<T: RawRepresentable>(_ type: T.Type, _ choices: [T]) throws -> T where T.RawValue == String {
        let s = try string()
        guard let v = T(rawValue: s), choices.contains(where: { $0.rawValue == v.rawValue }) else {
            throw fail("\"\(s)\" is not one of \(choices.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }
}

extension Dictionary where Key == String, Value == YAMLValue {
    /// The member `key`, or an error naming the mapping's line when it is missing.
    package func required(_ key: String, in parent: YAMLValue) throws -> YAMLValue {
        guard let v = self[key] else { throw parent.fail("missing required key \"\(key)\"") }
        return v
    }
}
