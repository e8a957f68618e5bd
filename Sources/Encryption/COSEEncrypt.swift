import FirmchainCore

/// A COSE_Encrypt structure (RFC 9052 §5.1, CBOR tag 96) as the SUIT firmware-encryption
/// profile uses it (Docs/encryption.md "Format"):
///
/// ```
/// 96([ protected   bstr .cbor {1: alg (A256GCM 3 | A128GCM 1)},
///      unprotected {5: IV (12 bytes)},
///      ciphertext  bstr / nil (nil: detached, the payload file is ciphertext ‖ tag),
///      recipients  [+ COSE_recipient] ])
/// COSE_recipient = [ protected bstr, unprotected {…, 4: kid}, wrapped content key bstr ]
/// ```
///
/// Decoding is strict (`init(decoding:limits:)`): the bytes go through `CBORDecoder`'s limits,
/// then every field is checked against the profile. Unknown header parameters that are not
/// critical survive a round trip.
public struct COSEEncrypt: Sendable, Hashable {
    /// The serialized protected header of the content layer (the bstr's contents).
    public let protectedHeader: [UInt8]
    /// The content layer's unprotected header, as read (IV included).
    public let unprotectedHeader: [CBORMapEntry]
    /// The content-encryption algorithm (from the protected header).
    public let contentAlgorithm: ContentAlgorithm
    /// The 12-byte AES-GCM IV.
    public let iv: [UInt8]
    /// The ciphertext ‖ tag when attached; nil when detached.
    public let ciphertext: [UInt8]?
    /// The recipients, in order.
    public let recipients: [COSERecipient]

    /// COSE header labels (RFC 9052 §3.1, §7.1; RFC 9053 §6.4.1).
    enum Label {
        static let alg = 1, crit = 2, kid = 4, iv = 5, partialIV = 6, ephemeralKey = -1
    }

    /// The CBOR tag of COSE_Encrypt.
    public static let tag: UInt64 = 96

    /// A fresh structure with the content algorithm in the protected header and the IV in the
    /// unprotected one.
    init(contentAlgorithm: ContentAlgorithm, iv: [UInt8], ciphertext: [UInt8]?, recipients: [COSERecipient]) {
        self.contentAlgorithm = contentAlgorithm
        self.protectedHeader = CBOR.map([CBORMapEntry(.int(Label.alg), .int(contentAlgorithm.coseID))]).encoded
        self.unprotectedHeader = [CBORMapEntry(.int(Label.iv), .bytes(iv))]
        self.iv = iv
        self.ciphertext = ciphertext
        self.recipients = recipients
    }

    private init(protectedHeader: [UInt8], unprotectedHeader: [CBORMapEntry], contentAlgorithm: ContentAlgorithm,
                 iv: [UInt8], ciphertext: [UInt8]?, recipients: [COSERecipient]) {
        self.protectedHeader = protectedHeader
        self.unprotectedHeader = unprotectedHeader
        self.contentAlgorithm = contentAlgorithm
        self.iv = iv
        self.ciphertext = ciphertext
        self.recipients = recipients
    }

    /// The same structure with `more` recipients appended (the content layer is unchanged, so
    /// the ciphertext stays valid).
    public func adding(_ more: [COSERecipient]) -> COSEEncrypt {
        COSEEncrypt(protectedHeader: protectedHeader, unprotectedHeader: unprotectedHeader, contentAlgorithm: contentAlgorithm,
                    iv: iv, ciphertext: ciphertext, recipients: recipients + more)
    }

    /// The same structure with the ciphertext detached (nil).
    public var detached: COSEEncrypt {
        COSEEncrypt(protectedHeader: protectedHeader, unprotectedHeader: unprotectedHeader, contentAlgorithm: contentAlgorithm,
                    iv: iv, ciphertext: nil, recipients: recipients)
    }

    /// The additional authenticated data of the content layer: the CBOR
    /// `Enc_structure = ["Encrypt", protected, external_aad = h'']` (RFC 9052 §5.3).
    public var additionalAuthenticatedData: [UInt8] {
        CBOR.array([.text("Encrypt"), .bytes(protectedHeader), .bytes([])]).encoded
    }

    /// The tagged CBOR encoding.
    public var encoded: [UInt8] {
        CBOR.tagged(Self.tag, .array([
            .bytes(protectedHeader), .map(unprotectedHeader), ciphertext.map { .bytes($0) } ?? .null,
            .array(recipients.map(\.cbor)),
        ])).encoded
    }

