import FirmchainCore
import Testing
import TestSupport
import SwiftASN1
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
    func oversized() throws {
        let big = [UInt8](repeating: 0x11, count: 33)
        let der = try DER.Serializer.bytes { s in
            try s.sequence { s in
                try s.unsignedInteger(big)
                try s.unsignedInteger([1])
            }
        }
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

    /// A real P-256 SPKI with its parts swapped for hostile ones.
    static func p256SPKI(algorithm: [UInt8]? = nil, bits: [UInt8]? = nil) throws -> [UInt8] {
        let spki = try SoftwareSigner(generating: .ecdsaP256).publicKey.spkiDER
        // 30 59 | 30 13 (id-ecPublicKey, prime256v1) | 03 42 00 04 …
        let alg = algorithm ?? Array(spki[2..<23]), key = bits ?? Array(spki[23...])
        let content = alg + key
        return [0x30, UInt8(content.count)] + content
    }

    @Test("hostile SPKI encodings are refused with the code and reason of the part that is wrong")
    func hostileSPKI() throws {
        let good = try Self.p256SPKI()
        #expect(try PublicKey(spkiDER: good).keyType == .ecdsaP256)
        let notSPKI = "not a DER SubjectPublicKeyInfo"
        let cases: [(String, [UInt8], String, String)] = [
            ("trailing byte", good + [0x00], "signing.key-file-malformed", notSPKI),
            ("non-minimal long-form length", [0x30, 0x81, good[1]] + good[2...], "signing.key-file-malformed", notSPKI),
            ("five length bytes", [0x30, 0x85, 0, 0, 0, 0, good[1]] + good[2...], "signing.key-file-malformed", notSPKI),
            ("indefinite length", [0x30, 0x80] + good[2...] + [0, 0], "signing.key-file-malformed", notSPKI),
            ("length past the end", [0x30, good[1] + 1] + good[2...], "signing.key-file-malformed", notSPKI),
            ("high tag number", [0x3F, 0x10, good[1]] + good[2...], "signing.key-file-malformed", notSPKI),
            ("SET instead of SEQUENCE", [0x31] + good[1...], "signing.key-file-malformed", notSPKI),
            ("nested 60 deep", Self.nested(60), "signing.key-file-malformed", notSPKI),
            ("non-zero unused bits", try Self.p256SPKI(bits: [0x03, 0x42, 0x01] + good[26...]), "signing.key-file-malformed", notSPKI),
            ("empty BIT STRING", try Self.p256SPKI(bits: [0x03, 0x00]), "signing.key-file-malformed", notSPKI),
            ("no algorithm OID", try Self.p256SPKI(algorithm: [0x30, 0x02, 0x05, 0x00]), "signing.key-file-malformed", "SPKI without algorithm"),
            ("EC without curve", try Self.p256SPKI(algorithm: [0x30, 0x0B, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x05, 0x00]),
             "signing.key-file-malformed", "EC key without named curve"),
            ("unknown algorithm", try Self.p256SPKI(algorithm: [0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x6E]),
             "signing.key-unsupported", "unsupported public key algorithm (Firmchain signs with P-256, P-384, RSA 3072+ and Ed25519)"),
            ("malformed algorithm OID", try Self.p256SPKI(algorithm: [0x30, 0x03, 0x06, 0x01, 0x80]),
             "signing.key-unsupported", "unsupported public key algorithm (Firmchain signs with P-256, P-384, RSA 3072+ and Ed25519)"),
            ("secp256k1", try Self.p256SPKI(algorithm: [0x30, 0x10, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A]),
             "signing.key-unsupported", "unsupported elliptic curve (Firmchain signs with P-256, P-384 and Ed25519)"),
            ("RSA key that is not an RSAPublicKey", try Self.p256SPKI(algorithm: [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00]),
             "signing.key-file-malformed", "bad RSAPublicKey"),
            ("point off the curve", try Self.p256SPKI(bits: Array(good[23..<60]) + [good[60] ^ 1] + good[61...]),
             "signing.key-file-malformed", "the public key is not a valid ecdsa-p256 key"),
        ]
        for (name, der, code, reason) in cases {
            do {
                _ = try PublicKey(spkiDER: der)
                Issue.record("\(name): accepted")
            } catch let e as FirmchainError {
                #expect(e.code.id == code && e.reason == reason, "\(name): \(e.code.id) \(e.reason)")
            }
        }
    }

    @Test("an RSA SPKI whose AlgorithmIdentifier NULL runs past its SEQUENCE is refused, as openssl refuses it")
    func parametersPastTheirSequence() throws {
        let dir = try TemporaryDirectory()
        try OpenSSL.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", dir.file("k.pem")])
        try OpenSSL.run(["pkey", "-in", dir.file("k.pem"), "-pubout", "-outform", "DER", "-out", dir.file("pub.der")])
        var der = try FileIO.read(dir.file("pub.der"))
        #expect(try PublicKey(spkiDER: der).rsaBits == 2048)
        // 30 82 01 22 | 30 0d 06 09 <rsaEncryption> 05 00 | 03 82 01 0f …: NULL's length 0 → 1.
        try #require(Array(der[4..<6]) == [0x30, 0x0D] && Array(der[17..<19]) == [0x05, 0x00])
        der[18] = 0x01
        expectSigningError("signing.key-file-malformed") { _ = try PublicKey(spkiDER: der) }
        try AtomicFile.write(der, to: dir.file("bad.der"))
        #expect(try runProcess("openssl", ["pkey", "-pubin", "-inform", "DER", "-in", dir.file("bad.der")]).status != 0)
    }

    /// `depth` SEQUENCEs, each holding the next, around a NULL.
    static func nested(_ depth: Int) -> [UInt8] {
        var d: [UInt8] = [0x05, 0x00]
        for _ in 0..<depth { d = [0x30, UInt8(d.count)] + d }
        return d
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
