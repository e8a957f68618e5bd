import SwiftASN1

// Signing reads and writes DER through swift-asn1 (`DER.parse`, `DER.Serializer`): SPKI, PKCS#8
// and PBES2 parameters, ECDSA-Sig-Value and CKA_EC_PARAMS/CKA_EC_POINT. `DER.parse` checks every
// length against its enclosing element, accepts definite minimal lengths only, refuses trailing
// bytes, and stops at 50 levels of nesting. What follows is the small vocabulary Signing's
// readers share on top of it.

/// Object identifiers in the structures Signing handles.
enum OID {
    /// id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480 §2.1.1)
    static let ecPublicKey = ASN1ObjectIdentifier.AlgorithmIdentifier.idEcPublicKey
    /// prime256v1 / secp256r1 1.2.840.10045.3.1.7
    static let p256 = ASN1ObjectIdentifier.NamedCurves.secp256r1
    /// secp384r1 1.3.132.0.34
    static let p384 = ASN1ObjectIdentifier.NamedCurves.secp384r1
    /// rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017 Appendix C)
    static let rsaEncryption = ASN1ObjectIdentifier.AlgorithmIdentifier.rsaEncryption
    /// id-RSASSA-PSS 1.2.840.113549.1.1.10
    static let rsassaPSS = ASN1ObjectIdentifier.AlgorithmIdentifier.rsaPSS
    /// id-Ed25519 1.3.101.112 (RFC 8410 §3)
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    /// id-PBES2 1.2.840.113549.1.5.13 (RFC 8018 §A.4)
    static let pbes2: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 5, 13]
    /// id-PBKDF2 1.2.840.113549.1.5.12 (RFC 8018 §A.2)
    static let pbkdf2: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 5, 12]
    /// id-hmacWithSHA256 1.2.840.113549.2.9 (RFC 8018 §B.1.2)
    static let hmacSHA256: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 2, 9]
    /// id-hmacWithSHA1 1.2.840.113549.2.7 (the PBKDF2 default PRF when absent)
    static let hmacSHA1: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 2, 7]
    /// aes256-CBC-PAD 2.16.840.1.101.3.4.1.42 (RFC 8018 §B.2.5)
    static let aes256CBC: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 1, 42]
    /// aes128-CBC-PAD 2.16.840.1.101.3.4.1.2
    static let aes128CBC: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 1, 2]

    /// The DER of `oid`, tag and length included: the form CKA_EC_PARAMS holds.
    static func der(_ oid: ASN1ObjectIdentifier) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(oid)
        return serializer.serializedBytes
    }

    /// The identifier an OBJECT IDENTIFIER node holds, or nil when its content is not a valid
    /// OID (such a node names no algorithm Firmchain knows, and is refused as unsupported).
    static func value(of node: ASN1Node) -> ASN1ObjectIdentifier? {
        try? ASN1ObjectIdentifier(derEncoded: node)
    }
}

extension ASN1Node {
    /// The children of this node when it is a constructed `identifier` (SEQUENCE by default);
    /// nil for any other node.
    func children(_ identifier: ASN1Identifier = .sequence) -> ASN1NodeCollection.Iterator? {
        guard self.identifier == identifier, case .constructed(let nodes) = content else { return nil }
        return nodes.makeIterator()
    }

    /// The content of a primitive node; nil for a constructed one.
    var primitiveContent: ArraySlice<UInt8>? {
        guard case .primitive(let bytes) = content else { return nil }
        return bytes
    }

    /// The magnitude of a non-negative INTEGER without leading zeros; nil for another node,
    /// a negative or a non-minimally encoded integer.
    var unsignedInteger: ArraySlice<UInt8>? {
        try? ArraySlice<UInt8>(derEncoded: self)
    }

    /// A small non-negative INTEGER (versions, iteration counts, key lengths): at most four
    /// bytes of magnitude, else nil.
    var smallInteger: Int? {
        guard let magnitude = unsignedInteger, magnitude.count <= 4 else { return nil }
        return magnitude.reduce(0) { $0 << 8 | Int($1) }
    }
}

