import FirmchainCore

/// The codes of `Custody`: evidence (envelopes, links, layouts, ledger lines) that cannot be
/// read or written, and requests that cannot be carried out.
///
/// A failed check is not an error: verification returns a `VerificationReport`. `throws` is
/// for input that cannot be read and output that cannot be written (Docs/architecture.md "Verification results are values").
extension ErrorCode {
    /// A link, layout or provenance line is not a DSSE envelope (or not base64, or the wrong payload type).
    public static let custodyMalformedEnvelope = ErrorCode("custody.malformed-envelope", .malformedInput)
    /// A link or layout does not follow the in-toto schema.
    public static let custodyMalformedMetadata = ErrorCode("custody.malformed-metadata", .malformedInput)
    /// A provenance envelope does not hold an in-toto Statement v1 with an SLSA Provenance v1 predicate.
    public static let custodyMalformedStatement = ErrorCode("custody.malformed-statement", .malformedInput)
    /// The last whole line of the ledger cannot be read, so nothing is appended.
    public static let custodyLedgerCorrupt = ErrorCode("custody.ledger-corrupt", .verificationFailed)
    /// One ledger entry would exceed 1 MiB.
    public static let custodyLedgerEntryTooLarge = ErrorCode("custody.ledger-entry-too-large", .usage)
    /// A layout or envelope was to be signed with no key.
    public static let custodyNoSigner = ErrorCode("custody.no-signer", .usage)
    /// A step name is not 1–64 letters, digits, `-`, `_`, `.`, or is declared twice.
    public static let custodyBadStepName = ErrorCode("custody.bad-step-name", .usage)
    /// An artefact name is absolute or has empty, `.` or `..` parts or control characters.
    public static let custodyBadArtifactName = ErrorCode("custody.bad-artifact-name", .usage)
    /// A step's threshold is below 1 or above its number of distinct functionary keys.
    public static let custodyBadThreshold = ErrorCode("custody.bad-threshold", .usage)
    /// A step of the release chain has no functionary key.
    public static let custodyMissingFunctionary = ErrorCode("custody.missing-functionary", .usage)
    /// `custody record --run`: the step's command failed or could not start; no link was written.
    public static let custodyStepFailed = ErrorCode("custody.step-failed", .verificationFailed)
    /// The release directory has no `custody/` directory.
    public static let custodyNoEvidence = ErrorCode("custody.no-evidence", .inputNotFound)
    /// A checkpoint or provenance was to be signed with a key the layout names neither as an
    /// owner nor as a functionary (its signature would never verify: the ledger would break).
    public static let custodyKeyNotInLayout = ErrorCode("custody.key-not-in-layout", .key)
    /// A link's environment names a secret (a PIN, passphrase, token, password) or holds a
    /// secret's value: it would be signed into evidence anyone can read.
    public static let custodySecretInEnvironment = ErrorCode("custody.secret-in-environment", .policyViolation)
    /// `custody trace`: the evidence does not verify, so none of it is shown.
    public static let custodyUnverified = ErrorCode("custody.unverified", .verificationFailed)
    /// `custody trace`: no link, ledger entry or provenance statement names the artefact.
    public static let custodyUnknownArtifact = ErrorCode("custody.unknown-artifact", .verificationFailed)

    /// Every code `Custody` declares.
    public static let custodyCodes: [ErrorCode] = [
        custodyMalformedEnvelope, custodyMalformedMetadata, custodyMalformedStatement,
        custodyLedgerCorrupt, custodyLedgerEntryTooLarge, custodyNoSigner, custodyBadStepName, custodyBadArtifactName,
        custodyBadThreshold, custodyMissingFunctionary, custodyStepFailed, custodyNoEvidence, custodyUnknownArtifact,
        custodyKeyNotInLayout, custodySecretInEnvironment, custodyUnverified,
    ]
}

extension FirmchainError {
    /// A DSSE envelope that does not follow the DSSE envelope schema.
    static func malformedEnvelope(_ reason: String, path: String? = nil) -> FirmchainError {
        FirmchainError(.custodyMalformedEnvelope, reason, path: path)
    }

    /// in-toto link or layout metadata that does not follow the in-toto schema.
    static func malformedMetadata(_ reason: String, path: String? = nil) -> FirmchainError {
        FirmchainError(.custodyMalformedMetadata, reason, path: path)
    }

    /// An SLSA / in-toto statement that does not follow the Statement v1 schema.
    static func malformedStatement(_ reason: String, path: String? = nil) -> FirmchainError {
        FirmchainError(.custodyMalformedStatement, reason, path: path)
    }
}
