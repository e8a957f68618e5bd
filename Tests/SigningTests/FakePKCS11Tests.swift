import Crypto
import Foundation
import Testing
import SwiftASN1
@testable import Signing

/// A PKCS#11 function layer with one token holding one Ed25519 key, whose answers a test can
/// change: for the paths SoftHSM cannot produce (a locked PIN, a corrupted signature) and to
/// watch that no session is ever used by two threads at once.
final class FakePKCS11: PKCS11Functions, @unchecked Sendable {
    let path = "/fake/libpkcs11.so"
    let loginRecord = PKCS11LoginRecord()
    let key = Curve25519.Signing.PrivateKey()
    var loginResult: UInt = PKCS11ReturnValue.ok
    var signInitResult: UInt = PKCS11ReturnValue.ok
    var corruptSignatures = false

    private let lock = NSLock()
    private var nextSession: UInt = 100
    private(set) var opened = 0
    private var inUse = Set<UInt>()
    private(set) var overlaps = 0
    private(set) var loginCalls = 0
    private(set) var lastPIN: [UInt8] = []

    func libraryInfo() throws -> PKCS11LibraryInfo { PKCS11LibraryInfo(manufacturer: "Fake", description: "Fake", version: (1, 0)) }
    func slotsWithTokens() throws -> [UInt] { [7] }
    func slotInfo(_ slot: UInt) throws -> PKCS11SlotInfo { PKCS11SlotInfo(description: "fake slot", manufacturer: "Fake") }
    func tokenInfo(_ slot: UInt) throws -> PKCS11TokenInfo {
        PKCS11TokenInfo(slot: 7, label: "fake", manufacturer: "Fake", model: "F1", serial: "0001",
                        protectedAuthenticationPath: false, userPINInitialized: true)
    }
    func openSession(_ slot: UInt, readWrite: Bool) throws -> UInt {
        lock.lock(); defer { lock.unlock() }
        nextSession += 1
        opened += 1
        return nextSession
    }
    func closeSession(_ session: UInt) {}
    func login(_ session: UInt, pin: Secret) throws {
        lock.lock(); loginCalls += 1; lastPIN = pin.withBytes { Array($0) }; lock.unlock()
        if loginResult != PKCS11ReturnValue.ok { throw PKCS11CallError(function: "C_Login", rv: loginResult) }
    }
    func findObjects(_ session: UInt, matching template: [PKCS11Attribute]) throws -> [UInt] {
        let cls = template.first { $0.type == CK.oClass }.flatMap { PKCS11Attribute.ulong($0.value) }
        let label = template.first { $0.type == CK.aLabel }?.value
        if let label, label != Array("k".utf8) { return [] }
        return cls == CK.classPublicKey ? [2] : [1]
    }
    func attribute(_ session: UInt, object: UInt, type: UInt) throws -> [UInt8]? {
        switch type {
        case CK.aKeyType: return PKCS11Attribute(0, ulong: CK.keyECEdwards).value
        case CK.aID: return [0x01]
        case CK.aLabel: return Array("k".utf8)
        case CK.aECParams: return try OID.der(OID.ed25519)
        case CK.aECPoint: return object == 2 ? try DER.Serializer.bytes { try $0.serialize(ASN1OctetString(contentBytes: Array(key.publicKey.rawRepresentation)[...])) } : nil
        default: return nil
        }
    }
    func sign(_ session: UInt, mechanism: PKCS11Mechanism, key handle: UInt, data: [UInt8]) throws -> [UInt8] {
        lock.lock()
        if !inUse.insert(session).inserted { overlaps += 1 }
        lock.unlock()
        defer { lock.lock(); inUse.remove(session); lock.unlock() }
        usleep(300)  // widen the window in which a shared session would be caught
        if signInitResult != PKCS11ReturnValue.ok { throw PKCS11CallError(function: "C_SignInit", rv: signInitResult) }
        var sig = Array(try key.signature(for: data))
        if corruptSignatures { sig[5] ^= 0x01 }
        return sig
    }
    func generateKeyPair(_ session: UInt, mechanism: PKCS11Mechanism, publicTemplate: [PKCS11Attribute],
                         privateTemplate: [PKCS11Attribute]) throws -> (UInt, UInt) {
        throw PKCS11CallError(function: "C_GenerateKeyPair", rv: PKCS11ReturnValue.mechanismInvalid)
    }
}

@Suite("PKCS#11 paths through a fake function layer")
struct FakePKCS11Tests {
    static let uri = "pkcs11:token=fake;object=k?module-path=/fake/libpkcs11.so"

