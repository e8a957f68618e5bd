import FirmchainCore
import Foundation
import KeyLifecycle
import Release
import Repository
import Signing
import Testing
import TestSupport

/// A release with software keys: a root of `rootKeys` keys and `threshold`, one key each for
/// targets, snapshot and timestamp, one target, published once.
final class CeremonyFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let release: ReleaseDirectory
    var keys: [String: any Signer] = [:]
    var now = Date(timeIntervalSince1970: 1_800_000_000)

    init(rootKeys: Int = 3, threshold: Int = 2, rootSigners: [String: any Signer] = [:]) throws {
        dir = try TemporaryDirectory("firmchain-keys")
        release = ReleaseDirectory(dir.file("OUT"))
        for name in ["r1", "r2", "r3", "r4", "r5", "t", "t2", "s", "ts", "ts2", "x"] {
            keys[name] = try SoftwareSigner(generating: name.hasPrefix("t") ? .ecdsaP256 : .ed25519, description: name)
        }
        for (k, v) in rootSigners { keys[k] = v }
        let roots = (1...rootKeys).map { keys["r\($0)"]! }
        _ = try release.repository.initialize(
            roles: RoleTable(root: RoleAssignment(keys: roots.map(\.publicKey), threshold: threshold),
                             targets: RoleAssignment(keys: [keys["t"]!.publicKey]), snapshot: RoleAssignment(keys: [keys["s"]!.publicKey]),
                             timestamp: RoleAssignment(keys: [keys["ts"]!.publicKey])),
            signers: roots + [keys["t"]!, keys["s"]!, keys["ts"]!], expiry: ExpiryPolicy(), now: now)
        let image = dir.file("fw.bin")
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: image))
        _ = try release.repository.addTarget(file: image, name: "fw.bin", custom: nil)
        try release.repository.publish(signers: [keys["t"]!, keys["s"]!, keys["ts"]!], expiry: ExpiryPolicy(), now: now)
    }

    func id(_ name: String) -> String { keys[name]!.publicKey.keyid }
    func pub(_ name: String) -> PublicKey { keys[name]!.publicKey }
    var online: [any Signer] { ["t", "t2", "s", "ts", "ts2"].map { keys[$0]! } }

    /// The newest root's file.
    func base() throws -> [UInt8] {
        let s = release.repository
        return try FileIO.read(s.metadataDirectory + "/\(s.latestRootVersion()).root.json")
    }

    func rotate(_ request: RotationRequest, rules: KeyRules = KeyRules()) throws -> KeyProposal {
        try KeyCeremony.proposeRotation(base: try base(), request: request, rules: rules, now: now).proposal
    }

    func approve(_ p: inout KeyProposal, _ names: [String]) throws {
        for n in names { try KeyCeremony.approve(&p, signer: keys[n]!, now: now) }
    }

    func apply(_ p: KeyProposal, signers: [any Signer]? = nil, rules: KeyRules = KeyRules(), at time: Date? = nil) throws -> AppliedCeremony {
        try KeyCeremony.apply(p, to: release, signers: signers ?? online, rules: rules, now: time ?? now)
    }

    /// Every file under OUT with its digest: a refused ceremony must leave it unchanged.
    func files() throws -> [String: String] { try TestEnv.fileDigests(under: release.path) }

    /// Replaces `timestamp.json` with the next version signed by `name`'s key alone (a key that
    /// should no longer count).
    func resignTimestampOnly(with name: String) throws {
        let path = release.repository.metadataDirectory + "/timestamp.json"
        var ts = try Metadata<Timestamp>(bytes: try FileIO.read(path))
        ts.signed.common.version += 1
        ts.signatures = []
        try ts.addSignature(by: keys[name]!, role: RoleKeys(keyids: [id(name)], threshold: 1), as: .tuf("timestamp"), ring: KeyRing(), at: now)
        try AtomicFile.write(ts.fileBytes(), to: path)
    }

    func verifies(at time: Date? = nil) throws -> ReleaseRepositoryVerification {
        try release.verifyRepository(now: time ?? now)
    }
}

