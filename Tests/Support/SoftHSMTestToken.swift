import FirmchainCore
import Foundation

/// The one SoftHSM token of a test process, in a temporary directory (Docs/formats/interop.md "PKCS#11
/// with SoftHSM"), holding P-256, P-384, Ed25519 and RSA-3072 keys made twice: by
/// `firmchain keys generate` and by OpenSC's `pkcs11-tool`.
///
/// Why one per process: SwiftPM links every test target into one test binary, and SoftHSM
/// reads `SOFTHSM2_CONF` once, at the first `C_Initialize` — which Firmchain does once per
/// process. A second token directory would be silently ignored. Every test target that
/// signs with SoftHSM in-process (Signing, TUF, custody) uses this token; this type sets
/// `SOFTHSM2_CONF` for the process before anything loads the module.
public final class SoftHSMTestToken: @unchecked Sendable {
    /// The Debian SoftHSM module.
    public static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    /// The user PIN; distinctive so that a leak is found by grep.
    public static let pin = "Quokka-PIN-4711"
    /// The security officer PIN.
    public static let soPin = "SO-PIN-0815"
    /// The token label.
    public let label = "firmchain-test"
    /// The temporary directory holding the config and the token files.
    public let dir: TemporaryDirectory
    /// The SoftHSM config file (`SOFTHSM2_CONF`).
    public let conf: String

    /// A key in the token.
    public struct Key: Sendable, CustomStringConvertible {
        /// A `pkcs11:` URI naming the private key (no PIN in it).
        public let uri: String
        /// `ecdsa-p256`, `ecdsa-p384`, `ed25519` or `rsa-3072` (the `--type` names).
        public let type: String
        /// `firmchain` or `pkcs11-tool`.
        public let maker: String
        public var description: String { "\(maker) \(type)" }
    }
    /// Eight keys: every type, made by each tool.
    public private(set) var keys: [Key] = []

    /// The environment child processes need: the token config and the PIN.
    public var environment: [String: String] { ["SOFTHSM2_CONF": conf, "FIRMCHAIN_PKCS11_PIN": Self.pin] }
    /// `pkcs11:token=<label>`.
    public var tokenURI: String { "pkcs11:token=\(label)" }

    /// A second token in the same token directory, for tests that log in with a wrong PIN.
    /// SoftHSM rewrites a token's `token.object` (its PIN-count flags) after a failed login and
    /// again after the next good one; a process that scans the slots while that file is being
    /// rewritten does not see the token. Wrong PINs therefore go to this token only, so the
    /// many tests signing with the main token at the same moment always find it.
    public let wrongPINLabel = "firmchain-wrong-pin"
    /// A P-256 key in the wrong-PIN token.
    public var wrongPINKeyURI: String { "pkcs11:token=\(wrongPINLabel);object=target" }
    /// `pkcs11:token=<wrong-PIN token label>`.
    public var wrongPINTokenURI: String { "pkcs11:token=\(wrongPINLabel)" }

    /// The key of `type` made by `maker`.
    public func key(_ type: String, maker: String = "firmchain") -> Key? {
        keys.first { $0.type == type && $0.maker == maker }
    }

    private static let instance: Result<SoftHSMTestToken, Error> = Result { try SoftHSMTestToken() }

    /// The shared token, made on first use. Throws (the test fails, never skips) when
    /// softhsm2-util, pkcs11-tool or the module is missing — `make setup` installs them.
    public static func shared() throws -> SoftHSMTestToken { try instance.get() }

    private init() throws {
        for tool in ["softhsm2-util", "pkcs11-tool"] where !TestEnv.hasTool(tool) {
            throw SoftHSMTestError("\(tool) is not installed; `make setup` installs it")
        }
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw SoftHSMTestError("\(Self.modulePath) is missing; `make setup` installs softhsm2")
        }
        guard FileManager.default.isExecutableFile(atPath: TestEnv.firmchain) else {
            throw SoftHSMTestError("\(TestEnv.firmchain) is not built; run swift build --build-tests")
        }
        dir = try TemporaryDirectory("firmchain-softhsm")
        conf = try SoftHSMToken.initializeToken(in: dir, label: label, pin: Self.pin, soPin: Self.soPin)
        setenv("SOFTHSM2_CONF", conf, 1)
        try SoftHSMToken.addToken(conf: conf, label: wrongPINLabel, pin: Self.pin, soPin: Self.soPin)
        try Self.check(runProcess(TestEnv.firmchain, ["keys", "generate", "--token", wrongPINTokenURI, "--type", "ecdsa-p256", "--label", "target"],
                                  environment: environment), "firmchain keys generate in \(wrongPINLabel)")
        // A static is never deinitialised, so remove the token directory at process exit.
        softHSMTestTokenDirectory = dir.path
        atexit {
            if let path = softHSMTestTokenDirectory { try? FileManager.default.removeItem(atPath: path) }
        }
        let types = [("ecdsa-p256", "EC:prime256v1"), ("ecdsa-p384", "EC:secp384r1"), ("ed25519", "EC:edwards25519"), ("rsa-3072", "rsa:3072")]
        for (i, (type, toolType)) in types.enumerated() {
            try Self.check(runProcess(TestEnv.firmchain, ["keys", "generate", "--token", tokenURI, "--type", type, "--label", "fc-\(type)"],
                                      environment: environment), "firmchain keys generate \(type)")
            keys.append(Key(uri: "pkcs11:token=\(label);object=fc-\(type)", type: type, maker: "firmchain"))
            let id = String(format: "%02x", 0x40 + i)
            // pkcs11-tool only takes the PIN on argv; this is a throw-away test token.
            try Self.check(runProcess("pkcs11-tool", ["--module", Self.modulePath, "--token-label", label, "--login", "--pin", Self.pin,
                                                      "--keypairgen", "--key-type", toolType, "--id", id, "--label", "tool-\(type)",
                                                      "--usage-sign", "--sensitive", "--private"], environment: environment),
                           "pkcs11-tool --keypairgen \(toolType)")
            keys.append(Key(uri: "pkcs11:token=\(label);id=%\(id)", type: type, maker: "pkcs11-tool"))
        }
    }

    private static func check(_ r: ProcessResult, _ what: String) throws {
        if r.status != 0 { throw SoftHSMTestError("\(what) failed (\(r.status)): \(r.err)") }
    }
}

/// The shared token's directory, for the exit handler (a C function pointer cannot capture).
nonisolated(unsafe) private var softHSMTestTokenDirectory: String?

/// Why the shared SoftHSM token could not be made.
public typealias SoftHSMTestError = TestSetupError
