/// A JSON document as a value, exact enough to re-sign: integers keep every digit (no
/// rounding through `Double`), objects keep unknown members, and floats are kept apart so that
/// the canonical encoder can refuse them.
///
/// Every Firmchain format (TUF metadata, in-toto links, ledger lines) is read into and written
/// from this type, so there is exactly one canonical encoder (Docs/architecture.md "Rules that hold everywhere").
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer of any size, as its canonical decimal text (`-0` normalised to `0`).
    case integer(JSONInteger)
    /// A number with a fraction or exponent, as written in the source. Canonical JSON refuses it.
    case float(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string payload, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer payload when it fits in `Int64`, or nil.
    public var int64Value: Int64? {
        if case .integer(let i) = self { return i.int64Value }
        return nil
    }

    /// The object members, or nil.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The array elements, or nil.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The boolean payload, or nil.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An integer value from a machine integer.
    public static func int<I: BinaryInteger>(_ v: I) -> JSONValue { .integer(JSONInteger(v)) }
}

/// An arbitrary-precision JSON integer held as normalised decimal text.
public struct JSONInteger: Sendable, Hashable, CustomStringConvertible {
    /// Decimal digits with an optional leading `-`, no leading zeros, never `-0`.
    public let decimal: String

    /// The integer `v`.
    public init<I: BinaryInteger>(_ v: I) { decimal = String(v) }

    /// Parses decimal text (`-?[0-9]+`), normalising leading zeros and `-0`; nil otherwise.
    public init?(decimal text: String) {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let digits = bytes.drop(while: { $0 == 48 })
        if digits.isEmpty { decimal = "0"; return }
        decimal = (negative ? "-" : "") + String(decoding: digits, as: UTF8.self)
    }

    /// The value when it fits in `Int64`.
    public var int64Value: Int64? { Int64(decimal) }

    /// The canonical decimal text, as `decimal`.
    public var description: String { decimal }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    /// A JSON string from a string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A JSON integer from an integer literal.
    public init(integerLiteral value: Int64) { self = .integer(JSONInteger(value)) }
    /// A JSON boolean from a boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A JSON array from an array literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// JSON `null` from `nil`.
    public init(nilLiteral: ()) { self = .null }
    /// A JSON object from a dictionary literal; for a repeated key the last value wins.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var o = [String: JSONValue]()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}
