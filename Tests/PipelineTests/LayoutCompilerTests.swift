import Custody
import FirmchainCore
import Foundation
import Pipeline
import Signing
import Testing

@Suite("The in-toto layout is compiled from the pipeline's own steps")
struct LayoutCompilerTests {
    static func standard(deltas: Bool = true) throws -> [any PipelineStep] {
        let kinds = (deltas ? ["delta"] : []) + ["manifest", "sign", "publish"]
        return try kinds.map { try StepRegistry.standard.type($0)!.init(options: StepOptions()) }
    }

    @Test("the standard steps compile to the release chain's rules: each step's materials are the earlier step's products")
    func standardChain() throws {
        let key = try SoftwareSigner(generating: .ed25519).publicKey
        let policy = try PipelineRunner.custodyPolicy(steps: try Self.standard(), functionaries: ["delta": [key], "manifest": [key], "sign": [key], "publish": [key]],
                                                      expires: Date(timeIntervalSince1970: 1_900_000_000))
        let layout = try policy.layout()
        #expect(layout.steps.map(\.name) == ["delta", "manifest", "sign", "publish"])
        func m(_ p: String, _ side: ArtifactRule.Side, _ step: String) -> ArtifactRule { .match(pattern: p, sourcePrefix: nil, side: side, destinationPrefix: nil, step: step) }
        let expected: [(materials: [ArtifactRule], products: [ArtifactRule])] = [
            ([.allow("inputs/*")], [.create("build/deltas/*")]),
            ([m("build/deltas/*", .products, "delta"), m("inputs/*", .materials, "delta")], [.allow("repository/targets/*"), .allow(".staging/*")]),
            ([m("repository/targets/*", .products, "manifest"), m(".staging/*", .products, "manifest"), .allow("repository/metadata/*")],
             [m("repository/targets/*", .materials, "sign"), .allow("repository/metadata/*")]),
            ([m("repository/*", .products, "sign"), .allow("keys/*")], [m("repository/*", .materials, "publish"), .allow("keys/*"), .allow("report/*")]),
        ]
        for (s, e) in zip(layout.steps, expected) {
            #expect(s.expectedMaterials == e.materials + [.disallow("*")], "\(s.name) materials")
            #expect(s.expectedProducts == e.products + [.disallow("*")], "\(s.name) products")
        }
        let delivered = try #require(layout.inspections.first)
        #expect(delivered.name == "delivered")
        #expect(delivered.expectedMaterials == [.require("repository/metadata/timestamp.json"), m("repository/*", .products, "publish"),
                                                m("keys/*", .products, "publish"), m("build/deltas/*", .products, "delta"),
                                                .allow("custody/*"), .allow("report/*"), .allow("repository/metadata/timestamp.json"),
                                                .allow("repository/metadata/*.snapshot.json"), .disallow("*")])
        #expect(try InTotoLayout(json: layout.json) == layout)
    }

    @Test("without a delta step the manifest reads the images as inputs, and a step without a functionary is refused")
    func noDeltas() throws {
        let key = try SoftwareSigner(generating: .ed25519).publicKey
        let policy = try PipelineRunner.custodyPolicy(steps: try Self.standard(deltas: false), functionaries: ["manifest": [key], "sign": [key], "publish": [key]],
                                                      expires: Date(timeIntervalSince1970: 1_900_000_000))
        #expect(try policy.layout().steps[0].expectedMaterials == [.allow("inputs/*"), .disallow("*")])
        let missing = #expect(throws: FirmchainError.self) {
            try PipelineRunner.custodyPolicy(steps: try Self.standard(), functionaries: ["delta": [key]], expires: Date())
        }
        #expect(missing?.code == .custodyMissingFunctionary && missing?.reason == "step manifest has no functionary key", "\(String(describing: missing))")
        var bad = policy
        bad.steps[0].threshold = 2
        let threshold = #expect(throws: FirmchainError.self) { try bad.layout() }
        #expect(threshold?.code == .custodyBadThreshold && threshold?.reason.contains("needs threshold 2 but has 1 distinct functionary key") == true,
                "\(String(describing: threshold))")
        bad.steps[0].threshold = 0
        #expect(throws: FirmchainError(.custodyBadThreshold, "")) { try bad.layout() }
    }

    @Test("a pipeline whose step needs what no earlier step makes is refused at load, naming the line and the step that makes it")
    func order() throws {
        let yaml = """
            schema: 1
            name: t
            policy: p.yml
            output: out
            release: {image: fw.bin, version: "1", version_number: 1, hardware: [hw]}
            steps:
              - sign:
              - manifest:
            """
        #expect {
            try PipelineSpec(yaml: yaml, path: "bad.yml")
        } throws: { e in
            let e = e as? FirmchainError
            return e?.code == .pipelineBadValue && e?.reason.contains("line 7: step sign needs staged targets, which no earlier step makes (put manifest before it)") == true
        }
        #expect(throws: FirmchainError.self) { try PipelineSpec(yaml: yaml.replacingOccurrences(of: "  - manifest:", with: "  - sign:"), path: "dup.yml") }
    }
}
