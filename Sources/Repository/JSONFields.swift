import FirmchainCore

/// Typed access to the members of a JSON object, failing with a TUF schema error that names the
/// member. Used by every metadata parser so that unknown members are kept (`rest`) and known ones
/// are checked once, at the edge.
struct JSONFields {
    private var members: [String: JSONValue]
    let context: String

    init(_ value: JSONValue, _ context: String) throws {
        guard let o = value.objectValue else { throw RepositoryError.malformed("\(context) is not an object") }
        members = o
        self.context = context
    }

    /// Members not taken yet: preserved on re-encoding (STYLE.md §6).
    var rest: [String: JSONValue] { members }

    mutating func take(_ key: String) throws -> JSONValue {
        guard let v = members.removeValue(forKey: key) else {
            throw RepositoryError.malformed("\(context) has no \"\(key)\"")
        }
        return v
    }

    mutating func optional(_ key: String) -> JSONValue? { members.removeValue(forKey: key) }

    mutating func string(_ key: String) throws -> String {
        guard let s = try take(key).stringValue else { throw RepositoryError.malformed("\(context).\(key) is not a string") }
        return s
    }

    mutating func int(_ key: String) throws -> Int64 {
        guard let i = try take(key).int64Value else { throw RepositoryError.malformed("\(context).\(key) is not an integer") }
        return i
    }

    mutating func object(_ key: String) throws -> [String: JSONValue] {
        guard let o = try take(key).objectValue else { throw RepositoryError.malformed("\(context).\(key) is not an object") }
        return o
    }

    mutating func array(_ key: String) throws -> [JSONValue] {
        guard let a = try take(key).arrayValue else { throw RepositoryError.malformed("\(context).\(key) is not an array") }
        return a
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// `self` with `extra` members added where `self` has none of that name.
    func merging(unknown extra: [String: JSONValue]) -> [String: JSONValue] {
        merging(extra) { known, _ in known }
    }
}
