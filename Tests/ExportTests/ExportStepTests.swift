import Export
import FirmchainCore
import Foundation
import Pipeline
import Signing
import Testing
import TestSupport
import Verification

/// The `export` pipeline step: its container is a custody product, and the verifier checks it.
@Suite("The export pipeline step")
struct ExportStepTests {
    @Test("a pipeline with an export step after publish writes a container whose link names the target copy as material; the whole release verifies, release.exports included",
          arguments: ["mender", "swu", "rauc-verity"])
    func stepInPipeline(format: String) throws {
        let dir = try TemporaryDirectory("export-step")
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let ca = try SoftwareSigner(generating: .ecdsaP256)
        let caPEM = try Certificates.issue(.init(subject: "CN=Step CA", subjectKey: ca.publicKey, purpose: .ca, notBefore: now.addingTimeInterval(-60)),
                                           issuer: ca, issuerCertificate: nil)
        let key = try SoftwareSigner(generating: .ecdsaP256)
        let keyFile = dir.file("export.key.pem"), certFile = dir.file("export.pem")
        try AtomicFile.write(Array(try key.privateKeyPEM(encryptedWith: nil).utf8), to: keyFile, mode: 0o600)
        try AtomicFile.write(Array(try Certificates.issue(.init(subject: "CN=Step export", subjectKey: key.publicKey, purpose: .signing,
                                                                notBefore: now.addingTimeInterval(-60)), issuer: ca, issuerCertificate: caPEM).utf8),
                             to: certFile)
        var builder = ReleaseBuilder(directory: dir.path, now: now)
        builder.steps = ["delta", "manifest", "sign", "publish", "export"]
        let device = format == "swu" ? "board-a:1.0" : "board-a"
        builder.stepOptions = ["export": "{format: \(format), key: \"\(keyFile)\", cert: \"\(certFile)\", device: \"\(device)\"}"]
        let built = try builder.build()
        let out = built.release.path
        let names = try FileIO.entries(under: out + "/exports").map(\.path)
        #expect(names.count == 1, "\(names)")

        let link = try #require(built.release.custody.links().links.map(\.link).first { $0.link.name == "export" })
        #expect(link.link.materials.keys.contains { $0.hasPrefix("repository/targets/") && $0.hasSuffix(".fw.bin") })
        #expect(link.link.products.keys.contains { $0.hasPrefix("exports/") })

        let trust = ReleaseTrust(trustedRoot: built.trustedRoot, trustedRootName: "trusted/1.root.json", ownerKeys: [built.ownerKey])
        let report = ReleaseVerifier(trust: trust, now: now).verify(out: out).report
        #expect(report.checks.first { $0.id == "release.exports" }?.status == .passed)
        #expect(report.failures.isEmpty, "\(report.failures.map { "\($0.id): \($0.reason)" })")
    }
}
