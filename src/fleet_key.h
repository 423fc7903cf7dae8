/* The fleet secret: one key file shared by every responder host, so that what the
 * fleet leaves in Redis can be told apart from what anyone else wrote there. */
#ifndef GW_FLEET_KEY_H
#define GW_FLEET_KEY_H

#include <stdbool.h>
#include <stddef.h>

/* A key file holds at least this many bytes (after trailing white space is
 * dropped): `openssl rand -hex 32` makes 64. */
#define FLEET_KEY_MIN 32
#define FLEET_KEY_MAX 128
#define FLEET_MAC_LEN 32          /* HMAC-SHA256 */

/* Read the key file at path into key (at most FLEET_KEY_MAX bytes). Returns 0,
 * or -1 with err naming the file and the problem (never its content). */
int fleet_key_load(const char *path, unsigned char *key, size_t *keylen, char *err, size_t n);

/* One field of a MAC'd message. */
struct fleet_part {
    const void *data;
    size_t len;
};

/* HMAC-SHA256 under key over the parts, each preceded by its length as 8
 * big-endian bytes, so that no two lists of parts share an input.
 * Returns 0, or -1 when OpenSSL fails. */
int fleet_mac(const unsigned char *key, size_t keylen, const struct fleet_part *parts,
              size_t nparts, unsigned char out[FLEET_MAC_LEN]);
/* The MAC of parts equals mac (compared in constant time). */
bool fleet_mac_ok(const unsigned char *key, size_t keylen, const struct fleet_part *parts,
                  size_t nparts, const unsigned char mac[FLEET_MAC_LEN]);

#endif
