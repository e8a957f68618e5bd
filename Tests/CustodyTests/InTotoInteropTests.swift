import Custody
import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

/// The test that matters most (issue 6): PyPI `in-toto-verify` 3.1.0, run in OUT as Docs/architecture.md "Release directory"
/// says, accepts the layout and DSSE links Firmchain writes for a delta → manifest → sign →
/// publish chain built with the real commands, and rejects each kind of tampering. Firmchain's
/// own verifier is held to the same cases.
@Suite("in-toto-verify accepts Firmchain's custody evidence and rejects tampering")
struct InTotoInteropTests {
    /// One way to tamper with a release, what in-toto-verify must say, and which of Firmchain's
    /// checks must fail.
    struct Tamper: Sendable {
        let name: String
        let inTotoError: String
        let failedCheck: String
        var verificationKey: (@Sendable (ReleaseFixture) throws -> String)? = nil
        /// What the failed check's details must say in plain words (modified / extra / missing).
        var plainWords: String? = nil
        let apply: @Sendable (ReleaseFixture, String) throws -> Void
    }

    static func targetFile(_ release: String, suffix: String) throws -> String {
        let dir = release + "/repository/targets"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(suffix) }.sorted()
        guard let first = names.first(where: { $0.split(separator: ".")[0].count == 64 }) else { throw TestSetupError("no target \(suffix)") }
        return dir + "/" + first
    }

    static func linkFile(_ release: String, step: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: release + "/custody").filter { $0.hasPrefix(step + ".") && $0.hasSuffix(".link") }
        guard names.count == 1 else { throw TestSetupError("expected one \(step) link, found \(names)") }
        return release + "/custody/" + names[0]
    }

    static let cases: [Tamper] = [
        Tamper(name: "a modified delivered file", inTotoError: "RuleVerificationError",
               failedCheck: "custody.inspections", plainWords: "modified: repository/targets/") { _, release in
            let path = try targetFile(release, suffix: ".fw-1.1.0.bin")
            var bytes = try FileIO.read(path)
            bytes[77] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        },
        Tamper(name: "an extra file", inTotoError: "RuleVerificationError",
               failedCheck: "custody.inspections", plainWords: "extra: repository/targets/extra.bin (no step produced it") { _, release in
            try Data("not from any step".utf8).write(to: URL(fileURLWithPath: release + "/repository/targets/extra.bin"))
        },
        Tamper(name: "a required file removed (timestamp.json)", inTotoError: "RuleVerificationError",
               failedCheck: "custody.inspections", plainWords: "missing: repository/metadata/timestamp.json") { _, release in
            try FileManager.default.removeItem(atPath: release + "/repository/metadata/timestamp.json")
        },
        Tamper(name: "a product swapped between steps (manifest read another delta than delta wrote)", inTotoError: "RuleVerificationError",
               failedCheck: "custody.rules") { fixture, release in
            // The manifest functionary honestly records what it read — but that is not what the
            // delta step produced.
            let path = try linkFile(release, step: "manifest")
            var link = try SignedLink(file: path).link
            link.materials["build/deltas/fw-1.1.0-from-1.0.0.bsdiff"] = ["sha256": DigestCalculator.sha256Hex(Array("a different patch".utf8))]
            try Data(try link.signed(by: fixture.signer("builder")).envelope.fileBytes).write(to: URL(fileURLWithPath: path))
        },
        Tamper(name: "an edited link (payload changed, signature kept)", inTotoError: "ThresholdVerificationError",
               failedCheck: "custody.links.threshold") { _, release in
            let path = try linkFile(release, step: "delta")
            let env = try DSSEEnvelope(file: path)
            var text = String(decoding: env.payload, as: UTF8.self)
            text = text.replacingOccurrences(of: "\"inputs/fw-1.0.0.bin\"", with: "\"inputs/fw-0.9.0.bin\"")
            let edited = DSSEEnvelope(payload: Array(text.utf8), payloadType: env.payloadType, signatures: env.signatures)
            try Data(edited.fileBytes).write(to: URL(fileURLWithPath: path))
        },
        Tamper(name: "a link signed by an unauthorised key", inTotoError: "LinkNotFoundError",
               failedCheck: "custody.links.threshold") { fixture, release in
            let path = try linkFile(release, step: "delta")
            let link = try SignedLink(file: path).link
            let forged = try link.signed(by: fixture.signer("mallory"))
            try FileManager.default.removeItem(atPath: path)
            try Data(forged.envelope.fileBytes).write(to: URL(fileURLWithPath: release + "/custody/" + forged.fileName))
        },
        Tamper(name: "a link signed by an unauthorised key under the functionary's file name", inTotoError: "ThresholdVerificationError",
               failedCheck: "custody.links.threshold") { fixture, release in
            let path = try linkFile(release, step: "delta")
            let forged = try SignedLink(file: path).link.signed(by: fixture.signer("mallory"))
            try Data(forged.envelope.fileBytes).write(to: URL(fileURLWithPath: path))
        },
        Tamper(name: "a wrong owner key", inTotoError: "SignatureVerificationError",
               failedCheck: "custody.layout.signatures",
               verificationKey: { fixture in
                   let path = fixture.dir.file("mallory.pub.pem")
                   try Data(try fixture.signer("mallory").publicKey.pem.utf8).write(to: URL(fileURLWithPath: path))
                   return path
               }) { _, _ in },
        Tamper(name: "an expired layout", inTotoError: "LayoutExpiredError", failedCheck: "custody.layout.expiry") { fixture, release in
            var layout = try SignedLayout(file: release + "/custody/root.layout").layout
            layout.expires = Date().addingTimeInterval(-86_400)
            let resigned = try layout.signed(by: [fixture.signer("owner")])
            try Data(resigned.fileBytes).write(to: URL(fileURLWithPath: release + "/custody/root.layout"))
        },
    ]

    @Test("a release built with software keys passes in-toto-verify and Firmchain's verifier; each tampering is rejected by both")
    func softwareKeys() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let good = try ReleaseFixture.inTotoVerify(fixture.out)
        #expect(good.status == 0, "in-toto-verify refused the untampered release: \(good.err)")
        let report = try fixture.firmchainVerify(fixture.out)
        #expect(report.holds, "Firmchain's verifier refused the untampered release: \(report.checks.filter { $0.status == .failed })")
        #expect(report.report.passedStrictly)

        for t in Self.cases {
            let release = try fixture.copy()
            try t.apply(fixture, release)
            let keyPath = try t.verificationKey?(fixture)
            let r = try ReleaseFixture.inTotoVerify(release, verificationKeys: [keyPath ?? "keys/owner.pub.pem"])
            #expect(r.status == 1, "in-toto-verify accepted \(t.name)")
            #expect(r.err.contains(t.inTotoError), "\(t.name): in-toto-verify said \(r.err.suffix(400)), expected \(t.inTotoError)")
            let ours = try fixture.firmchainVerify(release, ownerKeyPath: keyPath)
            #expect(!ours.holds, "Firmchain's verifier accepted \(t.name)")
            #expect(DocumentedChecks.undocumented(ours.checks.map(\.id)).isEmpty, "ids missing from Docs/verify.md")
            #expect(ours.checks.contains { $0.id == t.failedCheck && $0.status == .failed },
                    "\(t.name): expected the check '\(t.failedCheck)' to fail; got \(ours.checks.filter { $0.status != .passed }.map { "\($0.id): \($0.status)" })")
            if let words = t.plainWords {
                let details = ours.checks.filter { $0.id == t.failedCheck }.flatMap(\.details)
                #expect(details.contains { $0.hasPrefix(words) }, "\(t.name): the details say \(details), not '\(words)…'")
            }
        }
    }

    @Test("the layout may also be a DSSE envelope: in-toto-verify 3.1.0 accepts it with DSSE links")
    func dsseLayout() throws {
        let fixture = try ReleaseFixture(layoutFormat: "dsse")
        try fixture.build()
        let layout = try SignedLayout(file: fixture.out + "/custody/root.layout")
        #expect(layout.format == .dsse)
        let r = try ReleaseFixture.inTotoVerify(fixture.out)
        #expect(r.status == 0, "in-toto-verify refused a DSSE layout: \(r.err)")
        #expect(try fixture.firmchainVerify(fixture.out).holds)
    }

    @Test("links signed inside a SoftHSM token (ECDSA P-256 and Ed25519) verify the same way, and tampering is still caught")
    func softHSMKeys() throws {
        let token = try SoftHSMToken()
        let builder = try token.generate("ecdsa-p256", label: "builder")
        let release = try token.generate("ed25519", label: "release")
        let fixture = try ReleaseFixture(builderKey: builder, releaseKey: release, environment: token.environment)
        try fixture.build()
        let links = try FileManager.default.contentsOfDirectory(atPath: fixture.out + "/custody").filter { $0.hasSuffix(".link") }
        #expect(links.count == 4)
        let good = try ReleaseFixture.inTotoVerify(fixture.out)
        #expect(good.status == 0, "in-toto-verify refused links signed in SoftHSM: \(good.err)")
        #expect(try fixture.firmchainVerify(fixture.out).holds)

        let edited = try fixture.copy()
        try Self.cases.first { $0.name.hasPrefix("an edited link") }!.apply(fixture, edited)
        let r = try ReleaseFixture.inTotoVerify(edited)
        #expect(r.status == 1 && r.err.contains("ThresholdVerificationError"), "in-toto-verify accepted an edited HSM-signed link: \(r.err)")
        #expect(!(try fixture.firmchainVerify(edited).holds))

        let modified = try fixture.copy()
        try Self.cases[0].apply(fixture, modified)
        #expect(try ReleaseFixture.inTotoVerify(modified).status == 1)
    }

    @Test("a step with threshold 2 needs two agreeing links from distinct functionaries, in in-toto-verify and in Firmchain")
    func thresholdTwo() throws {
        let fixture = try ReleaseFixture()
        try fixture.layout(extra: ["--functionary", "delta=\(fixture.keys["mallory"]!)", "--threshold", "delta=2"])
        try fixture.deltaStep()
        // The second functionary records the same step independently (here: the same files).
        try fixture.firmchain(["custody", "record", "--out", fixture.out, "--step", "delta", "--key", fixture.keys["mallory"]!,
                               "--material", "inputs/fw-1.0.0.bin=\(fixture.inputs)/fw-1.0.0.bin",
                               "--material", "inputs/fw-1.1.0.bin=\(fixture.inputs)/fw-1.1.0.bin", "--product", "build/deltas"])
        try fixture.manifestStep()
        try fixture.signStep()
        try fixture.publishStep()
        try fixture.finish()
        let good = try ReleaseFixture.inTotoVerify(fixture.out)
        #expect(good.status == 0, "\(good.err)")
        #expect(try fixture.firmchainVerify(fixture.out).holds)

        let one = try fixture.copy()
        let mallory8 = String(TUFKey(try fixture.signer("mallory").publicKey).keyid.prefix(8))
        try FileManager.default.removeItem(atPath: one + "/custody/delta.\(mallory8).link")
        let r1 = try ReleaseFixture.inTotoVerify(one)
        #expect(r1.status == 1 && r1.err.contains("LinkNotFoundError"), "\(r1.err)")
        #expect(!(try fixture.firmchainVerify(one).holds))

        let disagree = try fixture.copy()
        let path = disagree + "/custody/delta.\(mallory8).link"
        var link = try SignedLink(file: path).link
        link.products["build/deltas/fw-1.1.0-from-1.0.0.bsdiff"] = ["sha256": String(repeating: "0", count: 64)]
        try Data(try link.signed(by: fixture.signer("mallory")).envelope.fileBytes).write(to: URL(fileURLWithPath: path))
        let r2 = try ReleaseFixture.inTotoVerify(disagree)
        #expect(r2.status == 1 && r2.err.contains("ThresholdVerificationError"), "\(r2.err)")
        let ours = try fixture.firmchainVerify(disagree)
        #expect(ours.checks.contains { $0.id == "custody.links.agree" && $0.status == .failed })
    }
}

