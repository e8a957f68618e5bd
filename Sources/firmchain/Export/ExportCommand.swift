import ArgumentParser
import Export
import FirmchainCore
import Foundation
import Release
import Signing

/// `firmchain export`: distributor containers (Mender, SWUpdate, RAUC) from a verified release.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a verified release target as a Mender artifact, a SWUpdate .swu or a RAUC bundle.",
        discussion: "The release is verified from --trusted-root first; only bytes its signed metadata vouches for are packed. See Docs/exports.md.",
        subcommands: [Mender.self, SWU.self, RAUC.self]
    )
}

/// What every export takes: the release, the trust, the target, the key, the output.
struct ExportSourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The release directory.", valueName: "OUT")) var release: String
    @Option(help: ArgumentHelp("The root to trust, kept outside the release (default: the release's own 1.root.json, which proves only that it agrees with itself).", valueName: "ROOT.json"))
    var trustedRoot: String?
    @Option(help: ArgumentHelp("The target's name in the release.", valueName: "NAME")) var target: String
    @Option(help: ArgumentHelp("The signing key: a pkcs11: URI or a PEM key file.", valueName: "URI|FILE")) var key: String
    @Option(help: ArgumentHelp("The reference time for metadata expiry (YYYY-MM-DDTHH:MM:SSZ; default: now).", valueName: "TIME")) var at: String?
    @Option(help: ArgumentHelp("Where to write the container.", valueName: "FILE")) var out: String

    /// The verified target.
    func loadTarget() throws -> ReleaseTarget {
        let dir = ReleaseDirectory(release)
        let rootPath = trustedRoot ?? dir.repository.metadataDirectory + "/1.root.json"
        let root = try FileIO.read(rootPath, limit: 1 << 24)
        var now = Date()
        if let at {
            guard let d = UTCTimestamp.date(from: at) else { throw ValidationError("--at is not YYYY-MM-DDTHH:MM:SSZ") }
            now = d
        }
        return try ReleaseTarget.load(release: dir, name: target, trustedRoot: root, now: now)
    }
}

