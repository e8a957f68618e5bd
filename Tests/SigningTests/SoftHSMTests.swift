import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// PKCS#11 signing against a real SoftHSM token; openssl verifies every signature.
@Suite("PKCS#11 keys in SoftHSM")
struct SoftHSMTests {
    let message = SeededGenerator(seed: 11).bytesArray(5000)

    @Test("keys made by firmchain and by pkcs11-tool, all four types, sign through the library and openssl verifies")
    func librarySignsAndOpenSSLVerifies() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        #expect(token.keys.count == 8)
        for key in token.keys {
            let signer = try Signers.open(key.uri, options: token.options)
            #expect(signer.publicKey.keyType == key.type, "\(key)")
            #expect(signer.supportedAlgorithms == key.type.supportedAlgorithms)
            #expect(signer.supportedAlgorithms.first == key.type.defaultAlgorithm)
            if key.type == .rsa { #expect(signer.publicKey.rsaBits == 3072) }
            // The public key read without login (public object) equals the one behind the signer.
            #expect(try Signers.publicKey(of: key.uri, options: SignerOptions()) == signer.publicKey, "\(key)")
            let algorithm = key.type.defaultAlgorithm
            let signature = try signer.sign(message, algorithm: algorithm)
            #expect(try OpenSSL.verify(signature, over: message, publicKeyPEM: signer.publicKey.pem,
                                       algorithm: algorithm, in: dir, name: "lib"), "\(key)")
        }
    }

    @Test("firmchain sign and keys export-public on the command line give signatures openssl verifies")
    func cliSignsAndOpenSSLVerifies() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        try AtomicFile.write(message, to: dir.file("data"))
        for (i, key) in token.keys.enumerated() {
            let pub = dir.file("\(i).pub.pem"), sig = dir.file("\(i).sig")
            let e = try runProcess(TestEnv.firmchain, ["keys", "export-public", "--key", key.uri, "--out", pub, "--json"], environment: token.environment)
            #expect(e.status == 0, "\(key): \(e.err)")
            let s = try runProcess(TestEnv.firmchain, ["sign", "--key", key.uri, "--in", dir.file("data"), "--out", sig, "--json"],
                                   environment: token.environment)
            #expect(s.status == 0, "\(key): \(s.err)")
            let doc = try JSONReader().parse(Array(s.stdout), path: "stdout")
            #expect(doc["tuf_scheme"]?.stringValue == key.type.defaultAlgorithm.tufScheme)
            #expect(try OpenSSL.verify(publicKey: pub, data: dir.file("data"), signature: sig, algorithm: key.type.defaultAlgorithm), "\(key)")
        }
    }

    @Test("raw r‖s from the token has fixed length and its DER form verifies with openssl")
    func rawEncodingFromToken() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        for key in token.keys where key.type == .ecdsaP256 || key.type == .ecdsaP384 {
            let signer = try Signers.open(key.uri, options: token.options)
            let n = key.type.ecdsaScalarLength!
            let raw = try signer.sign(message, algorithm: key.type.defaultAlgorithm, encoding: .raw)
            #expect(raw.count == 2 * n)
            let der = try #require(ECDSASignatureCoding.der(fromRaw: raw, scalarLength: n))
            #expect(try OpenSSL.verify(der, over: message, publicKeyPEM: signer.publicKey.pem,
                                       algorithm: key.type.defaultAlgorithm, in: dir, name: "raw"), "\(key)")
        }
        // And through the CLI.
        try AtomicFile.write(message, to: dir.file("data"))
        let r = try runProcess(TestEnv.firmchain, ["sign", "--key", token.keys[0].uri, "--in", dir.file("data"), "--out", dir.file("raw.sig"),
                                                   "--encoding", "raw"], environment: token.environment)
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileIO.read(dir.file("raw.sig")).count == 64)
    }

    @Test("four threads signing through one signer get only valid signatures")
    func fourThreads() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        for key in token.keys where key.maker == "firmchain" && key.type != .rsa {
            let signer = try Signers.open(key.uri, options: token.options)
            let perThread = 25
            let lock = NSLock()
            nonisolated(unsafe) var results: [(Int, [UInt8])] = []
            nonisolated(unsafe) var errors: [Error] = []
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for i in 0..<perThread {
                    let msg = Array("thread \(t) message \(i)".utf8)
                    do {
                        let s = try signer.sign(msg, algorithm: key.type.defaultAlgorithm)
                        lock.lock(); results.append((t * 1000 + i, s)); lock.unlock()
                    } catch {
                        lock.lock(); errors.append(error); lock.unlock()
                    }
                }
            }
            #expect(errors.isEmpty, "\(key): \(errors.prefix(3))")
            #expect(results.count == 4 * perThread)
            // Check every one with openssl, not only with the code that produced them.
            try AtomicFile.write(Array(signer.publicKey.pem.utf8), to: dir.file("pub.pem"))
            for (tag, sig) in results {
                try AtomicFile.write(Array("thread \(tag / 1000) message \(tag % 1000)".utf8), to: dir.file("m"))
                try AtomicFile.write(sig, to: dir.file("s"))
                #expect(try OpenSSL.verify(publicKey: dir.file("pub.pem"), data: dir.file("m"), signature: dir.file("s"),
                                           algorithm: key.type.defaultAlgorithm), "\(key) \(tag)")
            }
        }
    }

    @Test("the PIN can come from a pin-source file, and pin-value only with the Unsafe option")
    func pinSources() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Array("\(SoftHSMFixture.pin)\n".utf8), to: dir.file("pin"))
        let viaFile = try Signers.open("\(token.keys[0].uri)?pin-source=file:\(dir.file("pin"))", options: SignerOptions())
        #expect(try viaFile.sign([1]).count > 8)
        let uriWithPIN = "\(token.keys[0].uri)?pin-value=\(SoftHSMFixture.pin)"
        expectSigningError("signing.pin-value-refused") { _ = try Signers.open(uriWithPIN, options: SignerOptions()) }
        var unsafe = SignerOptions()
        unsafe.allowUnsafePINValueInURI = true
        let signer = try Signers.open(uriWithPIN, options: unsafe)
        #expect(!signer.keyDescription.contains(SoftHSMFixture.pin))
    }

    @Test("each token error has its code: module, token, key, PIN, algorithm, mechanism")
    func errors() throws {
        let token = try SoftHSMFixture.get()
        let key = token.keys[0].uri
        let wrongPIN = SignerOptions(pin: { _ in Secret(string: "not-the-pin") })
        expectSigningError("signing.module-not-found") { _ = try Signers.open("\(key)?module-path=/nonexistent/libpkcs11.so", options: token.options) }
        expectSigningError("signing.module-not-found") { _ = try Signers.open("\(key)?module-path=/etc/hostname", options: token.options) }
        expectSigningError("signing.token-not-found") { _ = try Signers.open("pkcs11:token=no-such-token;object=x", options: token.options) }
        expectSigningError("signing.key-not-found") { _ = try Signers.open("\(token.tokenURI);object=no-such-key", options: token.options) }
        expectSigningError("signing.key-not-found") { _ = try Signers.open("\(key);type=public", options: token.options) }
        expectSigningError("signing.key-ambiguous") { _ = try Signers.open(token.tokenURI, options: token.options) }
        expectSigningError("signing.pin-incorrect") { _ = try Signers.open(token.wrongPINKeyURI, options: wrongPIN) }
        // An empty PIN is a missing one: it is never sent to the token (issue 18, item 11).
        expectSigningError("signing.pin-missing") { _ = try Signers.open(key, options: SignerOptions(pin: { _ in Secret(string: "") })) }
        expectSigningError("signing.pin-missing") { _ = try Signers.open(key, options: SignerOptions()) }
        let signer = try Signers.open(key, options: token.options)
        expectSigningError("signing.algorithm-unsupported") { _ = try signer.sign([1], algorithm: .rsaPSSSHA256) }
        expectSigningError("signing.algorithm-unsupported") { _ = try signer.sign([1], algorithm: .ed25519) }
        let noSign = try Signers.open(token.noSignKeyURI, options: token.options)
        expectSigningError("signing.mechanism-refused") { _ = try noSign.sign([1]) }
        expectSigningError("signing.uri-malformed") { _ = try Signers.open("pkcs11:token=a%zz", options: token.options) }
        expectSigningError("signing.uri-malformed") { _ = try Signers.open("\(key);x-vendor=1", options: token.options) }
    }

    @Test("keys list shows the token and every key with a URI that opens it")
    func listing() throws {
        let token = try SoftHSMFixture.get()
        let tokens = try PKCS11Inventory.tokens(matching: try PKCS11URI(parsing: token.tokenURI), options: token.options)
        #expect(tokens.map(\.label) == [token.label])
        let keys = try PKCS11Inventory.keys(in: try PKCS11URI(parsing: token.tokenURI), options: token.options)
        #expect(keys.count >= 9)
        for k in keys where k.label != "no-sign" {
            let signer = try Signers.open(k.uri.description, options: token.options)
            #expect(signer.publicKey == k.publicKey, "\(k.uri)")
        }
        let r = try runProcess(TestEnv.firmchain, ["keys", "list", "--token", token.tokenURI, "--json"], environment: token.environment)
        #expect(r.status == 0, "\(r.err)")
        let doc = try JSONReader().parse(Array(r.stdout), path: "stdout")
        #expect(doc["keys"]?.arrayValue?.count == keys.count)
        let t = try runProcess(TestEnv.firmchain, ["keys", "list"], environment: token.environment)
        #expect(t.out.contains("token=\(token.label)"))
    }
}

