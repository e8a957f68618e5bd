import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Checkpoint: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a ledger checkpoint (run at the end of every run).",
            discussion: """
                Example:
                  firmchain custody checkpoint --out OUT \\
                      --key 'pkcs11:token=release;object=publish'
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: ArgumentHelp("The key that signs the checkpoint (a functionary or owner key).", valueName: "URI|FILE")) var key: String

        func run() throws {
            let signer = try Signers.open(key, options: keyAccess.signerOptions())
            let store = CustodyStore(out: out)
            try CustodyStore(out: out).requireKeyInLayout(signer.publicKey)
            try FileIO.makeDirectories(store.directory)
            let cp = try store.ledger.checkpoint(signer: signer, now: Date())
            output.emit(text: "signed ledger checkpoint #\(cp.seq) covering \(cp.seq - 1) entr\(cp.seq == 2 ? "y" : "ies")",
                        json: ["seq": .int(cp.seq), "keyid": .string(cp.record.actor)])
        }
    }
}
