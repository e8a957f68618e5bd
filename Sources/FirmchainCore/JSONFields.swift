/// Typed access to the members of a JSON object, for every parser of untrusted metadata (TUF,
/// in-toto, DSSE, firmware fields): each known member is taken once and checked at the edge,
/// failing with the caller's error that names the member; what is left (`rest`) survives a
/// round trip (Docs/architecture.md "Data types; unknown fields survive").
public struct JSONFields {
    private var members: [String: JSONValue]
    /// Where the object sits, e.g. `targets.signed`, for error messages.
    public let context: String
    private let error: (String) -> FirmchainError

    /// Starts reading `value`, which must be an object; `error` makes the error for a member
    /// that is missing or of the wrong type (the module's malformed-input code).
    public init(_ value: JSONValue, _ context: String, error: @escaping (String) -> FirmchainError) throws {
        guard let o = value.objectValue else { throw error("\(context) is not a JSON object") }
        members = o
        self.context = context
        self.error = error
    }

    /// Members not taken yet: preserved on re-encoding.
    public var rest: [String: JSONValue] { members }

    /// The member `key`, which must be present.
    public mutating func take(_ key: String) throws -> JSONValue {
        guard let v = members.removeValue(forKey: key) else { throw error("\(context) has no \"\(key)\"") }
        return v
    }

    /// The member `key`, if present.
    public mutating func optional(_ key: String) -> JSONValue? { members.removeValue(forKey: key) }

    /// The string member `key`.
    public mutating func string(_ key: String) throws -> String {
        guard let s = try take(key).stringValue else { throw error("\(context).\(key) is not a string") }
        return s
    }

    /// The integer member `key`.
    public mutating func int(_ key: String) throws -> Int64 {
        guard let i = try take(key).int64Value else { throw error("\(context).\(key) is not an integer") }
        return i
    }

    /// The object member `key`.
    public mutating func object(_ key: String) throws -> [String: JSONValue] {
        guard let o = try take(key).objectValue else { throw error("\(context).\(key) is not an object") }
        return o
    }

    /// The array member `key`.
    public mutating func array(_ key: String) throws -> [JSONValue] {
        guard let a = try take(key).arrayValue else { throw error("\(context).\(key) is not an array") }
        return a
    }

    /// The member `key`, an array of strings.
    public mutating func strings(_ key: String) throws -> [String] {
        try array(key).map { v in
            guard let s = v.stringValue else { throw error("\(context).\(key) holds a non-string") }
            return s
        }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// `self` with the members of `extra` added where `self` has none of that name (unknown
    /// members kept beside the known ones).
    public func merging(unknown extra: [String: JSONValue]) -> [String: JSONValue] {
        merging(extra) { known, _ in known }
    }
}
