/* Bearer JWT verification: strict compact parsing, RS256/ES256 signatures with
 * EVP_DigestVerify on cached keys, and the claim checks libjwt 1.10.2 lacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "app.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "config.h"
#include "util.h"

#define TOKEN_MAX_DEFAULT 16384
/* Headers and claims of real tokens are flat; deeper nesting is an attack. */
#define TOKEN_JSON_DEPTH 8

/* ---- base64url ------------------------------------------------------------ */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long authjwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outmax)
{
    size_t rem = len % 4, full = len - rem, need, i, o = 0;
    unsigned long acc;
    int v[4];

    if (rem == 1)
        return -1;
    need = full / 4 * 3 + (rem == 2 ? 1 : rem == 3 ? 2 : 0);
    if (need > outmax || need > (size_t)0x7fffffff)
        return -1;
    for (i = 0; i < full; i += 4) {
        for (int k = 0; k < 4; k++)
            if ((v[k] = b64url_value((unsigned char)in[i + k])) < 0)
                return -1;
        acc = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
              (unsigned long)v[2] << 6 | (unsigned long)v[3];
        out[o++] = (unsigned char)(acc >> 16);
        out[o++] = (unsigned char)(acc >> 8);
        out[o++] = (unsigned char)acc;
    }
    if (rem == 0)
        return (long)o;
    for (size_t k = 0; k < rem; k++)
        if ((v[k] = b64url_value((unsigned char)in[full + k])) < 0)
            return -1;
    /* Non-zero unused bits would give one value several encodings: a token
     * must have exactly one spelling. */
    if (rem == 2) {
        if (v[1] & 0x0f)
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    } else {
        if (v[2] & 0x03)
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        out[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
    }
    return (long)o;
}

long authjwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outmax)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t need = len / 3 * 4 + (len % 3 == 1 ? 2 : len % 3 == 2 ? 3 : 0), i, o = 0;
    unsigned long acc;

    if (need + 1 > outmax || need > (size_t)0x7fffffff)
        return -1;
    for (i = 0; i + 3 <= len; i += 3) {
        acc = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[(acc >> 18) & 63];
        out[o++] = alphabet[(acc >> 12) & 63];
        out[o++] = alphabet[(acc >> 6) & 63];
        out[o++] = alphabet[acc & 63];
    }
    if (len - i == 1) {
        acc = (unsigned long)in[i] << 16;
        out[o++] = alphabet[(acc >> 18) & 63];
        out[o++] = alphabet[(acc >> 12) & 63];
    } else if (len - i == 2) {
        acc = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        out[o++] = alphabet[(acc >> 18) & 63];
        out[o++] = alphabet[(acc >> 12) & 63];
        out[o++] = alphabet[(acc >> 6) & 63];
    }
    out[o] = '\0';
    return (long)o;
}

/* ---- parsing ---------------------------------------------------------------- */

/* A base64url segment holding one JSON object, or NULL. tok is reset and
 * reused: one tokener serves both segments. */
static struct json_object *segment_json(struct json_tokener *tok, const char *seg, size_t len,
                                        unsigned char *buf, size_t bufmax)
{
    struct json_object *o;
    long dlen = authjwt_b64url_decode(seg, len, buf, bufmax);

    if (dlen <= 0)
        return NULL;
    json_tokener_reset(tok);
    o = json_tokener_parse_ex(tok, (const char *)buf, (int)dlen);
    if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
                      json_tokener_get_parse_end(tok) != (size_t)dlen ||
                      !json_object_is_type(o, json_type_object))) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* 1 = a string without embedded NUL in *out, 0 = absent, -1 = anything else.
 * The NUL check matters: "issuer\u0000junk" must not compare equal. */
static int member_string(struct json_object *o, const char *key, const char **out)
{
    struct json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *out = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(*out))
        return -1;
    return 1;
}

