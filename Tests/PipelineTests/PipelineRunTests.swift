import FirmchainCore
import Foundation
import Testing
import TestSupport

/// A release workspace: a SoftHSM token with the policy's keys, three sample images, and a
/// policy and pipeline file pointing at them (absolute paths).
private struct Workspace {
    let dir: TemporaryDirectory
    let token: SoftHSMToken
    var out: String { dir.file("release") }
    var pipeline: String { dir.file("release.yml") }

    init(allowed: String = "[ecdsa-p256-sha256, ed25519]") throws {
        dir = try TemporaryDirectory("pipeline")
        token = try SoftHSMToken(label: "pipeline-test")
        try token.generate("ed25519", label: "root")
        for role in ["targets", "snapshot", "timestamp", "owner", "build"] { try token.generate("ecdsa-p256", label: role) }
        let gen = try runProcess("python3", [TestEnv.packageRoot.appendingPathComponent("Scripts/make-sample-firmware.py").path,
                                             dir.file("images"), "--size-kib", "192"])
        guard gen.status == 0 else { throw TestSetupError("sample firmware: \(gen.err)") }
        let policy = """
            schema: 1
            name: test-policy
            owner:
              keys: ["\(token.uri("owner"))"]
            roles:
              root: {keys: ["\(token.uri("root"))"], threshold: 1, expiry_days: 365}
              targets: {keys: ["\(token.uri("targets"))"], expiry_days: 30}
              snapshot: {keys: ["\(token.uri("snapshot"))"], expiry_days: 7}
              timestamp: {keys: ["\(token.uri("timestamp"))"], expiry_hours: 24}
            algorithms:
              allowed: \(allowed)
            functionaries:
              delta: ["\(token.uri("build"))"]
              manifest: ["\(token.uri("build"))"]
              sign: ["\(token.uri("targets"))"]
              publish: ["\(token.uri("timestamp"))"]
            hardware_classes:
              acme-gw-v2: {description: test gateway}
            """
        try Data(policy.utf8).write(to: URL(fileURLWithPath: dir.file("policy.yml")))
        try writePipeline(versionNumber: 10200)
    }

