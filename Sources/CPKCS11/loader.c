#include "CPKCS11.h"
#include <dlfcn.h>
#include <string.h>

void *fc_pkcs11_load(const char *path, CK_FUNCTION_LIST_PTR *functions, char *err, unsigned long errlen) {
    *functions = NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *msg = dlerror();
        strncpy(err, msg ? msg : "dlopen failed", errlen - 1);
        err[errlen - 1] = 0;
        return NULL;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    if (get == NULL || get(functions) != CKR_OK || *functions == NULL) {
        strncpy(err, "module has no usable C_GetFunctionList", errlen - 1);
        err[errlen - 1] = 0;
        dlclose(handle);
        return NULL;
    }
    return handle;
}

void fc_pkcs11_unload(void *handle) {
    if (handle) dlclose(handle);
}
