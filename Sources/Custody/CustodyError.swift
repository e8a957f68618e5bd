import FirmchainCore

/// The error type of `Custody`: evidence (envelopes, links, layouts, ledger lines) that cannot
/// be read or written, and requests that cannot be carried out.
///
/// A failed check is not an error: verification returns values that list each check
/// (`CustodyReport`, `LedgerVerification`, `DSSEVerification`). `throws` is for input that
/// cannot be read and output that cannot be written (STYLE.md §4). Codes are documented in
/// `Docs/exit-codes.md`; errors compare by code alone.
public struct CustodyError: FirmchainErrorProtocol, Equatable {
    public let code: String
    public let category: ErrorCategory
    public let reason: String
    public let path: String?

    /// An error with one of the stable `custody.*` codes.
    public init(_ code: String, _ category: ErrorCategory, _ reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    /// The same error about `path`.
    public func about(_ path: String?) -> CustodyError { CustodyError(code, category, reason, path: path) }

    public static func == (a: CustodyError, b: CustodyError) -> Bool { a.code == b.code }

    /// A DSSE envelope that does not follow the DSSE envelope schema.
    static func malformedEnvelope(_ reason: String, path: String? = nil) -> CustodyError {
        CustodyError("custody.malformed-envelope", .malformedInput, reason, path: path)
    }

    /// in-toto link or layout metadata that does not follow the in-toto schema.
    static func malformedMetadata(_ reason: String, path: String? = nil) -> CustodyError {
        CustodyError("custody.malformed-metadata", .malformedInput, reason, path: path)
    }

    /// An SLSA / in-toto statement that does not follow the Statement v1 schema.
    static func malformedStatement(_ reason: String, path: String? = nil) -> CustodyError {
        CustodyError("custody.malformed-statement", .malformedInput, reason, path: path)
    }
}

/// Typed access to the members of a JSON object for the custody parsers: each known member is
/// taken once and checked; what is left (`rest`) survives a round trip (STYLE.md §6).
struct CustodyFields {
    private var members: [String: JSONValue]
    let context: String
    let error: (String) -> CustodyError

    init(_ value: JSONValue, _ context: String, error: @escaping (String) -> CustodyError) throws {
        guard let o = value.objectValue else { throw error("\(context) is not a JSON object") }
        members = o
        self.context = context
        self.error = error
    }

    /// Members not taken yet.
    var rest: [String: JSONValue] { members }

    mutating func take(_ key: String) throws -> JSONValue {
        guard let v = members.removeValue(forKey: key) else { throw error("\(context) has no \"\(key)\"") }
        return v
    }

    mutating func optional(_ key: String) -> JSONValue? { members.removeValue(forKey: key) }

    mutating func string(_ key: String) throws -> String {
        guard let s = try take(key).stringValue else { throw error("\(context).\(key) is not a string") }
        return s
    }

    mutating func int(_ key: String) throws -> Int64 {
        guard let i = try take(key).int64Value else { throw error("\(context).\(key) is not an integer") }
        return i
    }

    mutating func object(_ key: String) throws -> [String: JSONValue] {
        guard let o = try take(key).objectValue else { throw error("\(context).\(key) is not an object") }
        return o
    }

    mutating func array(_ key: String) throws -> [JSONValue] {
        guard let a = try take(key).arrayValue else { throw error("\(context).\(key) is not an array") }
        return a
    }

    mutating func strings(_ key: String) throws -> [String] {
        try array(key).map { v in
            guard let s = v.stringValue else { throw error("\(context).\(key) holds a non-string") }
            return s
        }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// `self` with the members of `extra` added where `self` has none of that name.
    func keepingUnknown(_ extra: [String: JSONValue]) -> [String: JSONValue] {
        merging(extra) { known, _ in known }
    }
}
