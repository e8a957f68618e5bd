import Custody
import Encryption
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing
import Testing
import TestSupport
import Verification

/// Issue 21, step 6: every encrypted payload's envelope, descriptor and recipients, against the
/// released bytes and the policy. Each tampered release re-signs the targets as an attacker with
/// the targets key would, so only `release.encryption` can tell.
@Suite("The release verifier checks encrypted payloads", .serialized)
struct EncryptionVerificationTests {
    static let fx = Result { try Fixture("verify-encrypted", encrypted: true) }

    static func refusedByEncryption(_ f: InMemoryReleaseFiles, _ fx: Fixture, trust: ReleaseTrust? = nil) -> (refused: Bool, details: [String]) {
        let v = fx.verify(f, trust: trust)
        let check = v.report.checks.first { $0.id == "release.encryption" }
        return (check?.status == .failed, check?.details ?? [])
    }

    @Test("an encrypted release passes, with its encryption checked and its encrypted deltas left to the recipients")
    func encryptedReleasePasses() throws {
        let fx = try Self.fx.get()
        let v = fx.verify(fx.good)
        #expect(v.report.passedStrictly, "\(v.report.failures)")
        #expect(v.report.checks.first { $0.id == "release.encryption" }?.status == .passed)
        #expect(v.report.checks.filter { $0.id == "release.delta" }.allSatisfy { $0.status == .skipped })
    }

    @Test("a descriptor edited to list another recipient, a corrupted structure, a structure for the wrong recipient, and a ciphertext digest that is not the target's are each refused by release.encryption",
          arguments: ["recipient edited", "structure corrupted", "wrong recipient", "ciphertext digest"])
    func tampered(_ kind: String) throws {
        let fx = try Self.fx.get()
        var f = fx.good
        try fx.resignTargets(&f) { targets in
            try fx.changeFirmware(&targets, "fw.bin") { fw in
                var d = fw.encryption!.descriptor.objectValue!
                switch kind {
                case "recipient edited":
                    var r = d["recipients"]!.arrayValue!
                    r[0] = ["key_id": .string(String(repeating: "ab", count: 32)), "algorithm": .string("ECDH-ES+A256KW")]
                    d["recipients"] = .array(r)
                case "structure corrupted":
                    var bytes = Base64.decode(d["cose"]!.stringValue!)!
                    bytes[bytes.count / 2] ^= 0xFF
                    d["cose"] = .string(Base64.encode(bytes))
                case "wrong recipient":
                    // Re-encrypted for a stranger: a well-formed envelope the policy's recipients cannot open.
                    let dir = fx.directory.path + "/wrong"
                    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    let stranger = try EncryptionRecipient.publicKey(try SoftwareSigner(generating: .ecdsaP256).publicKey)
                    let other = try Encryptor(recipients: [stranger]).encrypt(file: fx.directory.path + "/fw-1.2.0.bin", into: dir)
                    var od = other.json.objectValue!
                    od["cose"] = .string(Base64.encode(try FileIO.read(dir + "/fw-1.2.0.bin.cose")))
                    od["ciphertext"] = d["ciphertext"]
                    d = od
                default:
                    d["ciphertext"] = ["sha256": .string(String(repeating: "0", count: 64)), "length": .int(1)]
                }
                fw.encryption!.descriptor = .object(d)
            }
        }
        try fx.resignSnapshotAndTimestamp(&f)
        let r = Self.refusedByEncryption(f, fx)
        #expect(r.refused, "\(kind): release.encryption passed")
        let expected = ["recipient edited": "the descriptor lists recipients", "structure corrupted": "structure",
                        "wrong recipient": "which the policy requires", "ciphertext digest": "ciphertext digest"][kind]!
        #expect(r.details.contains { $0.contains(expected) }, "\(kind): \(r.details)")
    }

    @Test("a policy that requires encryption refuses a release whose targets are in the clear")
    func clearTextRefused() throws {
        let plain = try Fixture("verify-clear")
        let enc = try Self.fx.get()
        let r = Self.refusedByEncryption(plain.good, plain, trust: plain.trust(policy: .some(enc.policy)))
        #expect(r.refused && r.details.contains { $0.contains("is released in the clear") }, "\(r.details)")
    }
}
