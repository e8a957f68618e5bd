import FirmchainCore
import Signing

extension JSONFields {
    /// Reads a TUF metadata object; a missing or mistyped member is `repo.malformed-metadata`.
    init(_ value: JSONValue, _ context: String) throws {
        try self.init(value, context, error: { FirmchainError.malformed($0) })
    }
}

extension TUFKey {
    /// Reads a key object of TUF metadata; a bad member is `repo.malformed-metadata`.
    init(json: JSONValue) throws {
        try self.init(json: json, error: { FirmchainError.malformed($0) })
    }
}
