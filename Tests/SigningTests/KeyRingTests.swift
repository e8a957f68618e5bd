import FirmchainCore
import Foundation
import Signing
import Testing

@Suite("Key ring: one answer to 'is key K trusted for role R at time T'")
struct KeyRingTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a key counts only for its roles, inside its window, until it is revoked")
    func trust() throws {
        let signer = try SoftwareSigner(generating: .ed25519)
        let key = TUFKey(signer.publicKey)
        var ring = KeyRing()
        ring.add(key, roles: [.tuf("targets")], validFrom: Self.t0, validUntil: Self.t0.addingTimeInterval(100))
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0) == .trusted)
        #expect(ring.trust(key.keyid, for: .tuf("root"), at: Self.t0) == .notForRole)
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0.addingTimeInterval(-1)) == .outsideWindow)
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0.addingTimeInterval(100)) == .outsideWindow)
        #expect(ring.trust(String(repeating: "0", count: 64), for: .tuf("targets"), at: Self.t0) == .unknown)

        let superseded = Revocation(keyid: key.keyid, reason: .superseded, time: Self.t0.addingTimeInterval(50))
        ring.revoke(superseded)
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0.addingTimeInterval(49)) == .trusted, "signatures before a supersession stay valid")
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0.addingTimeInterval(50)) == .revoked(superseded))

        let compromised = Revocation(keyid: key.keyid, reason: .compromised, time: Self.t0.addingTimeInterval(50))
        ring.revoke(compromised)
        #expect(ring.trust(key.keyid, for: .tuf("targets"), at: Self.t0) == .revoked(compromised), "a compromised key is void at every time")
    }

    @Test("a tally counts each trusted member once and names the others")
    func tally() throws {
        let a = try SoftwareSigner(generating: .ecdsaP256), b = try SoftwareSigner(generating: .ed25519), c = try SoftwareSigner(generating: .ed25519)
        let outsider = try SoftwareSigner(generating: .ed25519)
        let message = Array("signed bytes".utf8)
        var ring = KeyRing(trusting: [a.publicKey, b.publicKey, c.publicKey], for: [.owner])
        ring.add(outsider.publicKey, roles: [.checkpoint])
        func sig(_ s: SoftwareSigner, _ m: [UInt8] = message) throws -> (keyid: String, signature: [UInt8]) {
            (s.publicKey.keyid, try s.sign(m, algorithm: s.publicKey.keyType.defaultAlgorithm))
        }
        let sigs = [try sig(a), try sig(a), try sig(b, Array("other".utf8)), try sig(outsider)]
        let t = ring.tally(sigs, over: message, role: .owner, threshold: 2, at: Self.t0)
        #expect(t.valid == [a.publicKey.keyid], "a duplicated signature counts once")
        #expect(t.invalid == [b.publicKey.keyid])
        #expect(t.missing == [c.publicKey.keyid])
        #expect(t.ignored == [outsider.publicKey.keyid])
        #expect(!t.isMet)
        ring.revoke(Revocation(keyid: a.publicKey.keyid, reason: .compromised, time: Self.t0))
        let revoked = ring.tally([try sig(a), try sig(c)], over: message, role: .owner, threshold: 1, at: Self.t0)
        #expect(revoked.untrusted == [a.publicKey.keyid] && revoked.valid == [c.publicKey.keyid])
    }

    @Test("a key listed under an id that is not its own keyid is not trusted (no aliasing)")
    func aliasing() throws {
        let key = TUFKey(try SoftwareSigner(generating: .ed25519).publicKey)
        var ring = KeyRing()
        ring.add(key, roles: [.owner], listedAs: String(repeating: "a", count: 64))
        #expect(ring.keyids(for: .owner).isEmpty)
    }
}
