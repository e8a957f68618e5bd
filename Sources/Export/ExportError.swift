import FirmchainCore

/// The codes of the `Export` module (`Docs/exit-codes.md`, "Export").
extension ErrorCode {
    /// The release's TUF metadata did not verify from the trusted root: nothing is exported.
    public static let exportReleaseUnverified = ErrorCode("export.release-unverified", .verificationFailed)
    /// The verified metadata lists no target of that name.
    public static let exportTargetNotFound = ErrorCode("export.target-not-found", .inputNotFound)
    /// The target file on disk does not match the length and sha256 its verified metadata give.
    public static let exportTargetMismatch = ErrorCode("export.target-mismatch", .verificationFailed)
    /// A certificate, subject name or validity that cannot be used (unparsable, wrong key, bad DN).
    public static let exportCertificateInvalid = ErrorCode("export.certificate-invalid", .malformedInput)
    /// The signer's key cannot make the signature this container needs (say Ed25519 for Mender).
    public static let exportKeyUnsupported = ErrorCode("export.key-unsupported", .key)
    /// An option value the container cannot carry (a name too long for ustar, an empty field).
    public static let exportOptionInvalid = ErrorCode("export.option-invalid", .usage)
    /// An external builder step (mksquashfs) failed.
    public static let exportToolFailed = ErrorCode("export.tool-failed", .internal)

    /// Every code `Export` declares.
    public static let exportCodes: [ErrorCode] = [
        exportReleaseUnverified, exportTargetNotFound, exportTargetMismatch, exportCertificateInvalid,
        exportKeyUnsupported, exportOptionInvalid, exportToolFailed,
    ]
}