@Suite("PKCS#11 module lifetime")
struct PKCS11ModuleLifetimeTests {
    @Test("a second C_Initialize in the process is tolerated and its release does not finalize the module")
    func alreadyInitialized() throws {
        let token = try SoftHSMFixture.get()
        let signer = try Signers.open(token.keys[0].uri, options: token.options)
        do {
            // A second, independent load: the module answers CKR_CRYPTOKI_ALREADY_INITIALIZED.
            let second = try PKCS11Module(path: SoftHSMFixture.modulePath)
            #expect(try second.slotsWithTokens().count >= 1)
        }  // released here; it must not call C_Finalize
        #expect(try signer.sign([4, 2]).count > 8, "the first signer still works")
    }
}

@Suite("securesystemslib accepts Firmchain keys and signatures")
struct SecureSystemsLibTests {
    /// Verifies with securesystemslib's SSlibKey, built from exactly the keytype, scheme and
    /// keyval.public Firmchain reports for TUF.
    static let script = """
        import sys
        from securesystemslib.signer import SSlibKey, Signature
        kt, scheme, pub, sig, data = sys.argv[1:6]
        key = SSlibKey("k", kt, scheme, {"public": open(pub).read()})
        key.verify_signature(Signature("k", open(sig).read()), open(data, "rb").read())
        print("verified")
        """

