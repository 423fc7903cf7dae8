/* The issuer's signing keys: JWKS fetched from file://, loopback http:// or
 * https://, shared through Redis by the fleet, parsed once per responder. */
#ifndef GW_AUTH_JWKS_H
#define GW_AUTH_JWKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

struct gw_app;
struct gw_config;

/* Largest JWKS document we fetch, cache or parse. */
#define JWKS_DOC_MAX (1024 * 1024)
#define JWKS_KEYS_MAX 64
/* At most one refresh for an unknown kid per this period, per responder and
 * (through Redis) per fleet. */
#define JWKS_REFRESH_PERIOD_S 300

enum jwks_kty { JWKS_KTY_RSA = 1, JWKS_KTY_EC_P256 = 2 };

struct jwks_key {
    char kid[256];
    enum jwks_kty kty;
    char alg[16];       /* "alg" of the JWK, "" when the issuer did not say */
    EVP_PKEY *pkey;     /* public key, owned */
    /* verify context for SHA-256 digests under pkey, set up once: a fresh
     * EVP_DigestVerifyInit per request costs more than the RSA operation. */
    EVP_PKEY_CTX *verify_ctx;
};

struct jwks_set {
    struct jwks_key *keys;
    size_t n;
};

enum jwks_status {
    JWKS_OK = 0,
    JWKS_UNKNOWN_KID,   /* keys are available but none has this kid */
    JWKS_UNAVAILABLE,   /* no keys could be had at all */
};

/* Per-responder key cache, hung on app->auth. Safe to lose. */
struct auth_state {
    char uri[1024];             /* JWKS URI the keys came from */
    char uri_hash[65];          /* sha256 hex of uri: names the Redis keys */
    struct jwks_set keys;
    bool loaded;
    int64_t expires_at_ms;      /* monotonic: fetch time + auth.jwks_max_age */
    int64_t refresh_try_ms;     /* monotonic: last unknown-kid refresh attempt */
    int64_t refresh_fetch_ms;   /* monotonic: last refresh from the source */
    int64_t load_retry_at_ms;   /* monotonic: no new load attempt before this */
};

/* Parse a JWKS document. Keys that are not usable for RS256/ES256 signatures
 * (other kty or curve, "use" other than "sig", no kid, RSA < 2048 bits) are
 * skipped. Returns 0 with out filled (possibly empty), or -1 with err. */
int jwks_parse(const char *json, size_t len, struct jwks_set *out, char *err, size_t errlen);
void jwks_set_free(struct jwks_set *s);
const struct jwks_key *jwks_find(const struct jwks_set *s, const char *kid);

/* Fetch the document at uri into a malloc'd NUL-terminated buffer.
 * file:// reads a file, http:// is allowed only to loopback hosts, https://
 * verifies the peer with cfg->auth_ca_file ("" = system store). Timeouts
 * from cfg->auth_jwks_timeout_ms. Returns 0, or -1 with err. */
int jwks_fetch(const struct gw_config *cfg, const char *uri, char **out, size_t *outlen,
               char *err, size_t errlen);

/* The fleet copy of a JWKS in Redis: "jwks1 <fetch time, ms> <MAC hex>\n<document>".
 * The MAC, HMAC-SHA256 under cfg's fleet key, binds auth.issuer, the JWKS URI,
 * the fetch time and the document's bytes. Seal: 0 with a malloc'd *out, or -1
 * (no fleet key, out of memory). */
int jwks_copy_seal(const struct gw_config *cfg, const char *uri, int64_t fetched_ms,
                   const char *doc, size_t len, char **out, size_t *outlen);
/* Check a copy of len bytes for uri: 0 with the fetch time and the document
 * (pointing into value), or -1 with a log-safe reason (never the content). */
int jwks_copy_open(const struct gw_config *cfg, const char *uri, const char *value, size_t len,
                   int64_t *fetched_ms, const char **doc, size_t *doclen, char *why, size_t n);
/* Fetch and parse the document at uri as a token check would: 0 when it
 * holds at least one key usable for RS256 or ES256, else -1 with err. */
int jwks_check(const struct gw_config *cfg, const char *uri, char *err, size_t errlen);

/* The key for kid. The steady state (keys parsed, kid known) touches neither
 * Redis nor the network. Otherwise the keys are loaded (sealed Redis copy,
 * else the source) or, for an unknown kid, refreshed at most once per period
 * for the whole fleet. Keys are trusted for auth.jwks_max_age after their
 * fetch from the source, wherever they were cached meanwhile. *out stays
 * valid until the next call. */
/* Changes each time this process installs a key set. */
uint64_t jwks_generation(void);
enum jwks_status jwks_get_key(struct gw_app *app, const char *kid, const struct jwks_key **out,
                              char *reason, size_t n);


#endif
