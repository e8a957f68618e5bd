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

    /// Parses `text`; the root must be a mapping.
    package static func document(_ text: String, file: String) throws -> YAMLValue {
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
