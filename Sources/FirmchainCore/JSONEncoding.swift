/// Encoders for `JSONValue`: the OLPC canonical form that signatures cover, and a readable,
/// standard-conforming form for files and `--json` output. Both sort object keys by Unicode
/// code point (byte order of UTF-8), so files are stable and diffs are small.
public enum JSONEncoding {
    /// OLPC canonical JSON, as securesystemslib's `encode_canonical` writes it (TUF spec §4.2,
    /// in-toto Metablock): keys sorted by code point, only `"` and `\` escaped (control
    /// characters are written raw), no insignificant whitespace, integers only.
    ///
    /// - Throws: `FirmchainError` `json.float-not-canonical` when the value contains a float.
    public static func canonical(_ value: JSONValue) throws -> [UInt8] {
        var out = [UInt8]()
        try writeCanonical(value, into: &out)
        return out
    }

    /// Standard JSON (RFC 8259) with sorted keys and `indent` spaces per level (0 = compact,
    /// one line). Control characters are escaped so any JSON reader accepts the result; `/` is
    /// not escaped. Floats are written as read.
    public static func standard(_ value: JSONValue, indent: Int = 2) -> [UInt8] {
        var out = [UInt8]()
        writeStandard(value, indent: indent, level: 0, into: &out)
        if indent > 0 { out.append(0x0A) }
        return out
    }

    /// Keys in code-point order. Comparing UTF-8 bytes gives code-point order, unlike
    /// Swift's `String <`, which compares by grapheme and normalisation.
    static func sortedKeys(_ o: [String: JSONValue]) -> [(key: [UInt8], value: JSONValue)] {
        o.map { (key: Array($0.key.utf8), value: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    private static func writeCanonical(_ value: JSONValue, into out: inout [UInt8]) throws {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .integer(let i): out += Array(i.decimal.utf8)
        case .float(let text):
            throw FirmchainError(.jsonFloatNotCanonical, "canonical JSON has no floats, found \(text)")
        case .string(let s): writeCanonicalString(Array(s.utf8), into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try writeCanonical(e, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, member) in sortedKeys(o).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeCanonicalString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try writeCanonical(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeCanonicalString(_ s: [UInt8], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s {
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func newline(_ indent: Int, _ level: Int, into out: inout [UInt8]) {
        guard indent > 0 else { return }
        out.append(0x0A)
        out += [UInt8](repeating: 0x20, count: indent * level)
    }

    private static func writeStandard(_ value: JSONValue, indent: Int, level: Int, into out: inout [UInt8]) {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .integer(let i): out += Array(i.decimal.utf8)
        case .float(let text): out += Array(text.utf8)
        case .string(let s): writeStandardString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            if a.isEmpty { out.append(UInt8(ascii: "]")); return }
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent, level + 1, into: &out)
                writeStandard(e, indent: indent, level: level + 1, into: &out)
            }
            newline(indent, level, into: &out)
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            if o.isEmpty { out.append(UInt8(ascii: "}")); return }
            for (i, member) in sortedKeys(o).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent, level + 1, into: &out)
                writeStandardString(String(decoding: member.key, as: UTF8.self), into: &out)
                out.append(UInt8(ascii: ":"))
                if indent > 0 { out.append(0x20) }
                writeStandard(member.value, indent: indent, level: level + 1, into: &out)
            }
            newline(indent, level, into: &out)
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeStandardString(_ s: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20, 0x7F:
                out += Array("\\u00".utf8)
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
