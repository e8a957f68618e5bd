import Foundation
import FirmchainCore
import Testing
import TestSupport
@testable import Delta

/// A named old -> new pair for table-driven tests.
struct Pair: CustomStringConvertible, Sendable {
    let name: String
    let old: [UInt8]
    let new: [UInt8]
    var description: String { name }
}

/// The generated cases every round-trip and interop test runs on: edge cases plus
/// firmware-like data (machine-code-like words, string tables, 0xFF padding) with edits.
enum Cases {
    static func firmware(seed: UInt64, size: Int) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        let vocabulary = (0..<64).map { _ in g.bytes(4) }
        var out = [UInt8]()
        out.reserveCapacity(size)
        out += Array("FWIMG\u{0}\u{1}\u{0}".utf8)
        while out.count < size {
            switch g.next() % 10 {
            case 0: out += Array(repeating: 0xFF, count: Int(g.next() % 2000))  // padding
            case 1: out += Array("version string \(g.next() % 1000) build \(g.next() % 99)\u{0}".utf8)
            default:
                for _ in 0..<Int(g.next() % 200) { out += vocabulary[Int(g.next() % 64)] }  // "code"
            }
        }
        return Array(out.prefix(size))
    }

    /// New version of a firmware image: patched words, an inserted block, a removed block,
    /// relocated pointers (small additions every 64 bytes in a region).
    static func edited(_ old: [UInt8], seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        var new = old
        guard new.count > 1000 else { return new }
        for _ in 0..<20 { new[Int(g.next() % UInt64(new.count))] ^= 0x5A }
        let ins = Int(g.next() % UInt64(new.count))
        new.insert(contentsOf: g.bytes(500) + Array(old[0..<300]), at: ins)
        let del = Int(g.next() % UInt64(new.count - 800))
        new.removeSubrange(del..<del + 700)
        let rel = Int(g.next() % UInt64(new.count / 2))
        for k in stride(from: rel, to: min(rel + 20_000, new.count), by: 64) { new[k] &+= 4 }
        return new
    }

    static let all: [Pair] = {
        var g = SeededGenerator(seed: 42)
        let random = g.bytes(50_000)
        let fw = firmware(seed: 7, size: 300_000)
        var smallEdit = random
        smallEdit[100] ^= 1
        smallEdit[40_000] = 0
        return [
            Pair(name: "both empty", old: [], new: []),
            Pair(name: "empty old", old: [], new: g.bytes(5000)),
            Pair(name: "empty new", old: g.bytes(5000), new: []),
            Pair(name: "one byte each", old: [1], new: [2]),
            Pair(name: "identical", old: random, new: random),
            Pair(name: "unrelated random", old: random, new: g.bytes(40_000)),
            Pair(name: "small edits", old: random, new: smallEdit),
            Pair(name: "inserted block", old: random, new: Array(random[..<20_000]) + g.bytes(3000) + Array(random[20_000...])),
            Pair(name: "deleted block", old: random, new: Array(random[..<10_000]) + Array(random[25_000...])),
            Pair(name: "hello world", old: Array("hello world".utf8), new: Array("hello world!".utf8)),
            Pair(name: "firmware with edits", old: fw, new: edited(fw, seed: 8)),
            Pair(name: "long zero runs shifted", old: [UInt8](repeating: 0, count: 200_000) + g.bytes(100) + [UInt8](repeating: 0, count: 100_000),
                 new: g.bytes(50) + [UInt8](repeating: 0, count: 150_000) + g.bytes(30) + [UInt8](repeating: 0, count: 160_000)),
        ]
    }()
}

/// The kernel-module pairs committed under Fixtures/ (see Fixtures/README.md).
enum Fixtures {
    static let names = ["S1-xhci-ko", "S2-rfcomm-ko"]

    static func pair(_ name: String) throws -> Pair {
        func load(_ side: String) throws -> [UInt8] {
            let path = TestEnv.packageRoot.appendingPathComponent("Tests/DeltaTests/Fixtures/\(name).\(side).xz").path
            let r = try runProcess("xz", ["-dc", path])
            try #require(r.status == 0, "xz -dc \(path) failed (make setup installs xz-utils): \(r.err)")
            return Array(r.stdout)
        }
        return Pair(name: name, old: try load("old"), new: try load("new"))
    }
}

/// Writes files into a temporary directory.
extension TemporaryDirectory {
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }
}

/// Runs a required external tool; a missing tool fails the test with the way to get it.
func requireTool(_ name: String) throws {
    try #require(TestEnv.hasTool(name), "\(name) is missing: `make setup` installs it")
}

/// Checks that the venv python has bsdiff4.
func requireBsdiff4() throws {
    let r = try runProcess(TestEnv.python, ["-c", "import bsdiff4"])
    try #require(r.status == 0, "PyPI bsdiff4 is missing in \(TestEnv.python): `make setup` installs it (\(r.err))")
}

/// A patch built by hand: the given triples, diff and extra blocks, compressed as a real writer would.
func craftPatch(triples: [(Int64, Int64, Int64)], diff: [UInt8], extra: [UInt8], newSize: Int64,
                headerX: Int64? = nil, headerY: Int64? = nil, trailing: [UInt8] = []) throws -> [UInt8] {
    var control = [UInt8]()
    for t in triples {
        BSDIFF40.encodeInteger(t.0, into: &control)
        BSDIFF40.encodeInteger(t.1, into: &control)
        BSDIFF40.encodeInteger(t.2, into: &control)
    }
    let c = try control.withUnsafeBufferPointer { try BZip2.compress($0) }
    let d = try diff.withUnsafeBufferPointer { try BZip2.compress($0) }
    let e = try extra.withUnsafeBufferPointer { try BZip2.compress($0) }
    var p = BSDIFF40.magic
    BSDIFF40.encodeInteger(headerX ?? Int64(c.count), into: &p)
    BSDIFF40.encodeInteger(headerY ?? Int64(d.count), into: &p)
    BSDIFF40.encodeInteger(newSize, into: &p)
    return p + c + d + e + trailing
}
