import FirmchainCore
import Foundation
import Pipeline
import Release
import Testing
import TestSupport

/// Issue 18, done-when: generated deep, wide and long documents, binary junk, empty, oversized
/// and cut files, FIFOs and directories fed to every kind of file the tool reads, through the
/// command line as a user would. Each is refused without a crash or a hang: a documented exit
/// code, and either one error line naming a documented code whose exit number is that code, or
/// (for the verifying commands) a report that fails.
@Suite("Hostile files of every kind the tool reads are refused cleanly", .serialized)
struct HostileFilesTests {
    /// `code → exit` from Docs/exit-codes.md.
    static let documented: [String: Int32] = {
        let text = (try? String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Docs/exit-codes.md"), encoding: .utf8)) ?? ""
        var out = [String: Int32]()
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, let n = Int32(cells[1]) else { continue }
            out[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = n
        }
        return out
    }()

    /// The junk, by name: bytes to write, or a FIFO / a directory / a sparse oversized file.
    enum Junk: CaseIterable {
        case empty, binary, longLine, deepJSON, wideJSON, cutJSON, nulBytes, fifo, directory, oversized

        func make(at path: String) throws {
            try? FileManager.default.removeItem(atPath: path)
            switch self {
            case .fifo:
                guard mkfifo(path, 0o600) == 0 else { throw TestSetupError("mkfifo \(path)") }
            case .directory:
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            case .oversized:
                // 3 GiB, sparse: larger than every read limit, cheap to make.
                FileManager.default.createFile(atPath: path, contents: nil)
                let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try h.truncate(atOffset: 3 << 30)
                try h.close()
            default:
                try AtomicFile.write(bytes, to: path)
            }
        }

        var bytes: [UInt8] {
            switch self {
            case .empty: return []
            case .binary:
                var g = SeededGenerator(seed: 0xF1A5)
                return g.bytes(64 << 10)
            case .longLine: return Array(repeating: UInt8(ascii: "a"), count: 2 << 20)
            case .deepJSON: return Array(String(repeating: "[", count: 200_000).utf8)
            case .wideJSON: return Array(("{" + (0..<150_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}").utf8)
            case .cutJSON: return Array("{\"signed\": {\"_type\": \"targets\", \"version\": 1, \"targets\": {\"a\": {\"length\"".utf8)
            case .nulBytes: return Array(repeating: 0, count: 4096)
            default: return []
            }
        }
    }

    /// One way a file reaches the tool: where it goes and the command that reads it.
    struct Kind: Sendable, CustomStringConvertible {
        let description: String
        /// The path of the hostile file, relative to the case's directory (under `OUT/` for the
        /// files a release holds).
        let path: String
        /// Whether the command verifies and may answer with a failing report instead of an error line.
        var verifies = false
        /// Only what cannot be valid content for the kind (any bytes are an image or a file to hash).
        var onlyNonFiles = false
        /// Junk that is valid input for this kind (a wide JSON object is JSON; 3 GiB can be hashed).
        var valid: [Junk] = []
        let arguments: @Sendable (_ dir: String, _ b: ReleaseBuilder.Built) -> [String]
    }

    static let kinds: [Kind] = [
        Kind(description: "a BSDIFF40 patch (delta apply)", path: "junk.patch") { d, b in
            ["delta", "apply", "--old", d + "/fw-1.0.0.bin", "--patch", d + "/junk.patch", "--out", d + "/new.bin"]
        },
        Kind(description: "an old image (delta create)", path: "junk.old", onlyNonFiles: true) { d, _ in
            ["delta", "create", "--old", d + "/junk.old", "--new", d + "/fw-1.0.0.bin", "--out", d + "/x.patch"]
        },
        Kind(description: "a JSON document (json canonical)", path: "junk.json", valid: [.wideJSON]) { d, _ in ["json", "canonical", d + "/junk.json"] },
        Kind(description: "a file to hash", path: "junk.bin", onlyNonFiles: true, valid: [.oversized]) { d, _ in ["hash", d + "/junk.bin"] },
        Kind(description: "a key proposal (keys show)", path: "junk.proposal") { d, _ in ["keys", "show", d + "/junk.proposal"] },
        Kind(description: "a PEM private key (sign)", path: "junk.key.pem") { d, _ in
            ["sign", "--key", d + "/junk.key.pem", "--in", d + "/fw-1.0.0.bin", "--out", d + "/sig"]
        },
        Kind(description: "a PEM public key (verify --owner-key)", path: "junk.pub.pem") { d, b in
            ["verify", "--release", b.release.path, "--trusted-root", b.release.repository.metadataDirectory + "/1.root.json", "--owner-key", d + "/junk.pub.pem"]
        },
        Kind(description: "a device state (verify --previous)", path: "junk.state") { d, b in
            ["verify", "--release", b.release.path, "--trusted-root", b.release.repository.metadataDirectory + "/1.root.json",
             "--owner-key", b.release.path + "/keys/owner.pub.pem", "--previous", d + "/junk.state"]
        },
        Kind(description: "a trusted root (verify --trusted-root)", path: "junk.root.json", verifies: true) { d, b in
            ["verify", "--release", b.release.path, "--trusted-root", d + "/junk.root.json", "--owner-key", b.release.path + "/keys/owner.pub.pem"]
        },
        Kind(description: "a COSE structure (decrypt --cose)", path: "junk.cose") { d, _ in
            ["decrypt", "--in", d + "/fw-1.0.0.bin", "--cose", d + "/junk.cose", "--key", "kek:" + d + "/group.kek", "--out", d + "/plain.bin"]
        },
        Kind(description: "a key-encryption key (encrypt --recipient kek:)", path: "junk.kek") { d, _ in
            ["encrypt", "--in", d + "/fw-1.0.0.bin", "--recipient", "kek:" + d + "/junk.kek", "--out", d + "/enc.bin"]
        },
        Kind(description: "the release's timestamp.json", path: "OUT/repository/metadata/timestamp.json", verifies: true) { d, b in
            ["repo", "show", "--out", b.release.path, "--trusted-root", d + "/trusted.root.json"]
        },
        Kind(description: "the release's targets metadata", path: "OUT/repository/metadata/1.targets.json", verifies: true) { d, b in
            ["repo", "show", "--out", b.release.path, "--trusted-root", d + "/trusted.root.json"]
        },
        Kind(description: "the release's revocation list", path: "OUT/keys/revocations.json", verifies: true) { d, b in
            ["verify", "--release", b.release.path, "--trusted-root", d + "/trusted.root.json", "--owner-key", d + "/owner.pub.pem"]
        },
        Kind(description: "the in-toto layout", path: "OUT/custody/root.layout", verifies: true) { d, b in
            ["custody", "verify", b.release.path, "--owner-key", d + "/owner.pub.pem"]
        },
        Kind(description: "the delta step's link", path: "OUT/custody/delta.*.link", verifies: true) { d, b in
            ["custody", "verify", b.release.path, "--owner-key", d + "/owner.pub.pem"]
        },
        Kind(description: "the ledger", path: "OUT/custody/ledger.jsonl", verifies: true) { d, b in
            ["custody", "verify", b.release.path, "--owner-key", d + "/owner.pub.pem"]
        },
        Kind(description: "the provenance (firmchain verify)", path: "OUT/custody/provenance.intoto.jsonl", verifies: true) { d, b in
            ["verify", "--release", b.release.path, "--trusted-root", d + "/trusted.root.json", "--owner-key", d + "/owner.pub.pem"]
        },
        Kind(description: "a published release extended by a run (timestamp.json)", path: "OUT/repository/metadata/timestamp.json") { _, b in
            ["pipeline", "run", b.pipeline]
        },
    ]

    @Test("every kind of file, fed every kind of junk", arguments: kinds.indices)
    func hostile(_ index: Int) throws {
        let kind = Self.kinds[index]
        let dir = try TemporaryDirectory("hostile-files")
        let b = try ReleaseBuilder(directory: dir.path).build()
        // Trust anchors kept outside the release, as a device or auditor keeps them.
        try FileManager.default.copyItem(atPath: b.release.repository.metadataDirectory + "/1.root.json", toPath: dir.file("trusted.root.json"))
        try FileManager.default.copyItem(atPath: b.release.path + "/keys/owner.pub.pem", toPath: dir.file("owner.pub.pem"))
        try AtomicFile.write((0..<32).map { UInt8($0) }, to: dir.file("group.kek"), mode: 0o600)
        var path = kind.path
        if path.contains("*") {
            let prefix = String(path.split(separator: "/").last!.prefix { $0 != "*" })
            let name = try #require(try FileManager.default.contentsOfDirectory(atPath: b.release.custody.directory).first { $0.hasPrefix(prefix) && $0.hasSuffix(".link") })
            path = "OUT/custody/" + name
        }
        let target = dir.file(path)
        let original = FileIO.exists(target) ? try FileIO.read(target) : nil
        // The release's files but the hostile one (which may be a FIFO or 3 GiB).
        let skip = path.hasPrefix("OUT/") ? String(path.dropFirst(4)) : ""
        func digests() throws -> [String: String] {
            var out = [String: String]()
            for case let rel as String in FileManager.default.enumerator(atPath: b.release.path) ?? FileManager.DirectoryEnumerator()
            where rel != skip && !rel.hasPrefix("delivered") {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: b.release.path + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                    out[rel] = try DigestCalculator.file(b.release.path + "/" + rel).sha256
                }
            }
            return out
        }
        let before = try digests()
        var tried = 0
        for junk in Junk.allCases where (!kind.onlyNonFiles || [.fifo, .directory, .oversized].contains(junk)) && !kind.valid.contains(junk) {
            try junk.make(at: target)
            defer {
                try? FileManager.default.removeItem(atPath: target)
                if let original { try? AtomicFile.write(original, to: target) }
            }
            // A hang shows as exit 124 from timeout(1), a crash as a signal.
            let r = try runProcess("/usr/bin/timeout", ["60", TestEnv.firmchain] + kind.arguments(dir.path, b))
            let what = "\(kind) ← \(junk): exit \(r.status), stderr \(r.err.prefix(300))"
            tried += 1
            #expect(r.status != 0 && r.status != 124 && r.status < 128, "\(what)")
            let lines = r.err.split(separator: "\n")
            if kind.verifies && r.status == 1 && lines.isEmpty {
                #expect(r.out.contains("[FAIL]"), "a failing report names its failed check: \(what) \(r.out.suffix(300))")
            } else {
                #expect(lines.count == 1 && lines[0].hasPrefix("firmchain: error: "), "one error line: \(what)")
                let code = lines.first.flatMap { l in l.range(of: "[", options: .backwards).map { String(l[l.index(after: $0.lowerBound)...].dropLast()) } } ?? ""
                #expect(Self.documented[code] == r.status, "the code [\(code)] is documented with exit \(r.status): \(what)")
            }
            #expect(try digests() == before, "a refused command changes nothing in the release: \(what)")
        }
        #expect(tried == (kind.onlyNonFiles ? 3 : Junk.allCases.count) - kind.valid.count)
    }
}