    /// Reads a COSE_Encrypt (tagged 96 or untagged) from untrusted bytes.
    ///
    /// Refused with `encryption.cbor-malformed` (not strict CBOR within `limits`),
    /// `encryption.cose-malformed` (wrong shape, missing or duplicated headers, an IV that is
    /// not 12 bytes, critical headers, nested recipients) or `encryption.algorithm-unsupported`.
    public init(decoding bytes: [UInt8], limits: CBORLimits = CBORLimits()) throws {
        var top = try CBORDecoder.decode(bytes, limits: limits)
        if case .tagged(let t, let inner) = top {
            guard t == Self.tag else { throw Self.malformed("the CBOR tag is \(t), not 96 (COSE_Encrypt)") }
            top = inner
        }
        guard let items = top.arrayValue, items.count == 4 else {
            throw Self.malformed("COSE_Encrypt is an array of 4 items: protected, unprotected, ciphertext, recipients")
        }
        let headers = try Headers(protected: items[0], unprotected: items[1], layer: "the content layer")
        guard let algID = headers.value(Label.alg)?.intValue else { throw Self.malformed("the content layer has no algorithm (label 1)") }
        guard let alg = ContentAlgorithm(coseID: algID) else {
            throw FirmchainError(.encryptionAlgorithmUnsupported, "content algorithm \(algID) is not supported (A256GCM 3, A128GCM 1)")
        }
        guard headers.value(Label.partialIV) == nil else { throw Self.malformed("a Partial IV (label 6) is not used by this profile") }
        guard let iv = headers.value(Label.iv)?.bytesValue, iv.count == 12 else {
            throw Self.malformed("the content layer needs a 12-byte IV (label 5)")
        }
        var ciphertext: [UInt8]?
        switch items[2] {
        case .null: ciphertext = nil
        case .bytes(let b):
            guard b.count >= 16 else { throw FirmchainError(.encryptionTruncated, "the attached ciphertext is shorter than the 16-byte tag") }
            ciphertext = b
        default: throw Self.malformed("the ciphertext is neither a byte string nor nil")
        }
        guard let rs = items[3].arrayValue, !rs.isEmpty else { throw Self.malformed("COSE_Encrypt needs at least one recipient") }
        self.init(protectedHeader: headers.protectedBytes, unprotectedHeader: headers.unprotected, contentAlgorithm: alg,
                  iv: iv, ciphertext: ciphertext, recipients: try rs.enumerated().map { try COSERecipient(decoding: $1, index: $0) })
    }

    static func malformed(_ what: String) -> FirmchainError {
        FirmchainError(.encryptionCOSEMalformed, "not a COSE_Encrypt of the SUIT encryption profile: \(what)")
    }

    /// A layer's two headers, checked: the protected bstr holds a map (or nothing), no label in
    /// both, no critical parameters (RFC 9052 §3).
    struct Headers {
        let protectedBytes: [UInt8]
        let protected: [CBORMapEntry]
        let unprotected: [CBORMapEntry]

        init(protected p: CBOR, unprotected u: CBOR, layer: String) throws {
            guard let pb = p.bytesValue else { throw COSEEncrypt.malformed("\(layer)'s protected header is not a byte string") }
            protectedBytes = pb
            if pb.isEmpty {
                protected = []
            } else {
                guard let m = try CBORDecoder.decode(pb).mapValue else { throw COSEEncrypt.malformed("\(layer)'s protected header is not a map") }
                protected = m
            }
            guard let um = u.mapValue else { throw COSEEncrypt.malformed("\(layer)'s unprotected header is not a map") }
            unprotected = um
            let pk = Set(protected.map(\.key))
            if let dup = unprotected.first(where: { pk.contains($0.key) }) {
                throw COSEEncrypt.malformed("\(layer) has header \(dup.key) in both the protected and unprotected header")
            }
            if pk.contains(.int(Label.crit)) || unprotected.contains(where: { $0.key == .int(Label.crit) }) {
                throw COSEEncrypt.malformed("\(layer) marks header parameters critical (label 2); none is understood")
            }
        }

        func value(_ label: Int) -> CBOR? {
            (protected.first { $0.key == .int(label) } ?? unprotected.first { $0.key == .int(label) })?.value
        }
    }
}

/// One COSE_recipient of a COSE_Encrypt: how one key holder unwraps the content key.
public struct COSERecipient: Sendable, Hashable {
    /// The serialized protected header (empty for AES key wrap, RFC 9053 §6.2.1).
    public let protectedHeader: [UInt8]
    /// The unprotected header, as read.
    public let unprotectedHeader: [CBORMapEntry]
    /// The recipient algorithm.
    public let algorithm: RecipientAlgorithm
    /// The key id (label 4), if any: a hint for finding the recipient, never trusted.
    public let keyID: [UInt8]?
    /// ECDH-ES only: the sender's ephemeral P-256 public key as `04‖x‖y`.
    public let ephemeralPoint: [UInt8]?
    /// The wrapped content key.
    public let wrappedKey: [UInt8]

