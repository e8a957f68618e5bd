import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport

/// Regression tests for issue 18, item 1 (a re-run blesses planted files): a run verifies the
/// release it extends before it signs anything, and refuses one that does not verify.
@Suite("A release is only extended after it verifies", .serialized)
struct ExtendOnlyVerifiedTests {

    static func rerun(_ b: ReleaseBuilder.Built) throws -> PipelineResult {
        try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: b.now))
    }

    static func expectRefused(_ b: ReleaseBuilder.Built, mentioning words: String) throws {
        let before = try TestEnv.fileDigests(under: b.release.path)
        #expect {
            _ = try rerun(b)
        } throws: { e in
            guard let e = e as? FirmchainError else { return false }
            return e.code == .pipelineReleaseUnverified && e.reason.contains(words)
        }
        #expect(try TestEnv.fileDigests(under: b.release.path) == before, "a refused run changes nothing")
    }

    @Test("a target planted into the signed targets metadata is refused, not re-signed")
    func plantedTargetInMetadata() throws {
        let dir = try TemporaryDirectory("extend-planted")
        let b = try ReleaseBuilder(directory: dir.path).build()
        let path = b.release.repository.metadataDirectory + "/1.targets.json"
        var md = try Metadata<Targets>(bytes: try FileIO.read(path))
        md.signed.targets["evil.bin"] = TargetFile(length: 4, hashes: ["sha256": String(repeating: "ab", count: 32)])
        try AtomicFile.write(md.fileBytes(), to: path)
        try Self.expectRefused(b, mentioning: "repo.")
    }

    @Test("a repository replaced wholesale by one that chains to other keys is refused")
    func replacedRepository() throws {
        let a = try ReleaseBuilder(directory: try TemporaryDirectory("extend-a").path).build()
        let other = try ReleaseBuilder(directory: try TemporaryDirectory("extend-b").path).build()
        let repo = a.release.path + "/repository"
        try FileManager.default.removeItem(atPath: repo)
        try FileManager.default.copyItem(atPath: other.release.path + "/repository", toPath: repo)
        try Self.expectRefused(a, mentioning: "keys than the policy")
    }

    @Test("a deleted target copy is refused")
    func deletedTargetCopy() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-copy").path).build()
        let targets = b.release.repository.targetsDirectory
        let copy = try #require(try FileManager.default.contentsOfDirectory(atPath: targets).first { $0.hasSuffix(".fw.bin") })
        try FileManager.default.removeItem(atPath: targets + "/" + copy)
        try Self.expectRefused(b, mentioning: "repo.target")
    }

    @Test("a planted patch vouched for by an edited, no longer signed delta link is not reused")
    func plantedPatchNotReused() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-patch").path).build()
        let out = b.release.path
        let patch = out + "/build/deltas/fw.bin.from-1.0.0.bsdiff"
        let good = try FileIO.read(patch)
        let planted = Array(good.prefix(good.count / 2)) + Array(repeating: 0x41, count: good.count - good.count / 2)
        try AtomicFile.write(planted, to: patch)
        // Rewrite the delta link's payload to name the planted patch (its signature no longer covers it).
        let linkFile = try #require(b.release.custody.linkFileNames().first { $0.hasPrefix("delta.") })
        var text = String(decoding: try FileIO.read(b.release.custody.directory + "/" + linkFile), as: UTF8.self)
        let envelope = try DSSEEnvelope(json: try JSONReader().parse(Array(text.utf8)))
        let payload = String(decoding: envelope.payload, as: UTF8.self)
            .replacingOccurrences(of: DigestCalculator.sha256Hex(good), with: DigestCalculator.sha256Hex(planted))
        text = String(decoding: DSSEEnvelope(payload: Array(payload.utf8), payloadType: envelope.payloadType, signatures: envelope.signatures).fileBytes, as: UTF8.self)
        try AtomicFile.write(Array(text.utf8), to: b.release.custody.directory + "/" + linkFile)

        let r = try Self.rerun(b)
        #expect(r.steps.first?.summary.contains("made") == true, "the delta is made again: \(r.steps.first?.summary ?? "")")
        #expect(try FileIO.read(patch) == good, "the planted patch was replaced by the real one")
        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: b.now).verify(out: out)
        #expect(custody.report.passed, "\(custody.report.failures.map(\.id))")
    }

    /// Releases the next version (1.3.0, version number 4) of `b` with a new image, through the runner.
    static func releaseNext(_ b: ReleaseBuilder.Built) throws -> PipelineResult {
        try b.prepareNextVersion()
        return try rerun(b)
    }

    @Test("a file planted in repository/targets that no signed target lists is refused, naming it (issue 18, item 1)",
          arguments: ["evil.bin", "deltas/0000.fw.bin.from-0.9.0.bsdiff", "extra-dir/readme.txt"])
    func plantedUnlistedTarget(_ name: String) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-unlisted").path).build()
        let path = b.release.repository.targetsDirectory + "/" + name
        try FileIO.makeDirectories((path as NSString).deletingLastPathComponent)
        try AtomicFile.write(Array("planted".utf8), to: path)
        try Self.expectRefused(b, mentioning: "repository/targets/\(name) (no trusted target lists it)")
    }

    @Test("a symbolic link planted in repository/targets is refused, even one pointing at a real copy")
    func plantedSymlink() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-link").path).build()
        let targets = b.release.repository.targetsDirectory
        let copy = try #require(try FileManager.default.contentsOfDirectory(atPath: targets).first { $0.hasSuffix(".fw.bin") })
        try FileManager.default.createSymbolicLink(atPath: targets + "/link.fw.bin", withDestinationPath: targets + "/" + copy)
        try Self.expectRefused(b, mentioning: "repository/targets/link.fw.bin (a symbolic link)")
    }

    @Test("a public key planted in keys/ is refused: an unknown name, and a known name holding a stranger's key",
          arguments: ["attacker.pub.pem", "targets-2.pub.pem", "owner-2.pub.pem"])
    func plantedKey(_ name: String) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-key").path).build()
        let stranger = try SoftwareSigner(generating: .ed25519, description: "stranger")
        try AtomicFile.write(Array(stranger.publicKey.pem.utf8), to: b.release.keysDirectory + "/" + name)
        try Self.expectRefused(b, mentioning: "keys/\(name)")
    }

    @Test("a metadata file planted beside the signed ones is refused: an unknown role, a future version, a future root",
          arguments: ["9.targets.json", "1.evil.json", "5.root.json", "notes.txt"])
    func plantedMetadata(_ name: String) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-meta").path).build()
        let metadata = b.release.repository.metadataDirectory
        try AtomicFile.write(try FileIO.read(metadata + "/1.targets.json"), to: metadata + "/" + name)
        try Self.expectRefused(b, mentioning: "repository/metadata/\(name)")
    }

    @Test("after a second release the earlier metadata versions are history the next run accepts, and a forged earlier version is refused")
    func historicMetadata() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-history").path).build()
        let second = try Self.releaseNext(b)
        #expect(second.changed && second.targetsVersion == 2, "\(second.steps)")
        #expect(!(try Self.rerun(b)).changed, "a re-run accepts the history and changes nothing")
        // 1.targets.json is history now: edit it so that its signature no longer covers it.
        let path = b.release.repository.metadataDirectory + "/1.targets.json"
        var md = try Metadata<Targets>(bytes: try FileIO.read(path))
        md.signed.targets["evil.bin"] = TargetFile(length: 4, hashes: ["sha256": String(repeating: "ab", count: 32)])
        try AtomicFile.write(md.fileBytes(), to: path)
        try Self.expectRefused(b, mentioning: "repository/metadata/1.targets.json (an earlier targets version that no trusted targets keys signed)")
    }

    @Test("after a second release an earlier release's image copy whose bytes were replaced is refused")
    func historicCopyReplaced() throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("extend-history-copy").path).build()
        let firstImage = try #require(b.result.targets.first { $0.kind == .full })
        _ = try Self.releaseNext(b)
        let copy = b.release.repository.targetPath(name: firstImage.name, hash: firstImage.sha256)
        var bytes = try FileIO.read(copy)
        bytes[bytes.count / 2] ^= 0x01
        try AtomicFile.write(bytes, to: copy)
        let shown = String(copy.dropFirst(b.release.path.count + 1))
        try Self.expectRefused(b, mentioning: "\(shown) (a copy of an earlier release's target whose length or hashes differ from its listing)")
    }

    @Test("a step after a step that commits the release is refused when the pipeline is loaded")
    func nothingAfterCommit() throws {
        #expect {
            try PipelineSpec(yaml: """
                schema: 1
                name: t
                policy: p.yml
                output: out
                release: {image: fw.bin, version: "1", version_number: 1, hardware: [hw]}
                steps:
                  - manifest:
                  - sign:
                  - publish:
                  - delta:
                """, path: "late.yml")
        } throws: { e in
            (e as? FirmchainError)?.reason.contains("line 10: step delta cannot follow publish") == true
        }
        #expect(throws: FirmchainError.self) {
            // publish needs the metadata this run signs: without sign it is refused at load.
            try PipelineSpec(yaml: "schema: 1\nname: t\npolicy: p.yml\noutput: out\nrelease: {image: fw.bin, version: \"1\", version_number: 1, hardware: [hw]}\nsteps:\n  - manifest:\n  - publish:\n", path: "nosign.yml")
        }
    }

    @Test("a run refused for a rollback, a missing key or a missing functionary changes no file of the release (issue 18, item 2)",
          arguments: ["rollback", "missing key", "missing functionary", "dry run"])
    func refusedRunChangesNothing(_ kind: String) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("refused-\(kind.replacingOccurrences(of: " ", with: "-"))").path).build()
        var pipeline = String(decoding: try FileIO.read(b.pipeline), as: UTF8.self)
        var policy = String(decoding: try FileIO.read(b.policy), as: UTF8.self)
        switch kind {
        case "rollback":
            // Another image under a lower version number: refused before a delta is made.
            let image = try #require(pipeline.split(separator: "\n").first { $0.contains("image: ") && !$0.contains("{") })
                .replacingOccurrences(of: "image: ", with: "").trimmingCharacters(in: .whitespaces)
            try AtomicFile.write(Array("a different image".utf8) + (try FileIO.read(image)), to: image)
            pipeline = pipeline.replacingOccurrences(of: "version_number: 3", with: "version_number: 1")
        case "missing key":
            try FileManager.default.removeItem(atPath: b.keyFiles["snapshot"]!)
        case "missing functionary":
            policy = policy.split(separator: "\n").filter { !$0.hasPrefix("  manifest:") }.joined(separator: "\n")
        default: break
        }
        try AtomicFile.write(Array(pipeline.utf8), to: b.pipeline)
        try AtomicFile.write(Array(policy.utf8), to: b.policy)
        let before = try TestEnv.fileDigests(under: b.release.path)
        let runner = PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
        if kind == "dry run" {
            #expect(try runner.plan(RunOptions(signerOptions: SignerOptions(), now: b.now)).map(\.step) == ["delta", "manifest", "sign", "publish"])
        } else {
            #expect(throws: FirmchainError.self) { _ = try runner.run(RunOptions(signerOptions: SignerOptions(), now: b.now)) }
        }
        #expect(try TestEnv.fileDigests(under: b.release.path) == before, "\(kind): the release is as it was")
    }

    @Test("a run near or past the timestamp's expiry re-signs it although nothing else changed, and the release verifies afterwards (issue 18, item 10)",
          arguments: [23.0, 30.0])
    func refreshesExpiringMetadata(_ hours: Double) throws {
        let b = try ReleaseBuilder(directory: try TemporaryDirectory("refresh").path).build()
        let later = b.now.addingTimeInterval(hours * 3600)
        // Right after the release nothing is due.
        #expect(!(try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: b.now.addingTimeInterval(60)))).changed)
        let r = try PipelineRunner(spec: try PipelineSpec(contentsOf: b.pipeline), policy: try Policy(contentsOf: b.policy))
            .run(RunOptions(signerOptions: SignerOptions(), now: later))
        #expect(r.changed && r.timestampVersion == 2, "\(r.steps)")
        let tuf = RepositoryVerifier(store: b.release.repository, now: later).verify(trustedRoot: b.trustedRoot)
        #expect(tuf.passed, "\(tuf.report.failures)")
        let custody = CustodyVerifier(ownerKeys: [b.ownerKey], now: later).verify(out: b.release.path)
        #expect(custody.report.passedStrictly, "\(custody.report.failures.map(\.id))")
    }
}
