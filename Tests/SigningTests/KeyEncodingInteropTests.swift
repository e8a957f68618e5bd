import Crypto
import _CryptoExtras
import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// Every key type Firmchain writes (P-256, Ed25519, RSA-3072), as SPKI and as encrypted PKCS#8,
/// read back by openssl — the passphrase on stdin, never on argv — and openssl's own output read
/// back by Firmchain. The DER in these files is written and parsed by swift-asn1.
@Suite("Keys Firmchain writes round-trip through openssl")
struct KeyEncodingInteropTests {
    static let types: [KeyType] = [.ecdsaP256, .ed25519, .rsa]
    static let passphrase = "Quince-passphrase-4142"

    @Test("openssl reads every SPKI Firmchain writes and writes back the same DER and PEM", arguments: types)
    func spkiRoundTrip(_ type: KeyType) throws {
        let dir = try TemporaryDirectory()
        let key = try SoftwareSigner(generating: type).publicKey
        let pub = dir.file("pub.pem")
        try AtomicFile.write(Array(key.pem.utf8), to: pub)
        try OpenSSL.run(["pkey", "-pubin", "-in", pub, "-outform", "DER", "-out", dir.file("pub.der")])
        #expect(try FileIO.read(dir.file("pub.der")) == key.spkiDER)
        let text = try OpenSSL.run(["pkey", "-pubin", "-in", pub]).out
        #expect(text == key.pem)
        let back = try PublicKey(pem: text)
        #expect(back == key && back.keyType == type && back.rsaBits == (type == .rsa ? 3072 : nil))
    }

    @Test("openssl opens every encrypted PKCS#8 file Firmchain writes, signs with it, and Firmchain opens openssl's re-encryption",
          arguments: types)
    func encryptedPKCS8RoundTrip(_ type: KeyType) throws {
        let dir = try TemporaryDirectory()
        let signer = try SoftwareSigner(generating: type)
        let enc = dir.file("enc.pem")
        try AtomicFile.write(Array(try signer.privateKeyPEM(encryptedWith: Secret(string: Self.passphrase)).utf8), to: enc)
        let stdin = Data((Self.passphrase + "\n").utf8)

        // openssl decrypts it: the public half is Firmchain's, byte for byte.
        let pubout = try OpenSSL.run(["pkey", "-in", enc, "-passin", "stdin", "-pubout"], stdin: stdin)
        #expect(pubout.out == signer.publicKey.pem)

        // openssl signs with the decrypted key; Firmchain's public key accepts the signature.
        let message = Array("signed by openssl with a key Firmchain wrote".utf8)
        try AtomicFile.write(message, to: dir.file("msg"))
        let algorithm = type.defaultAlgorithm
        var args = ["pkeyutl", "-sign", "-inkey", enc, "-passin", "stdin", "-in", dir.file("msg"), "-out", dir.file("sig")]
        switch type {
        case .ed25519: args += ["-rawin"]
        case .ecdsaP256: args = ["dgst", "-sha256", "-sign", enc, "-passin", "stdin", "-out", dir.file("sig"), dir.file("msg")]
        default:
            args = ["dgst", "-sha256", "-sign", enc, "-passin", "stdin", "-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "-out", dir.file("sig"), dir.file("msg")]
        }
        try OpenSSL.run(args, stdin: stdin)
        #expect(signer.publicKey.isValidSignature(try FileIO.read(dir.file("sig")), for: message, algorithm: algorithm))

        // openssl re-encrypts it with its own PBES2 parameters (passphrases from files, never argv);
        // Firmchain opens that file and signs, and openssl verifies.
        let pwIn = dir.file("pw-in"), pwOut = dir.file("pw-out")
        try AtomicFile.write(Array(Self.passphrase.utf8), to: pwIn, mode: 0o600)
        try AtomicFile.write(Array(Self.passphrase.utf8), to: pwOut, mode: 0o600)
        let re = dir.file("re.pem")
        try OpenSSL.run(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-in", enc, "-passin", "file:\(pwIn)",
                         "-passout", "file:\(pwOut)", "-out", re])
        let reopened = try SoftwareSigner(pemFile: re, passphrase: { Secret(string: Self.passphrase) })
        #expect(reopened.publicKey == signer.publicKey)
        let signature = try reopened.sign(message, algorithm: algorithm)
        #expect(try OpenSSL.verify(signature, over: message, publicKeyPEM: signer.publicKey.pem, algorithm: algorithm, in: dir, name: "v"))
    }

