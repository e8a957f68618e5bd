import Export
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport
import Verification

/// `release.exports` in the release verifier: containers in `OUT/exports/` carry released targets.
@Suite("The release verifier checks that every export carries a released target")
struct ExportVerificationTests {
    @Test("Mender, SWUpdate and RAUC verity exports of the release pass release.exports; a container with a changed payload byte fails it")
    func exportsChecked() throws {
        let f = try ExportFixture("export-verify")
        let signer = try SoftwareSigner(generating: .rsa)
        let cert = try f.certificate(for: signer, name: "verify")
        let target = try f.target()
        let out = f.built.release.path
        try FileIO.makeDirectories(out + "/exports")
        let mender = try MenderArtifact.build(target: target, options: .init(deviceTypes: ["board-a"], artifactName: "fw"), signer: signer)
        try AtomicFile.write(mender, to: out + "/exports/fw.mender")
        try AtomicFile.write(try SWUpdatePackage.build(target: target, options: .init(version: "1.2.0", hardware: [], device: "/dev/null",
                                                                                       certificate: cert, signingTime: f.now), signer: signer),
                             to: out + "/exports/fw.swu")
        let work = f.directory.file("verify-work")
        try FileIO.makeDirectories(work)
        try AtomicFile.write(try RAUCBundle.build(target: target, options: .init(compatible: "board-a", version: "1.2.0", certificate: cert,
                                                                                  signingTime: f.now), signer: signer, workDirectory: work),
                             to: out + "/exports/fw.raucb")
        let trust = ReleaseTrust(trustedRoot: f.built.trustedRoot, trustedRootName: "trusted/1.root.json", ownerKeys: [f.built.ownerKey],
                                 policy: nil, previous: nil)
        let good = ReleaseVerifier(trust: trust, now: f.now).verify(out: out).report
        let check = try #require(good.checks.first { $0.id == "release.exports" })
        #expect(check.status == .passed, "\(check.reason)")
        #expect(check.details.count == 3)
        // Placed by hand rather than by the export step, the containers are files no link
        // records, and the layout's inspections refuse them (the pipeline step is the way in).
        #expect(good.failures.map(\.id) == ["custody.inspections"], "\(good.failures.map { "\($0.id): \($0.reason)" })")

        // A payload byte changed in the Mender artifact: it no longer carries the target.
        let at = offset(of: Array(f.targetBytes.prefix(64)), in: mender)!
        try AtomicFile.write(flipped(mender, at: at + 50), to: out + "/exports/fw.mender")
        let bad = ReleaseVerifier(trust: trust, now: f.now).verify(out: out).report
        #expect(bad.checks.first { $0.id == "release.exports" }?.status == .failed)
    }
}
