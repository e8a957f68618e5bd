import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

extension CustodyCommand {
    struct Log: FirmchainCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append one action to the ledger (for actions Firmchain did not perform itself).",
            discussion: """
                The actor is the keyid of --actor-key (a public key is enough). Subjects are files, \
                recorded by their sha256.

                Example:
                  firmchain custody log --out OUT --action release.approve \\
                      --actor-key keys/officer.pub.pem \\
                      --subject OUT/repository/metadata/timestamp.json
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var keyAccess: KeyAccessOptions
        @Option(help: "The release directory.") var out: String
        @Option(help: "The action, a dotted name such as release.approve.") var action: String
        @Option(help: ArgumentHelp("The key of whoever acted.", valueName: "URI|FILE")) var actorKey: String
        @Option(help: ArgumentHelp("A file the action is about (repeatable).", valueName: "FILE")) var subject: [String] = []
        @Option(help: "How many identical entries to append (for load tests).") var count: Int = 1

        func validate() throws {
            guard !action.isEmpty, action.utf8.count <= 64, action.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }) else {
                throw ValidationError("--action must be 1-64 letters, digits, '-', '_' or '.'")
            }
            if count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() throws {
            let key = try Signers.publicKey(of: actorKey, options: keyAccess.signerOptions())
            let subjects = try subject.map { LedgerSubject(name: $0, sha256: try DigestCalculator.file($0).sha256!) }
            let ledger = CustodyStore(out: out).ledger
            try FileIO.makeDirectories(CustodyStore(out: out).directory)
            var last: LedgerEntry?
            for _ in 0..<count {
                last = try ledger.append(LedgerRecord(action: action, actor: key.keyid, subjects: subjects), now: Date())
            }
            output.emit(text: "appended \(action) as ledger entry #\(last!.seq)", json: ["seq": .int(last!.seq), "action": .string(action)])
        }
    }
}