static bool typ_acceptable(const char *typ)
{
    /* RFC 7515 4.1.9 media types compare case-insensitively; RFC 9068 names
     * at+jwt for access tokens. */
    return gw_str_eq_ci(typ, "JWT") || gw_str_eq_ci(typ, "at+jwt") ||
           gw_str_eq_ci(typ, "application/at+jwt");
}

int authjwt_parse(const char *token, size_t len, size_t max, struct authjwt_token *t,
                  char *reason, size_t n)
{
    const char *d1, *d2, *alg = NULL, *typ = NULL, *kid = NULL;
    unsigned char stackbuf[TOKEN_MAX_DEFAULT], *heapbuf = NULL, *buf;
    struct json_tokener *tok = NULL;
    long siglen;
    int rc = -1;

    memset(t, 0, sizeof *t);
    if (len > max) {
        gw_snprintf(reason, n, "token longer than %zu bytes", max);
        goto out;
    }
    d1 = memchr(token, '.', len);
    d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL) {
        gw_snprintf(reason, n, "token is not three dot-separated segments");
        goto out;
    }
    /* Decoded segments are shorter than the token: tokens of the default
     * size limit decode on the stack, larger limits pay for a malloc. */
    buf = len < sizeof stackbuf ? stackbuf : heapbuf;
    if (buf == NULL) {
        heapbuf = malloc(len + 1);
        buf = heapbuf;
    }
    tok = json_tokener_new_ex(TOKEN_JSON_DEPTH);
    if (buf == NULL || tok == NULL) {
        gw_snprintf(reason, n, "out of memory");
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    t->header = segment_json(tok, token, (size_t)(d1 - token), buf, len);
    if (t->header == NULL) {
        gw_snprintf(reason, n, "token header is not base64url JSON object");
        goto out;
    }
    t->payload = segment_json(tok, d1 + 1, (size_t)(d2 - d1 - 1), buf, len);
    if (t->payload == NULL) {
        gw_snprintf(reason, n, "token payload is not base64url JSON object");
        goto out;
    }
    siglen = authjwt_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), t->sig, sizeof t->sig);
    if (siglen < 0) {
        gw_snprintf(reason, n, "token signature is not base64url");
        goto out;
    }
    t->sig_len = (size_t)siglen;
    t->signing_input = token;
    t->signing_input_len = (size_t)(d2 - token);

    if (member_string(t->header, "alg", &alg) != 1) {
        gw_snprintf(reason, n, "token header has no alg");
        goto out;
    }
    if (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0) {
        /* none and HS* in particular: a public key is never an HMAC secret. */
        gw_snprintf(reason, n, "alg %.16s not accepted", alg);
        goto out;
    }
    gw_strlcpy(t->alg, alg, sizeof t->alg);
    if (t->sig_len == 0) {
        gw_snprintf(reason, n, "token has an empty signature");
        goto out;
    }
    switch (member_string(t->header, "typ", &typ)) {
    case 0:
        break;
    case 1:
        if (typ_acceptable(typ))
            break;
        /* fall through */
    default:
        gw_snprintf(reason, n, "token typ not accepted");
        goto out;
    }
    /* RFC 7515 4.1.11: extensions we do not implement must fail. */
    if (json_object_object_get_ex(t->header, "crit", NULL)) {
        gw_snprintf(reason, n, "token header has crit extensions");
        goto out;
    }
    switch (member_string(t->header, "kid", &kid)) {
    case 0:
        break;
    case 1:
        if (gw_strlcpy(t->kid, kid, sizeof t->kid) == 0)
            break;
        /* fall through */
    default:
        gw_snprintf(reason, n, "token kid malformed");
        goto out;
    }
    rc = 0;
out:
    free(heapbuf);
    if (tok != NULL)
        json_tokener_free(tok);
    if (rc != 0)
        authjwt_token_free(t);
    return rc;
}

void authjwt_token_free(struct authjwt_token *t)
{
    json_object_put(t->header);
    json_object_put(t->payload);
    t->header = NULL;
    t->payload = NULL;
}

