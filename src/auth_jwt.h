/* Bearer JWT verification done by the gateway itself: compact form, strict
 * base64url, RS256/ES256 on cached keys, and every claim libjwt leaves unchecked. */
#ifndef GW_AUTH_JWT_H
#define GW_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "auth.h"

struct gw_app;
struct gw_config;
struct jwks_key;

/* Strict base64url (RFC 4648 section 5) without padding: '=', any character
 * outside the alphabet and non-zero trailing bits are refused. Returns the
 * decoded length, or -1. */
long authjwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outmax);
/* Unpadded base64url into out (NUL-terminated). Returns the length, or -1
 * when out is too small. */
long authjwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outmax);

/* A compact token split and decoded, before any trust is placed in it. */
struct authjwt_token {
    struct json_object *header;     /* owned */
    struct json_object *payload;    /* owned */
    const char *signing_input;      /* points into the caller's token */
    size_t signing_input_len;
    unsigned char sig[1024];
    size_t sig_len;
    char alg[16];
    char kid[256];                  /* "" when the header has none */
};

/* Split and decode a token of len bytes (at most max). Checks the segment
 * count, base64url, JSON objects, alg (RS256/ES256 only), typ and crit.
 * Returns 0, or -1 with a log-safe reason. */
int authjwt_parse(const char *token, size_t len, size_t max, struct authjwt_token *t,
                  char *reason, size_t n);
void authjwt_token_free(struct authjwt_token *t);

/* Signature of t under key: the alg must be the key's (RSA <-> RS256,
 * EC P-256 <-> ES256, and the JWK's own "alg" when it has one). 0 or -1. */
int authjwt_check_signature(const struct authjwt_token *t, const struct jwks_key *key,
                            char *reason, size_t n);

/* exp (required), nbf, iss ({tid} substituted), aud and tid against cfg at
 * time now (seconds), then the identity into id (roles left to the caller).
 * Returns 0, or -1 with a log-safe reason. */
int authjwt_check_claims(const struct gw_config *cfg, struct json_object *payload, int64_t now,
                         struct gw_identity *id, char *reason, size_t n);

/* cfg->auth_issuer with {tid} replaced by tid (which must be a plain
 * identifier). 0, or -1 when tid is needed but missing or unfit, or on
 * truncation. */
int authjwt_issuer_for(const struct gw_config *cfg, const char *tid, char *out, size_t n);

/* The whole verification of a bearer token for this responder: parse, key
 * from the JWKS cache (refreshed at most once per period on an unknown kid),
 * signature, claims, identity (without gateway roles) and token_sha256. */
enum auth_status authjwt_verify(struct gw_app *app, const char *token, size_t len,
                                struct gw_identity *id, char *reason, size_t n);

#endif
