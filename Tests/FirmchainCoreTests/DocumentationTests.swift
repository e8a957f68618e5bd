import Custody
import Delta
import Encryption
import KeyLifecycle
import Export
import FirmchainCore
import Foundation
import ReleasePolicy
import Repository
import Signing
import SuffixArray
import Testing
import TestSupport

@Suite("Documentation stays true")
struct DocumentationTests {
    /// Every code each module declares, through the module's own list.
    static let declared: [ErrorCode] = ErrorCode.coreCodes + ErrorCode.suffixArrayCodes + ErrorCode.deltaCodes
        + ErrorCode.signingCodes + ErrorCode.repositoryCodes + ErrorCode.custodyCodes + ErrorCode.pipelineCodes + ErrorCode.keyLifecycleCodes
        + ErrorCode.encryptionCodes + ErrorCode.exportCodes

    @Test("every declared error code is documented in Docs/exit-codes.md with its own exit number")
    func errorCodesDocumented() throws {
        let doc = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Docs/exit-codes.md"), encoding: .utf8)
        #expect(Self.declared.count > 60)
        #expect(Set(Self.declared.map(\.id)).count == Self.declared.count, "a code id is declared twice")
        for code in Self.declared {
            #expect(doc.contains("| `\(code.id)` | \(code.exitCode) |"),
                    "\(code.id) (exit \(code.exitCode)) is not documented with that exit number in Docs/exit-codes.md")
        }
        for category in ErrorCategory.allCases {
            #expect(doc.contains("| \(category.exitCode) | `\(category.rawValue)` |"), "exit class \(category.rawValue) missing")
        }
    }

    @Test("every ErrorCode declared in Sources is in its module's list, and nothing else makes codes")
    func everyDeclarationListed() throws {
        let sources = TestEnv.packageRoot.appendingPathComponent("Sources")
        let declaration = try NSRegularExpression(pattern: #"ErrorCode\("([a-z0-9.-]+)", \.[a-zA-Z]+\)"#)
        var found = Set<String>()
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for m in declaration.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                found.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        #expect(found == Set(Self.declared.map(\.id)), "declared but not listed: \(found.subtracting(Self.declared.map(\.id)).sorted())")
    }

    /// Codes no test can provoke honestly, each with the reason. Only a library failing inside
    /// itself raises them; a new code belongs here only with a reason as strong.
    static let unreachableInTests: [ErrorCode: String] = [
        .deltaCompressionFailed: "libbz2's and liblzma's init and compress calls fail only when malloc fails (BZ_MEM_ERROR, LZMA_MEM_ERROR) or on a programming error; "
            + "starving the process of memory makes Swift's own allocations trap first",
        .signingSoftwareFailed: "swift-crypto's signing calls fail only on an internal BoringSSL error, never for a key its parser accepted",
        .encryptionBackendFailed: "OpenSSL's EVP and CMS calls, on recipients and sizes Firmchain checked first, fail only when memory runs out or on an "
            + "OpenSSL bug; a full disk, the one outside cause a test could set up, is io.write-failed (CMSExportTests.diskFull)",
    ]

    @Test("every declared error code is asserted by name in some test: its id or its Swift name, in a test file other than this one")
    func everyCodeAsserted() throws {
        // Swift names from the declarations themselves (`static let deltaBadHeader = ErrorCode("delta.bad-header", …)`).
        let declaration = try NSRegularExpression(pattern: #"static let `?([A-Za-z0-9_]+)`? = ErrorCode\("([a-z0-9.-]+)", \.[a-zA-Z]+\)"#)
        var swiftNames = [String: String]()
        for url in try Self.swiftFiles(under: "Sources") {
            let text = try String(contentsOf: url, encoding: .utf8)
            for m in declaration.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                swiftNames[String(text[Range(m.range(at: 2), in: text)!])] = String(text[Range(m.range(at: 1), in: text)!])
            }
        }
        let tests = try Self.swiftFiles(under: "Tests").filter { $0.lastPathComponent != "DocumentationTests.swift" }
            .map { try String(contentsOf: $0, encoding: .utf8) }
        var unnamed = [String]()
        for code in Self.declared {
            let name = try #require(swiftNames[code.id], "\(code.id) has no `static let … = ErrorCode(…)` declaration")
            // The id not inside a longer id or word, or `.name` not inside a longer identifier.
            let byID = try NSRegularExpression(pattern: "(?<![A-Za-z0-9_.-])" + NSRegularExpression.escapedPattern(for: code.id) + "(?![A-Za-z0-9_-])")
            let byName = try NSRegularExpression(pattern: "\\." + NSRegularExpression.escapedPattern(for: name) + "(?![A-Za-z0-9_])")
            let named = tests.contains { t in
                let range = NSRange(t.startIndex..., in: t)
                return byID.firstMatch(in: t, range: range) != nil || byName.firstMatch(in: t, range: range) != nil
            }
            if let reason = Self.unreachableInTests[code] {
                #expect(!named, "\(code.id) is named by a test now: take it off unreachableInTests (\(reason))")
            } else if !named {
                unnamed.append("\(code.id) (.\(name))")
            }
        }
        #expect(unnamed.isEmpty, "declared codes no test names, so no test shows they are ever emitted:\n\(unnamed.joined(separator: "\n"))")
    }

    /// The Swift files under the package directory `folder`.
    static func swiftFiles(under folder: String) throws -> [URL] {
        let files = FileManager.default.enumerator(at: TestEnv.packageRoot.appendingPathComponent(folder), includingPropertiesForKeys: nil)!
        return files.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    @Test("every public declaration in Sources has a /// comment directly above it (attributes may stand between)")
    func publicSymbolsDocumented() throws {
        let sources = TestEnv.packageRoot.appendingPathComponent("Sources")
        var missing = [String](), publics = 0
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
            var inString = false
            for (i, line) in lines.enumerated() {
                let s = line.trimmingCharacters(in: .whitespaces)
                if s.components(separatedBy: "\"\"\"").count % 2 == 0 { inString.toggle(); continue }
                guard !inString else { continue }
                guard s.range(of: #"^(@\w+\s+)*public\s"#, options: .regularExpression) != nil, !s.hasPrefix("public import") else { continue }
                publics += 1
                var j = i - 1
                while j >= 0, lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("@") { j -= 1 }
                if j < 0 || !lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                    missing.append("\(url.lastPathComponent):\(i + 1): \(s.prefix(80))")
                }
            }
        }
        #expect(publics > 500)
        #expect(missing.isEmpty, "public symbols without a /// comment:\n\(missing.joined(separator: "\n"))")
    }
}
