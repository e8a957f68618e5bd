import Export
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

/// Mender artifacts checked by the stock `mender-artifact validate -k`.
@Suite("Mender artifacts from a verified release, accepted by mender-artifact")
struct MenderTests {
    static let fixture = Result { try ExportFixture("export-mender") }

    func validate(_ artifact: [UInt8], key: PublicKey, name: String) throws -> ProcessResult {
        let f = try Self.fixture.get()
        let file = try f.write(name + ".mender", artifact)
        let pub = try f.write(name + ".pub.pem", Array(key.pem.utf8))
        return try runProcess("mender-artifact", ["validate", "-k", pub, file])
    }

    func build(_ signer: any Signer) throws -> [UInt8] {
        let f = try Self.fixture.get()
        return try MenderArtifact.build(target: try f.target(), options: .init(deviceTypes: ["board-a"], artifactName: "fw-1.2.0"), signer: signer)
    }

    /// Byte offsets to flip: in the payload, in header.tar, and in manifest.sig.
    func flips(_ artifact: [UInt8], payload: [UInt8]) -> [(String, Int)] {
        let payloadAt = offset(of: Array(payload.prefix(64)), in: artifact)!
        let headerAt = offset(of: Array("rootfs-image.checksum".utf8), in: artifact)!
        let sigName = offset(of: Array("manifest.sig".utf8) + [0], in: artifact)!
        return [("payload", payloadAt + 100), ("header", headerAt + 2), ("signature", sigName + 512 + 10)]
    }

    @Test("a software P-256 key and an RSA key: accepted, the payload is the target, and a flipped byte anywhere is rejected",
          arguments: [KeyType.ecdsaP256, .rsa])
    func softwareKeys(type: KeyType) throws {
        let f = try Self.fixture.get()
        let signer = try SoftwareSigner(generating: type)
        let artifact = try build(signer)
        let ok = try validate(artifact, key: signer.publicKey, name: "sw-\(type.rawValue)")
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        for (what, i) in flips(artifact, payload: f.targetBytes) {
            let r = try validate(flipped(artifact, at: i), key: signer.publicKey, name: "sw-\(type.rawValue)-\(what)")
            #expect(r.status != 0, "a flipped byte in the \(what) was accepted")
        }
        let other = try SoftwareSigner(generating: type)
        #expect(try validate(artifact, key: other.publicKey, name: "sw-\(type.rawValue)-other").status != 0)
    }

    @Test("a SoftHSM P-256 key signs an artifact mender-artifact accepts (raw r‖s, not DER)", arguments: ["ecdsa-p256", "rsa-3072"])
    func tokenKey(type: String) throws {
        let token = try SoftHSMTestToken.shared()
        let signer = try Signers.open(token.key(type)!.uri, options: ExportFixture.tokenOptions)
        let artifact = try build(signer)
        let r = try validate(artifact, key: signer.publicKey, name: "hsm-\(type)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let bad = try validate(flipped(artifact, at: flips(artifact, payload: try Self.fixture.get().targetBytes)[0].1), key: signer.publicKey, name: "hsm-\(type)-flip")
        #expect(bad.status != 0)
    }

    @Test("the payload extracted with tar is byte-identical to the released target")
    func payloadIsTarget() throws {
        let f = try Self.fixture.get()
        let artifact = try build(try SoftwareSigner(generating: .ecdsaP256))
        let file = try f.write("extract.mender", artifact)
        let dir = f.directory.file("extract")
        try FileIO.makeDirectories(dir)
        var r = try runProcess("tar", ["-xf", file, "-C", dir])
        #expect(r.status == 0, "\(r.err)")
        r = try runProcess("tar", ["-xf", dir + "/data/0000.tar", "-C", dir])
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileIO.read(dir + "/fw.bin") == f.targetBytes)
        let listing = try runProcess("tar", ["-tf", file]).out.split(separator: "\n").map(String.init)
        #expect(listing == MenderArtifact.members)
    }

    @Test("two exports with an RSA key are byte-identical")
    func reproducible() throws {
        let signer = try SoftwareSigner(generating: .rsa)
        #expect(try build(signer) == build(signer))
    }

