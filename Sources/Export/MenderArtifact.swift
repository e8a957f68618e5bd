import FirmchainCore
import Signing

/// Mender artifact format v3 (Docs/formats/distributors.md "Mender artifact v3"), written by
/// Firmchain from a verified release target, with a deterministic tar writer.
///
/// Outer tar, in this order:
/// 1. `version` — `{"format":"mender","version":3}`;
/// 2. `manifest` — `<sha256hex>  <path>` lines sorted by path, over `version`, `header.tar` and
///    the payload file as `data/0000/<file>`;
/// 3. `manifest.sig` — base64 of the signer's signature over `manifest`: ECDSA P-256 as raw
///    r‖s (64 bytes), RSA as PKCS#1 v1.5 with SHA-256 (what `mender-artifact validate -k`
///    checks);
/// 4. `header.tar` — `header-info`, `headers/0000/type-info`;
/// 5. `data/0000.tar` — the payload file.
public enum MenderArtifact {
    /// The artifact's header fields.
    public struct Options: Sendable {
        /// `artifact_depends.device_type` (at least one).
        public var deviceTypes: [String]
        /// `artifact_provides.artifact_name`.
        public var artifactName: String
        /// The payload type (`rootfs-image`, or a module name for a delta).
        public var payloadType: String
        /// Extra `artifact_provides` of the payload (`rootfs-image.checksum` is always set for rootfs images).
        public var provides: [String: String]
        /// `artifact_depends` of the payload (a delta depends on the base's checksum).
        public var depends: [String: String]

        /// Options for a `rootfs-image` payload.
        public init(deviceTypes: [String], artifactName: String, payloadType: String = "rootfs-image",
                    provides: [String: String] = [:], depends: [String: String] = [:]) {
            self.deviceTypes = deviceTypes
            self.artifactName = artifactName
            self.payloadType = payloadType
            self.provides = provides
            self.depends = depends
        }
    }

    /// The names of the outer members, in order.
    public static let members = ["version", "manifest", "manifest.sig", "header.tar", "data/0000.tar"]

    /// Builds the artifact for `target`, signed by `signer`.
    ///
    /// Errors: `export.key-unsupported` (a key that is neither P-256 nor RSA),
    /// `export.option-invalid`, and the signer's errors.
    public static func build(target: ReleaseTarget, options: Options, signer: any Signer) throws -> [UInt8] {
        let algorithm: SignatureAlgorithm
        switch signer.publicKey.keyType {
        case .ecdsaP256: algorithm = .ecdsaP256SHA256
        case .rsa: algorithm = .rsaPKCS1v15SHA256
        default:
            throw FirmchainError(.exportKeyUnsupported, "Mender artifacts are signed with ECDSA P-256 or RSA, not \(signer.publicKey.keyType.rawValue)")
        }
        guard !options.deviceTypes.isEmpty, options.deviceTypes.allSatisfy({ !$0.isEmpty }), !options.artifactName.isEmpty,
              !options.payloadType.isEmpty else {
            throw FirmchainError(.exportOptionInvalid, "a Mender artifact needs a device type, an artifact name and a payload type")
        }
        let version = Array(#"{"format":"mender","version":3}"#.utf8)

        var provides = options.provides.mapValues { JSONValue.string($0) }
        if options.payloadType == "rootfs-image" { provides["rootfs-image.checksum"] = .string(target.sha256) }
        let headerInfo: JSONValue = .object([
            "payloads": .array([.object(["type": .string(options.payloadType)])]),
            "artifact_provides": .object(["artifact_name": .string(options.artifactName)]),
            "artifact_depends": .object(["device_type": .array(options.deviceTypes.map { .string($0) })]),
        ])
        var typeInfo: [String: JSONValue] = ["type": .string(options.payloadType), "artifact_provides": .object(provides)]
        if !options.depends.isEmpty { typeInfo["artifact_depends"] = .object(options.depends.mapValues { .string($0) }) }
        var header = TarWriter()
        try header.add("header-info", try JSONEncoding.canonical(headerInfo))
        try header.add("headers/0000/type-info", try JSONEncoding.canonical(.object(typeInfo)))
        let headerTar = header.finished()

        var data = TarWriter()
        try data.add(target.fileName, target.bytes)
        let dataTar = data.finished()

        let lines = [
            ("data/0000/" + target.fileName, target.sha256),
            ("header.tar", Hex.encode(SHA256Digest.of(headerTar))),
            ("version", Hex.encode(SHA256Digest.of(version))),
        ].sorted { $0.0 < $1.0 }
        let manifest = Array(lines.map { "\($0.1)  \($0.0)\n" }.joined().utf8)
        let signature = try signer.sign(manifest, algorithm: algorithm, encoding: .raw)
        let manifestSig = Array(Base64.encode(signature).utf8)

        var outer = TarWriter()
        try outer.add("version", version)
        try outer.add("manifest", manifest)
        try outer.add("manifest.sig", manifestSig)
        try outer.add("header.tar", headerTar)
        try outer.add("data/0000.tar", dataTar)
        return outer.finished()
    }
}
