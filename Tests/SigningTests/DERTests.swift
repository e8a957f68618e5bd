import Testing
import TestSupport
@testable import Signing

/// The DER pieces: ECDSA signature conversion, SPKI reading and PEM, on random and hostile input.
@Suite("DER, SPKI and PEM parsing")
struct DERTests {
    @Test("raw r‖s → DER → raw is the identity for random scalars, leading zeros included")
    func ecdsaRoundTrip() {
        var rng = SeededGenerator(seed: 3279)
        for n in [32, 48] {
            for i in 0..<500 {
                var raw = rng.bytes(2 * n)
                if i % 5 == 0 { for k in 0..<(i % 7) { raw[k] = 0 } }          // short r
                if i % 3 == 0 { raw[n] = 0x80 }                                   // s needs a 0x00 pad
                let der = ECDSASignatureCoding.der(fromRaw: raw, scalarLength: n)!
                #expect(ECDSASignatureCoding.raw(fromDER: der, scalarLength: n) == raw)
            }
        }
    }

    @Test("non-minimal, negative, oversized and trailing-garbage DER signatures are refused", arguments: [
        [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],           // trailing byte
        [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],           // non-minimal r
        [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],                 // negative r
        [0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],           // long-form length < 128
        [0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01],                       // truncated
        [0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],                 // SET, not SEQUENCE
    ] as [[UInt8]])
    func badSignatures(_ der: [UInt8]) {
        #expect(ECDSASignatureCoding.raw(fromDER: der, scalarLength: 32) == nil)
    }

    @Test("an integer longer than the curve's scalar is refused")
    func oversized() {
        let big = [UInt8](repeating: 0x11, count: 33)
        let der = DERWriter.sequence([DERWriter.unsignedInteger(big), DERWriter.unsignedInteger([1])])
        #expect(ECDSASignatureCoding.raw(fromDER: der, scalarLength: 32) == nil)
    }

    @Test("random bytes and every truncation of a real SPKI never crash the SPKI reader")
    func spkiFuzz() throws {
        var rng = SeededGenerator(seed: 5280)
        for type in KeyType.allCases where type != .rsa {
            let spki = try SoftwareSigner(generating: type).publicKey.spkiDER
            for n in 0..<spki.count { #expect((try? PublicKey(spkiDER: Array(spki[0..<n]))) == nil) }
            for _ in 0..<300 {
                var d = spki
                d[Int(rng.next() % UInt64(d.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                _ = try? PublicKey(spkiDER: d)
            }
        }
        for _ in 0..<2000 { _ = try? PublicKey(spkiDER: rng.bytes(Int(rng.next() % 120))) }
    }

    @Test("PEM round-trips with 64-column lines and rejects bad base64")
    func pem() {
        var rng = SeededGenerator(seed: 7468)
        for n in [1, 2, 3, 47, 48, 49, 300] {
            let bytes = rng.bytes(n)
            let text = PEM.encode(bytes, label: "PUBLIC KEY")
            #expect(text.split(separator: "\n").allSatisfy { $0.count <= 64 || $0.hasPrefix("-----") })
            #expect(PEM.firstBlock(in: text)?.der == bytes)
        }
        #expect(PEM.firstBlock(in: "-----BEGIN X-----\nQUJD*\n-----END X-----\n") == nil)
        #expect(PEM.firstBlock(in: "-----BEGIN X-----\nQUJD\n") == nil)
        #expect(PEM.firstBlock(in: "-----BEGIN X-----\nQQ=A\n-----END X-----\n") == nil)
    }
}
