import FirmchainCore
import Foundation
import Testing
import TestSupport
@testable import Signing

/// SoftHSM never locks a PIN, so the CLI's `signing.pin-locked` path is driven through a
/// minimal PKCS#11 module, compiled here from C, whose C_Login answers CKR_PIN_LOCKED.
/// Everything else the CLI does on the way (dlopen, C_Initialize, slot and token lookup,
/// C_OpenSession) is the real code path.
@Suite("A PKCS#11 module that reports a locked PIN")
struct LockedPINModuleTests {
    static let source = #"""
        #include <p11-kit-1/p11-kit/pkcs11.h>
        #include <string.h>
        static CK_RV init(void *a) { (void)a; return CKR_OK; }
        static CK_RV fin(void *a) { (void)a; return CKR_OK; }
        static CK_RV slots(CK_BBOOL p, CK_SLOT_ID *list, CK_ULONG *n) {
            (void)p; if (list) { if (*n < 1) return CKR_BUFFER_TOO_SMALL; list[0] = 3; } *n = 1; return CKR_OK; }
        static CK_RV token(CK_SLOT_ID s, CK_TOKEN_INFO *t) {
            (void)s; memset(t, ' ', sizeof *t); memcpy(t->label, "locked", 6);
            t->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_LOCKED; return CKR_OK; }
        static CK_RV open_(CK_SLOT_ID s, CK_FLAGS f, void *a, CK_NOTIFY n, CK_SESSION_HANDLE *h) {
            (void)s; (void)f; (void)a; (void)n; *h = 9; return CKR_OK; }
        static CK_RV close_(CK_SESSION_HANDLE h) { (void)h; return CKR_OK; }
        static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR *p, CK_ULONG l) {
            (void)h; (void)u; (void)p; (void)l; return CKR_PIN_LOCKED; }
        static CK_FUNCTION_LIST list;
        CK_RV C_GetFunctionList(CK_FUNCTION_LIST **out) {
            memset(&list, 0, sizeof list);
            list.version.major = 2; list.version.minor = 40;
            list.C_Initialize = init; list.C_Finalize = fin; list.C_GetSlotList = slots;
            list.C_GetTokenInfo = token; list.C_OpenSession = open_; list.C_CloseSession = close_; list.C_Login = login;
            *out = &list; return CKR_OK; }
        """#

    @Test("firmchain sign and keys list report signing.pin-locked (exit 4) and never print the PIN")
    func pinLocked() throws {
        let compiler = ["clang", "cc"].first { TestEnv.hasTool($0) }
        guard let compiler else {
            Issue.record("no C compiler (clang or cc) to build the test module; the Swift toolchain ships clang")
            return
        }
        let dir = try TemporaryDirectory()
        try AtomicFile.write(Array(Self.source.utf8), to: dir.file("locked.c"))
        let cc = try runProcess(compiler, ["-shared", "-fPIC", "-o", dir.file("liblocked.so"), dir.file("locked.c")])
        try #require(cc.status == 0, "\(cc.err)")
        try AtomicFile.write([1], to: dir.file("data"))
        let pin = "Lemur-LOCKED-PIN-1729"
        let key = "pkcs11:token=locked;object=k?module-path=\(dir.file("liblocked.so"))"
        for args in [["sign", "--key", key, "--in", dir.file("data"), "--out", dir.file("sig")],
                     ["keys", "list", "--token", key.replacingOccurrences(of: ";object=k", with: "")],
                     ["sign", "--key", key, "--in", dir.file("data"), "--out", dir.file("sig"), "--json"]] {
            let r = try runProcess(TestEnv.firmchain, args, environment: ["FIRMCHAIN_PKCS11_PIN": pin])
            #expect(r.status == 4, "\(args): \(r.err)")
            #expect(r.err.contains("signing.pin-locked"), "\(r.err)")
            #expect(!r.out.contains(pin) && !r.err.contains(pin))
        }
        // The library reports the same through its own API.
        let options = SignerOptions(pin: { _ in Secret(string: pin) })
        expectSigningError("signing.pin-locked") { _ = try Signers.open(key, options: options) }
    }
}
