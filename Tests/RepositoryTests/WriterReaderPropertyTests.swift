import FirmchainCore
import Foundation
import Repository
import Testing
import TestSupport

/// One generated set of writer inputs: edge values and junk mixed with ordinary ones.
private struct Inputs: CustomStringConvertible {
    var rootDays, targetsDays, snapshotDays, timestampHours: Int
    var name, version, hardware, priority: String
    var versionNumber: String

    var description: String {
        "expiry \(rootDays)/\(targetsDays)/\(snapshotDays)d \(timestampHours)h, name \(name.debugDescription), version \(version.debugDescription), "
            + "version_number \(versionNumber), hardware \(hardware.debugDescription), priority \(priority.debugDescription)"
    }

    /// Values a writer may well accept (bounds, unicode, quotes, long strings); then, every
    /// other time, one field replaced by junk it must refuse or read back all the same.
    static func generate(_ rng: inout SeededGenerator) -> Inputs {
        func pick<T>(_ options: [T]) -> T { options[Int(rng.next() % UInt64(options.count))] }
        func within(_ max: Int) -> Int { pick([1, max, Int(rng.next() % UInt64(max)) + 1]) }
        func text(_ alphabet: [String], _ length: Int) -> String { (0..<length).map { _ in pick(alphabet) }.joined() }
        let plain = "abcdefghijklmnopqrstuvwxyz0123456789".map(String.init)
        let odd = plain + ["-", "_", ".", " ", "é", "€", "\\", "\"", "%2e", "🚀", "+", ":", "'", "<", "&"]
        // (No NUL: an argument cannot hold one, so no writer ever sees it.)
        let junk = odd + ["/", "..", "\u{7}", "\n", "\u{1B}", "\u{202E}", "%", "?", "#"]
        var x = Inputs(rootDays: within(36_500), targetsDays: within(36_500), snapshotDays: within(36_500), timestampHours: within(876_000),
                       name: pick(["fw.bin", text(plain, 12) + ".bin", text(odd, Int(rng.next() % 24) + 1), "a/b/" + text(plain, 5)]),
                       version: pick(["1.0.0", text(odd, Int(rng.next() % 16) + 1), String(repeating: "9", count: 200)]),
                       hardware: pick(["acme-gw-v2", text(odd, Int(rng.next() % 12) + 1)]),
                       priority: pick(["critical", "high", "medium", "low"]),
                       versionNumber: pick(["1", "9223372036854775807", "\(rng.next() % 1_000_000_000 + 1)"]))
        switch rng.next() % 12 {
        case 0: x.rootDays = pick([0, -1, 36_501, Int(rng.next() % 1_000_000_000)])
        case 1: x.timestampHours = pick([0, -1, 876_001, Int(rng.next() % 1_000_000_000)])
        case 2: x.name = pick([text(junk, Int(rng.next() % 24) + 1), "", "../x", "/abs", String(repeating: "x", count: 300)])
        case 3: x.version = pick(["", text(junk, 8)])
        case 4: x.hardware = pick(["", text(junk, 8)])
        case 5: x.priority = text(plain, 5)
        case 6: x.versionNumber = pick(["0", "-1", "9223372036854775808", "1e3", "0x10", ""])
        default: break
        }
        return x
    }
}

@Suite("What a writer accepts, every reader reads back (issue 18, item 9)", .serialized)
struct WriterReaderPropertyTests {
    @Test("60 generated sets of repo init / add-target / publish inputs: each is refused with one line and a documented exit, or python-tuf and Firmchain's verifier read back exactly what was written")
    func acceptedMeansReadable() throws {
        let tmp = try TemporaryDirectory("writer-reader")
        var keys = [String: String]()
        for role in ["root", "targets", "snapshot", "timestamp"] {
            keys[role] = tmp.file("\(role).pem")
            try #require(try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ed25519", "--out", keys[role]!]).status == 0)
        }
        let image = tmp.file("image.bin")
        try AtomicFile.write([UInt8](repeating: 0x5A, count: 4096), to: image)
        var rng = SeededGenerator(seed: 918)
        var accepted = 0, refused = 0
        for round in 0..<60 {
            let x = Inputs.generate(&rng)
            let out = tmp.file("OUT-\(round)")
            var steps = [(String, [String])]()
            steps.append(("repo init", ["repo", "init", "--out", out, "--root-key", keys["root"]!, "--targets-key", keys["targets"]!,
                                        "--snapshot-key", keys["snapshot"]!, "--timestamp-key", keys["timestamp"]!,
                                        "--root-expiry-days", "\(x.rootDays)", "--targets-expiry-days", "\(x.targetsDays)",
                                        "--snapshot-expiry-days", "\(x.snapshotDays)", "--timestamp-expiry-hours", "\(x.timestampHours)"]))
            steps.append(("repo add-target", ["repo", "add-target", "--out", out, "--file", image, "--name", x.name, "--version", x.version,
                                              "--version-number", x.versionNumber, "--hardware-id", x.hardware, "--priority", x.priority]))
            steps.append(("repo publish", ["repo", "publish", "--out", out, "--key", keys["targets"]!, "--key", keys["snapshot"]!, "--key", keys["timestamp"]!,
                                           "--targets-expiry-days", "\(x.targetsDays)", "--snapshot-expiry-days", "\(x.snapshotDays)",
                                           "--timestamp-expiry-hours", "\(x.timestampHours)"]))
            var refusedBy: String?
            for (what, args) in steps {
                let r = try runProcess(TestEnv.firmchain, args)
                if r.status != 0 {
                    // A refusal: one line naming a documented code, a documented exit, no crash.
                    #expect([2, 64, 65].contains(r.status), "round \(round) \(x): \(what) exited \(r.status): \(r.err)")
                    #expect(r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("firmchain: error: "), "round \(round) \(x): \(what): \(r.err)")
                    refusedBy = what
                    break
                }
            }
            if refusedBy != nil {
                refused += 1
                continue
            }
            accepted += 1
            // Accepted: both readers read back what was written, byte for byte where it is text.
            let downloads = try TemporaryDirectory("dl")
            let client = try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path,
                                                         out + "/repository", out + "/repository/metadata/1.root.json", downloads.path])
            let answer = try JSONReader().parse(Array(client.out.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
            #expect(answer["ok"] == true, "round \(round) \(x): python-tuf refused what Firmchain wrote: \(client.out)")
            let firmware = answer["targets"]?[x.name]?["custom"]?["firmware"]
            #expect(firmware?["version"]?.stringValue == x.version, "round \(round) \(x): python-tuf read version \((firmware?["version"]?.stringValue ?? "").unicodeScalars.map(\.value)) for \(x.version.unicodeScalars.map(\.value))")
            #expect(firmware?["version_number"] == .int(Int64(x.versionNumber) ?? -999), "round \(round) \(x)")
            #expect(firmware?["hardware_ids"] == .array([.string(x.hardware)]), "round \(round) \(x): \(String(describing: firmware?["hardware_ids"]))")
            let v = RepositoryVerifier(store: RepositoryStore(directory: out), now: Date())
                .verify(trustedRoot: try FileIO.read(out + "/repository/metadata/1.root.json"))
            #expect(v.passed, "round \(round) \(x): Firmchain's verifier refused what Firmchain wrote: \(v.report.failures.map(\.reason))")
            #expect(v.allTargets[x.name] != nil, "round \(round) \(x)")
        }
        // The generator must exercise both outcomes, or the property proved little.
        #expect(accepted >= 4 && refused >= 4, "accepted \(accepted), refused \(refused)")
    }
}
