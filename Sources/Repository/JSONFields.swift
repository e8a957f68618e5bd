import FirmchainCore

extension JSONFields {
    /// Reads a TUF metadata object; a missing or mistyped member is `repo.malformed-metadata`.
    init(_ value: JSONValue, _ context: String) throws {
        try self.init(value, context, error: { FirmchainError.malformed($0) })
    }
}

