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
        subcommands: [Generate.self, List.self, ExportPublic.self, Certify.self, Rotate.self, Revoke.self, Show.self, Approve.self, Apply.self, Status.self]
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
}
