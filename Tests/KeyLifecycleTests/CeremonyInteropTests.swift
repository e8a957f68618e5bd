import FirmchainCore
import Foundation
import KeyLifecycle
import Release
import Repository
import Signing
import Testing
import TestSupport

@Suite("Key ceremonies against python-tuf, SoftHSM and the command line")
struct CeremonyInteropTests {
    /// python-tuf's ngclient, bootstrapped with 1.root.json, against OUT/repository.
    func pythonTUF(_ f: CeremonyFixture) throws -> JSONValue {
        let downloads = try TemporaryDirectory("tuf-downloads")
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/tuf_client.py").path
        let repo = f.release.path + "/repository"
        let r = try runProcess(TestEnv.python, [script, repo, repo + "/metadata/1.root.json", downloads.path])
        guard let line = r.out.split(separator: "\n").last else { throw TestSetupError("tuf_client.py printed nothing: \(r.err)") }
        return try JSONReader().parse(Array(line.utf8))
    }

    @Test("python-tuf follows three root rotations (one to SoftHSM keys, one an emergency after a compromise) and rejects a revoked key's metadata")
    func threeRotations() throws {
        let token = try SoftHSMTestToken.shared()
        let options = SignerOptions(pin: { _ in Secret(string: SoftHSMTestToken.pin) })
        let hsm = try #require(token.key("ecdsa-p256"))
        let hsmSigner = try Signers.open(hsm.uri, options: options)
        let f = try CeremonyFixture(rootKeys: 3, threshold: 2)

        // 1. A SoftHSM key joins the root in place of r3.
        var p = try f.rotate(RotationRequest(role: .root, add: [hsmSigner.publicKey], remove: [f.id("r3")]))
        try f.approve(&p, ["r1", "r2"])
        try KeyCeremony.approve(&p, signer: hsmSigner, now: f.now)
        _ = try f.apply(p)
        #expect(try pythonTUF(f)["root_version"] == .int(2))

        // 2. A routine rotation: r4 replaces r2, approved by r1 and the token key.
        f.now = f.now.addingTimeInterval(3600)
        p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")], remove: [f.id("r2")]))
        try f.approve(&p, ["r1", "r4"])
        try KeyCeremony.approve(&p, signer: hsmSigner, now: f.now)
        _ = try f.apply(p)
        #expect(try pythonTUF(f)["root_version"] == .int(3))

        // 3. Emergency: r1 is compromised; r5 replaces it; the timestamp key is replaced too.
        f.now = f.now.addingTimeInterval(3600)
        var e = try KeyCeremony.proposeRevocation(base: try f.base(), list: nil,
                                                 revocation: Revocation(keyid: f.id("r1"), reason: .compromised, time: f.now),
                                                 replacements: [f.pub("r5")], now: f.now).proposal
        #expect(throws: FirmchainError.self) { try KeyCeremony.approve(&e, signer: f.keys["r1"]!, now: f.now) }
        try f.approve(&e, ["r4", "r5"])
        try KeyCeremony.approve(&e, signer: hsmSigner, now: f.now)
        _ = try f.apply(e)
        var t = try KeyCeremony.proposeRevocation(base: try f.base(), list: try f.verifies().revocationList?.signed,
                                                 revocation: Revocation(keyid: f.id("ts"), reason: .superseded, time: f.now),
                                                 replacements: [f.pub("ts2")], now: f.now).proposal
        try f.approve(&t, ["r4", "r5"])
        _ = try f.apply(t)

        let good = try pythonTUF(f)
        #expect(good["ok"] == .bool(true), "\(good)")
        #expect(good["root_version"] == .int(5))
        #expect(good["targets"]?["fw.bin"] != nil)
        let ours = try f.verifies()
        #expect(ours.passed, "\(ours.report.failures)")
        #expect(Set(ours.revocations.map(\.keyid)) == [f.id("r1"), f.id("ts")])

        // A timestamp signed only by the rotated-out, revoked key: both clients refuse it.
        try f.resignTimestampOnly(with: "ts")
        let bad = try pythonTUF(f)
        #expect(bad["ok"] == .bool(false))
        #expect(bad["error"] == .string("UnsignedMetadataError"), "\(bad)")
        #expect(try f.verifies().report.failures.map(\.id) == ["repo.timestamp.signatures"])
    }

    @Test("two officers approving the same proposal file at the same moment lose neither approval; one approval of two is refused on apply")
    func concurrentApprovals() throws {
        let f = try CeremonyFixture(rootKeys: 3, threshold: 2)
        let dir = try TemporaryDirectory("officers")
        for n in ["r1", "r2", "r4"] {
            try AtomicFile.write(Array(try (f.keys[n] as! SoftwareSigner).privateKeyPEM(encryptedWith: nil).utf8), to: dir.file("\(n).pem"), mode: 0o600)
        }
        try AtomicFile.write(Array(f.pub("r4").pem.utf8), to: dir.file("r4.pub.pem"))
        let proposal = dir.file("p.json")
        let made = try runProcess(TestEnv.firmchain, ["keys", "rotate", "--repo", f.release.path, "--role", "root", "--add", dir.file("r4.pub.pem"),
                                                      "--out", proposal])
        #expect(made.status == 0, "\(made.err)")

        let one = try runProcess(TestEnv.firmchain, ["keys", "approve", proposal, "--key", dir.file("r1.pem")])
        #expect(one.status == 0, "\(one.err)")
        let before = try f.files()
        let refused = try runProcess(TestEnv.firmchain, ["keys", "apply", proposal, "--repo", f.release.path])
        #expect(refused.status == 1)
        #expect(refused.err.contains("not enough approvals, nothing was published") && refused.err.contains("[keys.approvals-missing]"), "\(refused.err)")
        #expect(try f.files() == before)

        // r2 and r4 at once, ten times over on fresh copies: both approvals always land.
        for round in 0..<10 {
            let copy = dir.file("p\(round).json")
            try FileManager.default.copyItem(atPath: proposal, toPath: copy)
            let group = DispatchGroup()
            let results = LockedBox<[Int32]>([])
            for n in ["r2", "r4"] {
                group.enter()
                DispatchQueue.global().async {
                    let r = try? runProcess(TestEnv.firmchain, ["keys", "approve", copy, "--key", dir.file("\(n).pem")])
                    results.mutate { $0.append(r?.status ?? -1) }
                    group.leave()
                }
            }
            group.wait()
            #expect(results.value == [0, 0])
            let p = try KeyProposal.read(copy)
            #expect(Set(p.approvals.map(\.keyid)) == [f.id("r1"), f.id("r2"), f.id("r4")], "round \(round)")
        }
        let applied = try runProcess(TestEnv.firmchain, ["keys", "apply", dir.file("p0.json"), "--repo", f.release.path, "--json"])
        #expect(applied.status == 0, "\(applied.err)")
        #expect(try JSONReader().parse(Array(applied.stdout))["root_version"] == .int(2))
        let status = try runProcess(TestEnv.firmchain, ["keys", "status", "--repo", f.release.path, "--json"])
        #expect(status.status == 0, "\(status.err)")
        #expect(try JSONReader().parse(Array(status.stdout))["root_version"] == .int(2))
    }
}

/// A value behind a lock, for test threads.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
