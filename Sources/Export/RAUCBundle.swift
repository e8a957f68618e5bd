import Crypto
import FirmchainCore
import Foundation
import Signing

/// A RAUC bundle (Docs/formats/distributors.md "RAUC bundle") written by Firmchain: a squashfs
/// made by Debian's `mksquashfs` with reproducible options, holding `manifest.raucm` and the
/// image; then, for `verity`, the dm-verity hash tree Firmchain computes; then a CMS
/// SignedData signed through `Signer`; then the CMS length as a big-endian uint64.
///
/// - `plain`: the CMS is detached, over the squashfs.
/// - `verity`: the CMS carries the manifest (with `verity-hash`, `verity-salt`, `verity-size`);
///   the salt is SHA-256 over a label and the squashfs, so the same inputs give the same bundle.
public enum RAUCBundle {
    /// The bundle formats.
    public enum Format: String, Sendable, CaseIterable {
        /// Squashfs, detached CMS over it.
        case plain
        /// Squashfs, dm-verity tree, CMS carrying the manifest.
        case verity
    }

    /// What the manifest says, and how the bundle is built.
    public struct Options: Sendable {
        /// `[update] compatible`.
        public var compatible: String
        /// `[update] version`.
        public var version: String
        /// The slot class the image goes to (`[image.<slot>]`).
        public var slotClass: String
        /// The bundle format.
        public var format: Format
        /// The signer's certificate and intermediates (PEM).
        public var certificate: String
        /// Intermediate certificates (PEM).
        public var chain: [String]
        /// The CMS signing-time.
        public var signingTime: Date
        /// The `mksquashfs` executable.
        public var mksquashfs: String

        /// Options for a bundle of one image into slot class `rootfs`.
        public init(compatible: String, version: String, slotClass: String = "rootfs", format: Format = .verity,
                    certificate: String, chain: [String] = [], signingTime: Date, mksquashfs: String = "/usr/bin/mksquashfs") {
            self.compatible = compatible
            self.version = version
            self.slotClass = slotClass
            self.format = format
            self.certificate = certificate
            self.chain = chain
            self.signingTime = signingTime
            self.mksquashfs = mksquashfs
        }
    }

    /// The manifest (a GLib key file); `verity` adds the verity fields when given.
    static func manifest(target: ReleaseTarget, options: Options, verity: (hash: String, salt: String, size: Int)?) throws -> [UInt8] {
        for (name, value) in [("compatible", options.compatible), ("version", options.version), ("slot class", options.slotClass)] {
            guard !value.isEmpty, !value.contains(where: { $0.isNewline || $0 == "[" || $0 == "]" }) else {
                throw FirmchainError(.exportOptionInvalid, "the RAUC \(name) must be one non-empty line without brackets")
            }
        }
        var text = "[update]\ncompatible=\(options.compatible)\nversion=\(options.version)\n\n[bundle]\nformat=\(options.format.rawValue)\n"
        if let verity {
            text += "verity-hash=\(verity.hash)\nverity-salt=\(verity.salt)\nverity-size=\(verity.size)\n"
        }
        text += "\n[image.\(options.slotClass)]\nfilename=\(target.fileName)\nsha256=\(target.sha256)\nsize=\(target.bytes.count)\n"
        return Array(text.utf8)
    }

    /// Builds the bundle for `target` signed by `signer`, using `workDirectory` (an empty
    /// directory the caller removes afterwards) for the squashfs input and output.
    ///
    /// Errors: `export.tool-failed` (mksquashfs), `export.option-invalid`, the CMS errors.
    public static func build(target: ReleaseTarget, options: Options, signer: any Signer, workDirectory: String) throws -> [UInt8] {
        let content = workDirectory + "/content"
        try FileIO.makeDirectories(content)
        guard chmod(content, 0o755) == 0 else { throw FirmchainError(.exportToolFailed, "cannot set the mode of the squashfs root", path: content) }
        try AtomicFile.write(try manifest(target: target, options: options, verity: nil), to: content + "/manifest.raucm", mode: 0o644)
        try AtomicFile.write(target.bytes, to: content + "/" + target.fileName, mode: 0o644)
        let squashfsPath = workDirectory + "/bundle.sqfs"
        try runMksquashfs(options.mksquashfs, [content, squashfsPath, "-all-root", "-all-time", "0", "-mkfs-time", "0", "-noappend",
                                               "-no-xattrs", "-no-progress", "-comp", "gzip", "-b", "131072", "-processors", "1"])
        let squashfs = try FileIO.read(squashfsPath, limit: ReleaseTarget.sizeLimit + (1 << 26))
        guard squashfs.count % VerityTree.blockSize == 0, squashfs.starts(with: Array("hsqs".utf8)) else {
            throw FirmchainError(.exportToolFailed, "mksquashfs wrote no 4096-byte-padded squashfs", path: squashfsPath)
        }
        var bundle = squashfs
        let cms: [UInt8]
        switch options.format {
        case .plain:
            cms = try CMSSignedData.sign(squashfs, signer: signer, options: .init(certificate: options.certificate, chain: options.chain,
                                                                                   signingTime: options.signingTime))
        case .verity:
            var saltHash = SHA256()
            saltHash.update(data: Array("firmchain rauc verity salt v1".utf8))
            saltHash.update(data: squashfs)
            let salt = Array(saltHash.finalize())
            let (tree, root) = VerityTree.build(data: squashfs, salt: salt)
            bundle += tree
            let signedManifest = try manifest(target: target, options: options,
                                              verity: (Hex.encode(root), Hex.encode(salt), tree.count))
            cms = try CMSSignedData.sign(signedManifest, signer: signer,
                                         options: .init(certificate: options.certificate, chain: options.chain,
                                                        signingTime: options.signingTime, detached: false))
        }
        bundle += cms
        let length = UInt64(cms.count)
        bundle += (0..<8).map { UInt8(truncatingIfNeeded: length >> (56 - 8 * $0)) }
        return bundle
    }

    private static func runMksquashfs(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch {
            throw FirmchainError(.exportToolFailed, "cannot run \(executable) (apt-get install squashfs-tools): \(error)")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FirmchainError(.exportToolFailed, "mksquashfs failed: \(String(decoding: output.suffix(2000), as: UTF8.self))")
        }
    }
}
