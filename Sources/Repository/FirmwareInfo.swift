import FirmchainCore

/// The firmware fields Firmchain puts in `targets[path].custom.firmware` (schema 1, documented
/// in Docs/manifest.md). TUF signs them but does not interpret them (TUF spec §4.5); devices
/// and the verifier do.
public struct FirmwareInfo: Sendable, Hashable {
    /// Version of this schema. Readers refuse a schema they do not know (fail closed).
    public static let schemaVersion: Int64 = 1

    /// The member of `custom` these fields live under, so other custom data can coexist.
    public static let customKey = "firmware"

    /// Whole image or delta.
    public enum Kind: String, Sendable, CaseIterable { case full, delta }

    /// How urgently a fleet should take the update, as fleets classify patches.
    public enum Priority: String, Sendable, CaseIterable { case critical, high, medium, low }

    /// For a delta: what it applies to and what it reproduces.
    public struct DeltaInfo: Sendable, Hashable {
        /// Patch format, `bsdiff40` or `firmchain1` (the applier a device runs).
        public var format: String
        /// Target name, version and sha256 of the image the patch applies to.
        public var baseName: String
        /// The version of the image the patch applies to (`delta.base.version`).
        public var baseVersion: String
        /// The hex sha256 of the image the patch applies to (`delta.base.sha256`), which a device
        /// checks before patching.
        public var baseSHA256: String
        /// The image the patch reproduces: target name, sha256 and length.
        public var resultName: String
        /// The hex sha256 of the image the patch reproduces (`delta.result.sha256`), which a device
        /// checks after patching.
        public var resultSHA256: String
        /// The size in bytes of the image the patch reproduces (`delta.result.length`).
        public var resultLength: Int64

        /// Creates the delta fields; `format` defaults to `bsdiff40`.
        public init(format: String = "bsdiff40", baseName: String, baseVersion: String, baseSHA256: String,
                    resultName: String, resultSHA256: String, resultLength: Int64) {
            self.format = format
            self.baseName = baseName
            self.baseVersion = baseVersion
            self.baseSHA256 = baseSHA256
            self.resultName = resultName
            self.resultSHA256 = resultSHA256
            self.resultLength = resultLength
        }
    }

    /// For an encrypted payload: the plaintext's digest and how it was encrypted.
    public struct EncryptionInfo: Sendable, Hashable {
        /// The hex sha256 of the decrypted payload (`encryption.plaintext.sha256`).
        public var plaintextSHA256: String
        /// The size in bytes of the decrypted payload (`encryption.plaintext.length`).
        public var plaintextLength: Int64
        /// The encryption descriptor (format, algorithms, recipients), as the encryption step writes it.
        public var descriptor: JSONValue

        /// Creates the encryption fields from the plaintext's digest and size and the encryption descriptor.
        public init(plaintextSHA256: String, plaintextLength: Int64, descriptor: JSONValue) {
            self.plaintextSHA256 = plaintextSHA256
            self.plaintextLength = plaintextLength
            self.descriptor = descriptor
        }
    }

    /// Optional hints for staged rollout.
    public struct Rollout: Sendable, Hashable {
        /// The size of the canary group that should take the update first
        /// (`rollout.canary_group_size`), or nil when not hinted.
        public var canaryGroupSize: Int64?
        /// How long, in hours, a staged rollout should soak before it goes wider
        /// (`rollout.soak_hours`), or nil when not hinted.
        public var soakHours: Int64?

        /// Creates rollout hints; either may be left out.
        public init(canaryGroupSize: Int64? = nil, soakHours: Int64? = nil) {
            self.canaryGroupSize = canaryGroupSize
            self.soakHours = soakHours
        }
    }

    /// Human version string, e.g. `1.2.0`.
    public var version: String
    /// Monotonically increasing integer for rollback protection: a device refuses a lower one.
    public var versionNumber: Int64
    /// Hardware ids this image may be installed on.
    public var hardwareIDs: [String]
    /// Whether the target is a whole image or a delta (`kind`); readers require `delta` exactly
    /// when it is `.delta`.
    public var kind: Kind
    /// For a delta, the image it applies to and the image it reproduces (`delta`); nil for a whole image.
    public var delta: DeltaInfo?
    /// For an encrypted payload, the plaintext's digest and the encryption descriptor
    /// (`encryption`); nil otherwise.
    public var encryption: EncryptionInfo?
    /// How urgently a fleet should take the update (`priority`).
    public var priority: Priority
    /// Staged-rollout hints (`rollout`), or nil when there are none.
    public var rollout: Rollout?

    /// Creates firmware fields; the priority defaults to `.medium` and the optional parts to nil.
    public init(version: String, versionNumber: Int64, hardwareIDs: [String], kind: Kind, delta: DeltaInfo? = nil,
                encryption: EncryptionInfo? = nil, priority: Priority = .medium, rollout: Rollout? = nil) {
        self.version = version
        self.versionNumber = versionNumber
        self.hardwareIDs = hardwareIDs
        self.kind = kind
        self.delta = delta
        self.encryption = encryption
        self.priority = priority
        self.rollout = rollout
    }

