import ArgumentParser
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing

extension PipelineCommand {
    struct Run: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run delta → manifest → sign → publish into the release directory.",
            discussion: """
                Steps are content-addressed: re-running with the same inputs changes nothing. \
                A failed or killed run leaves the last good release; re-run it. A policy \
                violation (a forbidden key algorithm, a version not above the last release, \
                an unknown hardware id) stops the run before anything is signed (exit 2). \
                Schemas: Docs/pipeline.md, Docs/policy.md.

                Example:
                  export FIRMCHAIN_PKCS11_PIN=...
                  firmchain pipeline run Pipelines/release.yml --out .firmchain/demo/release
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Argument(help: "The pipeline file.") var pipeline: String
        @Option(help: "The release directory (overrides the pipeline's `output`).") var out: String?
        @Flag(help: "Check the pipeline and policy (no PIN needed), print the steps and what each reads and writes, and write nothing.")
        var dryRun = false

        func run() throws {
            let now = Date()
            var spec = try PipelineSpec(contentsOf: pipeline)
            if let out { spec.output = out }
            // Modules a policy's key URIs may name: only the signing job's own allow-list.
            let modules = Set((ProcessInfo.processInfo.environment["FIRMCHAIN_PKCS11_MODULES"] ?? "").split(separator: ":").map(String.init))
            let policy = try Policy(contentsOf: spec.policyPath, allowedModules: modules)
            let runner = PipelineRunner(spec: spec, policy: policy)
            let log = logger
            let options = RunOptions(signerOptions: keyAccess.signerOptions(), now: now, progress: progress,
                                     onStep: { step, event in log.info("\(step): \(event)") })
            if dryRun {
                let plan = try runner.plan(options)
                let text = plan.enumerated().map { i, s in
                    "\(i + 1). \(s.step): reads \(s.reads.isEmpty ? "nothing" : s.reads.joined(separator: ", ")); writes \(s.writes.joined(separator: ", "))"
                        + (s.commits ? " (only when the release changes)" : "")
                } + ["", "dry run: \(spec.path) and \(policy.path) check out; nothing was written to \(spec.output)"]
                output.emit(text: text.joined(separator: "\n"), json: [
                    "dry_run": true, "output": .string(spec.output),
                    "steps": .array(plan.map { ["step": .string($0.step), "reads": .array($0.reads.map { .string($0) }),
                                                 "writes": .array($0.writes.map { .string($0) }), "commits": .bool($0.commits)] }),
                ])
                return
            }
            let result = try runner.run(options)
            output.emit(text: summary(result), json: document(result))
        }

        private func summary(_ r: PipelineResult) -> String {
            var lines = r.steps.enumerated().map { "\($0.offset + 1). \($0.element.step): \($0.element.summary)" }
            lines.append("")
            let rows = [["target", "kind", "bytes", "delta ratio", "sha256"]] + r.targets.map {
                [$0.name, $0.kind.rawValue + ($0.baseVersion.map { " from \($0)" } ?? ""), String($0.length),
                 $0.ratio.map { String(format: "%.2f%%", $0 * 100) } ?? "-", String($0.sha256.prefix(16))]
            }
            let widths = (0..<5).map { c in rows.map { $0[c].count }.max()! }
            for row in rows {
                lines.append(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
            lines.append("")
            for (role, keys) in r.signers.sorted(by: { $0.key < $1.key }) { lines.append("signed by \(role): \(keys.joined(separator: ", "))") }
            lines.append(r.changed ? "release written to \(r.output)/repository" : "release in \(r.output)/repository is already up to date: nothing changed")
            return lines.joined(separator: "\n")
        }

        private func document(_ r: PipelineResult) -> JSONValue {
            var d: [String: JSONValue] = [
                "changed": .bool(r.changed), "output": .string(r.output),
                "steps": .array(r.steps.map { ["step": .string($0.step), "summary": .string($0.summary)] }),
                "targets": .array(r.targets.map { t in
                    var o: [String: JSONValue] = ["name": .string(t.name), "kind": .string(t.kind.rawValue), "length": .int(t.length), "sha256": .string(t.sha256)]
                    if let b = t.baseVersion { o["base_version"] = .string(b) }
                    if let ratio = t.ratio { o["ratio_per_million"] = .int(Int64(ratio * 1_000_000)) }
                    return .object(o)
                }),
                "signers": .object(r.signers.mapValues { .array($0.map { .string($0) }) }),
            ]
            if let v = r.timestampVersion {
                d["versions"] = ["targets": .int(r.targetsVersion!), "snapshot": .int(r.snapshotVersion!), "timestamp": .int(v)]
            }
            return .object(d)
        }
    }
}
