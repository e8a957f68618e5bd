import Encryption
import FirmchainCore
import Testing
import TestSupport

@Suite("CBOR")
struct CBORTests {
    /// RFC 8949 Appendix A vectors (the subset COSE uses).
    static let vectors: [(CBOR, String)] = [
        (.int(0), "00"), (.int(23), "17"), (.int(24), "1818"), (.int(1000), "1903e8"),
        (.int(1_000_000), "1a000f4240"), (.unsigned(1_000_000_000_000), "1b000000e8d4a51000"),
        (.int(-1), "20"), (.int(-1000), "3903e7"), (.bytes([1, 2, 3, 4]), "4401020304"), (.text("IETF"), "6449455446"),
        (.text("\u{00fc}"), "62c3bc"), (.array([]), "80"), (.array([.int(1), .array([.int(2), .int(3)]), .array([.int(4), .int(5)])]), "8301820203820405"),
        (.map([CBORMapEntry(.int(1), .int(2)), CBORMapEntry(.int(3), .int(4))]), "a201020304"),
        (.tagged(96, .null), "d860f6"), (.bool(false), "f4"), (.bool(true), "f5"), (.null, "f6"),
    ]

    @Test("encodes the RFC 8949 examples byte for byte and decodes them back")
    func rfcVectors() throws {
        for (value, hex) in Self.vectors {
            #expect(Hex.encode(value.encoded) == hex)
            #expect(try CBORDecoder.decode(Hex.decode(hex)!) == value)
        }
    }

    @Test("random nested values survive encode then decode unchanged")
    func randomRoundTrips() throws {
        var rng = SeededGenerator(seed: 20)
        func random(_ depth: Int) -> CBOR {
            switch rng.next() % (depth > 3 ? 5 : 8) {
            case 0: return .unsigned(rng.next() >> (rng.next() % 64))
            case 1: return .negative(rng.next() >> (rng.next() % 64))
            case 2: return .bytes(rng.bytes(Int(rng.next() % 300)))
            case 3: return .text(String(repeating: "é", count: Int(rng.next() % 40)))
            case 4: return [.null, .bool(true), .bool(false)][Int(rng.next() % 3)]
            case 5: return .array((0..<Int(rng.next() % 5)).map { _ in random(depth + 1) })
            case 6:
                var seen = Set<CBOR>(), entries = [CBORMapEntry]()
                for i in 0..<Int(rng.next() % 5) where seen.insert(.int(i)).inserted { entries.append(CBORMapEntry(.int(i), random(depth + 1))) }
                return .map(entries)
            default: return .tagged(rng.next() % 1000, random(depth + 1))
            }
        }
        for _ in 0..<500 {
            let v = random(0)
            #expect(try CBORDecoder.decode(v.encoded) == v)
        }
    }

    @Test("refuses hostile or sloppy input, naming the byte", arguments: [
        ("0000", "trailing"), ("a20102 0103", "duplicate map key"), ("1817", "shortest form"), ("5f4101ff", "indefinite"),
        ("f93c00", "float"), ("62c3", "runs past the end"), ("62fffe", "UTF-8"), ("83 01 02", "ends inside"),
        ("f7", "simple value"), ("1c", "reserved"), ("9a00010000", "entries, more than"),
        ("5a00200001", "more than the limit"),
    ])
    func refuses(hex: String, reason: String) throws {
        let bytes = Hex.decode(hex.replacingOccurrences(of: " ", with: ""))!
        let error = #expect(throws: FirmchainError.self) { try CBORDecoder.decode(bytes) }
        #expect(error?.code == .encryptionCBORMalformed)
        #expect(error?.reason.contains(reason) == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("at byte") == true)
    }

    @Test("refuses nesting deeper than the limit, however short the input")
    func depthLimit() throws {
        let deep = [UInt8](repeating: 0x81, count: 9) + [0x00]
        let error = #expect(throws: FirmchainError.self) { try CBORDecoder.decode(deep) }
        #expect(error?.reason.contains("nesting deeper than 8") == true)
        #expect(try CBORDecoder.decode([UInt8](repeating: 0x81, count: 8) + [0x00]) != .null)
    }

    @Test("a flood of tiny items stops at the item limit")
    func itemLimit() throws {
        var bytes: [UInt8] = [0x98, 64]
        for _ in 0..<64 { bytes += [0x98, 64] + [UInt8](repeating: 0, count: 64) }
        let error = #expect(throws: FirmchainError.self) { try CBORDecoder.decode(bytes, limits: CBORLimits(maxItems: 1000)) }
        #expect(error?.reason.contains("more than 1000 data items") == true)
    }
}
