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

    @Test("a link file that is not a DSSE envelope is custody.malformed-envelope, one whose payload is no in-toto link custody.malformed-metadata; both name the file",
          arguments: [
              ("not JSON", "firmware", ErrorCode.custodyMalformedEnvelope, "invalid JSON"),
              ("no payload", "{}", .custodyMalformedEnvelope, "payload"),
              ("payload not base64", #"{"payload":"!!","payloadType":"application/vnd.in-toto+json","signatures":[]}"#, .custodyMalformedEnvelope, "not base64"),
              ("another payload type", #"{"payload":"e30=","payloadType":"text/plain","signatures":[]}"#, .custodyMalformedEnvelope, "payload type \"text/plain\""),
              ("payload not JSON", #"{"payload":"bm90IGpzb24=","payloadType":"application/vnd.in-toto+json","signatures":[]}"#, .custodyMalformedMetadata, "the payload is not JSON"),
              ("a layout, not a link", #"{"payload":"eyJfdHlwZSI6ImxheW91dCJ9","payloadType":"application/vnd.in-toto+json","signatures":[]}"#, .custodyMalformedMetadata, "link._type is not \"link\""),
          ])
    func malformedLinkFiles(_ name: String, _ text: String, _ code: ErrorCode, _ mentions: String) throws {
        let dir = try TemporaryDirectory("firmchain-dsse")
        let path = dir.file("delta.0123abcd.link")
        try AtomicFile.write(Array(text.utf8), to: path)
        let error = #expect(throws: FirmchainError.self) { try SignedLink(file: path) }
        #expect(error?.code == code && error?.path == path && error?.reason.contains(mentions) == true, "\(name): \(String(describing: error))")
    }

    @Test("an envelope or a layout to be signed with no key is custody.no-signer")
    func noSigner() throws {
        let error = #expect(throws: FirmchainError.self) {
            try DSSEEnvelope.sign(payload: Array("{}".utf8), payloadType: DSSEEnvelope.inTotoPayloadType, signers: [])
        }
        #expect(error?.code == .custodyNoSigner && error?.category.exitCode == 64)
        let key = try SoftwareSigner(generating: .ed25519).publicKey
        let layout = try CustodyPolicy(steps: [.init(name: "build", functionaries: [key], materials: [], products: [])], delivered: [],
                                       expires: Date(timeIntervalSince1970: 1_900_000_000)).layout()
        #expect(throws: FirmchainError(.custodyNoSigner, "")) { try layout.signed(by: []) }
    }

    @Test("step names that cannot be file names, and a step declared twice, are custody.bad-step-name",
          arguments: ["", ".hidden", "a/b", "../up", "sp ace", String(repeating: "s", count: 65), "delivered", "twice"])
    func badStepNames(_ name: String) throws {
        let key = try SoftwareSigner(generating: .ed25519).publicKey
        let step = CustodyPolicy.Step(name: name == "twice" ? "build" : name, functionaries: [key], materials: [], products: [])
        let policy = CustodyPolicy(steps: name == "twice" ? [step, step] : [step], delivered: [], expires: Date(timeIntervalSince1970: 1_900_000_000))
        let error = #expect(throws: FirmchainError.self) { try policy.validate() }
        #expect(error?.code == .custodyBadStepName, "\(name): \(String(describing: error))")
        #expect(error?.reason.contains(["twice", "delivered"].contains(name) ? "declared twice or clashes" : "must be 1-64 letters") == true,
                "\(String(describing: error))")
    }

    @Test("artefact names that are absolute, climb out, have empty parts or control characters are custody.bad-artifact-name",
          arguments: ["", "/etc/passwd", "../fw.bin", "a/./b", "a//b", "a/", "fw\u{1B}[31m.bin"])
    func badArtifactNames(_ name: String) throws {
        let error = #expect(throws: FirmchainError.self) { try Artifacts.validateName(name) }
        #expect(error?.code == .custodyBadArtifactName && error?.category.exitCode == 64, "\(name): \(String(describing: error))")
        #expect(throws: Never.self) { try Artifacts.validateName("inputs/1.0.0/fw.bin") }
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
