/* JWKS sources, the fleet copy in Redis and the per-responder parsed keys,
 * with the once-per-period refresh on an unknown kid coordinated in Redis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "app.h"
#include "auth.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "fleet_key.h"
#include "log.h"
#include "metrics.h"
#include "store_redis.h"
#include "util.h"

/* A loser of the refresh lock may re-read the Redis copy this often: the
 * winner may not have written it yet, so one miss must not stick for the
 * whole period, yet garbage kids must not turn into Redis traffic. */
#define JWKS_REREAD_MIN_MS 1000
/* After a failed first load, requests fail fast for this long, counted from
 * the end of the attempt: a fetch that hung until its timeout must not leave
 * an already expired window behind, or every request waits the timeout. */
#define JWKS_LOAD_RETRY_MS 5000
/* Hosts' clocks differ a little: a fleet copy may say it was fetched up to
 * this far in our future. Further ahead is not a time the fleet wrote. */
#define JWKS_COPY_FUTURE_MS 60000

/* ---- parsing ------------------------------------------------------------ */

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* full_check: OpenSSL's public key check. It is what refuses EC points off
 * the curve (cheap); for RSA it runs SP 800-56B's checks, Miller-Rabin on the
 * modulus included (6 ms for 2048 bits, paid by every new responder), which
 * buy nothing here: whoever can put a modulus into the issuer's key set can
 * put in a key of their own. RSA keys get the cheap checks instead. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, bool full_check)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *check = NULL;
    EVP_PKEY *pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto out;
    /* fromdata takes the numbers as given; the public check refuses points
     * off the curve and degenerate moduli before a key is ever trusted. */
    if (!full_check)
        goto out;
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_from_jwk(struct json_object *jwk, char *err, size_t errlen)
{
    const char *n64 = jstr(jwk, "n"), *e64 = jstr(jwk, "e");
    unsigned char nbuf[1024 + 1], ebuf[16];
    long nlen, elen;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    int bits;

    if (n64 == NULL || e64 == NULL) {
        gw_snprintf(err, errlen, "RSA key without n/e");
        goto out;
    }
    nlen = authjwt_b64url_decode(n64, strlen(n64), nbuf, sizeof nbuf);
    elen = authjwt_b64url_decode(e64, strlen(e64), ebuf, sizeof ebuf);
    if (nlen <= 0 || elen <= 0) {
        gw_snprintf(err, errlen, "RSA key with bad n/e encoding");
        goto out;
    }
    bn_n = BN_bin2bn(nbuf, (int)nlen, NULL);
    bn_e = BN_bin2bn(ebuf, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn_n == NULL || bn_e == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
        gw_snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* An odd modulus, an odd exponent of at least 3 below it: what a
     * verification needs to be well defined. */
    if (!BN_is_odd(bn_n) || !BN_is_odd(bn_e) || BN_cmp(bn_e, BN_value_one()) <= 0 ||
        BN_cmp(bn_e, bn_n) >= 0) {
        gw_snprintf(err, errlen, "RSA key with a degenerate modulus or exponent");
        goto out;
    }
    pkey = pkey_from_params("RSA", bld, false);
    if (pkey == NULL) {
        gw_snprintf(err, errlen, "RSA key rejected by OpenSSL");
        goto out;
    }
    /* Below 2048 bits is forgeable in practice; above 8192 makes every
     * verification a denial of service. */
    bits = EVP_PKEY_get_bits(pkey);
    if (bits < 2048 || bits > 8192) {
        gw_snprintf(err, errlen, "RSA key of %d bits", bits);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *ec_from_jwk(struct json_object *jwk, char *err, size_t errlen)
{
    const char *crv = jstr(jwk, "crv"), *x64 = jstr(jwk, "x"), *y64 = jstr(jwk, "y");
    unsigned char point[65];
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;

    if (crv == NULL || strcmp(crv, "P-256") != 0) {
        gw_snprintf(err, errlen, "EC key on a curve other than P-256");
        goto out;
    }
    /* RFC 7518 6.2.1.2: x and y are the full 32 bytes, never shortened. */
    if (x64 == NULL || y64 == NULL ||
        authjwt_b64url_decode(x64, strlen(x64), point + 1, 32) != 32 ||
        authjwt_b64url_decode(y64, strlen(y64), point + 33, 32) != 32) {
        gw_snprintf(err, errlen, "EC key with bad x/y");
        goto out;
    }
    point[0] = 0x04; /* uncompressed point */
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point)) {
        gw_snprintf(err, errlen, "out of memory");
        goto out;
    }
    pkey = pkey_from_params("EC", bld, true);
    if (pkey == NULL)
        gw_snprintf(err, errlen, "EC key rejected by OpenSSL");
out:
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

/* One JWK into key. 1 = usable, 0 = skipped (reason in err), -1 = no memory. */
static int key_from_jwk(struct json_object *jwk, struct jwks_key *key, char *err, size_t errlen)
{
    const char *kty = jstr(jwk, "kty"), *kid = jstr(jwk, "kid");
    const char *use = jstr(jwk, "use"), *alg = jstr(jwk, "alg");

    memset(key, 0, sizeof *key);
    if (!json_object_is_type(jwk, json_type_object) || kty == NULL) {
        gw_snprintf(err, errlen, "entry without kty");
        return 0;
    }
    if (kid == NULL || kid[0] == '\0' || gw_strlcpy(key->kid, kid, sizeof key->kid) != 0) {
        gw_snprintf(err, errlen, "key without a usable kid");
        return 0;
    }
    if (use != NULL && strcmp(use, "sig") != 0) {
        gw_snprintf(err, errlen, "key %s is not for signatures", key->kid);
        return 0;
    }
    if (strcmp(kty, "RSA") == 0) {
        if (alg != NULL && strcmp(alg, "RS256") != 0) {
            gw_snprintf(err, errlen, "key %s has unsupported alg", key->kid);
            return 0;
        }
        key->kty = JWKS_KTY_RSA;
        key->pkey = rsa_from_jwk(jwk, err, errlen);
    } else if (strcmp(kty, "EC") == 0) {
        if (alg != NULL && strcmp(alg, "ES256") != 0) {
            gw_snprintf(err, errlen, "key %s has unsupported alg", key->kid);
            return 0;
        }
        key->kty = JWKS_KTY_EC_P256;
        key->pkey = ec_from_jwk(jwk, err, errlen);
    } else {
        /* "oct" in particular: a shared secret is never a verification key. */
        gw_snprintf(err, errlen, "key %s has unsupported kty", key->kid);
        return 0;
    }
    if (key->pkey == NULL)
        return 0;
    key->verify_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
    if (key->verify_ctx == NULL || EVP_PKEY_verify_init(key->verify_ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(key->verify_ctx, EVP_sha256()) != 1 ||
        (key->kty == JWKS_KTY_RSA &&
         EVP_PKEY_CTX_set_rsa_padding(key->verify_ctx, RSA_PKCS1_PADDING) != 1)) {
        EVP_PKEY_CTX_free(key->verify_ctx);
        EVP_PKEY_free(key->pkey);
        memset(key, 0, sizeof *key);
        return -1;
    }
    gw_strlcpy(key->alg, alg != NULL ? alg : "", sizeof key->alg);
    return 1;
}

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

int jwks_parse(const char *json, size_t len, struct jwks_set *out, char *err, size_t errlen)
{
    struct json_tokener *tok = NULL;
    struct json_object *doc = NULL, *arr;
    struct jwks_set set = { NULL, 0 };
    size_t i, count;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (len > JWKS_DOC_MAX || len > (size_t)INT32_MAX) {
        gw_snprintf(err, errlen, "JWKS larger than %d bytes", JWKS_DOC_MAX);
        goto out;
    }
    tok = json_tokener_new_ex(16);
    if (tok == NULL) {
        gw_snprintf(err, errlen, "out of memory");
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    doc = json_tokener_parse_ex(tok, json, (int)len);
    /* Served and written files end in a newline: trailing white space is
     * part of the document, anything else is not. */
    if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        !only_space(json + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
        gw_snprintf(err, errlen, "JWKS is not valid JSON");
        goto out;
    }
    if (!json_object_object_get_ex(doc, "keys", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        gw_snprintf(err, errlen, "JWKS has no \"keys\" array");
        goto out;
    }
    count = json_object_array_length(arr);
    if (count > JWKS_KEYS_MAX)
        count = JWKS_KEYS_MAX;
    set.keys = calloc(count > 0 ? count : 1, sizeof *set.keys);
    if (set.keys == NULL) {
        gw_snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        char why[160] = "";
        int k = key_from_jwk(json_object_array_get_idx(arr, i), &set.keys[set.n], why, sizeof why);

        if (k < 0) {
            gw_snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (k == 1)
            set.n++;
        else
            log_debug("jwks_key_skipped", "JWKS entry %zu skipped: %s", i, why);
    }
    *out = set;
    set.keys = NULL;
    set.n = 0;
    rc = 0;
out:
    jwks_set_free(&set);
    json_object_put(doc);
    if (tok != NULL)
        json_tokener_free(tok);
    return rc;
}

void jwks_set_free(struct jwks_set *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->n; i++) {
        EVP_PKEY_CTX_free(s->keys[i].verify_ctx);
        EVP_PKEY_free(s->keys[i].pkey);
    }
    free(s->keys);
    s->keys = NULL;
    s->n = 0;
}

/* Bumped whenever a responder installs a key set: a token verified under
 * an older set is verified again (auth_jwt.c's cache). Never reset, so a
 * new state cannot repeat an old number. */
static uint64_t key_generation;

uint64_t jwks_generation(void)
{
    return key_generation;
}

const struct jwks_key *jwks_find(const struct jwks_set *s, const char *kid)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

/* ---- sources ------------------------------------------------------------ */

static int fetch_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t got;
    int rc = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        gw_snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    buf = malloc(JWKS_DOC_MAX + 1);
    if (buf == NULL) {
        gw_snprintf(err, errlen, "out of memory");
        goto out;
    }
    got = fread(buf, 1, JWKS_DOC_MAX + 1, f);
    if (ferror(f)) {
        gw_snprintf(err, errlen, "cannot read %s", path);
        goto out;
    }
    if (got > JWKS_DOC_MAX) {
        gw_snprintf(err, errlen, "%s is larger than %d bytes", path, JWKS_DOC_MAX);
        goto out;
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

static int fetch_url(const struct gw_config *cfg, const char *uri, char **out, size_t *outlen,
                     char *err, size_t errlen)
{
    CURLU *u = NULL;
    CURL *h = NULL;
    char *scheme = NULL, *host = NULL;
    char hostbuf[256];
    struct gw_sink sink = { .max = JWKS_DOC_MAX };
    long status = 0;
    CURLcode cc;
    int rc = -1;

    /* The URL is parsed once, by curl, and that same parse is what curl
     * connects to: no second parser to disagree about the host. */
    u = curl_url();
    if (u == NULL || curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        gw_snprintf(err, errlen, "JWKS URI is not a valid URL");
        goto out;
    }
    if (strcmp(scheme, "http") == 0) {
        size_t hl = strlen(host);

        if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
            gw_snprintf(hostbuf, sizeof hostbuf, "%.*s", (int)(hl - 2), host + 1);
        else
            gw_strlcpy(hostbuf, host, sizeof hostbuf);
        if (!gw_host_is_loopback(hostbuf)) {
            gw_snprintf(err, errlen, "http:// JWKS only on loopback (got host %s)", hostbuf);
            goto out;
        }
    } else if (strcmp(scheme, "https") != 0) {
        gw_snprintf(err, errlen, "JWKS URI scheme %s not allowed", scheme);
        goto out;
    }
    h = curl_easy_init();
    if (h == NULL) {
        gw_snprintf(err, errlen, "curl_easy_init failed");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_CURLU, u);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Plain http:// is allowed because it never leaves this machine; an
     * http_proxy from the environment would carry it (and the keys we are
     * about to trust) to another one. https:// may use a proxy: TLS still
     * authenticates the issuer end to end. */
    if (strcmp(scheme, "http") == 0)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    /* A redirect could lead http:// off loopback; issuers do not redirect. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->auth_jwks_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->auth_jwks_timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (cfg->auth_ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->auth_ca_file);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mcp-registry-gateway");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gw_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    cc = curl_easy_perform(h);
    if (sink.too_big) {
        gw_snprintf(err, errlen, "JWKS larger than %d bytes", JWKS_DOC_MAX);
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        char *port = NULL;

        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
        gw_snprintf(err, errlen, "JWKS fetch timeout: no answer from %s:%s within %d ms", host,
                    port ? port : "?", cfg->auth_jwks_timeout_ms);
        curl_free(port);
        goto out;
    }
    if (cc != CURLE_OK) {
        gw_snprintf(err, errlen, "JWKS fetch failed: %s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        gw_snprintf(err, errlen, "JWKS fetch answered HTTP %ld", status);
        goto out;
    }
    if (sink.buf == NULL) {
        gw_snprintf(err, errlen, "JWKS fetch returned an empty body");
        goto out;
    }
    *out = sink.buf;
    *outlen = sink.len;
    sink.buf = NULL;
    rc = 0;
out:
    free(sink.buf);
    if (h != NULL)
        curl_easy_cleanup(h);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

int jwks_fetch(const struct gw_config *cfg, const char *uri, char **out, size_t *outlen,
               char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (uri == NULL || uri[0] == '\0') {
        gw_snprintf(err, errlen, "no JWKS URI configured");
        return -1;
    }
    if (gw_has_prefix(uri, "file://"))
        return fetch_file(uri + strlen("file://"), out, outlen, err, errlen);
    return fetch_url(cfg, uri, out, outlen, err, errlen);
}

/* ---- responder cache and fleet copy ------------------------------------- */

int jwks_check(const struct gw_config *cfg, const char *uri, char *err, size_t errlen)
{
    struct jwks_set set = { 0 };
    char *doc = NULL;
    size_t len = 0;
    int ok = -1;

    if (jwks_fetch(cfg, uri, &doc, &len, err, errlen) != 0)
        return -1;
    if (jwks_parse(doc, len, &set, err, errlen) != 0)
        goto out;
    if (set.n == 0) {
        snprintf(err, errlen, "%s holds no key usable for RS256 or ES256", uri);
        goto out;
    }
    ok = 0;
out:
    jwks_set_free(&set);
    free(doc);
    return ok;
}

void auth_state_free(struct gw_app *app)
{
    if (app == NULL || app->auth == NULL)
        return;
    jwks_set_free(&app->auth->keys);
    free(app->auth);
    app->auth = NULL;
}

static struct auth_state *state_get(struct gw_app *app)
{
    const char *uri = app->cfg.auth_jwks_uri;
    struct auth_state *st = app->auth;

    /* A reloaded configuration may name another issuer: its keys must not
     * outlive the change. */
    if (st != NULL && strcmp(st->uri, uri) == 0)
        return st;
    auth_state_free(app);
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    if (gw_strlcpy(st->uri, uri, sizeof st->uri) != 0) {
        free(st);
        return NULL;
    }
    gw_sha256_hex(uri, strlen(uri), st->uri_hash);
    app->auth = st;
    return st;
}

/* ---- fleet copy ---------------------------------------------------------- */

#define COPY_MAGIC "jwks1 "
#define COPY_TIME_MAX 15        /* decimal digits of a fetch time in ms */
#define COPY_PARTS 5

/* The fields the MAC binds: what the copy is (and for which issuer and URI),
 * when it was fetched, and the document exactly as fetched. */
static void copy_parts(struct fleet_part parts[COPY_PARTS], const struct gw_config *cfg,
                       const char *uri, const char *when, size_t whenlen, const char *doc,
                       size_t len)
{
    static const char label[] = "mcp-registry-gateway jwks copy v1";

    parts[0] = (struct fleet_part){ label, sizeof label - 1 };
    parts[1] = (struct fleet_part){ cfg->auth_issuer, strlen(cfg->auth_issuer) };
    parts[2] = (struct fleet_part){ uri, strlen(uri) };
    parts[3] = (struct fleet_part){ when, whenlen };
    parts[4] = (struct fleet_part){ doc, len };
}

int jwks_copy_seal(const struct gw_config *cfg, const char *uri, int64_t fetched_ms,
                   const char *doc, size_t len, char **out, size_t *outlen)
{
    struct fleet_part parts[COPY_PARTS];
    unsigned char mac[FLEET_MAC_LEN];
    char when[COPY_TIME_MAX + 1], hex[2 * FLEET_MAC_LEN + 1];
    size_t head, cap;
    char *buf;

    *out = NULL;
    *outlen = 0;
    if (cfg->fleet_key_len == 0 || fetched_ms < 0 || len > JWKS_DOC_MAX ||
        gw_snprintf(when, sizeof when, "%lld", (long long)fetched_ms) != 0)
        return -1;
    copy_parts(parts, cfg, uri, when, strlen(when), doc, len);
    if (fleet_mac(cfg->fleet_key, cfg->fleet_key_len, parts, COPY_PARTS, mac) != 0)
        return -1;
    gw_hex(mac, sizeof mac, hex);
    cap = sizeof COPY_MAGIC + sizeof when + sizeof hex + 1 + len;
    buf = malloc(cap);
    if (buf == NULL)
        return -1;
    head = (size_t)snprintf(buf, cap, "%s%s %s\n", COPY_MAGIC, when, hex);
    memcpy(buf + head, doc, len);
    buf[head + len] = '\0';
    *out = buf;
    *outlen = head + len;
    return 0;
}

int jwks_copy_open(const struct gw_config *cfg, const char *uri, const char *value, size_t len,
                   int64_t *fetched_ms, const char **doc, size_t *doclen, char *why, size_t n)
{
    const size_t magic = strlen(COPY_MAGIC);
    struct fleet_part parts[COPY_PARTS];
    unsigned char mac[FLEET_MAC_LEN];
    const char *when, *p, *end = value + len;
    int64_t t = 0;

    if (cfg->fleet_key_len == 0) {
        gw_snprintf(why, n, "no fleet key to check it with");
        return -1;
    }
    if (len < magic || memcmp(value, COPY_MAGIC, magic) != 0) {
        gw_snprintf(why, n, "not a sealed copy");
        return -1;
    }
    when = p = value + magic;
    while (p < end && *p >= '0' && *p <= '9' && p - when < COPY_TIME_MAX) {
        t = t * 10 + (*p - '0');
        p++;
    }
    if (p == when || p >= end || *p != ' ') {
        gw_snprintf(why, n, "malformed fetch time");
        return -1;
    }
    if ((size_t)(end - p) < 2 + 2 * FLEET_MAC_LEN || p[1 + 2 * FLEET_MAC_LEN] != '\n') {
        gw_snprintf(why, n, "malformed MAC");
        return -1;
    }
    if (gw_unhex(p + 1, FLEET_MAC_LEN, mac) != 0) {
        gw_snprintf(why, n, "malformed MAC");
        return -1;
    }
    *doc = p + 2 + 2 * FLEET_MAC_LEN;
    *doclen = (size_t)(end - *doc);
    copy_parts(parts, cfg, uri, when, (size_t)(p - when), *doc, *doclen);
    if (!fleet_mac_ok(cfg->fleet_key, cfg->fleet_key_len, parts, COPY_PARTS, mac)) {
        gw_snprintf(why, n, "MAC does not match (not written by this fleet, or for another issuer)");
        return -1;
    }
    *fetched_ms = t;
    return 0;
}

/* Parse doc, fetched at fetched_ms (wall clock), and make it the responder's
 * key set if it holds any key. The keys expire max_age after the fetch, not
 * after this install: a copy that already aged in Redis must not start a
 * second lifetime here. */
static int install(const struct gw_config *cfg, struct auth_state *st, const char *doc,
                   size_t len, int64_t fetched_ms, char *err, size_t errlen)
{
    int64_t left = fetched_ms + cfg->auth_jwks_max_age * 1000LL - gw_now_ms();
    struct jwks_set set;

    if (left <= 0) {
        gw_snprintf(err, errlen, "JWKS older than auth.jwks_max_age");
        return -1;
    }
    if (jwks_parse(doc, len, &set, err, errlen) != 0)
        return -1;
    if (set.n == 0) {
        /* Never trade working keys for an empty set. */
        gw_snprintf(err, errlen, "JWKS holds no usable RS256/ES256 key");
        jwks_set_free(&set);
        return -1;
    }
    jwks_set_free(&st->keys);
    st->keys = set;
    key_generation++;
    st->loaded = true;
    st->expires_at_ms = gw_monotonic_ms() + left;
    return 0;
}

/* Source -> responder keys -> fleet copy (sealed, and only with a fleet key:
 * an unsealed copy could not be told from one anybody wrote). */
static int fetch_install(struct gw_app *app, struct auth_state *st, char *err, size_t errlen)
{
    char *doc = NULL, *copy = NULL;
    size_t len = 0, copylen = 0;
    int64_t fetched_ms;
    char key[160];
    redisReply *rep;
    int rc = -1;

    metrics_count_named("jwks_fetch_total");
    if (jwks_fetch(&app->cfg, st->uri, &doc, &len, err, errlen) != 0)
        goto fail;
    fetched_ms = gw_now_ms();
    if (install(&app->cfg, st, doc, len, fetched_ms, err, errlen) != 0)
        goto fail;
    if (app->cfg.fleet_key_len > 0 && rds_key(app, key, sizeof key, "jwks:%s", st->uri_hash) == 0 &&
        jwks_copy_seal(&app->cfg, st->uri, fetched_ms, doc, len, &copy, &copylen) == 0) {
        rep = rds_cmd(app, "SET %s %b PX %lld", key, copy, copylen,
                      (long long)app->cfg.auth_jwks_max_age * 1000LL);
        if (rep != NULL)
            freeReplyObject(rep);
    }
    log_info("jwks_fetched", "JWKS from %s: %zu keys", st->uri, st->keys.n);
    rc = 0;
    goto out;
fail:
    metrics_count_named("jwks_fetch_error_total");
    log_warn("jwks_fetch_error", "JWKS from %s unusable: %s", st->uri, err);
out:
    free(copy);
    free(doc);
    return rc;
}

/* 1 = installed from Redis, 0 = no usable copy, -1 = Redis unavailable.
 * Redis is no trust anchor: a copy counts only with the fleet's MAC. */
static int install_from_redis(struct gw_app *app, struct auth_state *st)
{
    char key[160], err[160];
    const char *doc;
    size_t doclen;
    int64_t fetched_ms;
    redisReply *rep;
    int rc = 0;

    if (app->cfg.fleet_key_len == 0 || rds_key(app, key, sizeof key, "jwks:%s", st->uri_hash) != 0)
        return 0;
    rep = rds_cmd(app, "GET %s", key);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        if (jwks_copy_open(&app->cfg, st->uri, rep->str, rep->len, &fetched_ms, &doc, &doclen, err,
                           sizeof err) != 0) {
            /* The key name only: the content is whatever someone wrote. */
            metrics_count_named("jwks_cache_rejected_total");
            log_warn("jwks_cache_rejected", "Redis copy %s of the JWKS ignored: %s", key, err);
        } else if (fetched_ms > gw_now_ms() + JWKS_COPY_FUTURE_MS) {
            log_warn("jwks_cache_invalid", "Redis copy %s of the JWKS claims a fetch time in the "
                     "future; clocks of the fleet disagree", key);
        } else if (install(&app->cfg, st, doc, doclen, fetched_ms, err, sizeof err) == 0) {
            rc = 1;
        } else {
            log_warn("jwks_cache_invalid", "Redis copy %s of the JWKS unusable: %s", key, err);
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

static enum jwks_status load(struct gw_app *app, struct auth_state *st, char *reason, size_t n)
{
    int64_t now = gw_monotonic_ms();
    char err[256];

    if (now < st->load_retry_at_ms) {
        gw_snprintf(reason, n, "signing keys unavailable (retrying shortly)");
        return JWKS_UNAVAILABLE;
    }
    metrics_count_named("jwks_cache_miss_total");
    if (install_from_redis(app, st) == 1)
        return JWKS_OK;
    if (fetch_install(app, st, err, sizeof err) != 0) {
        st->load_retry_at_ms = gw_monotonic_ms() + JWKS_LOAD_RETRY_MS;
        gw_snprintf(reason, n, "signing keys unavailable: %s", err);
        return JWKS_UNAVAILABLE;
    }
    return JWKS_OK;
}

/* An unknown kid may mean the issuer rotated its keys: refresh once, but at
 * most once per period for the fleet (Redis lock) and, when Redis is down,
 * per responder, so that forged kids cannot make us hammer the issuer. */
static void refresh(struct gw_app *app, struct auth_state *st)
{
    int64_t now = gw_monotonic_ms();
    char lock[160], pid[32], err[256];
    redisReply *rep = NULL;
    bool fetch = false;

    if (st->refresh_try_ms != 0 && now - st->refresh_try_ms < JWKS_REREAD_MIN_MS) {
        metrics_count_named("jwks_refresh_limited_total");
        return;
    }
    st->refresh_try_ms = now;
    if (rds_key(app, lock, sizeof lock, "jwks:refresh:%s", st->uri_hash) != 0)
        return;
    gw_snprintf(pid, sizeof pid, "%ld", (long)getpid());
    rep = rds_cmd(app, "SET %s %s NX EX 300", lock, pid);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        /* Redis down: the responder's own period is the only limit left. */
        fetch = st->refresh_fetch_ms == 0 ||
                now - st->refresh_fetch_ms >= JWKS_REFRESH_PERIOD_S * 1000LL;
    } else if (rep->type == REDIS_REPLY_STATUS) {
        fetch = true;
    } else {
        /* Another responder holds this period's refresh: it may already
         * have written a newer copy. */
        install_from_redis(app, st);
    }
    if (fetch) {
        st->refresh_fetch_ms = now;
        metrics_count_named("jwks_refresh_total");
        fetch_install(app, st, err, sizeof err);
    } else {
        metrics_count_named("jwks_refresh_limited_total");
    }
    if (rep != NULL)
        freeReplyObject(rep);
}

enum jwks_status jwks_get_key(struct gw_app *app, const char *kid, const struct jwks_key **out,
                              char *reason, size_t n)
{
    struct auth_state *st = state_get(app);
    const struct jwks_key *k;
    enum jwks_status rc;

    *out = NULL;
    if (st == NULL) {
        gw_snprintf(reason, n, "out of memory for the key cache");
        return JWKS_UNAVAILABLE;
    }
    /* Keys the issuer withdrew stop being trusted max_age after their fetch,
     * even when no unknown kid ever asks for a refresh. */
    if (st->loaded && gw_monotonic_ms() >= st->expires_at_ms)
        st->loaded = false;
    if (!st->loaded) {
        rc = load(app, st, reason, n);
        if (rc != JWKS_OK)
            return rc;
    }
    k = jwks_find(&st->keys, kid);
    if (k == NULL) {
        metrics_count_named("jwks_cache_miss_total");
        refresh(app, st);
        k = jwks_find(&st->keys, kid);
    }
    if (k == NULL) {
        gw_snprintf(reason, n, "no key with this kid in the issuer's JWKS");
        return JWKS_UNKNOWN_KID;
    }
    *out = k;
    return JWKS_OK;
}
