import ArgumentParser
import FirmchainCore
import Foundation
import Signing

#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the commands that open keys: where PINs and passphrases come from.
/// Secrets never come from argv: only the environment, files, or a terminal prompt.
struct KeyAccessOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read the passphrase of an encrypted PEM key from this file (first line). Default: $FIRMCHAIN_KEY_PASSPHRASE.", valueName: "FILE"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("PKCS#11 module to load when a URI has no module-path.", valueName: "PATH"))
    var module: String = SignerOptions.softHSMModulePath

    @Flag(name: .long, help: "Accept pin-value= inside a pkcs11: URI (unsafe: URIs end up in logs and process lists).")
    var allowUnsafePinValue = false

    /// The library options: PIN from $FIRMCHAIN_PKCS11_PIN, else a prompt on the terminal;
    /// passphrase from --passphrase-file, else $FIRMCHAIN_KEY_PASSPHRASE, else a prompt.
    func signerOptions() -> SignerOptions {
        let env = ProcessInfo.processInfo.environment
        // An empty variable is no PIN (it would be sent to the token and count as a failed try).
        let pinFromEnv = env["FIRMCHAIN_PKCS11_PIN"].flatMap { $0.isEmpty ? nil : $0 }
        let passphraseFromEnv = env["FIRMCHAIN_KEY_PASSPHRASE"]
        let passphraseFile = self.passphraseFile
        return SignerOptions(
            pin: { request in
                if let pinFromEnv { return Secret(string: pinFromEnv) }
                return TerminalPrompt.read("PIN for token \"\(request.token.label)\": ")
            },
            passphrase: {
                if let passphraseFile {
                    do { return try Secret.fromFile(passphraseFile) } catch {
                        throw FirmchainError(.signingPassphraseFileUnreadable, "cannot read the passphrase file", path: passphraseFile)
                    }
                }
                if let passphraseFromEnv { return Secret(string: passphraseFromEnv) }
                return TerminalPrompt.read("Passphrase for the key: ")
            },
            defaultModulePath: module,
            allowUnsafePINValueInURI: allowUnsafePinValue)
    }
}

/// Reads a secret from the controlling terminal with echo off — only when stdin is a TTY.
enum TerminalPrompt {
    static func read(_ prompt: String) -> Secret? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var old = termios()
        tcgetattr(fd, &old)
        var noEcho = old
        noEcho.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &noEcho)
        defer {
            tcsetattr(fd, TCSAFLUSH, &old)
            _ = write(fd, "\n", 1)
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        defer { for i in buffer.indices { buffer[i] = 0 } }
        var n = 0
        while n < buffer.count {
            var c: UInt8 = 0
            let r = Glibc.read(fd, &c, 1)
            if r <= 0 || c == 0x0A || c == 0x0D { break }
            buffer[n] = c
            n += 1
        }
        return Secret(bytes: buffer[0..<n])
    }
}

extension SignatureEncoding: ExpressibleByArgument {}
extension SignatureAlgorithm: ExpressibleByArgument {}

extension PublicKey {
    /// The JSON description of a public key other tools consume.
    var jsonDocument: JSONValue {
        var doc: [String: JSONValue] = [
            "key_type": .string(keyType.rawValue), "tuf_keytype": .string(tufKeyType), "tuf_scheme": .string(tufScheme),
            "tuf_public": .string(tufPublicValue), "public_key_pem": .string(pem),
        ]
        if let bits = rsaBits { doc["rsa_bits"] = .int(bits) }
        return .object(doc)
    }
}
