import FirmchainCore

/// One CBOR data item (RFC 8949 §3), restricted to what COSE needs: integers, byte and text
/// strings, arrays, maps, tags, `true`/`false` and `null`. Floats, `undefined`, other simple
/// values and indefinite lengths are not represented, so they cannot be written, and
/// `CBORDecoder` refuses them.
public indirect enum CBOR: Sendable, Hashable {
    /// Major type 0: an unsigned integer.
    case unsigned(UInt64)
    /// Major type 1: the integer `-1 - n`.
    case negative(UInt64)
    /// Major type 2: a byte string.
    case bytes([UInt8])
    /// Major type 3: a UTF-8 text string.
    case text(String)
    /// Major type 4: an array.
    case array([CBOR])
    /// Major type 5: a map, its entries in the order they are written (keys are unique).
    case map([CBORMapEntry])
    /// Major type 6: a tagged item (`96` is COSE_Encrypt, RFC 9052 §2).
    case tagged(UInt64, CBOR)
    /// Simple values 20 and 21.
    case bool(Bool)
    /// Simple value 22.
    case null

    /// A signed integer as `.unsigned` or `.negative`.
    public static func int(_ v: Int) -> CBOR {
        v >= 0 ? .unsigned(UInt64(v)) : .negative(UInt64(-(v + 1)))
    }

    /// The value as an `Int` when it is an integer that fits.
    public var intValue: Int? {
        switch self {
        case .unsigned(let u): return u <= UInt64(Int.max) ? Int(u) : nil
        case .negative(let n): return n <= UInt64(Int.max) ? -1 - Int(n) : nil
        default: return nil
        }
    }

    /// The bytes of a byte string.
    public var bytesValue: [UInt8]? { if case .bytes(let b) = self { return b }; return nil }
    /// The items of an array.
    public var arrayValue: [CBOR]? { if case .array(let a) = self { return a }; return nil }
    /// The entries of a map.
    public var mapValue: [CBORMapEntry]? { if case .map(let m) = self { return m }; return nil }

    /// The value stored under `key` in a map (nil for other items or a missing key).
    public subscript(key: CBOR) -> CBOR? {
        mapValue?.first { $0.key == key }?.value
    }

    /// The encoded bytes: definite lengths, every length and integer in its shortest form
    /// (RFC 8949 §4.2.1 "preferred serialization"); map entries in the order given.
    public var encoded: [UInt8] {
        var out = [UInt8]()
        CBOR.write(self, to: &out)
        return out
    }

    private static func writeHead(_ major: UInt8, _ value: UInt64, to out: inout [UInt8]) {
        let m = major << 5
        switch value {
        case 0..<24: out.append(m | UInt8(value))
        case 24...0xFF: out += [m | 24, UInt8(value)]
        case 0x100...0xFFFF: out += [m | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        case 0x1_0000...0xFFFF_FFFF:
            out.append(m | 26)
            for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((value >> UInt64(s)) & 0xFF)) }
        default:
            out.append(m | 27)
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((value >> UInt64(s)) & 0xFF)) }
        }
    }

    private static func write(_ item: CBOR, to out: inout [UInt8]) {
        switch item {
        case .unsigned(let u): writeHead(0, u, to: &out)
        case .negative(let n): writeHead(1, n, to: &out)
        case .bytes(let b): writeHead(2, UInt64(b.count), to: &out); out += b
        case .text(let t): let u = Array(t.utf8); writeHead(3, UInt64(u.count), to: &out); out += u
        case .array(let a):
            writeHead(4, UInt64(a.count), to: &out)
            for e in a { write(e, to: &out) }
        case .map(let m):
            writeHead(5, UInt64(m.count), to: &out)
            for e in m { write(e.key, to: &out); write(e.value, to: &out) }
        case .tagged(let tag, let inner): writeHead(6, tag, to: &out); write(inner, to: &out)
        case .bool(let b): out.append(b ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        }
    }
}

/// One entry of a CBOR map.
public struct CBORMapEntry: Sendable, Hashable {
    /// The key.
    public let key: CBOR
    /// The value.
    public let value: CBOR
    /// An entry `key: value`.
    public init(_ key: CBOR, _ value: CBOR) {
        self.key = key
        self.value = value
    }
}

/// The limits `CBORDecoder` enforces on untrusted input.
public struct CBORLimits: Sendable {
    /// The deepest nesting of arrays, maps and tags.
    public var maxDepth: Int
    /// The most items one array or map may announce.
    public var maxContainerCount: Int
    /// The most data items in the whole document.
    public var maxItems: Int
    /// The longest byte or text string.
    public var maxStringLength: Int

