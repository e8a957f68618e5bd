import Custody
import FirmchainCore
import Foundation
import Signing
import Testing
import TestSupport

@Suite("Artifact rules behave as in-toto's")
struct RuleEngineTests {
    @Test("FNMatch agrees with Python's fnmatch.fnmatchcase on a table of names and patterns")
    func fnmatchAgreesWithPython() throws {
        let names = ["repository/targets/ab.fw.bin", "a", "", "abc", "a/b/c", ".staging/targets.json", "x[1]", "-", "é.bin", "a*b", "build/deltas/x.bsdiff"]
        let patterns = ["*", "repository/*", "*.bin", "a?c", "a*", "?", "[abc]*", "[!a]*", "[a-c]bc", "x[[]1]", "[", "[]]", "a*b*c", "*/*/*",
                        "build/deltas/*", ".staging/*", "[!]]", "*é*", "a\\*b", "[z-a]", "**"]
        var table = [[String]]()
        for n in names { for p in patterns { table.append([n, p]) } }
        let input = String(decoding: JSONEncoding.standard(.array(table.map { .array($0.map { .string($0) }) }), indent: 0), as: UTF8.self)
        let script = "import fnmatch,json,sys\nprint(json.dumps([fnmatch.fnmatchcase(n,p) for n,p in json.load(sys.stdin)]))"
        let r = try runProcess(TestEnv.python, ["-c", script], stdin: Data(input.utf8))
        guard r.status == 0 else { throw TestSetupError("python failed (run `make setup`): \(r.err)") }
        let expected = try JSONReader().parse(Array(r.out.utf8)).arrayValue!.map { $0.boolValue! }
        for (i, row) in table.enumerated() {
            #expect(FNMatch.matches(row[0], row[1]) == expected[i], "fnmatch(\(row[0]), \(row[1])) should be \(expected[i])")
        }
    }

    @Test("rules parse from and write to in-toto's list form, keywords in any case")
    func ruleForms() throws {
        let m = try ArtifactRule(["match", "foo/*", "in", "src", "with", "Products", "IN", "dst", "from", "build"])
        #expect(m == .match(pattern: "foo/*", sourcePrefix: "src", side: .products, destinationPrefix: "dst", step: "build"))
        #expect(m.words == ["MATCH", "foo/*", "IN", "src", "WITH", "PRODUCTS", "IN", "dst", "FROM", "build"])
        for bad in [["MATCH", "x", "WITH", "BYPRODUCTS", "FROM", "s"], ["ALLOW"], ["ALLOW", "a", "b"], ["FROB", "x"], ["MATCH", "x", "FROM", "s"]] {
            #expect(throws: FirmchainError.self) { try ArtifactRule(bad) }
        }
    }

    @Test("MATCH consumes only artefacts with equal digests; DISALLOW then rejects the rest; REQUIRE sees only the queue")
    func engine() {
        let h1: ArtifactDigests = ["sha256": String(repeating: "1", count: 64)], h2: ArtifactDigests = ["sha256": String(repeating: "2", count: 64)]
        let producer = InTotoLink(name: "a", products: ["out/x": h1, "out/y": h1, "pre/out/z": h1])
        let consumer = InTotoLink(name: "b", materials: ["out/x": h1, "out/y": h2, "src/out/z": h1])
        let links = ["a": producer, "b": consumer]
        let rules: [ArtifactRule] = [.match(pattern: "out/*", sourcePrefix: nil, side: .products, destinationPrefix: nil, step: "a"), .disallow("*")]
        let f = ArtifactRuleEngine.check(rules, item: "b", side: .materials, links: links)
        #expect(f?.artifacts == ["out/y", "src/out/z"])
        let prefixed: [ArtifactRule] = [.match(pattern: "out/*", sourcePrefix: "src", side: .products, destinationPrefix: "pre", step: "a"),
                                        .match(pattern: "out/*", sourcePrefix: nil, side: .products, destinationPrefix: nil, step: "a"), .allow("out/y"), .disallow("*")]
        #expect(ArtifactRuleEngine.check(prefixed, item: "b", side: .materials, links: links) == nil)
        #expect(ArtifactRuleEngine.check([.allow("out/x"), .require("out/x")], item: "b", side: .materials, links: links)?.rule == .require("out/x"))
        let modified = InTotoLink(name: "c", materials: ["f": h1, "g": h1], products: ["f": h2, "g": h1, "n": h1])
        #expect(ArtifactRuleEngine.check([.modify("*"), .create("*"), .disallow("*")], item: "c", side: .products, links: ["c": modified])?.artifacts == ["g"])
        #expect(ArtifactRuleEngine.check([.delete("*"), .disallow("*")], item: "c", side: .materials, links: ["c": modified])?.artifacts == ["f", "g"])
    }
}
