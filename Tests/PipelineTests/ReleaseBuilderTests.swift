import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import ReleasePolicy
import Signing
import Testing
import TestSupport

@Suite("The library-level release builder")
struct ReleaseBuilderTests {
    @Test("a built release passes Firmchain's TUF and custody verifiers and in-toto-verify, with every check id documented")
    func builtReleaseVerifies() throws {
        let dir = try TemporaryDirectory("built-release")
        let built = try ReleaseBuilder(directory: dir.path).build()
        #expect(built.result.changed && built.result.targets.count == 3)
        let tuf = RepositoryVerifier(store: built.release.repository, now: built.now).verify(trustedRoot: built.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        #expect(Set(tuf.allTargets.keys) == ["fw.bin", "deltas/fw.bin.from-1.0.0.bsdiff", "deltas/fw.bin.from-1.1.0.bsdiff"])
        let custody = CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: built.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.failures.map { "\($0.id): \($0.details)" })")
        #expect(DocumentedChecks.undocumented(tuf.report.checks.map(\.id) + custody.report.checks.map(\.id)).isEmpty)
        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        let inToto = try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: built.release.path)
        #expect(inToto.status == 0, "\(inToto.err.suffix(600))")
    }

    @Test("a first release without bases has no delta step and still verifies")
    func firstRelease() throws {
        let dir = try TemporaryDirectory("built-first")
        var b = ReleaseBuilder(directory: dir.path)
        b.bases = 0
        b.steps = ["manifest", "sign", "publish"]
        let built = try b.build()
        #expect(built.result.targets.map(\.name) == ["fw.bin"])
        #expect(CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: built.release.path).report.passedStrictly)
    }

    @Test("inputs that share a file name (1.0.0/Image, 1.1.0/Image, 1.2.0/Image) get distinct artefact names and the release verifies (issue 18, item 8)")
    func buildTreeLayout() throws {
        let dir = try TemporaryDirectory("built-tree")
        var b = ReleaseBuilder(directory: dir.path)
        b.buildTreeLayout = true
        let built = try b.build()
        let custody = CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: built.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.failures.map { "\($0.id): \($0.details)" })")
        let delta = try #require(built.release.custody.links().links.map(\.link.link).first { $0.name == "delta" })
        #expect(Set(delta.materials.keys) == ["inputs/1.0.0/Image", "inputs/1.1.0/Image", "inputs/1.2.0/Image"])
        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        let inToto = try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: built.release.path)
        #expect(inToto.status == 0, "\(inToto.err.suffix(600))")
        // A re-run changes nothing: no new targets metadata is signed.
        let again = try PipelineRunner(spec: try PipelineSpec(contentsOf: built.pipeline), policy: try Policy(contentsOf: built.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: built.now))
        #expect(!again.changed)
    }

    @Test("pipeline run --verbose logs each step to stderr, and --json output stays one document (issue 18, item 14)")
    func verboseLogsSteps() throws {
        let built = try ReleaseBuilder(directory: try TemporaryDirectory("built-verbose").path).build()
        let r = try runProcess(TestEnv.firmchain, ["pipeline", "run", built.pipeline, "--verbose", "--json"])
        #expect(r.status == 0, "\(r.err)")
        for line in ["delta: started", "manifest: started", "sign: skipped: the release is unchanged", "publish: skipped"] {
            #expect(r.err.contains(line), "stderr lacks \"\(line)\": \(r.err)")
        }
        #expect(try JSONReader().parse(Array(r.stdout))["changed"] == false)
    }

    @Test("a built release verifies in memory, and 200 in-memory mutations of its files (bit flips, truncations, appended junk) are each refused by a verifier")
    func inMemoryMutations() throws {
        let built = try ReleaseBuilder(directory: try TemporaryDirectory("built-memory").path).build()
        let good = try built.inMemory()
        func verdicts(_ files: InMemoryReleaseFiles) -> (tuf: Bool, custody: Bool) {
            let tuf = RepositoryVerifier(source: InMemorySource(release: files.files), now: built.now).verify(trustedRoot: built.trustedRoot)
            let custody = CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(files: files)
            // Strictly: a torn ledger tail (what appended junk looks like) is a warning a gate refuses.
            return (tuf.passed, custody.report.passedStrictly)
        }
        #expect(verdicts(good) == (true, true))
        // The same verdicts as on disk.
        #expect(CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(out: built.release.path).report.checks.map(\.id)
                == CustodyVerifier(ownerKeys: [built.ownerKey], now: built.now).verify(files: good).report.checks.map(\.id))
        var rng = SeededGenerator(seed: 17)
        let paths = good.files.keys.sorted().filter { !$0.hasPrefix("report/") }
        var refused = 0
        for i in 0..<200 {
            var copy = good
            let path = paths[Int(rng.next() % UInt64(paths.count))]
            var bytes = copy.files[path]!
            switch i % 3 {
            case 0 where !bytes.isEmpty: bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 << (rng.next() % 8))   // a flipped bit
            case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(max(bytes.count, 1)))))                       // a truncation
            default: bytes += Array("x".utf8)                                                                         // junk appended (a newline alone is JSON whitespace: no change)
            }
            copy.files[path] = bytes
            let v = verdicts(copy)
            if !v.tuf || !v.custody { refused += 1 } else { Issue.record("mutation \(i) of \(path) was accepted by both verifiers") }
        }
        #expect(refused == 200)
    }
}
