import FirmchainCore
/// A minimal DER reader and writer (ITU-T X.690 §8, §10) for the few structures Signing
/// handles: SPKI, PKCS#8 and PBES2 parameters, ECDSA-Sig-Value, CKA_EC_PARAMS/CKA_EC_POINT.
///
/// Chosen over swift-asn1 to keep the dependency list unchanged and the surface tiny: every
/// read is bounds-checked against the enclosing element, only definite lengths of at most
/// four bytes are accepted, and nothing is ever indexed outside `bytes[start..<end]`.
struct DERReader {
    /// One element: its tag byte and the content bytes.
    struct Element {
        let tag: UInt8
        let content: ArraySlice<UInt8>
        /// The element's full encoding (tag, length, content).
        let encoded: ArraySlice<UInt8>

        /// A reader over the content (for SEQUENCE, SET and context-specific constructed tags).
        var children: DERReader { DERReader(content) }
    }

    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    /// Whether all elements have been read.
    var isAtEnd: Bool { bytes.isEmpty }

    /// The tag of the next element, or nil at the end.
    var peekTag: UInt8? { bytes.first }

    /// Reads the next element. Returns nil on any malformed or truncated encoding.
    mutating func next() -> Element? {
        guard bytes.count >= 2 else { return nil }
        let start = bytes.startIndex
        let tag = bytes[start]
        if tag & 0x1F == 0x1F { return nil }  // high tag numbers: never used here
        var i = start + 1
        let first = bytes[i]
        i += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let n = Int(first & 0x7F)
            guard n >= 1, n <= 4, bytes.endIndex - i >= n else { return nil }
            for _ in 0..<n { length = length << 8 | Int(bytes[i]); i += 1 }
            // DER: the shortest form only.
            guard length >= 0x80, n == 1 || bytes[i - n] != 0 else { return nil }
        }
        guard bytes.endIndex - i >= length else { return nil }
        let content = bytes[i..<(i + length)]
        let encoded = bytes[start..<(i + length)]
        bytes = bytes[(i + length)...]
        return Element(tag: tag, content: content, encoded: encoded)
    }

    /// Reads the next element if it has `tag`.
    mutating func next(tag: UInt8) -> Element? {
        guard peekTag == tag else { return nil }
        return next()
    }

    /// Parses `bytes` as exactly one element with `tag` and nothing after it.
    static func single(_ bytes: ArraySlice<UInt8>, tag: UInt8) -> Element? {
        var r = DERReader(bytes)
        guard let e = r.next(tag: tag), r.isAtEnd else { return nil }
        return e
    }

    /// Decodes an unsigned INTEGER's content into its magnitude without leading zeros; nil
    /// if negative or not minimally encoded.
    static func unsignedInteger(_ content: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let first = content.first else { return nil }
        if first & 0x80 != 0 { return nil }
        if content.count > 1, first == 0, content[content.startIndex + 1] & 0x80 == 0 { return nil }
        return content.drop { $0 == 0 }
    }

    /// Decodes a small non-negative INTEGER (iteration counts, key lengths).
    static func smallInteger(_ content: ArraySlice<UInt8>) -> Int? {
        guard let mag = unsignedInteger(content), mag.count <= 4 else { return nil }
        return mag.reduce(0) { $0 << 8 | Int($1) }
    }
}

/// DER tags used in this module.
enum DERTag {
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let octetString: UInt8 = 0x04
    static let null: UInt8 = 0x05
    static let oid: UInt8 = 0x06
    static let sequence: UInt8 = 0x30
}

/// DER encoding helpers.
enum DERWriter {
    /// Tag, definite length, content.
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out = [tag]
        let n = content.count
        if n < 0x80 {
            out.append(UInt8(n))
        } else {
            var lenBytes = [UInt8]()
            var v = n
            while v > 0 { lenBytes.insert(UInt8(v & 0xFF), at: 0); v >>= 8 }
            out.append(0x80 | UInt8(lenBytes.count))
            out += lenBytes
        }
        return out + content
    }

    static func sequence(_ parts: [[UInt8]]) -> [UInt8] { tlv(DERTag.sequence, parts.flatMap { $0 }) }

    /// An unsigned INTEGER from big-endian magnitude bytes.
    static func unsignedInteger<C: Collection>(_ magnitude: C) -> [UInt8] where C.Element == UInt8 {
        var m = Array(magnitude.drop { $0 == 0 })
        if m.isEmpty { m = [0] }
        if m[0] & 0x80 != 0 { m.insert(0, at: 0) }
        return tlv(DERTag.integer, m)
    }

    static func bitString(_ bytes: [UInt8]) -> [UInt8] { tlv(DERTag.bitString, [0] + bytes) }
    static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv(DERTag.octetString, bytes) }
    static let null: [UInt8] = [0x05, 0x00]
}

