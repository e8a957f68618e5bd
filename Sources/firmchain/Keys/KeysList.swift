import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Signing

extension KeysCommand {
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
}
