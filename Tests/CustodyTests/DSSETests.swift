import Custody
import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

@Suite("DSSE envelopes follow the DSSE v1 protocol")
struct DSSETests {
    @Test("PAE matches the DSSE protocol's example byte for byte")
    func paeExample() {
        // secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        let pae = DSSEEnvelope.pae(payloadType: "http://example.com/HelloWorld", payload: Array("hello world".utf8))
        #expect(String(decoding: pae, as: UTF8.self) == "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
        #expect(DSSEEnvelope.pae(payloadType: "", payload: []) == Array("DSSEv1 0  0 ".utf8))
        // Lengths count bytes, not characters.
        #expect(String(decoding: DSSEEnvelope.pae(payloadType: "t", payload: Array("é".utf8)), as: UTF8.self) == "DSSEv1 1 t 2 é")
    }

    @Test("an envelope signed through a Signer verifies; a changed payload, type or signature does not")
    func signAndVerify() throws {
        let signer = try SoftwareSigner(generating: .ecdsaP256)
        let key = TUFKey(signer.publicKey)
        let env = try DSSEEnvelope.sign(payload: Array("{\"a\":1}".utf8), payloadType: DSSEEnvelope.inTotoPayloadType, signers: [signer])
        #expect(env.signatures.map(\.keyid) == [key.keyid])
        #expect(env.signatures[0].sig.first == 0x30, "ECDSA signatures are DER, as securesystemslib requires")
        #expect(env.verify(keys: [key.keyid: key]).isMet)
        let reread = try DSSEEnvelope(json: try JSONReader().parse(env.fileBytes))
        #expect(reread == env)
        let otherPayload = DSSEEnvelope(payload: Array("{\"a\":2}".utf8), payloadType: env.payloadType, signatures: env.signatures)
        #expect(otherPayload.verify(keys: [key.keyid: key]).invalid == [key.keyid])
        let otherType = DSSEEnvelope(payload: env.payload, payloadType: "text/plain", signatures: env.signatures)
        #expect(!otherType.verify(keys: [key.keyid: key]).isMet)
        let stranger = TUFKey(try SoftwareSigner(generating: .ecdsaP256).publicKey)
        let v = env.verify(keys: [stranger.keyid: stranger])
        #expect(!v.isMet && v.ignored == [key.keyid])
        // A key listed under someone else's keyid does not count (no aliasing).
        #expect(!env.verify(keys: [key.keyid: stranger]).isMet)
    }

    @Test("base64 is read in the standard and URL-safe alphabets, with or without padding, and nothing else")
    func base64Variants() {
        var rng = SeededGenerator(seed: 3)
        for n in 0..<70 {
            let bytes = rng.bytes(n)
            let std = Base64.encode(bytes)
            #expect(std == Data(bytes).base64EncodedString())
            #expect(Base64.decode(std, lenient: true) == bytes)
            let url = std.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(Base64.decode(url, lenient: true) == bytes)
            #expect(Base64.decode(url.replacingOccurrences(of: "=", with: ""), lenient: true) == bytes)
        }
        for bad in ["a", "ab=c", "ab c", "YQ==YQ==", "Y===", "YR==", "\u{e9}"] { #expect(Base64.decode(bad, lenient: true) == nil, "\(bad)") }
    }

    @Test("hostile envelope and link files give a custody error, never a crash")
    func hostileInput() throws {
        let dir = try TemporaryDirectory("firmchain-dsse")
        let path = dir.file("x.link")
        var rng = SeededGenerator(seed: 99)
        let valid = try InTotoLink(name: "delta", products: ["a": ["sha256": String(repeating: "0", count: 64)]])
            .signed(by: SoftwareSigner(generating: .ed25519)).envelope.fileBytes
        var samples: [[UInt8]] = ["", "{}", "[]", "{\"payload\":1}", "{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.in-toto+json\",\"signatures\":[]}",
                                  "{\"payload\":\"!!\",\"payloadType\":\"x\",\"signatures\":[]}"].map { Array($0.utf8) }
        for _ in 0..<300 {
            var b = valid
            for _ in 0..<Int(rng.next() % 4 + 1) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            samples.append(b)
            samples.append(Array(valid.prefix(Int(rng.next() % UInt64(valid.count)))))
        }
        for s in samples {
            try Data(s).write(to: URL(fileURLWithPath: path))
            do { _ = try SignedLink(file: path) } catch let e as FirmchainError {
                #expect(e.code.id.hasPrefix("custody.malformed-"))
            } catch { Issue.record("unexpected error type \(error)") }
        }
    }
}
