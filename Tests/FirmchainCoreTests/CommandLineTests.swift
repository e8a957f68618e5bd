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

    @Test("every command's help reads whole at 80 columns: no paragraph broken by hand into a line and a stray word, no example command wrapped mid-argument")
    func helpWrapsCleanly() throws {
        // Every command, found from the SUBCOMMANDS lists of the help itself.
        var commands = [[String]()], i = 0
        var texts = [String: String]()
        while i < commands.count {
            let path = commands[i]
            i += 1
            let r = try runProcess(TestEnv.firmchain, path + ["--help"], environment: ["COLUMNS": "80"])
            #expect(r.status == 0, "\(path) --help failed")
            guard r.status == 0 else { continue }
            texts[path.joined(separator: " ")] = r.out
            guard let list = r.out.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { continue }
            for line in list.split(separator: "\n") where line.hasPrefix("  ") && !line.hasPrefix("   ") {
                // "  name   abstract", the name in lower case ("  See 'firmchain help …'" ends the list).
                guard let name = line.split(separator: " ").first, name.first?.isLowercase == true, name != "help" else { continue }
                commands.append(path + [String(name)])
            }
        }
        #expect(texts.count > 30, "found only \(texts.count) commands")
        for (name, text) in texts {
            let lines = text.components(separatedBy: "USAGE:")[0].components(separatedBy: "\n")
            for k in lines.indices.dropFirst() {
                let line = lines[k], before = lines[k - 1]
                // An example (indented) wrapped by the help formatter goes on at column 0.
                #expect(!(before.hasPrefix("  ") && !line.isEmpty && !line.hasPrefix(" ")), "firmchain \(name) --help: example wrapped: \(before) / \(line)")
                // A hand-broken paragraph: a full line, a stray short one, and the paragraph goes on.
                if k + 1 < lines.count, before.count >= 70, !line.isEmpty, line.count <= 30, !line.hasPrefix(" "),
                   !lines[k + 1].isEmpty, !lines[k + 1].hasPrefix(" "), !lines[k + 1].hasPrefix("Example") {
                    Issue.record("firmchain \(name) --help: a stray line: \(before) / \(line) / \(lines[k + 1])")
                }
            }
        }
    }

    @Test("shell completions as the README shows them: a script for bash, zsh and fish that knows the commands (issue 18, item 14)", arguments: ["bash", "zsh", "fish"])
    func completions(_ shell: String) throws {
        let readme = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("firmchain --generate-completion-script \(shell)"))
        let r = try runProcess(TestEnv.firmchain, ["--generate-completion-script", shell])
        #expect(r.status == 0, "\(r.err)")
        for word in ["pipeline", "add-target", "expect-sha256"] { #expect(r.out.contains(word), "the \(shell) script lacks \(word)") }
        if shell == "bash", TestEnv.hasTool("bash") {
            let dir = try TemporaryDirectory()
            let script = dir.file("firmchain.bash")
            try AtomicFile.write(Array(r.out.utf8), to: script)
            #expect(try runProcess("bash", ["-n", script]).status == 0, "bash cannot parse the script")
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

    @Test("a wrong command line is one error line with a usage code and exit 64, JSON under --json (help for no command too)", arguments: [
        (["hash"], "usage.invalid"),
        (["delta", "create", "--old", "x"], "usage.invalid"),
        (["--nosuch"], "usage.invalid"),
        (["repo", "add-target", "--out", "o", "--file", "f", "--version", "1", "--version-number", "1", "--hardware-id", "h", "--kind", "neither"], "usage.invalid"),
        (["help", "nosuch"], "usage.unknown-command"),
        (["help", "delta", "nosuch"], "usage.unknown-command"),
    ])
    func usageErrorsAreOneLine(_ args: [String], _ code: String) throws {
        let text = try runProcess(TestEnv.firmchain, args)
        #expect(text.status == 64, "\(args): \(text.err)")
        #expect(text.out.isEmpty)
        #expect(text.err.hasPrefix("firmchain: error: ") && text.err.hasSuffix(" [\(code)]\n") && text.err.split(separator: "\n").count == 1,
                "\(args): \(text.err)")
        let json = try runProcess(TestEnv.firmchain, ["--json"] + args)
        #expect(json.status == 64)
        let doc = try JSONReader().parse(Array(json.stderr))
        #expect(doc["error"]?["code"] == .string(code) && doc["error"]?["exit_code"] == 64, "\(args): \(json.err)")
        // Help itself still works and exits 0.
        #expect(try runProcess(TestEnv.firmchain, ["help", "delta", "create"]).status == 0)
    }

    @Test("a FIFO or a directory given as input is refused at once with io.not-a-file, never waited on", arguments: [
        ["hash", "INPUT"], ["json", "canonical", "INPUT"], ["delta", "apply", "--old", "INPUT", "--patch", "INPUT", "--out", "OUTPUT"],
        ["delta", "create", "--old", "INPUT", "--new", "INPUT", "--out", "OUTPUT"],
    ])
    func fifoRefused(_ template: [String]) throws {
        let tmp = try TemporaryDirectory()
        let fifo = tmp.file("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for input in [fifo, tmp.path] {
            let args = template.map { $0 == "INPUT" ? input : ($0 == "OUTPUT" ? tmp.file("out") : $0) }
            // `timeout` turns a hang into exit 124 instead of a stuck test run.
            let r = try runProcess("/usr/bin/timeout", ["20", TestEnv.firmchain] + args)
            #expect(r.status == 66 && r.err.contains("[io.not-a-file]"), "\(args): exit \(r.status) \(r.err)")
        }
    }

    @Test("hash --check-format prints what sha256sum -c and sha512sum -c check (issue 18, item 14)", arguments: ["sha256", "sha512"])
    func hashCheckFormat(_ algorithm: String) throws {
        let tmp = try TemporaryDirectory()
        try AtomicFile.write(Array("firmware".utf8), to: tmp.file("a.bin"))
        try AtomicFile.write([UInt8](repeating: 7, count: 3 << 20), to: tmp.file("b.bin"))
        let r = try runProcess(TestEnv.firmchain, ["hash", "--check-format", "--algorithm", algorithm, "a.bin", "b.bin"], currentDirectory: tmp.path)
        try #require(r.status == 0, "\(r.err)")
        try AtomicFile.write(Array(r.out.utf8), to: tmp.file("SUMS"))
        let check = try runProcess("\(algorithm)sum", ["-c", "SUMS"], currentDirectory: tmp.path)
        #expect(check.status == 0 && check.out.contains("a.bin: OK") && check.out.contains("b.bin: OK"), "\(check.out) \(check.err)")
    }

    @Test("a failed command leaves no partial output file")
    func failedCommandLeavesNoOutput() throws {
        let tmp = try TemporaryDirectory()
        let input = tmp.file("meta.json")
        try Data(#"{"signed": {"version": 1.5}}"#.utf8).write(to: URL(fileURLWithPath: input))
        let r = try runProcess(TestEnv.firmchain, ["json", "canonical", input, "--out", tmp.file("out.json")])
        #expect(r.status == 65)
        #expect(r.err == "firmchain: error: \(input): canonical JSON has no floats, found 1.5 [json.float-not-canonical]\n", "\(r.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["meta.json"])
    }

    /// One error line for `args`: exit `exit`, ending in `[code]`, naming `file` and `problem`.
    private func expectError(_ args: [String], exit: Int32, code: String, file: String, problem: String,
                             runner: (([String]) throws -> ProcessResult)? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try runner?(args) ?? runProcess(TestEnv.firmchain, args)
        #expect(r.status == exit, "\(args): exit \(r.status) \(r.err)", sourceLocation: sourceLocation)
        #expect(r.err.hasPrefix("firmchain: error: \(file): ") && r.err.hasSuffix(" [\(code)]\n") && r.err.contains(problem)
                && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)", sourceLocation: sourceLocation)
    }

    @Test("a symbolic-link loop given as input is io.failed (exit 74) naming the path and the reason")
    func symlinkLoop() throws {
        let tmp = try TemporaryDirectory()
        let loop = tmp.file("fw.bin")
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: "fw.bin")
        try expectError(["hash", loop], exit: 74, code: "io.failed", file: loop, problem: "cannot open: Too many levels of symbolic links")
    }

    @Test("an input the user may not read is io.permission-denied (exit 66); run as nobody when the tests run as root, who reads anything")
    func permissionDenied() throws {
        let tmp = try TemporaryDirectory()
        #expect(chmod(tmp.path, 0o755) == 0)
        let secret = tmp.file("fw.bin")
        try AtomicFile.write(Array("firmware".utf8), to: secret, mode: 0o000)
        try expectError(["hash", secret], exit: 66, code: "io.permission-denied", file: secret, problem: "permission denied", runner: { args in
            geteuid() == 0
                ? try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", TestEnv.firmchain] + args)
                : try runProcess(TestEnv.firmchain, args)
        })
    }

    @Test("a write that fails part way (file size limit: EFBIG, as a full disk fails with ENOSPC) is io.write-failed (exit 74) and leaves no output")
    func writeFails() throws {
        let tmp = try TemporaryDirectory()
        let input = tmp.file("big.json"), out = tmp.file("canonical.json")
        try AtomicFile.write(Array(("[" + (0..<20_000).map(String.init).joined(separator: ",") + "]").utf8), to: input)
        // SIGXFSZ ignored by the shell stays ignored across exec, so write(2) returns EFBIG.
        try expectError(["json", "canonical", input, "--out", out], exit: 74, code: "io.write-failed", file: out, problem: "write failed: File too large",
                        runner: { args in try runProcess("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\"", TestEnv.firmchain] + args) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path) == ["big.json"], "no output and no temporary file")
    }

    @Test("an input over its reader's limit is io.too-large (exit 65) naming the file and its size, without reading it")
    func inputTooLarge() throws {
        let tmp = try TemporaryDirectory()
        let input = tmp.file("metadata.json")
        // Sparse: 65 MiB of nothing, over json canonical's 64 MiB.
        try #require(FileManager.default.createFile(atPath: input, contents: nil))
        let h = try #require(FileHandle(forWritingAtPath: input))
        try h.truncate(atOffset: 65 << 20)
        try h.close()
        try expectError(["json", "canonical", input], exit: 65, code: "io.too-large", file: input, problem: "is 68157440 bytes, more than the limit of 67108864")
    }

    @Test("json canonical --field naming no top-level member is json.missing-field (exit 65) naming the file and the member")
    func missingField() throws {
        let tmp = try TemporaryDirectory()
        let input = tmp.file("root.json")
        try AtomicFile.write(Array(#"{"signatures": [], "signed": {"version": 1}}"#.utf8), to: input)
        try expectError(["json", "canonical", input, "--field", "signd"], exit: 65, code: "json.missing-field", file: input,
                        problem: "has no top-level member \"signd\"")
        #expect(try runProcess(TestEnv.firmchain, ["json", "canonical", input, "--field", "signed"]).out == #"{"version":1}"#)
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