    /// The `custom` object for a target (merged into any existing custom data by the caller).
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "schema": .int(FirmwareInfo.schemaVersion), "version": .string(version), "version_number": .int(versionNumber),
            "hardware_ids": .array(hardwareIDs.map { .string($0) }), "kind": .string(kind.rawValue),
            "priority": .string(priority.rawValue),
        ]
        if let d = delta {
            o["delta"] = [
                "format": .string(d.format),
                "base": ["name": .string(d.baseName), "version": .string(d.baseVersion), "sha256": .string(d.baseSHA256)],
                "result": ["name": .string(d.resultName), "sha256": .string(d.resultSHA256), "length": .int(d.resultLength)],
            ]
        }
        if let e = encryption {
            o["encryption"] = [
                "plaintext": ["sha256": .string(e.plaintextSHA256), "length": .int(e.plaintextLength)],
                "descriptor": e.descriptor,
            ]
        }
        if let r = rollout {
            var ro = [String: JSONValue]()
            if let c = r.canaryGroupSize { ro["canary_group_size"] = .int(c) }
            if let s = r.soakHours { ro["soak_hours"] = .int(s) }
            o["rollout"] = .object(ro)
        }
        return .object(o)
    }

    /// Reads the fields from a target's `custom` object (`custom.firmware`); nil when absent.
    ///
    /// - Throws: `repo.malformed-metadata` for a wrong type or an unknown schema version.
    public init?(custom: JSONValue?) throws {
        guard let fw = custom?[FirmwareInfo.customKey] else { return nil }
        var f = try JSONFields(fw, "custom.firmware")
        let schema = try f.int("schema")
        guard schema == FirmwareInfo.schemaVersion else {
            throw FirmchainError(.repoUnknownFirmwareSchema, "custom.firmware schema \(schema) is not supported")
        }
        version = try f.string("version")
        versionNumber = try f.int("version_number")
        hardwareIDs = try f.array("hardware_ids").map {
            guard let s = $0.stringValue else { throw FirmchainError.malformed("custom.firmware.hardware_ids holds a non-string") }
            return s
        }
        let k = try f.string("kind")
        guard let kind = Kind(rawValue: k) else { throw FirmchainError.malformed("custom.firmware.kind \"\(k)\" is not full or delta") }
        self.kind = kind
        let p = try f.string("priority")
        guard let priority = Priority(rawValue: p) else { throw FirmchainError.malformed("custom.firmware.priority \"\(p)\" is unknown") }
        self.priority = priority
        if let d = f.optional("delta") {
            var df = try JSONFields(d, "custom.firmware.delta")
            var base = try JSONFields(.object(try df.object("base")), "custom.firmware.delta.base")
            var result = try JSONFields(.object(try df.object("result")), "custom.firmware.delta.result")
            delta = DeltaInfo(format: try df.string("format"), baseName: try base.string("name"), baseVersion: try base.string("version"),
                              baseSHA256: try base.string("sha256"), resultName: try result.string("name"),
                              resultSHA256: try result.string("sha256"), resultLength: try result.int("length"))
        } else {
            delta = nil
        }
        guard (kind == .delta) == (delta != nil) else {
            throw FirmchainError.malformed("custom.firmware: kind \(kind.rawValue) does not match the presence of delta")
        }
        if let e = f.optional("encryption") {
            var ef = try JSONFields(e, "custom.firmware.encryption")
            var pt = try JSONFields(.object(try ef.object("plaintext")), "custom.firmware.encryption.plaintext")
            encryption = EncryptionInfo(plaintextSHA256: try pt.string("sha256"), plaintextLength: try pt.int("length"),
                                        descriptor: try ef.take("descriptor"))
        } else {
            encryption = nil
        }
        if let r = f.optional("rollout") {
            rollout = Rollout(canaryGroupSize: r["canary_group_size"]?.int64Value, soakHours: r["soak_hours"]?.int64Value)
        } else {
            rollout = nil
        }
    }
}

extension FirmwareInfo {
    /// Checks what a writer puts into `custom.firmware` before anything is signed: a version
    /// string of printable text, a version number of at least 1, distinct non-empty hardware
    /// ids, delta fields exactly when the kind is `delta`, and for a delta a base and result
    /// that are 64-digit sha256 values, a result length that is not negative, and names that
    /// are valid target names. Whatever a writer accepts, every reader reads back.
    ///
    /// - Throws: `repo.bad-firmware-fields` naming the field.
    public func validate() throws {
        func bad(_ what: String) -> FirmchainError { FirmchainError(.repoBadFirmwareFields, what) }
        func printable(_ s: String) -> Bool { DisplayText.isPrintable(s) }
        guard printable(version) else { throw bad("the version \"\(DisplayText.oneLine(version))\" must be 1-256 bytes of printable text (no control or format characters)") }
        guard versionNumber >= 1 else { throw bad("version_number \(versionNumber) must be at least 1") }
        guard !hardwareIDs.isEmpty else { throw bad("name at least one hardware id") }
        for id in hardwareIDs where !printable(id) { throw bad("the hardware id \"\(DisplayText.oneLine(id))\" must be 1-256 bytes of printable text (no control or format characters)") }
        guard Set(hardwareIDs).count == hardwareIDs.count else { throw bad("a hardware id is listed twice") }
        switch (kind, delta) {
        case (.full, .some): throw bad("a full image has no delta fields (--base and --result are for --kind delta)")
        case (.delta, .none): throw bad("a delta needs its base and result")
        case (.delta, .some(let d)):
            func isSHA256(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
            guard isSHA256(d.baseSHA256) else { throw bad("the base sha256 \"\(d.baseSHA256)\" is not 64 lower-case hex digits") }
            guard isSHA256(d.resultSHA256) else { throw bad("the result sha256 \"\(d.resultSHA256)\" is not 64 lower-case hex digits") }
            guard d.resultLength >= 0 else { throw bad("the result length \(d.resultLength) is negative") }
            guard printable(d.baseVersion) else { throw bad("the base version must be printable text") }
            try RepositoryStore.validateTargetName(d.baseName)
            try RepositoryStore.validateTargetName(d.resultName)
        case (.full, .none): break
        }
    }
}
