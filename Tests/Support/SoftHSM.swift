import Foundation

/// A fresh SoftHSM token of its own in a temporary directory, for tests that drive the
/// `firmchain` CLI as child processes (each child reads its own `SOFTHSM2_CONF`). Tests that
/// sign in-process share `SoftHSMTestToken.shared()` instead: SoftHSM reads its config once
/// per process. Pass `environment` to every process that should see it. Removed on deinit.
public final class SoftHSMToken: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let label: String
    public let pin: String
    public var configPath: String { directory.file("softhsm2.conf") }
    /// SOFTHSM2_CONF and FIRMCHAIN_PKCS11_PIN for child processes.
    public var environment: [String: String] { ["SOFTHSM2_CONF": configPath, "FIRMCHAIN_PKCS11_PIN": pin] }

    public static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"

    public init(label: String = "firmchain-test", pin: String = "4711-test-pin") throws {
        directory = try TemporaryDirectory("softhsm")
        self.label = label
        self.pin = pin
        _ = try SoftHSMToken.initializeToken(in: directory, label: label, pin: pin, soPin: "so-\(pin)")
    }

    /// Writes `softhsm2.conf` (token directory, file object store) into `dir` and initialises
    /// a token there with `softhsm2-util` (Docs/formats/interop.md "PKCS#11 with SoftHSM"); returns the
    /// config path.
    static func initializeToken(in dir: TemporaryDirectory, label: String, pin: String, soPin: String) throws -> String {
        guard TestEnv.hasTool("softhsm2-util") else {
            throw TestSetupError("softhsm2-util is missing: run `make setup` (Debian package softhsm2)")
        }
        let conf = dir.file("softhsm2.conf")
        try FileManager.default.createDirectory(atPath: dir.file("tokens"), withIntermediateDirectories: true)
        try Data("directories.tokendir = \(dir.file("tokens"))\nobjectstore.backend = file\nlog.level = ERROR\n".utf8)
            .write(to: URL(fileURLWithPath: conf))
        try addToken(conf: conf, label: label, pin: pin, soPin: soPin)
        return conf
    }

    /// Initialises one more token, labelled `label`, in the token directory of `conf`.
    static func addToken(conf: String, label: String, pin: String, soPin: String) throws {
        let r = try runProcess("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", soPin, "--pin", pin],
                               environment: ["SOFTHSM2_CONF": conf])
        guard r.status == 0 else { throw TestSetupError("softhsm2-util --init-token \(label) failed: \(r.err)") }
    }

    /// SoftHSM's file store rewrites `token.object` and `generation` in place at every login
    /// (measured: their mtimes change at each `pkcs11-tool --login`), so a process SIGKILLed during
    /// a login can leave the token unreadable ("no token matches the URI"). That is SoftHSM's own
    /// store, not the code under test: kill tests save the files before a kill and put them back after.
    public func saveTokenFiles() throws -> String {
        let saved = directory.file("tokens.saved")
        try? FileManager.default.removeItem(atPath: saved)
        try FileManager.default.copyItem(atPath: directory.file("tokens"), toPath: saved)
        return saved
    }

    /// Puts back the files `saveTokenFiles()` saved (the keys do not change while a pipeline signs).
    public func restoreTokenFiles(from saved: String) throws {
        try FileManager.default.removeItem(atPath: directory.file("tokens"))
        try FileManager.default.copyItem(atPath: saved, toPath: directory.file("tokens"))
    }

    /// The RFC 7512 URI of the key labelled `object` in this token.
    public func uri(_ object: String) -> String { "pkcs11:token=\(label);object=\(object)" }

    /// Generates a key inside the token with `firmchain keys generate`; returns its URI.
    @discardableResult
    public func generate(_ type: String, label object: String) throws -> String {
        let r = try runProcess(TestEnv.firmchain, ["keys", "generate", "--token", "pkcs11:token=\(label)", "--type", type, "--label", object],
                               environment: environment)
        guard r.status == 0 else { throw TestSetupError("firmchain keys generate \(type) failed: \(r.err)") }
        return uri(object)
    }
}

/// A test could not set up what it needs (a missing tool, a failed fixture step).
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
