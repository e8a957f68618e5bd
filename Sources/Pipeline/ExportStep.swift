import Custody
import Export
import FirmchainCore
import Foundation
import Release
import Signing

/// `export`: after `publish`, the released image as a distributor container (Docs/exports.md)
/// in `OUT/exports/`: a Mender artifact (`NAME.mender`), a SWUpdate package (`NAME.swu`) or a
/// RAUC bundle (`NAME.raucb`). The container is built from the target file the signed
/// metadata vouches for (verified from the release's first root before anything is packed), so
/// its link names that target copy as material and the container as product, and
/// `release.exports` in `firmchain verify` checks the payload against the target.
///
/// ```yaml
/// - export:
///     format: swu            # mender | swu | rauc-verity | rauc-plain
///     key: "pkcs11:token=release;object=export"
///     cert: keys/export.pem  # swu and rauc
///     device: board-a        # Mender device type, SWUpdate BOARD:REV, RAUC compatible
/// ```
///
/// The export key is a distributor's key (P-256 or RSA), so the policy's `algorithms` rule for
/// TUF and custody keys does not apply to it. The CMS signing time is the run's reference time.
public struct ExportStep: PipelineStep {
    /// `export`, this step's name in pipeline files and links.
    public static let kind = "export"
    /// `format`, `key`, `cert`, `device`.
    public static let optionKeys: Set<String> = ["format", "key", "cert", "device"]
    /// Where containers go.
    public static let exports = ArtefactKind("exports", patterns: ["exports/*"], directories: ["exports"], fresh: true)

    /// The container formats.
    public enum Format: String, Sendable, CaseIterable {
        /// Mender artifact v3.
        case mender
        /// SWUpdate .swu.
        case swu
        /// RAUC verity bundle.
        case raucVerity = "rauc-verity"
        /// RAUC plain bundle.
        case raucPlain = "rauc-plain"

        var fileExtension: String {
            switch self {
            case .mender: return "mender"
            case .swu: return "swu"
            case .raucVerity, .raucPlain: return "raucb"
            }
        }
    }

    /// The format.
    public let format: Format
    /// The signing key reference.
    public let key: String
    /// The certificate file (CMS formats).
    public let cert: String?
    /// The device type / board:revision / compatible.
    public let device: String

    /// Reads and checks the options.
    public init(options: StepOptions) throws {
        format = try options.oneOf("format", default: Format.mender)
        guard let key = options.values["key"] else { throw options.fail("export: name the signing key (key: pkcs11:URI or FILE)") }
        self.key = PKCS11URI.isPKCS11URI(key) ? key : options.resolve(key)
        cert = options.values["cert"].map(options.resolve)
        if format != .mender && cert == nil { throw options.fail("export: \(format.rawValue) is CMS-signed and needs cert: CERT.pem") }
        guard let device = options.values["device"], !device.isEmpty else { throw options.fail("export: name the device (device: …)") }
        self.device = device
    }

    /// True: an export changes what is delivered, so it runs with the steps that commit the
    /// release (only when the release changed or its evidence does not verify) and may follow them.
    public var commitsRelease: Bool { true }

    /// The targets as published.
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.stagedTargets.kind)] }
    /// The containers in `exports/`.
    public var writes: [ArtefactKind] { [Self.exports] }

    /// The file name of the container.
    func containerName(_ context: StepContext) -> String {
        "exports/\(context.spec.targetName.split(separator: "/").last ?? "")-\(context.spec.version).\(format.fileExtension)"
    }

    /// The released image's copy in `repository/targets`.
    public func materials(_ context: StepContext) throws -> [ArtefactPath] {
        let verified = try target(context)
        return [.inRelease(String(context.release.repository.targetPath(name: verified.name, hash: verified.sha256).dropFirst(context.out.count + 1)))]
    }

    /// The container.
    public func products(_ context: StepContext) throws -> [ArtefactPath] { [.inRelease(containerName(context))] }

    func target(_ context: StepContext) throws -> ReleaseTarget {
        let root = try FileIO.read(context.release.repository.metadataDirectory + "/1.root.json", limit: 1 << 24)
        return try ReleaseTarget.load(release: context.release, name: context.spec.targetName, trustedRoot: root, now: context.options.now)
    }

    /// Builds the container from the verified target.
    public func run(_ context: inout StepContext) throws -> String {
        let target = try target(context)
        let signer = try Signers.open(key, options: context.options.signerOptions)
        let certificate = try cert.map { String(decoding: try FileIO.read($0, limit: 1 << 20), as: UTF8.self) } ?? ""
        let now = context.options.now
        let bytes: [UInt8]
        switch format {
        case .mender:
            bytes = try MenderArtifact.build(target: target, options: .init(deviceTypes: [device], artifactName: "\(context.spec.targetName)-\(context.spec.version)"),
                                             signer: signer)
        case .swu:
            bytes = try SWUpdatePackage.build(target: target, options: .init(version: context.spec.version, hardware: [device], device: "/dev/update",
                                                                             certificate: certificate, signingTime: now), signer: signer)
        case .raucVerity, .raucPlain:
            let work = context.out + "/.export-work"
            try? FileManager.default.removeItem(atPath: work)
            try FileIO.makeDirectories(work)
            defer { try? FileManager.default.removeItem(atPath: work) }
            bytes = try RAUCBundle.build(target: target, options: .init(compatible: device, version: context.spec.version,
                                                                        format: format == .raucPlain ? .plain : .verity,
                                                                        certificate: certificate, signingTime: now),
                                         signer: signer, workDirectory: work)
        }
        let path = context.out + "/" + containerName(context)
        try FileIO.makeDirectories(context.out + "/exports")
        try AtomicFile.write(bytes, to: path)
        return "\(containerName(context)): \(format.rawValue) container of \(target.name) (\(bytes.count) bytes)"
    }
}
