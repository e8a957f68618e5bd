import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

@Suite("TUF repository", .serialized)
struct RepositoryTests {
    @Test("python-tuf's ngclient refreshes the repository and downloads and verifies every target")
    func pythonTUFConsumesRepository() throws {
        let fx = try RepositoryFixture(now: Date())
        let answer = try fx.pythonTUF()
        try #require(answer["ok"] == true, "\(answer)")
        let targets = try #require(answer["targets"]?.objectValue)
        #expect(Set(targets.keys) == ["fw-1.2.0.bin", "deltas/fw-1.2.0-from-1.1.0.bsdiff"])
        let fw = try FirmwareInfo(custom: targets["deltas/fw-1.2.0-from-1.1.0.bsdiff"]?["custom"])
        #expect(fw?.kind == .delta)
        #expect(fw?.delta?.baseVersion == "1.1.0")
        #expect(try FirmwareInfo(custom: targets["fw-1.2.0.bin"]?["custom"])?.rollout?.soakHours == 24)
    }

    @Test("Firmchain's verifier passes every check on its own repository")
    func ownVerifierPasses() throws {
        let fx = try RepositoryFixture()
        let report = try fx.verify()
        #expect(report.passed, "\(report.report.failures)")
        #expect(report.report.checks.filter { $0.id == "repo.target" }.count == 2)
        #expect(report.targets?.version == 2)
    }

    @Test("signed bytes equal securesystemslib's encode_canonical for every metadata file")
    func signedBytesAreCanonical() throws {
        let fx = try RepositoryFixture()
        let files = try FileManager.default.contentsOfDirectory(atPath: fx.store.metadataDirectory).sorted().map { fx.store.metadataDirectory + "/" + $0 }
        #expect(files.count == 6)  // 1.root, 1+2 targets, 1+2 snapshot, timestamp
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/canonical_signed.py").path
        let r = try runProcess(TestEnv.python, [script] + files)
        try #require(r.status == 0, "\(r.err)")
        let expected = r.out.split(separator: "\n").map(String.init)
        for (file, hex) in zip(files, expected) {
            let bytes = try FileIO.read(file)
            let ours: [UInt8]
            switch file.split(separator: "/").last!.split(separator: ".").dropLast().last! {
            case "root": ours = try Metadata<Root>(bytes: bytes).signedBytes()
            case "targets": ours = try Metadata<Targets>(bytes: bytes).signedBytes()
            case "snapshot": ours = try Metadata<Snapshot>(bytes: bytes).signedBytes()
            default: ours = try Metadata<Timestamp>(bytes: bytes).signedBytes()
            }
            #expect(Hex.encode(ours) == hex, "\(file)")
        }
    }

    enum Tamper: String, CaseIterable, CustomTestStringConvertible {
        case flippedTargetByte = "a flipped target byte"
        case editedTargetsWithoutResigning = "an edited targets.json without re-signing"
        case expiredTimestamp = "an expired timestamp"
        case rolledBackSnapshot = "a rolled-back snapshot version"
        var testDescription: String { rawValue }
        /// The python-tuf exception each tamper must raise.
        var pythonError: String {
            switch self {
            case .flippedTargetByte: return "LengthOrHashMismatchError"
            case .editedTargetsWithoutResigning: return "UnsignedMetadataError"
            case .expiredTimestamp: return "ExpiredMetadataError"
            case .rolledBackSnapshot: return "BadVersionNumberError"
            }
        }
    }

