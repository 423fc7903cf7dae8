/* Development issuer: mints RS256 tokens with libjwt from the configured RSA
 * key and publishes that key as a JWKS, for the local stack and its tests. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth.h"
#include "auth_dev.h"
#include "auth_jwt.h"
#include "config.h"
#include "util.h"

#define PEM_MAX (64 * 1024)
#define TTL_MAX (30L * 24 * 3600)

static int read_pem(const char *path, struct authdev_key *k, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    int rc = -1;

    if (f == NULL) {
        gw_snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    k->pem = malloc(PEM_MAX + 1);
    if (k->pem == NULL) {
        gw_snprintf(err, n, "out of memory");
        goto out;
    }
    k->pem_len = fread(k->pem, 1, PEM_MAX + 1, f);
    if (ferror(f) || k->pem_len == 0 || k->pem_len > PEM_MAX) {
        gw_snprintf(err, n, "cannot read a key of at most %d bytes from %s", PEM_MAX, path);
        goto out;
    }
    k->pem[k->pem_len] = '\0';
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

static int bn_param_b64(const EVP_PKEY *pkey, const char *name, char *out, size_t outmax)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int len, rc = -1;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        goto out;
    len = BN_num_bytes(bn);
    if (len <= 0 || (size_t)len > sizeof buf)
        goto out;
    BN_bn2bin(bn, buf);
    if (authjwt_b64url_encode(buf, (size_t)len, out, outmax) < 0)
        goto out;
    rc = 0;
out:
    BN_free(bn);
    return rc;
}

int authdev_thumbprint(const char *n64, const char *e64, char *out, size_t outmax)
{
    char canon[1600];
    unsigned char digest[32];
    unsigned int dlen = 0;

    /* RFC 7638: the required members in lexical order, no white space. */
    if (gw_snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e64,
                    n64) != 0 ||
        EVP_Digest(canon, strlen(canon), digest, &dlen, EVP_sha256(), NULL) != 1 ||
        authjwt_b64url_encode(digest, dlen, out, outmax) < 0)
        return -1;
    return 0;
}

int authdev_key_load(const char *path, struct authdev_key *k, char *err, size_t n)
{
    BIO *bio = NULL;
    int rc = -1;

    memset(k, 0, sizeof *k);
    if (read_pem(path, k, err, n) != 0)
        goto out;
    bio = BIO_new_mem_buf(k->pem, (int)k->pem_len);
    if (bio == NULL || (k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
        gw_snprintf(err, n, "%s holds no readable private key", path);
        goto out;
    }
    if (!EVP_PKEY_is_a(k->pkey, "RSA") || EVP_PKEY_get_bits(k->pkey) < 2048) {
        gw_snprintf(err, n, "%s is not an RSA key of at least 2048 bits", path);
        goto out;
    }
    if (bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, k->n64, sizeof k->n64) != 0 ||
        bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, k->e64, sizeof k->e64) != 0) {
        gw_snprintf(err, n, "cannot read the public numbers of %s", path);
        goto out;
    }
    if (authdev_thumbprint(k->n64, k->e64, k->kid, sizeof k->kid) != 0) {
        gw_snprintf(err, n, "cannot compute the key thumbprint");
        goto out;
    }
    rc = 0;
out:
    BIO_free(bio);
    if (rc != 0)
        authdev_key_free(k);
    return rc;
}

void authdev_key_free(struct authdev_key *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->pem != NULL)
        OPENSSL_cleanse(k->pem, k->pem_len);
    free(k->pem);
    memset(k, 0, sizeof *k);
}

char *authdev_jwks_json(const struct authdev_key *k)
{
    struct json_object *doc = json_object_new_object(), *keys = json_object_new_array();
    struct json_object *jwk = json_object_new_object();
    char *out = NULL;

    if (doc == NULL || keys == NULL || jwk == NULL)
        goto out;
    json_object_object_add(jwk, "kty", json_object_new_string("RSA"));
    json_object_object_add(jwk, "use", json_object_new_string("sig"));
    json_object_object_add(jwk, "alg", json_object_new_string("RS256"));
    json_object_object_add(jwk, "kid", json_object_new_string(k->kid));
    json_object_object_add(jwk, "n", json_object_new_string(k->n64));
    json_object_object_add(jwk, "e", json_object_new_string(k->e64));
    json_object_array_add(keys, jwk);
    jwk = NULL;
    json_object_object_add(doc, "keys", keys);
    keys = NULL;
    out = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
out:
    json_object_put(jwk);
    json_object_put(keys);
    json_object_put(doc);
    return out;
}

