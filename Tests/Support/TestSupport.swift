import FirmchainCore
import Foundation

/// Helpers shared by the test targets: where things are, running external tools, and
/// temporary directories. Interop tests call real tools (bspatch, openssl, python-tuf, …);
/// nothing here fakes them.
public enum TestEnv {
    /// The package root (the directory holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The directory that holds the built products (the `firmchain` executable among them).
    public static let productsDirectory: URL = {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // XCTest bundles: .../debug/FirmchainPackageTests.xctest[/Contents/MacOS/...]
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("firmchain").path) {
            dir.deleteLastPathComponent()
        }
        if dir.path == "/" { return packageRoot.appendingPathComponent(".build/debug") }
        return dir
    }()

    /// The `firmchain` executable built with the tests.
    public static var firmchain: String { productsDirectory.appendingPathComponent("firmchain").path }

    /// The Python interpreter of the interop venv (`make setup` creates it; `make test` passes
    /// its path in `FIRMCHAIN_PYTHON`).
    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["FIRMCHAIN_PYTHON"], !p.isEmpty { return p }
        return packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// Whether an executable named `name` is on PATH (or is an absolute path that exists).
    public static func hasTool(_ name: String) -> Bool {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }
}

/// The result of running a process to completion.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: Data
    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs `executable` with `arguments`, optional stdin and extra environment, and waits.
@discardableResult
public func runProcess(
    _ executable: String, _ arguments: [String], stdin: Data? = nil,
    environment: [String: String] = [:], currentDirectory: String? = nil
) throws -> ProcessResult {
    let p = Process()
    if executable.hasPrefix("/") || executable.hasPrefix(".") {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
    }
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = errPipe
    p.standardInput = inPipe
    try p.run()
    // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    DispatchQueue.global().async(group: group) { outData = outPipe.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
    if let stdin { inPipe.fileHandleForWriting.write(stdin) }
    try? inPipe.fileHandleForWriting.close()
    p.waitUntilExit()
    group.wait()
    return ProcessResult(status: p.terminationStatus, stdout: outData, stderr: errData)
}

/// A fresh temporary directory, removed when the value is deinitialised.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ prefix: String = "firmchain-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failing property test can be re-run.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    public mutating func bytes(_ n: Int) -> [UInt8] {
        (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// The check ids `Docs/verify.md` documents: the first column of its tables.
public enum DocumentedChecks {
    public static let ids: Set<String> = {
        let doc = (try? String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Docs/verify.md"), encoding: .utf8)) ?? ""
        let pattern = try! NSRegularExpression(pattern: #"^\| `([a-z0-9.-]+)` \|"#, options: .anchorsMatchLines)
        return Set(pattern.matches(in: doc, range: NSRange(doc.startIndex..., in: doc)).map { String(doc[Range($0.range(at: 1), in: doc)!]) })
    }()

    /// The ids of `checks` that `Docs/verify.md` does not list.
    public static func undocumented<S: Sequence>(_ ids: S) -> [String] where S.Element == String {
        Set(ids).subtracting(Self.ids).sorted()
    }
}

extension TestEnv {
    /// Every regular file under `root` (relative path → sha256): a snapshot to compare before
    /// and after a command that must change nothing.
    public static func fileDigests(under root: String) throws -> [String: String] {
        var out = [String: String]()
        for case let rel as String in FileManager.default.enumerator(atPath: root) ?? FileManager.DirectoryEnumerator() {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = try DigestCalculator.file(root + "/" + rel).sha256
            }
        }
        return out
    }
}
