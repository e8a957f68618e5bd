import FirmchainCore
/// A PKCS#11 URI (RFC 7512), parsed and percent-decoded.
///
/// Grammar (RFC 7512 §2.3): `pkcs11:` path-attributes separated by `;`, then optionally `?`
/// and query-attributes separated by `&`. Values are percent-decoded; `id` is an arbitrary
/// byte string, every other value is UTF-8 text. Standard attributes may appear only once;
/// other names (vendor-specific attributes) are kept in `vendorPathAttributes` /
/// `vendorQueryAttributes` — Firmchain refuses to *use* a URI that carries one, since it
/// cannot honour it (fail closed).
public struct PKCS11URI: Sendable, Equatable, CustomStringConvertible {
    /// `type=` (RFC 7512 §2.3): the object class.
    public enum ObjectType: String, Sendable, CaseIterable {
        case publicKey = "public", privateKey = "private", certificate = "cert", secretKey = "secret-key", data = "data"
    }

    // Path attributes (RFC 7512 §2.3, "pk11-pattr").
    /// `token=`: the token label (CK_TOKEN_INFO.label).
    public var token: String?
    /// `manufacturer=`: CK_TOKEN_INFO.manufacturerID.
    public var manufacturer: String?
    /// `model=`: CK_TOKEN_INFO.model.
    public var model: String?
    /// `serial=`: CK_TOKEN_INFO.serialNumber.
    public var serial: String?
    /// `object=`: CKA_LABEL.
    public var object: String?
    /// `id=`: CKA_ID, raw bytes.
    public var id: [UInt8]?
    /// `type=`: CKA_CLASS.
    public var type: ObjectType?
    /// `slot-description=`: CK_SLOT_INFO.slotDescription.
    public var slotDescription: String?
    /// `slot-manufacturer=`: CK_SLOT_INFO.manufacturerID.
    public var slotManufacturer: String?
    /// `slot-id=`: the decimal CK_SLOT_ID.
    public var slotID: UInt?
    /// `library-manufacturer=`: CK_INFO.manufacturerID.
    public var libraryManufacturer: String?
    /// `library-description=`: CK_INFO.libraryDescription.
    public var libraryDescription: String?
    /// `library-version=`: CK_INFO.libraryVersion as "major[.minor]".
    public var libraryVersion: (major: UInt8, minor: UInt8)?
    /// Path attributes with names RFC 7512 does not define, in order.
    public var vendorPathAttributes: [(name: String, value: String)] = []

    // Query attributes (RFC 7512 §2.3, "pk11-qattr").
    /// `pin-source=`: where the PIN is read from (`file:/path` or an absolute path).
    public var pinSource: String?
    /// `pin-value=`: the PIN itself. Refused unless the caller opts in with
    /// `SignerOptions.allowUnsafePINValueInURI`; never printed.
    public var pinValue: String?
    /// `module-name=`: a module name to look up (not supported for loading; use module-path).
    public var moduleName: String?
    /// `module-path=`: the PKCS#11 module file.
    public var modulePath: String?
    /// Query attributes with names RFC 7512 does not define, in order.
    public var vendorQueryAttributes: [(name: String, value: String)] = []

    /// An empty URI (`pkcs11:`) matching everything.
    public init() {}

    /// Whether `text` starts with the `pkcs11:` scheme (case-insensitive, RFC 3986 §3.1).
    public static func isPKCS11URI(_ text: String) -> Bool {
        text.utf8.count >= 7 && text.prefix(7).lowercased() == "pkcs11:"
    }

