import Custody
import FirmchainCore
import Foundation
import Repository
import Signing
import Testing
import TestSupport

@Suite("SLSA provenance statements are accepted by securesystemslib's DSSE verifier")
struct ProvenanceTests {
    /// Runs Tests/Interop/dsse_verify.py; returns its JSON answer.
    static func securesystemslibVerify(_ envelopes: String, key: String) throws -> JSONValue {
        let script = TestEnv.packageRoot.appendingPathComponent("Tests/Interop/dsse_verify.py").path
        let r = try runProcess(TestEnv.python, [script, envelopes, key])
        guard r.status == 0, let line = r.out.split(separator: "\n").last else {
            throw TestSetupError("dsse_verify.py failed (run `make setup` for securesystemslib 1.6.0): \(r.err)")
        }
        return try JSONReader().parse(Array(line.utf8))
    }

    @Test("every statement of a release verifies with dsse.Envelope.verify and is an in-toto Statement v1 with an SLSA Provenance v1 predicate")
    func releaseProvenance() throws {
        let fixture = try ReleaseFixture()
        try fixture.build()
        let jsonl = fixture.out + "/custody/provenance.intoto.jsonl"
        let key = fixture.dir.file("release.pub.pem")
        try Data(try fixture.signer("release").publicKey.pem.utf8).write(to: URL(fileURLWithPath: key))
        let r = try Self.securesystemslibVerify(jsonl, key: key)
        #expect(r["failed"]?.arrayValue?.isEmpty == true, "\(r)")
        #expect(r["verified"]?.int64Value == 2)
        for s in r["statements"]?.arrayValue ?? [] {
            #expect(s["_type"]?.stringValue == "https://in-toto.io/Statement/v1")
            #expect(s["predicateType"]?.stringValue == "https://slsa.dev/provenance/v1")
            #expect(s["payloadType"]?.stringValue == "application/vnd.in-toto+json")
        }
        let names = Set((r["statements"]?.arrayValue ?? []).flatMap { $0["subjects"]?.arrayValue?.compactMap(\.stringValue) ?? [] })
        #expect(names == ["fw-1.1.0.bin", "fw-1.1.0-from-1.0.0.bsdiff"])

        // The statements name the chain's inputs (the images read, the repository state the sign
        // step started from, the owner key) and the link files.
        let statement = try ProvenanceStatement(envelope: try #require(try CustodyStore(out: fixture.out).provenance().first))
        let deps = statement.resolvedDependencies.map(\.name)
        #expect(deps.contains("inputs/fw-1.0.0.bin") && deps.contains("inputs/fw-1.1.0.bin"), "\(deps)")
        #expect(deps.contains("repository/metadata/1.root.json") && deps.contains("keys/owner.pub.pem"), "\(deps)")
        #expect(!deps.contains { $0.hasPrefix("build/") || $0.hasPrefix("repository/targets/") }, "products of the chain are not inputs: \(deps)")
        #expect(statement.byproducts.count == 4)
        #expect(statement.builderID == "https://ci.example.com/runner/1")

        // The same check fails for a statement whose payload was edited after signing.
        let lines = String(decoding: try FileIO.read(jsonl), as: UTF8.self).split(separator: "\n")
        let env = try DSSEEnvelope(json: try JSONReader().parse(Array(lines[0].utf8)))
        let edited = DSSEEnvelope(payload: Array(String(decoding: env.payload, as: UTF8.self).replacingOccurrences(of: "fw-1.1.0", with: "fw-6.6.6").utf8),
                                  payloadType: env.payloadType, signatures: env.signatures)
        let bad = fixture.dir.file("edited.jsonl")
        try Data(edited.fileBytes).write(to: URL(fileURLWithPath: bad))
        let rb = try Self.securesystemslibVerify(bad, key: key)
        #expect(rb["verified"]?.int64Value == 0 && rb["failed"]?.arrayValue?.count == 1, "\(rb)")
    }

    @Test("an envelope that holds no SLSA Provenance v1 statement is custody.malformed-statement saying what is wrong", arguments: [
        ("another payload type", "text/plain", "{}", "payload type text/plain"),
        ("a payload that is not JSON", DSSEEnvelope.inTotoPayloadType, "provenance", "the payload is not JSON"),
        ("an in-toto link", DSSEEnvelope.inTotoPayloadType, #"{"_type":"link","name":"build"}"#, "not an in-toto Statement v1 with an SLSA Provenance v1 predicate"),
        ("a subject without a digest", DSSEEnvelope.inTotoPayloadType,
         #"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{"name":"fw.bin"}],"predicate":{"buildDefinition":{"buildType":"b"},"runDetails":{"builder":{"id":"ci"}}}}"#,
         "a resource descriptor needs a digest"),
    ])
    func malformedStatements(_ name: String, _ payloadType: String, _ payload: String, _ mentions: String) throws {
        let envelope = try DSSEEnvelope.sign(payload: Array(payload.utf8), payloadType: payloadType, signers: [try SoftwareSigner(generating: .ed25519)])
        let error = #expect(throws: FirmchainError.self) { try ProvenanceStatement(envelope: envelope) }
        #expect(error?.code == .custodyMalformedStatement && error?.reason.contains(mentions) == true, "\(name): \(String(describing: error))")
        // The same statement with a digest is read.
        let good = payload.replacingOccurrences(of: #"{"name":"fw.bin"}"#, with: #"{"name":"fw.bin","digest":{"sha256":"00"}}"#)
        if good != payload {
            let read = try ProvenanceStatement(envelope: try DSSEEnvelope.sign(payload: Array(good.utf8), payloadType: payloadType,
                                                                                signers: [try SoftwareSigner(generating: .ed25519)]))
            #expect(read.subjects.map(\.name) == ["fw.bin"] && read.builderID == "ci")
        }
    }

    @Test("a provenance file with a line that is not a DSSE envelope is custody.malformed-envelope naming the file and the line")
    func malformedProvenanceLine() throws {
        let dir = try TemporaryDirectory("firmchain-provenance")
        let path = dir.file("provenance.intoto.jsonl")
        let envelope = try DSSEEnvelope.sign(payload: Array("{}".utf8), payloadType: DSSEEnvelope.inTotoPayloadType, signers: [try SoftwareSigner(generating: .ed25519)])
        let bytes = envelope.fileBytes + Array("{\"payload\": 1}\n".utf8)
        let error = #expect(throws: FirmchainError.self) { try CustodyStore.provenance(bytes, path: path) }
        #expect(error?.code == .custodyMalformedEnvelope && error?.path == path && error?.reason.hasPrefix("line 2 is not a DSSE envelope") == true,
                "\(String(describing: error))")
    }

    @Test("statements signed with RSA-PSS, P-384 and Ed25519 keys verify in securesystemslib too")
    func otherAlgorithms() throws {
        let dir = try TemporaryDirectory("firmchain-provenance")
        for type in [KeyType.rsa, .ecdsaP384, .ed25519] {
            let signer = try SoftwareSigner(generating: type)
            let st = ProvenanceStatement(subjects: [LedgerSubject(name: "fw.bin", sha256: String(repeating: "ab", count: 32))],
                                         externalParameters: ["version": "1.0.0"], builderID: "https://ci.example.com/x",
                                         startedOn: Date(timeIntervalSince1970: 1_800_000_000), finishedOn: Date(timeIntervalSince1970: 1_800_000_060))
            let env = try st.signed(by: [signer])
            #expect(env.verify(keys: [signer.publicKey.keyid: TUFKey(signer.publicKey)]).isMet)
            let path = dir.file("\(type.rawValue).jsonl"), key = dir.file("\(type.rawValue).pub.pem")
            try Data(env.fileBytes).write(to: URL(fileURLWithPath: path))
            try Data(signer.publicKey.pem.utf8).write(to: URL(fileURLWithPath: key))
            let r = try Self.securesystemslibVerify(path, key: key)
            #expect(r["verified"]?.int64Value == 1, "\(type): \(r)")
            #expect(r["keyid"]?.stringValue == signer.publicKey.keyid, "securesystemslib computes the same keyid")
            #expect(try ProvenanceStatement(envelope: env) == st, "a statement survives its own round trip")
        }
    }
}
