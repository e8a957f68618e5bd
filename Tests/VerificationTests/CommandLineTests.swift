import Custody
import FirmchainCore
import Foundation
import Pipeline
import Repository
import Signing
import Testing
import TestSupport
import Verification

@Suite("firmchain verify on a release the real pipeline wrote to disk")
struct VerifyCommandTests {
    /// A release on disk with its trust anchors kept outside it, as a device or auditor keeps them.
    struct Anchors {
        let fx: Fixture
        let root: String, owner: String, bases: [String]

        init() throws {
            let fx = try Fixture("verify-cli")
            self.fx = fx
            root = fx.directory.file("trusted-1.root.json")
            owner = fx.directory.file("trusted-owner.pub.pem")
            try AtomicFile.write(fx.built.trustedRoot, to: root)
            try AtomicFile.write(Array(fx.built.ownerKey.pem.utf8), to: owner)
            bases = (0..<2).map { fx.directory.file("fw-1.\($0).0.bin") }
        }

        var at: String { UTCTimestamp.string(from: fx.built.now) }

        func arguments(_ out: String) -> [String] {
            ["verify", "--release", out, "--trusted-root", root, "--owner-key", owner, "--policy", fx.built.policy, "--at", at, "--json"]
                + bases.flatMap { ["--base", $0] }
        }

        /// A copy of the release to tamper with.
        func copy(_ name: String) throws -> String {
            let dest = fx.directory.file(name)
            let r = try runProcess("/bin/cp", ["-a", fx.built.release.path, dest])
            #expect(r.status == 0)
            return dest
        }
    }

    static func failedIDs(_ r: ProcessResult) throws -> Set<String> {
        let doc = try JSONReader().parse(Array(r.stdout))
        return Set((doc["checks"]?.arrayValue ?? []).filter { $0["status"]?.stringValue == "failed" }.compactMap { $0["id"]?.stringValue })
    }

    @Test("the good release verifies (exit 0), --save-state writes what a device remembers, and --previous reads it back")
    func goodRelease() throws {
        let a = try Anchors()
        let state = a.fx.directory.file("state.json")
        let r = try runProcess(TestEnv.firmchain, a.arguments(a.fx.built.release.path) + ["--strict", "--save-state", state])
        #expect(r.status == 0, "\(r.out.suffix(3000)) \(r.err)")
        let doc = try JSONReader().parse(Array(r.stdout))
        #expect(doc["passed"] == true && doc["anchored"] == true)
        let saved = try DeviceState(bytes: try FileIO.read(state), path: state)
        #expect(saved.released == ["fw.bin": 3] && saved.versions.timestamp == 1)
        let again = try runProcess(TestEnv.firmchain, a.arguments(a.fx.built.release.path) + ["--previous", state])
        #expect(again.status == 0, "\(again.out.suffix(2000))")
        // The text form: trust lines, one line per check, a verdict.
        let text = try runProcess(TestEnv.firmchain, a.arguments(a.fx.built.release.path).filter { $0 != "--json" })
        #expect(text.status == 0)
        #expect(text.out.contains("trust: trusted root \(a.root)") && text.out.contains("[ok  ] release.repository.unlisted"))
        #expect(text.out.contains("verified:"))
    }

    @Test("tampered copies on disk exit 1 with the expected check failed, and write no state")
    func tamperedOnDisk() throws {
        let a = try Anchors()
        let cases: [(String, Set<String>, (String) throws -> Void)] = [
            ("a hash-named copy deleted", ["repo.target"], { out in
                let copy = try FileManager.default.contentsOfDirectory(atPath: out + "/repository/targets").sorted().first { $0.hasSuffix(".fw.bin") }!
                try FileManager.default.removeItem(atPath: out + "/repository/targets/" + copy)
            }),
            ("a file planted in repository/targets", ["release.repository.unlisted"], { out in
                try AtomicFile.write(Array("evil".utf8), to: out + "/repository/targets/evil.bin")
            }),
            ("a symbolic link planted in repository/targets", ["release.repository.unlisted"], { out in
                try FileManager.default.createSymbolicLink(atPath: out + "/repository/targets/link.bin", withDestinationPath: "/etc/passwd")
            }),
            ("an extra link", ["custody.links.exact"], { out in
                try AtomicFile.write(Array("{}".utf8), to: out + "/custody/extra.00000000.link")
            }),
            ("the provenance deleted", ["custody.provenance.present"], { out in
                try FileManager.default.removeItem(atPath: out + "/custody/provenance.intoto.jsonl")
            }),
            ("an entry appended to the ledger after its checkpoint", ["custody.ledger.sealed"], { out in
                _ = try CustodyStore(out: out).ledger.append(LedgerRecord(action: "step.sign", actor: "someone"), now: Date())
            }),
            ("the owner key replaced and the layout re-signed inside the release", ["custody.layout.signatures", "release.keys"], { out in
                let attacker = try SoftwareSigner(generating: .ed25519)
                let layout = try SignedLayout(file: out + "/custody/root.layout").layout
                try AtomicFile.write(try layout.signed(by: [attacker]).fileBytes, to: out + "/custody/root.layout")
                try AtomicFile.write(Array(attacker.publicKey.pem.utf8), to: out + "/keys/owner.pub.pem")
            }),
        ]
        for (i, (name, expected, mutate)) in cases.enumerated() {
            let out = try a.copy("tampered-\(i)")
            try mutate(out)
            let state = a.fx.directory.file("state-\(i).json")
            let r = try runProcess(TestEnv.firmchain, a.arguments(out) + ["--save-state", state])
            #expect(r.status == 1, "\(name): exit \(r.status) \(r.err)")
            let failed = try Self.failedIDs(r)
            #expect(expected.isSubset(of: failed), "\(name): failed \(failed.sorted())")
            #expect(!FileIO.exists(state), "\(name): a state was written for a release that did not verify")
        }
    }

    @Test("a stale reference time fails on expiry; a wrong --at is a usage error; a missing trusted root is not found")
    func errors() throws {
        let a = try Anchors()
        var args = a.arguments(a.fx.built.release.path)
        args[args.firstIndex(of: "--at")! + 1] = UTCTimestamp.string(from: a.fx.built.now.addingTimeInterval(2 * 86_400))
        let stale = try runProcess(TestEnv.firmchain, args)
        let staleFailed = try Self.failedIDs(stale)
        #expect(stale.status == 1 && staleFailed.contains("repo.timestamp.expiry"))
        args[args.firstIndex(of: "--at")! + 1] = "yesterday"
        #expect(try runProcess(TestEnv.firmchain, args).status == 64)
        let missing = try runProcess(TestEnv.firmchain, ["verify", "--release", a.fx.built.release.path, "--trusted-root", a.fx.directory.file("nope.json")])
        #expect(missing.status == 66, "\(missing.err)")
    }
}