/// What a row expects.
enum Outcome: Sendable {
    case published
    case refused(ErrorCode)
}

/// One named case of the key-rotation table (python-tuf's `test_updater_key_rotations.py` style).
struct RotationCase: Sendable, CustomStringConvertible {
    let description: String
    let rootKeys: Int
    let threshold: Int
    let run: @Sendable (CeremonyFixture) throws -> Void
    let expect: Outcome
}

private let force = KeyRules(allowUnrecoverableRoot: true)

let rotationCases: [RotationCase] = [
    RotationCase(description: "a 2-of-3 root renewal keeps every key, extends the expiry and verifies after the old root expired", rootKeys: 3, threshold: 2, run: { f in
        let old = try Metadata<Root>(bytes: try f.base()).signed
        f.now = old.expires.addingTimeInterval(3600)  // the root has expired: its renewal is still a ceremony
        var p = try f.rotate(RotationRequest(role: .root, renew: true))
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        let new = try Metadata<Root>(bytes: try f.base()).signed
        // Timestamp and snapshot expired too (a pipeline run re-signs them); the root chain verifies.
        let roots = try f.verifies().report.checks.filter { $0.id.hasPrefix("repo.root") }
        guard new.roles == old.roles, new.expires > f.now, new.version == old.version + 1, !roots.isEmpty,
              roots.allSatisfy({ $0.status == .passed }) else { throw TestSetupError("the renewed root is not what was asked: \(roots)") }
    }, expect: .published),
    RotationCase(description: "a root renewal approved by one officer of a 2-of-3 root is refused", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, renew: true))
        try f.approve(&p, ["r1"])
        _ = try f.apply(p)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "a rotation that changes nothing and renews nothing is refused", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "1-of-1 root rotation fails when not signed by the old key", rootKeys: 1, threshold: 1, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r2")], remove: [f.id("r1")]), rules: force)
        try f.approve(&p, ["r2"])
        _ = try f.apply(p, rules: force)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "1-of-1 root rotation fails when not signed by the new key", rootKeys: 1, threshold: 1, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r2")], remove: [f.id("r1")]), rules: force)
        try f.approve(&p, ["r1"])
        _ = try f.apply(p, rules: force)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "1-of-1 root rotation succeeds signed by the old and the new key", rootKeys: 1, threshold: 1, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r2")], remove: [f.id("r1")]), rules: force)
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p, rules: force)
    }, expect: .published),
    RotationCase(description: "1-of-1 root rotation is refused without --force-unrecoverable", rootKeys: 1, threshold: 1, run: { f in
        _ = try f.rotate(RotationRequest(role: .root, add: [f.pub("r2")], remove: [f.id("r1")]))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "2-of-3 with one new key succeeds", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")], remove: [f.id("r3")]))
        try f.approve(&p, ["r1", "r2", "r4"])
        _ = try f.apply(p)
    }, expect: .published),
    RotationCase(description: "2-of-3 with one old and one new approval fails the old threshold", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")], remove: [f.id("r3")]))
        try f.approve(&p, ["r1", "r4"])
        _ = try f.apply(p)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "approval by a removed key does not count toward the new root", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")], remove: [f.id("r3")]))
        try f.approve(&p, ["r1", "r3"])
        _ = try f.apply(p)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "approval by a key outside both roots is refused", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["x"])
    }, expect: .refused(.keysNotAnOfficer)),
    RotationCase(description: "a targets key cannot approve a root change", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["t"])
    }, expect: .refused(.keysNotAnOfficer)),
    RotationCase(description: "a threshold larger than the key count is refused", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root, threshold: 4))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "a root threshold equal to its key count is refused by default", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root, threshold: 3))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "a root threshold equal to its key count passes with --force-unrecoverable", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, threshold: 3), rules: force)
        try f.approve(&p, ["r1", "r2", "r3"])
        _ = try f.apply(p, rules: force)
    }, expect: .published),
    RotationCase(description: "a key whose algorithm the policy forbids is refused", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]), rules: KeyRules(allowedAlgorithms: [.ecdsaP256SHA256]))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "removing a key the role does not hold is refused", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root, remove: [f.id("t")]))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "a rotation that changes nothing is refused", rootKeys: 3, threshold: 2, run: { f in
        _ = try f.rotate(RotationRequest(role: .root))
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "a proposal past its expiry is refused", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1", "r2", "r4"])
        _ = try f.apply(p, at: p.expires.addingTimeInterval(1))
    }, expect: .refused(.keysStaleProposal)),
    RotationCase(description: "a proposal made against a root that is no longer the latest is refused", rootKeys: 3, threshold: 2, run: { f in
        var a = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        var b = try f.rotate(RotationRequest(role: .root, add: [f.pub("r5")]))
        try f.approve(&a, ["r1", "r2", "r4"])
        try f.approve(&b, ["r1", "r2", "r5"])
        _ = try f.apply(a)
        _ = try f.apply(b)
    }, expect: .refused(.keysStaleProposal)),
    RotationCase(description: "a proposal edited after an approval is refused at the next approval", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1"])
        p.root.signed.common.expires = p.root.signed.expires.addingTimeInterval(86_400 * 365)
        try f.approve(&p, ["r2"])
    }, expect: .refused(.keysApprovalInvalid)),
    RotationCase(description: "a proposal edited after its approvals is refused at apply", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1", "r2", "r4"])
        p.changes.append("nothing to see here")
        _ = try f.apply(p)
    }, expect: .refused(.keysApprovalInvalid)),
    RotationCase(description: "an approval copied from another proposal does not count", rootKeys: 3, threshold: 2, run: { f in
        var a = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        var b = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")], threshold: 1))
        try f.approve(&a, ["r1", "r2"])
        try f.approve(&b, ["r1", "r4"])
        b.approvals += a.approvals.filter { $0.keyid == f.id("r2") }
        b.root.signatures += a.root.signatures.filter { $0.keyid == f.id("r2") }
        _ = try f.apply(b)
    }, expect: .refused(.keysApprovalInvalid)),
    RotationCase(description: "one officer approving twice still counts once", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1", "r1", "r4"])
        _ = try f.apply(p)
    }, expect: .refused(.keysApprovalsMissing)),
    RotationCase(description: "a targets rotation re-signs targets, snapshot and timestamp under the new root", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .targets, add: [f.pub("t2")], remove: [f.id("t")]))
        try f.approve(&p, ["r1", "r2"])
        let r = try f.apply(p)
        try #require(r.resigned != nil)
        let v = try f.verifies()
        #expect(v.passed, "\(v.report.failures)")
        #expect(v.repository.trusted?.targets?.signatures.map(\.keyid) == [f.id("t2")])
    }, expect: .published),
    RotationCase(description: "a targets rotation without the new targets key writes nothing", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .targets, add: [f.pub("t2")], remove: [f.id("t")]))
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p, signers: [f.keys["t"]!, f.keys["s"]!, f.keys["ts"]!])
    }, expect: .refused(.repoThresholdNotMet)),
    RotationCase(description: "an overlap window keeps the old timestamp key valid until it closes", rootKeys: 3, threshold: 2, run: { f in
        let until = f.now.addingTimeInterval(10 * 86_400)
        var p = try f.rotate(RotationRequest(role: .timestamp, add: [f.pub("ts2")], remove: [f.id("ts")], overlapUntil: until))
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        let ring = p.root.signed.keyRing()
        #expect(ring.trust(f.id("ts"), for: .tuf("timestamp"), at: f.now).isTrusted)
        #expect(ring.trust(f.id("ts"), for: .tuf("timestamp"), at: until) == .outsideWindow)
        #expect(p.root.signed.roles.timestamp.keyids.contains(f.id("ts")), "python-tuf still sees the old key in the window")
    }, expect: .published),
    RotationCase(description: "closing a window before it ends is refused", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .timestamp, add: [f.pub("ts2")], remove: [f.id("ts")], overlapUntil: f.now.addingTimeInterval(86_400)))
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        _ = try KeyCeremony.proposeWindowClose(base: try f.base(), now: f.now)
    }, expect: .refused(.keysRefusedChange)),
    RotationCase(description: "closing a window after it ends removes the old key", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .timestamp, add: [f.pub("ts2")], remove: [f.id("ts")], overlapUntil: f.now.addingTimeInterval(86_400)))
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        f.now = f.now.addingTimeInterval(2 * 86_400)
        var c = try KeyCeremony.proposeWindowClose(base: try f.base(), now: f.now).proposal
        try f.approve(&c, ["r1", "r2"])
        _ = try f.apply(c)
        #expect(try f.verifies().repository.root?.roles.timestamp.keyids == [f.id("ts2")])
    }, expect: .published),
    RotationCase(description: "a compromised revocation removes the key from every role and its approval does not count", rootKeys: 3, threshold: 2, run: { f in
        var p = try KeyCeremony.proposeRevocation(base: try f.base(), list: nil, revocation: Revocation(keyid: f.id("r3"), reason: .compromised, time: f.now),
                                                 replacements: [f.pub("r4")], now: f.now).proposal
        #expect(throws: FirmchainError.self) { try f.approve(&p, ["r3"]) }
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        let v = try f.verifies()
        #expect(v.passed, "\(v.report.failures)")
        #expect(v.revocations.map(\.keyid) == [f.id("r3")])
        #expect(v.repository.root?.keys[f.id("r3")] == nil)
    }, expect: .published),
    RotationCase(description: "metadata signed only by a revoked timestamp key is rejected", rootKeys: 3, threshold: 2, run: { f in
        var p = try KeyCeremony.proposeRevocation(base: try f.base(), list: nil, revocation: Revocation(keyid: f.id("ts"), reason: .superseded, time: f.now),
                                                 replacements: [f.pub("ts2")], now: f.now).proposal
        try f.approve(&p, ["r1", "r2"])
        _ = try f.apply(p)
        try f.resignTimestampOnly(with: "ts")
        let v = try f.verifies()
        #expect(v.report.failures.map(\.id) == ["repo.timestamp.signatures"])
    }, expect: .published),
    RotationCase(description: "an older signed revocation list planted in OUT is refused", rootKeys: 3, threshold: 2, run: { f in
        var a = try KeyCeremony.proposeRevocation(base: try f.base(), list: nil, revocation: Revocation(keyid: f.id("x"), reason: .retired, time: f.now),
                                                 now: f.now).proposal
        try f.approve(&a, ["r1", "r2"])
        _ = try f.apply(a)
        let first = try FileIO.read(f.release.revocationsPath)
        var b = try KeyCeremony.proposeRevocation(base: try f.base(), list: try f.verifies().revocationList?.signed,
                                                 revocation: Revocation(keyid: f.id("r3"), reason: .compromised, time: f.now),
                                                 replacements: [f.pub("r4")], now: f.now).proposal
        try f.approve(&b, ["r1", "r2"])
        _ = try f.apply(b)
        #expect(try f.verifies().passed)
        try AtomicFile.write(first, to: f.release.revocationsPath)  // v1 still carries valid root signatures
        let v = try f.verifies()
        #expect(v.report.failures.map(\.id) == ["keys.revocations"], "\(v.report.failures)")
    }, expect: .published),
    RotationCase(description: "the same proposal applied twice writes nothing the second time", rootKeys: 3, threshold: 2, run: { f in
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1", "r2", "r4"])
        _ = try f.apply(p)
        let before = try f.files()
        let again = try f.apply(p)
        #expect(again.alreadyApplied)
        #expect(try f.files() == before)
    }, expect: .published),
]

