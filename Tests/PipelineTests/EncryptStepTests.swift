import Custody
import Delta
import Encryption
import FirmchainCore
import Foundation
import Pipeline
import Release
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport

/// Issue 20, points 6 and 7: the `encrypt` step between delta and manifest, the encryption
/// fields in the manifest, and the policy rule that stops a release before anything is signed.
@Suite("The encrypt step releases ciphertext that devices decrypt and verify", .serialized)
struct EncryptStepTests {
    /// A device key (P-256), a hardware-class key and a group key, written under `dir`.
    struct Recipients {
        let device: SoftwareKeyAgreement, hwClass: SoftwareKeyAgreement
        let devicePub: String, hwClassPub: String, kek: String

        init(_ dir: String) throws {
            try FileIO.makeDirectories(dir + "/recipients")
            device = try SoftwareKeyAgreement(generatingDescription: "device")
            hwClass = try SoftwareKeyAgreement(generatingDescription: "hw class")
            devicePub = dir + "/recipients/device.pub.pem"
            hwClassPub = dir + "/recipients/hw-class.pub.pem"
            kek = dir + "/recipients/fleet.kek"
            try AtomicFile.write(Array(device.publicKey.pem.utf8), to: devicePub)
            try AtomicFile.write(Array(hwClass.publicKey.pem.utf8), to: hwClassPub)
            var rng = SystemRandomNumberGenerator()
            try AtomicFile.write((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, to: kek, mode: 0o600)
        }

        var option: String { "{recipients: [\"\(devicePub)\", \"\(hwClassPub)\", \"kek:\(kek)\"]}" }
    }

