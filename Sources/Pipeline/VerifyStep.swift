import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing
import Verification

/// `verify`: the last step of a pipeline, a gate: `ReleaseVerifier` over the release this run
/// left — with trust only from outside it: a trusted root and owner keys kept apart from `OUT`,
/// the pipeline's policy, and the state a device remembered — and the run fails unless every
/// check passes (warnings too). It records no custody of its own and runs after the runner
/// closed custody, on every run, so a CI job that runs the pipeline gates on the whole release.
///
/// ```yaml
/// - verify:
///     trusted_root: trust/1.root.json          # as devices ship it
///     owner_keys: [trust/owner.pub.pem]
///     state: trust/state.json                   # optional: read if present, written when it passes
/// ```
public struct VerifyStep: PipelineStep {
    /// `verify`, this step's name in pipeline files.
    public static let kind = "verify"
    /// `trusted_root` (a file), `owner_keys` (a list), `state` (optional file).
    public static let optionKeys: Set<String> = ["trusted_root", "owner_keys", "state"]

    /// The root to trust, kept outside the release.
    public let trustedRoot: String
    /// The owner keys the layout must be signed by.
    public let ownerKeys: [String]
    /// The remembered state (rollback and downgrade checks), if any.
    public let state: String?
    private let line: Int, file: String

    /// Reads the options; the trust anchors are required.
    public init(options: StepOptions) throws {
        guard let root = options.values["trusted_root"] else { throw options.fail("verify: trusted_root names the root kept outside the release") }
        let owners = options.lists["owner_keys"] ?? options.values["owner_keys"].map { [$0] } ?? []
        guard !owners.isEmpty else { throw options.fail("verify: owner_keys names the owner public keys kept outside the release") }
        trustedRoot = options.resolve(root)
        ownerKeys = owners.map(options.resolve)
        state = options.values["state"].map(options.resolve)
        line = options.line
        file = options.file
    }

    /// The metadata the release holds (it verifies what is there).
    public var reads: [ArtefactUse] { [.required(ReleaseArtefacts.publishedMetadata.kind)] }
    /// Nothing.
    public var writes: [ArtefactKind] { [] }
    /// A gate: no link, no place in the layout, no functionary.
    public var recordsCustody: Bool { false }

    /// The trust anchors exist and read, before anything is written.
    public func check(policy: Policy, options: RunOptions) throws {
        _ = try anchors()
    }

    private func anchors() throws -> (root: [UInt8], owners: [PublicKey], previous: DeviceState?) {
        let root = try FileIO.read(trustedRoot, limit: RepositoryStore.metadataLimit)
        let owners = try ownerKeys.map { try PublicKey(pem: String(decoding: try FileIO.read($0, limit: 1 << 16), as: UTF8.self)) }
        let previous = try state.flatMap { FileIO.exists($0) ? try DeviceState(bytes: try FileIO.read($0, limit: DeviceState.fileLimit), path: $0) : nil }
        return (root, owners, previous)
    }

    /// Verifies the release; throws `pipeline.release-unverified` naming the first failed or
    /// warning check; writes the device state when it passed.
    public func run(_ context: inout StepContext) throws -> String {
        let out = context.out, published = context.spec.output
        let inside = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.path.hasPrefix(URL(fileURLWithPath: published).standardizedFileURL.path + "/") }
        if let planted = ([trustedRoot] + ownerKeys).first(where: inside) {
            throw FirmchainError(.pipelineBadValue, "line \(line): verify: \(planted) lies inside the release; trust must come from outside it", path: file)
        }
        let (root, owners, previous) = try anchors()
        let trust = ReleaseTrust(trustedRoot: root, trustedRootName: trustedRoot, ownerKeys: owners, policy: context.policy, previous: previous)
        let bases = try context.spec.bases.map { try FileIO.read($0.image, limit: 1 << 30) }
        let v = ReleaseVerifier(trust: trust, now: context.options.now, baseImages: bases).verify(out: out)
        let summary = v.report.checks.reduce(into: [CheckStatus: Int]()) { $0[$1.status, default: 0] += 1 }
        guard v.report.passedStrictly else {
            let bad = v.report.checks.first { $0.status == .failed } ?? v.report.checks.first { $0.status == .warning }
            throw FirmchainError(.pipelineReleaseUnverified,
                                 "the release does not verify against \(trustedRoot): \(bad.map { "\($0.id)\($0.subject.map { " \($0)" } ?? ""): \($0.reason)" } ?? "no check ran") (`firmchain verify` lists every check)",
                                 path: published)
        }
        // Remembered only once the release it saw is the published one.
        if let state, let remembered = v.state { context.afterCommit.append { try AtomicFile.write(remembered.fileBytes, to: state) } }
        return "verified against \(trustedRoot) and \(owners.count) owner key(s): \(summary[.passed] ?? 0) passed, \(summary[.skipped] ?? 0) skipped"
    }
}
