import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// One SoftHSM token per test process, in a temporary directory (INTEROP.md "PKCS#11 with
/// SoftHSM"), holding all four key types twice: made by `firmchain keys generate` and by
/// OpenSC's `pkcs11-tool`. RSA-3072 key generation is the slow part, so suites share it.
///
/// The in-process module reads `SOFTHSM2_CONF` once, at C_Initialize, so the fixture sets it
/// for the test process before anything loads the module.
final class SoftHSMFixture: @unchecked Sendable {
    static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    /// Distinctive strings, so a leak is found by grep.
    static let pin = "Quokka-PIN-4711"
    static let soPin = "SO-PIN-0815"
    let label = "firmchain-test"
    let dir: TemporaryDirectory
    let conf: String

    /// A key in the token: its URI, its type and who made it.
    struct Key: Sendable, CustomStringConvertible {
        let uri: String
        let type: KeyType
        let maker: String
        var description: String { "\(maker) \(type.rawValue)" }
    }
    private(set) var keys: [Key] = []
    /// A P-256 key whose private half has CKA_SIGN = FALSE: the token refuses to sign with it.
    private(set) var noSignKeyURI = ""

    private static let shared: Result<SoftHSMFixture, Error> = Result { try SoftHSMFixture() }

    /// The shared token; fails the calling test (never skips) if it cannot be made.
    static func get() throws -> SoftHSMFixture {
        switch shared {
        case .success(let f): return f
        case .failure(let e):
            Issue.record("cannot create the SoftHSM test token: \(e)")
            throw e
        }
    }

    /// Environment for child processes: the token config and the PIN.
    var environment: [String: String] { ["SOFTHSM2_CONF": conf, "FIRMCHAIN_PKCS11_PIN": Self.pin] }

    /// Signer options with the PIN provider tests use.
    var options: SignerOptions { SignerOptions(pin: { _ in Secret(string: SoftHSMFixture.pin) }) }

    var tokenURI: String { "pkcs11:token=\(label)" }

    private init() throws {
        for tool in ["softhsm2-util", "pkcs11-tool", "openssl"] where !TestEnv.hasTool(tool) {
            throw FixtureError("\(tool) is not installed; `make setup` installs it")
        }
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw FixtureError("\(Self.modulePath) is missing; `make setup` installs softhsm2")
        }
        guard FileManager.default.isExecutableFile(atPath: TestEnv.firmchain) else {
            throw FixtureError("\(TestEnv.firmchain) is not built; run swift build --build-tests")
        }
        dir = try TemporaryDirectory("firmchain-softhsm")
        conf = dir.file("softhsm2.conf")
        try FileManager.default.createDirectory(atPath: dir.file("tokens"), withIntermediateDirectories: true)
        try AtomicFile.write(Array("directories.tokendir = \(dir.file("tokens"))\nobjectstore.backend = file\nlog.level = ERROR\n".utf8), to: conf)
        setenv("SOFTHSM2_CONF", conf, 1)

        try Self.check(runProcess("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", Self.soPin, "--pin", Self.pin],
                                  environment: environment), "softhsm2-util --init-token")
        let types: [(KeyType, String, String)] = [
            (.ecdsaP256, "ecdsa-p256", "EC:prime256v1"), (.ecdsaP384, "ecdsa-p384", "EC:secp384r1"),
            (.ed25519, "ed25519", "EC:edwards25519"), (.rsa, "rsa-3072", "rsa:3072"),
        ]
        for (i, (type, fcType, toolType)) in types.enumerated() {
            try Self.check(runProcess(TestEnv.firmchain, ["keys", "generate", "--token", tokenURI, "--type", fcType, "--label", "fc-\(fcType)"],
                                      environment: environment), "firmchain keys generate \(fcType)")
            keys.append(Key(uri: "pkcs11:token=\(label);object=fc-\(fcType)", type: type, maker: "firmchain"))
            let id = String(format: "%02x", 0x40 + i)
            try Self.check(runProcess("pkcs11-tool", ["--module", Self.modulePath, "--token-label", label, "--login", "--pin", Self.pin,
                                                      "--keypairgen", "--key-type", toolType, "--id", id, "--label", "tool-\(fcType)",
                                                      "--usage-sign", "--sensitive", "--private"], environment: environment),
                           "pkcs11-tool --keypairgen \(toolType)")
            keys.append(Key(uri: "pkcs11:token=\(label);id=%\(id)", type: type, maker: "pkcs11-tool"))
        }
        noSignKeyURI = try makeNoSignKey()
    }

    /// Generates a P-256 pair whose private key may not sign, through the real module.
    private func makeNoSignKey() throws -> String {
        let resolved = try PKCS11TokenResolver.resolve(try PKCS11URI(parsing: tokenURI), options: options)
        let pool = try PKCS11SessionPool(functions: resolved.functions, token: resolved.info, readWrite: true, uri: tokenURI)
        try pool.login(pin: Secret(string: Self.pin), uri: tokenURI)
        try pool.withSession { s in
            _ = try resolved.functions.generateKeyPair(s, mechanism: .ecKeyPairGen, publicTemplate: [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aECParams, bytes: OID.p256),
                PKCS11Attribute(CK.aLabel, string: "no-sign"), PKCS11Attribute(CK.aID, bytes: [0x77]),
            ], privateTemplate: [
                PKCS11Attribute(CK.aToken, bool: true), PKCS11Attribute(CK.aPrivate, bool: true),
                PKCS11Attribute(CK.aSign, bool: false), PKCS11Attribute(CK.aLabel, string: "no-sign"), PKCS11Attribute(CK.aID, bytes: [0x77]),
            ])
        }
        return "pkcs11:token=\(label);object=no-sign"
    }

    private static func check(_ r: ProcessResult, _ what: String) throws {
        if r.status != 0 { throw FixtureError("\(what) failed (\(r.status)): \(r.err)") }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
