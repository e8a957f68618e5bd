import Crypto
import FirmchainCore
import Foundation

/// The upload descriptions device-management services take for a container, written beside it
/// (Docs/exports.md "Service descriptors"; shapes from each service's public documentation,
/// Docs/formats/distributors.md "Service descriptors"). None of them is signed by Firmchain:
/// authenticity travels inside the container.
public enum ServiceDescriptors {
    /// What the descriptors name.
    public struct Options: Sendable {
        /// The update's provider / vendor (`^[a-zA-Z0-9.-]+$`, at most 64 characters for ADU).
        public var provider: String
        /// The update's name (same rule).
        public var name: String
        /// The version: 2 to 4 numeric parts for ADU.
        public var version: String
        /// ADU compatibility properties (1 to 5 per entry), e.g. manufacturer and model.
        public var compatibility: [String: String]
        /// The object's URL as the AWS job will fetch it (an S3 https URL); it goes into a
        /// `${aws:iot:s3-presigned-url-v2:…}` placeholder the service presigns.
        public var objectURL: String?
        /// When the import manifest was made (ADU `createdDateTime`).
        public var created: Date

        /// Options from their parts.
        public init(provider: String, name: String, version: String, compatibility: [String: String], objectURL: String? = nil, created: Date) {
            self.provider = provider
            self.name = name
            self.version = version
            self.compatibility = compatibility
            self.objectURL = objectURL
            self.created = created
        }
    }

    /// The container kinds, for the ADU handler and the hawkBit module type.
    public enum Container: String, Sendable {
        /// A Mender artifact.
        case mender
        /// A SWUpdate package (ADU handler `microsoft/swupdate:2`).
        case swu
        /// A RAUC bundle.
        case rauc
    }

    /// The largest AWS IoT job document (32,768 bytes).
    public static let awsJobDocumentLimit = 32_768

    /// The three descriptors for `container` (its file name and bytes): `hawkbit`, `aws-job` and
    /// `adu-import-manifest` (ADU only for SWUpdate packages, whose handler ADU ships).
    ///
    /// Errors: `export.option-invalid` for names, versions or compatibility ADU rejects, or an AWS
    /// document over its limit.
    public static func make(fileName: String, bytes: [UInt8], container: Container, options: Options) throws -> [String: [UInt8]] {
        let sha256 = Array(SHA256.hash(data: bytes))
        let sha1 = Array(Insecure.SHA1.hash(data: bytes))
        let md5 = Array(Insecure.MD5.hash(data: bytes))
        var out = [String: [UInt8]]()

        // hawkBit Management API: a software module, and the artifact upload's checksums (the
        // server compares them with what it receives).
        out["hawkbit"] = JSONEncoding.standard([
            "softwareModule": [
                "name": .string(options.name), "version": .string(options.version),
                "type": .string(container == .mender ? "os" : "application"), "vendor": .string(options.provider),
                "description": .string("\(container.rawValue) container exported by Firmchain"),
            ],
            "artifact": [
                "filename": .string(fileName), "size": .int(Int64(bytes.count)),
                "sha256sum": .string(Hex.encode(sha256)), "sha1sum": .string(Hex.encode(sha1)), "md5sum": .string(Hex.encode(md5)),
            ],
        ])

        // AWS IoT Jobs: a job document for the device agent; the URL is presigned by the service.
        var file: [String: JSONValue] = [
            "fileName": .string(fileName), "fileSize": .int(Int64(bytes.count)), "sha256": .string(Hex.encode(sha256)),
            "format": .string(container.rawValue),
        ]
        if let url = options.objectURL { file["url"] = .string("${aws:iot:s3-presigned-url-v2:\(url)}") }
        let job = JSONEncoding.standard([
            "operation": "firmware-update", "name": .string(options.name), "version": .string(options.version), "files": [.object(file)],
        ])
        guard job.count <= awsJobDocumentLimit else { throw FirmchainError(.exportOptionInvalid, "the AWS IoT job document is over 32,768 bytes") }
        out["aws-job"] = job

        if container == .swu { out["adu-import-manifest"] = try aduImportManifest(fileName: fileName, size: bytes.count, sha256: sha256, options: options) }
        return out
    }

    /// Azure Device Update import manifest v5 for a SWUpdate package.
    static func aduImportManifest(fileName: String, size: Int, sha256: [UInt8], options: Options) throws -> [UInt8] {
        func identifier(_ s: String, _ what: String) throws {
            guard !s.isEmpty, s.count <= 64, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw FirmchainError(.exportOptionInvalid, "the ADU \(what) '\(s)' must match ^[a-zA-Z0-9.-]+$ and have at most 64 characters")
            }
        }
        try identifier(options.provider, "provider")
        try identifier(options.name, "name")
        let parts = options.version.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...4).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            throw FirmchainError(.exportOptionInvalid, "the ADU version '\(options.version)' must have 2 to 4 numeric parts")
        }
        guard (1...5).contains(options.compatibility.count) else {
            throw FirmchainError(.exportOptionInvalid, "ADU compatibility needs 1 to 5 properties (say manufacturer and model)")
        }
        return JSONEncoding.standard([
            "updateId": ["provider": .string(options.provider), "name": .string(options.name), "version": .string(options.version)],
            "compatibility": [.object(options.compatibility.mapValues { .string($0) })],
            "instructions": ["steps": [[
                "handler": "microsoft/swupdate:2", "files": [.string(fileName)],
                "handlerProperties": ["installedCriteria": .string(options.version)],
            ]]],
            "files": [["filename": .string(fileName), "sizeInBytes": .int(Int64(size)), "hashes": ["sha256": .string(Base64.encode(sha256))]]],
            "createdDateTime": .string(UTCTimestamp.string(from: options.created)),
            "manifestVersion": "5.0",
        ])
    }
}