/* {"roles":[...]} for jwt_add_grants_json, escaped by json-c. */
static char *roles_json(const char *roles)
{
    struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
    const char *cur = NULL;
    char buf[256];
    char *out = NULL;

    if (o == NULL || arr == NULL)
        goto out;
    while (cfg_list_next(roles, &cur, buf, sizeof buf) != NULL)
        json_object_array_add(arr, json_object_new_string(buf));
    json_object_object_add(o, "roles", arr);
    arr = NULL;
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
    json_object_put(arr);
    json_object_put(o);
    return out;
}

char *authdev_mint(const struct gw_config *cfg, const struct authdev_key *k,
                   const struct authdev_claims *c, int64_t now, char *err, size_t n)
{
    jwt_t *jwt = NULL;
    char iss[CFG_STR_MAX];
    char *roles = NULL, *tok = NULL, *out = NULL;
    const char *tid = c->tenant != NULL && c->tenant[0] != '\0' ? c->tenant : NULL;
    int e = 0;

    if (c->sub == NULL || c->sub[0] == '\0' || c->aud == NULL || c->aud[0] == '\0') {
        gw_snprintf(err, n, "a subject and an audience are required");
        goto out;
    }
    if (c->ttl <= 0 || c->ttl > TTL_MAX) {
        gw_snprintf(err, n, "ttl must be 1..%ld seconds", TTL_MAX);
        goto out;
    }
    if (cfg->auth_issuer[0] == '\0' || authjwt_issuer_for(cfg, tid, iss, sizeof iss) != 0) {
        gw_snprintf(err, n, "auth.issuer is empty, or needs a valid --tenant for {tid}");
        goto out;
    }
    if (jwt_new(&jwt) != 0) {
        gw_snprintf(err, n, "out of memory");
        goto out;
    }
    e |= jwt_add_header(jwt, "kid", k->kid);
    e |= jwt_add_grant(jwt, "iss", iss);
    e |= jwt_add_grant(jwt, "sub", c->sub);
    e |= jwt_add_grant(jwt, "aud", c->aud);
    e |= jwt_add_grant_int(jwt, "iat", (long)now);
    e |= jwt_add_grant_int(jwt, "nbf", (long)now);
    e |= jwt_add_grant_int(jwt, "exp", (long)(now + c->ttl));
    if (tid != NULL) {
        /* Entra shape: the principal is tenant + object id. */
        e |= jwt_add_grant(jwt, "tid", tid);
        e |= jwt_add_grant(jwt, "oid", c->sub);
    }
    if (c->azp != NULL && c->azp[0] != '\0')
        e |= jwt_add_grant(jwt, "azp", c->azp);
    if (c->scopes != NULL && c->scopes[0] != '\0')
        e |= jwt_add_grant(jwt, "scp", c->scopes);
    if (c->roles != NULL && c->roles[0] != '\0') {
        roles = roles_json(c->roles);
        e |= roles == NULL ? ENOMEM : jwt_add_grants_json(jwt, roles);
    }
    if (e != 0 || jwt_set_alg(jwt, JWT_ALG_RS256, k->pem, (int)k->pem_len) != 0) {
        gw_snprintf(err, n, "cannot build the token");
        goto out;
    }
    tok = jwt_encode_str(jwt);
    if (tok == NULL) {
        gw_snprintf(err, n, "cannot sign the token");
        goto out;
    }
    out = strdup(tok);
out:
    free(tok);
    free(roles);
    jwt_free(jwt);
    return out;
}

/* ---- CLI ------------------------------------------------------------------- */

