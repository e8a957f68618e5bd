import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import ReleasePolicy
import Signing
import Testing
import TestSupport

/// A kind of step this test target adds to Firmchain: a release note listing the staged
/// targets, in `OUT/report/notes.txt`. One type…
struct NotesStep: PipelineStep {
    static let kind = "notes"
    init(options: StepOptions) throws {}
    var reads: [ArtefactUse] { [.required(ReleaseArtefacts.stagedTargets.kind)] }
    var writes: [ArtefactKind] { [ReleaseArtefacts.report.kind] }

    func run(_ context: inout StepContext) throws -> String {
        let targets = try context.value(ReleaseArtefacts.stagedTargets)
        try FileIO.makeDirectories(context.release.reportDirectory)
        let text = targets.targets.keys.sorted().map { "- \($0)\n" }.joined()
        try AtomicFile.write(Array(text.utf8), to: context.release.reportDirectory + "/notes.txt")
        return "wrote report/notes.txt (\(targets.targets.count) targets)"
    }
}

@Suite("A new kind of step is one type and one registration line", .serialized)
struct NewStepKindTests {
    @Test("the notes step runs in a pipeline; its link is in the layout, custody verify and in-toto-verify accept the release")
    func notesStep() throws {
        var registry = StepRegistry.standard
        registry.register(NotesStep.self)  // …and one line.

        let dir = try TemporaryDirectory("new-step")
        var builder = ReleaseBuilder(directory: dir.path)
        builder.registry = registry
        builder.steps = ["delta", "manifest", "notes", "sign", "publish"]
        builder.bases = 1
        let built = try builder.build()
        let result = built.result
        #expect(result.changed)
        #expect(result.steps.map(\.step) == ["delta", "manifest", "notes", "sign", "publish"])
        let out = built.release.path
        #expect(try String(decoding: FileIO.read(out + "/report/notes.txt"), as: UTF8.self).contains("- fw.bin"))

        let release = ReleaseDirectory(out)
        let layout = try release.custody.layout().layout
        #expect(layout.steps.map(\.name) == ["delta", "manifest", "notes", "sign", "publish"])
        let notes = try #require(layout.steps.first { $0.name == "notes" })
        #expect(notes.expectedProducts.first == .allow("report/*"))
        let links = release.custody.links().links.map(\.link.link)
        let link = try #require(links.first { $0.name == "notes" })
        #expect(link.products.keys.sorted() == ["report/notes.txt"])
        #expect(link.materials.keys.contains { $0.hasPrefix("repository/targets/") })

        let verification = CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: out)
        #expect(verification.report.passedStrictly, "\(verification.report.failures.map { "\($0.id): \($0.reason) \($0.details)" })")
        #expect(verification.links["notes"]?.count == 1)

        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        let inToto = try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: out)
        #expect(inToto.status == 0, "\(inToto.err.suffix(800))")

        // A re-run changes nothing, the new step included.
        let before = try TestEnv.fileDigests(under: out)
        let again = try PipelineRunner(spec: try PipelineSpec(contentsOf: built.pipeline, registry: registry), policy: try Policy(contentsOf: built.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: built.now))
        #expect(!again.changed)
        #expect(try TestEnv.fileDigests(under: out) == before, "no file changed")
    }

    @Test("a pipeline naming a step the policy has no functionary for is refused before anything is written")
    func missingFunctionary() throws {
        var registry = StepRegistry.standard
        registry.register(NotesStep.self)
        let dir = try TemporaryDirectory("new-step-refused")
        let spec = try PipelineSpec(yaml: """
            schema: 1
            name: r
            policy: p.yml
            output: \(dir.file("OUT"))
            release: {image: \(dir.file("fw.bin")), version: "1", version_number: 1, hardware: [board]}
            steps:
              - manifest:
              - notes:
            """, path: "r.yml", registry: registry)
        let policy = try Policy(yaml: """
            schema: 1
            name: p
            owner: {keys: [o.pem]}
            roles:
              root: {keys: [r.pem], expiry_days: 1}
              targets: {keys: [t.pem], expiry_days: 1}
              snapshot: {keys: [s.pem], expiry_days: 1}
              timestamp: {keys: [ts.pem], expiry_hours: 1}
            functionaries: {manifest: [b.pem]}
            hardware_classes: {board: {}}
            """, path: "p.yml")
        #expect {
            _ = try PipelineRunner(spec: spec, policy: policy).run(RunOptions(signerOptions: SignerOptions(), now: Date()))
        } throws: { e in
            (e as? FirmchainError)?.code == .policyViolation && (e as? FirmchainError)?.reason.contains("no functionary for the notes step") == true
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("OUT")))
    }
}
