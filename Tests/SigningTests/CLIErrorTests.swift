import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// Every error path of `firmchain keys` and `firmchain sign` run as a user would, with
/// distinctive PINs; no PIN ever shows up on stdout or stderr, in text or JSON mode.
@Suite("CLI error paths never show the PIN")
struct CLIErrorTests {
    /// A wrong PIN that is easy to grep for.
    static let wrongPIN = "Wombat-WRONG-PIN-90210"
    /// A PIN written into a URI.
    static let uriPIN = "Platypus-URI-PIN-31337"

    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let args: [String]
        let pin: String?
        let code: String
        let exit: Int32
        /// What the one line must say (the file or the problem), when the case checks it.
        var mentions: String? = nil
        var description: String { name }
    }

    static func cases(_ t: SoftHSMFixture, data: String, out: String) -> [Case] {
        let key = t.keys[0].uri  // firmchain P-256
        let pin = SoftHSMFixture.pin
        return [
            Case(name: "module missing", args: ["sign", "--key", "\(key)?module-path=/nonexistent/lib.so", "--in", data, "--out", out],
                 pin: pin, code: "signing.module-not-found", exit: 5),
            Case(name: "module is not PKCS#11", args: ["keys", "export-public", "--key", "\(key)?module-path=/etc/hostname", "--out", out],
                 pin: pin, code: "signing.module-not-found", exit: 5),
            Case(name: "token missing", args: ["sign", "--key", "pkcs11:token=nope;object=x", "--in", data, "--out", out],
                 pin: pin, code: "signing.token-not-found", exit: 5),
            Case(name: "key missing", args: ["sign", "--key", "\(t.tokenURI);object=nope", "--in", data, "--out", out],
                 pin: pin, code: "signing.key-not-found", exit: 3),
            // Wrong PINs go to a token of their own (SoftHSMTestToken.wrongPINLabel).
            Case(name: "wrong PIN on sign", args: ["sign", "--key", t.wrongPINKeyURI, "--in", data, "--out", out],
                 pin: wrongPIN, code: "signing.pin-incorrect", exit: 4),
            Case(name: "wrong PIN on keys list", args: ["keys", "list", "--token", t.wrongPINTokenURI],
                 pin: wrongPIN, code: "signing.pin-incorrect", exit: 4),
            Case(name: "wrong PIN on keys generate", args: ["keys", "generate", "--token", t.wrongPINTokenURI, "--type", "ed25519", "--label", "never"],
                 pin: wrongPIN, code: "signing.pin-incorrect", exit: 4),
            Case(name: "no PIN and no terminal", args: ["sign", "--key", key, "--in", data, "--out", out],
                 pin: nil, code: "signing.pin-missing", exit: 4),
            Case(name: "an empty FIRMCHAIN_PKCS11_PIN is a missing PIN, never sent to the token (it would count as a failed try)",
                 args: ["sign", "--key", key, "--in", data, "--out", out], pin: "", code: "signing.pin-missing", exit: 4),
            Case(name: "an empty pin-source file is a missing PIN", args: ["sign", "--key", "\(key)?pin-source=\(data).empty-pin", "--in", data, "--out", out],
                 pin: pin, code: "signing.pin-missing", exit: 4),
            Case(name: "a pin-source file that cannot be read", args: ["sign", "--key", "\(key)?pin-source=file:\(data).no-such-pin", "--in", data, "--out", out],
                 pin: pin, code: "signing.pin-source-unreadable", exit: 4, mentions: "\(data).no-such-pin: cannot read the pin-source file"),
            Case(name: "a pin-source that is not an absolute path", args: ["sign", "--key", "\(key)?pin-source=pin.txt", "--in", data, "--out", out],
                 pin: pin, code: "signing.pin-source-unsupported", exit: 64, mentions: "pin-source must be file:/absolute/path or /absolute/path"),
            Case(name: "a URI without token= that both tokens of the module match",
                 args: ["sign", "--key", "pkcs11:object=fc-ecdsa-p256", "--in", data, "--out", out],
                 pin: pin, code: "signing.token-ambiguous", exit: 5, mentions: "2 tokens match the URI; add token= or serial="),
            Case(name: "an encrypted key whose --passphrase-file cannot be read",
                 args: ["sign", "--key", "\(data).enc.pem", "--passphrase-file", "\(data).no-such-passphrase", "--in", data, "--out", out],
                 pin: pin, code: "signing.passphrase-file-unreadable", exit: 66, mentions: "\(data).no-such-passphrase: cannot read the passphrase file"),
            Case(name: "PIN in the URI", args: ["sign", "--key", "\(key)?pin-value=\(uriPIN)", "--in", data, "--out", out],
                 pin: pin, code: "signing.pin-value-refused", exit: 2),
            Case(name: "algorithm the key cannot do", args: ["sign", "--key", key, "--algorithm", "rsa-pss-sha256", "--in", data, "--out", out],
                 pin: pin, code: "signing.algorithm-unsupported", exit: 3),
            Case(name: "token refuses the mechanism", args: ["sign", "--key", t.noSignKeyURI, "--in", data, "--out", out],
                 pin: pin, code: "signing.mechanism-refused", exit: 5),
            Case(name: "key label already used", args: ["keys", "generate", "--token", t.tokenURI, "--type", "ecdsa-p256", "--label", "fc-ecdsa-p256"],
                 pin: pin, code: "signing.key-exists", exit: 3),
            Case(name: "malformed URI", args: ["sign", "--key", "pkcs11:token=%zz", "--in", data, "--out", out],
                 pin: pin, code: "signing.uri-malformed", exit: 64),
        ]
    }

    @Test("each error path exits with its code and never prints a PIN")
    func errorPaths() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        try AtomicFile.write([1, 2, 3], to: dir.file("data"))
        try AtomicFile.write([], to: dir.file("data") + ".empty-pin")
        try AtomicFile.write(Array(try SoftwareSigner(generating: .ecdsaP256).privateKeyPEM(encryptedWith: Secret(string: "passphrase")).utf8),
                             to: dir.file("data") + ".enc.pem", mode: 0o600)
        let out = dir.file("sig")
        for c in Self.cases(token, data: dir.file("data"), out: out) {
            for json in [false, true] {
                var env = ["SOFTHSM2_CONF": token.conf]
                env["FIRMCHAIN_PKCS11_PIN"] = c.pin ?? ""
                var args = c.args
                if json { args.append("--json") }
                let r = try runProcess(TestEnv.firmchain, args, environment: c.pin == nil ? ["SOFTHSM2_CONF": token.conf] : env)
                if c.pin == nil {
                    // Make sure the variable is really unset in the child, not just empty.
                    let r2 = try runProcessWithout("FIRMCHAIN_PKCS11_PIN", args, environment: ["SOFTHSM2_CONF": token.conf])
                    check(r2, c, json: json)
                } else {
                    check(r, c, json: json)
                }
                #expect(!FileManager.default.fileExists(atPath: out), "\(c): no signature is written on error")
            }
        }
    }

    /// (The 'locked PIN' case needs a module that locks: LockedPINModuleTests.) Here the
    /// successful commands are checked for leaks too.
    @Test("successful commands do not print the PIN either")
    func successPaths() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        try AtomicFile.write([1, 2, 3], to: dir.file("data"))
        for args in [["sign", "--key", token.keys[0].uri, "--in", dir.file("data"), "--out", dir.file("s"), "--verbose"],
                     ["keys", "list", "--token", token.tokenURI, "--json"], ["keys", "list", "--token", token.tokenURI],
                     ["keys", "export-public", "--key", token.keys[2].uri, "--out", dir.file("p")]] {
            let r = try runProcess(TestEnv.firmchain, args, environment: token.environment)
            #expect(r.status == 0, "\(args): \(r.err)")
            #expect(!r.out.contains(SoftHSMFixture.pin) && !r.err.contains(SoftHSMFixture.pin))
        }
    }

    @Test("on a terminal the PIN is prompted for, not echoed, and works")
    func terminalPrompt() throws {
        let token = try SoftHSMFixture.get()
        guard TestEnv.hasTool("script") else {
            Issue.record("script (util-linux) is missing; it provides the pseudo-terminal for this test")
            return
        }
        let dir = try TemporaryDirectory()
        try AtomicFile.write([5, 5, 5], to: dir.file("data"))
        // script(1) gives firmchain a pseudo-terminal on stdin; the PIN is typed after the
        // prompt has turned echo off (typed-ahead input would be flushed by TCSAFLUSH).
        let command = "\(TestEnv.firmchain) sign --key '\(token.keys[0].uri)' --in \(dir.file("data")) --out \(dir.file("sig"))"
        let shell = "(sleep 2; printf '%s\\n' \"$TYPED_PIN\") | timeout 60 script -qec \"$CMD\" /dev/null"
        let r = try runProcess("/usr/bin/env", ["-u", "FIRMCHAIN_PKCS11_PIN", "sh", "-c", shell],
                               environment: ["SOFTHSM2_CONF": token.conf, "TYPED_PIN": SoftHSMFixture.pin, "CMD": command])
        #expect(r.out.contains("PIN for token \"\(token.label)\""), "\(r.out) \(r.err)")
        #expect(r.out.contains("wrote"), "\(r.out) \(r.err)")
        #expect(!r.out.contains(SoftHSMFixture.pin) && !r.err.contains(SoftHSMFixture.pin), "the typed PIN is not echoed")
        #expect(FileManager.default.fileExists(atPath: dir.file("sig")))
    }

    @Test("a broken SOFTHSM2_CONF is a module failure, not a crash")
    func badConfig() throws {
        let token = try SoftHSMFixture.get()
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Array("directories.tokendir = /nonexistent/tokens\n".utf8), to: dir.file("bad.conf"))
        let r = try runProcess(TestEnv.firmchain, ["keys", "list"], environment: ["SOFTHSM2_CONF": dir.file("bad.conf"), "FIRMCHAIN_PKCS11_PIN": SoftHSMFixture.pin])
        #expect(r.status == 5)
        #expect(r.err.contains("[signing.module-failed]"), "\(r.err)")
        _ = token
    }

    private func check(_ r: ProcessResult, _ c: Case, json: Bool) {
        #expect(r.status == c.exit, "\(c) json=\(json): exit \(r.status), \(r.err)")
        if json {
            #expect(r.err.contains("\"code\":\"\(c.code)\"") || r.err.contains("\"code\": \"\(c.code)\""), "\(c): \(r.err)")
        } else {
            #expect(r.err.contains("[\(c.code)]"), "\(c): \(r.err)")
            if let mentions = c.mentions { #expect(r.err.contains(mentions), "\(c): \(r.err)") }
            #expect(r.err.split(separator: "\n").count == 1, "\(c): one line: \(r.err)")
        }
        for secret in [SoftHSMFixture.pin, SoftHSMFixture.soPin, Self.wrongPIN, Self.uriPIN] {
            #expect(!r.out.contains(secret) && !r.err.contains(secret), "\(c) leaked a PIN: \(r.out) \(r.err)")
        }
    }

    /// Runs firmchain with `name` removed from the inherited environment.
    private func runProcessWithout(_ name: String, _ args: [String], environment: [String: String]) throws -> ProcessResult {
        try runProcess("/usr/bin/env", ["-u", name, TestEnv.firmchain] + args, environment: environment)
    }
}
