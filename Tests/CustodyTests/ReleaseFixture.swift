import Custody
import FirmchainCore
import Foundation
import Signing
import TestSupport

/// A release built the way a pipeline builds it, with the real `firmchain` commands: two small
/// firmware images, a bsdiff delta, a TUF repository (init, add-target ×2, publish), the public
/// keys exported, and the custody evidence recorded around each step (`custody layout`,
/// `custody record` for delta → manifest → sign → publish, `custody provenance`,
/// `custody checkpoint`).
///
/// Functionary keys are PEM files by default, or any key reference (a SoftHSM `pkcs11:` URI)
/// with `environment` passed to every child process.
final class ReleaseFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let environment: [String: String]
    /// Key references: owner, builder (delta, manifest), release (sign, publish), mallory (no role).
    let keys: [String: String]
    let layoutFormat: String
    var out: String { dir.file("OUT") }
    var inputs: String { dir.file("in") }

    init(builderKey: String? = nil, releaseKey: String? = nil, environment: [String: String] = [:], layoutFormat: String = "metablock") throws {
        dir = try TemporaryDirectory("firmchain-custody")
        self.environment = environment
        self.layoutFormat = layoutFormat
        try FileManager.default.createDirectory(atPath: dir.file("k"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("in"), withIntermediateDirectories: true)
        var keys = [String: String]()
        for name in ["owner", "builder", "release", "mallory", "root", "targets", "snapshot", "timestamp"] {
            let path = dir.file("k/\(name).pem")
            let signer = try SoftwareSigner(generating: name == "root" ? .ed25519 : .ecdsaP256, description: path)
            try Data(try signer.privateKeyPEM(encryptedWith: nil).utf8).write(to: URL(fileURLWithPath: path))
            keys[name] = path
        }
        if let builderKey { keys["builder"] = builderKey }
        if let releaseKey { keys["release"] = releaseKey }
        self.keys = keys
        var rng = SeededGenerator(seed: 6)
        let old = rng.bytes(120_000)
        var new = old
        for i in stride(from: 1_000, to: 120_000, by: 9_973) { new[i] ^= 0x5A }
        new.insert(contentsOf: rng.bytes(3_000), at: 40_000)
        try Data(old).write(to: URL(fileURLWithPath: dir.file("in/fw-1.0.0.bin")))
        try Data(new).write(to: URL(fileURLWithPath: dir.file("in/fw-1.1.0.bin")))
    }

    /// Runs `firmchain` with the fixture's environment; throws with its stderr when it fails.
    @discardableResult
    func firmchain(_ args: [String]) throws -> ProcessResult {
        let r = try runProcess(TestEnv.firmchain, args, environment: environment)
        guard r.status == 0 else { throw TestSetupError("firmchain \(args.prefix(3).joined(separator: " ")) failed (\(r.status)): \(r.err)") }
        return r
    }

    /// The whole chain, in order.
    func build() throws {
        try layout()
        try deltaStep()
        try manifestStep()
        try signStep()
        try publishStep()
        try finish()
    }

    func layout(extra: [String] = []) throws {
        try firmchain(["custody", "layout", "--out", out, "--owner-key", keys["owner"]!,
                       "--functionary", "delta=\(keys["builder"]!)", "--functionary", "manifest=\(keys["builder"]!)",
                       "--functionary", "sign=\(keys["release"]!)", "--functionary", "publish=\(keys["release"]!)",
                       "--format", layoutFormat] + extra)
    }

    var deltaFile: String { out + "/build/deltas/fw-1.1.0-from-1.0.0.bsdiff" }

    func deltaStep() throws {
        try FileManager.default.createDirectory(atPath: out + "/build/deltas", withIntermediateDirectories: true)
        let argv = [TestEnv.firmchain, "delta", "create", "--old", inputs + "/fw-1.0.0.bin", "--new", inputs + "/fw-1.1.0.bin", "--out", deltaFile]
        try firmchain(["custody", "record", "--out", out, "--step", "delta", "--key", keys["builder"]!, "--run",
                       "--material", "inputs/fw-1.0.0.bin=\(inputs)/fw-1.0.0.bin", "--material", "inputs/fw-1.1.0.bin=\(inputs)/fw-1.1.0.bin",
                       "--product", "build/deltas", "--"] + argv)
    }

    func manifestStep() throws {
        try firmchain(["repo", "init", "--out", out, "--root-key", keys["root"]!, "--targets-key", keys["targets"]!,
                       "--snapshot-key", keys["snapshot"]!, "--timestamp-key", keys["timestamp"]!])
        let image = inputs + "/fw-1.1.0.bin"
        let imageSHA = try DigestCalculator.file(image).sha256!
        let baseSHA = try DigestCalculator.file(inputs + "/fw-1.0.0.bin").sha256!
        try firmchain(["repo", "add-target", "--out", out, "--file", image, "--version", "1.1.0", "--version-number", "10100", "--hardware-id", "acme-gw-v2"])
        try firmchain(["repo", "add-target", "--out", out, "--file", deltaFile, "--version", "1.1.0", "--version-number", "10100",
                       "--hardware-id", "acme-gw-v2", "--kind", "delta", "--base", "fw-1.0.0.bin:1.0.0:\(baseSHA)",
                       "--result", "fw-1.1.0.bin:\(imageSHA):\(try FileIO.size(image))"])
        try firmchain(["custody", "record", "--out", out, "--step", "manifest", "--key", keys["builder"]!,
                       "--material", "build/deltas", "--material", "inputs/fw-1.1.0.bin=\(image)",
                       "--product", "repository/targets", "--product", ".staging", "--", "firmchain", "repo", "add-target"])
    }

    func signStep() throws {
        try firmchain(["custody", "record", "--out", out, "--step", "sign", "--key", keys["release"]!, "--run",
                       "--material", "repository", "--material", ".staging", "--product", "repository", "--",
                       TestEnv.firmchain, "repo", "publish", "--out", out, "--key", keys["targets"]!, "--key", keys["snapshot"]!, "--key", keys["timestamp"]!])
    }

    func publishStep() throws {
        try firmchain(["custody", "record", "--out", out, "--step", "publish", "--key", keys["release"]!, "--run",
                       "--material", "repository", "--material", "keys", "--product", "repository", "--product", "keys", "--",
                       TestEnv.firmchain, "keys", "export-public", "--key", keys["targets"]!, "--out", out + "/keys/targets.pub.pem"])
    }

    func finish() throws {
        try firmchain(["custody", "provenance", "--out", out, "--key", keys["release"]!, "--builder-id", "https://ci.example.com/runner/1"])
        try firmchain(["custody", "checkpoint", "--out", out, "--key", keys["release"]!])
    }

    /// A copy of OUT to tamper with.
    func copy() throws -> String {
        let dest = dir.file("copy-\(UUID().uuidString.prefix(8))")
        let r = try runProcess("cp", ["-a", out, dest])
        guard r.status == 0 else { throw TestSetupError("cp failed: \(r.err)") }
        return dest
    }

    /// `in-toto-verify` from the venv, run in `release` as Docs/architecture.md "Release directory" says.
    static func inTotoVerify(_ release: String, verificationKeys: [String] = ["keys/owner.pub.pem"]) throws -> ProcessResult {
        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw TestSetupError("in-toto-verify is missing at \(tool): run `make setup` (it installs in-toto 3.1.0 into .venv)")
        }
        return try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys"] + verificationKeys,
                              currentDirectory: release)
    }

    /// Firmchain's own verifier on `release` with the owner key (or `ownerKeyPath`).
    func firmchainVerify(_ release: String, ownerKeyPath: String? = nil) throws -> CustodyVerification {
        let pem = try String(contentsOfFile: ownerKeyPath ?? release + "/keys/owner.pub.pem", encoding: .utf8)
        return CustodyVerifier(ownerKeys: [try PublicKey(pem: pem)], now: Date()).verify(out: release)
    }

    /// A signer for a PEM key of the fixture.
    func signer(_ name: String) throws -> any Signer { try Signers.open(keys[name]!, options: SignerOptions()) }
}
