/* The fleet secret and the MAC made with it: HMAC-SHA256 over length-framed
 * fields, checked in constant time. Nothing here logs; callers name the key file. */
#include "fleet_key.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util.h"

int fleet_key_load(const char *path, unsigned char *key, size_t *keylen, char *err, size_t n)
{
    /* Room for the longest key plus a trailing newline or two: anything
     * longer is not a key file someone meant to write. */
    unsigned char buf[FLEET_KEY_MAX + 8];
    struct stat st;
    ssize_t got;
    size_t len = 0;
    int fd, rc = -1;

    *keylen = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gw_snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        gw_snprintf(err, n, "%s: not a regular file", path);
        goto out;
    }
    while (len < sizeof buf && (got = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            gw_snprintf(err, n, "%s: %s", path, strerror(errno));
            goto out;
        }
        len += (size_t)got;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        len--;
    if (len < FLEET_KEY_MIN) {
        gw_snprintf(err, n, "%s: holds %zu bytes, a fleet key needs at least %d "
                    "(make one with `openssl rand -hex 32`)", path, len, FLEET_KEY_MIN);
        goto out;
    }
    if (len > FLEET_KEY_MAX) {
        gw_snprintf(err, n, "%s: longer than %d bytes", path, FLEET_KEY_MAX);
        goto out;
    }
    memcpy(key, buf, len);
    *keylen = len;
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return rc;
}

int fleet_mac(const unsigned char *key, size_t keylen, const struct fleet_part *parts,
              size_t nparts, unsigned char out[FLEET_MAC_LEN])
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA256";
    size_t outlen = 0, i;
    int rc = -1;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_MAC_init(ctx, key, keylen, params) != 1)
        goto out;
    for (i = 0; i < nparts; i++) {
        unsigned char framed[8];
        uint64_t len = parts[i].len;

        for (int b = 7; b >= 0; b--, len >>= 8)
            framed[b] = (unsigned char)(len & 0xff);
        if (EVP_MAC_update(ctx, framed, sizeof framed) != 1 ||
            (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].data, parts[i].len) != 1))
            goto out;
    }
    if (EVP_MAC_final(ctx, out, &outlen, FLEET_MAC_LEN) != 1 || outlen != FLEET_MAC_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

bool fleet_mac_ok(const unsigned char *key, size_t keylen, const struct fleet_part *parts,
                  size_t nparts, const unsigned char mac[FLEET_MAC_LEN])
{
    unsigned char want[FLEET_MAC_LEN];
    bool ok;

    if (fleet_mac(key, keylen, parts, nparts, want) != 0)
        return false;
    ok = CRYPTO_memcmp(want, mac, FLEET_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}
