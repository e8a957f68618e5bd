import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Synchronization
import Testing
import TestSupport

/// Issue 18, item 7: every command that writes a release takes its lock; eight writers of each
/// kind at once lose nothing and leave a release that every verifier accepts.
@Suite("Eight concurrent writers of each kind lose nothing", .serialized)
struct ConcurrentWritersTests {
    /// Runs `firmchain` with each argument list at once, one thread of its own per process (a
    /// shared pool, which the rest of the suite may hold, could run them one after another), and
    /// returns the results in order.
    static func together(_ runs: [[String]]) throws -> [ProcessResult] {
        let results = Mutex([ProcessResult?](repeating: nil, count: runs.count))
        let group = DispatchGroup()
        for i in runs.indices {
            group.enter()
            Thread {
                let r = try? runProcess(TestEnv.firmchain, runs[i])
                results.withLock { $0[i] = r }
                group.leave()
            }.start()
        }
        group.wait()
        return try results.withLock { try $0.map { try #require($0, "a writer could not be started") } }
    }

    static func verifies(_ b: ReleaseBuilder.Built) -> (tuf: RepositoryVerification, custody: CustodyVerification) {
        (RepositoryVerifier(store: b.release.repository, now: Date()).verify(trustedRoot: b.trustedRoot),
         CustodyVerifier(ownerKeys: [b.ownerKey], now: Date()).verify(out: b.release.path))
    }

    @Test("eight pipeline runs of the next version at once: one makes it, the others find it made; targets v2, one set of links, a whole ledger")
    func pipelineRuns() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("concurrent-runs").path, now: Date().addingTimeInterval(-60)).build()
        try b.prepareNextVersion()

        let results = try Self.together(Array(repeating: ["pipeline", "run", b.pipeline], count: 8))
        #expect(results.allSatisfy { $0.status == 0 }, "every run succeeds: \(results.map { "\($0.status) \($0.err.prefix(200))" })")
        #expect(results.filter { !$0.out.contains("already up to date") }.count == 1, "exactly one run made the release")
        let (tuf, custody) = Self.verifies(b)
        #expect(tuf.passed, "\(tuf.report.failures)")
        #expect(tuf.targets?.version == 2, "targets were signed once: v\(tuf.targets?.version ?? 0)")
        #expect(custody.report.passedStrictly, "\(custody.report.checks.filter { $0.status != .passed }.map(\.id))")
    }

    @Test("eight timestamp refreshes at once: all land, one after the other (timestamp v9), each in the ledger, and the release verifies")
    func refreshes() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("concurrent-refresh").path, now: Date().addingTimeInterval(-60)).build()
        let results = try Self.together(Array(repeating: ["repo", "refresh", "--out", b.release.path, "--role", "timestamp", "--key", b.keyFiles["timestamp"]!], count: 8))
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map { "\($0.status) \($0.err.prefix(200))" })")
        let (tuf, custody) = Self.verifies(b)
        #expect(tuf.passed && tuf.trusted?.timestamp?.signed.version == 9, "timestamp v\(tuf.trusted?.timestamp?.signed.version ?? 0): \(tuf.report.failures)")
        #expect(try b.release.custody.ledger.entries().filter { $0.record.action == "repo.refresh" }.count == 8)
        #expect(custody.report.passedStrictly, "\(custody.report.checks.filter { $0.status != .passed }.map(\.id))")
    }

    @Test("eight repo publish runs at once: all land in turn (targets v9) and the repository verifies")
    func publishes() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("concurrent-publish").path, now: Date().addingTimeInterval(-60)).build()
        let keys = ["--key", b.keyFiles["targets"]!, "--key", b.keyFiles["snapshot"]!, "--key", b.keyFiles["timestamp"]!]
        let results = try Self.together(Array(repeating: ["repo", "publish", "--out", b.release.path] + keys, count: 8))
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map { "\($0.status) \($0.err.prefix(200))" })")
        let (tuf, _) = Self.verifies(b)
        #expect(tuf.passed && tuf.targets?.version == 9, "targets v\(tuf.targets?.version ?? 0): \(tuf.report.failures)")
        #expect(Set(tuf.allTargets.keys) == Set(["fw.bin", "deltas/fw.bin.from-1.0.0.bsdiff", "deltas/fw.bin.from-1.1.0.bsdiff"]), "no target was lost")
    }
}
