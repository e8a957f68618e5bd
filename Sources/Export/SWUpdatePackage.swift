import FirmchainCore
import Foundation
import Signing

/// A SWUpdate `.swu` (Docs/formats/distributors.md "SWUpdate .swu") written by Firmchain: a cpio
/// `newc` archive whose first member is `sw-description` (JSON), the second
/// `sw-description.sig` — a detached DER CMS SignedData over it, signed through `Signer` —
/// then the image, whose sha256 `sw-description` carries. SWUpdate checks the signature
/// against its CA (`-k`) and streams the image through that hash.
public enum SWUpdatePackage {
    /// What `sw-description` says.
    public struct Options: Sendable {
        /// `software.version`.
        public var version: String
        /// `BOARD:REV` pairs; the revisions become `hardware-compatibility` (SWUpdate compares
        /// the revision it is given with `-H BOARD:REV` against this list).
        public var hardware: [String]
        /// The device the raw image is written to.
        public var device: String
        /// The image type (handler), `raw` by default.
        public var imageType: String
        /// The signer's certificate (PEM) and any intermediates, for the CMS signature.
        public var certificate: String
        /// Intermediate certificates (PEM).
        public var chain: [String]
        /// The CMS `signing-time` (fixed for reproducible exports).
        public var signingTime: Date

        /// Options for a raw image.
        public init(version: String, hardware: [String], device: String, imageType: String = "raw",
                    certificate: String, chain: [String] = [], signingTime: Date) {
            self.version = version
            self.hardware = hardware
            self.device = device
            self.imageType = imageType
            self.certificate = certificate
            self.chain = chain
            self.signingTime = signingTime
        }
    }

    /// The cpio member names, in order, for a target file name.
    public static func members(fileName: String) -> [String] { ["sw-description", "sw-description.sig", fileName] }

    /// The `sw-description` for `target`.
    public static func description(target: ReleaseTarget, options: Options) throws -> [UInt8] {
        guard !options.version.isEmpty, !options.device.isEmpty, !options.imageType.isEmpty else {
            throw FirmchainError(.exportOptionInvalid, "a .swu needs a version, a device and an image type")
        }
        var revisions = [String]()
        for h in options.hardware {
            let parts = h.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw FirmchainError(.exportOptionInvalid, "--hardware takes BOARD:REV, not '\(h)'")
            }
            if !revisions.contains(String(parts[1])) { revisions.append(String(parts[1])) }
        }
        var software: [String: JSONValue] = [
            "version": .string(options.version),
            "images": .array([.object([
                "filename": .string(target.fileName), "device": .string(options.device),
                "type": .string(options.imageType), "sha256": .string(target.sha256),
            ])]),
        ]
        if !revisions.isEmpty { software["hardware-compatibility"] = .array(revisions.map { .string($0) }) }
        return JSONEncoding.standard(.object(["software": .object(software)]))
    }

    /// Builds the `.swu` for `target`, its description signed by `signer`.
    public static func build(target: ReleaseTarget, options: Options, signer: any Signer) throws -> [UInt8] {
        let description = try description(target: target, options: options)
        let signature = try CMSSignedData.sign(description, signer: signer,
                                               options: .init(certificate: options.certificate, chain: options.chain,
                                                              signingTime: options.signingTime))
        var cpio = CPIOWriter()
        try cpio.add("sw-description", description)
        try cpio.add("sw-description.sig", signature)
        try cpio.add(target.fileName, target.bytes)
        return cpio.finished()
    }
}
