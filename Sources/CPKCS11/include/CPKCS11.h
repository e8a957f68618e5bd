// The standard PKCS#11 v2.40 header as shipped by libp11-kit-dev, plus the few helpers Swift
// cannot express directly. Only Signing/PKCS11/*_pkcs11.swift files import this module.
#ifndef FIRMCHAIN_CPKCS11_H
#define FIRMCHAIN_CPKCS11_H
#include <p11-kit-1/p11-kit/pkcs11.h>  /* full path: Swift importers do not see the C target's -I */

/// dlopen()s a PKCS#11 module and resolves C_GetFunctionList. Returns NULL on failure and
/// writes the loader's message (at most `errlen` bytes) into `err`.
void *fc_pkcs11_load(const char *path, CK_FUNCTION_LIST_PTR *functions, char *err, unsigned long errlen);

/// dlclose()s a module opened by fc_pkcs11_load.
void fc_pkcs11_unload(void *handle);
#endif