/* ---- signature ------------------------------------------------------------ */

/* JOSE carries ES256 as raw r||s; OpenSSL verifies DER ECDSA-Sig-Value. */
static int es256_to_der(const unsigned char *raw, unsigned char **der, int *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    int rc = -1;

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
        goto out;
    r = s = NULL; /* owned by es now */
    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);
    if (*derlen > 0)
        rc = 0;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return rc;
}

/* Fetched once: the implicit fetch behind EVP_sha256() repeats a provider
 * lookup on every digest. Lives as long as the process. */
static const EVP_MD *sha256_md(void)
{
    static EVP_MD *md;

    if (md == NULL)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md;
}

int authjwt_check_signature(const struct authjwt_token *t, const struct jwks_key *key,
                            char *reason, size_t n)
{
    const EVP_MD *md;
    unsigned char *der = NULL, digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const unsigned char *sig = t->sig;
    size_t siglen = t->sig_len;
    int derlen = 0, rc = -1;
    bool rsa = strcmp(t->alg, "RS256") == 0;

    /* The key decides the algorithm, never the token alone. */
    if ((rsa && key->kty != JWKS_KTY_RSA) || (!rsa && key->kty != JWKS_KTY_EC_P256) ||
        (key->alg[0] != '\0' && strcmp(key->alg, t->alg) != 0)) {
        gw_snprintf(reason, n, "alg %s does not match key %s", t->alg, key->kid);
        goto out;
    }
    if (rsa) {
        if (siglen != (size_t)EVP_PKEY_get_size(key->pkey)) {
            gw_snprintf(reason, n, "RS256 signature of wrong length");
            goto out;
        }
    } else {
        if (siglen != 64 || es256_to_der(t->sig, &der, &derlen) != 0) {
            gw_snprintf(reason, n, "ES256 signature of wrong length");
            goto out;
        }
        sig = der;
        siglen = (size_t)derlen;
    }
    md = sha256_md();
    if (md == NULL || EVP_Digest(t->signing_input, t->signing_input_len, digest, &dlen, md,
                                 NULL) != 1) {
        gw_snprintf(reason, n, "signature check could not start");
        goto out;
    }
    if (EVP_PKEY_verify(key->verify_ctx, sig, siglen, digest, dlen) != 1) {
        gw_snprintf(reason, n, "bad signature for key %s", key->kid);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(der);
    return rc;
}

/* ---- claims ------------------------------------------------------------------ */

/* The last second of year 9999: later "times" are not times, and keeping
 * them out means exp + skew and exp * 1000 can never overflow. */
#define NUMERIC_DATE_MAX 253402300799LL

/* 1 = a NumericDate in *out, 0 = absent, -1 = not a number or out of range. */
static int member_time(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v;
    int64_t t;

    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        t = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);

        if (!(d >= 0 && d <= (double)NUMERIC_DATE_MAX))
            return -1;
        t = (int64_t)d;
    } else {
        return -1;
    }
    if (t < 0 || t > NUMERIC_DATE_MAX)
        return -1;
    *out = t;
    return 1;
}

