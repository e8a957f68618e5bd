import ArgumentParser
import FirmchainCore

/// The root of the command tree. Only commands that work are listed here.
struct Firmchain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firmchain",
        abstract: "Build-time tools for the firmware supply chain: deltas, signatures, TUF metadata, custody.",
        discussion: """
            Every command accepts --json for machine-readable output and prints errors as one \
            line on stderr; exit codes are stable and documented in Docs/exit-codes.md.

            Example:
              # a delta, signed into a TUF repository with keys in a PKCS#11 token
              export FIRMCHAIN_PKCS11_PIN=...   # never on the command line
              firmchain delta create --old fw-1.1.bin --new fw-1.2.bin --out fw.bsdiff
              firmchain repo init --out OUT --root-key 'pkcs11:token=rel;object=root' …
              firmchain repo add-target --out OUT --file fw.bsdiff --kind delta …
              firmchain repo publish --out OUT --key 'pkcs11:token=rel;object=targets' …
              firmchain repo show --out OUT
            """,
        version: FirmchainCore.Firmchain.version,
        subcommands: [HashCommand.self, JSONCommand.self, DeltaCommand.self, KeysCommand.self, SignCommand.self, EncryptCommand.self, DecryptCommand.self, RepoCommand.self, PipelineCommand.self, CustodyCommand.self, VerifyCommand.self, ExportCommand.self]
    )

    /// Lets `--json` and `--verbose` stand before the subcommand name too.
    @OptionGroup var global: GlobalOptions
}
