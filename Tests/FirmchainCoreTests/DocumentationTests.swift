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
