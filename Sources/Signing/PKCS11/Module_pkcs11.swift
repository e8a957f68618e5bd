import FirmchainCore
internal import CPKCS11
import Foundation

/// A PKCS#11 module loaded with dlopen and initialised for this process (PKCS#11 v2.40 §5.4).
///
/// `C_Initialize` is called with `CKF_OS_LOCKING_OK` so the module may be used from several
/// threads. If the module says `CKR_CRYPTOKI_ALREADY_INITIALIZED` (someone else in the
/// process initialised it), it is used as is and `C_Finalize` is not called on release.
/// The handle and function list live only in this final class and are released in `deinit`.
final class PKCS11Module: PKCS11Functions, @unchecked Sendable {
    let path: String
    let loginRecord = PKCS11LoginRecord()
    private let handle: UnsafeMutableRawPointer
    private let f: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let ownsInitialization: Bool

    /// Loads and initialises the module at `path`.
    /// Throws `signing.module-not-found` or `signing.module-failed`.
    init(path: String) throws {
        self.path = path
        var functions: CK_FUNCTION_LIST_PTR? = nil
        var err = [CChar](repeating: 0, count: 512)
        guard let h = fc_pkcs11_load(path, &functions, &err, UInt(err.count)), let functions else {
            let detail = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw FirmchainError.moduleNotFound(path, detail.isEmpty ? "dlopen failed" : detail)
        }
        handle = h
        f = functions
        var args = CK_C_INITIALIZE_ARGS()
        args.flags = CKF_OS_LOCKING_OK
        let rv = withUnsafeMutablePointer(to: &args) { functions.pointee.C_Initialize(UnsafeMutableRawPointer($0)) }
        switch rv {
        case CKR_OK: ownsInitialization = true
        case CKR_CRYPTOKI_ALREADY_INITIALIZED: ownsInitialization = false
        default:
            fc_pkcs11_unload(h)
            throw FirmchainError.moduleFailed(path, "C_Initialize failed: \(PKCS11ReturnValue.name(rv)) (for SoftHSM check SOFTHSM2_CONF and its tokendir)")
        }
    }

    deinit {
        if ownsInitialization { _ = f.pointee.C_Finalize(nil) }
        fc_pkcs11_unload(handle)
    }

    private func check(_ rv: CK_RV, _ function: String) throws {
        if rv != CKR_OK { throw PKCS11CallError(function: function, rv: rv) }
    }

