import FirmchainCore
import Foundation
import Repository
import Signing

/// A release policy (`Policies/*.yml`, schema 1, documented in Docs/policy.md): what must hold
/// for a release. It compiles into the TUF root (roles, keys, thresholds, expiry), the in-toto
/// layout (functionaries per step) and the checks a run makes before it signs anything.
public struct Policy: Sendable {
    /// Schema versions this Firmchain reads.
    public static let schemaVersion: Int64 = 1

    /// A TUF role's keys (pkcs11: URIs or key files), threshold and expiry window.
    public struct Role: Sendable, Hashable {
        /// The role's keys as `pkcs11:` URIs or key files (`roles.<role>.keys`, at least one).
        public var keys: [String]
        /// How many of `keys` must sign the role's metadata (`roles.<role>.threshold`, 1 through
        /// the number of keys; default 1).
        public var threshold: Int
        /// How long the role's metadata stays valid, in seconds (from `expiry_days` or `expiry_hours`).
        public var expiry: TimeInterval
    }

    /// What a release's version must do relative to the last release.
    public enum RollbackRule: String, Sendable, CaseIterable {
        /// `version_number` must be greater than every earlier release's.
        case strictlyIncreasing = "strictly-increasing"
    }

    /// The policy's name (`name`).
    public var name: String
    /// The four TUF roles.
    public var roles: RoleTable<Role>
    /// Keys that sign the in-toto layout.
    public var ownerKeys: [String]
    /// Algorithms keys may sign with.
    public var allowedAlgorithms: Set<SignatureAlgorithm>
    /// Smallest RSA modulus accepted.
    public var minimumRSABits: Int
    /// Keys older than this must be rotated (days).
    public var maximumKeyAgeDays: Int64
    /// Keys allowed to run each pipeline step, by step name.
    public var functionaries: [String: [String]]
    /// The line of each step's entry under `functionaries`, for messages.
    public var functionaryLines: [String: Int]
    /// Hardware ids a release may target, with a description each.
    public var hardwareClasses: [String: String]
    /// How a release's `version_number` must relate to the published ones (`rollback`, by default
    /// `strictly-increasing`).
    public var rollback: RollbackRule
    /// Priority classes a release may carry.
    public var priorityClasses: [FirmwareInfo.Priority]
    /// The file the policy was read from.
    public var path: String
    /// Approvals each key ceremony needs beyond the TUF thresholds, by kind (`rotation`,
    /// `revocation`, `window-close`; `ceremonies.approvals`).
    public var ceremonyApprovals: [String: Int] = [:]
    /// The officers whose approvals count toward `ceremonyApprovals`, by name (`ceremonies.officers`:
    /// key references); empty: every key with a say counts.
    public var officers: [String: String] = [:]
    /// Which targets must be encrypted, and for whom (`encryption`); nil: encryption is optional.
    public var encryption: EncryptionRule?

    /// The `encryption` section: a release whose targets of these kinds are not encrypted for
    /// every one of these recipients stops before anything is signed.
    public struct EncryptionRule: Sendable, Hashable {
        /// The target kinds that must be encrypted (`targets`: `full`, `delta`).
        public var kinds: Set<FirmwareInfo.Kind>
        /// The recipients each of them must be encrypted for (`recipients`): a P-256 public key
        /// (PEM file or `pkcs11:` URI) or `kek:NAME`, a pre-shared group key by its key id.
        public var recipients: [String]
        /// The line of `encryption`, for messages.
        public var line: Int

        /// A rule from its parts.
        public init(kinds: Set<FirmwareInfo.Kind>, recipients: [String], line: Int = 0) {
            self.kinds = kinds
            self.recipients = recipients
            self.line = line
        }
    }

    /// The expiry windows as the repository takes them.
    public var expiryPolicy: ExpiryPolicy {
        ExpiryPolicy(root: roles.root.expiry, targets: roles.targets.expiry,
                     snapshot: roles.snapshot.expiry, timestamp: roles.timestamp.expiry)
    }

