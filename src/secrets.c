/* AES-256-GCM sealing of upstream credentials with OpenSSL EVP: one random
 * 96-bit nonce per seal, associated data naming the owner, key from a file. */
#include "secrets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "util.h"

void sec_key_wipe(struct sec_key *key)
{
    OPENSSL_cleanse(key, sizeof(*key));
}

void sec_free(void *p, size_t n)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void key_finish(struct sec_key *key)
{
    char hex[65];

    gw_sha256_hex(key->k, SEC_KEY_LEN, hex);
    memcpy(key->id, hex, 16);
    key->id[16] = '\0';
}

int sec_key_load(const char *path, struct sec_key *key, char *why, size_t n)
{
    unsigned char buf[130];
    ssize_t got;
    size_t len;
    int fd;

    memset(key, 0, sizeof(*key));
    if (path == NULL || path[0] == '\0') {
        snprintf(why, n, "security.secret_key_file is not set");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, n, "secret key file %s: %s", path, strerror(errno));
        return -1;
    }
    got = read(fd, buf, sizeof(buf));
    close(fd);
    if (got < 0) {
        snprintf(why, n, "secret key file %s: %s", path, strerror(errno));
        return -1;
    }
    len = (size_t)got;
    if (len == SEC_KEY_LEN) {
        memcpy(key->k, buf, SEC_KEY_LEN);
    } else {
        while (len > 0 && isspace(buf[len - 1]))
            len--;
        if (len != 2 * SEC_KEY_LEN) {
            OPENSSL_cleanse(buf, sizeof(buf));
            snprintf(why, n, "secret key file %s: expected 64 hex digits or 32 bytes", path);
            return -1;
        }
        for (size_t i = 0; i < SEC_KEY_LEN; i++) {
            int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                OPENSSL_cleanse(buf, sizeof(buf));
                sec_key_wipe(key);
                snprintf(why, n, "secret key file %s: expected 64 hex digits or 32 bytes", path);
                return -1;
            }
            key->k[i] = (unsigned char)(hi << 4 | lo);
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    key_finish(key);
    return 0;
}

int sec_key_create(const char *path, char *why, size_t n)
{
    unsigned char k[SEC_KEY_LEN];
    char hex[2 * SEC_KEY_LEN + 2];
    int fd, rc = -1;

    if (gw_random_bytes(k, sizeof(k)) != 0) {
        snprintf(why, n, "no randomness for a new key");
        return -1;
    }
    gw_hex(k, sizeof(k), hex);
    OPENSSL_cleanse(k, sizeof(k));
    hex[2 * SEC_KEY_LEN] = '\n';
    hex[2 * SEC_KEY_LEN + 1] = '\0';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, n, "secret key file %s: %s", path, strerror(errno));
    } else {
        if (write(fd, hex, 2 * SEC_KEY_LEN + 1) == 2 * SEC_KEY_LEN + 1 && fsync(fd) == 0)
            rc = 0;
        else
            snprintf(why, n, "secret key file %s: write failed", path);
        close(fd);
    }
    OPENSSL_cleanse(hex, sizeof(hex));
    return rc;
}

int sec_seal(const struct sec_key *key, const char *aad, const unsigned char *pt, size_t pt_len,
             unsigned char **out, size_t *out_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    int len, rc = -1;

    *out = NULL;
    *out_len = 0;
    if (pt_len > (size_t)1 << 20)
        return -1;
    buf = malloc(pt_len + SEC_OVERHEAD);
    ctx = EVP_CIPHER_CTX_new();
    if (buf == NULL || ctx == NULL || gw_random_bytes(buf, SEC_NONCE_LEN) != 0)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEC_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key->k, buf) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, buf + SEC_NONCE_LEN, &len, pt, (int)pt_len) != 1 ||
        EVP_EncryptFinal_ex(ctx, buf + SEC_NONCE_LEN + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEC_TAG_LEN,
                            buf + SEC_NONCE_LEN + pt_len) != 1)
        goto out;
    *out = buf;
    *out_len = pt_len + SEC_OVERHEAD;
    buf = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    sec_free(buf, pt_len + SEC_OVERHEAD);
    return rc;
}

int sec_open(const struct sec_key *key, const char *aad, const unsigned char *in, size_t in_len,
             unsigned char **out, size_t *out_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *buf = NULL, tag[SEC_TAG_LEN];
    size_t ct_len;
    int len, rc = -1;

    *out = NULL;
    *out_len = 0;
    if (in_len < SEC_OVERHEAD || in_len > ((size_t)1 << 20) + SEC_OVERHEAD)
        return -1;
    ct_len = in_len - SEC_OVERHEAD;
    memcpy(tag, in + SEC_NONCE_LEN + ct_len, SEC_TAG_LEN);
    buf = malloc(ct_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (buf == NULL || ctx == NULL)
        goto out;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEC_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key->k, in) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, buf, &len, in + SEC_NONCE_LEN, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEC_TAG_LEN, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, buf + len, &len) != 1)
        goto out;   /* the tag does not match: nothing decrypted is returned */
    buf[ct_len] = '\0';
    *out = buf;
    *out_len = ct_len;
    buf = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    sec_free(buf, ct_len + 1);
    return rc;
}

/* One key per responder; the file is read again only when its name changes
 * (a SIGHUP that points at a new key after `rekey`). */
static struct sec_key cached;
static char cached_path[CFG_STR_MAX];
static int cached_ok;

const struct sec_key *sec_key_for(const struct gw_config *cfg, char *why, size_t n)
{
    if (cached_ok && strcmp(cached_path, cfg->secret_key_file) == 0)
        return &cached;
    cached_ok = 0;
    if (sec_key_load(cfg->secret_key_file, &cached, why, n) != 0)
        return NULL;
    gw_strlcpy(cached_path, cfg->secret_key_file, sizeof(cached_path));
    cached_ok = 1;
    return &cached;
}
