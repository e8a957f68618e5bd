import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// Checks with the real openssl (Docs/formats/interop.md "Signatures checked with openssl").
enum OpenSSL {
    /// Fails the test (never skips) when a tool is missing.
    static func require(_ tool: String) throws {
        guard TestEnv.hasTool(tool) else {
            Issue.record("\(tool) is not installed; `make setup` installs it")
            throw CancellationError()
        }
    }

    /// Runs `openssl args`, failing the test on a non-zero exit.
    @discardableResult
    static func run(_ args: [String], stdin: Data? = nil) throws -> ProcessResult {
        try require("openssl")
        let r = try runProcess("openssl", args, stdin: stdin)
        if r.status != 0 { Issue.record("openssl \(args.joined(separator: " ")) failed: \(r.err)") }
        return r
    }

    /// Verifies a signature file over a data file with a PEM public key, the way a user would:
    /// `openssl dgst` for ECDSA and RSA-PSS, `openssl pkeyutl -rawin` for Ed25519.
    static func verify(publicKey: String, data: String, signature: String, algorithm: SignatureAlgorithm) throws -> Bool {
        try require("openssl")
        let args: [String]
        switch algorithm {
        case .ecdsaP256SHA256: args = ["dgst", "-sha256", "-verify", publicKey, "-signature", signature, data]
        case .ecdsaP384SHA384: args = ["dgst", "-sha384", "-verify", publicKey, "-signature", signature, data]
        case .rsaPSSSHA256:
            args = ["dgst", "-sha256", "-verify", publicKey, "-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:-2", "-signature", signature, data]
        case .rsaPKCS1v15SHA256: args = ["dgst", "-sha256", "-verify", publicKey, "-signature", signature, data]
        case .ed25519: args = ["pkeyutl", "-verify", "-pubin", "-inkey", publicKey, "-rawin", "-in", data, "-sigfile", signature]
        }
        let r = try runProcess("openssl", args)
        return r.status == 0 && (r.out.contains("Verified OK") || r.out.contains("Signature Verified Successfully"))
    }

    /// Writes `bytes` and `pem` to files in `dir` and verifies with openssl.
    static func verify(_ signature: [UInt8], over data: [UInt8], publicKeyPEM pem: String, algorithm: SignatureAlgorithm,
                       in dir: TemporaryDirectory, name: String) throws -> Bool {
        try AtomicFile.write(data, to: dir.file("\(name).data"))
        try AtomicFile.write(signature, to: dir.file("\(name).sig"))
        try AtomicFile.write(Array(pem.utf8), to: dir.file("\(name).pub.pem"))
        return try verify(publicKey: dir.file("\(name).pub.pem"), data: dir.file("\(name).data"),
                          signature: dir.file("\(name).sig"), algorithm: algorithm)
    }
}

/// Asserts that `body` throws a `FirmchainError` with `code`.
func expectSigningError(_ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as FirmchainError {
        #expect(e.code.id == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