    func writePipeline(versionNumber: Int, hardware: String = "acme-gw-v2", deltaFormat: String = "bsdiff40", to file: String? = nil) throws {
        let images = dir.file("images")
        let text = """
            schema: 1
            name: test-release
            policy: \(dir.file("policy.yml"))
            output: \(out)
            release:
              image: \(images)/fw-1.2.0.bin
              version: 1.2.0
              version_number: \(versionNumber)
              hardware: [\(hardware)]
              priority: high
              bases:
                - {image: \(images)/fw-1.0.0.bin, version: 1.0.0}
                - {image: \(images)/fw-1.1.0.bin, version: 1.1.0}
            steps:
              - delta: {format: \(deltaFormat)}
              - manifest:
              - sign:
              - publish:
            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: file ?? pipeline))
    }

    func run(_ extra: [String] = []) throws -> ProcessResult {
        try runProcess(TestEnv.firmchain, extra + ["pipeline", "run", pipeline], environment: token.environment)
    }

    /// python-tuf's verdict on the release: nil when it refuses, else target name → sha256.
    func pythonTUF() throws -> [String: String]? {
        let downloads = try TemporaryDirectory("dl")
        let r = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                out + "/repository", out + "/repository/metadata/1.root.json", downloads.path])
        guard let line = r.out.split(separator: "\n").last, let doc = try? JSONReader().parse(Array(line.utf8)) else {
            throw TestSetupError("tuf_client.py printed nothing: \(r.err)")
        }
        guard doc["ok"] == true, let targets = doc["targets"]?.objectValue else { return nil }
        var out = [String: String]()
        // The bytes and the version they are released as (a new version of the same image is another release).
        for (name, t) in targets {
            out[name] = DigestCalculator.sha256Hex(try FileIO.read(t["path"]!.stringValue!)) + " v\(t["custom"]?["firmware"]?["version_number"]?.int64Value ?? -1)"
        }
        return out
    }

    /// in-toto-verify (in-toto 3.1.0 from the venv) run in OUT as Docs/architecture.md "Release directory" says.
    func inTotoVerify() throws -> ProcessResult {
        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        return try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                              currentDirectory: out)
    }

    /// Hashes of every file of the release directory (in-toto-verify's own delivered.link aside).
    func snapshotOfFiles() throws -> [String: String] {
        var out = [String: String]()
        let root = self.out
        guard let e = FileManager.default.enumerator(atPath: root) else { return out }
        for case let rel as String in e {
            var isDir: ObjCBool = false
            if rel != "delivered.link", FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = try DigestCalculator.file(root + "/" + rel).sha256
            }
        }
        return out
    }

}

@Suite("firmchain pipeline run", .serialized)
struct PipelineRunTests {
    @Test("a release made by the pipeline is consumed by python-tuf, and a re-run changes no file")
    func runAndRerun() throws {
        let ws = try Workspace()
        let first = try ws.run(["--json"])
        try #require(first.status == 0, "\(first.err)")
        let doc = try JSONReader().parse(Array(first.stdout))
        #expect(doc["changed"] == true)
        #expect(doc["targets"]?.arrayValue?.count == 3)
        let targets = try #require(try ws.pythonTUF())
        #expect(Set(targets.keys) == ["fw-1.2.0.bin", "deltas/fw-1.2.0.bin.from-1.0.0.bsdiff", "deltas/fw-1.2.0.bin.from-1.1.0.bsdiff"])
        #expect(targets["fw-1.2.0.bin"] == DigestCalculator.sha256Hex(try FileIO.read(ws.dir.file("images/fw-1.2.0.bin"))) + " v10200")
        let inToto = try ws.inTotoVerify()
        #expect(inToto.status == 0, "in-toto-verify refused the pipeline's custody: \(inToto.err)")
        let custody = try runProcess(TestEnv.firmchain, ["custody", "verify", ws.out], environment: ws.token.environment)
        #expect(custody.status == 0, "\(custody.out)")

        let before = try ws.snapshotOfFiles()
        let again = try ws.run(["--json"])
        try #require(again.status == 0, "\(again.err)")
        #expect(try JSONReader().parse(Array(again.stdout))["changed"] == false)
        #expect(try ws.snapshotOfFiles() == before)
    }

    @Test("format: firmchain1 releases .fcdelta targets whose manifest names the format; python-tuf, in-toto-verify and firmchain verify (applying them) accept the release; a BSDIFF40 patch in its place fails release.delta")
    func firmchain1Deltas() throws {
        let ws = try Workspace()
        try ws.writePipeline(versionNumber: 10200, deltaFormat: "firmchain1")
        let run = try ws.run()
        try #require(run.status == 0, "\(run.err)")
        let names = ["deltas/fw-1.2.0.bin.from-1.0.0.fcdelta", "deltas/fw-1.2.0.bin.from-1.1.0.fcdelta"]
        let targets = try #require(try ws.pythonTUF())
        #expect(Set(targets.keys) == Set(["fw-1.2.0.bin"] + names))
        let metadata = try JSONReader().parse(try FileIO.read(ws.out + "/repository/metadata/1.targets.json"))
        for name in names {
            #expect(metadata["signed"]?["targets"]?[name]?["custom"]?["firmware"]?["delta"]?["format"] == "firmchain1", "\(name)")
        }
        #expect(try ws.inTotoVerify().status == 0)
        // Trust from outside the release: its first root and owner key, copied out.
        let trusted = try TemporaryDirectory("trusted")
        try FileManager.default.copyItem(atPath: ws.out + "/repository/metadata/1.root.json", toPath: trusted.file("root.json"))
        try FileManager.default.copyItem(atPath: ws.out + "/keys/owner.pub.pem", toPath: trusted.file("owner.pub.pem"))
        let images = ws.dir.file("images")
        let verify = try runProcess(TestEnv.firmchain, ["verify", "--release", ws.out, "--trusted-root", trusted.file("root.json"),
                                                        "--owner-key", trusted.file("owner.pub.pem"), "--base", images + "/fw-1.0.0.bin",
                                                        "--base", images + "/fw-1.1.0.bin", "--strict", "--json"])
        #expect(verify.status == 0, "\(verify.out)")
        let report = try JSONReader().parse(Array(verify.stdout))
        let deltaChecks = report["checks"]?.arrayValue?.filter { $0["id"] == "release.delta" } ?? []
        #expect(deltaChecks.count == 2 && deltaChecks.allSatisfy { $0["status"] == "passed" }, "\(deltaChecks)")
        // A patch declared firmchain1 that is a BSDIFF40 patch fails release.delta.
        let bsdiff = try runProcess(TestEnv.firmchain, ["delta", "create", "--old", images + "/fw-1.0.0.bin", "--new", images + "/fw-1.2.0.bin",
                                                        "--out", trusted.file("p.bsdiff")])
        try #require(bsdiff.status == 0)
        let sha = try #require(metadata["signed"]?["targets"]?[names[0]]?["hashes"]?["sha256"]?.stringValue)
        let copy = ws.out + "/repository/targets/deltas/" + sha + ".fw-1.2.0.bin.from-1.0.0.fcdelta"
        try #require(FileIO.exists(copy))
        try FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: trusted.file("p.bsdiff"), toPath: copy)
        let refused = try runProcess(TestEnv.firmchain, ["verify", "--release", ws.out, "--trusted-root", trusted.file("root.json"),
                                                         "--owner-key", trusted.file("owner.pub.pem"), "--base", images + "/fw-1.0.0.bin", "--json"])
        #expect(refused.status == 1)
        let failed = try JSONReader().parse(Array(refused.stdout))["checks"]?.arrayValue?.filter { $0["status"] == "failed" }.compactMap { $0["id"]?.stringValue } ?? []
        #expect(failed.contains("release.delta"), "\(failed)")
    }

    @Test("a policy violation stops the run with exit 2 before anything is signed", arguments: ["algorithm", "rollback", "hardware"])
    func policyViolations(_ kind: String) throws {
        let ws = try Workspace(allowed: kind == "algorithm" ? "[ed25519]" : "[ecdsa-p256-sha256, ed25519]")
        if kind == "rollback" {
            try #require(try ws.run().status == 0)
            try ws.writePipeline(versionNumber: 10100)
        }
        if kind == "hardware" { try ws.writePipeline(versionNumber: 10200, hardware: "unknown-board") }
        let before = try ws.snapshotOfFiles()
        let r = try ws.run()
        #expect(r.status == 2, "\(r.err)")
        #expect(r.err.contains("[policy.violation]"))
        #expect(r.err.split(separator: "\n").count == 1)
        #expect(try ws.snapshotOfFiles() == before)
    }

    @Test("a run that publishes under umask 077 leaves every file and directory of the last release with its mode (the stage copies modes, whatever the umask)")
    func modesKeptUnderUmask() throws {
        let ws = try Workspace()
        try #require(try ws.run().status == 0)
        func modes() throws -> [String: Int] {
            var out = [String: Int]()
            for case let rel as String in FileManager.default.enumerator(atPath: ws.out) ?? FileManager.DirectoryEnumerator() {
                out[rel] = try FileManager.default.attributesOfItem(atPath: ws.out + "/" + rel)[.posixPermissions] as? Int
            }
            out["."] = try FileManager.default.attributesOfItem(atPath: ws.out)[.posixPermissions] as? Int
            return out
        }
        let before = try modes()
        #expect(before["repository/metadata/1.root.json"] == 0o644)
        try ws.writePipeline(versionNumber: 10300)
        let r = try runProcess("/bin/sh", ["-c", "umask 077 && exec \"$0\" pipeline run \"$1\"", TestEnv.firmchain, ws.pipeline], environment: ws.token.environment)
        try #require(r.status == 0, "\(r.err)")
        let after = try modes()
        for (path, mode) in before where after[path] != nil {
            #expect(after[path] == mode, "\(path): mode \(String(after[path] ?? 0, radix: 8)), was \(String(mode, radix: 8))")
        }
    }

    @Test("50 SIGKILLs at random points of runs that publish a new version, and of refused runs, leave either the last good release or the new one, whole: python-tuf reads exactly one of them and in-toto-verify accepts its custody")
    func killedRuns() throws {
        let ws = try Workspace()
        // Kill somewhere inside a first run's duration, measured here (machines differ).
        let start = Date()
        try #require(try ws.run().status == 0)
        let killWindow = UInt64(max(50_000, Date().timeIntervalSince(start) * 1_000_000))
        var rng = SeededGenerator(seed: 2026)
        var killed = 0, keptOld = 0, madeNew = 0
        // Every fourth run is one the policy refuses (a rollback): killed or not, it changes nothing.
        let refused = ws.dir.file("refused.yml")
        try ws.writePipeline(versionNumber: 10100, to: refused)
        let savedToken = try ws.token.saveTokenFiles()
        var last = try ws.pythonTUF()
        for round in 1...50 {
            // Start from scratch now and then, so kills land in a first release too.
            if round % 10 == 1 { try FileManager.default.removeItem(atPath: ws.out); last = nil }
            let isRefused = round % 4 == 0 && last != nil
            // Every other run publishes the next version: the release changes under the kill.
            let pipeline = isRefused ? refused : ws.dir.file("v\(round).yml")
            if !isRefused { try ws.writePipeline(versionNumber: 10200 + Int(round), to: pipeline) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.firmchain)
            p.arguments = ["pipeline", "run", pipeline]
            var env = ProcessInfo.processInfo.environment
            for (k, v) in ws.token.environment { env[k] = v }
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(rng.next() % killWindow))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal { killed += 1 }
            // A kill inside SoftHSM's login can truncate its token.object (see saveTokenFiles).
            try ws.token.restoreTokenFiles(from: savedToken)
            let seen = FileIO.exists(ws.out + "/repository/metadata/1.root.json") ? try ws.pythonTUF() : nil
            if seen != nil {
                let inToto = try ws.inTotoVerify()
                try? FileManager.default.removeItem(atPath: ws.out + "/delivered.link")
                #expect(inToto.status == 0, "round \(round): in-toto-verify refused the custody after a kill: \(inToto.err.suffix(400))")
            }
            // Finish the round's run to learn what it makes: the kill must have left that or the last good release.
            let rerun = try runProcess(TestEnv.firmchain, ["pipeline", "run", pipeline], environment: ws.token.environment)
            #expect(rerun.status == (isRefused ? 2 : 0), "round \(round): re-run: \(rerun.err)")
            let made = try ws.pythonTUF()
            #expect(!isRefused || made == last, "round \(round): a refused run changed the release")
            if seen == last { keptOld += 1 } else if seen == made { madeNew += 1 } else {
                Issue.record("round \(round): after the kill python-tuf read \(seen.map { "\($0.count) targets" } ?? "no release") — neither the last good release nor the one the run makes")
            }
            #expect(!FileIO.exists(DirectoryStage.stagePath(of: ws.out)), "round \(round): a finished run left its stage beside the release")
            last = made
        }
        #expect(killed > 5 && keptOld > 5 && madeNew > 2, "kills landed too rarely before or after the exchange (killed \(killed), old kept \(keptOld), new made \(madeNew)); the test proved little")
        let inToto = try ws.inTotoVerify()
        #expect(inToto.status == 0, "after the kills and re-runs, in-toto-verify must accept the custody: \(inToto.err.suffix(600))")
    }
}

@Suite("the demo release (Pipelines/release.yml under Policies/release.yml)", .serialized)
struct DemoReleaseTests {
    @Test("python-tuf consumes the demo release from 1.root.json and in-toto-verify accepts its custody with keys/owner.pub.pem")
    func demoRelease() throws {
        // The committed example files, run as `make demo` runs them, in a scratch copy of the
        // repository layout with its own token labelled as the policy expects.
        let dir = try TemporaryDirectory("demo-release")
        let token = try SoftHSMToken(label: "firmchain-demo")
        for label in ["root", "root-2", "root-3"] { try token.generate("ed25519", label: label) }
        for label in ["targets", "snapshot", "timestamp", "owner", "build"] { try token.generate("ecdsa-p256", label: label) }
        for label in ["hw-class-a", "hw-class-b"] {
            let r = try runProcess(TestEnv.firmchain, ["keys", "generate", "--token", "pkcs11:token=firmchain-demo", "--type", "ecdsa-p256",
                                                       "--usage", "key-agreement", "--label", label], environment: token.environment)
            try #require(r.status == 0, "\(r.err)")
        }
        try FileManager.default.createDirectory(atPath: dir.file(".firmchain/demo/keys"), withIntermediateDirectories: true)
        try AtomicFile.write((0..<32).map { _ in UInt8.random(in: 0...255) }, to: dir.file(".firmchain/demo/keys/fleet-acme.kek"), mode: 0o600)
        for sub in ["Pipelines", "Policies"] {
            try FileManager.default.createDirectory(atPath: dir.file(sub), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestEnv.packageRoot.appendingPathComponent("\(sub)/release.yml").path, toPath: dir.file("\(sub)/release.yml"))
        }
        let gen = try runProcess("python3", [TestEnv.packageRoot.appendingPathComponent("Scripts/make-sample-firmware.py").path,
                                             dir.file(".firmchain/demo/images"), "--size-kib", "256"])
        try #require(gen.status == 0, "\(gen.err)")
        let run = try runProcess(TestEnv.firmchain, ["pipeline", "run", "Pipelines/release.yml"], environment: token.environment, currentDirectory: dir.path)
        try #require(run.status == 0, "\(run.err)")
        let out = dir.file(".firmchain/demo/release")

        let downloads = try TemporaryDirectory("dl")
        let client = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                     out + "/repository", out + "/repository/metadata/1.root.json", downloads.path])
        let answer = try JSONReader().parse(Array(client.out.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
        #expect(answer["ok"] == true, "\(client.out)")
        #expect(answer["targets"]?.objectValue?.count == 3)
        // Every target is ciphertext: hardware class A decrypts the image through the token.
        let image = try #require(answer["targets"]?["fw-1.2.0.bin"])
        let descriptor = try #require(image["custom"]?["firmware"]?["encryption"]?["descriptor"], "the image is released encrypted")
        try AtomicFile.write(try #require(descriptor["cose"]?.stringValue.flatMap { Base64.decode($0) }), to: downloads.file("fw.cose"))
        let decrypt = try runProcess(TestEnv.firmchain, ["decrypt", "--in", try #require(image["path"]?.stringValue), "--cose", downloads.file("fw.cose"),
                                                         "--key", "pkcs11:token=firmchain-demo;object=hw-class-a", "--out", downloads.file("fw.plain")],
                                     environment: token.environment)
        #expect(decrypt.status == 0, "\(decrypt.err)")
        #expect(try FileIO.read(downloads.file("fw.plain")) == (try FileIO.read(dir.file(".firmchain/demo/images/fw-1.2.0.bin"))))

        let tool = URL(fileURLWithPath: TestEnv.python).deletingLastPathComponent().appendingPathComponent("in-toto-verify").path
        let inToto = try runProcess(tool, ["--layout", "custody/root.layout", "--link-dir", "custody", "--verification-keys", "keys/owner.pub.pem"],
                                    currentDirectory: out)
        #expect(inToto.status == 0, "\(inToto.err.suffix(800))")
        try? FileManager.default.removeItem(atPath: out + "/delivered.link")

        // The third checker on the same release: firmchain verify, with the first root and the
        // owner key kept outside it and the example policy, passes every check (--strict).
        try FileManager.default.copyItem(atPath: out + "/repository/metadata/1.root.json", toPath: dir.file("trusted-1.root.json"))
        let owner = try runProcess(TestEnv.firmchain, ["keys", "export-public", "--key", "pkcs11:token=firmchain-demo;object=owner", "--out", dir.file("owner.pub.pem")],
                                   environment: token.environment)
        try #require(owner.status == 0, "\(owner.err)")
        let verify = try runProcess(TestEnv.firmchain, ["verify", "--release", out, "--trusted-root", dir.file("trusted-1.root.json"),
                                                        "--owner-key", dir.file("owner.pub.pem"), "--policy", "Policies/release.yml", "--strict"],
                                    environment: token.environment, currentDirectory: dir.path)
        #expect(verify.status == 0, "firmchain verify refused the example release: \(verify.out.suffix(1200)) \(verify.err)")
    }
}