static bool tid_sane(const char *tid)
{
    size_t i, len = strlen(tid);

    if (len == 0 || len > 127)
        return false;
    for (i = 0; i < len; i++) {
        char c = tid[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

int authjwt_issuer_for(const struct gw_config *cfg, const char *tid, char *out, size_t n)
{
    const char *at = strstr(cfg->auth_issuer, "{tid}");

    if (at == NULL)
        return gw_strlcpy(out, cfg->auth_issuer, n);
    if (tid == NULL || !tid_sane(tid))
        return -1;
    return gw_snprintf(out, n, "%.*s%s%s", (int)(at - cfg->auth_issuer), cfg->auth_issuer, tid,
                       at + strlen("{tid}"));
}

static bool aud_allowed(const struct gw_config *cfg, struct json_object *payload)
{
    struct json_object *aud, *item;
    const char *s;
    size_t i;

    if (!json_object_object_get_ex(payload, "aud", &aud))
        return false;
    if (json_object_is_type(aud, json_type_string))
        return member_string(payload, "aud", &s) == 1 && s[0] != '\0' &&
               cfg_list_has(cfg->auth_audiences, s);
    if (!json_object_is_type(aud, json_type_array))
        return false;
    for (i = 0; i < json_object_array_length(aud); i++) {
        item = json_object_array_get_idx(aud, i);
        if (!json_object_is_type(item, json_type_string))
            continue;
        s = json_object_get_string(item);
        if ((size_t)json_object_get_string_len(item) == strlen(s) && s[0] != '\0' &&
            cfg_list_has(cfg->auth_audiences, s))
            return true;
    }
    return false;
}

static bool tenant_allowed(const struct gw_config *cfg, const char *tid)
{
    const char *list = cfg->auth_allowed_tenants;

    if (cfg_list_has(list, "*"))
        return true;
    /* A token without tid is a generic OIDC token: only an issuer that is
     * not tenant-scoped (empty list) accepts it. */
    if (tid == NULL)
        return list[0] == '\0';
    return cfg_list_has(list, tid);
}

/* roles claim -> "a,b,c"; entries with a comma could not be told apart. */
static int roles_join(struct json_object *payload, char *out, size_t n)
{
    struct json_object *roles, *item;
    size_t i, used = 0;

    out[0] = '\0';
    if (!json_object_object_get_ex(payload, "roles", &roles))
        return 0;
    if (!json_object_is_type(roles, json_type_array))
        return -1;
    for (i = 0; i < json_object_array_length(roles); i++) {
        const char *s;
        int w;

        item = json_object_array_get_idx(roles, i);
        if (!json_object_is_type(item, json_type_string))
            continue;
        s = json_object_get_string(item);
        if (s[0] == '\0' || strchr(s, ',') != NULL ||
            (size_t)json_object_get_string_len(item) != strlen(s))
            continue;
        w = snprintf(out + used, n - used, "%s%s", used > 0 ? "," : "", s);
        if (w < 0 || (size_t)w >= n - used)
            return -1; /* truncating could cut one role into another */
        used += (size_t)w;
    }
    return 0;
}

/* "type|len:part|len:part...": the claim type and the length of every part
 * make the id injective, so that no two principals share one however their
 * claims are spelled (an oid holding "|" or ":" included). */
static int user_id(char *out, size_t n, const char *type, const char *const *parts, size_t nparts)
{
    size_t used = strlen(type), i;

    if (gw_strlcpy(out, type, n) != 0)
        return -1;
    for (i = 0; i < nparts; i++) {
        size_t len = strlen(parts[i]);
        int w = snprintf(out + used, n - used, "|%zu:%s", len, parts[i]);

        if (w < 0 || (size_t)w >= n - used)
            return -1;
        used += (size_t)w;
    }
    return 0;
}

int authjwt_check_claims(const struct gw_config *cfg, struct json_object *payload, int64_t now,
                         struct gw_identity *id, char *reason, size_t n)
{
    const char *iss = NULL, *sub = NULL, *tid = NULL, *oid = NULL, *azp = NULL, *scp = NULL;
    char expected[CFG_STR_MAX];
    int64_t exp = 0, nbf = 0, skew = cfg->auth_clock_skew > 0 ? cfg->auth_clock_skew : 0;
    int has_nbf;

    if (member_time(payload, "exp", &exp) != 1) {
        gw_snprintf(reason, n, "token has no numeric exp");
        return -1;
    }
    if (now >= exp + skew) {
        gw_snprintf(reason, n, "token expired %lld s ago", (long long)(now - exp));
        return -1;
    }
    has_nbf = member_time(payload, "nbf", &nbf);
    if (has_nbf < 0) {
        gw_snprintf(reason, n, "token nbf is not numeric");
        return -1;
    }
    if (has_nbf == 1 && now + skew < nbf) {
        gw_snprintf(reason, n, "token not valid for another %lld s", (long long)(nbf - now));
        return -1;
    }
    if (member_string(payload, "tid", &tid) < 0 || (tid != NULL && !tid_sane(tid))) {
        gw_snprintf(reason, n, "token tid malformed");
        return -1;
    }
    if (member_string(payload, "iss", &iss) != 1) {
        gw_snprintf(reason, n, "token has no iss");
        return -1;
    }
    if (cfg->auth_issuer[0] == '\0' || authjwt_issuer_for(cfg, tid, expected, sizeof expected) != 0 ||
        strcmp(iss, expected) != 0) {
        gw_snprintf(reason, n, "token iss is not the configured issuer");
        return -1;
    }
    if (!aud_allowed(cfg, payload)) {
        gw_snprintf(reason, n, "token aud is not a configured audience");
        return -1;
    }
    if (!tenant_allowed(cfg, tid)) {
        gw_snprintf(reason, n, "tenant %s not allowed", tid != NULL ? tid : "(none)");
        return -1;
    }
    if (member_string(payload, "sub", &sub) < 0 || member_string(payload, "oid", &oid) < 0 ||
        member_string(payload, "azp", &azp) < 0 || member_string(payload, "scp", &scp) < 0) {
        gw_snprintf(reason, n, "token has a malformed sub/oid/azp/scp claim");
        return -1;
    }
    /* v1 Entra tokens name the client appid, v2 azp. */
    if (azp == NULL && member_string(payload, "appid", &azp) < 0) {
        gw_snprintf(reason, n, "token appid malformed");
        return -1;
    }
    if (gw_strlcpy(id->issuer, iss, sizeof id->issuer) != 0 ||
        gw_strlcpy(id->subject, sub != NULL ? sub : "", sizeof id->subject) != 0 ||
        gw_strlcpy(id->tenant_id, tid != NULL ? tid : "", sizeof id->tenant_id) != 0 ||
        gw_strlcpy(id->object_id, oid != NULL ? oid : "", sizeof id->object_id) != 0 ||
        gw_strlcpy(id->client_id, azp != NULL ? azp : "", sizeof id->client_id) != 0 ||
        gw_strlcpy(id->scopes, scp != NULL ? scp : "", sizeof id->scopes) != 0 ||
        roles_join(payload, id->token_roles, sizeof id->token_roles) != 0) {
        gw_snprintf(reason, n, "token claims too long");
        return -1;
    }
    /* Entra identifies a principal by tenant + object id (sub is pairwise
     * per application); other issuers by issuer + subject. */
    if (tid != NULL && oid != NULL && oid[0] != '\0') {
        const char *parts[] = { iss, tid, oid };

        if (user_id(id->user_id, sizeof id->user_id, "oid", parts, 3) != 0) {
            gw_snprintf(reason, n, "token identity too long");
            return -1;
        }
    } else if (sub != NULL && sub[0] != '\0') {
        const char *parts[] = { iss, sub };

        if (user_id(id->user_id, sizeof id->user_id, "sub", parts, 2) != 0) {
            gw_snprintf(reason, n, "token identity too long");
            return -1;
        }
    } else {
        gw_snprintf(reason, n, "token names no subject (sub or tid+oid)");
        return -1;
    }
    id->exp = exp;
    return 0;
}

/* ---- whole verification ---------------------------------------------------- */

/* Tokens this responder verified, by the SHA-256 of their bytes: a client
 * sends the same token on every call, and parsing it and checking its
 * signature again cost more than the rest of authentication. An entry is
 * used only before the token's exp (without the clock skew allowance),
 * after its nbf, and while the key set it was checked under is still the
 * one installed and still holds its kid; the configuration it was checked
 * against cannot change in a responder (a reload starts new ones).
 * Rejections are never kept. */
#define VERIFIED_SLOTS 16

struct verified {
    char sha[65];               /* "" unused */
    char kid[256];
    uint64_t key_gen;
    int64_t not_before, until;  /* seconds: usable while not_before <= now < until */
    struct gw_identity id;
};

static struct verified verified[VERIFIED_SLOTS];

static struct verified *verified_slot(const char *sha)
{
    /* sha is lower-case hex: its first digit is uniform. */
    return &verified[(sha[0] <= '9' ? sha[0] - '0' : sha[0] - 'a' + 10) % VERIFIED_SLOTS];
}

static bool verified_hit(struct gw_app *app, const char *sha, struct gw_identity *id)
{
    struct verified *v = verified_slot(sha);
    const struct jwks_key *key;
    int64_t now = gw_now_ms() / 1000;
    char ignored[128];

    if (v->sha[0] == '\0' || strcmp(v->sha, sha) != 0)
        return false;
    if (now >= v->until || now < v->not_before || v->key_gen != jwks_generation() ||
        jwks_get_key(app, v->kid, &key, ignored, sizeof(ignored)) != JWKS_OK ||
        v->key_gen != jwks_generation()) {
        v->sha[0] = '\0';
        return false;
    }
    *id = v->id;
    return true;
}

static void verified_keep(const struct authjwt_token *t, const struct gw_identity *id, int64_t skew)
{
    struct verified *v = verified_slot(id->token_sha256);
    int64_t nbf = 0;

    if (t->kid[0] == '\0' || strlen(t->kid) >= sizeof(v->kid) ||
        member_time(t->payload, "nbf", &nbf) < 0)
        return;
    memset(v, 0, sizeof(*v));
    gw_strlcpy(v->sha, id->token_sha256, sizeof(v->sha));
    gw_strlcpy(v->kid, t->kid, sizeof(v->kid));
    v->key_gen = jwks_generation();
    v->not_before = nbf - (skew > 0 ? skew : 0);
    v->until = id->exp;
    v->id = *id;
}

enum auth_status authjwt_verify(struct gw_app *app, const char *token, size_t len,
                                struct gw_identity *id, char *reason, size_t n)
{
    struct authjwt_token t;
    const struct jwks_key *key = NULL;
    size_t max = app->cfg.token_max > 0 ? (size_t)app->cfg.token_max : TOKEN_MAX_DEFAULT;
    enum auth_status rc = AUTH_INVALID;

    memset(id, 0, sizeof *id);
    if (len <= max) {
        char sha[65];

        gw_sha256_hex(token, len, sha);
        if (verified_hit(app, sha, id))
            return AUTH_OK;
    }
    if (authjwt_parse(token, len, max, &t, reason, n) != 0) {
        /* As for every rejection: the hash matches the log to the token. */
        gw_sha256_hex(token, len, id->token_sha256);
        return AUTH_INVALID;
    }
    if (t.kid[0] == '\0') {
        gw_snprintf(reason, n, "token header has no kid");
        goto out;
    }
    switch (jwks_get_key(app, t.kid, &key, reason, n)) {
    case JWKS_OK:
        break;
    case JWKS_UNAVAILABLE:
        rc = AUTH_UNAVAILABLE;
        goto out;
    case JWKS_UNKNOWN_KID:
        goto out;
    }
    if (authjwt_check_signature(&t, key, reason, n) != 0)
        goto out;
    if (authjwt_check_claims(&app->cfg, t.payload, gw_now_ms() / 1000, id, reason, n) != 0)
        goto out;
    gw_sha256_hex(token, len, id->token_sha256);
    verified_keep(&t, id, app->cfg.auth_clock_skew);
    rc = AUTH_OK;
out:
    if (rc != AUTH_OK) {
        char keep[sizeof id->token_sha256];

        /* The hash lets a rejection be matched to a client's token later. */
        gw_sha256_hex(token, len, keep);
        memset(id, 0, sizeof *id);
        memcpy(id->token_sha256, keep, sizeof keep);
    }
    authjwt_token_free(&t);
    return rc;
}