    /// A blank-padded fixed-size CK string field as a Swift string.
    private static func text<T>(_ field: T) -> String {
        withUnsafeBytes(of: field) { raw in
            var bytes = Array(raw)
            while let last = bytes.last, last == 0x20 || last == 0 { bytes.removeLast() }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    func libraryInfo() throws -> PKCS11LibraryInfo {
        var info = CK_INFO()
        try check(f.pointee.C_GetInfo(&info), "C_GetInfo")
        return PKCS11LibraryInfo(manufacturer: Self.text(info.manufacturerID), description: Self.text(info.libraryDescription),
                                 version: (info.libraryVersion.major, info.libraryVersion.minor))
    }

    func slotsWithTokens() throws -> [UInt] {
        var count: CK_ULONG = 0
        try check(f.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), nil, &count), "C_GetSlotList")
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        if count > 0 {
            try check(f.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), &slots, &count), "C_GetSlotList")
        }
        return Array(slots.prefix(Int(count)))
    }

    func slotInfo(_ slot: UInt) throws -> PKCS11SlotInfo {
        var info = CK_SLOT_INFO()
        try check(f.pointee.C_GetSlotInfo(slot, &info), "C_GetSlotInfo")
        return PKCS11SlotInfo(description: Self.text(info.slotDescription), manufacturer: Self.text(info.manufacturerID))
    }

    func tokenInfo(_ slot: UInt) throws -> PKCS11TokenInfo {
        var info = CK_TOKEN_INFO()
        try check(f.pointee.C_GetTokenInfo(slot, &info), "C_GetTokenInfo")
        return PKCS11TokenInfo(slot: slot, label: Self.text(info.label), manufacturer: Self.text(info.manufacturerID),
                               model: Self.text(info.model), serial: Self.text(info.serialNumber),
                               protectedAuthenticationPath: info.flags & CKF_PROTECTED_AUTHENTICATION_PATH != 0,
                               userPINInitialized: info.flags & CKF_USER_PIN_INITIALIZED != 0,
                               initialized: info.flags & CKF_TOKEN_INITIALIZED != 0)
    }

    func openSession(_ slot: UInt, readWrite: Bool) throws -> UInt {
        var session: CK_SESSION_HANDLE = 0
        let flags = CKF_SERIAL_SESSION | (readWrite ? CKF_RW_SESSION : 0)
        try check(f.pointee.C_OpenSession(slot, flags, nil, nil, &session), "C_OpenSession")
        return session
    }

    func closeSession(_ session: UInt) {
        _ = f.pointee.C_CloseSession(session)
    }

    func login(_ session: UInt, pin: Secret) throws {
        let rv = pin.withBytes { buf -> CK_RV in
            // C_Login does not write through the pointer; PKCS#11 just lacks const.
            let p = UnsafeMutablePointer(mutating: buf.baseAddress?.assumingMemoryBound(to: UInt8.self))
            return f.pointee.C_Login(session, CKU_USER, p, CK_ULONG(buf.count))
        }
        try check(rv, "C_Login")
    }

    /// Runs `body` with `template` laid out as a CK_ATTRIBUTE array whose value pointers stay
    /// valid for the duration of the call.
    private func withTemplate<R>(_ template: [PKCS11Attribute], _ body: (UnsafeMutablePointer<CK_ATTRIBUTE>?, CK_ULONG) throws -> R) rethrows -> R {
        let storage = template.map { a -> UnsafeMutableRawBufferPointer in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(a.value.count, 1), alignment: 8)
            b.copyBytes(from: a.value)
            return b
        }
        defer { storage.forEach { $0.deallocate() } }
        var attrs = zip(template, storage).map { a, b in
            CK_ATTRIBUTE(type: a.type, pValue: b.baseAddress, ulValueLen: CK_ULONG(a.value.count))
        }
        return try attrs.withUnsafeMutableBufferPointer { try body($0.baseAddress, CK_ULONG($0.count)) }
    }

    func findObjects(_ session: UInt, matching template: [PKCS11Attribute]) throws -> [UInt] {
        try withTemplate(template) { ptr, n in
            try check(f.pointee.C_FindObjectsInit(session, ptr, n), "C_FindObjectsInit")
        }
        defer { _ = f.pointee.C_FindObjectsFinal(session) }
        var found = [UInt]()
        var batch = [CK_OBJECT_HANDLE](repeating: 0, count: 64)
        while true {
            var n: CK_ULONG = 0
            try check(f.pointee.C_FindObjects(session, &batch, CK_ULONG(batch.count), &n), "C_FindObjects")
            if n == 0 { break }
            found += batch.prefix(Int(n))
            if found.count > 100_000 { break }  // a hostile module must not loop forever
        }
        return found
    }

    func attribute(_ session: UInt, object: UInt, type: UInt) throws -> [UInt8]? {
        var attr = CK_ATTRIBUTE(type: type, pValue: nil, ulValueLen: 0)
        let rv = f.pointee.C_GetAttributeValue(session, object, &attr, 1)
        if rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE { return nil }
        try check(rv, "C_GetAttributeValue")
        if attr.ulValueLen == CK_ULONG.max { return nil }  // CK_UNAVAILABLE_INFORMATION
        guard attr.ulValueLen <= 1 << 20 else { throw PKCS11CallError(function: "C_GetAttributeValue", rv: CKR_GENERAL_ERROR) }
        var value = [UInt8](repeating: 0, count: Int(attr.ulValueLen))
        try value.withUnsafeMutableBytes { buf in
            attr.pValue = buf.baseAddress
            try check(f.pointee.C_GetAttributeValue(session, object, &attr, 1), "C_GetAttributeValue")
        }
        return Array(value.prefix(Int(attr.ulValueLen)))
    }

    /// Calls `body` with a CK_MECHANISM for `mechanism` whose parameter pointer is valid
    /// during the call.
    private func withMechanism<R>(_ mechanism: PKCS11Mechanism, _ body: (UnsafeMutablePointer<CK_MECHANISM>) throws -> R) rethrows -> R {
        switch mechanism {
        case .sha256RSAPSS:
            var params = CK_RSA_PKCS_PSS_PARAMS(hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, sLen: 32)
            return try withUnsafeMutablePointer(to: &params) { p in
                var m = CK_MECHANISM(mechanism: CKM_SHA256_RSA_PKCS_PSS, pParameter: UnsafeMutableRawPointer(p),
                                     ulParameterLen: CK_ULONG(MemoryLayout<CK_RSA_PKCS_PSS_PARAMS>.size))
                return try body(&m)
            }
        default:
            let type: CK_MECHANISM_TYPE
            switch mechanism {
            case .ecdsa: type = CKM_ECDSA
            case .eddsa: type = CKM_EDDSA
            case .ecKeyPairGen: type = CKM_EC_KEY_PAIR_GEN
            case .rsaKeyPairGen: type = CKM_RSA_PKCS_KEY_PAIR_GEN
            case .ecEdwardsKeyPairGen: type = CKM_EC_EDWARDS_KEY_PAIR_GEN
            case .sha256RSAPSS: type = CKM_SHA256_RSA_PKCS_PSS
            case .sha256RSAPKCS: type = CKM_SHA256_RSA_PKCS
            }
            var m = CK_MECHANISM(mechanism: type, pParameter: nil, ulParameterLen: 0)
            return try body(&m)
        }
    }

    func sign(_ session: UInt, mechanism: PKCS11Mechanism, key: UInt, data: [UInt8]) throws -> [UInt8] {
        try withMechanism(mechanism) { m in
            try check(f.pointee.C_SignInit(session, m, key), "C_SignInit")
        }
        // One call with a buffer large enough for RSA-8192; on CKR_BUFFER_TOO_SMALL the
        // operation stays active (v2.40 §5.2) and we retry with the size the module gave.
        var out = [UInt8](repeating: 0, count: 1024)
        var len = CK_ULONG(out.count)
        var input = data
        var rv = f.pointee.C_Sign(session, &input, CK_ULONG(input.count), &out, &len)
        if rv == CKR_BUFFER_TOO_SMALL, len <= 1 << 16 {
            out = [UInt8](repeating: 0, count: Int(len))
            rv = f.pointee.C_Sign(session, &input, CK_ULONG(input.count), &out, &len)
        }
        try check(rv, "C_Sign")
        guard len <= out.count else { throw PKCS11CallError(function: "C_Sign", rv: CKR_GENERAL_ERROR) }
        return Array(out.prefix(Int(len)))
    }

    func deriveECDH(_ session: UInt, key: UInt, peerPoint: [UInt8], length: Int) throws -> [UInt8] {
        var point = peerPoint
        let template = [
            PKCS11Attribute(CK.oClass, ulong: UInt(CKO_SECRET_KEY)), PKCS11Attribute(CK.aKeyType, ulong: UInt(CKK_GENERIC_SECRET)),
            PKCS11Attribute(UInt(CKA_VALUE_LEN), ulong: UInt(length)), PKCS11Attribute(CK.aToken, bool: false),
            PKCS11Attribute(CK.aSensitive, bool: false), PKCS11Attribute(CK.aExtractable, bool: true),
        ]
        var derived: CK_OBJECT_HANDLE = 0
        try point.withUnsafeMutableBufferPointer { pp in
            var params = CK_ECDH1_DERIVE_PARAMS(kdf: CKD_NULL, ulSharedDataLen: 0, pSharedData: nil,
                                                ulPublicDataLen: CK_ULONG(pp.count), pPublicData: pp.baseAddress)
            try withUnsafeMutablePointer(to: &params) { prm in
                var m = CK_MECHANISM(mechanism: CKM_ECDH1_DERIVE, pParameter: UnsafeMutableRawPointer(prm),
                                     ulParameterLen: CK_ULONG(MemoryLayout<CK_ECDH1_DERIVE_PARAMS>.size))
                try withTemplate(template) { t, n in
                    try check(f.pointee.C_DeriveKey(session, &m, key, t, n, &derived), "C_DeriveKey")
                }
            }
        }
        defer { _ = f.pointee.C_DestroyObject(session, derived) }
        guard let value = try attribute(session, object: derived, type: CK.aValue), value.count == length else {
            throw PKCS11CallError(function: "C_GetAttributeValue", rv: CKR_GENERAL_ERROR)
        }
        return value
    }

    func generateKeyPair(_ session: UInt, mechanism: PKCS11Mechanism,
                         publicTemplate: [PKCS11Attribute], privateTemplate: [PKCS11Attribute]) throws -> (UInt, UInt) {
        var pub: CK_OBJECT_HANDLE = 0, priv: CK_OBJECT_HANDLE = 0
        try withMechanism(mechanism) { m in
            try withTemplate(publicTemplate) { pt, pn in
                try withTemplate(privateTemplate) { st, sn in
                    try check(f.pointee.C_GenerateKeyPair(session, m, pt, pn, st, sn, &pub, &priv), "C_GenerateKeyPair")
                }
            }
        }
        return (pub, priv)
    }
}

/// Keeps one `PKCS11Module` per module path for the life of the process, so each module is
/// loaded and initialised once (PKCS#11 v2.40 §5.4: C_Initialize is per process) no matter
/// how many signers open keys in it. Modules are not finalised when signers go away: a
/// concurrent C_Finalize and C_Initialize from two threads is undefined, and re-initialising
/// per signer would log every other signer out.
final class PKCS11ModuleRegistry: @unchecked Sendable {
    /// The process-wide registry. It mirrors state that PKCS#11 itself keeps per process.
    static let shared = PKCS11ModuleRegistry()

    private let lock = NSLock()
    private var modules: [String: PKCS11Module] = [:]

    /// The loaded module at `path`, loading it if needed.
    func module(at path: String) throws -> PKCS11Functions {
        lock.lock()
        defer { lock.unlock() }
        if let m = modules[path] { return m }
        let m = try PKCS11Module(path: path)
        modules[path] = m
        return m
    }
}
