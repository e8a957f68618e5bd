import ArgumentParser
import FirmchainCore

/// `firmchain json canonical`: the exact bytes Firmchain signs for a JSON document.
struct JSONCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "json",
        abstract: "Inspect JSON the way Firmchain signs it.",
        subcommands: [Canonical.self]
    )

}

import Foundation
