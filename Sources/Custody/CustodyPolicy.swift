import Foundation
import FirmchainCore
import Signing

/// What a policy says about custody, as typed values: the steps in order, who may run each,
/// and where each step's artefacts come from. `layout()` compiles it into the in-toto layout
/// (in-toto spec §4.3) whose rules enforce the data flow of Docs/architecture.md "Data flow": a step's materials must be
/// the earlier step's products, byte for byte.
public struct CustodyPolicy: Sendable, Hashable {
    /// Where artefacts matching a pattern come from (materials) or how they may appear (products).
    public enum Flow: Sendable, Hashable {
        /// Read from outside the chain (an input image): allowed as is. → `ALLOW pattern`
        case input(String)
        /// Must equal a product of `step` with the same path. → `MATCH pattern WITH PRODUCTS FROM step`
        case productOf(String, step: String)
        /// Must equal a material of `step` with the same path. → `MATCH pattern WITH MATERIALS FROM step`
        case materialOf(String, step: String)
        /// A new file. → `CREATE pattern`
        case created(String)
        /// Any file the step writes under the pattern. → `ALLOW pattern`
        case written(String)

        /// The in-toto rule this flow compiles to.
        public var rule: ArtifactRule {
            switch self {
            case .input(let p), .written(let p): return .allow(p)
            case .productOf(let p, let step): return .match(pattern: p, sourcePrefix: nil, side: .products, destinationPrefix: nil, step: step)
            case .materialOf(let p, let step): return .match(pattern: p, sourcePrefix: nil, side: .materials, destinationPrefix: nil, step: step)
            case .created(let p): return .create(p)
            }
        }
    }

    /// One step of the chain.
    public struct Step: Sendable, Hashable {
        /// The step name (letters, digits, `-`, `_`, `.`): links are `<name>.<keyid8>.link`.
        public var name: String
        /// The functionaries' public keys.
        public var functionaries: [PublicKey]
        /// How many of them must sign agreeing links.
        public var threshold: Int
        /// Where the materials come from; anything else is refused (a final `DISALLOW *`).
        public var materials: [Flow]
        /// What the step may write; anything else is refused.
        public var products: [Flow]
        /// The command the step is expected to run (informational in in-toto).
        public var expectedCommand: [String]

        /// A step from its parts.
        public init(name: String, functionaries: [PublicKey], threshold: Int = 1, materials: [Flow], products: [Flow], expectedCommand: [String] = []) {
            self.name = name
            self.functionaries = functionaries
            self.threshold = threshold
            self.materials = materials
            self.products = products
            self.expectedCommand = expectedCommand
        }
    }

    /// The steps in the order they run.
    public var steps: [Step]
    /// Where each file delivered in `OUT` must come from: checked by the `delivered`
    /// inspection against the files present when the release is verified.
    public var delivered: [Flow]
    /// Files that must be present in `OUT` (for example `repository/metadata/timestamp.json`).
    public var required: [String]
    /// Patterns of files in `OUT` that are not artefacts of the chain and are not checked
    /// (the custody evidence itself, the human report).
    public var unchecked: [String]
    /// When the layout expires.
    public var expires: Date
    /// Free text for the layout's `readme`.
    public var readme: String

    /// A policy from its parts.
    public init(steps: [Step], delivered: [Flow], required: [String] = [], unchecked: [String] = ["custody/*", "report/*"],
                expires: Date, readme: String = "") {
        self.steps = steps
        self.delivered = delivered
        self.required = required
        self.unchecked = unchecked
        self.expires = expires
        self.readme = readme
    }

    /// The name of the inspection that checks the delivered files.
    public static let deliveredInspection = "delivered"

    /// The inspection command: `true`, which changes nothing. in-toto records every file in
    /// `OUT` before and after it; the inspection's rules then compare them with the products of
    /// the steps. (Firmchain's own verifier does not run it; it records the files itself.)
    public static let deliveredInspectionCommand = ["true"]

    /// Checks step names and thresholds.
    ///
    /// - Throws: `custody.bad-step-name`, `custody.bad-threshold`.
    public func validate() throws {
        var seen = Set<String>()
        for s in steps {
            try Self.validateStepName(s.name)
            guard seen.insert(s.name).inserted, s.name != Self.deliveredInspection else {
                throw FirmchainError(.custodyBadStepName, "step \"\(s.name)\" is declared twice or clashes with the delivered inspection")
            }
            guard s.threshold >= 1, s.threshold <= Set(s.functionaries.map { $0.keyid }).count else {
                throw FirmchainError(.custodyBadThreshold, "step \(s.name) needs threshold \(s.threshold) but has \(s.functionaries.count) distinct functionary key(s)")
            }
        }
    }

    /// Step names become file names: letters, digits, `-`, `_` and `.` (not first), at most 64.
    ///
    /// - Throws: `custody.bad-step-name`.
    public static func validateStepName(_ name: String) throws {
        let ok = !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) }
        guard ok else {
            throw FirmchainError(.custodyBadStepName, "step name \"\(name)\" must be 1-64 letters, digits, '-', '_' or '.' (not first)")
        }
    }

    /// Compiles the policy into an in-toto layout: one step per policy step with its
    /// functionaries, threshold and rules (each rule list ends in `DISALLOW *`), and the
    /// `delivered` inspection over the files of `OUT`.
    public func layout() throws -> InTotoLayout {
        try validate()
        var keys = [String: TUFKey]()
        var steps = [LayoutStep]()
        for s in self.steps {
            let ids = s.functionaries.map { pk -> String in
                let k = InTotoLayout.key(for: pk)
                let id = pk.keyid
                keys[id] = k
                return id
            }
            var uniqueIDs = [String]()
            for id in ids where !uniqueIDs.contains(id) { uniqueIDs.append(id) }
            steps.append(LayoutStep(name: s.name, expectedMaterials: s.materials.map(\.rule) + [.disallow("*")],
                                    expectedProducts: s.products.map(\.rule) + [.disallow("*")],
                                    pubkeys: uniqueIDs, expectedCommand: s.expectedCommand, threshold: s.threshold))
        }
        let name = Self.deliveredInspection
        let materials: [ArtifactRule] = required.map { .require($0) } + delivered.map(\.rule) + unchecked.map { .allow($0) } + [.disallow("*")]
        // The command changes nothing: every product must equal the material of the same path.
        let products: [ArtifactRule] = [.match(pattern: "*", sourcePrefix: nil, side: .materials, destinationPrefix: nil, step: name), .disallow("*")]
        let inspection = LayoutInspection(name: name, expectedMaterials: materials, expectedProducts: products, run: Self.deliveredInspectionCommand)
        return InTotoLayout(steps: steps, inspections: [inspection], keys: keys, expires: expires, readme: readme)
    }
}