    /// A recipient as Firmchain writes it: ECDH-ES puts the algorithm in the protected header
    /// and the ephemeral key and kid in the unprotected one; AES key wrap leaves the protected
    /// header empty and puts the algorithm and kid in the unprotected one.
    init(algorithm: RecipientAlgorithm, keyID: [UInt8]?, ephemeralPoint: [UInt8]?, wrappedKey: [UInt8]) {
        typealias L = COSEEncrypt.Label
        var unprotected = [CBORMapEntry]()
        switch algorithm {
        case .ecdhES:
            protectedHeader = CBOR.map([CBORMapEntry(.int(L.alg), .int(algorithm.coseID))]).encoded
            let p = ephemeralPoint!
            unprotected.append(CBORMapEntry(.int(L.ephemeralKey), .map([
                CBORMapEntry(.int(1), .int(2)),     // kty: EC2
                CBORMapEntry(.int(-1), .int(1)),    // crv: P-256
                CBORMapEntry(.int(-2), .bytes(Array(p[1..<33]))),
                CBORMapEntry(.int(-3), .bytes(Array(p[33..<65]))),
            ])))
        case .keyWrap:
            protectedHeader = []
            unprotected.append(CBORMapEntry(.int(L.alg), .int(algorithm.coseID)))
        }
        if let keyID { unprotected.append(CBORMapEntry(.int(L.kid), .bytes(keyID))) }
        self.unprotectedHeader = unprotected
        self.algorithm = algorithm
        self.keyID = keyID
        self.ephemeralPoint = ephemeralPoint
        self.wrappedKey = wrappedKey
    }

    var cbor: CBOR { .array([.bytes(protectedHeader), .map(unprotectedHeader), .bytes(wrappedKey)]) }

    init(decoding item: CBOR, index: Int) throws {
        typealias L = COSEEncrypt.Label
        let layer = "recipient \(index)"
        guard let a = item.arrayValue else { throw COSEEncrypt.malformed("\(layer) is not an array") }
        guard a.count == 3 else {
            throw COSEEncrypt.malformed(a.count == 4 ? "\(layer) has nested recipients, which this profile does not use" : "\(layer) is not [protected, unprotected, wrapped key]")
        }
        let h = try COSEEncrypt.Headers(protected: a[0], unprotected: a[1], layer: layer)
        guard let algID = h.value(L.alg)?.intValue else { throw COSEEncrypt.malformed("\(layer) has no algorithm (label 1)") }
        guard let alg = RecipientAlgorithm(coseID: algID) else {
            throw FirmchainError(.encryptionAlgorithmUnsupported, "\(layer) uses algorithm \(algID) (supported: ECDH-ES+A256KW -31, ECDH-ES+A128KW -29, A256KW -5, A128KW -3)")
        }
        var kid: [UInt8]?
        if let k = h.value(L.kid) {
            guard let b = k.bytesValue else { throw COSEEncrypt.malformed("\(layer)'s kid is not a byte string") }
            kid = b
        }
        guard let wrapped = a[2].bytesValue else { throw COSEEncrypt.malformed("\(layer)'s wrapped key is not a byte string") }
        var point: [UInt8]?
        switch alg {
        case .ecdhES:
            guard let key = h.value(L.ephemeralKey) else { throw COSEEncrypt.malformed("\(layer) has no ephemeral key (label -1)") }
            guard key[.int(1)] == .int(2), key[.int(-1)] == .int(1),
                  let x = key[.int(-2)]?.bytesValue, let y = key[.int(-3)]?.bytesValue, x.count == 32, y.count == 32
            else { throw COSEEncrypt.malformed("\(layer)'s ephemeral key is not an uncompressed EC2 P-256 COSE_Key") }
            point = [0x04] + x + y
        case .keyWrap:
            guard h.protectedBytes.isEmpty else {
                throw COSEEncrypt.malformed("\(layer) uses AES key wrap, whose protected header must be empty (RFC 9053 §6.2.1)")
            }
        }
        protectedHeader = h.protectedBytes
        unprotectedHeader = h.unprotected
        algorithm = alg
        keyID = kid
        ephemeralPoint = point
        wrappedKey = wrapped
    }
}
