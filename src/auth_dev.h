/* Development token issuer: an RSA key from auth.dev_issuer_key, its public
 * JWKS, and tokens minted with libjwt. Off unless that key is configured. */
#ifndef GW_AUTH_DEV_H
#define GW_AUTH_DEV_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

struct gw_config;

struct authdev_key {
    EVP_PKEY *pkey;          /* private key */
    unsigned char *pem;      /* the PEM as read, for libjwt */
    size_t pem_len;
    char kid[64];            /* RFC 7638 thumbprint, base64url */
    char n64[1400];          /* public modulus, base64url */
    char e64[16];            /* public exponent, base64url */
};

struct authdev_claims {
    const char *sub;
    const char *tenant;      /* "" = no tid/oid (generic OIDC token) */
    const char *roles;       /* comma-separated, "" = no roles claim */
    const char *scopes;      /* space-separated scp, "" = none */
    const char *aud;
    const char *azp;
    long ttl;                /* seconds */
};

/* RFC 7638 JWK thumbprint of the RSA key (n, e base64url), base64url. */
int authdev_thumbprint(const char *n64, const char *e64, char *out, size_t outmax);
/* Load an RSA private key (>= 2048 bits) and derive kid, n and e. */
int authdev_key_load(const char *path, struct authdev_key *k, char *err, size_t n);
void authdev_key_free(struct authdev_key *k);
/* {"keys":[{kty,use,alg,kid,n,e}]} as a malloc'd string. */
char *authdev_jwks_json(const struct authdev_key *k);
/* A signed RS256 token issued at now (seconds); malloc'd, or NULL with err. */
char *authdev_mint(const struct gw_config *cfg, const struct authdev_key *k,
                   const struct authdev_claims *c, int64_t now, char *err, size_t n);

#endif
