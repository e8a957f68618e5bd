import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Signing

extension PKCS11Inventory.Usage: ExpressibleByArgument {}

extension KeysCommand {
    struct Generate: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Generate a key pair inside a token (private, sensitive, non-extractable, sign only) or as a PEM file.",
            discussion: """
                With --token the key is made inside the token and never leaves it; the command prints the key's pkcs11: URI and public key. The PIN comes from FIRMCHAIN_PKCS11_PIN, the URI's pin-source, or a prompt on a terminal.

                With --out a software key is written as PKCS#8 (mode 0600), encrypted (PBES2: PBKDF2-HMAC-SHA-256, AES-256-CBC) when FIRMCHAIN_KEY_PASSPHRASE or --passphrase-file gives a passphrase.

                Example:
                  firmchain keys generate --token 'pkcs11:token=release' --type ecdsa-p256 \\
                      --label targets --public-out keys/targets.pub.pem
                  firmchain keys generate --type ed25519 --out dev.key.pem \\
                      --public-out dev.pub.pem
                  firmchain keys generate --token 'pkcs11:token=fleet' --type ecdsa-p256 \\
                      --usage key-agreement --label hw-class-a
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions

        @Option(name: .long, help: ArgumentHelp("The token to generate in (pkcs11: URI).", valueName: "URI"))
        var token: String?

        @Option(name: .long, help: "Key type: ecdsa-p256, ecdsa-p384, rsa-3072, ed25519.")
        var type: GenerateType

        @Option(name: .long, help: ArgumentHelp("The key label (CKA_LABEL) inside the token.", valueName: "L"))
        var label: String?

        @Option(name: .long, help: "What a token key may do: sign (default) or key-agreement (P-256, decrypts payloads).")
        var usage: PKCS11Inventory.Usage = .sign

        @Option(name: .long, help: ArgumentHelp("Write a software key to this PEM file instead of using a token.", valueName: "KEY.pem"))
        var out: String?

        @Option(name: .long, help: ArgumentHelp("Also write the public key (SPKI PEM) here.", valueName: "PUB.pem"))
        var publicOut: String?

        @Flag(help: "Replace an existing --out key file (the old private key is lost for good).")
        var force = false

        @OptionGroup var custody: CustodyLedgerOptions

        func validate() throws {
            if (token == nil) == (out == nil) { throw ValidationError("give exactly one of --token URI or --out KEY.pem") }
            if token != nil, (label ?? "").isEmpty { throw ValidationError("--label is required with --token") }
            if usage == .keyAgreement, token == nil || type != .ecdsaP256 {
                throw ValidationError("--usage key-agreement makes a P-256 key in a token: give --token and --type ecdsa-p256")
            }
        }

        func run() throws {
            // Everything that can refuse the run does so before a key is made.
            try custody.check()
            if let out, FileIO.exists(out) || FileManager.default.fileExists(atPath: out), !force {
                throw FirmchainError(.ioWouldReplace, "a key file is already here; replacing it loses that private key for good (pass --force to replace it)", path: out)
            }
            let options = access.signerOptions()
            var doc: [String: JSONValue]
            var text: String
            let publicKey: PublicKey
            let keyName: String
            if let token {
                let key = try PKCS11Inventory.generate(in: try PKCS11URI(parsing: token), type: type.keyType, label: label!, usage: usage, options: options)
                publicKey = key.publicKey
                keyName = key.uri.description
                doc = ["uri": .string(key.uri.description)]
                text = "generated \(type.rawValue) key \(key.uri.description)"
            } else {
                let out = self.out!
                let signer = try SoftwareSigner(generating: type.keyType, description: out)
                let passphrase = try options.passphrase()
                let pem = try signer.privateKeyPEM(encryptedWith: passphrase)
                var bytes = Array(pem.utf8)
                defer { for i in bytes.indices { bytes[i] = 0 } }
                let writer = try AtomicFileWriter(path: out, mode: 0o600)
                try writer.write(bytes)
                try writer.commit()
                publicKey = signer.publicKey
                keyName = out
                doc = ["path": .string(out), "encrypted": .bool(passphrase != nil)]
                text = "wrote \(passphrase != nil ? "encrypted " : "")\(type.rawValue) private key to \(out) (mode 0600)"
                if passphrase == nil {
                    // Warnings go to stderr: stdout is the command's result.
                    FileHandle.standardError.write(Data("firmchain: warning: \(out): the key is not encrypted; set FIRMCHAIN_KEY_PASSPHRASE to encrypt it\n".utf8))
                }
            }
            if let publicOut {
                try AtomicFile.write(Array(publicKey.pem.utf8), to: publicOut)
                doc["public_key_path"] = .string(publicOut)
                text += "\nwrote public key to \(publicOut)"
            }
            try custody.record(.keyGenerated(publicKey, description: keyName), now: Date())
            doc.merge(publicKey.jsonDocument.objectValue ?? [:]) { a, _ in a }
            output.emit(text: text + "\n" + publicKey.pem.dropLast(), json: .object(doc))
        }
    }
}