    @Test("the encrypted PKCS#8 Firmchain writes is PBES2, PBKDF2-HMAC-SHA-256 with 600000 rounds and a 16-byte salt, AES-256-CBC, byte for byte")
    func pbes2Layout() throws {
        let signer = try SoftwareSigner(generating: .ed25519)
        let plain = try #require(PEM.firstBlock(in: try signer.privateKeyPEM(encryptedWith: nil))).der
        // OneAsymmetricKey v0 with CurvePrivateKey (RFC 8410 §7): 48 bytes, the last 32 the key.
        #expect(Array(plain.prefix(16)) == Hex.decode("302e020100300506032b657004220420")!)
        #expect(plain.count == 48)
        let der = try #require(PEM.firstBlock(in: try signer.privateKeyPEM(encryptedWith: Secret(string: "pw")))).der
        // 48 plaintext bytes pad to 64 of ciphertext; everything else is fixed but salt and IV.
        let expected = Hex.decode(
            "3081a4" + "3060" + "06092a864886f70d01050d" + "3053"
            + "3032" + "06092a864886f70d01050c" + "3025" + "0410" + String(repeating: "00", count: 16) + "02030927c0"
            + "300c" + "06082a864886f70d0209" + "0500"
            + "301d" + "060960864801650304012a" + "0410" + String(repeating: "00", count: 16)
            + "0440" + String(repeating: "00", count: 64))!
        try #require(der.count == expected.count)
        let salt = Array(der[35..<51]), iv = Array(der[85..<101]), ciphertext = Array(der[103...])
        var filled = expected
        filled.replaceSubrange(35..<51, with: salt)
        filled.replaceSubrange(85..<101, with: iv)
        filled.replaceSubrange(103..., with: ciphertext)
        #expect(der == filled)
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array("pw".utf8), salt: salt, using: .sha256, outputByteCount: 32,
                                                    unsafeUncheckedRounds: 600_000)
        #expect(Array(try AES._CBC.decrypt(ciphertext, using: key, iv: try AES._CBC.IV(ivBytes: iv))) == plain)
    }

    @Test("encrypted PKCS#8 that openssl writes with parameters Firmchain does not take is refused with the reason, naming the file",
          arguments: [
              (["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1", "-iter", "1000"], "PBKDF2 with a PRF other than HMAC-SHA-256 is not supported"),
              (["-v2", "aes-192-cbc", "-iter", "1000"], "PBES2 encryption other than AES-CBC is not supported"),
              (["-v2", "aes-256-cbc", "-iter", "999"], "PBKDF2 iteration count 999 is outside 1000…10000000"),
              (["-scrypt"], "PBES2 key derivation other than PBKDF2 (scrypt?) is not supported"),
              (["-v1", "PBE-SHA1-3DES", "-iter", "1000"], "the key is encrypted with a scheme other than PBES2"),
          ])
    func refusedPBES2Parameters(_ args: [String], _ reason: String) throws {
        let dir = try TemporaryDirectory()
        let plain = dir.file("plain.pem"), enc = dir.file("enc.pem"), pw = dir.file("pw")
        try AtomicFile.write(Array(Self.passphrase.utf8), to: pw, mode: 0o600)
        try OpenSSL.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain])
        try OpenSSL.run(["pkcs8", "-topk8", "-in", plain, "-passout", "file:\(pw)", "-out", enc] + args)
        do {
            _ = try SoftwareSigner(pemFile: enc, passphrase: { Secret(string: Self.passphrase) })
            Issue.record("\(args) opened")
        } catch let e as FirmchainError {
            #expect(e.code.id == "signing.key-unsupported" && e.reason.hasPrefix(reason) && e.path == enc, "\(e)")
        }
    }

    @Test("ECDSA signatures converted from r‖s are the DER swift-crypto writes", arguments: [32, 48])
    func ecdsaDERMatchesSwiftCrypto(_ n: Int) throws {
        var rng = SeededGenerator(seed: UInt64(n))
        for i in 0..<200 {
            var raw = rng.bytes(2 * n)
            if i % 4 == 0 { raw[0] = 0 }
            if i % 5 == 0 { raw[n] = 0xFF }
            let der = try #require(ECDSASignatureCoding.der(fromRaw: raw, scalarLength: n))
            let reference = n == 32 ? Array(try P256.Signing.ECDSASignature(rawRepresentation: raw).derRepresentation)
                                    : Array(try P384.Signing.ECDSASignature(rawRepresentation: raw).derRepresentation)
            #expect(der == reference)
        }
        #expect(ECDSASignatureCoding.der(fromRaw: [UInt8](repeating: 1, count: 2 * n - 1), scalarLength: n) == nil)
    }
}
