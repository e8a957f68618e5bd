import FirmchainCore
import Foundation
import KeyLifecycle
import Pipeline
import Release
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport

/// Issue 18, item 10: an expired root makes a run fail with the ceremony to run, and after that
/// ceremony (a root renewal, approved and applied) the same run extends the release again.
@Suite("An expired root stops a run until a root ceremony renews it")
struct ExpiredRootTests {
    @Test("a run after the root expired is refused naming the renewal ceremony and changes nothing; after the renewal it signs and the release verifies")
    func expiredRootNeedsCeremony() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("expired-root").path).build()
        let root = try Metadata<Root>(bytes: b.trustedRoot).signed
        let later = root.expires.addingTimeInterval(86_400)
        let runner = { PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy)) }
        let before = try TestEnv.fileDigests(under: b.release.path)
        #expect {
            _ = try runner().run(RunOptions(signerOptions: SignerOptions(), now: later))
        } throws: { e in
            guard let e = e as? FirmchainError else { return false }
            return e.code == .pipelineRootExpired && e.reason.contains("keys rotate --repo") && e.reason.contains("--role root --renew")
        }
        #expect(try TestEnv.fileDigests(under: b.release.path) == before, "the refused run changed the release")

        // The ceremony the message names: propose, approve with the (1-of-1) root key, apply.
        let open = { (name: String) throws -> any Signer in try SoftwareSigner(pemFile: b.keyFiles[name]!, passphrase: { nil }) }
        let base = try FileIO.read(b.release.repository.metadataDirectory + "/1.root.json")
        let rules = KeyRules(allowUnrecoverableRoot: true)
        var proposal = try KeyCeremony.proposeRotation(base: base, request: RotationRequest(role: .root, renew: true), rules: rules, now: later).proposal
        try KeyCeremony.approve(&proposal, signer: try open("root"), now: later)
        _ = try KeyCeremony.apply(proposal, to: b.release, signers: try ["targets", "snapshot", "timestamp"].map(open), rules: rules, now: later)

        let r = try runner().run(RunOptions(signerOptions: SignerOptions(), now: later))
        #expect(r.changed, "the run re-signs the expired timestamp and snapshot: \(r.steps)")
        let tuf = RepositoryVerifier(store: b.release.repository, now: later).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        #expect(tuf.root?.version == 2)
    }
}