    func options(_ fake: FakePKCS11, pin: String = "1234") -> SignerOptions {
        var o = SignerOptions(pin: { _ in Secret(string: pin) })
        o.loadModule = { _ in fake }
        return o
    }

    /// The fake lives at a path that does not exist; the resolver checks the file first.
    func withFakeModuleFile<R>(_ body: (SignerOptions, FakePKCS11) throws -> R, pin: String = "1234") throws -> R {
        let fake = FakePKCS11()
        var o = options(fake, pin: pin)
        // Any existing file passes the existence check; the fake loader ignores it.
        o.defaultModulePath = "/bin/sh"
        return try body(o, fake)
    }

    var uriWithExistingModule: String { "pkcs11:token=fake;object=k?module-path=/bin/sh" }

    @Test("a locked PIN (CKR_PIN_LOCKED) is signing.pin-locked")
    func pinLocked() throws {
        try withFakeModuleFile { o, fake in
            fake.loginResult = PKCS11ReturnValue.pinLocked
            expectSigningError("signing.pin-locked") { _ = try Signers.open(uriWithExistingModule, options: o) }
        }
    }

    @Test("an already logged-in token is fine, and the PIN reaches C_Login unchanged")
    func alreadyLoggedIn() throws {
        try withFakeModuleFile({ o, fake in
            fake.loginResult = PKCS11ReturnValue.userAlreadyLoggedIn
            let s = try Signers.open(uriWithExistingModule, options: o)
            #expect(try s.sign([1, 2]).count == 64)
            #expect(fake.lastPIN == Array("Ünïcode-PIN".utf8))
            #expect(fake.loginCalls == 1)
        }, pin: "Ünïcode-PIN")
    }

    @Test("a wrong PIN cannot ride on an earlier login: CKR_USER_ALREADY_LOGGED_IN with another PIN is pin-incorrect")
    func wrongPINAfterLogin() throws {
        let fake = FakePKCS11()
        var right = options(fake, pin: "right-PIN")
        right.defaultModulePath = "/bin/sh"
        let first = try Signers.open(uriWithExistingModule, options: right)
        fake.loginResult = PKCS11ReturnValue.userAlreadyLoggedIn
        var wrong = options(fake, pin: "wrong-PIN")
        wrong.defaultModulePath = "/bin/sh"
        expectSigningError("signing.pin-incorrect") { _ = try Signers.open(uriWithExistingModule, options: wrong) }
        let second = try Signers.open(uriWithExistingModule, options: right)
        #expect(try first.sign([1]).count == 64 && second.sign([2]).count == 64)
    }

    @Test("a refused mechanism is signing.mechanism-refused")
    func mechanismRefused() throws {
        try withFakeModuleFile { o, fake in
            let s = try Signers.open(uriWithExistingModule, options: o)
            fake.signInitResult = PKCS11ReturnValue.mechanismInvalid
            expectSigningError("signing.mechanism-refused") { _ = try s.sign([1]) }
            fake.signInitResult = PKCS11ReturnValue.keyFunctionNotPermitted
            expectSigningError("signing.mechanism-refused") { _ = try s.sign([1]) }
            fake.signInitResult = PKCS11ReturnValue.generalError
            expectSigningError("signing.token-failed") { _ = try s.sign([1]) }
        }
    }

    @Test("a token that returns a bad signature is caught before the signature is returned")
    func corruptSignature() throws {
        try withFakeModuleFile { o, fake in
            let s = try Signers.open(uriWithExistingModule, options: o)
            fake.corruptSignatures = true
            expectSigningError("signing.signature-invalid") { _ = try s.sign([1]) }
        }
    }

    @Test("eight threads never share a session, and sessions stay few")
    func sessionPerThread() throws {
        try withFakeModuleFile { o, fake in
            let s = try Signers.open(uriWithExistingModule, options: o)
            nonisolated(unsafe) var failures = 0
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: 8) { t in
                for i in 0..<40 {
                    do { _ = try s.sign([UInt8(t), UInt8(i)]) } catch { lock.lock(); failures += 1; lock.unlock() }
                }
            }
            #expect(failures == 0)
            #expect(fake.overlaps == 0, "a session was used by two threads at once")
            #expect(fake.opened <= 9, "one session per concurrent thread at most (opened \(fake.opened))")
            #expect(fake.loginCalls == 1, "log in once")
        }
    }

    @Test("keys generate maps a refused mechanism")
    func generateRefused() throws {
        try withFakeModuleFile { o, _ in
            expectSigningError("signing.mechanism-refused") {
                _ = try PKCS11Inventory.generate(in: try PKCS11URI(parsing: "pkcs11:token=fake?module-path=/bin/sh"), type: .ed25519, label: "n", options: o)
            }
        }
    }
}