    @Test("python-tuf and Firmchain's verifier both reject", arguments: Tamper.allCases)
    func tamperingIsRejected(_ tamper: Tamper) throws {
        let fx = try RepositoryFixture(now: Date())
        let state = try TemporaryDirectory("tuf-state")
        // The client first sees the good repository (it then remembers versions, for rollback).
        try #require(try fx.pythonTUF(state: state.path)["ok"] == true)
        var verifyAt = fx.now
        switch tamper {
        case .flippedTargetByte:
            let entry = try fx.store.current().targets.signed.targets["fw-1.2.0.bin"]!
            let path = fx.store.targetPath(name: "fw-1.2.0.bin", hash: entry.hashes["sha256"]!)
            var bytes = try FileIO.read(path)
            bytes[1000] ^= 0x01
            try AtomicFile.write(bytes, to: path)
        case .editedTargetsWithoutResigning:
            let path = fx.store.metadataDirectory + "/2.targets.json"
            let text = String(decoding: try FileIO.read(path), as: UTF8.self).replacingOccurrences(of: "\"high\"", with: "\"low\"")
            try AtomicFile.write(Array(text.utf8), to: path)
            // Keep snapshot and timestamp consistent with the edited file so only the signature is wrong.
            try resnapshot(fx, targetsBytes: Array(text.utf8))
        case .expiredTimestamp:
            // Re-sign a timestamp that expired an hour ago.
            let cur = try fx.store.current()
            var ts = Metadata(signed: Timestamp(common: CommonFields(version: cur.timestamp.signed.version + 1, expires: Date().addingTimeInterval(-3600)),
                                                snapshot: cur.timestamp.signed.snapshot))
            try ts.sign(with: [fx.signers["timestamp"]!], role: cur.root.signed.roles.timestamp, roleName: "timestamp")
            try AtomicFile.write(ts.fileBytes(), to: fx.store.metadataDirectory + "/timestamp.json")
            verifyAt = Date()
        case .rolledBackSnapshot:
            // A newer, validly signed timestamp that points back at snapshot version 1.
            let cur = try fx.store.current()
            let old = try FileIO.read(fx.store.metadataDirectory + "/1.snapshot.json")
            var ts = Metadata(signed: Timestamp(common: CommonFields(version: cur.timestamp.signed.version + 1, expires: Date().addingTimeInterval(86_400)),
                                                snapshot: MetaFile(version: 1, length: Int64(old.count), hashes: ["sha256": DigestCalculator.sha256Hex(old)])))
            try ts.sign(with: [fx.signers["timestamp"]!], role: cur.root.signed.roles.timestamp, roleName: "timestamp")
            try AtomicFile.write(ts.fileBytes(), to: fx.store.metadataDirectory + "/timestamp.json")
        }
        // Rollback needs the versions the client remembers; every other case is caught by a fresh client.
        let answer = try fx.pythonTUF(state: tamper == .rolledBackSnapshot ? state.path : nil)
        #expect(answer["ok"] == false, "python-tuf accepted \(tamper.rawValue)")
        #expect(answer["error"]?.stringValue == tamper.pythonError, "\(answer)")
        if tamper != .rolledBackSnapshot {
            // Firmchain's verifier starts from the trusted root alone; rollback needs remembered
            // versions, which the release verifier (with its previous release) checks.
            let report = try fx.verify(at: verifyAt)
            #expect(!report.passed, "Firmchain accepted \(tamper.rawValue)")
        }
    }

    /// Rewrites snapshot and timestamp (validly signed) around modified targets bytes.
    private func resnapshot(_ fx: RepositoryFixture, targetsBytes: [UInt8]) throws {
        let cur = try fx.store.current()
        var snap = cur.snapshot
        snap.signed.common.version += 1
        snap.signed.meta["targets.json"] = MetaFile(version: cur.targets.signed.version)
        try snap.sign(with: [fx.signers["snapshot"]!], role: cur.root.signed.roles.snapshot, roleName: "snapshot")
        let sBytes = snap.fileBytes()
        try AtomicFile.write(sBytes, to: fx.store.metadataDirectory + "/\(snap.signed.version).snapshot.json")
        var ts = cur.timestamp
        ts.signed.common.version += 1
        ts.signed.meta["snapshot.json"] = MetaFile(version: snap.signed.version, length: Int64(sBytes.count), hashes: ["sha256": DigestCalculator.sha256Hex(sBytes)])
        try ts.sign(with: [fx.signers["timestamp"]!], role: cur.root.signed.roles.timestamp, roleName: "timestamp")
        try AtomicFile.write(ts.fileBytes(), to: fx.store.metadataDirectory + "/timestamp.json")
    }

    @Test("Firmchain's verifier accepts repositories written by python-tuf's Metadata API", arguments: ["ed25519", "ecdsa"])
    func readsPythonTUFRepository(_ keytype: String) throws {
        let tmp = try TemporaryDirectory("pytuf")
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_write_repo.py").path
        let r = try runProcess(TestEnv.python, [script, tmp.path, keytype])
        try #require(r.status == 0, "\(r.err)")
        let store = RepositoryStore(directory: tmp.path)
        let report = try RepositoryVerifier(store: store, now: Date()).verify(trustedRoot: try FileIO.read(store.metadataDirectory + "/1.root.json"))
        #expect(report.passed, "\(report.report.failures)")
        #expect(report.targets?.targets["firmware.bin"]?.custom?["note"] == "written by python-tuf")
    }

