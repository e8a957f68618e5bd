import Encryption
import FirmchainCore
import Foundation
import Testing
import TestSupport

/// Keys made by openssl and files in a temporary directory, for the command line and pycose.
struct CLIKeys {
    let dir: TemporaryDirectory
    init() throws {
        dir = try TemporaryDirectory("firmchain-enc-cli")
        for name in ["a", "b"] {
            try expectOK(runProcess("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir.file("\(name).key")]))
            try expectOK(runProcess("openssl", ["pkey", "-in", dir.file("\(name).key"), "-pubout", "-out", dir.file("\(name).pub")]))
        }
        var rng = SeededGenerator(seed: 0x5EED)
        try AtomicFile.write(rng.bytes(32), to: dir.file("fleet.kek"))
        try AtomicFile.write(Array(Hex.encode(rng.bytes(16)).utf8) + [0x0A], to: dir.file("group128.kek"))
        try AtomicFile.write(rng.bytes(300_000), to: dir.file("fw.bin"))
        try FileIO.makeDirectories(dir.file("out"))
    }
    func path(_ name: String) -> String { dir.file(name) }
    var plaintext: [UInt8] { (try? FileIO.read(dir.file("fw.bin"))) ?? [] }
    var outputDirectoryIsEmpty: Bool { (try? FileManager.default.contentsOfDirectory(atPath: dir.file("out")))?.isEmpty ?? false }

    @discardableResult
    func firmchain(_ args: [String]) throws -> ProcessResult { try runProcess(TestEnv.firmchain, args) }
    @discardableResult
    func pycose(_ args: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try runProcess(TestEnv.python, [TestEnv.packageRoot.appendingPathComponent("Tests/Interop/cose_encrypt.py").path] + args,
                       environment: environment)
    }
}

func expectOK(_ r: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == 0, "exit \(r.status): \(r.err)", sourceLocation: sourceLocation)
}

@Suite("COSE interop with pycose")
struct PycoseInteropTests {
    @Test("pycose decrypts what firmchain encrypts, for each recipient type", arguments: [
        (["--recipient", "a.pub"], "ec:a.key", "A256GCM"),
        (["--recipient", "a.pub", "--key-wrap", "A128KW"], "ec:a.key", "A256GCM"),
        (["--recipient", "kek:fleet.kek"], "kek:fleet.kek", "A256GCM"),
        (["--recipient", "kek:group128.kek"], "kek:group128.kek", "A128GCM"),
    ])
    func pycoseDecryptsFirmchain(recipient: [String], key: String, content: String) throws {
        let k = try CLIKeys()
        let recipients = recipient.map { $0.hasSuffix(".pub") ? k.path($0) : $0.hasPrefix("kek:") ? "kek:" + k.path(String($0.dropFirst(4))) : $0 }
        // Two more recipients ride along: the ciphertext is shared.
        let extra = ["--recipient", k.path("b.pub"), "--recipient", "kek:" + k.path("fleet.kek")]
        expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--content-algorithm", content] + recipients + extra))
        let keyArg = key.hasPrefix("ec:") ? "ec:" + k.path(String(key.dropFirst(3))) : "kek:" + k.path(String(key.dropFirst(4)))
        expectOK(try k.pycose(["decrypt", k.path("fw.enc.cose"), k.path("fw.enc"), keyArg, k.path("py.out")]))
        #expect(try FileIO.read(k.path("py.out")) == k.plaintext)
    }

    @Test("firmchain decrypts what pycose encrypts, detached and attached, for each recipient type", arguments: [
        ("ec:a.pub", "a.key"), ("ec:a.pub:a128kw", "a.key"), ("kek:fleet.kek", "kek:fleet.kek"), ("kek:group128.kek", "kek:group128.kek"),
    ])
    func firmchainDecryptsPycose(recipient: String, key: String) throws {
        let k = try CLIKeys()
        func abs(_ s: String) -> String {
            if s.hasPrefix("kek:") { return "kek:" + k.path(String(s.dropFirst(4))) }
            if s.hasPrefix("ec:") {
                let parts = s.dropFirst(3).split(separator: ":")
                return "ec:" + k.path(String(parts[0])) + (parts.count > 1 ? ":" + parts[1] : "")
            }
            return k.path(s)
        }
        let others = ["ec:" + k.path("b.pub")]
        expectOK(try k.pycose(["encrypt", k.path("fw.bin"), k.path("py.cose"), k.path("py.enc"), abs(recipient)] + others))
        expectOK(try k.firmchain(["decrypt", "--in", k.path("py.enc"), "--cose", k.path("py.cose"), "--key", abs(key), "--out", k.path("out/detached")]))
        #expect(try FileIO.read(k.path("out/detached")) == k.plaintext)

        expectOK(try k.pycose(["encrypt", k.path("fw.bin"), k.path("att.cose"), "-", abs(recipient)], environment: ["COSE_CONTENT": "A128GCM"]))
        expectOK(try k.firmchain(["decrypt", "--in", k.path("att.cose"), "--key", abs(key), "--out", k.path("out/attached")]))
        #expect(try FileIO.read(k.path("out/attached")) == k.plaintext)
    }

