/*
 * p11loop: the raw PKCS#11 baseline for `make bench-sign` — the least work any program can
 * do per signature: C_SignInit + C_Sign in a loop on one session, no hashing on the host for
 * RSA-PSS, no verification, no DER conversion. Firmchain's per-signature overhead is measured
 * against this.
 *
 *   p11loop MODULE TOKEN_LABEL KEY_LABEL ecdsa|rsa-pss COUNT     (PIN from FIRMCHAIN_PKCS11_PIN)
 *
 * Prints "<count> <seconds> <signatures per second>".
 */
#include <p11-kit-1/p11-kit/pkcs11.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call) do { CK_RV rv_ = (call); if (rv_ != CKR_OK) { fprintf(stderr, "%s failed: 0x%lx\n", #call, rv_); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: p11loop MODULE TOKEN KEY ecdsa|rsa-pss COUNT\n"); return 64; }
    const char *pin = getenv("FIRMCHAIN_PKCS11_PIN");
    if (!pin) { fprintf(stderr, "set FIRMCHAIN_PKCS11_PIN\n"); return 64; }
    long count = atol(argv[5]);
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f;
    CHECK(gfl(&f));
    CK_C_INITIALIZE_ARGS args = {0};
    args.flags = CKF_OS_LOCKING_OK;
    CHECK(f->C_Initialize(&args));

    CK_SLOT_ID slots[64]; CK_ULONG n = 64, slot = (CK_ULONG)-1;
    CHECK(f->C_GetSlotList(CK_TRUE, slots, &n));
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti; CHECK(f->C_GetTokenInfo(slots[i], &ti));
        char label[33]; memcpy(label, ti.label, 32); label[32] = 0;
        for (int j = 31; j >= 0 && label[j] == ' '; j--) label[j] = 0;
        if (strcmp(label, argv[2]) == 0) { slot = slots[i]; break; }
    }
    if (slot == (CK_ULONG)-1) { fprintf(stderr, "token not found\n"); return 1; }
    CK_SESSION_HANDLE s;
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
    CHECK(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));

    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = { {CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, argv[3], strlen(argv[3])} };
    CK_OBJECT_HANDLE key; CK_ULONG found = 0;
    CHECK(f->C_FindObjectsInit(s, tmpl, 2));
    CHECK(f->C_FindObjects(s, &key, 1, &found));
    CHECK(f->C_FindObjectsFinal(s));
    if (found != 1) { fprintf(stderr, "key not found\n"); return 1; }

    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM mech;
    unsigned char data[64];
    CK_ULONG dlen;
    memset(data, 0xA5, sizeof data);
    if (strcmp(argv[4], "ecdsa") == 0) { mech.mechanism = CKM_ECDSA; mech.pParameter = NULL; mech.ulParameterLen = 0; dlen = 32; }
    else { mech.mechanism = CKM_SHA256_RSA_PKCS_PSS; mech.pParameter = &pss; mech.ulParameterLen = sizeof pss; dlen = sizeof data; }

    unsigned char sig[1024];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < count; i++) {
        CK_ULONG slen = sizeof sig;
        data[0] = (unsigned char)i;
        CHECK(f->C_SignInit(s, &mech, key));
        CHECK(f->C_Sign(s, data, dlen, sig, &slen));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%ld %.4f %.0f\n", count, secs, count / secs);
    f->C_Logout(s);
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    return 0;
}
