/// The content-encryption algorithm of a payload (RFC 9053 §4.1).
public enum ContentAlgorithm: String, Sendable, CaseIterable, Hashable {
    /// AES-GCM with a 256-bit key and a 128-bit tag; COSE alg 3. The default.
    case a256gcm = "A256GCM"
    /// AES-GCM with a 128-bit key and a 128-bit tag; COSE alg 1.
    case a128gcm = "A128GCM"

    /// The COSE algorithm identifier.
    public var coseID: Int { self == .a256gcm ? 3 : 1 }
    /// The key length in bytes.
    public var keyLength: Int { self == .a256gcm ? 32 : 16 }

    /// The algorithm with COSE identifier `id`, if Firmchain supports it.
    public init?(coseID id: Int) {
        switch id {
        case 3: self = .a256gcm
        case 1: self = .a128gcm
        default: return nil
        }
    }
}

/// The AES key wrap (RFC 3394) that protects the content key, alone (pre-shared key-encryption
/// keys) or after ECDH-ES + HKDF-SHA-256 (RFC 9053 §6.2.1, §6.3.1).
public enum KeyWrapAlgorithm: String, Sendable, CaseIterable, Hashable {
    /// AES key wrap with a 256-bit key-encryption key.
    case a256kw = "A256KW"
    /// AES key wrap with a 128-bit key-encryption key.
    case a128kw = "A128KW"

    /// The COSE identifier of the bare key wrap (A256KW -5, A128KW -3).
    public var coseID: Int { self == .a256kw ? -5 : -3 }
    /// The COSE identifier of ECDH-ES with this key wrap (ECDH-ES+A256KW -31, ECDH-ES+A128KW -29).
    public var ecdhCOSEID: Int { self == .a256kw ? -31 : -29 }
    /// The key-encryption key length in bytes.
    public var keyLength: Int { self == .a256kw ? 32 : 16 }
}

/// How a recipient receives the content key.
public enum RecipientAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// ECDH-ES on P-256, HKDF-SHA-256 over the SUIT COSE_KDF_Context, then AES key wrap.
    case ecdhES(KeyWrapAlgorithm)
    /// AES key wrap under a pre-shared key-encryption key.
    case keyWrap(KeyWrapAlgorithm)

    /// The COSE algorithm identifier.
    public var coseID: Int {
        switch self {
        case .ecdhES(let w): return w.ecdhCOSEID
        case .keyWrap(let w): return w.coseID
        }
    }

    /// The key wrap inside.
    public var keyWrap: KeyWrapAlgorithm {
        switch self {
        case .ecdhES(let w), .keyWrap(let w): return w
        }
    }

    /// The COSE name: `ECDH-ES+A256KW`, `A128KW`, ….
    public var description: String {
        switch self {
        case .ecdhES(let w): return "ECDH-ES+" + w.rawValue
        case .keyWrap(let w): return w.rawValue
        }
    }

    /// The algorithm with COSE identifier `id`, if Firmchain supports it.
    public init?(coseID id: Int) {
        switch id {
        case -31: self = .ecdhES(.a256kw)
        case -29: self = .ecdhES(.a128kw)
        case -5: self = .keyWrap(.a256kw)
        case -3: self = .keyWrap(.a128kw)
        default: return nil
        }
    }
}
