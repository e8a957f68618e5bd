import FirmchainCore

/// The codes of `Repository`: TUF metadata that cannot be read, built or written.
/// Verification failures are not errors but checks of a `VerificationReport`.
extension ErrorCode {
    /// There is no `1.root.json`: run `firmchain repo init`.
    public static let repoNotInitialized = ErrorCode("repo.not-initialized", .inputNotFound)
    /// `repo init` on an existing repository (roots change only by rotation).
    public static let repoAlreadyInitialized = ErrorCode("repo.already-initialized", .usage)
    /// `repo init` without a key for one of the four roles.
    public static let repoRoleWithoutKeys = ErrorCode("repo.role-without-keys", .usage)
    /// A threshold below 1 or above the role's key count.
    public static let repoBadThreshold = ErrorCode("repo.bad-threshold", .usage)
    /// A target name with `..`, `.`, an empty part or a leading `/`.
    public static let repoBadTargetName = ErrorCode("repo.bad-target-name", .usage)
    /// The given keys cannot meet a role's signing threshold.
    public static let repoThresholdNotMet = ErrorCode("repo.threshold-not-met", .key)
    /// Metadata that does not follow the TUF schema (TUF spec §4).
    public static let repoMalformedMetadata = ErrorCode("repo.malformed-metadata", .malformedInput)
    /// `custom.firmware.schema` is newer than this Firmchain.
    public static let repoUnknownFirmwareSchema = ErrorCode("repo.unknown-firmware-schema", .malformedInput)
    /// Firmware fields a writer was given that no reader could trust (`FirmwareInfo.validate`).
    public static let repoBadFirmwareFields = ErrorCode("repo.bad-firmware-fields", .usage)
    /// A file changed while it was being added.
    public static let repoTargetChanged = ErrorCode("repo.target-changed", .io)
    /// The release a command would re-sign does not verify (or holds files its metadata does not
    /// account for): nothing is signed on top of it.
    public static let repoUnverified = ErrorCode("repo.unverified", .verificationFailed)

    /// Every code `Repository` declares.
    public static let repositoryCodes: [ErrorCode] = [
        repoNotInitialized, repoAlreadyInitialized, repoRoleWithoutKeys, repoBadThreshold, repoBadTargetName,
        repoThresholdNotMet, repoMalformedMetadata, repoUnknownFirmwareSchema, repoTargetChanged, repoBadFirmwareFields, repoUnverified,
    ]
}

extension FirmchainError {
    /// Metadata that does not follow the TUF schema (TUF spec §4).
    static func malformed(_ reason: String, path: String? = nil) -> FirmchainError {
        FirmchainError(.repoMalformedMetadata, reason, path: path)
    }
}
