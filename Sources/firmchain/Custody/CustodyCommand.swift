import ArgumentParser
import Custody
import FirmchainCore
import Foundation
import Pipeline
import Release
import Repository
import Signing

/// Options of the commands that perform key operations (`keys generate`, `sign`): where to
/// record them in the custody ledger.
struct CustodyLedgerOptions: ParsableArguments {
    @Option(name: .customLong("custody"),
            help: ArgumentHelp("Record this key operation in the ledger of this release directory (OUT/custody/ledger.jsonl).", valueName: "OUT"))
    var out: String?

    @Flag(help: "Start a new ledger when OUT has none (otherwise a missing ledger is refused: a mistyped OUT).")
    var newLedger = false

    /// Checks, before any key operation, that the ledger exists (or `--new-ledger` was given).
    func check() throws {
        guard let out, !newLedger else { return }
        let store = CustodyStore(out: out)
        guard FileIO.exists(store.ledger.path) else {
            throw FirmchainError(.custodyNoEvidence, "there is no ledger at custody/ledger.jsonl here (a mistyped --custody?); pass --new-ledger to start one",
                                 path: out)
        }
    }

    /// Appends `record` when `--custody` was given.
    func record(_ record: @autoclosure () -> LedgerRecord, now: Date) throws {
        guard let out else { return }
        try check()
        let store = CustodyStore(out: out)
        try FileIO.makeDirectories(store.directory)
        try store.ledger.append(record(), now: now)
    }
}

/// `firmchain custody`: chain-of-custody evidence — in-toto layout and links (DSSE), SLSA
/// provenance, the hash-chained ledger — and their verification.
struct CustodyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "custody",
        abstract: "Record and verify chain-of-custody evidence: in-toto layout and links, SLSA provenance, the ledger.",
        discussion: """
            Evidence lives in OUT/custody (see Docs/custody.md). Auditors can check it with \
            in-toto-verify, run in OUT:
              in-toto-verify --layout custody/root.layout --link-dir custody \\
                  --verification-keys keys/owner.pub.pem

            Example:
              firmchain custody layout --out OUT --owner-key owner.pem \\
                  --functionary delta=builder.pem \\
                  --functionary manifest=builder.pem --functionary sign=release.pem \\
                  --functionary publish=release.pem
              firmchain custody record --out OUT --step delta --key builder.pem \\
                  --material inputs/fw-1.0.0.bin=fw-1.0.0.bin \\
                  --material inputs/fw-1.1.0.bin=fw-1.1.0.bin \\
                  --product build/deltas -- firmchain delta create --old fw-1.0.0.bin \\
                  --new fw-1.1.0.bin --out OUT/build/deltas/fw.bsdiff
              firmchain custody checkpoint --out OUT --key release.pem
              firmchain custody verify OUT
              firmchain custody trace OUT/repository/targets/3f2a….fw-1.1.0.bin
            """,
        subcommands: [Layout.self, Record.self, Log.self, Checkpoint.self, Provenance.self, Verify.self, Trace.self]
    )

    /// Splits `STEP=VALUE`.
    static func split(_ s: String, _ option: String) throws -> (String, String) {
        guard let eq = s.firstIndex(of: "="), eq != s.startIndex, s.index(after: eq) != s.endIndex else {
            throw ValidationError("\(option) takes STEP=VALUE, got \"\(s)\"")
        }
        return (String(s[..<eq]), String(s[s.index(after: eq)...]))
    }
}
