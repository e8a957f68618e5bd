import ArgumentParser
import Delta
import FirmchainCore
import Foundation

/// `firmchain delta`: create and apply binary deltas (BSDIFF40, bsdiff 4.x compatible).
struct DeltaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delta",
        abstract: "Create and apply bsdiff 4.x (BSDIFF40) binary deltas between firmware images.",
        discussion: """
            Patches apply with Debian's bspatch and PyPI bsdiff4 as well as with `delta apply`. \
            A patch does not record which old file it belongs to: check the old and new hashes \
            (printed with --json) against your signed manifest.

            Example:
              firmchain delta create --old fw-1.0.bin --new fw-1.1.bin \\
                  --out fw-1.0-1.1.bsdiff
              firmchain delta apply --old fw-1.0.bin --patch fw-1.0-1.1.bsdiff \\
                  --out fw-1.1.bin
            """,
        subcommands: [Create.self, Apply.self]
    )

    /// The `--json` document of both subcommands.
    static func report(action: String, format: String, old: (String, [UInt8]), new: (String, [UInt8]),
                       patch: (String, [UInt8]), seconds: Double) -> JSONValue {
        let described = { (f: (String, [UInt8])) in (f.0, f.1.count, DigestCalculator.sha256Hex(f.1)) }
        return report(action: action, format: format, old: described(old), new: described(new), patch: described(patch), seconds: seconds)
    }

    /// The same report from files already described by path, length and sha256 (a streamed output).
    static func report(action: String, format: String, old: (String, Int, String), new: (String, Int, String),
                       patch: (String, Int, String), seconds: Double) -> JSONValue {
        func file(_ f: (String, Int, String)) -> JSONValue {
            ["path": .string(f.0), "length": .int(f.1), "sha256": .string(f.2)]
        }
        let ratio = new.1 == 0 ? 0 : Double(patch.1) / Double(new.1)
        return [
            "action": .string(action), "format": .string(format),
            "old": file(old), "new": file(new), "patch": file(patch),
            // patch size / new size, and wall time; report-only floats (never signed).
            "ratio": .float(String(format: "%.6f", ratio)),
            "seconds": .float(String(format: "%.3f", seconds)),
        ]
    }
}
