/* Test fixtures for identity: keys generated on the spot, JWKS files, tokens
 * signed independently of the gateway's code, and a private redis-server. */
#ifndef GW_TEST_JWT_FIXTURE_H
#define GW_TEST_JWT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <openssl/evp.h>

struct gw_app;

struct fx_key {
    EVP_PKEY *pkey;
    char kid[64];
    int ec;                 /* 1 = EC P-256, 0 = RSA */
};

/* RSA of bits bits (2048 normally) or EC P-256, with kid. 0 or -1. */
int fx_key_rsa(struct fx_key *k, const char *kid, int bits);
int fx_key_ec(struct fx_key *k, const char *kid);
void fx_key_free(struct fx_key *k);

/* The public JWK of k as a new json-c object. */
struct json_object *fx_jwk(const struct fx_key *k);
/* Write {"keys":[...]} of the n keys to path. 0 or -1. */
int fx_write_jwks(const char *path, const struct fx_key *const *keys, size_t n);
/* SubjectPublicKeyInfo PEM of k into buf. Returns its length or -1. */
long fx_pubkey_pem(const struct fx_key *k, char *buf, size_t n);

/* base64url(header).base64url(payload).signature, malloc'd. The signature is
 * RS256 or ES256 by k (EVP_DigestSign, JOSE r||s for EC). */
char *fx_sign(const struct fx_key *k, const char *header, const char *payload);
/* Same with an HS256 signature keyed by secret. */
char *fx_sign_hs256(const unsigned char *secret, size_t len, const char *header,
                    const char *payload);
/* Header JSON for alg/kid/typ (typ NULL = absent). */
void fx_header(char *buf, size_t n, const char *alg, const char *kid, const char *typ);
/* Claims every test starts from: iss, aud, exp = now+600, nbf = now-10,
 * iat, sub; tenant-less unless the caller adds tid. Caller owns it. */
struct json_object *fx_claims(const char *iss, const char *aud, int64_t now);
/* Sign claims (any json-c object) with k under its natural alg. */
char *fx_token(const struct fx_key *k, struct json_object *claims);

/* A private redis-server on a free loopback port, in its own directory. */
struct fx_redis {
    int port;
    char dir[256];
    char url[128];
};
int fx_redis_start(struct fx_redis *r);
void fx_redis_stop(struct fx_redis *r);
/* Run one command on a fresh connection and return the integer or string
 * reply as text in out ("" for nil). 0 or -1. */
int fx_redis_query(const struct fx_redis *r, char *out, size_t n, const char *fmt, ...);

/* A temporary directory (mkdtemp) and removal of it with its files. */
int fx_tmpdir(char *buf, size_t n);
/* Issuer and audience of the fixture tokens. */
#define FX_ISS "https://issuer.example/"
#define FX_AUD "api://gateway"
struct gw_config;
/* Defaults plus a resource server trusting FX_ISS/FX_AUD, any tenant, keys
 * from the JWKS file at jwks_path, and a Redis URL where nothing listens. */
void fx_config(struct gw_config *cfg, const char *jwks_path);
void fx_rmdir(const char *dir);

#endif