    /// Reads a policy file. Every problem is one `FirmchainError` naming the file, line and key.
    /// A key URI may name a PKCS#11 module (`module-path=`) only when it is in `allowedModules`
    /// (the signing job's own allow-list): a policy change in a pull request must not choose the
    /// code a signing job loads.
    public init(contentsOf path: String, allowedModules: Set<String> = []) throws {
        let bytes = try FileIO.read(path, limit: 1 << 20)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FirmchainError(.pipelineBadYAML, "is not UTF-8 text", path: path)
        }
        try self.init(yaml: text, path: path, allowedModules: allowedModules)
    }

    /// Reads a policy from YAML text; `path` is named in errors.
    public init(yaml text: String, path: String, allowedModules: Set<String> = []) throws {
        // Every key reference: a file path, or a pkcs11: URI that parses and names no module
        // outside the allow-list; errors name the line and the URI.
        func keyRefs(_ node: YAMLValue) throws -> [String] { try node.sequence().map(keyRef) }
        func keyRef(_ item: YAMLValue) throws -> String {
                let ref = try item.string()
                guard PKCS11URI.isPKCS11URI(ref) else { return ref }
                let uri: PKCS11URI
                do { uri = try PKCS11URI(parsing: ref) } catch let e as FirmchainError {
                    throw FirmchainError(e.code, "line \(item.line): \(item.keyPath): the key URI \"\(ref)\" is not valid: \(e.reason)", path: path)
                }
                if let module = uri.modulePath, !allowedModules.contains(module) {
                    throw FirmchainError(.policyViolation,
                                         "line \(item.line): \(item.keyPath): the key URI names module-path=\(module); a policy may not choose the code a signing job loads (pass --module, or list the module in FIRMCHAIN_PKCS11_MODULES)",
                                         path: path)
                }
                if uri.moduleName != nil {
                    throw FirmchainError(.policyViolation, "line \(item.line): \(item.keyPath): module-name= is not supported in a policy", path: path)
                }
                return ref
        }
        let doc = try YAMLValue.document(text, file: path)
        let top = try doc.mapping(allowed: ["schema", "name", "owner", "roles", "algorithms", "max_key_age_days", "functionaries",
                                            "hardware_classes", "rollback", "priority_classes", "ceremonies", "encryption"])
        let schema = try top.required("schema", in: doc).int()
        guard schema == Policy.schemaVersion else {
            throw FirmchainError(.pipelineUnknownSchema, "line \(top["schema"]!.line): schema \(schema) is not supported (this Firmchain reads \(Policy.schemaVersion))", path: path)
        }
        self.path = path
        name = try top.required("name", in: doc).string()

        let ownerNode = try top.required("owner", in: doc)
        let owner = try ownerNode.mapping(allowed: ["keys"])
        ownerKeys = try keyRefs(try owner.required("keys", in: ownerNode))
        guard !ownerKeys.isEmpty else { throw owner["keys"]!.fail("needs at least one key") }

        let rolesNode = try top.required("roles", in: doc)
        let rolesMap = try rolesNode.mapping(allowed: Set(TopLevelRole.allCases.map(\.rawValue)))
        roles = try RoleTable { role in
            let r = try rolesMap.required(role.rawValue, in: rolesNode)
            let m = try r.mapping(allowed: ["keys", "threshold", "expiry_days", "expiry_hours"])
            let keys = try keyRefs(try m.required("keys", in: r))
            guard !keys.isEmpty else { throw m["keys"]!.fail("needs at least one key") }
            let threshold = Int(try m["threshold"]?.int(in: 1...Int64(keys.count)) ?? 1)
            let days = try m["expiry_days"]?.int(in: 1...3650)
            let hours = try m["expiry_hours"]?.int(in: 1...87_600)
            guard (days == nil) != (hours == nil) else { throw r.fail("give exactly one of expiry_days or expiry_hours") }
            return Role(keys: keys, threshold: threshold, expiry: TimeInterval(days.map { $0 * 86_400 } ?? hours.map { $0 * 3600 } ?? 0))
        }

        if let a = top["algorithms"] {
            let m = try a.mapping(allowed: ["allowed", "min_rsa_bits"])
            allowedAlgorithms = Set(try m.required("allowed", in: a).sequence().map { try $0.oneOf(SignatureAlgorithm.self, SignatureAlgorithm.allCases) })
            minimumRSABits = Int(try m["min_rsa_bits"]?.int(in: 2048...16_384) ?? 3072)
        } else {
            allowedAlgorithms = [.ecdsaP256SHA256, .ecdsaP384SHA384, .ed25519, .rsaPSSSHA256]
            minimumRSABits = 3072
        }
        maximumKeyAgeDays = try top["max_key_age_days"]?.int(in: 1...36_500) ?? 730

        // Step names are checked against the pipeline's steps when a pipeline is loaded under
        // this policy: the policy does not know which kinds of step exist.
        var functionaries = [String: [String]]()
        var functionaryLines = [String: Int]()
        if let f = top["functionaries"] {
            for (step, keys) in try f.dictionary() {
                functionaries[step] = try keyRefs(keys)
                functionaryLines[step] = keys.line
            }
        }
        self.functionaries = functionaries
        self.functionaryLines = functionaryLines

        let hw = try top.required("hardware_classes", in: doc)
        var hardware = [String: String]()
        for (id, v) in try hw.dictionary() {
            let m = try v.mapping(allowed: ["description"])
            hardware[id] = try m["description"]?.string() ?? id
        }
        guard !hardware.isEmpty else { throw hw.fail("declare at least one hardware class") }
        hardwareClasses = hardware

        if let r = top["rollback"] {
            rollback = try r.oneOf(RollbackRule.self, RollbackRule.allCases)
        } else {
            rollback = .strictlyIncreasing
        }
        if let c = top["ceremonies"] {
            let m = try c.mapping(allowed: ["approvals", "officers"])
            if let a = m["approvals"] {
                let kinds = try a.mapping(allowed: ["rotation", "revocation", "window-close"])
                for (kind, n) in kinds { ceremonyApprovals[kind] = Int(try n.int(in: 1...64)) }
            }
            if let o = m["officers"] {
                for (name, ref) in try o.dictionary() {
                    officers[name] = try keyRef(ref)
                }
            }
        }
        if let e = top["encryption"] {
            let m = try e.mapping(allowed: ["targets", "recipients"])
            let kinds = try m.required("targets", in: e).sequence().map { try $0.oneOf(FirmwareInfo.Kind.self, FirmwareInfo.Kind.allCases) }
            let recipientsNode = try m.required("recipients", in: e)
            let recipients = try recipientsNode.sequence().map { item -> String in
                let s = try item.string()
                if s.hasPrefix("kek:") {
                    guard s.count > 4 else { throw item.fail("kek: names a group key by its key id (kek:fleet-eu)") }
                    return s
                }
                return try keyRef(item)
            }
            guard !kinds.isEmpty else { throw m["targets"]!.fail("name the target kinds that must be encrypted (full, delta)") }
            guard !recipients.isEmpty else { throw recipientsNode.fail("name at least one recipient") }
            guard Set(recipients).count == recipients.count else { throw recipientsNode.fail("a recipient is listed twice") }
            encryption = EncryptionRule(kinds: Set(kinds), recipients: recipients, line: e.line)
        }
        if let p = top["priority_classes"] {
            priorityClasses = try p.sequence().map { try $0.oneOf(FirmwareInfo.Priority.self, FirmwareInfo.Priority.allCases) }
        } else {
            priorityClasses = FirmwareInfo.Priority.allCases
        }
    }

    /// Throws `policy.violation` unless `key` may sign under this policy: its default
    /// algorithm must be allowed and an RSA key must be large enough.
    public func check(key: PublicKey, reference: String) throws {
        let algorithm = key.keyType.defaultAlgorithm
        guard allowedAlgorithms.contains(algorithm) else {
            throw FirmchainError(.policyViolation, "key \(reference) signs with \(algorithm.rawValue), which the policy does not allow (allowed: \(allowedAlgorithms.map(\.rawValue).sorted().joined(separator: ", ")))",
                                path: path)
        }
        if let bits = key.rsaBits, bits < minimumRSABits {
            throw FirmchainError(.policyViolation, "key \(reference) is RSA-\(bits), below the policy's minimum of \(minimumRSABits) bits", path: path)
        }
    }
}
