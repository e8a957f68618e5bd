import FirmchainCore

/// The error type of `Pipeline`: policy and pipeline files that cannot be read, and policy
/// violations found while running. Messages name the file, the line and the key.
public struct PipelineError: FirmchainErrorProtocol, Equatable {
    public let code: String
    public let category: ErrorCategory
    public let reason: String
    public let path: String?

    public init(_ code: String, _ category: ErrorCategory, _ reason: String, path: String? = nil) {
        self.code = code
        self.category = category
        self.reason = reason
        self.path = path
    }

    public static func == (a: PipelineError, b: PipelineError) -> Bool { a.code == b.code }

    // Stable codes (Docs/exit-codes.md).
    /// The file is not valid YAML.
    public static let badYAML = "pipeline.bad-yaml"
    /// A key is missing, unknown, or has a value of the wrong type or range.
    public static let badValue = "pipeline.bad-value"
    /// The file declares a schema version this Firmchain does not know.
    public static let unknownSchema = "pipeline.unknown-schema"
    /// A run would break the policy (algorithm, key size, rollback, hardware class, …).
    public static let policyViolation = "policy.violation"
}