    /// Limits for COSE headers and structures: depth 8, 64 entries per container, 1024 items,
    /// strings up to `maxStringLength` (1 MiB unless given: attached ciphertexts need more).
    public init(maxDepth: Int = 8, maxContainerCount: Int = 64, maxItems: Int = 1024, maxStringLength: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxContainerCount = maxContainerCount
        self.maxItems = maxItems
        self.maxStringLength = maxStringLength
    }
}

/// A strict CBOR reader for untrusted bytes (RFC 8949): exactly one data item and no trailing
/// bytes; definite lengths only; integers and lengths in their shortest form; no floats,
/// `undefined` or unassigned simple values; valid UTF-8 text; no duplicate map keys; and the
/// depth, count and length limits of `CBORLimits`. Every refusal is `encryption.cbor-malformed`
/// naming the byte offset.
public struct CBORDecoder {
    private let bytes: [UInt8]
    private let limits: CBORLimits
    private var offset = 0
    private var items = 0

    /// Decodes `bytes` as one CBOR data item.
    public static func decode(_ bytes: [UInt8], limits: CBORLimits = CBORLimits()) throws -> CBOR {
        var d = CBORDecoder(bytes: bytes, limits: limits)
        let item = try d.item(depth: 0)
        guard d.offset == bytes.count else {
            throw d.fail("\(bytes.count - d.offset) trailing byte(s) after the data item")
        }
        return item
    }

    private init(bytes: [UInt8], limits: CBORLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    private func fail(_ what: String, at: Int? = nil) -> FirmchainError {
        FirmchainError(.encryptionCBORMalformed, "CBOR at byte \(at ?? offset): \(what)")
    }

    private mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw fail("the input ends inside a data item") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads the argument of a head whose additional info is `info`, refusing non-shortest forms.
    private mutating func argument(_ info: UInt8, start: Int) throws -> UInt64 {
        switch info {
        case 0..<24: return UInt64(info)
        case 24...27:
            let n = 1 << Int(info - 24)
            var v: UInt64 = 0
            for _ in 0..<n { v = v << 8 | UInt64(try byte()) }
            let minimum: UInt64 = [24, 0x100, 0x1_0000, 0x1_0000_0000][Int(info - 24)]
            guard v >= minimum else { throw fail("a value not in its shortest form", at: start) }
            return v
        case 31: throw fail("an indefinite length", at: start)
        default: throw fail("a reserved additional-information value \(info)", at: start)
        }
    }

    private mutating func item(depth: Int) throws -> CBOR {
        items += 1
        guard items <= limits.maxItems else { throw fail("more than \(limits.maxItems) data items") }
        let start = offset
        let head = try byte()
        let major = head >> 5, info = head & 0x1F
        if major == 7 {
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            default: throw fail("a float or simple value COSE does not use (0x\(String(head, radix: 16)))", at: start)
            }
        }
        let arg = try argument(info, start: start)
        switch major {
        case 0: return .unsigned(arg)
        case 1: return .negative(arg)
        case 2, 3:
            guard arg <= UInt64(limits.maxStringLength) else {
                throw fail("a string of \(arg) bytes, more than the limit of \(limits.maxStringLength)", at: start)
            }
            let n = Int(arg)
            guard bytes.count - offset >= n else { throw fail("a string runs past the end of the input", at: start) }
            let slice = Array(bytes[offset..<offset + n])
            offset += n
            if major == 2 { return .bytes(slice) }
            guard let s = String(validatingUTF8CString: slice) else { throw fail("text that is not valid UTF-8", at: start) }
            return .text(s)
        case 4, 5:
            guard depth < limits.maxDepth else { throw fail("nesting deeper than \(limits.maxDepth)", at: start) }
            guard arg <= UInt64(limits.maxContainerCount) else {
                throw fail("a container of \(arg) entries, more than the limit of \(limits.maxContainerCount)", at: start)
            }
            let n = Int(arg)
            if major == 4 {
                var a = [CBOR]()
                a.reserveCapacity(n)
                for _ in 0..<n { a.append(try item(depth: depth + 1)) }
                return .array(a)
            }
            var m = [CBORMapEntry]()
            var seen = Set<CBOR>()
            for _ in 0..<n {
                let keyStart = offset
                let k = try item(depth: depth + 1)
                guard seen.insert(k).inserted else { throw fail("a duplicate map key", at: keyStart) }
                m.append(CBORMapEntry(k, try item(depth: depth + 1)))
            }
            return .map(m)
        default: // 6
            guard depth < limits.maxDepth else { throw fail("nesting deeper than \(limits.maxDepth)", at: start) }
            return .tagged(arg, try item(depth: depth + 1))
        }
    }
}

extension String {
    /// Strict UTF-8 validation of `bytes` (no replacement characters, NUL allowed).
    fileprivate init?(validatingUTF8CString bytes: [UInt8]) {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}