    @Test("a publish without the targets key fails and leaves the last good repository untouched")
    func failedPublishLeavesRepository() throws {
        let fx = try RepositoryFixture()
        let before = try FileManager.default.contentsOfDirectory(atPath: fx.store.metadataDirectory).sorted()
        let timestamp = try FileIO.read(fx.store.metadataDirectory + "/timestamp.json")
        let withoutTargetsKey = fx.signers.filter { $0.key != "targets" }.map(\.value)
        let targetsKey = String(fx.signers["targets"]!.publicKey.keyid.prefix(8))
        #expect {
            try fx.store.publish(signers: withoutTargetsKey, expiry: ExpiryPolicy(), now: fx.now)
        } throws: { e in
            // The message names the role's keys, so the operator knows which key to bring.
            (e as? FirmchainError)?.code == .repoThresholdNotMet && (e as? FirmchainError)?.reason.contains("from its keys \(targetsKey)") == true
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: fx.store.metadataDirectory).sorted() == before)
        #expect(try FileIO.read(fx.store.metadataDirectory + "/timestamp.json") == timestamp)
        #expect(try fx.verify().passed)
    }

    @Test("unknown fields survive a read and re-encode")
    func unknownFieldsSurvive() throws {
        let fx = try RepositoryFixture()
        let path = fx.store.metadataDirectory + "/2.targets.json"
        var doc = try JSONReader().parse(try FileIO.read(path)).objectValue!
        var signed = doc["signed"]!.objectValue!
        signed["x-vendor"] = ["anything": [1, 2, 3]]
        doc["signed"] = .object(signed)
        let md = try Metadata<Targets>(bytes: JSONEncoding.standard(.object(doc)))
        #expect(md.signed.unrecognized["x-vendor"] == ["anything": [1, 2, 3]])
        #expect(try JSONReader().parse(md.fileBytes())["signed"]?["x-vendor"] == ["anything": [1, 2, 3]])
    }

    @Test("target names that escape the targets directory are refused", arguments: ["../evil", "/abs", "a/../b", "a//b", ""])
    func badTargetNames(_ name: String) {
        let error = #expect(throws: FirmchainError.self) { try RepositoryStore.validateTargetName(name) }
        #expect(error?.code == .repoBadTargetName && error?.category.exitCode == 64, "\(String(describing: error))")
    }

    @Test("repo init refuses a role without keys (repo.role-without-keys) and a threshold outside 1…keys (repo.bad-threshold), writing nothing",
          arguments: [("no timestamp key", 0, 1, ErrorCode.repoRoleWithoutKeys, "the timestamp role needs at least one key"),
                      ("threshold 2 of 1 key", 1, 2, .repoBadThreshold, "the timestamp threshold 2 must be between 1 and its 1 key(s)"),
                      ("threshold 0", 1, 0, .repoBadThreshold, "the timestamp threshold 0 must be between 1 and its 1 key(s)")])
    func initRefusesRoles(_ name: String, _ keys: Int, _ threshold: Int, _ code: ErrorCode, _ reason: String) throws {
        let dir = try TemporaryDirectory("firmchain-repo-init")
        let store = RepositoryStore(directory: dir.file("OUT"))
        let signer = try SoftwareSigner(generating: .ed25519)
        let roles = RoleTable<RoleAssignment> { role in
            role == .timestamp ? RoleAssignment(keys: Array(repeating: signer.publicKey, count: keys), threshold: threshold)
                               : RoleAssignment(keys: [signer.publicKey])
        }
        let error = #expect(throws: FirmchainError.self) {
            try store.initialize(roles: roles, signers: [signer], expiry: ExpiryPolicy(), now: RepositoryFixture.reference)
        }
        #expect(error?.code == code && error?.reason == reason, "\(name): \(String(describing: error))")
        #expect(!store.isInitialized && store.latestRootVersion() == 0)
    }

    @Test("only timestamp and snapshot are refreshed: asking for targets or root is usage.invalid, not a threshold error, and nothing is signed",
          arguments: [TopLevelRole.targets, .root])
    func refreshOtherRoles(_ role: TopLevelRole) throws {
        let fx = try RepositoryFixture()
        let before = try TestEnv.fileDigests(under: fx.store.metadataDirectory)
        let error = #expect(throws: FirmchainError.self) {
            try fx.store.refresh(role, signers: Array(fx.signers.values), expiry: ExpiryPolicy(), now: fx.now)
        }
        #expect(error?.code == .usageInvalid && error?.reason.hasPrefix("only the timestamp and snapshot roles are refreshed") == true, "\(String(describing: error))")
        #expect(try TestEnv.fileDigests(under: fx.store.metadataDirectory) == before)
    }

    @Test("a repository without 1.root.json is repo.not-initialized naming the metadata directory")
    func notInitialized() throws {
        let dir = try TemporaryDirectory("firmchain-repo-empty")
        let store = RepositoryStore(directory: dir.file("OUT"))
        try AtomicFile.write([1, 2, 3], to: dir.file("fw.bin"))
        let attempts: [() throws -> Void] = [{ _ = try store.current() },
                                             { _ = try store.addTarget(file: dir.file("fw.bin"), name: "fw.bin", custom: nil) }]
        for attempt in attempts {
            let error = #expect(throws: FirmchainError.self) { try attempt() }
            #expect(error?.code == .repoNotInitialized && error?.path == store.metadataDirectory && error?.category.exitCode == 66,
                    "\(String(describing: error))")
        }
    }

    @Test("custom.firmware of a newer schema is repo.unknown-firmware-schema; a wrong member type is repo.malformed-metadata")
    func firmwareFieldsRead() throws {
        let current = FirmwareInfo(version: "1.2.0", versionNumber: 10200, hardwareIDs: ["acme-gw-v2"], kind: .full).json
        var newer = current.objectValue!
        newer["schema"] = .int(FirmwareInfo.schemaVersion + 1)
        let error = #expect(throws: FirmchainError.self) { try FirmwareInfo(custom: [FirmwareInfo.customKey: .object(newer)]) }
        #expect(error?.code == .repoUnknownFirmwareSchema && error?.reason == "custom.firmware schema 2 is not supported", "\(String(describing: error))")
        var wrongKind = current.objectValue!
        wrongKind["kind"] = "partial"
        #expect(throws: FirmchainError(.repoMalformedMetadata, "")) { try FirmwareInfo(custom: [FirmwareInfo.customKey: .object(wrongKind)]) }
        #expect(try FirmwareInfo(custom: [FirmwareInfo.customKey: current])?.versionNumber == 10200)
    }

    @Test("metadata of another role or a broken member is repo.malformed-metadata naming the member")
    func malformedMetadata() throws {
        let fx = try RepositoryFixture()
        let root = try FileIO.read(fx.rootPath)
        let error = #expect(throws: FirmchainError.self) { try Metadata<Targets>(bytes: root) }
        #expect(error?.code == .repoMalformedMetadata && error?.reason == "_type is \"root\", expected \"targets\"", "\(String(describing: error))")
        let text = String(decoding: root, as: UTF8.self)
        let expires = try #require(text.range(of: #""expires": ?"[^"]+""#, options: .regularExpression))
        let broken = text.replacingCharacters(in: expires, with: #""expires": "next year""#)
        let e2 = #expect(throws: FirmchainError.self) { try Metadata<Root>(bytes: Array(broken.utf8)) }
        #expect(e2?.code == .repoMalformedMetadata && e2?.reason.contains("expires \"next year\"") == true, "\(String(describing: e2))")
    }

    /// Rewrites the file being hashed once hashing has read it all: a writer racing the add.
    struct RewriteWhenHashed: ProgressReporter {
        let path: String
        func report(phase: String, completed: Int64, total: Int64) {
            guard phase == "hashing", completed == total, let h = FileHandle(forWritingAtPath: path) else { return }
            h.write(Data(repeating: 0xEE, count: 16))
            try? h.close()
        }
    }

    @Test("a target file that changes between hashing and copying is repo.target-changed: nothing is staged and no copy is left")
    func targetChangedWhileAdded() throws {
        let fx = try RepositoryFixture()
        let file = fx.dir.file("fw-1.3.0.bin")
        try AtomicFile.write([UInt8](repeating: 0x13, count: 50_000), to: file)
        let targetsBefore = try FileManager.default.contentsOfDirectory(atPath: fx.store.targetsDirectory).sorted()
        let error = #expect(throws: FirmchainError.self) {
            try fx.store.addTarget(file: file, name: "fw-1.3.0.bin", custom: nil, progress: RewriteWhenHashed(path: file))
        }
        #expect(error?.code == .repoTargetChanged && error?.path == file && error?.category.exitCode == 74, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fx.store.targetsDirectory).sorted() == targetsBefore)
        #expect(try fx.store.stagedTargets().targets["fw-1.3.0.bin"] == nil)
    }
}