    /// Parses a URI. Throws `signing.uri-malformed` naming the first problem (unknown scheme,
    /// bad percent-encoding, a character that must be encoded, a repeated attribute, a bad
    /// `type`, `slot-id` or `library-version`, invalid UTF-8 in a text attribute).
    public init(parsing text: String) throws {
        guard Self.isPKCS11URI(text) else { throw FirmchainError.uriMalformed("does not start with pkcs11:") }
        let rest = Array(text.utf8.dropFirst(7))
        let q = rest.firstIndex(of: UInt8(ascii: "?"))
        let path = q.map { Array(rest[..<$0]) } ?? rest
        let query = q.map { Array(rest[($0 + 1)...]) } ?? []
        if q != nil, query.isEmpty { throw FirmchainError.uriMalformed("empty query after '?'") }
        var seen = Set<String>()

        if !path.isEmpty {
            for part in path.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false) {
                let (name, raw) = try Self.splitAttribute(Array(part))
                try Self.checkCharacters(raw, allowed: Self.pathExtra, attribute: name)
                let bytes = try Self.percentDecode(raw, attribute: name)
                if Self.pathNames.contains(name) {
                    guard seen.insert(name).inserted else { throw FirmchainError.uriMalformed("attribute \(name) appears twice") }
                }
                switch name {
                case "id": id = bytes
                case "type":
                    let s = try Self.text(bytes, name)
                    guard let t = ObjectType(rawValue: s) else { throw FirmchainError.uriMalformed("type must be one of public, private, cert, secret-key, data") }
                    type = t
                case "slot-id":
                    let s = try Self.text(bytes, name)
                    guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = UInt(s) else {
                        throw FirmchainError.uriMalformed("slot-id must be a decimal number")
                    }
                    slotID = v
                case "library-version":
                    let s = try Self.text(bytes, name)
                    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
                    guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
                          let major = UInt8(parts[0]), let minor = parts.count == 2 ? UInt8(parts[1]) : 0
                    else { throw FirmchainError.uriMalformed("library-version must be M or M.N") }
                    libraryVersion = (major, minor)
                case "token": token = try Self.text(bytes, name)
                case "manufacturer": manufacturer = try Self.text(bytes, name)
                case "model": model = try Self.text(bytes, name)
                case "serial": serial = try Self.text(bytes, name)
                case "object": object = try Self.text(bytes, name)
                case "slot-description": slotDescription = try Self.text(bytes, name)
                case "slot-manufacturer": slotManufacturer = try Self.text(bytes, name)
                case "library-manufacturer": libraryManufacturer = try Self.text(bytes, name)
                case "library-description": libraryDescription = try Self.text(bytes, name)
                default:
                    if Self.queryNames.contains(name) { throw FirmchainError.uriMalformed("\(name) belongs in the query (after '?')") }
                    vendorPathAttributes.append((name, try Self.text(bytes, name)))
                }
            }
        }
        if !query.isEmpty {
            for part in query.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
                let (name, raw) = try Self.splitAttribute(Array(part))
                try Self.checkCharacters(raw, allowed: Self.queryExtra, attribute: name)
                let value = try Self.text(try Self.percentDecode(raw, attribute: name), name)
                if Self.queryNames.contains(name) {
                    guard seen.insert(name).inserted else { throw FirmchainError.uriMalformed("attribute \(name) appears twice") }
                }
                switch name {
                case "pin-source": pinSource = value
                case "pin-value": pinValue = value
                case "module-name": moduleName = value
                case "module-path": modulePath = value
                default:
                    if Self.pathNames.contains(name) { throw FirmchainError.uriMalformed("\(name) belongs in the path (before '?')") }
                    vendorQueryAttributes.append((name, value))
                }
            }
        }
    }

    /// The URI in RFC 7512 form with every value percent-encoded where needed. `pin-value`
    /// is never written: the result is safe to print and log.
    public var description: String {
        var path = [String]()
        func add(_ n: String, _ v: String?) { if let v { path.append("\(n)=\(Self.encode(Array(v.utf8), query: false))") } }
        add("token", token); add("manufacturer", manufacturer); add("model", model); add("serial", serial)
        add("slot-description", slotDescription); add("slot-manufacturer", slotManufacturer)
        if let slotID { path.append("slot-id=\(slotID)") }
        add("library-manufacturer", libraryManufacturer); add("library-description", libraryDescription)
        if let v = libraryVersion { path.append("library-version=\(v.major).\(v.minor)") }
        add("object", object)
        if let id { path.append("id=" + id.map { Self.pct($0) }.joined()) }
        if let type { path.append("type=\(type.rawValue)") }
        for (n, v) in vendorPathAttributes { add(n, v) }
        var query = [String]()
        func addQ(_ n: String, _ v: String?) { if let v { query.append("\(n)=\(Self.encode(Array(v.utf8), query: true))") } }
        addQ("pin-source", pinSource); addQ("module-name", moduleName); addQ("module-path", modulePath)
        for (n, v) in vendorQueryAttributes { addQ(n, v) }
        return "pkcs11:" + path.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// Whether `a` and `b` print the same URI and carry the same `pin-value`.
    public static func == (a: PKCS11URI, b: PKCS11URI) -> Bool {
        a.description == b.description && a.pinValue == b.pinValue
    }

    // MARK: - RFC 7512 §2.3 character classes

    static let pathNames: Set<String> = [
        "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
        "library-version", "object", "type", "id", "slot-description", "slot-manufacturer", "slot-id",
    ]
    static let queryNames: Set<String> = ["pin-source", "pin-value", "module-name", "module-path"]

    /// `pk11-res-avail = ":" / "[" / "]" / "@" / "!" / "$" / "'" / "(" / ")" / "*" / "+" / "," / "="`
    private static let resAvail = Array(":[]@!$'()*+,=".utf8)
    /// Path values may also hold `&`; query values `/`, `?` and `|`.
    private static let pathExtra = Set(resAvail + Array("&".utf8))
    private static let queryExtra = Set(resAvail + Array("/?|".utf8))

    private static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
    }

    /// `name=value`; the name is 1*(ALPHA / DIGIT / "-" / "_") (vendor names included).
    private static func splitAttribute(_ part: [UInt8]) throws -> (String, [UInt8]) {
        guard let eq = part.firstIndex(of: UInt8(ascii: "=")) else {
            throw FirmchainError.uriMalformed(part.isEmpty ? "empty attribute (stray ';' or '&')" : "attribute without '='")
        }
        let name = part[..<eq]
        guard !name.isEmpty, name.allSatisfy({ isUnreserved($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "~") }) else {
            throw FirmchainError.uriMalformed("bad attribute name")
        }
        return (String(decoding: name, as: UTF8.self), Array(part[(eq + 1)...]))
    }

    private static func checkCharacters(_ value: [UInt8], allowed: Set<UInt8>, attribute: String) throws {
        for c in value where !(isUnreserved(c) || c == UInt8(ascii: "%") || allowed.contains(c)) {
            let shown = c >= 0x21 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : String(format: c)
            throw FirmchainError.uriMalformed("character \(shown) in \(attribute) must be percent-encoded")
        }
    }

    private static func percentDecode(_ value: [UInt8], attribute: String) throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(value.count)
        var i = 0
        while i < value.count {
            if value[i] == UInt8(ascii: "%") {
                guard i + 2 < value.count, let h = hexValue(value[i + 1]), let l = hexValue(value[i + 2])
                else { throw FirmchainError.uriMalformed("bad percent-encoding in \(attribute)") }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(value[i])
                i += 1
            }
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    private static func text(_ bytes: [UInt8], _ attribute: String) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw FirmchainError.uriMalformed("\(attribute) is not valid UTF-8 after percent-decoding")
        }
        return s
    }

    private static func pct(_ b: UInt8) -> String {
        let d = Array("0123456789ABCDEF".utf8)
        return String(decoding: [UInt8(ascii: "%"), d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
    }

    private static func encode(_ bytes: [UInt8], query: Bool) -> String {
        let extra = query ? queryExtra : pathExtra
        var s = ""
        for b in bytes {
            if isUnreserved(b) || extra.contains(b) { s.unicodeScalars.append(Unicode.Scalar(b)) } else { s += pct(b) }
        }
        return s
    }
}

extension String {
    fileprivate init(format byte: UInt8) {
        self = "0x" + String(byte, radix: 16)
    }
}