@Suite("Key ceremonies")
struct CeremonyTests {
    @Test("rotation table", arguments: rotationCases)
    func rotation(_ row: RotationCase) throws {
        let f = try CeremonyFixture(rootKeys: row.rootKeys, threshold: row.threshold)
        let before = try f.files()
        switch row.expect {
        case .published:
            try row.run(f)
            #expect(f.release.repository.latestRootVersion() >= 2, "nothing was published")
        case .refused(let code):
            do {
                try row.run(f)
                Issue.record("\(row): expected \(code.id), but it went through")
            } catch let e as FirmchainError {
                #expect(e.code == code, "\(row): \(e)")
                // A refusal before apply's first write leaves the release as it was (rows that
                // applied an earlier proposal first are compared with their own state).
                if f.release.repository.latestRootVersion() == 1 { #expect(try f.files() == before, "\(row): a refused ceremony changed OUT") }
            }
        }
    }

    @Test("a ceremony on a release that does not verify (a timestamp signed by a stranger) is keys.release-unverified naming the check, and writes nothing")
    func releaseUnverified() throws {
        let f = try CeremonyFixture()
        var p = try f.rotate(RotationRequest(role: .root, renew: true))
        try f.approve(&p, ["r1", "r2"])
        try f.resignTimestampOnly(with: "x")
        let before = try f.files()
        let error = #expect(throws: FirmchainError.self) { try f.apply(p) }
        #expect(error?.code == .keysReleaseUnverified && error?.path == f.release.path && error?.category.exitCode == 1, "\(String(describing: error))")
        #expect(error?.reason.hasPrefix("the release does not verify (repo.") == true && error?.reason.hasSuffix("no ceremony may extend it") == true,
                "\(String(describing: error))")
        #expect(try f.files() == before)
        #expect(throws: FirmchainError(.keysReleaseUnverified, "")) { try KeyStatus.of(f.release, now: f.now) }
    }

