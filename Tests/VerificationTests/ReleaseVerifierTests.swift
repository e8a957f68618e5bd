import Custody
import FirmchainCore
import Foundation
import Repository
import Testing
import TestSupport
import Verification

@Suite("The release verifier on a good release")
struct ReleaseVerifierTests {
    @Test("the good release passes strictly, with every check id documented, and gives the state a device would remember")
    func goodReleasePasses() throws {
        let fx = try Fixture("verify-good")
        let v = fx.verify(fx.good)
        #expect(v.report.passedStrictly, "\(v.report.text())")
        #expect(DocumentedChecks.undocumented(v.report.checks.map(\.id)).isEmpty, "\(DocumentedChecks.undocumented(v.report.checks.map(\.id)))")
        #expect(v.report.checks.filter { $0.id == "release.delta" }.map(\.status) == [.passed, .passed])
        #expect(v.report.check("release.encryption")?.status == .skipped && v.report.check("release.encryption")?.reason == "no encrypted targets")
        #expect(v.state?.released == ["fw.bin": 3])
        #expect(v.state?.versions.timestamp == 1)
        // The same checks, with the same outcomes, on disk.
        let disk = ReleaseVerifier(trust: fx.trust(), now: fx.built.now, baseImages: fx.bases).verify(out: fx.built.release.path)
        #expect(disk.report.checks.map { "\($0.id) \($0.status)" } == v.report.checks.map { "\($0.id) \($0.status)" })
        // Verified against its own saved state, it still passes.
        #expect(fx.verify(fx.good, trust: fx.trust(previous: v.state)).report.passedStrictly)
    }

    @Test("the unlisted-files check is a library function: a planted target copy is named, a listed one is not")
    func unlistedFunction() throws {
        let fx = try Fixture("verify-unlisted")
        var files = fx.good
        files.files["repository/targets/evil.bin"] = Array("x".utf8)
        let repo = fx.verify(files).repository
        #expect(RepositoryContents.unlisted(in: files, verification: repo).map(\.path) == ["repository/targets/evil.bin"])
        #expect(RepositoryContents.unlisted(in: fx.good, verification: fx.verify(fx.good).repository).isEmpty)
        // Nothing unverified vouches for a file: without trusted targets every entry is unlisted.
        var broken = fx.good
        broken.files["repository/metadata/timestamp.json"] = nil
        let unverified = fx.verify(broken).repository
        #expect(RepositoryContents.unlisted(in: broken, verification: unverified).count == broken.entries(under: "repository").count)
    }

    @Test("without a policy, previous state or bases, the checks that need them are skipped or warn, and the rest pass")
    func withoutOptionalTrust() throws {
        let fx = try Fixture("verify-minimal")
        let v = ReleaseVerifier(trust: ReleaseTrust(trustedRoot: fx.trustedRoot, trustedRootName: "root", ownerKeys: [fx.built.ownerKey]),
                                now: fx.built.now).verify(files: fx.good)
        #expect(v.report.passed && !v.report.passedStrictly)
        for id in ["release.targets.hardware", "release.targets.rollback", "policy.algorithms", "policy.steps"] {
            #expect(v.report.check(id)?.status == .skipped, "\(id)")
        }
        #expect(v.report.checks.filter { $0.id == "release.delta" }.allSatisfy { $0.status == .warning })
    }
}