extension ASN1NodeCollection.Iterator {
    /// The next node when it carries `identifier` in the form that identifier takes (SEQUENCE
    /// constructed, the other universal types used here primitive); nothing is consumed
    /// otherwise, so optional fields can be tried in order.
    mutating func next(_ identifier: ASN1Identifier) -> ASN1Node? {
        var lookahead = self
        guard let node = lookahead.next(), node.identifier == identifier else { return nil }
        let constructed: Bool
        if case .constructed = node.content { constructed = true } else { constructed = false }
        guard constructed == (identifier == .sequence) else { return nil }
        self = lookahead
        return node
    }

    /// Whether every node has been read.
    var isAtEnd: Bool {
        var lookahead = self
        guard case .none = lookahead.next() else { return false }
        return true
    }
}

/// DER writing on `DER.Serializer` for the structures Signing emits.
extension DER.Serializer {
    /// A SEQUENCE whose content `body` writes.
    mutating func sequence(_ body: (inout DER.Serializer) throws -> Void) throws {
        try appendConstructedNode(identifier: .sequence, body)
    }

    /// An unsigned INTEGER from big-endian magnitude bytes (leading zeros dropped, a zero
    /// byte prefixed when the top bit is set).
    mutating func unsignedInteger<C: Collection>(_ magnitude: C) throws where C.Element == UInt8 {
        try serialize(ArraySlice(magnitude.drop { $0 == 0 }))
    }

    /// The DER of one value written by `body`.
    static func bytes(_ body: (inout DER.Serializer) throws -> Void) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try body(&serializer)
        return serializer.serializedBytes
    }
}

/// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) writing.
enum SPKI {
    /// `SEQUENCE { SEQUENCE { algorithm, parameters }, BIT STRING key }`; `parameters` writes
    /// the algorithm parameters (nothing for Ed25519, NULL for RSA, the curve for EC).
    static func encode(algorithm: ASN1ObjectIdentifier, parameters: (inout DER.Serializer) throws -> Void = { _ in },
                       key: [UInt8]) throws -> [UInt8] {
        try DER.Serializer.bytes { s in
            try s.sequence { s in
                try s.sequence { s in
                    try s.serialize(algorithm)
                    try parameters(&s)
                }
                try s.serialize(ASN1BitString(bytes: key[...]))
            }
        }
    }
}

/// Conversions between the two ECDSA signature encodings.
public enum ECDSASignatureCoding {
    /// r‖s (each `scalarLength` bytes, big-endian) → DER `ECDSA-Sig-Value` (RFC 3279 §2.2.3).
    /// Returns nil when `raw` is not exactly 2 × `scalarLength` bytes.
    public static func der(fromRaw raw: [UInt8], scalarLength: Int) -> [UInt8]? {
        guard raw.count == 2 * scalarLength, scalarLength > 0 else { return nil }
        return try? DER.Serializer.bytes { s in
            try s.sequence { s in
                try s.unsignedInteger(raw[0..<scalarLength])
                try s.unsignedInteger(raw[scalarLength...])
            }
        }
    }

    /// DER `ECDSA-Sig-Value` → r‖s, each left-padded to `scalarLength`. Returns nil for
    /// malformed DER or integers longer than `scalarLength`.
    public static func raw(fromDER der: [UInt8], scalarLength: Int) -> [UInt8]? {
        guard var r = (try? DER.parse(der))?.children(),
              let a = r.next(.integer), let b = r.next(.integer), r.isAtEnd,
              let rm = a.unsignedInteger, let sm = b.unsignedInteger,
              rm.count <= scalarLength, sm.count <= scalarLength
        else { return nil }
        return [UInt8](repeating: 0, count: scalarLength - rm.count) + rm
            + [UInt8](repeating: 0, count: scalarLength - sm.count) + sm
    }
}