    static func builder(_ dir: String, _ r: Recipients, policyRecipients: [String]? = nil) -> ReleaseBuilder {
        var b = ReleaseBuilder(directory: dir)
        b.steps = ["delta", "encrypt", "manifest", "sign", "publish"]
        b.stepOptions = ["encrypt": r.option]
        let required = policyRecipients ?? [r.hwClassPub, "kek:fleet"]
        b.policyExtra = "encryption: {targets: [full, delta], recipients: [\(required.map { "\"\($0)\"" }.joined(separator: ", "))]}"
        return b
    }

    /// Decrypts target `name` of `b` with `key` the way a device does: the structure from the
    /// signed manifest, the ciphertext from the repository; returns the plaintext.
    static func deviceDecrypt(_ b: ReleaseBuilder.Built, _ name: String, _ key: DecryptionKey, _ tmp: String) throws -> [UInt8] {
        let tuf = RepositoryVerifier(store: b.release.repository, now: b.now).verify(trustedRoot: b.trustedRoot)
        let entry = try #require(tuf.allTargets[name])
        let fw = try #require(try FirmwareInfo(custom: entry.custom))
        let enc = try #require(fw.encryption, "\(name) is not marked encrypted")
        let cose = try #require(enc.descriptor["cose"]?.stringValue.flatMap { Base64.decode($0) })
        let copy = b.release.repository.targetPath(name: name, hash: entry.hashes["sha256"]!)
        let out = tmp + "/" + name.replacingOccurrences(of: "/", with: "_") + ".plain"
        let result = try Decryptor.decrypt(structure: cose, ciphertext: copy, key: key, to: out)
        let plain = try FileIO.read(out)
        #expect(result.plaintext.sha256 == enc.plaintextSHA256 && DigestCalculator.sha256Hex(plain) == enc.plaintextSHA256,
                "the plaintext digest the manifest records")
        return plain
    }

    @Test("every target is ciphertext for the three recipients; each recipient decrypts the image and the deltas rebuild it; custody, in-toto-verify and python-tuf accept; a re-run changes nothing")
    func encryptedRelease() throws {
        let dir = try TemporaryDirectory("encrypt-step")
        let r = try Recipients(dir.path)
        let b = try Self.builder(dir.path, r).build()
        #expect(b.result.steps.map(\.step) == ["delta", "encrypt", "manifest", "sign", "publish"])

        let image = try FileIO.read(dir.path + "/fw-1.2.0.bin")
        let tuf = RepositoryVerifier(store: b.release.repository, now: b.now).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        #expect(tuf.allTargets["fw.bin"]?.hashes["sha256"] != DigestCalculator.sha256Hex(image), "the released image is ciphertext")
        for key: DecryptionKey in [.agreement(r.device), .agreement(r.hwClass), .keyEncryptionKey(try KeyEncryptionKey(file: r.kek))] {
            #expect(try Self.deviceDecrypt(b, "fw.bin", key, dir.path) == image)
        }
        for v in 0..<2 {
            let patch = try Self.deviceDecrypt(b, "deltas/fw.bin.from-1.\(v).0.bsdiff", .agreement(r.device), dir.path)
            #expect(try Delta.apply(old: try FileIO.read(dir.path + "/fw-1.\(v).0.bin"), patch: patch) == image, "delta from 1.\(v).0")
        }

        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: b.now).verify(out: b.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.checks.filter { $0.status != .passed }.map { "\($0.id): \($0.details)" })")
        let link = try #require(b.release.custody.links().links.first { $0.link.link.name == "encrypt" }?.link.link)
        #expect(link.materials.keys.contains("inputs/fw-1.2.0.bin") && link.materials.keys.contains("build/deltas/fw.bin.from-1.0.0.bsdiff"),
                "plaintexts are the link's materials: \(link.materials.keys.sorted())")
        #expect(link.products.keys.sorted() == ["build/encrypted/deltas/fw.bin.from-1.0.0.bsdiff", "build/encrypted/deltas/fw.bin.from-1.0.0.bsdiff.cose",
                                                "build/encrypted/deltas/fw.bin.from-1.0.0.bsdiff.json", "build/encrypted/deltas/fw.bin.from-1.1.0.bsdiff",
                                                "build/encrypted/deltas/fw.bin.from-1.1.0.bsdiff.cose", "build/encrypted/deltas/fw.bin.from-1.1.0.bsdiff.json",
                                                "build/encrypted/fw.bin", "build/encrypted/fw.bin.cose", "build/encrypted/fw.bin.json"],
                "ciphertexts are its products")

        let inToto = try runProcess(URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path,
                                    ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: b.release.path)
        #expect(inToto.status == 0, "in-toto-verify: \(inToto.err.suffix(600))")
        try? FileManager.default.removeItem(atPath: b.release.path + "/delivered.link")
        let device = try TemporaryDirectory("encrypt-device")
        let client = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                     b.release.path + "/repository", b.release.repository.metadataDirectory + "/1.root.json", device.path])
        #expect(client.status == 0, "python-tuf: \(client.out) \(client.err.suffix(400))")

        let before = try TestEnv.fileDigests(under: b.release.path)
        let rerun = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: b.now))
        #expect(!rerun.changed, "\(rerun.steps)")
        #expect(rerun.steps.first { $0.step == "encrypt" }?.summary.contains("unchanged") == true, "\(rerun.steps)")
        #expect(try TestEnv.fileDigests(under: b.release.path) == before, "a re-run encrypts nothing again and changes no file")
    }

    @Test("a policy that requires a recipient the encrypt step does not name, or encryption a pipeline lacks, stops the run before anything is written",
          arguments: ["missing recipient", "no encrypt step"])
    func policyRefusals(_ kind: String) throws {
        let dir = try TemporaryDirectory("encrypt-policy")
        let r = try Recipients(dir.path)
        let stranger = dir.file("stranger.pub.pem")
        try AtomicFile.write(Array(try SoftwareKeyAgreement(generatingDescription: "stranger").publicKey.pem.utf8), to: stranger)
        var b = Self.builder(dir.path, r, policyRecipients: kind == "missing recipient" ? [stranger, "kek:fleet"] : nil)
        if kind == "no encrypt step" { b.steps = ["delta", "manifest", "sign", "publish"] }
        #expect {
            _ = try b.build()
        } throws: { e in
            guard let e = e as? FirmchainError, e.code == .policyViolation else { return false }
            return kind == "no encrypt step" ? e.reason.contains("has no encrypt step") : e.reason.contains("requires encryption for \(stranger)")
        }
        #expect(!FileIO.exists(dir.path + "/OUT/repository"), "nothing was written")
        #expect(!FileIO.exists(dir.path + "/OUT/build"), "nothing was written")
    }
}
