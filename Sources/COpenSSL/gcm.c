#include "COpenSSL.h"
#include <limits.h>

int fc_gcm_init(EVP_CIPHER_CTX *ctx, int encrypt, const uint8_t *key, size_t key_len,
                const uint8_t *iv, size_t iv_len) {
    const EVP_CIPHER *cipher = key_len == 32 ? EVP_aes_256_gcm() : key_len == 16 ? EVP_aes_128_gcm() : NULL;
    if (cipher == NULL || iv_len != 12) return 0;
    if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1) return 0;
    return EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, encrypt);
}

int fc_gcm_aad(EVP_CIPHER_CTX *ctx, const uint8_t *aad, size_t len) {
    int out = 0;
    if (len > INT_MAX) return 0;
    return EVP_CipherUpdate(ctx, NULL, &out, aad, (int)len);
}

int fc_gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len) {
    int n = 0;
    if (len > INT_MAX) return 0;
    if (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) return 0;
    return (size_t)n == len;
}

int fc_gcm_finish_encrypt(EVP_CIPHER_CTX *ctx, uint8_t tag[16]) {
    int n = 0;
    uint8_t rest[16];
    if (EVP_EncryptFinal_ex(ctx, rest, &n) != 1 || n != 0) return 0;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
}

int fc_gcm_finish_decrypt(EVP_CIPHER_CTX *ctx, const uint8_t tag[16]) {
    int n = 0;
    uint8_t rest[16];
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) != 1) return 0;
    return EVP_DecryptFinal_ex(ctx, rest, &n) == 1 && n == 0;
}
