#ifndef FIRMCHAIN_COPENSSL_H
#define FIRMCHAIN_COPENSSL_H

// The system OpenSSL 3 (libssl-dev), for what swift-crypto does not offer: streaming AES-GCM
// over multi-GiB files and CMS AuthEnvelopedData. Only Swift files named *_openssl.swift import
// this module. The helpers below wrap macros and ctrl calls Swift cannot import cleanly.

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/bio.h>

/// Starts AES-GCM (128 or 256 by key_len) for encryption (encrypt = 1) or decryption (0) with a
/// 12-byte IV. Returns 1 on success.
int fc_gcm_init(EVP_CIPHER_CTX *ctx, int encrypt, const uint8_t *key, size_t key_len,
                const uint8_t *iv, size_t iv_len);
/// Feeds additional authenticated data. Returns 1 on success.
int fc_gcm_aad(EVP_CIPHER_CTX *ctx, const uint8_t *aad, size_t len);
/// Encrypts or decrypts len bytes (len <= INT_MAX) from in to out (which holds len bytes).
int fc_gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len);
/// Encryption: finishes and writes the 16-byte tag. Returns 1 on success.
int fc_gcm_finish_encrypt(EVP_CIPHER_CTX *ctx, uint8_t tag[16]);
/// Decryption: sets the expected tag and finishes; returns 1 only when the tag verifies.
int fc_gcm_finish_decrypt(EVP_CIPHER_CTX *ctx, const uint8_t tag[16]);

/// fc_cms_encrypt results.
enum { FC_CMS_OK = 1, FC_CMS_FAILED = 0, FC_CMS_BAD_RECIPIENT = -1 };

/// Writes a DER CMS AuthEnvelopedData (RFC 5083) of everything readable from in_fd to out_fd,
/// streamed (indefinite lengths, constant memory): AES-256-GCM content; for each DER
/// certificate, an RSA-OAEP (SHA-256, MGF1-SHA-256) or an ECDH P-256 (SHA-256 KDF) recipient.
/// Returns FC_CMS_BAD_RECIPIENT with *bad_index set when a certificate is unreadable or its key
/// is neither RSA nor P-256; FC_CMS_FAILED on any other error (see the OpenSSL error queue).
int fc_cms_encrypt(int in_fd, int out_fd, const uint8_t *const *certs, const size_t *cert_lens, size_t count,
                   size_t *bad_index);

/// Frees memory OpenSSL allocated (the OPENSSL_free macro).
static inline void fc_openssl_free(void *p) { OPENSSL_free(p); }
/// The bytes held by a memory BIO (the BIO_get_mem_data macro).
static inline long fc_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

#endif
