import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Signing

extension KeysCommand {
    struct ExportPublic: FirmchainCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-public",
            abstract: "Write a key's public key as SPKI PEM (what TUF and in-toto reference).",
            discussion: """
                For a pkcs11: URI the public key object is read without logging in when the token shows it; otherwise the PIN is needed. For a PEM file, its public half (or the file itself when it is a PUBLIC KEY).

                Example:
                  firmchain keys export-public --key 'pkcs11:token=release;object=targets' \\
                      --out keys/targets.pub.pem
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