    @Test("a recipient added later with firmchain opens for pycose, and the ciphertext is unchanged")
    func addedRecipientForPycose() throws {
        let k = try CLIKeys()
        expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--recipient", "kek:" + k.path("fleet.kek")]))
        let before = try FileIO.read(k.path("fw.enc"))
        expectOK(try k.firmchain(["encrypt", "--add-to", k.path("fw.enc"), "--key", "kek:" + k.path("fleet.kek"), "--recipient", k.path("b.pub")]))
        #expect(try FileIO.read(k.path("fw.enc")) == before)
        expectOK(try k.pycose(["decrypt", k.path("fw.enc.cose"), k.path("fw.enc"), "ec:" + k.path("b.key"), k.path("py.out")]))
        #expect(try FileIO.read(k.path("py.out")) == k.plaintext)
    }
}

@Suite("encrypt and decrypt on the command line")
struct EncryptionCommandLineTests {
    /// Encrypts fw.bin for device a and the fleet key, then applies `damage` and decrypts with
    /// `key`; returns the failed process.
    func damagedDecrypt(_ damage: (CLIKeys) throws -> Void, key: String = "a.key") throws -> (CLIKeys, ProcessResult) {
        let k = try CLIKeys()
        expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"),
                                  "--recipient", k.path("a.pub"), "--recipient", "kek:" + k.path("fleet.kek")]))
        try damage(k)
        let keyArg = key.hasPrefix("kek:") ? "kek:" + k.path(String(key.dropFirst(4))) : k.path(key)
        return (k, try k.firmchain(["decrypt", "--in", k.path("fw.enc"), "--key", keyArg, "--out", k.path("out/fw.bin")]))
    }

    func flip(_ k: CLIKeys, _ file: String, at offset: (Int) -> Int) throws {
        var b = try FileIO.read(k.path(file))
        b[offset(b.count)] ^= 0x80
        try AtomicFile.write(b, to: k.path(file))
    }

    @Test("a flipped ciphertext byte exits 1 with encryption.authentication-failed and leaves nothing")
    func flippedCiphertext() throws {
        let (k, r) = try damagedDecrypt { try flip($0, "fw.enc") { $0 / 2 } }
        #expect(r.status == 1)
        #expect(r.err.contains("[encryption.authentication-failed]") && r.err.contains("no plaintext was written"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a flipped tag byte exits 1 and leaves nothing")
    func flippedTag() throws {
        let (k, r) = try damagedDecrypt { try flip($0, "fw.enc") { $0 - 3 } }
        #expect(r.status == 1)
        #expect(r.err.contains("[encryption.authentication-failed]"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a key that is no recipient exits 3 with encryption.no-matching-recipient, listing the recipients' kids")
    func wrongKey() throws {
        let (k, r) = try damagedDecrypt({ _ in }, key: "b.key")
        #expect(r.status == 3)
        #expect(r.err.contains("[encryption.no-matching-recipient]") && r.err.contains("666c656574"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a recipient list edited to point at device b's key is refused for both devices")
    func editedRecipients() throws {
        // Replace the structure's recipients by the ones of a payload made for device b: the
        // wrapped key is for another CEK, so b unwraps something that fails the tag, and a finds no recipient.
        let (k, r) = try damagedDecrypt { k in
            expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("other.enc"), "--recipient", k.path("b.pub")]))
            let mine = try COSEEncrypt(decoding: FileIO.read(k.path("fw.enc.cose")))
            let theirs = try COSEEncrypt(decoding: FileIO.read(k.path("other.enc.cose")))
            guard case .tagged(_, .array(var items)) = try CBORDecoder.decode(mine.encoded),
                  case .tagged(_, .array(let other)) = try CBORDecoder.decode(theirs.encoded) else { return }
            items[3] = other[3]
            try AtomicFile.write(CBOR.tagged(96, .array(items)).encoded, to: k.path("fw.enc.cose"))
        }
        #expect(r.status == 3)
        #expect(r.err.contains("[encryption.no-matching-recipient]"))
        let b = try k.firmchain(["decrypt", "--in", k.path("fw.enc"), "--key", k.path("b.key"), "--out", k.path("out/fw.bin")])
        #expect(b.status == 1)
        #expect(b.err.contains("[encryption.authentication-failed]"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a truncated ciphertext exits non-zero with a clear error and leaves nothing", arguments: [8, 150_000])
    func truncated(keep: Int) throws {
        let (k, r) = try damagedDecrypt { k in
            try AtomicFile.write(FileIO.read(k.path("fw.enc")).prefix(keep), to: k.path("fw.enc"))
        }
        #expect(r.status == (keep < 16 ? 65 : 1))
        #expect(r.err.contains(keep < 16 ? "[encryption.truncated]" : "[encryption.authentication-failed]"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("a truncated or garbage structure exits 65 naming the structure file")
    func badStructure() throws {
        let (k, r) = try damagedDecrypt { k in
            try AtomicFile.write(FileIO.read(k.path("fw.enc.cose")).prefix(40), to: k.path("fw.enc.cose"))
        }
        #expect(r.status == 65)
        #expect(r.err.contains("fw.enc.cose") && r.err.contains("[encryption.cbor-malformed]"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("--json prints the descriptor a manifest records")
    func jsonDescriptor() throws {
        let k = try CLIKeys()
        let r = try k.firmchain(["encrypt", "--json", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"),
                                 "--recipient", k.path("a.pub"), "--recipient", "kek:" + k.path("fleet.kek")])
        expectOK(r)
        let doc = try JSONReader().parse(Array(r.stdout))
        #expect(doc["format"]?.stringValue == "cose")
        #expect(doc["content_algorithm"]?.stringValue == "A256GCM")
        #expect(doc["plaintext"]?["sha256"]?.stringValue == DigestCalculator.sha256Hex(k.plaintext))
        #expect(doc["ciphertext"]?["length"]?.int64Value == Int64(k.plaintext.count + 16))
        #expect(doc["recipients"]?.arrayValue?.compactMap { $0["algorithm"]?.stringValue } == ["ECDH-ES+A256KW", "A256KW"])
        #expect(doc["recipients"]?.arrayValue?[1]["key_id"]?.stringValue == Hex.encode(Array("fleet".utf8)))
    }

    @Test("a non-P-256 recipient and a missing recipient are refused before anything is written")
    func badRecipients() throws {
        let k = try CLIKeys()
        expectOK(try runProcess("openssl", ["genpkey", "-algorithm", "ed25519", "-out", k.path("ed.key")]))
        expectOK(try runProcess("openssl", ["pkey", "-in", k.path("ed.key"), "-pubout", "-out", k.path("ed.pub")]))
        let r = try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("out/x"), "--recipient", k.path("ed.pub")])
        #expect(r.status == 3)
        #expect(r.err.contains("[encryption.recipient-unsupported]"))
        let none = try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("out/x")])
        #expect(none.status == 64)
        #expect(k.outputDirectoryIsEmpty)
    }
}

extension EncryptionCommandLineTests {
    @Test("decrypt --expect-length/--expect-sha256 releases the plaintext only when it is the manifest's")
    func expectedPlaintext() throws {
        let k = try CLIKeys()
        expectOK(try k.firmchain(["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--recipient", k.path("a.pub")]))
        let digest = DigestCalculator.sha256Hex(k.plaintext)
        let wrong = try k.firmchain(["decrypt", "--in", k.path("fw.enc"), "--key", k.path("a.key"), "--out", k.path("out/fw.bin"),
                                     "--expect-length", "\(k.plaintext.count)", "--expect-sha256", String(repeating: "0", count: 64)])
        #expect(wrong.status == 1)
        #expect(wrong.err.contains("[encryption.plaintext-mismatch]"))
        #expect(k.outputDirectoryIsEmpty)
        expectOK(try k.firmchain(["decrypt", "--in", k.path("fw.enc"), "--key", k.path("a.key"), "--out", k.path("out/fw.bin"),
                                  "--expect-length", "\(k.plaintext.count)", "--expect-sha256", digest.uppercased()]))
        #expect(try FileIO.read(k.path("out/fw.bin")) == k.plaintext)
    }
}
