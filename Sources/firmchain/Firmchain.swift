import ArgumentParser
import FirmchainCore

/// The root of the command tree. Only commands that work are listed here.
struct Firmchain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firmchain",
        abstract: "Build-time tools for the firmware supply chain: deltas, signatures, TUF metadata, custody.",
        discussion: """
            Exit codes are stable and documented in Docs/exit-codes.md. Every command accepts
            --json for machine-readable output and prints errors as one line on stderr.

            Example:
              firmchain hash --algorithm sha256 --algorithm sha512 firmware.bin
            """,
        version: FirmchainCore.Firmchain.version,
        subcommands: [HashCommand.self, JSONCommand.self, DeltaCommand.self, KeysCommand.self, SignCommand.self, RepoCommand.self, CustodyCommand.self]
    )

    /// Lets `--json` and `--verbose` stand before the subcommand name too.
    @OptionGroup var global: GlobalOptions
}
