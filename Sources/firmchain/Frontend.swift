import ArgumentParser
import FirmchainCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Options every command accepts.
struct GlobalOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on stdout instead of text (errors too, on stderr).")
    var json = false

    @Flag(name: [.short, .long], help: "Log what is being done to stderr.")
    var verbose = false
}

/// A command that runs with the global options and reports errors the Firmchain way.
protocol FirmchainCommand: ParsableCommand {
    var global: GlobalOptions { get }
}

/// Where command output goes: text for people, JSON for machines.
struct Output {
    let json: Bool

    /// Prints `text` for people, or `document` as one JSON document when `--json` is set.
    func emit(text: @autoclosure () -> String, json document: @autoclosure () -> JSONValue) {
        if json {
            FileHandle.standardOutput.write(Data(JSONEncoding.standard(document())))
        } else {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }
}

extension FirmchainCommand {
    var output: Output { Output(json: global.json) }

    /// A logger that writes to stderr; silent below `warning` unless `--verbose`.
    var logger: Logger {
        var l = Logger(label: "firmchain")
        l.logLevel = global.verbose ? .info : .warning
        return l
    }

    /// A progress reporter that draws on the terminal, or nothing when stderr is not a
    /// terminal or `--json` is set.
    var progress: ProgressReporter {
        if global.json || isatty(STDERR_FILENO) == 0 { return SilentProgress() }
        return TerminalProgress()
    }
}

/// Draws `phase: 42%` on stderr, at most ten times a second.
final class TerminalProgress: ProgressReporter, @unchecked Sendable {
    private let lock = NSLock()
    private var last = DispatchTime.now().uptimeNanoseconds
    private var drawn = false

    func report(phase: String, completed: Int64, total: Int64) {
        lock.lock()
        defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        let finished = total > 0 && completed >= total
        guard finished || now - last > 100_000_000 else { return }
        last = now
        let pct = total > 0 ? " \(completed * 100 / total)%" : " \(completed)"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(phase):\(pct)".utf8))
        drawn = true
        if finished { FileHandle.standardError.write(Data("\n".utf8)); drawn = false }
    }

    deinit {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

extension CommandLine {
    /// Parses the arguments, runs the command, and maps errors to one line on stderr and the
    /// exit code of their category (`Docs/exit-codes.md`). Never prints a stack trace.
    static func run(_ root: Firmchain.Type) {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let wantsJSON = CommandLine.arguments.contains("--json")
        do {
            try checkHelpTopic(root)
            var command = try root.parseAsRoot()
            try command.run()
        } catch let error as FirmchainError {
            report(code: error.code.id, category: error.category, reason: error.reason, path: error.path, json: wantsJSON)
            exit(error.category.exitCode)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success {
                // --help and --version: ArgumentParser's own text on stdout.
                root.exit(withError: error)
            }
            if code == .validationFailure {
                // A wrong command line: one line, like every other error, and exit 64.
                let first = root.message(for: error).split(separator: "\n").first.map(String.init) ?? "the command line is not valid"
                let reason = first.hasPrefix("Error: ") ? String(first.dropFirst(7)) : first
                report(code: ErrorCode.usageInvalid.id, category: .usage, reason: reason + " (see firmchain \(commandPath(root).isEmpty ? "" : commandPath(root) + " ")--help)",
                       path: nil, json: wantsJSON)
                exit(ErrorCategory.usage.exitCode)
            }
            report(code: "internal", category: .internal, reason: String(describing: error), path: nil, json: wantsJSON)
            exit(ErrorCategory.internal.exitCode)
        }
    }

    /// `firmchain help NAME …` for a NAME that is not a command is a usage error, not the
    /// root help with exit 0 (ArgumentParser's default).
    private static func checkHelpTopic(_ root: Firmchain.Type) throws {
        let args = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
        guard args.first == "help" else { return }
        var commands: [ParsableCommand.Type] = root.configuration.subcommands
        for name in args.dropFirst() {
            guard let next = commands.first(where: { $0._commandName == name }) else {
                throw FirmchainError(.usageUnknownCommand, "there is no command \"\(name)\" (see firmchain --help)")
            }
            commands = next.configuration.subcommands
        }
    }

    /// The subcommand names on the command line (`delta create`), for the `--help` hint.
    private static func commandPath(_ root: Firmchain.Type) -> String {
        var path = [String]()
        var commands: [ParsableCommand.Type] = root.configuration.subcommands
        for arg in CommandLine.arguments.dropFirst() where !arg.hasPrefix("-") {
            guard let next = commands.first(where: { $0._commandName == arg }) else { break }
            path.append(arg)
            commands = next.configuration.subcommands
        }
        return path.joined(separator: " ")
    }

    private static func report(code: String, category: ErrorCategory, reason: String, path: String?, json: Bool) {
        if json {
            var doc: [String: JSONValue] = [
                "error": .object([
                    "code": .string(code), "category": .string(category.rawValue),
                    "reason": .string(reason), "exit_code": .int(category.exitCode),
                ])
            ]
            if let path { doc["error"] = .object(doc["error"]!.objectValue!.merging(["path": .string(path)]) { a, _ in a }) }
            FileHandle.standardError.write(Data(JSONEncoding.standard(.object(doc), indent: 0) + [0x0A]))
        } else {
            let location = path.map { "\($0): " } ?? ""
            FileHandle.standardError.write(Data("firmchain: error: \(oneLine(location + reason)) [\(code)]\n".utf8))
        }
    }

    /// `text` with control and format characters (a newline, NUL, ESC, a right-to-left override)
    /// written as `\u{…}`: a reason quotes untrusted input (a hardware id, a file name), and the
    /// error must stay one line that a terminal shows as it is.
    static func oneLine(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            switch u.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                out.append(contentsOf: "\\u{\(String(u.value, radix: 16))}".unicodeScalars)
            default:
                out.append(u)
            }
        }
        return String(out)
    }
}
