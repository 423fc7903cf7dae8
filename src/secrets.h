/* Upstream credentials sealed at rest: AES-256-GCM (OpenSSL EVP) under a
 * 32-byte key read from [security] secret_key_file, bound to what they belong to. */
#ifndef GW_SECRETS_H
#define GW_SECRETS_H

#include <stddef.h>

#define SEC_KEY_LEN 32
#define SEC_NONCE_LEN 12
#define SEC_TAG_LEN 16
#define SEC_OVERHEAD (SEC_NONCE_LEN + SEC_TAG_LEN)

struct sec_key {
    unsigned char k[SEC_KEY_LEN];
    char id[17];   /* first 16 hex digits of SHA-256(key): names the key, reveals nothing */
};

/* Read a key file: 64 hex digits (trailing white space allowed) or 32 raw
 * bytes. 0, or -1 with why (never the key). */
int sec_key_load(const char *path, struct sec_key *key, char *why, size_t n);
/* A fresh random key as 64 hex digits and a newline, written to path with
 * mode 0600 (refuses to replace an existing file). 0 or -1 with why. */
int sec_key_create(const char *path, char *why, size_t n);
void sec_key_wipe(struct sec_key *key);

/* Seal pt under key with a random nonce; aad binds the result to its owner
 * (e.g. "server:<id>:auth"): opened with another aad it fails. *out (malloc'd,
 * the caller frees) is nonce | ciphertext | tag, pt_len + SEC_OVERHEAD bytes. */
int sec_seal(const struct sec_key *key, const char *aad, const unsigned char *pt, size_t pt_len,
             unsigned char **out, size_t *out_len);
/* Open what sec_seal made: 0 with *out (malloc'd, NUL-terminated, wiped and
 * freed by the caller with sec_free) or -1 (wrong key, aad, or altered bytes). */
int sec_open(const struct sec_key *key, const char *aad, const unsigned char *in, size_t in_len,
             unsigned char **out, size_t *out_len);
/* Overwrite n bytes, then free. */
void sec_free(void *p, size_t n);

/* The responder's key for cfg's secret_key_file, loaded once per process
 * (reloaded when the file name changes). NULL with why when unset or unreadable. */
struct gw_config;
const struct sec_key *sec_key_for(const struct gw_config *cfg, char *why, size_t n);

#endif
