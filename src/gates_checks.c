/* The checks of the three quality gates, each a probe of the running system:
 * the stores directly, both planes through their public URLs (web server and
 * responders), with probe tokens signed by a key the gateway trusts. */
#include "gates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "config.h"
#include "js.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

#define PROBE_BODY_MAX (256 * 1024)
#define PROBE_TOKEN_TTL 120
#define MCP_PROBE_VERSION "2025-11-25"
/* A token every Entra client can get for another resource (Microsoft Graph):
 * an API that accepts it lets any such token in (a confused deputy). */
#define WRONG_AUDIENCE "https://graph.microsoft.com"

/* --- probe HTTP client ---------------------------------------------------- */

struct probe_resp {
    long status;
    char *body;
    size_t len;
    char session[256];        /* Mcp-Session-Id */
    char www_auth[1024];      /* WWW-Authenticate */
    char request_id[128];     /* X-Request-Id */
};

/* Keep the value of a header we look at, without its line end. */
static void keep_header(const char *line, size_t len, const char *name, char *out, size_t outn)
{
    size_t nl = strlen(name), vlen;
    const char *v;

    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    v = line + nl + 1;
    vlen = len - nl - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen < outn) {
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct probe_resp *r = arg;
    size_t n = size * nmemb;

    keep_header(data, n, "Mcp-Session-Id", r->session, sizeof(r->session));
    keep_header(data, n, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
    keep_header(data, n, "X-Request-Id", r->request_id, sizeof(r->request_id));
    return n;
}

/* The answer's body as JSON, or NULL (caller puts it). */
static struct json_object *body_json(const struct probe_resp *r)
{
    enum js_parse_error e;

    return r->body != NULL ? js_parse(r->body, r->len, 32, &e) : NULL;
}

static void probe_resp_free(struct probe_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* One request to a plane; headers is NULL-terminated (may be NULL). 0 with an
 * answer in r, or -1 with why in err. */
static int probe_http(struct gate_ctx *g, const char *method, const char *url, const char *token,
                      const char *const *headers, const char *body, size_t body_len,
                      struct probe_resp *r, char *err, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    char auth[8192];
    struct gw_sink sink = { .max = PROBE_BODY_MAX };
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (h == NULL) {
        gw_strlcpy(err, "out of memory", n);
        return -1;
    }
    if (token != NULL && gw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) == 0)
        hl = curl_slist_append(hl, auth);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->gates_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mcp-gateway-gate");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gw_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (cfg->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    rc = curl_easy_perform(h);
    r->body = sink.buf;
    r->len = sink.len;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        if (sink.too_big)
            gw_snprintf(err, n, "%s %s: the answer is larger than %d bytes", method, url, PROBE_BODY_MAX);
        else
            gw_snprintf(err, n, "%s %s: %s", method, url, curl_easy_strerror(rc));
        probe_resp_free(r); /* no answer: nothing of a partial one is kept */
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

/* base URL of a plane + path */
static int plane_url(struct gate_ctx *g, enum gw_plane p, const char *path, char *out, size_t n)
{
    char base[CFG_STR_MAX];

    if (gw_plane_url(g->app, p, base, sizeof(base)) != 0 || base[0] == '\0')
        return -1;
    return gw_snprintf(out, n, "%s%s", base, path);
}

/* --- probe tokens ------------------------------------------------------- */

static int probe_key(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    const char *path = cfg->gates_probe_key[0] != '\0' ? cfg->gates_probe_key : cfg->auth_dev_issuer_key;

    if (g->key_state == 0) {
        g->key_state = -1;
        if (path[0] == '\0')
            gw_strlcpy(g->key_err, "no probe key: set gates.probe_key (or auth.dev_issuer_key) to an RSA "
                                   "key whose tokens the gateway trusts", sizeof(g->key_err));
        else if (authdev_key_load(path, &g->key, g->key_err, sizeof(g->key_err)) == 0)
            g->key_state = 1;
    }
    if (g->key_state == 1)
        return 0;
    gw_strlcpy(detail, g->key_err, n);
    return -1;
}

static void first_audience(const struct gw_config *cfg, char *out, size_t n)
{
    const char *cur = NULL;

    if (cfg_list_next(cfg->auth_audiences, &cur, out, n) == NULL)
        out[0] = '\0';
}

/* A token signed with the probe key, issued at `now`: malloc'd, or NULL with detail. */
static char *mint(struct gate_ctx *g, const char *sub, const char *tenant, const char *roles,
                  const char *aud, int64_t now, long ttl, char *detail, size_t n)
{
    char audience[256], err[256], *t;
    struct authdev_claims c = { .sub = sub, .tenant = tenant, .roles = roles, .scopes = "openid",
                                .aud = aud, .azp = "mcp-gateway-gate", .ttl = ttl };

    if (probe_key(g, detail, n) != 0)
        return NULL;
    if (aud == NULL) {
        first_audience(&g->app->cfg, audience, sizeof(audience));
        c.aud = audience;
    }
    t = authdev_mint(&g->app->cfg, &g->key, &c, now, err, sizeof(err));
    if (t == NULL)
        gw_snprintf(detail, n, "cannot mint a probe token: %s", err);
    return t;
}

/* A probe identity of the probe tenant (other = the second probe tenant). */
static char *probe_token(struct gate_ctx *g, const char *role, int other, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    char sub[96];

    gw_snprintf(sub, sizeof(sub), "gate-probe-%s%s", role, other ? "-other" : "");
    return mint(g, sub, other ? cfg->gates_probe_other_tenant : cfg->gates_probe_tenant, role, NULL,
                gw_now_ms() / 1000, PROBE_TOKEN_TTL, detail, n);
}

static char *b64url_json(struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = strlen(s), cap = len * 4 / 3 + 8;
    char *out = malloc(cap);

    if (out != NULL && authjwt_b64url_encode((const unsigned char *)s, len, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

/* The token's payload as JSON (it was minted here: trusted to parse). */
static struct json_object *payload_of(const char *token)
{
    const char *p = strchr(token, '.'), *q;
    unsigned char buf[8192];
    long len;

    if (p == NULL || (q = strchr(p + 1, '.')) == NULL)
        return NULL;
    len = authjwt_b64url_decode(p + 1, (size_t)(q - p - 1), buf, sizeof(buf) - 1);
    if (len < 0)
        return NULL;
    return js_parse((const char *)buf, (size_t)len, 32, &(enum js_parse_error){ JS_OK });
}

/* header.payload.signature from parts; signature may be "" */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *t = malloc(n);

    if (t != NULL)
        snprintf(t, n, "%s.%s.%s", a, b, c);
    return t;
}

/* The valid token's payload with the roles raised, its signature kept. */
static char *forge_tampered(const char *valid)
{
    struct json_object *p = payload_of(valid), *roles = json_object_new_array();
    const char *dot1 = strchr(valid, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    char *hdr, *pl, *t = NULL;

    if (p == NULL || dot2 == NULL) {
        json_object_put(p);
        json_object_put(roles);
        return NULL;
    }
    json_object_array_add(roles, json_object_new_string("platform_admin"));
    json_object_object_add(p, "roles", roles);
    hdr = strndup(valid, (size_t)(dot1 - valid));
    pl = b64url_json(p);
    if (hdr != NULL && pl != NULL)
        t = join3(hdr, pl, dot2 + 1);
    free(hdr);
    free(pl);
    json_object_put(p);
    return t;
}

/* The valid token's payload under a header of alg (none: no signature; HS256:
 * an HMAC keyed with the issuer's public key PEM, the algorithm confusion). */
static char *forge_alg(struct gate_ctx *g, const char *valid, const char *alg)
{
    struct json_object *h = json_object_new_object(), *p = payload_of(valid);
    char *hdr = NULL, *pl = NULL, *t = NULL, sig64[128] = "", *input = NULL;

    if (p == NULL)
        goto out;
    json_object_object_add(h, "alg", json_object_new_string(alg));
    json_object_object_add(h, "typ", json_object_new_string("JWT"));
    json_object_object_add(h, "kid", json_object_new_string(g->key.kid));
    hdr = b64url_json(h);
    pl = b64url_json(p);
    if (hdr == NULL || pl == NULL)
        goto out;
    if (strcmp(alg, "HS256") == 0) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *pem = NULL;
        long pem_len;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;

        if (bio == NULL || PEM_write_bio_PUBKEY(bio, g->key.pkey) != 1 ||
            (pem_len = BIO_get_mem_data(bio, &pem)) <= 0 ||
            (input = join3(hdr, pl, "")) == NULL) {
            BIO_free(bio);
            goto out;
        }
        input[strlen(input) - 1] = '\0'; /* "h.p." -> "h.p" */
        if (HMAC(EVP_sha256(), pem, (int)pem_len, (const unsigned char *)input, strlen(input), mac,
                 &mac_len) == NULL ||
            authjwt_b64url_encode(mac, mac_len, sig64, sizeof(sig64)) < 0) {
            BIO_free(bio);
            goto out;
        }
        BIO_free(bio);
    }
    t = join3(hdr, pl, sig64);
out:
    free(input);
    free(hdr);
    free(pl);
    json_object_put(h);
    json_object_put(p);
    return t;
}

/* --- stores ---------------------------------------------------------------- */

static int check_database(struct gate_ctx *g, char *detail, size_t n)
{
    char err[512];
    PGconn *pg;
    PGresult *r;
    int rc = 1;
    int64_t t0 = gw_monotonic_ms();

    if (pg_ping_within(g->app, 5000, err, sizeof(err)) != 0 || (pg = pg_conn(g->app)) == NULL) {
        gw_snprintf(detail, n, "PostgreSQL does not answer: %s", err);
        return 1;
    }
    r = PQexec(pg, "SELECT max(version), count(*), to_regclass('gate_runs') IS NOT NULL FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        gw_snprintf(detail, n, "PostgreSQL answers but the schema is not migrated: %s",
                    PQresultErrorMessage(r));
    } else if (strcmp(PQgetvalue(r, 0, 2), "t") != 0) {
        gw_snprintf(detail, n, "schema at migration %s lacks gate_runs: run mcp-gateway migrate",
                    PQgetvalue(r, 0, 0));
    } else {
        gw_snprintf(detail, n, "SELECT 1 and the schema (migration %s, %s applied) in %lld ms",
                    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), (long long)(gw_monotonic_ms() - t0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* PING, then a key written, read back and removed: a replica or a full
 * Redis answers PING but refuses the write. */
static int check_redis(struct gate_ctx *g, char *detail, size_t n)
{
    char err[512], key[256];
    redisReply *r;
    int ok;

    if (rds_ping_within(g->app, 3000, err, sizeof(err)) != 0) {
        gw_snprintf(detail, n, "Redis does not answer: %s", err);
        return 1;
    }
    if (rds_key(g->app, key, sizeof(key), "gate:probe:%s", g->run_id) != 0) {
        gw_strlcpy(detail, "key name too long", n);
        return -1;
    }
    r = rds_cmd(g->app, "SET %s %s EX 30", key, g->run_id);
    ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (!ok) {
        gw_snprintf(detail, n, "Redis refuses a write: %s", r != NULL && r->str != NULL ? r->str : "no answer");
        if (r != NULL)
            freeReplyObject(r);
        return 1;
    }
    freeReplyObject(r);
    r = rds_cmd(g->app, "GET %s", key);
    ok = r != NULL && r->type == REDIS_REPLY_STRING && strcmp(r->str, g->run_id) == 0;
    if (r != NULL)
        freeReplyObject(r);
    r = rds_cmd(g->app, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
    gw_strlcpy(detail, ok ? "PING, SET, GET and DEL of a probe key" : "a written key does not read back", n);
    return ok ? 0 : 1;
}

/* --- identity provider --------------------------------------------------------- */

static int check_identity_provider(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    char err[512];

    if (cfg->auth_issuer[0] == '\0' || cfg->auth_jwks_uri[0] == '\0' || cfg->auth_audiences[0] == '\0') {
        gw_strlcpy(detail, "auth.issuer, auth.jwks_uri and auth.audiences must all be set", n);
        return 1;
    }
    if (jwks_check(cfg, cfg->auth_jwks_uri, err, sizeof(err)) != 0) {
        gw_snprintf(detail, n, "the issuer's keys cannot be had: %s", err);
        return 1;
    }
    gw_snprintf(detail, n, "JWKS at %s has usable keys; issuer %s", cfg->auth_jwks_uri, cfg->auth_issuer);
    return 0;
}

/* --- planes ----------------------------------------------------------------- */

static int expect_status(struct gate_ctx *g, const char *method, enum gw_plane p, const char *path,
                         const char *token, const char *const *hdrs, long want, struct probe_resp *r,
                         char *detail, size_t n)
{
    char url[CFG_STR_MAX + 256], err[512];

    if (plane_url(g, p, path, url, sizeof(url)) != 0) {
        gw_strlcpy(detail, "server.api_url / server.mcp_url not set", n);
        return -1;
    }
    if (probe_http(g, method, url, token, hdrs, NULL, 0, r, err, sizeof(err)) != 0) {
        gw_strlcpy(detail, err, n);
        return 1;
    }
    if (r->status != want) {
        gw_snprintf(detail, n, "%s %s answered %ld, expected %ld", method, url, r->status, want);
        return 1;
    }
    return 0;
}

static int check_api_plane(struct gate_ctx *g, char *detail, size_t n)
{
    struct probe_resp r = { 0 };
    int rc = expect_status(g, "GET", PLANE_API, "/health", NULL, NULL, 200, &r, detail, n);

    probe_resp_free(&r);
    if (rc != 0)
        return rc;
    rc = expect_status(g, "GET", PLANE_API, "/health/ready", NULL, NULL, 200, &r, detail, n);
    probe_resp_free(&r);
    if (rc == 0)
        gw_strlcpy(detail, "GET /health and /health/ready answer 200 through the web server", n);
    return rc;
}

static const char *const mcp_hdrs[] = { "Content-Type: application/json",
                                        "Accept: application/json, text/event-stream", NULL };

static int check_mcp_plane(struct gate_ctx *g, char *detail, size_t n)
{
    char url[CFG_STR_MAX + 64], err[512];
    struct probe_resp r = { 0 };
    int rc = expect_status(g, "GET", PLANE_MCP, GW_WELL_KNOWN_PRM "/mcp", NULL, NULL, 200, &r, detail, n);

    if (rc == 0) {
        struct json_object *meta = body_json(&r);

        if (js_str(meta, "resource") == NULL) {
            gw_strlcpy(detail, "protected resource metadata without a resource", n);
            rc = 1;
        }
        json_object_put(meta);
    }
    probe_resp_free(&r);
    if (rc != 0)
        return rc;
    if (plane_url(g, PLANE_MCP, "/mcp", url, sizeof(url)) != 0)
        return -1;
    if (probe_http(g, "POST", url, NULL, mcp_hdrs, "{}", 2, &r, err, sizeof(err)) != 0) {
        gw_strlcpy(detail, err, n);
        return 1;
    }
    rc = r.status == 401 && strstr(r.www_auth, "resource_metadata=") != NULL ? 0 : 1;
    if (rc == 0)
        gw_strlcpy(detail, "metadata served; POST /mcp without a token is 401 with resource_metadata", n);
    else
        gw_snprintf(detail, n, "POST /mcp without a token answered %ld (WWW-Authenticate: %s), "
                               "expected 401 with resource_metadata", r.status, r.www_auth);
    probe_resp_free(&r);
    return rc;
}

/* --- MCP sessions on both planes ------------------------------------------- */

/* initialize on /mcp as token: the session id into sid. 0, 1 (refused), -1. */
static int mcp_open(struct gate_ctx *g, const char *token, char *sid, size_t sn, char *detail, size_t n)
{
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\""
        MCP_PROBE_VERSION "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcp-gateway-gate\","
        "\"version\":\"1\"}}}";
    char url[CFG_STR_MAX + 64], err[512];
    struct probe_resp r = { 0 };
    int rc = 1;

    if (plane_url(g, PLANE_MCP, "/mcp", url, sizeof(url)) != 0) {
        gw_strlcpy(detail, "server.mcp_url not set", n);
        return -1;
    }
    if (probe_http(g, "POST", url, token, mcp_hdrs, init, sizeof(init) - 1, &r, err, sizeof(err)) != 0) {
        gw_strlcpy(detail, err, n);
        return 1;
    }
    if (r.status == 200 && r.session[0] != '\0' && r.body != NULL && strstr(r.body, "\"result\"") != NULL &&
        gw_strlcpy(sid, r.session, sn) == 0)
        rc = 0;
    else
        gw_snprintf(detail, n, "initialize on %s answered %ld%s", url, r.status,
                    r.session[0] == '\0' ? " without Mcp-Session-Id" : "");
    probe_resp_free(&r);
    return rc;
}

static long mcp_close(struct gate_ctx *g, const char *token, const char *sid)
{
    char url[CFG_STR_MAX + 64], err[512], h1[300];
    const char *hdrs[] = { h1, "MCP-Protocol-Version: " MCP_PROBE_VERSION, NULL };
    struct probe_resp r = { 0 };
    long status = 0;

    gw_snprintf(h1, sizeof(h1), "Mcp-Session-Id: %s", sid);
    if (plane_url(g, PLANE_MCP, "/mcp", url, sizeof(url)) == 0 &&
        probe_http(g, "DELETE", url, token, hdrs, NULL, 0, &r, err, sizeof(err)) == 0)
        status = r.status;
    probe_resp_free(&r);
    return status;
}

/* GET /api/v1/sessions/{sid} as token: the HTTP status, 0 when no answer. */
static long session_read(struct gate_ctx *g, const char *token, const char *sid, struct probe_resp *r)
{
    char path[400], url[CFG_STR_MAX + 512], err[512];

    memset(r, 0, sizeof(*r));
    if (gw_snprintf(path, sizeof(path), "/api/v1/sessions/%s", sid) != 0 ||
        plane_url(g, PLANE_API, path, url, sizeof(url)) != 0 ||
        probe_http(g, "GET", url, token, NULL, NULL, 0, r, err, sizeof(err)) != 0)
        return 0;
    return r->status;
}

/* A session opened on the MCP plane is read on the management plane by the
 * same identity, and its end on the MCP plane is seen there too. */
static int check_dual_plane(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    char *tok = probe_token(g, "operator", 0, detail, n), sid[256];
    struct probe_resp r = { 0 };
    struct json_object *o;
    long st, closed;
    int rc;

    if (tok == NULL)
        return -1;
    rc = mcp_open(g, tok, sid, sizeof(sid), detail, n);
    if (rc != 0) {
        free(tok);
        return rc;
    }
    st = session_read(g, tok, sid, &r);
    o = body_json(&r);
    rc = 1;
    if (st != 200)
        gw_snprintf(detail, n, "session made on the MCP plane: GET /api/v1/sessions/{id} answered %ld", st);
    else if (js_str(o, "tenant_id") == NULL || strcmp(js_str(o, "tenant_id"), cfg->gates_probe_tenant) != 0)
        gw_snprintf(detail, n, "the management plane shows the session with tenant %s, not %s",
                    js_str(o, "tenant_id") ? js_str(o, "tenant_id") : "(none)", cfg->gates_probe_tenant);
    else
        rc = 0;
    json_object_put(o);
    probe_resp_free(&r);
    closed = mcp_close(g, tok, sid);
    if (rc == 0) {
        st = session_read(g, tok, sid, &r);
        probe_resp_free(&r);
        if (closed < 200 || closed > 299 || st != 404) {
            gw_snprintf(detail, n, "DELETE on the MCP plane answered %ld; the management plane then "
                                   "answered %ld for the session (expected 404)", closed, st);
            rc = 1;
        } else {
            gw_strlcpy(detail, "session opened on /mcp is read on /api/v1/sessions with its tenant; "
                               "ended on /mcp, it is gone there too", n);
        }
    }
    free(tok);
    return rc;
}

/* The way a client finds out how to authenticate, then a token accepted. */
static int check_oauth_flow(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    char url[CFG_STR_MAX + 64], meta_url[1024], err[512], *tok;
    const char *p, *q;
    struct probe_resp r = { 0 };
    struct json_object *o;
    int rc = 1;

    if (plane_url(g, PLANE_MCP, "/mcp", url, sizeof(url)) != 0)
        return -1;
    if (probe_http(g, "POST", url, NULL, mcp_hdrs, "{}", 2, &r, err, sizeof(err)) != 0) {
        gw_strlcpy(detail, err, n);
        return 1;
    }
    p = strstr(r.www_auth, "resource_metadata=\"");
    if (r.status != 401 || p == NULL || (q = strchr(p + 19, '"')) == NULL ||
        (size_t)(q - p - 19) >= sizeof(meta_url)) {
        gw_snprintf(detail, n, "no token: %ld, WWW-Authenticate \"%s\" (expected 401 naming resource_metadata)",
                    r.status, r.www_auth);
        probe_resp_free(&r);
        return 1;
    }
    memcpy(meta_url, p + 19, (size_t)(q - p - 19));
    meta_url[q - p - 19] = '\0';
    probe_resp_free(&r);
    if (probe_http(g, "GET", meta_url, NULL, NULL, NULL, 0, &r, err, sizeof(err)) != 0 || r.status != 200) {
        gw_snprintf(detail, n, "the challenge's resource_metadata %s: %s", meta_url,
                    r.status ? "not 200" : err);
        probe_resp_free(&r);
        return 1;
    }
    o = body_json(&r);
    probe_resp_free(&r);
    if (js_str(o, "resource") == NULL) {
        gw_snprintf(detail, n, "%s has no resource", meta_url);
        json_object_put(o);
        return 1;
    }
    json_object_put(o);
    if ((tok = probe_token(g, "user", 0, detail, n)) == NULL)
        return -1;
    rc = expect_status(g, "GET", PLANE_API, "/api/v1/me", tok, NULL, 200, &r, detail, n);
    free(tok);
    if (rc == 0) {
        o = body_json(&r);
        if (js_str(o, "tenant_id") == NULL || strcmp(js_str(o, "tenant_id"), cfg->gates_probe_tenant) != 0) {
            gw_snprintf(detail, n, "/api/v1/me does not show the token's tenant %s", cfg->gates_probe_tenant);
            rc = 1;
        } else {
            gw_snprintf(detail, n, "401 names %s; it answers; a token of the issuer is accepted as its "
                                   "tenant and user", meta_url);
        }
        json_object_put(o);
    }
    probe_resp_free(&r);
    return rc;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

/* The registry listing a responder makes for every request of a tenant. */
static int check_db_performance(struct gate_ctx *g, char *detail, size_t n)
{
    enum { RUNS = 20 };
    const struct gw_config *cfg = &g->app->cfg;
    const char *p[1] = { cfg->gates_probe_tenant };
    long long us[RUNS];
    PGconn *pg = pg_conn(g->app);

    if (pg == NULL) {
        gw_strlcpy(detail, "PostgreSQL unavailable", n);
        return 1;
    }
    for (int i = 0; i < RUNS; i++) {
        struct timespec a, b;
        PGresult *r;

        clock_gettime(CLOCK_MONOTONIC, &a);
        r = PQexecParams(pg, "SELECT id, name, status FROM servers WHERE tenant_id IS NULL OR tenant_id = $1"
                             " ORDER BY name LIMIT 50", 1, NULL, p, NULL, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            gw_snprintf(detail, n, "registry query failed: %s", PQresultErrorMessage(r));
            PQclear(r);
            return 1;
        }
        PQclear(r);
        us[i] = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    qsort(us, RUNS, sizeof(us[0]), cmp_ll);
    gw_snprintf(detail, n, "registry query over %d runs: median %.2f ms, p95 %.2f ms (limit %d ms)", RUNS,
                us[RUNS / 2] / 1000.0, us[RUNS * 95 / 100 - 1] / 1000.0, cfg->gates_db_p95_ms);
    return us[RUNS * 95 / 100 - 1] > cfg->gates_db_p95_ms * 1000LL ? 1 : 0;
}

/* What every request passes through before a handler: request ids, the
 * Origin check of the MCP plane, the body limit. */
static int check_middleware(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    char rid[96], h_rid[128], url[CFG_STR_MAX + 64], err[512] = "no URL for the plane", *tok, *big;
    const char *hdrs[] = { h_rid, NULL };
    const char *origin_hdrs[] = { mcp_hdrs[0], mcp_hdrs[1], "Origin: https://gate-probe.invalid", NULL };
    struct probe_resp r = { 0 };
    int rc;

    gw_snprintf(rid, sizeof(rid), "gate-%s-mw", g->run_id);
    gw_snprintf(h_rid, sizeof(h_rid), "X-Request-Id: %s", rid);
    rc = expect_status(g, "GET", PLANE_API, "/health", NULL, hdrs, 200, &r, detail, n);
    if (rc == 0 && strcmp(r.request_id, rid) != 0) {
        gw_snprintf(detail, n, "X-Request-Id %s came back as \"%s\"", rid, r.request_id);
        rc = 1;
    }
    probe_resp_free(&r);
    if (rc != 0)
        return rc;
    if ((tok = probe_token(g, "user", 0, detail, n)) == NULL)
        return -1;
    if (plane_url(g, PLANE_MCP, "/mcp", url, sizeof(url)) != 0 ||
        probe_http(g, "POST", url, tok, origin_hdrs, "{}", 2, &r, err, sizeof(err)) != 0 || r.status != 403) {
        if (r.status != 0)
            gw_snprintf(detail, n, "POST /mcp with a foreign Origin answered %ld, expected 403", r.status);
        else
            gw_snprintf(detail, n, "POST /mcp with a foreign Origin: no answer (%s), expected 403", err);
        probe_resp_free(&r);
        free(tok);
        return 1;
    }
    probe_resp_free(&r);
    free(tok);
    big = malloc((size_t)cfg->body_max + 2);
    if (big == NULL)
        return -1;
    memset(big, 'x', (size_t)cfg->body_max + 1);
    rc = plane_url(g, PLANE_API, "/health", url, sizeof(url)) != 0 ||
         probe_http(g, "POST", url, NULL, NULL, big, (size_t)cfg->body_max + 1, &r, err, sizeof(err)) != 0 ||
         r.status != 413;
    free(big);
    if (rc && r.status != 0)
        gw_snprintf(detail, n, "a body of limits.body_max + 1 bytes answered %ld, expected 413", r.status);
    else if (rc)
        gw_snprintf(detail, n, "a body of limits.body_max + 1 bytes: no answer (%s), expected 413", err);
    else
        gw_strlcpy(detail, "request id echoed; foreign Origin 403; oversized body 413", n);
    probe_resp_free(&r);
    return rc;
}

/* A refused request leaves its audit row, found by its request id. */
static int check_audit_logging(struct gate_ctx *g, char *detail, size_t n)
{
    char rid[96], h_rid[128];
    const char *hdrs[] = { h_rid, NULL }, *p[1] = { rid };
    struct probe_resp r = { 0 };
    PGconn *pg;
    PGresult *res;
    int rc;

    gw_snprintf(rid, sizeof(rid), "gate-%s-denied", g->run_id);
    gw_snprintf(h_rid, sizeof(h_rid), "X-Request-Id: %s", rid);
    rc = expect_status(g, "GET", PLANE_API, "/api/v1/me", NULL, hdrs, 401, &r, detail, n);
    probe_resp_free(&r);
    if (rc != 0)
        return rc;
    if ((pg = pg_conn(g->app)) == NULL) {
        gw_strlcpy(detail, "PostgreSQL unavailable", n);
        return 1;
    }
    res = PQexecParams(pg, "SELECT count(*) FROM audit_log WHERE request_id = $1 AND action = 'request.denied'",
                       1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        gw_snprintf(detail, n, "audit_log: %s", PQresultErrorMessage(res));
        rc = 1;
    } else if (strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
        gw_snprintf(detail, n, "the 401 of request %s has %s audit rows, expected 1", rid, PQgetvalue(res, 0, 0));
        rc = 1;
    } else {
        gw_snprintf(detail, n, "the 401 of request %s is in the audit log", rid);
    }
    PQclear(res);
    return rc;
}

/* --- security ---------------------------------------------------------------- */

/* Six tokens through the web server: only the valid one may pass. */
static int check_jwt(struct gate_ctx *g, char *detail, size_t n)
{
    const struct gw_config *cfg = &g->app->cfg;
    int64_t now = gw_now_ms() / 1000;
    char *valid = probe_token(g, "user", 0, detail, n);
    struct { const char *name; char *token; long want; long got; } t[6] = {
        { "valid", valid, 200, 0 },
        { "expired", NULL, 401, 0 },
        { "tampered", NULL, 401, 0 },
        { "alg_none", NULL, 401, 0 },
        { "hs256_public_key", NULL, 401, 0 },
        { "wrong_audience", NULL, 401, 0 },
    };
    size_t used = 0;
    int rc = 0;

    if (valid == NULL)
        return -1;
    t[1].token = mint(g, "gate-probe-user", cfg->gates_probe_tenant, "user", NULL,
                      now - cfg->auth_clock_skew - 3600 - 120, 3600, detail, n);
    t[2].token = forge_tampered(valid);
    t[3].token = forge_alg(g, valid, "none");
    t[4].token = forge_alg(g, valid, "HS256");
    t[5].token = mint(g, "gate-probe-user", cfg->gates_probe_tenant, "user", WRONG_AUDIENCE, now,
                      PROBE_TOKEN_TTL, detail, n);
    for (size_t i = 0; i < GW_ARRAY_LEN(t); i++) {
        struct probe_resp r = { 0 };
        char url[CFG_STR_MAX + 64], err[512];

        if (t[i].token == NULL) {
            gw_snprintf(detail, n, "cannot make the %s probe token", t[i].name);
            rc = -1;
            goto out;
        }
        if (plane_url(g, PLANE_API, "/api/v1/me", url, sizeof(url)) != 0 ||
            probe_http(g, "GET", url, t[i].token, NULL, NULL, 0, &r, err, sizeof(err)) != 0) {
            gw_snprintf(detail, n, "%s token: %s", t[i].name, err);
            rc = 1;
            goto out;
        }
        t[i].got = r.status;
        probe_resp_free(&r);
        if (t[i].got != t[i].want)
            rc = 1;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(t) && used < n; i++) {
        int w = snprintf(detail + used, n - used, "%s%s %ld%s", i ? ", " : "", t[i].name, t[i].got,
                         t[i].got == t[i].want ? "" : t[i].want == 200 ? " (REFUSED)" : " (ACCEPTED)");

        if (w < 0)
            break;
        used += (size_t)w;
    }
out:
    for (size_t i = 0; i < GW_ARRAY_LEN(t); i++)
        free(t[i].token);
    return rc;
}

/* Roles through the web server: less than the route needs is 403, enough is 200. */
static int check_rbac(struct gate_ctx *g, char *detail, size_t n)
{
    static const struct { const char *role; const char *path; long want; } probes[] = {
        { "user", "/api/v1/sessions", 403 },
        { "operator", "/api/v1/sessions", 200 },
        { "admin", "/api/v1/audit/verify", 403 },
        { "auditor", "/health/components", 403 },
    };
    int rc = 0;

    for (size_t i = 0; i < GW_ARRAY_LEN(probes) && rc == 0; i++) {
        char *tok = probe_token(g, probes[i].role, 0, detail, n);
        struct probe_resp r = { 0 };

        if (tok == NULL)
            return -1;
        rc = expect_status(g, "GET", PLANE_API, probes[i].path, tok, NULL, probes[i].want, &r, detail, n);
        if (rc > 0)
            gw_snprintf(detail, n, "role %s on GET %s answered %ld, expected %ld", probes[i].role,
                        probes[i].path, r.status, probes[i].want);
        probe_resp_free(&r);
        free(tok);
    }
    if (rc == 0)
        gw_strlcpy(detail, "user 403 and operator 200 on /api/v1/sessions; admin 403 on /api/v1/audit/verify; "
                           "auditor 403 on /health/components", n);
    return rc;
}

/* An operator and an admin of another tenant try to read, and to list, a
 * tenant's MCP session: both must find nothing. */
static int check_tenant_isolation(struct gate_ctx *g, char *detail, size_t n)
{
    static const char *const roles[] = { "operator", "admin" };
    const struct gw_config *cfg = &g->app->cfg;
    char *owner = probe_token(g, "operator", 0, detail, n), sid[256];
    struct probe_resp r = { 0 };
    long own_st;
    int rc;

    if (owner == NULL)
        return -1;
    rc = mcp_open(g, owner, sid, sizeof(sid), detail, n);
    if (rc != 0) {
        free(owner);
        return rc;
    }
    own_st = session_read(g, owner, sid, &r);
    probe_resp_free(&r);
    if (own_st != 200) {
        gw_snprintf(detail, n, "the owner's own read of its session answered %ld (the probe proves nothing)",
                    own_st);
        rc = -1;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(roles) && rc == 0; i++) {
        char *other = probe_token(g, roles[i], 1, detail, n);
        long st;
        int listed;

        if (other == NULL) {
            rc = -1;
            break;
        }
        st = session_read(g, other, sid, &r);
        probe_resp_free(&r);
        rc = expect_status(g, "GET", PLANE_API, "/api/v1/sessions", other, NULL, 200, &r, detail, n);
        listed = r.body != NULL && strstr(r.body, sid) != NULL;
        probe_resp_free(&r);
        free(other);
        if (rc == 0 && (st != 404 || listed)) {
            gw_snprintf(detail, n, "an %s of tenant %s reads tenant %s's session: GET answered %ld%s", roles[i],
                        cfg->gates_probe_other_tenant, cfg->gates_probe_tenant, st,
                        listed ? ", and its list shows it" : "");
            rc = 1;
        }
    }
    mcp_close(g, owner, sid);
    free(owner);
    if (rc == 0)
        gw_snprintf(detail, n, "tenant %s's session: 200 for its owner; 404 and unlisted for an operator and "
                               "an admin of %s", cfg->gates_probe_tenant, cfg->gates_probe_other_tenant);
    return rc;
}

static int check_audit_chain(struct gate_ctx *g, char *detail, size_t n)
{
    struct audit_verdict v;
    char err[512];
    PGconn *pg = pg_conn(g->app);

    if (pg == NULL) {
        gw_strlcpy(detail, "PostgreSQL unavailable", n);
        return 1;
    }
    if (audit_verify(pg, &v, err, sizeof(err)) != 0) {
        gw_snprintf(detail, n, "the chain could not be walked: %s", err);
        return -1;
    }
    /* The chain spans every tenant: where it breaks, how long it is and its
     * head are the platform's to see (as in GET /api/v1/audit/verify and the
     * report); a tenant's operator gets the verdict only. */
    if (g->who != NULL && !auth_has_role(g->who, ROLE_PLATFORM_ADMIN)) {
        gw_strlcpy(detail, v.ok ? "the whole audit chain links up (its extent is shown to a platform_admin)"
                                : "the audit chain is broken (a platform_admin sees where: GET /api/v1/audit/verify)",
                   n);
        return v.ok ? 0 : 1;
    }
    if (!v.ok) {
        gw_snprintf(detail, n, "the audit chain breaks at row %lld: %s", v.broken_id, v.reason);
        return 1;
    }
    gw_snprintf(detail, n, "%lld rows link up to row %lld (head %.16s...)", v.rows, v.last_id, v.head_hash);
    return 0;
}

/* The registration the gateway trusts, as configured and as advertised. */
static int check_app_registration(struct gate_ctx *g, char *detail, size_t n)
{
    static const char *const foreign[] = { WRONG_AUDIENCE, "00000003-0000-0000-c000-000000000000",
                                           "https://management.azure.com" };
    const struct gw_config *cfg = &g->app->cfg;
    const char *cur = NULL;
    char aud[512];
    struct probe_resp r = { 0 };
    int rc;

    if (cfg->auth_issuer[0] == '\0' || cfg->auth_audiences[0] == '\0') {
        gw_strlcpy(detail, "auth.issuer or auth.audiences is empty", n);
        return 1;
    }
    if (!gw_has_prefix(cfg->auth_issuer, "https://")) {
        gw_snprintf(detail, n, "auth.issuer %s is not https://", cfg->auth_issuer);
        return 1;
    }
    while (cfg_list_next(cfg->auth_audiences, &cur, aud, sizeof(aud)) != NULL) {
        for (size_t i = 0; i < GW_ARRAY_LEN(foreign); i++) {
            if (strcasecmp(aud, foreign[i]) == 0) {
                gw_snprintf(detail, n, "auth.audiences accepts %s, another resource's tokens", aud);
                return 1;
            }
        }
    }
    if (strstr(cfg->auth_issuer, "login.microsoftonline.com") != NULL && cfg_list_has(cfg->auth_allowed_tenants, "*")) {
        gw_strlcpy(detail, "an Entra issuer with auth.allowed_tenants = *: any Entra tenant's users get in", n);
        return 1;
    }
    rc = expect_status(g, "GET", PLANE_MCP, GW_WELL_KNOWN_PRM "/mcp", NULL, NULL, 200, &r, detail, n);
    probe_resp_free(&r);
    if (rc == 0)
        gw_snprintf(detail, n, "issuer %s, audiences %s, tenants %s; metadata advertised", cfg->auth_issuer,
                    cfg->auth_audiences, cfg->auth_allowed_tenants[0] ? cfg->auth_allowed_tenants : "(none)");
    return rc;
}

/* --- the gates, as the seed names their checks --------------------------------- */

static const struct gate_check pre_deployment[] = {
    { "database_health_check", GATE_SEV_CRITICAL, check_database,
      "PostgreSQL answers and the schema is migrated" },
    { "redis_connectivity_test", GATE_SEV_CRITICAL, check_redis, "Redis answers and takes a write" },
    { "azure_oauth_validation", GATE_SEV_CRITICAL, check_identity_provider,
      "issuer, audiences and the issuer's JWKS with usable keys" },
    { "fastmcp_server_health", GATE_SEV_CRITICAL, check_mcp_plane,
      "MCP plane through the web server: metadata, 401 challenge on /mcp" },
    { "fastapi_server_health", GATE_SEV_CRITICAL, check_api_plane,
      "management plane through the web server: /health, /health/ready" },
};

static const struct gate_check post_deployment[] = {
    { "dual_server_communication_test", GATE_SEV_CRITICAL, check_dual_plane,
      "a session made on /mcp is read and seen ended on /api/v1/sessions" },
    { "oauth_flow_end_to_end_test", GATE_SEV_CRITICAL, check_oauth_flow,
      "401 challenge, its resource metadata, a token accepted as its identity" },
    { "database_performance_validation", GATE_SEV_MAJOR, check_db_performance,
      "p95 of the registry query within gates.db_p95_ms" },
    { "middleware_chain_validation", GATE_SEV_MAJOR, check_middleware,
      "request id, Origin check, body limit" },
    { "audit_logging_verification", GATE_SEV_CRITICAL, check_audit_logging,
      "a refused request is in the audit log by its request id" },
};

static const struct gate_check security_validation[] = {
    { "jwt_token_validation_test", GATE_SEV_CRITICAL, check_jwt,
      "valid, expired, tampered, alg none, HS256 with the public key, wrong audience: only valid passes" },
    { "role_based_access_test", GATE_SEV_CRITICAL, check_rbac, "too small a role is 403, enough is 200" },
    { "tenant_isolation_test", GATE_SEV_CRITICAL, check_tenant_isolation,
      "another tenant's admin cannot read or list a tenant's session" },
    { "audit_trail_completeness", GATE_SEV_CRITICAL, check_audit_chain, "the whole hash chain verifies" },
    { "azure_app_registration_validation", GATE_SEV_MAJOR, check_app_registration,
      "issuer https, no foreign audience, no open Entra tenant list, metadata served" },
};

static const struct gate_def gates[] = {
    { "pre_deployment", pre_deployment, GW_ARRAY_LEN(pre_deployment) },
    { "post_deployment", post_deployment, GW_ARRAY_LEN(post_deployment) },
    { "security_validation", security_validation, GW_ARRAY_LEN(security_validation) },
};

const struct gate_def *gates_table(size_t *n)
{
    *n = GW_ARRAY_LEN(gates);
    return gates;
}
