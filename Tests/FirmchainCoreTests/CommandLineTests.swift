import FirmchainCore
import Foundation
import Testing
import TestSupport

@Suite("The firmchain command line")
struct CommandLineTests {
    @Test("--version prints the version and --help lists only working commands with examples")
    func versionAndHelp() throws {
        let v = try runProcess(TestEnv.firmchain, ["--version"])
        #expect(v.status == 0)
        #expect(v.out.trimmingCharacters(in: .whitespacesAndNewlines) == Firmchain.version)
        let h = try runProcess(TestEnv.firmchain, ["--help"])
        #expect(h.status == 0)
        #expect(h.out.contains("Example:"))
        let leaves = ["hash", "json canonical", "delta create", "delta apply", "keys generate", "keys list", "keys export-public",
                      "sign", "repo init", "repo add-target", "repo publish", "repo show"]
        for sub in leaves {
            let r = try runProcess(TestEnv.firmchain, sub.split(separator: " ").map(String.init) + ["--help"])
            #expect(r.status == 0 && r.out.contains("Example:"), "\(sub) --help has no example")
        }
    }

    @Test("errors are one line naming the file, with the documented exit code, and JSON with --json")
    func errors() throws {
        let missing = try runProcess(TestEnv.firmchain, ["hash", "/nonexistent/fw.bin"])
        #expect(missing.status == 66)
        #expect(missing.err == "firmchain: error: /nonexistent/fw.bin: no such file [io.not-found]\n")
        let json = try runProcess(TestEnv.firmchain, ["--json", "hash", "/nonexistent/fw.bin"])
        #expect(json.status == 66)
        let doc = try JSONReader().parse(Array(json.stderr))
        #expect(doc["error"]?["code"] == "io.not-found")
        #expect(doc["error"]?["exit_code"] == 66)
        let usage = try runProcess(TestEnv.firmchain, ["hash"])
        #expect(usage.status == 64)
        #expect(!usage.err.contains("Stack") && !usage.err.contains("Fatal error"))
    }

    @Test("a failed command leaves no partial output file")
    func failedCommandLeavesNoOutput() throws {
        let tmp = try TemporaryDirectory()
        let input = tmp.file("meta.json")
        try Data(#"{"signed": {"version": 1.5}}"#.utf8).write(to: URL(fileURLWithPath: input))
        let r = try runProcess(TestEnv.firmchain, ["json", "canonical", input, "--out", tmp.file("out.json")])
        #expect(r.status == 65)
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["meta.json"])
    }

    @Test("hash --json reports every requested digest and the length")
    func hashJSON() throws {
        let tmp = try TemporaryDirectory()
        let f = tmp.file("fw.bin")
        try Data("firmware".utf8).write(to: URL(fileURLWithPath: f))
        let r = try runProcess(TestEnv.firmchain, ["hash", "--json", "--algorithm", "sha256", "--algorithm", "sha512", f])
        #expect(r.status == 0)
        let doc = try JSONReader().parse(Array(r.stdout))
        let file = doc["files"]?.arrayValue?.first
        #expect(file?["length"] == 8)
        #expect(file?["hashes"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(Array("firmware".utf8)))
        #expect(file?["hashes"]?["sha512"]?.stringValue?.count == 128)
    }
}