    @Test("an Ed25519 key is refused: Mender verifies P-256 and RSA only")
    func ed25519Refused() throws {
        let error = #expect(throws: FirmchainError.self) { _ = try build(try SoftwareSigner(generating: .ed25519)) }
        #expect(error?.code == .exportKeyUnsupported && error?.reason.contains("not ed25519") == true && error?.category.exitCode == 3,
                "\(String(describing: error))")
    }

    @Test("firmchain export mender refuses a target the verified metadata does not list (66), an empty artifact name (64) and a target copy whose bytes changed (1), writing nothing")
    func commandRefusals() throws {
        let f = try ExportFixture("export-mender-refusals")
        let (_, keyFile) = try f.softwareKey(.ecdsaP256, name: "cli-refusals")
        let root = try f.write("trusted-root.json", f.built.trustedRoot)
        let out = f.directory.file("refused.mender")
        func export(target: String = "fw.bin", artifactName: String = "fw-1.2.0") throws -> ProcessResult {
            try runProcess(TestEnv.firmchain, ["export", "mender", "--release", f.built.release.path, "--trusted-root", root, "--at", UTCTimestamp.string(from: f.now),
                                               "--target", target, "--key", keyFile, "--device-type", "board-a", "--artifact-name", artifactName, "--out", out])
        }
        var r = try export(target: "fw-9.9.9.bin")
        #expect(r.status == 66 && r.err.contains("the verified metadata lists no target 'fw-9.9.9.bin'") && r.err.hasSuffix(" [export.target-not-found]\n"),
                "\(r.err)")
        r = try export(artifactName: "")
        #expect(r.status == 64 && r.err.contains("needs a device type, an artifact name") && r.err.hasSuffix(" [export.option-invalid]\n"), "\(r.err)")
        // The hash-named copy the metadata points at, one byte changed.
        let copy = f.built.release.repository.targetPath(name: "fw.bin", hash: DigestCalculator.sha256Hex(f.targetBytes))
        try AtomicFile.write(flipped(f.targetBytes, at: 100), to: copy)
        r = try export()
        #expect(r.status == 1 && r.err.contains("the bytes of fw.bin are not the length and sha256 its metadata signs")
                && r.err.hasSuffix(" [export.target-mismatch]\n"), "\(r.err)")
        #expect(!FileIO.exists(out))
    }

    @Test("firmchain export mender verifies the release from the trusted root and writes an artifact mender-artifact accepts; a release whose metadata was changed is refused")
    func command() throws {
        let f = try Self.fixture.get()
        let (signer, keyFile) = try f.softwareKey(.ecdsaP256, name: "cli-mender")
        let root = try f.write("trusted-root.json", f.built.trustedRoot)
        let out = f.directory.file("cli.mender")
        let at = UTCTimestamp.string(from: f.now)
        var r = try runProcess(TestEnv.firmchain, ["export", "mender", "--release", f.built.release.path, "--trusted-root", root, "--at", at,
                                                   "--target", "fw.bin", "--key", keyFile, "--device-type", "board-a",
                                                   "--artifact-name", "fw-1.2.0", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let pub = try f.write("cli-mender.pub.pem", Array(signer.publicKey.pem.utf8))
        r = try runProcess("mender-artifact", ["validate", "-k", pub, out])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        // A root the release was not signed by: refused before anything is packed.
        let stranger = try ExportFixture("export-mender-stranger")
        let strangeRoot = try f.write("stranger-root.json", stranger.built.trustedRoot)
        r = try runProcess(TestEnv.firmchain, ["export", "mender", "--release", f.built.release.path, "--trusted-root", strangeRoot, "--at", at,
                                               "--target", "fw.bin", "--key", keyFile, "--device-type", "board-a",
                                               "--artifact-name", "x", "--out", f.directory.file("refused.mender")])
        #expect(r.status == 1, "\(r.err)")
        #expect(r.err.contains("export.release-unverified"))
        #expect(!FileIO.exists(f.directory.file("refused.mender")))
    }
}
