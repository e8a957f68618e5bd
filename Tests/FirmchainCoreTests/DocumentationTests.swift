import FirmchainCore
import Foundation
import Testing
import TestSupport

@Suite("Documentation stays true")
struct DocumentationTests {
    @Test("every error code in the sources is documented in Docs/exit-codes.md with its exit code")
    func errorCodesDocumented() throws {
        let doc = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Docs/exit-codes.md"), encoding: .utf8)
        let sources = TestEnv.packageRoot.appendingPathComponent("Sources")
        let pattern = try NSRegularExpression(pattern: #""((?:io|json|delta|signing|repo|suffix-array|custody|pipeline|policy)\.[a-z0-9-]+)""#)
        var codes = Set<String>()
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                codes.insert(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        #expect(codes.count > 40)
        for code in codes.sorted() {
            #expect(doc.contains("| `\(code)` |"), "\(code) is raised in Sources but not documented in Docs/exit-codes.md")
        }
        for category in ErrorCategory.allCases {
            #expect(doc.contains("| \(category.exitCode) | `\(category.rawValue)` |"), "exit class \(category.rawValue) missing")
        }
    }
}