extension ExportCommand {
    struct Mender: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "mender",
            abstract: "A Mender artifact (format v3) signed by --key (ECDSA P-256 as raw r‖s, or RSA PKCS#1 v1.5).",
            discussion: """
                Example:
                  firmchain export mender --release OUT --trusted-root trusted/1.root.json \\
                      --target fw.bin \\
                      --key 'pkcs11:token=release;object=mender' --device-type board-a \\
                      --artifact-name fw-1.2.0 --out fw.mender
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions
        @OptionGroup var source: ExportSourceOptions

        @OptionGroup var service: ExportDescriptorOptions
        @Option(help: ArgumentHelp("A device type the artifact installs on (repeat for more).", valueName: "TYPE")) var deviceType: [String] = []
        @Option(help: ArgumentHelp("The artifact name (artifact_provides.artifact_name).", valueName: "NAME")) var artifactName: String
        @Option(help: ArgumentHelp("The payload type (default rootfs-image; a module name for a delta).", valueName: "TYPE")) var payloadType = "rootfs-image"
        @Option(help: ArgumentHelp("An extra artifact_provides entry KEY:VALUE (repeat for more).", valueName: "KEY:VALUE")) var provides: [String] = []
        @Option(help: ArgumentHelp("An artifact_depends entry KEY:VALUE (repeat for more), e.g. a delta's base checksum.", valueName: "KEY:VALUE")) var depends: [String] = []

        func validate() throws {
            if deviceType.isEmpty { throw ValidationError("give at least one --device-type") }
        }

        func run() throws {
            let target = try source.loadTarget()
            let signer = try Signers.open(source.key, options: access.signerOptions())
            let options = MenderArtifact.Options(deviceTypes: deviceType, artifactName: artifactName, payloadType: payloadType,
                                                 provides: try pairs(provides, "--provides"), depends: try pairs(depends, "--depends"))
            let bytes = try MenderArtifact.build(target: target, options: options, signer: signer)
            try AtomicFile.write(bytes, to: source.out)
            _ = try service.write(beside: source.out, bytes: bytes, container: .mender, target: target, version: artifactName)
            output.emit(text: "wrote \(source.out): Mender artifact v3, \(target.name) (\(target.file.length) bytes, sha256 \(target.sha256))",
                        json: .object(["path": .string(source.out), "format": .string("mender"), "target": .string(target.name),
                                       "sha256": .string(target.sha256)]))
        }
    }
}

/// The service descriptors written beside a container (`--descriptors`).
struct ExportDescriptorOptions: ParsableArguments {
    @Flag(help: "Also write FILE.hawkbit.json, FILE.aws-job.json and (for .swu) FILE.importmanifest.json.") var descriptors = false
    @Option(help: ArgumentHelp("The provider / vendor named in the descriptors.", valueName: "NAME")) var provider = "firmchain"
    @Option(help: ArgumentHelp("The update name in the descriptors (default: the target's file name).", valueName: "NAME")) var updateName: String?
    @Option(help: ArgumentHelp("The update version in the descriptors (default: --version, or the artifact name).", valueName: "VERSION")) var updateVersion: String?
    @Option(help: ArgumentHelp("An ADU compatibility property (repeat; default manufacturer=PROVIDER, model=NAME).", valueName: "KEY:VALUE")) var compatibility: [String] = []
    @Option(help: ArgumentHelp("The S3 https URL the AWS IoT job fetches (presigned by the service).", valueName: "URL")) var objectURL: String?

    /// Writes the descriptors for the container at `path`; returns the paths written.
    func write(beside path: String, bytes: [UInt8], container: ServiceDescriptors.Container, target: ReleaseTarget, version: String) throws -> [String] {
        guard descriptors else { return [] }
        let name = updateName ?? target.fileName.replacingOccurrences(of: "_", with: "-")
        var compat = try pairs(compatibility, "--compatibility")
        if compat.isEmpty { compat = ["manufacturer": provider, "model": name] }
        let docs = try ServiceDescriptors.make(fileName: (path as NSString).lastPathComponent, bytes: bytes, container: container,
                                               options: .init(provider: provider, name: name, version: updateVersion ?? version,
                                                              compatibility: compat, objectURL: objectURL, created: Date()))
        let suffixes = ["hawkbit": ".hawkbit.json", "aws-job": ".aws-job.json", "adu-import-manifest": ".importmanifest.json"]
        var written = [String]()
        for (key, doc) in docs.sorted(by: { $0.key < $1.key }) {
            let file = path + (suffixes[key] ?? ".\(key).json")
            try AtomicFile.write(doc, to: file)
            written.append(file)
        }
        return written
    }
}

/// The certificate side of a CMS-signed export (SWUpdate, RAUC).
struct ExportCMSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The signing certificate for --key (PEM; see `firmchain keys certify`).", valueName: "CERT.pem")) var cert: String
    @Option(help: ArgumentHelp("An intermediate certificate to carry in the signature (repeat for more).", valueName: "CA.pem")) var chain: [String] = []
    @Option(help: ArgumentHelp("The CMS signing-time (YYYY-MM-DDTHH:MM:SSZ; default: SOURCE_DATE_EPOCH when set, else now). Fix it for byte-identical exports.", valueName: "TIME"))
    var signingTime: String?

    func certificate() throws -> String { String(decoding: try FileIO.read(cert, limit: 1 << 20), as: UTF8.self) }
    func chainCertificates() throws -> [String] { try chain.map { String(decoding: try FileIO.read($0, limit: 1 << 20), as: UTF8.self) } }
    func time() throws -> Date {
        if let signingTime {
            guard let d = UTCTimestamp.date(from: signingTime) else { throw ValidationError("--signing-time is not YYYY-MM-DDTHH:MM:SSZ") }
            return d
        }
        if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], let seconds = Int(epoch) {
            return Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        return Date()
    }
}

extension ExportCommand {
    struct SWU: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "swu",
            abstract: "A SWUpdate .swu: cpio newc, sw-description and its detached CMS signature first, then the image.",
            discussion: """
                Example:
                  firmchain export swu --release OUT --trusted-root trusted/1.root.json \\
                      --target fw.bin \\
                      --key 'pkcs11:token=release;object=swu' --cert swu.pem \\
                      --hardware board-a:1.0 --version 1.2.0 --out fw.swu
                  swupdate -c -i fw.swu -k ca.pem -H board-a:1.0
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions
        @OptionGroup var source: ExportSourceOptions
        @OptionGroup var cms: ExportCMSOptions

