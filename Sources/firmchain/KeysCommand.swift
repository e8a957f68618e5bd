import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Signing

/// `firmchain keys`: generate, list and export keys in PKCS#11 tokens and PEM files.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate, list and export signing keys (pkcs11: URIs or PEM files).",
        subcommands: [Generate.self, List.self, ExportPublic.self]
    )

    /// The `--type` values: a key type and, for RSA, its size.
    enum GenerateType: String, ExpressibleByArgument, CaseIterable {
        case ecdsaP256 = "ecdsa-p256", ecdsaP384 = "ecdsa-p384", rsa3072 = "rsa-3072", ed25519 = "ed25519"
        var keyType: KeyType {
            switch self {
            case .ecdsaP256: return .ecdsaP256
            case .ecdsaP384: return .ecdsaP384
            case .rsa3072: return .rsa
            case .ed25519: return .ed25519
            }
        }
    }

    struct Generate: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Generate a key pair inside a token (private, sensitive, non-extractable, sign only) or as a PEM file.",
            discussion: """
                With --token the key is made inside the token and never leaves it; the command prints the key's pkcs11: URI and public key. The PIN comes from FIRMCHAIN_PKCS11_PIN, the URI's pin-source, or a prompt on a terminal.

                With --out a software key is written as PKCS#8 (mode 0600), encrypted (PBES2: PBKDF2-HMAC-SHA-256, AES-256-CBC) when FIRMCHAIN_KEY_PASSPHRASE or --passphrase-file gives a passphrase.

                Example:
                  firmchain keys generate --token 'pkcs11:token=release' --type ecdsa-p256 --label targets --public-out keys/targets.pub.pem
                  firmchain keys generate --type ed25519 --out dev.key.pem --public-out dev.pub.pem
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

        @Option(name: .long, help: ArgumentHelp("Write a software key to this PEM file instead of using a token.", valueName: "KEY.pem"))
        var out: String?

        @Option(name: .long, help: ArgumentHelp("Also write the public key (SPKI PEM) here.", valueName: "PUB.pem"))
        var publicOut: String?

        @OptionGroup var custody: CustodyLedgerOptions

        func validate() throws {
            if (token == nil) == (out == nil) { throw ValidationError("give exactly one of --token URI or --out KEY.pem") }
            if token != nil, (label ?? "").isEmpty { throw ValidationError("--label is required with --token") }
        }

        func run() throws {
            let options = access.signerOptions()
            var doc: [String: JSONValue]
            var text: String
            let publicKey: PublicKey
            let keyName: String
            if let token {
                let key = try PKCS11Inventory.generate(in: try PKCS11URI(parsing: token), type: type.keyType, label: label!, options: options)
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
                if passphrase == nil { text += "\nwarning: the key is not encrypted; set FIRMCHAIN_KEY_PASSPHRASE to encrypt it" }
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

    struct List: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tokens, or the keys inside one token (logs in to see private keys).",
            discussion: """
                Without --token: the initialised tokens of the module (no PIN needed). With --token: every private key in that token, with a URI that opens it (the PIN comes from FIRMCHAIN_PKCS11_PIN, pin-source or a prompt).

                Example:
                  firmchain keys list
                  firmchain keys list --token 'pkcs11:token=release' --json
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions

        @Option(name: .long, help: ArgumentHelp("The token whose keys to list (pkcs11: URI).", valueName: "URI"))
        var token: String?

        func run() throws {
            let options = access.signerOptions()
            if let token {
                let keys = try PKCS11Inventory.keys(in: try PKCS11URI(parsing: token), options: options)
                let lines = keys.map { k in
                    "\(k.uri.description)  \(k.publicKey.map { "\($0.keyType.rawValue)\($0.rsaBits.map { "-\($0)" } ?? "")" } ?? "unknown")"
                }
                let docs: [JSONValue] = keys.map { k in
                    var d: [String: JSONValue] = ["uri": .string(k.uri.description), "label": .string(k.label), "id": .string(Hex.encode(k.id))]
                    if let pk = k.publicKey { d.merge(pk.jsonDocument.objectValue ?? [:]) { a, _ in a } }
                    return .object(d)
                }
                output.emit(text: lines.isEmpty ? "no keys" : lines.joined(separator: "\n"), json: ["keys": .array(docs)])
            } else {
                let tokens = try PKCS11Inventory.tokens(matching: PKCS11URI(), options: options)
                let lines = tokens.map { "pkcs11:token=\(Self.uriValue($0.label));serial=\(Self.uriValue($0.serial))  (\($0.manufacturer) \($0.model), slot \($0.slot))" }
                let docs: [JSONValue] = tokens.map { t in
                    ["label": .string(t.label), "serial": .string(t.serial), "manufacturer": .string(t.manufacturer),
                     "model": .string(t.model), "slot": .int(Int(t.slot))]
                }
                output.emit(text: lines.isEmpty ? "no tokens" : lines.joined(separator: "\n"), json: ["tokens": .array(docs)])
            }
        }

        static func uriValue(_ s: String) -> String {
            var u = PKCS11URI()
            u.token = s
            return String(u.description.dropFirst("pkcs11:token=".count))
        }
    }

    struct ExportPublic: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-public",
            abstract: "Write a key's public key as SPKI PEM (what TUF and in-toto reference).",
            discussion: """
                For a pkcs11: URI the public key object is read without logging in when the token shows it; otherwise the PIN is needed. For a PEM file, its public half (or the file itself when it is a PUBLIC KEY).

                Example:
                  firmchain keys export-public --key 'pkcs11:token=release;object=targets' --out keys/targets.pub.pem
                """
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var access: KeyAccessOptions

        @Option(name: .long, help: ArgumentHelp("A pkcs11: URI or a PEM key file.", valueName: "URI|FILE"))
        var key: String

        @Option(name: .long, help: ArgumentHelp("Where to write the public key PEM.", valueName: "PUB.pem"))
        var out: String

        func run() throws {
            let pk = try Signers.publicKey(of: key, options: access.signerOptions())
            try AtomicFile.write(Array(pk.pem.utf8), to: out)
            var doc = pk.jsonDocument.objectValue ?? [:]
            doc["path"] = .string(out)
            output.emit(text: "wrote \(pk.keyType.rawValue) public key to \(out)", json: .object(doc))
        }
    }
}
