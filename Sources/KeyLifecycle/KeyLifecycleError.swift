import FirmchainCore

/// The codes of `KeyLifecycle`: key ceremonies that cannot be proposed, approved or applied.
extension ErrorCode {
    /// A proposal file that is not a Firmchain key proposal, or is damaged.
    public static let keysMalformedProposal = ErrorCode("keys.malformed-proposal", .malformedInput)
    /// A change the guards refuse: a threshold above the key count, a root one lost key makes
    /// unrecoverable, a key the policy forbids, a key not in the role, nothing to change.
    public static let keysRefusedChange = ErrorCode("keys.refused-change", .policyViolation)
    /// The proposal expired, or was made against a root that is no longer the latest.
    public static let keysStaleProposal = ErrorCode("keys.stale-proposal", .verificationFailed)
    /// The approving key has no say in this change.
    public static let keysNotAnOfficer = ErrorCode("keys.not-an-officer", .key)
    /// Not enough approvals: the thresholds of the old or the new root (or the policy) are not met.
    public static let keysApprovalsMissing = ErrorCode("keys.approvals-missing", .verificationFailed)
    /// An approval does not cover the proposal's bytes (the proposal was edited after it).
    public static let keysApprovalInvalid = ErrorCode("keys.approval-invalid", .verificationFailed)
    /// The release does not verify, so no ceremony may extend it.
    public static let keysReleaseUnverified = ErrorCode("keys.release-unverified", .verificationFailed)

    /// Every code `KeyLifecycle` declares.
    public static let keyLifecycleCodes: [ErrorCode] = [
        keysMalformedProposal, keysRefusedChange, keysStaleProposal, keysNotAnOfficer, keysApprovalsMissing,
        keysApprovalInvalid, keysReleaseUnverified,
    ]
}