        @OptionGroup var service: ExportDescriptorOptions
        @Option(help: ArgumentHelp("A board and revision the image is for (repeat for more).", valueName: "BOARD:REV")) var hardware: [String] = []
        @Option(help: ArgumentHelp("software.version in sw-description.", valueName: "VERSION")) var version: String
        @Option(help: ArgumentHelp("The device the raw image is written to.", valueName: "PATH")) var device = "/dev/update"
        @Option(help: ArgumentHelp("The SWUpdate handler for the image.", valueName: "TYPE")) var imageType = "raw"

        func run() throws {
            let target = try source.loadTarget()
            let signer = try Signers.open(source.key, options: access.signerOptions())
            let options = SWUpdatePackage.Options(version: version, hardware: hardware, device: device, imageType: imageType,
                                                  certificate: try cms.certificate(), chain: try cms.chainCertificates(), signingTime: try cms.time())
            let bytes = try SWUpdatePackage.build(target: target, options: options, signer: signer)
            try AtomicFile.write(bytes, to: source.out)
            _ = try service.write(beside: source.out, bytes: bytes, container: .swu, target: target, version: version)
            output.emit(text: "wrote \(source.out): SWUpdate .swu, \(target.name) (\(target.file.length) bytes, sha256 \(target.sha256))",
                        json: .object(["path": .string(source.out), "format": .string("swu"), "target": .string(target.name),
                                       "sha256": .string(target.sha256)]))
        }
    }
}

extension RAUCBundle.Format: ExpressibleByArgument {}

extension ExportCommand {
    struct RAUC: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "rauc",
            abstract: "A RAUC bundle (verity or plain): squashfs by mksquashfs, dm-verity tree by Firmchain, CMS signature.",
            discussion: """
                Example:
                  firmchain export rauc --release OUT --trusted-root trusted/1.root.json \\
                      --target fw.bin \\
                      --key 'pkcs11:token=release;object=rauc' --cert rauc.pem \\
                      --compatible board-a --version 1.2.0 --out fw.raucb
                  rauc info --keyring ca.pem fw.raucb
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions
        @OptionGroup var source: ExportSourceOptions
        @OptionGroup var cms: ExportCMSOptions

        @OptionGroup var service: ExportDescriptorOptions
        @Option(help: ArgumentHelp("[update] compatible: the system's compatible string.", valueName: "NAME")) var compatible: String
        @Option(help: ArgumentHelp("[update] version.", valueName: "VERSION")) var version: String
        @Option(help: ArgumentHelp("The slot class the image installs to.", valueName: "CLASS")) var slotClass = "rootfs"
        @Option(help: "Bundle format: verity (default) or plain.") var format: RAUCBundle.Format = .verity

        func run() throws {
            let target = try source.loadTarget()
            let signer = try Signers.open(source.key, options: access.signerOptions())
            let options = RAUCBundle.Options(compatible: compatible, version: version, slotClass: slotClass, format: format,
                                             certificate: try cms.certificate(), chain: try cms.chainCertificates(), signingTime: try cms.time())
            let work = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                                   appropriateFor: URL(fileURLWithPath: source.out).deletingLastPathComponent(), create: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let bytes = try RAUCBundle.build(target: target, options: options, signer: signer, workDirectory: work.path)
            try AtomicFile.write(bytes, to: source.out)
            _ = try service.write(beside: source.out, bytes: bytes, container: .rauc, target: target, version: version)
            output.emit(text: "wrote \(source.out): RAUC \(format.rawValue) bundle, \(target.name) (\(target.file.length) bytes, sha256 \(target.sha256))",
                        json: .object(["path": .string(source.out), "format": .string("rauc-\(format.rawValue)"), "target": .string(target.name),
                                       "sha256": .string(target.sha256)]))
        }
    }
}

/// `KEY:VALUE` options into a dictionary.
func pairs(_ items: [String], _ option: String) throws -> [String: String] {
    var out = [String: String]()
    for item in items {
        guard let colon = item.firstIndex(of: ":"), colon != item.startIndex else { throw ValidationError("\(option) takes KEY:VALUE, not '\(item)'") }
        out[String(item[..<colon])] = String(item[item.index(after: colon)...])
    }
    return out
}
