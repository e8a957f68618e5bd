import Encryption
import FirmchainCore
import Foundation
import Testing
import TestSupport

@Suite("decryption keys in a SoftHSM token")
struct SoftHSMDecryptTests {
    /// A token of its own with a P-256 pair that may derive (CKA_DERIVE) and one that may only sign.
    func token() throws -> SoftHSMToken {
        let t = try SoftHSMToken(label: "device-class")
        for (label, id, usage) in [("hw-a", "01", "--usage-derive"), ("sign-only", "02", "--usage-sign")] {
            let r = try runProcess("pkcs11-tool", ["--module", SoftHSMToken.modulePath, "--token-label", t.label, "--login", "--pin", t.pin,
                                                   "--keypairgen", "--key-type", "EC:prime256v1", "--id", id, "--label", label, usage,
                                                   "--sensitive", "--private"], environment: t.environment)
            #expect(r.status == 0, "\(r.err)")
        }
        return t
    }

    @Test("a payload encrypted for a token's public key decrypts through CKM_ECDH1_DERIVE, and pycose agrees on the plaintext")
    func decryptThroughToken() throws {
        let t = try token()
        let k = try CLIKeys()
        let enc = try runProcess(TestEnv.firmchain, ["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"),
                                                      "--recipient", t.uri("hw-a"), "--recipient", "kek:" + k.path("fleet.kek")],
                                 environment: t.environment)
        expectOK(enc)
        let dec = try runProcess(TestEnv.firmchain, ["decrypt", "--json", "--in", k.path("fw.enc"), "--key", t.uri("hw-a"), "--out", k.path("out/fw.bin")],
                                 environment: t.environment)
        expectOK(dec)
        #expect(try FileIO.read(k.path("out/fw.bin")) == k.plaintext)
        let doc = try JSONReader().parse(Array(dec.stdout))
        #expect(doc["recipient"]?["algorithm"]?.stringValue == "ECDH-ES+A256KW")
        // The same structure opens for pycose with the group key: one ciphertext for both.
        expectOK(try k.pycose(["decrypt", k.path("fw.enc.cose"), k.path("fw.enc"), "kek:" + k.path("fleet.kek"), k.path("py.out")]))
        #expect(try FileIO.read(k.path("py.out")) == k.plaintext)
    }

    @Test("pycose's output for the token's public key decrypts through the token")
    func pycoseToToken() throws {
        let t = try token()
        let k = try CLIKeys()
        let pub = try runProcess(TestEnv.firmchain, ["keys", "export-public", "--key", t.uri("hw-a"), "--out", k.path("hw-a.pub")], environment: t.environment)
        expectOK(pub)
        expectOK(try k.pycose(["encrypt", k.path("fw.bin"), k.path("py.cose"), k.path("py.enc"), "ec:" + k.path("hw-a.pub")]))
        expectOK(try runProcess(TestEnv.firmchain, ["decrypt", "--in", k.path("py.enc"), "--cose", k.path("py.cose"), "--key", t.uri("hw-a"),
                                                    "--out", k.path("out/fw.bin")], environment: t.environment))
        #expect(try FileIO.read(k.path("out/fw.bin")) == k.plaintext)
    }

    @Test("a token key without CKA_DERIVE is refused by the token (exit 5), a wrong PIN exits 4, and neither leaves plaintext")
    func tokenRefusals() throws {
        let t = try token()
        let k = try CLIKeys()
        expectOK(try runProcess(TestEnv.firmchain, ["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--recipient", t.uri("sign-only")],
                                environment: t.environment))
        let refused = try runProcess(TestEnv.firmchain, ["decrypt", "--in", k.path("fw.enc"), "--key", t.uri("sign-only"), "--out", k.path("out/fw.bin")],
                                     environment: t.environment)
        #expect(refused.status == 5)
        #expect(refused.err.contains("CKM_ECDH1_DERIVE"), "\(refused.err)")
        var env = t.environment
        env["FIRMCHAIN_PKCS11_PIN"] = "wrong-pin"
        let wrongPIN = try runProcess(TestEnv.firmchain, ["decrypt", "--in", k.path("fw.enc"), "--key", t.uri("hw-a"), "--out", k.path("out/fw.bin")],
                                      environment: env)
        #expect(wrongPIN.status == 4)
        #expect(!wrongPIN.err.contains("wrong-pin"))
        #expect(k.outputDirectoryIsEmpty)
    }

    @Test("firmchain keys generate --usage key-agreement makes a token key that decrypts and cannot sign; a signing key cannot decrypt")
    func generatedKeyAgreementKey() throws {
        let t = try SoftHSMToken(label: "generated-kek")
        let k = try CLIKeys()
        expectOK(try runProcess(TestEnv.firmchain, ["keys", "generate", "--token", "pkcs11:token=\(t.label)", "--type", "ecdsa-p256",
                                                    "--usage", "key-agreement", "--label", "hw-class"], environment: t.environment))
        let uri = "pkcs11:token=\(t.label);object=hw-class"
        expectOK(try runProcess(TestEnv.firmchain, ["encrypt", "--in", k.path("fw.bin"), "--out", k.path("fw.enc"), "--recipient", uri],
                                environment: t.environment))
        expectOK(try runProcess(TestEnv.firmchain, ["decrypt", "--in", k.path("fw.enc"), "--key", uri, "--out", k.path("out/fw.bin")],
                                environment: t.environment))
        #expect(try FileIO.read(k.path("out/fw.bin")) == k.plaintext)
        let sign = try runProcess(TestEnv.firmchain, ["sign", "--key", uri, "--in", k.path("fw.bin"), "--out", k.path("fw.sig")], environment: t.environment)
        #expect(sign.status != 0 && !FileIO.exists(k.path("fw.sig")), "a key-agreement key signed: \(sign.err)")
        let refused = try runProcess(TestEnv.firmchain, ["keys", "generate", "--token", "pkcs11:token=\(t.label)", "--type", "ed25519",
                                                         "--usage", "key-agreement", "--label", "x"], environment: t.environment)
        #expect(refused.status == 64 && refused.err.contains("--usage key-agreement"), "\(refused.err)")
    }
}