    @Test("the table has at least 20 named rows")
    func tableSize() { #expect(rotationCases.count >= 20) }

    @Test("a refused apply says how many signatures of which role are missing and writes nothing")
    func refusalMessage() throws {
        let f = try CeremonyFixture()
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1"])
        let before = try f.files()
        do {
            _ = try f.apply(p)
            Issue.record("applied with one of two approvals")
        } catch let e as FirmchainError {
            #expect(e.code == .keysApprovalsMissing)
            #expect(e.reason.contains("root v2 by the root keys of v1: 1 of 2, 1 more needed"), "\(e.reason)")
            #expect(e.reason.contains("nothing was published"))
        }
        #expect(try f.files() == before)
    }

    @Test("the ledger records each approval with its officer's key, then the ceremony")
    func ledger() throws {
        let f = try CeremonyFixture()
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1", "r2", "r4"])
        _ = try f.apply(p)
        let entries = try f.release.custody.ledger.entries().map(\.record)
        #expect(entries.filter { $0.action == "key.approve" }.map(\.actor).sorted() == [f.id("r1"), f.id("r2"), f.id("r4")].sorted())
        #expect(entries.last?.action == "key.apply")
        #expect(entries.last?.details["proposal"] == .string(try p.digest()))
    }

    @Test("a proposal file survives writing and reading, and a damaged one is refused with its member named")
    func proposalFile() throws {
        let f = try CeremonyFixture()
        var p = try f.rotate(RotationRequest(role: .root, add: [f.pub("r4")]))
        try f.approve(&p, ["r1"])
        let back = try KeyProposal(bytes: p.fileBytes(), path: "p.json")
        #expect(try back.digest() == p.digest())
        #expect(back.approvals == p.approvals)
        var text = String(decoding: p.fileBytes(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"kind\": \"rotation\"", with: "\"kind\": \"coup\"")
        #expect(throws: FirmchainError.self) { _ = try KeyProposal(bytes: Array(text.utf8), path: "p.json") }
        do { _ = try KeyProposal(bytes: Array(text.utf8), path: "p.json") } catch let e as FirmchainError {
            #expect(e.code == .keysMalformedProposal && e.reason.contains("coup"))
        }
    }
}