/// Object identifiers in DER (tag and length included), as they appear in SPKI, PKCS#8
/// and CKA_EC_PARAMS.
enum OID {
    /// id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480 §2.1.1)
    static let ecPublicKey: [UInt8] = [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
    /// prime256v1 / secp256r1 1.2.840.10045.3.1.7
    static let p256: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
    /// secp384r1 1.3.132.0.34
    static let p384: [UInt8] = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]
    /// rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017 Appendix C)
    static let rsaEncryption: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]
    /// id-RSASSA-PSS 1.2.840.113549.1.1.10
    static let rsassaPSS: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A]
    /// id-Ed25519 1.3.101.112 (RFC 8410 §3)
    static let ed25519: [UInt8] = [0x06, 0x03, 0x2B, 0x65, 0x70]
    /// id-PBES2 1.2.840.113549.1.5.13 (RFC 8018 §A.4)
    static let pbes2: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]
    /// id-PBKDF2 1.2.840.113549.1.5.12 (RFC 8018 §A.2)
    static let pbkdf2: [UInt8] = [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C]
    /// id-hmacWithSHA256 1.2.840.113549.2.9 (RFC 8018 §B.1.2)
    static let hmacSHA256: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09]
    /// id-hmacWithSHA1 1.2.840.113549.2.7 (the PBKDF2 default PRF when absent)
    static let hmacSHA1: [UInt8] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x07]
    /// aes256-CBC-PAD 2.16.840.1.101.3.4.1.42 (RFC 8018 §B.2.5)
    static let aes256CBC: [UInt8] = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A]
    /// aes128-CBC-PAD 2.16.840.1.101.3.4.1.2
    static let aes128CBC: [UInt8] = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02]
}

/// Conversions between the two ECDSA signature encodings.
public enum ECDSASignatureCoding {
    /// r‖s (each `scalarLength` bytes, big-endian) → DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3).
    /// Returns nil when `raw` is not exactly 2 × `scalarLength` bytes.
    public static func der(fromRaw raw: [UInt8], scalarLength: Int) -> [UInt8]? {
        guard raw.count == 2 * scalarLength, scalarLength > 0 else { return nil }
        return DERWriter.sequence([
            DERWriter.unsignedInteger(raw[0..<scalarLength]),
            DERWriter.unsignedInteger(raw[scalarLength...]),
        ])
    }

    /// DER `ECDSA-Sig-Value` → r‖s, each left-padded to `scalarLength`. Returns nil for
    /// malformed DER or integers longer than `scalarLength`.
    public static func raw(fromDER der: [UInt8], scalarLength: Int) -> [UInt8]? {
        guard let seq = DERReader.single(der[...], tag: DERTag.sequence) else { return nil }
        var r = seq.children
        guard let a = r.next(tag: DERTag.integer), let b = r.next(tag: DERTag.integer), r.isAtEnd,
              let rm = DERReader.unsignedInteger(a.content), let sm = DERReader.unsignedInteger(b.content),
              rm.count <= scalarLength, sm.count <= scalarLength
        else { return nil }
        return [UInt8](repeating: 0, count: scalarLength - rm.count) + rm
            + [UInt8](repeating: 0, count: scalarLength - sm.count) + sm
    }
}

/// PEM (RFC 7468) reading and writing.
enum PEM {
    /// One decoded block: its label (`PRIVATE KEY`, `PUBLIC KEY`, …) and DER bytes.
    struct Block {
        let label: String
        let der: [UInt8]
        /// Whether the block carried RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`).
        let hasHeaders: Bool
    }

    /// The first PEM block in `text`, or nil when there is none or its base64 is invalid.
    static func firstBlock(in text: String) -> Block? {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: " \t") }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else { return nil }
        let label = String(lines[begin].dropFirst(11).dropLast(5))
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else { return nil }
        var body = ""
        var headers = false
        for line in lines[(begin + 1)..<end] {
            if line.contains(":") { headers = true; continue }
            body += line
        }
        guard let der = Base64.decode(body), !der.isEmpty else { return nil }
        return Block(label: label, der: der, hasHeaders: headers)
    }

    /// `-----BEGIN label-----`, base64 in 64-column lines, `-----END label-----` and a newline.
    static func encode(_ der: [UInt8], label: String) -> String {
        let b64 = Base64.encode(der)
        var out = "-----BEGIN \(label)-----\n"
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            out += b64[i..<j] + "\n"
            i = j
        }
        return out + "-----END \(label)-----\n"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}

