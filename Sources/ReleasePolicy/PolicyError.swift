import FirmchainCore

/// The codes of `Pipeline`: policy and pipeline files that cannot be read, and policy
/// violations found while running. Messages name the file, the line and the key.
extension ErrorCode {
    /// The file is not valid YAML.
    public static let pipelineBadYAML = ErrorCode("pipeline.bad-yaml", .malformedInput)
    /// A key is missing, unknown, or has a value of the wrong type or range.
    public static let pipelineBadValue = ErrorCode("pipeline.bad-value", .malformedInput)
    /// The file declares a schema version this Firmchain does not know.
    public static let pipelineUnknownSchema = ErrorCode("pipeline.unknown-schema", .malformedInput)
    /// The release a run would extend does not verify from its own first root to the policy's
    /// keys (planted or edited metadata, a replaced root): nothing is signed on top of it.
    public static let pipelineReleaseUnverified = ErrorCode("pipeline.release-unverified", .verificationFailed)
    /// The newest root of the release a run would extend has expired: clients refuse everything
    /// signed under it, and only a root ceremony (`keys rotate --renew`) makes a new one.
    public static let pipelineRootExpired = ErrorCode("pipeline.root-expired", .verificationFailed)
    /// A run would break the policy (algorithm, key size, rollback, hardware class, …).
    public static let policyViolation = ErrorCode("policy.violation", .policyViolation)

    /// Every code `Pipeline` declares.
    public static let pipelineCodes: [ErrorCode] = [pipelineBadYAML, pipelineBadValue, pipelineUnknownSchema, pipelineReleaseUnverified, pipelineRootExpired, policyViolation]
}