    @Test("software and token keys of every type verify in securesystemslib")
    func verify() throws {
        guard FileManager.default.isExecutableFile(atPath: TestEnv.python) else {
            Issue.record("\(TestEnv.python) is missing; `make setup` creates the venv (or set FIRMCHAIN_PYTHON)")
            return
        }
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        var signers: [any Signer] = try KeyType.allCases.map { try SoftwareSigner(generating: $0) }
        signers += try token.keys.filter { $0.maker == "firmchain" }.map { try Signers.open($0.uri, options: token.options) }
        let message = Array("signed bytes".utf8)
        try AtomicFile.write(message, to: dir.file("data"))
        try AtomicFile.write(Array(Self.script.utf8), to: dir.file("v.py"))
        for s in signers {
            let pk = s.publicKey
            try AtomicFile.write(Array(pk.tufPublicValue.utf8), to: dir.file("pub"))
            try AtomicFile.write(Array(Hex.encode(try s.sign(message)).utf8), to: dir.file("sig"))
            let r = try runProcess(TestEnv.python, [dir.file("v.py"), pk.tufKeyType, pk.tufScheme, dir.file("pub"), dir.file("sig"), dir.file("data")])
            #expect(r.status == 0 && r.out.contains("verified"), "\(s.keyDescription) \(pk.tufScheme): \(r.err)")
        }
    }
}

@Suite("RSA PKCS#1 v1.5 signatures (Mender, CMS) from software and token keys")
struct RSAPKCS1v15Tests {
    @Test("a software RSA key and a SoftHSM RSA key sign rsa-pkcs1v15-sha256 that openssl dgst verifies, deterministically")
    func pkcs1v15() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        let tokenKey = try #require(token.keys.first { $0.type == .rsa && $0.maker == "firmchain" })
        let signers: [any Signer] = [try SoftwareSigner(generating: .rsa), try Signers.open(tokenKey.uri, options: token.options)]
        for (i, signer) in signers.enumerated() {
            let message = Array("pkcs1 v1.5".utf8)
            let a = try signer.sign(message, algorithm: .rsaPKCS1v15SHA256)
            #expect(try signer.sign(message, algorithm: .rsaPKCS1v15SHA256) == a, "PKCS#1 v1.5 is deterministic")
            #expect(try OpenSSL.verify(a, over: message, publicKeyPEM: signer.publicKey.pem, algorithm: .rsaPKCS1v15SHA256, in: dir, name: "p\(i)"))
            #expect(!signer.publicKey.isValidSignature(a, for: message, algorithm: .rsaPSSSHA256))
        }
    }
}
