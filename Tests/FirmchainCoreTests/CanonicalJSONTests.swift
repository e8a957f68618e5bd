import FirmchainCore
import Foundation
import Testing
import TestSupport

/// The tricky values canonical JSON must get right, byte for byte with securesystemslib.
private let trickyValues: [JSONValue] = {
    var v: [JSONValue] = [
        "", "a", "\"", "\\", "/", "\\\"", "quote \" and backslash \\ together",
        "\u{0}", "tab\tnewline\ncr\r", "\u{7F}", "é", "e\u{301}", "日本語", "😀", "\u{2028}\u{2029}",
        "\u{FEFF}bom", "</script>", "\u{10FFFF}",
        0, 1, -1, 9_223_372_036_854_775_807, -9_223_372_036_854_775_808,
        .integer(JSONInteger(decimal: "18446744073709551616")!),
        .integer(JSONInteger(decimal: "-1180591620717411303424")!),
        .integer(JSONInteger(decimal: "123456789012345678901234567890")!),
        true, false, nil,
        [], [:], [[]], [[:]], ["": ""], ["": [:]],
        ["b": 1, "a": 2, "A": 3, "_": 4, "aa": 5, "a\u{0}": 6, "a ": 7],
        ["\u{FFFF}": 1, "😀": 2, "\u{E000}": 3, "\u{7F}": 4, "é": 5],
        ["10": "ten", "9": "nine", "1": "one", "-1": "minus"],
        ["key with \"quote\"": "v", "back\\slash": "w", "new\nline": "x"],
        [1, "1", true, nil, [], [:], -0],
        ["nested": ["deeper": ["deepest": [1, 2, 3]]]],
        .string(String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)),
        [
            "signed": [
                "_type": "root", "spec_version": "1.0.31", "version": 1, "expires": "2030-01-01T00:00:00Z",
                "consistent_snapshot": true,
                "keys": ["abc": ["keytype": "ed25519", "scheme": "ed25519", "keyval": ["public": "00ff"]]],
                "roles": ["root": ["keyids": ["abc"], "threshold": 1]],
            ],
            "signatures": [["keyid": "abc", "sig": "beef"]],
        ],
    ]
    // Every control character on its own, in a key and in a value.
    for c in 1..<32 {
        let s = String(UnicodeScalar(UInt8(c)))
        v.append([s: .string("x\(s)y")])
    }
    // Deep nesting.
    var deep: JSONValue = "bottom"
    for i in 0..<30 { deep = i % 2 == 0 ? [deep] : ["k\(i)": deep] }
    v.append(deep)
    return v
}()

@Suite("Canonical JSON")
struct CanonicalJSONTests {
    @Test("matches securesystemslib encode_canonical byte for byte on every tricky value")
    func matchesSecuresystemslib() throws {
        #expect(trickyValues.count >= 50)
        let tmp = try TemporaryDirectory()
        let input = tmp.file("values.json")
        try Data(JSONEncoding.standard(.array(trickyValues))).write(to: URL(fileURLWithPath: input))
        let script = """
            import json, sys
            from securesystemslib.formats import encode_canonical
            for value in json.load(open(sys.argv[1], encoding="utf-8")):
                print(encode_canonical(value).encode("utf-8").hex())
            """
        let r = try runProcess(TestEnv.python, ["-c", script, input])
        try #require(r.status == 0, "python (\(TestEnv.python)) failed — run `make setup`: \(r.err)")
        let expected = r.out.split(separator: "\n").map(String.init)
        try #require(expected.count == trickyValues.count)
        for (i, value) in trickyValues.enumerated() {
            let ours = Hex.encode(try JSONEncoding.canonical(value))
            #expect(ours == expected[i], "value #\(i): \(String(decoding: JSONEncoding.standard(value, indent: 0), as: UTF8.self))")
        }
    }

    @Test("a float is rejected, as securesystemslib rejects it")
    func floatsAreRejected() throws {
        #expect(throws: FirmchainError(.jsonFloatNotCanonical, "")) { try JSONEncoding.canonical(["x": .float("1.5")]) }
        #expect(throws: FirmchainError(.jsonFloatNotCanonical, "")) { try JSONEncoding.canonical([.float("1e3")]) }
        let parsed = try JSONReader().parse(Array(#"{"version": 1.0}"#.utf8))
        let error = #expect(throws: FirmchainError.self) { try JSONEncoding.canonical(parsed) }
        #expect(error?.code == .jsonFloatNotCanonical && error?.reason.contains("1.0") == true, "\(String(describing: error))")
        let r = try runProcess(TestEnv.python, ["-c", "from securesystemslib.formats import encode_canonical as e\ntry:\n e({'x': 1.5}); print('accepted')\nexcept Exception: print('rejected')"])
        #expect(r.out.trimmingCharacters(in: .whitespacesAndNewlines) == "rejected")
    }

    @Test("keys sort by code point, not by Swift string order or UTF-16")
    func codePointOrder() throws {
        let bytes = try JSONEncoding.canonical(["\u{FFFF}": 1, "😀": 2, "\u{E000}": 3])
        #expect(String(decoding: bytes, as: UTF8.self) == "{\"\u{E000}\":3,\"\u{FFFF}\":1,\"😀\":2}")
    }

    @Test("standard output round-trips through the strict reader for every tricky value")
    func roundTrip() throws {
        for value in trickyValues {
            for indent in [0, 2] {
                let parsed = try JSONReader().parse(JSONEncoding.standard(value, indent: indent))
                #expect(try JSONEncoding.canonical(parsed) == JSONEncoding.canonical(value))
            }
        }
    }
}

@Suite("Strict JSON reader")
struct JSONReaderTests {
    @Test("rejects malformed and ambiguous documents", arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "-", "1.", ".5", "1e", "tru", "nul",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00\"", "\"raw \u{1} control\"",
        "{\"a\":1,\"a\":2}", "[1] [2]", "{\"a\":1}x", "[\"\\u12\"]", "NaN", "Infinity", "'single'",
    ])
    func rejects(_ text: String) {
        #expect(throws: FirmchainError.self) { try JSONReader().parse(Array(text.utf8)) }
    }

    @Test("rejects invalid UTF-8 and nesting beyond the limit")
    func rejectsHostile() {
        #expect(throws: FirmchainError.self) { try JSONReader().parse([0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: FirmchainError.self) { try JSONReader(maxDepth: 64).parse(Array(deep.utf8)) }
        #expect(throws: Never.self) { try JSONReader(maxDepth: 128).parse(Array(deep.utf8)) }
    }

    @Test("keeps big integers exact, normalises -0, and decodes surrogate pairs")
    func values() throws {
        let v = try JSONReader().parse(Array(#"{"big": 123456789012345678901234567890, "z": -0, "s": "\ud83d\ude00\u00e9\/"}"#.utf8))
        #expect(v["big"] == .integer(JSONInteger(decimal: "123456789012345678901234567890")!))
        #expect(v["z"] == 0)
        #expect(v["s"] == "😀é/")
    }

    @Test("names the file and the byte offset in its error")
    func errorNamesFile() {
        do {
            _ = try JSONReader().parse(Array("{\"a\": tru}".utf8), path: "metadata/root.json")
            Issue.record("malformed JSON was accepted")
        } catch let e as FirmchainError {
            #expect(e.code.id == "json.malformed")
            #expect(e.description.hasPrefix("metadata/root.json: invalid JSON at byte 6"))
        } catch { Issue.record("unexpected error \(error)") }
    }
}
