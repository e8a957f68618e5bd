#include "COpenSSL.h"
#include <string.h>

static int set_key_params(EVP_PKEY_CTX *pctx, int rsa) {
    if (pctx == NULL) return 0;
    if (rsa) {
        return EVP_PKEY_CTX_ctrl_str(pctx, "rsa_padding_mode", "oaep") > 0
            && EVP_PKEY_CTX_ctrl_str(pctx, "rsa_oaep_md", "sha256") > 0
            && EVP_PKEY_CTX_ctrl_str(pctx, "rsa_mgf1_md", "sha256") > 0;
    }
    return EVP_PKEY_CTX_ctrl_str(pctx, "ecdh_kdf_md", "sha256") > 0;
}

int fc_cms_encrypt(int in_fd, int out_fd, const uint8_t *const *certs, const size_t *cert_lens, size_t count,
                   size_t *bad_index) {
    int ok = FC_CMS_FAILED;
    int flags = CMS_BINARY | CMS_STREAM | CMS_PARTIAL;
    BIO *in = BIO_new_fd(in_fd, BIO_NOCLOSE), *out = BIO_new_fd(out_fd, BIO_NOCLOSE);
    STACK_OF(X509) *none = sk_X509_new_null();
    CMS_ContentInfo *cms = NULL;
    if (in == NULL || out == NULL || none == NULL) goto done;
    cms = CMS_encrypt(none, in, EVP_aes_256_gcm(), flags);
    if (cms == NULL) goto done;
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = certs[i];
        X509 *x = d2i_X509(NULL, &p, (long)cert_lens[i]);
        *bad_index = i;
        if (x == NULL) { ok = FC_CMS_BAD_RECIPIENT; goto done; }
        EVP_PKEY *pk = X509_get0_pubkey(x);
        int type = pk ? EVP_PKEY_get_base_id(pk) : 0;
        int rsa = type == EVP_PKEY_RSA;
        if (type == EVP_PKEY_EC) {
            char group[64] = {0};
            size_t glen = 0;
            if (!EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) || strcmp(group, "prime256v1") != 0) {
                X509_free(x);
                ok = FC_CMS_BAD_RECIPIENT;
                goto done;
            }
        } else if (!rsa) {
            X509_free(x);
            ok = FC_CMS_BAD_RECIPIENT;
            goto done;
        }
        CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x, flags | CMS_KEY_PARAM);
        X509_free(x);
        if (ri == NULL || !set_key_params(CMS_RecipientInfo_get0_pkey_ctx(ri), rsa)) goto done;
    }
    if (i2d_CMS_bio_stream(out, cms, in, flags) != 1 || BIO_flush(out) != 1) goto done;
    ok = FC_CMS_OK;
done:
    CMS_ContentInfo_free(cms);
    sk_X509_free(none);
    BIO_free(in);
    BIO_free(out);
    return ok;
}
