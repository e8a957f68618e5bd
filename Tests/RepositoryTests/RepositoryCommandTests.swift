import FirmchainCore
import Foundation
import Repository
import Testing
import TestSupport

@Suite("firmchain repo on a SoftHSM token", .serialized)
struct RepositoryCommandTests {
    /// A fresh token with one key of `keyType` per TUF role.
    private func tokenWithRoleKeys(_ keyType: String) throws -> SoftHSMToken {
        let token = try SoftHSMToken()
        for role in ["root", "targets", "snapshot", "timestamp"] { try token.generate(keyType, label: role) }
        return token
    }

    /// `repo init` for `out` with the token's role keys.
    private func initArguments(_ token: SoftHSMToken, out: String) -> [String] {
        ["repo", "init", "--out", out, "--root-key", token.uri("root"), "--targets-key", token.uri("targets"),
         "--snapshot-key", token.uri("snapshot"), "--timestamp-key", token.uri("timestamp")]
    }

    /// Runs firmchain with the token's environment; returns the result.
    private func firmchain(_ token: SoftHSMToken, _ args: [String]) throws -> ProcessResult {
        try runProcess(TestEnv.firmchain, args, environment: token.environment)
    }

    @Test("a repository signed with SoftHSM keys is consumed by python-tuf", arguments: ["ecdsa-p256", "ed25519"])
    func softHSMRepository(_ keyType: String) throws {
        let token = try tokenWithRoleKeys(keyType)
        let tmp = try TemporaryDirectory("repo-cli")
        let out = tmp.file("OUT")
        let image = tmp.file("fw-2.0.0.bin")
        var rng = SeededGenerator(seed: 5)
        try Data(rng.bytes(200_000)).write(to: URL(fileURLWithPath: image))

        var r = try firmchain(token, initArguments(token, out: out))
        try #require(r.status == 0, "\(r.err)")
        r = try firmchain(token, ["repo", "add-target", "--out", out, "--file", image, "--version", "2.0.0", "--version-number", "20000",
                                  "--hardware-id", "acme-gw-v2", "--priority", "critical"])
        try #require(r.status == 0, "\(r.err)")
        r = try firmchain(token, ["--json", "repo", "publish", "--out", out, "--key", token.uri("targets"), "--key", token.uri("snapshot"),
                                  "--key", token.uri("timestamp")])
        try #require(r.status == 0, "\(r.err)")
        #expect(try JSONReader().parse(Array(r.stdout))["targets"] == 2)

        let downloads = try TemporaryDirectory("dl")
        let client = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                     out + "/repository", out + "/repository/metadata/1.root.json", downloads.path])
        let answer = try JSONReader().parse(Array(client.out.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
        #expect(answer["ok"] == true, "\(client.out) \(client.err)")
        #expect(answer["targets"]?["fw-2.0.0.bin"]?["custom"]?["firmware"]?["priority"] == "critical")
        #expect(try Data(contentsOf: URL(fileURLWithPath: downloads.file("fw-2.0.0.bin"))) == Data(contentsOf: URL(fileURLWithPath: image)))

        let show = try firmchain(token, ["--json", "repo", "show", "--out", out])
        #expect(show.status == 0)
        #expect(try JSONReader().parse(Array(show.stdout))["passed"] == true)
    }

    /// `repo init` with a fresh ed25519 key file per role; returns the key files by role.
    static func softwareRepository(in tmp: TemporaryDirectory, out: String) throws -> [String: String] {
        var keys = [String: String]()
        for role in ["root", "targets", "snapshot", "timestamp"] {
            keys[role] = tmp.file("\(role).pem")
            try #require(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", keys[role]!]).status == 0)
        }
        try #require(try runProcess(TestEnv.firmchain, ["repo", "init", "--out", out, "--root-key", keys["root"]!, "--targets-key", keys["targets"]!,
                                                        "--snapshot-key", keys["snapshot"]!, "--timestamp-key", keys["timestamp"]!]).status == 0)
        return keys
    }

    @Test("eight concurrent repo add-target runs all succeed and lose no target (issue 18, item 7)")
    func concurrentAddTargetsLoseNothing() throws {
        let tmp = try TemporaryDirectory("repo-concurrent")
        let out = tmp.file("OUT")
        let keys = try Self.softwareRepository(in: tmp, out: out)
        var processes = [Process]()
        for i in 0..<8 {
            let image = tmp.file("fw-\(i).bin")
            try AtomicFile.write(Array("image \(i)".utf8) + [UInt8](repeating: UInt8(i), count: 50_000), to: image)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.firmchain)
            p.arguments = ["repo", "add-target", "--out", out, "--file", image, "--version", "1.0", "--version-number", "1", "--hardware-id", "hw-\(i)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            processes.append(p)
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 }, "every writer succeeds: \(processes.map(\.terminationStatus))")
        let publish = try runProcess(TestEnv.firmchain, ["repo", "publish", "--out", out, "--key", keys["targets"]!, "--key", keys["snapshot"]!, "--key", keys["timestamp"]!])
        try #require(publish.status == 0, "\(publish.err)")
        let v = RepositoryVerifier(store: RepositoryStore(directory: out), now: Date()).verify(trustedRoot: try FileIO.read(out + "/repository/metadata/1.root.json"))
        #expect(v.passed)
        #expect(Set(v.allTargets.keys) == Set((0..<8).map { "fw-\($0).bin" }), "no target was lost")
    }

    @Test("repo add-target refuses what no reader could trust, before anything is staged (issue 18, item 9)", arguments: [
        (["--version-number", "0"], "version_number 0", "repo.bad-firmware-fields"), (["--version-number=-1"], "version_number -1", "repo.bad-firmware-fields"),
        (["--version", ""], "version", "repo.bad-firmware-fields"), (["--hardware-id", ""], "hardware id", "repo.bad-firmware-fields"),
        (["--hardware-id", "a", "--hardware-id", "a"], "twice", "repo.bad-firmware-fields"),
        (["--name", "a/../b"], "target name", "repo.bad-target-name"), (["--name", "bad\u{07}name"], "target name", "repo.bad-target-name"),
        (["--kind", "delta", "--base", "b.bin:1.0:notahash", "--result", "r.bin:\(String(repeating: "a", count: 64)):10"], "base sha256", "repo.bad-firmware-fields"),
        (["--kind", "delta", "--base", "b.bin:1.0:\(String(repeating: "a", count: 64))", "--result", "r.bin:\(String(repeating: "a", count: 64)):-5"], "negative",
         "repo.bad-firmware-fields"),
        (["--base", "b.bin:1.0:\(String(repeating: "a", count: 64))"], "--kind delta", "usage.invalid"),
        (["--version-number", "1"], "rollback", "policy.violation"),
    ])
    func addTargetValidatesAtTheEdge(_ change: [String], _ mentions: String, _ code: String) throws {
        let tmp = try TemporaryDirectory("repo-edge")
        let out = tmp.file("OUT")
        let keys = try Self.softwareRepository(in: tmp, out: out)
        let image = tmp.file("fw.bin")
        try AtomicFile.write([UInt8](repeating: 3, count: 1000), to: image)
        // A published 2.0 for hw makes version_number 1 a rollback.
        try #require(try runProcess(TestEnv.firmchain, ["repo", "add-target", "--out", out, "--file", image, "--name", "fw-2.bin", "--version", "2.0",
                                                        "--version-number", "2", "--hardware-id", "hw"]).status == 0)
        let staged = try FileIO.read(out + "/.staging/targets.json")
        var args = ["repo", "add-target", "--out", out, "--file", image, "--version", "3.0", "--version-number", "3", "--hardware-id", "hw"]
        // Later options replace earlier ones for single-valued options; hardware ids are replaced as a list.
        if change.contains("--hardware-id") {
            args.removeLast(2)
        }
        args += change
        let r = try runProcess(TestEnv.firmchain, args)
        #expect(r.status == (code == "policy.violation" ? 2 : 64) && r.err.contains(mentions) && r.err.hasSuffix(" [\(code)]\n")
                && r.err.split(separator: "\n").count == 1, "\(change): exit \(r.status) \(r.err)")
        #expect(try FileIO.read(out + "/.staging/targets.json") == staged, "nothing was staged")
    }

    @Test("repo add-target and repo publish on a directory without a repository exit 66 with repo.not-initialized, creating nothing")
    func notInitialized() throws {
        let tmp = try TemporaryDirectory("repo-empty")
        let out = tmp.file("OUT")
        try FileIO.makeDirectories(out)
        try AtomicFile.write([1, 2, 3], to: tmp.file("fw.bin"))
        try #require(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", tmp.file("targets.pem")]).status == 0)
        for args in [["repo", "add-target", "--out", out, "--file", tmp.file("fw.bin"), "--version", "1", "--version-number", "1", "--hardware-id", "hw"],
                     ["repo", "publish", "--out", out, "--key", tmp.file("targets.pem")]] {
            let r = try runProcess(TestEnv.firmchain, args)
            #expect(r.status == 66 && r.err.hasPrefix("firmchain: error: \(out)/repository/metadata: no 1.root.json")
                    && r.err.hasSuffix(" [repo.not-initialized]\n"), "\(args[1]): exit \(r.status) \(r.err)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }

    @Test("repo show exits 1 and names the failed check when a target was tampered with")
    func showFailsOnTamper() throws {
        let token = try tokenWithRoleKeys("ecdsa-p256")
        let tmp = try TemporaryDirectory("repo-cli")
        let out = tmp.file("OUT")
        let image = tmp.file("fw.bin")
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: image))
        _ = try firmchain(token, initArguments(token, out: out))
        _ = try firmchain(token, ["repo", "add-target", "--out", out, "--file", image, "--version", "1", "--version-number", "1", "--hardware-id", "hw"])
        let p = try firmchain(token, ["repo", "publish", "--out", out, "--key", token.uri("targets"), "--key", token.uri("snapshot"), "--key", token.uri("timestamp")])
        try #require(p.status == 0, "\(p.err)")
        let targets = try FileManager.default.contentsOfDirectory(atPath: out + "/repository/targets")
        let victim = out + "/repository/targets/" + targets.first { $0.hasSuffix(".fw.bin") }!
        try Data(repeating: 8, count: 4096).write(to: URL(fileURLWithPath: victim))
        let show = try firmchain(token, ["repo", "show", "--out", out])
        #expect(show.status == 1)
        #expect(show.out.contains("[FAIL] repo.target") && show.out.contains("(fw.bin)"), "\(show.out)")
    }

    @Test("repo init refuses to overwrite an existing root and publish without keys names the role")
    func errors() throws {
        let token = try tokenWithRoleKeys("ecdsa-p256")
        let tmp = try TemporaryDirectory("repo-cli")
        let out = tmp.file("OUT")
        let initArgs = initArguments(token, out: out)
        #expect(try firmchain(token, initArgs).status == 0)
        let again = try firmchain(token, initArgs)
        #expect(again.status == 64)
        #expect(again.err.contains("[repo.already-initialized]"))
        let publish = try firmchain(token, ["repo", "publish", "--out", out, "--key", token.uri("snapshot"), "--key", token.uri("timestamp")])
        #expect(publish.status == 3)
        #expect(publish.err.contains("the targets role needs 1 signature(s)"))
        #expect(!publish.err.contains(token.pin) && !publish.out.contains(token.pin))
    }
}
