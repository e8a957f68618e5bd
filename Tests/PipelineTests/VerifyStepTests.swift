import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport

/// Issue 21, point 2: `verify` as the last pipeline step — a gate over the whole release with
/// trust from outside it, run after custody is closed, on every run.
@Suite("The verify step gates a pipeline on the whole release", .serialized)
struct VerifyStepTests {
    /// A first release, its trust anchors copied outside OUT, and the pipeline extended with a
    /// verify step (`owner` replaces the owner key given) for the next version.
    static func setUp(_ name: String, owner: String? = nil) throws -> (ReleaseBuilder.Built, String) {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory(name).path, now: Date().addingTimeInterval(-60)).build()
        let trust = (b.pipeline as NSString).deletingLastPathComponent + "/trust"
        try FileIO.makeDirectories(trust)
        try FileManager.default.copyItem(atPath: b.release.repository.metadataDirectory + "/1.root.json", toPath: trust + "/1.root.json")
        try AtomicFile.write(Array((owner ?? b.ownerKey.pem).utf8), to: trust + "/owner.pub.pem")
        try b.prepareNextVersion(appending:
            "\n  - verify: {trusted_root: \(trust)/1.root.json, owner_keys: [\(trust)/owner.pub.pem], state: \(trust)/state.json}\n")
        return (b, trust)
    }

    static func run(_ b: ReleaseBuilder.Built) throws -> PipelineResult {
        try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: Date()))
    }

    @Test("the gate passes on the release the run made, writes the device state, runs again on an unchanged re-run, and leaves custody and in-toto-verify whole")
    func gatePasses() throws {
        let (b, trust) = try Self.setUp("verify-step")
        let r = try Self.run(b)
        #expect(r.changed && r.steps.last?.step == "verify" && r.steps.last?.summary.contains("verified against") == true, "\(r.steps)")
        #expect(FileIO.exists(trust + "/state.json"), "the state a device remembers is written")
        let again = try Self.run(b)
        #expect(!again.changed && again.steps.last?.step == "verify", "\(again.steps)")
        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: Date()).verify(out: b.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.checks.filter { $0.status != .passed }.map(\.id))")
        #expect(!b.release.custody.linkFileNames().contains { $0.hasPrefix("verify.") }, "a gate records no link")
    }

    @Test("the gate fails the run when the release does not verify against the trust given (another owner key), naming the check")
    func gateFails() throws {
        let stranger = try SoftwareSigner(generating: .ed25519).publicKey.pem
        let (b, _) = try Self.setUp("verify-step-fail", owner: stranger)
        #expect {
            _ = try Self.run(b)
        } throws: { e in
            guard let e = e as? FirmchainError else { return false }
            return e.code == .pipelineReleaseUnverified && e.reason.contains("custody.layout.signatures")
        }
    }

    @Test("trust anchors inside the release are refused: nothing inside a release vouches for itself")
    func anchorsInsideRefused() throws {
        let (b, trust) = try Self.setUp("verify-step-inside")
        let pipeline = String(decoding: try FileIO.read(b.pipeline), as: UTF8.self)
            .replacingOccurrences(of: "trusted_root: \(trust)/1.root.json", with: "trusted_root: \(b.release.repository.metadataDirectory)/1.root.json")
        try AtomicFile.write(Array(pipeline.utf8), to: b.pipeline)
        #expect {
            _ = try Self.run(b)
        } throws: { e in (e as? FirmchainError)?.reason.contains("lies inside the release") == true }
    }
}

@Suite("A gate step stands last")
struct GateOrderTests {
    @Test("a step after verify is refused when the pipeline is loaded, naming the line")
    func nothingAfterAGate() throws {
        #expect {
            try PipelineSpec(yaml: """
                schema: 1
                name: t
                policy: p.yml
                output: out
                release: {image: fw.bin, version: "1", version_number: 1, hardware: [hw]}
                steps:
                  - manifest:
                  - sign:
                  - verify: {trusted_root: t/1.root.json, owner_keys: [t/owner.pub.pem]}
                  - publish:
                """, path: "gate.yml")
        } throws: { e in
            (e as? FirmchainError)?.reason.contains("line 10: step publish cannot follow verify") == true
        }
    }
}