static int dev_key_or_fail(const struct gw_config *cfg, const char *cmd, struct authdev_key *k)
{
    char err[512];

    if (cfg->auth_dev_issuer_key[0] == '\0') {
        fprintf(stderr, "mcp-gateway %s: the development issuer is off "
                        "(set auth.dev_issuer_key to an RSA private key PEM)\n", cmd);
        return 2;
    }
    if (authdev_key_load(cfg->auth_dev_issuer_key, k, err, sizeof err) != 0) {
        fprintf(stderr, "mcp-gateway %s: %s\n", cmd, err);
        return 1;
    }
    return 0;
}

static void token_usage(FILE *f)
{
    fputs("usage: mcp-gateway token --sub SUBJECT [--tenant TID] [--roles a,b]\n"
          "                         [--scopes \"x y\"] [--ttl SECONDS] [--aud AUDIENCE]\n"
          "                         [--client CLIENT_ID]\n"
          "Mints a token from the development issuer (auth.dev_issuer_key).\n"
          "--aud defaults to the first of auth.audiences, --ttl to 3600.\n", f);
}

int auth_cli_token(const struct gw_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        { "sub", required_argument, NULL, 's' },
        { "tenant", required_argument, NULL, 't' },
        { "roles", required_argument, NULL, 'r' },
        { "scopes", required_argument, NULL, 'c' },
        { "ttl", required_argument, NULL, 'l' },
        { "aud", required_argument, NULL, 'a' },
        { "client", required_argument, NULL, 'z' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct authdev_claims c = { NULL, "", "", "", NULL, "mcp-gateway-cli", 3600 };
    struct authdev_key k;
    char aud[512], err[512], *end, *tok = NULL;
    const char *cur = NULL;
    int opt, rc = 2;

    memset(&k, 0, sizeof k);
    optind = 0; /* glibc: full re-initialisation, argv[0] is the subcommand */
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': c.sub = optarg; break;
        case 't': c.tenant = optarg; break;
        case 'r': c.roles = optarg; break;
        case 'c': c.scopes = optarg; break;
        case 'a': c.aud = optarg; break;
        case 'z': c.azp = optarg; break;
        case 'l':
            errno = 0;
            c.ttl = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || c.ttl <= 0 || c.ttl > TTL_MAX) {
                fprintf(stderr, "mcp-gateway token: --ttl must be 1..%ld seconds\n", TTL_MAX);
                goto out;
            }
            break;
        case 'h':
            token_usage(stdout);
            rc = 0;
            goto out;
        default:
            token_usage(stderr);
            goto out;
        }
    }
    if (optind < argc || c.sub == NULL || c.sub[0] == '\0') {
        fprintf(stderr, "mcp-gateway token: --sub is required\n");
        token_usage(stderr);
        goto out;
    }
    if (c.aud == NULL) {
        if (cfg_list_next(cfg->auth_audiences, &cur, aud, sizeof aud) == NULL) {
            fprintf(stderr, "mcp-gateway token: no --aud and auth.audiences is empty\n");
            goto out;
        }
        c.aud = aud;
    }
    rc = dev_key_or_fail(cfg, "token", &k);
    if (rc != 0)
        goto out;
    tok = authdev_mint(cfg, &k, &c, gw_now_ms() / 1000, err, sizeof err);
    if (tok == NULL) {
        fprintf(stderr, "mcp-gateway token: %s\n", err);
        rc = 1;
        goto out;
    }
    printf("%s\n", tok);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(tok);
    authdev_key_free(&k);
    return rc;
}

int auth_cli_jwks(const struct gw_config *cfg, int argc, char **argv)
{
    struct authdev_key k;
    char *doc = NULL;
    int rc;

    (void)argv;
    memset(&k, 0, sizeof k);
    if (argc > 1) {
        fprintf(stderr, "usage: mcp-gateway jwks\n"
                        "Prints the development issuer's public JWKS.\n");
        return 2;
    }
    rc = dev_key_or_fail(cfg, "jwks", &k);
    if (rc != 0)
        goto out;
    doc = authdev_jwks_json(&k);
    if (doc == NULL) {
        fprintf(stderr, "mcp-gateway jwks: out of memory\n");
        rc = 1;
        goto out;
    }
    printf("%s\n", doc);
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(doc);
    authdev_key_free(&k);
    return rc;
}
