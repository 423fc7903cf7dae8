/* MCP Streamable HTTP client towards upstream servers (libcurl, one kept-alive
 * handle per responder): discovery, health probes, upstream credentials. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "build-config.h"
#include "app.h"
#include "log.h"
#include "mcp/era.h"
#include "mcp/jsonrpc.h"
#include "secrets.h"
#include "js.h"
#include "sse.h"
#include "store_redis.h"
#include "upstream.h"
#include "upstream_int.h"
#include "util.h"

#define UP_PROTOCOL_VERSION "2025-11-25"
#define UP_MAX_RESPONSE (8L * 1024 * 1024)   /* one upstream answer */
#define UP_MAX_STREAM (32L * 1024 * 1024)    /* all the events of one event stream */
#define UP_MAX_PAGES 100                      /* per list: a cursor loop ends here */
#define UP_MAX_ITEMS 5000                     /* per list */
#define UP_TOKEN_MAX 4096                     /* OAuth access token */
#define UP_DELETE_MS 1000                     /* session DELETE at the end, at most */

/* Protocol revisions this client speaks (the server picks one in initialize). */
static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26" };

const char *up_status_name(enum up_status s)
{
    switch (s) {
    case UP_OK: return "ok";
    case UP_URL_REFUSED: return "url_refused";
    case UP_UNREACHABLE: return "unreachable";
    case UP_TIMEOUT: return "timed_out";
    case UP_NOT_MCP: return "not_mcp";
    case UP_AUTH_REFUSED: return "auth_refused";
    case UP_PROTOCOL_ERROR: return "protocol_error";
    case UP_TOO_LARGE: return "too_large";
    }
    return "unknown";
}

/* ---- per-responder handle ------------------------------------------------ */

struct up_state {
    CURL *h;
    pid_t pid;
};

void up_state_free(struct gw_app *app)
{
    if (app->upstream == NULL)
        return;
    /* A handle inherited across fork shares its sockets (and TLS state) with
     * the parent: closing them here would break the parent's connections. */
    if (app->upstream->pid == gw_pid() && app->upstream->h != NULL)
        curl_easy_cleanup(app->upstream->h);
    free(app->upstream);
    app->upstream = NULL;
}

static CURL *handle(struct gw_app *app)
{
    if (app->upstream != NULL && app->upstream->pid != gw_pid())
        up_state_free(app);
    if (app->upstream == NULL) {
        app->upstream = calloc(1, sizeof(*app->upstream));
        if (app->upstream == NULL)
            return NULL;
        app->upstream->pid = gw_pid();
    }
    if (app->upstream->h == NULL)
        app->upstream->h = curl_easy_init();
    else
        curl_easy_reset(app->upstream->h); /* options only: live connections stay */
    return app->upstream->h;
}

/* ---- one HTTP exchange ----------------------------------------------------- */

struct conn {
    struct gw_app *app;
    const struct up_target *t;
    const struct up_auth *auth;
    struct up_url url;
    int64_t deadline;               /* monotonic ms */
    char session_id[256];
    char protocol_version[32];
    char token[UP_TOKEN_MAX];       /* bearer for oauth_client_credentials */
    long next_id;
    int rpc_error;                  /* code of the last JSON-RPC error answer, 0 = none */
    /* MCP 2026-07-28: the request being sent, mirrored in Mcp-Method and Mcp-Name. */
    bool modern;
    char rpc_method[64];
    char rpc_name[512];
    struct json_object *extra_headers;  /* {name: value}, borrowed, may be NULL */
    /* While a forwarded call opens its session: the caller's tick (about once
     * a second; non-zero stops the exchange), so that its wait (a task's 202
     * after wait_ms) and its leaving are noticed while the upstream is slow
     * to answer initialize, as they are during the call itself. */
    int (*tick)(void *arg);
    void *tick_arg;
    char *why;
    size_t n;
};

struct xfer {
    CURL *h;
    const struct gw_config *cfg;
    const char *scheme;             /* of the URL being fetched (connect-time policy) */
    bool refused;
    char refused_why[256];
    char content_type[128];
    char session_id[256];
    bool session_id_bad;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    long max_len;                   /* the limit too_large refers to */
    size_t stream_len;              /* data of the events read so far */
    bool sse;
    bool sse_started;
    struct sse_parser parser;
    long want_id;                   /* 0: no answer expected */
    struct json_object *want_jid;   /* or this id (a client's, forwarded), borrowed */
    int depth;
    struct json_object *answer;     /* the JSON-RPC response to want_id */
    bool stray;                     /* SSE data that was not JSON-RPC */
    bool done;
    /* Forwarding: every other message of the stream goes to relay as it
     * arrives (NULL once when the stream starts); non-zero: the client left. */
    up_relay_fn relay;
    void *relay_arg;
    bool client_gone;
    int64_t done_at;                /* monotonic ms when the answer arrived */
    int (*tick)(void *arg);
    void (*early_answer)(void *arg, struct json_object *answer);
    int64_t last_tick;
};

/* How long a stream may go on after its answer before we close it (curl
 * calls on_progress about once a second on a quiet transfer, so up to that
 * more). */
#define UP_DRAIN_MS 250

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (x->done)
        return x->done_at > 0 && gw_monotonic_ms() - x->done_at > UP_DRAIN_MS;
    if (x->tick != NULL) {
        int64_t now = gw_monotonic_ms();

        if (x->last_tick == 0)
            x->last_tick = now;
        if (now - x->last_tick >= 1000) {
            x->last_tick = now;
            if (x->tick(x->relay_arg) != 0) {
                x->client_gone = true;
                return 1;
            }
        }
    }
    return 0;
}

/* Connect-time half of the URL policy: the address curl is about to connect
 * to, whatever DNS answered this time. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = arg;
    unsigned char addr[16];

    (void)purpose;
    if (up_addr_from_sockaddr(&a->addr, addr) != 0) {
        x->refused = true;
        gw_snprintf(x->refused_why, sizeof(x->refused_why), "address family %d refused", a->family);
        return CURL_SOCKET_BAD;
    }
    if (up_addr_allowed(x->cfg, x->scheme, addr, x->refused_why, sizeof(x->refused_why)) != 0) {
        x->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * nmemb, nlen;
    const char *colon = memchr(buf, ':', len);
    const char *v, *end = buf + len;

    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue): forget the previous headers. */
        x->content_type[0] = x->session_id[0] = '\0';
        return len;
    }
    if (colon == NULL)
        return len;
    nlen = (size_t)(colon - buf);
    v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (nlen == 12 && strncasecmp(buf, "Content-Type", 12) == 0) {
        gw_snprintf(x->content_type, sizeof(x->content_type), "%.*s", (int)(end - v), v);
    } else if (nlen == 14 && strncasecmp(buf, "Mcp-Session-Id", 14) == 0) {
        /* MCP: visible ASCII only; anything else is refused, not echoed back. */
        bool ok = end > v && (size_t)(end - v) < sizeof(x->session_id);

        for (const char *p = v; ok && p < end; p++)
            ok = *p >= 0x21 && *p <= 0x7e;
        if (ok)
            gw_snprintf(x->session_id, sizeof(x->session_id), "%.*s", (int)(end - v), v);
        else
            x->session_id_bad = true;
    }
    return len;
}

static struct json_object *parse_json(const char *s, size_t len, int depth)
{
    struct json_tokener *tok = json_tokener_new_ex(depth);
    struct json_object *o;

    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, s, (int)len);
    if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
                      tok->char_offset < (int)len)) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* Is o the JSON-RPC response to id (or, when jid is given, to jid)? */
static bool is_response_to(struct json_object *o, long id, struct json_object *jid)
{
    struct json_object *v, *idv;

    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "jsonrpc", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "2.0") != 0 || !json_object_object_get_ex(o, "id", &idv) ||
        json_object_object_get_ex(o, "method", NULL) ||
        !(json_object_object_get_ex(o, "result", NULL) || json_object_object_get_ex(o, "error", NULL)))
        return false;
    if (jid != NULL)
        return jr_id_equal(idv, jid);
    return json_object_is_type(idv, json_type_int) && json_object_get_int64(idv) == id;
}

static int on_sse_event(const struct sse_event *ev, void *arg)
{
    struct xfer *x = arg;
    struct json_object *o;

    /* Each event is bounded by the parser; their sum here: a stream that
     * goes on and on within the deadline is relayed only so far. */
    x->stream_len += ev->data_len;
    if (x->stream_len > (size_t)UP_MAX_STREAM) {
        x->too_large = true;
        x->max_len = UP_MAX_STREAM;
        return 1;
    }
    if (strcmp(ev->type, "message") != 0)
        return 0;
    o = parse_json(ev->data, ev->data_len, x->depth);
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "jsonrpc", NULL)) {
        x->stray = true;
        json_object_put(o);
        return 0;
    }
    if ((x->want_id != 0 || x->want_jid != NULL) && x->answer == NULL &&
        is_response_to(o, x->want_id, x->want_jid)) {
        x->answer = o;
        x->done = true;
        x->done_at = gw_monotonic_ms();
        if (x->early_answer != NULL)
            x->early_answer(x->relay_arg, o);
        return 1;
    }
    if (x->relay != NULL) {
        int rc = x->relay(x->relay_arg, o);

        json_object_put(o);
        if (rc != 0) {
            x->client_gone = true;
            return 1;
        }
        return 0;
    }
    /* Notifications and server requests on the way (progress, logging, ping):
     * discovery neither needs nor answers them. */
    json_object_put(o);
    return 0;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * nmemb;

    if (x->done)
        return len; /* the rest of a stream whose answer we have */
    if (!x->sse_started) {
        x->sse_started = true;
        x->sse = strncasecmp(x->content_type, "text/event-stream", 17) == 0;
        if (x->sse)
            sse_init(&x->parser, UP_MAX_RESPONSE, on_sse_event, x);
        if (x->sse && x->relay != NULL && x->relay(x->relay_arg, NULL) != 0) {
            x->client_gone = true;
            return 0;
        }
    }
    if (x->sse) {
        int rc = sse_feed(&x->parser, buf, len);

        if (rc == SSE_TOO_LARGE || rc == SSE_NO_MEMORY) {
            x->too_large = true;
            return 0;
        }
        if (x->client_gone || x->too_large)
            return 0;
        /* Answer in hand: a stream of known length ends by itself (and the
         * connection stays usable); one that may stay open must not hold us. */
        if (x->done) {
            curl_off_t cl = -1;

            /* Forwarding: servers end the stream right after the answer;
             * reading to that end keeps the connection for the next call
             * (on_progress stops a stream that does not end). */
            if (x->relay != NULL)
                return len;
            curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            return cl >= 0 ? len : 0;
        }
        return len;
    }
    if (len > (size_t)UP_MAX_RESPONSE - x->body_len) {
        x->too_large = true;
        return 0;
    }
    if (x->body_len + len + 1 > x->body_cap) {
        /* Doubling: a large answer arriving in small chunks is copied a
         * few times, not once per chunk. */
        size_t cap = x->body_cap ? x->body_cap : 4096;
        char *nb;

        while (cap < x->body_len + len + 1)
            cap *= 2;
        if ((nb = realloc(x->body, cap)) == NULL)
            return 0;
        x->body = nb;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, buf, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return len;
}

static void xfer_free(struct xfer *x)
{
    if (x->sse_started && x->sse)
        sse_free(&x->parser);
    free(x->body);
    json_object_put(x->answer);
}

/* Header lines must not smuggle in another header (CR/LF) or a NUL. */
static bool header_value_ok(const char *v)
{
    for (; *v != '\0'; v++)
        if (*v == '\r' || *v == '\n')
            return false;
    return true;
}

static bool header_name_ok(const char *name)
{
    static const char *const ours[] = { "content-type", "accept", "mcp-session-id",
                                        "mcp-protocol-version", "host", "content-length",
                                        "transfer-encoding", "connection" };

    if (name == NULL || name[0] == '\0' || strlen(name) > 128)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    for (size_t i = 0; i < GW_ARRAY_LEN(ours); i++)
        if (strcasecmp(name, ours[i]) == 0)
            return false;
    return true;
}

/* Perform one request on the responder's handle. method "POST" (body JSON or
 * form) or "DELETE". Fills x; the curl result and HTTP status come back. */
static CURLcode perform(struct conn *c, const char *method, const char *url, const char *scheme,
                        const char *body, struct curl_slist *headers, struct xfer *x,
                        long *status, char *errbuf, int64_t cap_ms)
{
    CURL *h = handle(c->app);
    int64_t left = c->deadline - gw_monotonic_ms();
    CURLcode cc;

    *status = 0;
    errbuf[0] = '\0';
    if (h == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (cap_ms > 0 && left > cap_ms)
        left = cap_ms;
    if (left <= 0)
        return CURLE_OPERATION_TIMEDOUT;
    x->h = h;
    x->cfg = &c->app->cfg;
    x->scheme = scheme;
    x->depth = c->app->cfg.json_depth;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* The connect-time check must see the real peer: never a proxy, and no
     * redirect to somewhere else. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(left < c->app->cfg.upstream_connect_timeout_ms
                                ? left : c->app->cfg.upstream_connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->app->cfg.upstream_ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, c->app->cfg.upstream_ca_file);
    curl_easy_setopt(h, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (x->relay != NULL || x->tick != NULL) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    /* The handle outlives this call: drop pointers into our stack frame. */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    return cc;
}

/* Transport-level failure of perform() to a status; UP_OK when there is none. */
static enum up_status transport_status(struct conn *c, const char *what, CURLcode cc,
                                       struct xfer *x, const char *errbuf)
{
    /* One refused address fails the exchange even when curl connected to
     * another: the answer changed since the check, and not for the better. */
    if (x->refused) {
        gw_snprintf(c->why, c->n, "%s: refused at connect time: %s", what, x->refused_why);
        return UP_URL_REFUSED;
    }
    if (x->too_large) {
        gw_snprintf(c->why, c->n, "%s: %s larger than %ld bytes", what,
                    x->max_len == UP_MAX_STREAM ? "event stream" : "answer",
                    x->max_len != 0 ? x->max_len : UP_MAX_RESPONSE);
        return UP_TOO_LARGE;
    }
    if (x->client_gone) {
        gw_snprintf(c->why, c->n, "%s: the client went away; the upstream call was stopped", what);
        return UP_UNREACHABLE;
    }
    if (cc == CURLE_OK || x->done)
        return UP_OK;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        gw_snprintf(c->why, c->n, "%s: no answer within the deadline", what);
        return UP_TIMEOUT;
    }
    gw_snprintf(c->why, c->n, "%s: %s%s%s", what, curl_easy_strerror(cc),
                errbuf[0] ? ": " : "", errbuf);
    return UP_UNREACHABLE;
}

/* HTTP status other than success to a status, with the reason. */
static enum up_status http_status(struct conn *c, const char *what, long status, bool in_session)
{
    if (status == 401 || status == 403) {
        gw_snprintf(c->why, c->n, "%s: the upstream refused our credentials (HTTP %ld)", what, status);
        return UP_AUTH_REFUSED;
    }
    if (status >= 500) {
        gw_snprintf(c->why, c->n, "%s: the upstream failed (HTTP %ld)", what, status);
        return UP_UNREACHABLE;
    }
    if (status >= 300 && status < 400) {
        gw_snprintf(c->why, c->n, "%s: redirected (HTTP %ld); redirects are not followed, "
                    "register the final URL", what, status);
        return UP_NOT_MCP;
    }
    if (!in_session && (status == 404 || status == 405 || status == 406 || status == 415)) {
        gw_snprintf(c->why, c->n, "%s: no MCP endpoint at this URL (HTTP %ld)", what, status);
        return UP_NOT_MCP;
    }
    gw_snprintf(c->why, c->n, "%s: the upstream answered HTTP %ld%s", what, status,
                in_session && status == 404 ? " (session ended)" : "");
    return UP_PROTOCOL_ERROR;
}

static struct curl_slist *add_header(struct curl_slist *l, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct curl_slist *add_header(struct curl_slist *l, bool *ok, const char *fmt, ...)
{
    char line[UP_TOKEN_MAX + 256];
    struct curl_slist *nl;
    va_list ap;
    int w;

    if (!*ok)
        return l;
    va_start(ap, fmt);
    w = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof(line) || (nl = curl_slist_append(l, line)) == NULL) {
        *ok = false;
        return l;
    }
    return nl;
}

/* Headers of an MCP request: content negotiation, session, credentials. */
static struct curl_slist *mcp_headers(struct conn *c, bool with_body)
{
    struct curl_slist *l = NULL;
    bool ok = true;
    const struct up_auth *a = c->auth;

    if (with_body) {
        l = add_header(l, &ok, "Content-Type: application/json");
        l = add_header(l, &ok, "Accept: application/json, text/event-stream");
    }
    if (c->session_id[0] != '\0')
        l = add_header(l, &ok, "Mcp-Session-Id: %s", c->session_id);
    if (c->protocol_version[0] != '\0')
        l = add_header(l, &ok, "MCP-Protocol-Version: %s", c->protocol_version);
    if (c->modern && with_body && c->rpc_method[0] != '\0') {
        l = add_header(l, &ok, "Mcp-Method: %s", c->rpc_method);
        if (c->rpc_name[0] != '\0')
            l = add_header(l, &ok, "Mcp-Name: %s", c->rpc_name);
        if (c->extra_headers != NULL) {
            json_object_object_foreach(c->extra_headers, hk, hv) {
                const char *v = json_object_get_string(hv);

                if (!header_name_ok(hk) || v == NULL || !header_value_ok(v))
                    ok = false;
                else
                    l = add_header(l, &ok, "%s: %s", hk, v);
            }
        }
    }
    if (a != NULL && a->type != NULL) {
        if (strcmp(a->type, "bearer") == 0)
            l = add_header(l, &ok, "Authorization: Bearer %s", a->token);
        else if (strcmp(a->type, "header") == 0)
            l = add_header(l, &ok, "%s: %s", a->header_name, a->header_value);
        else if (strcmp(a->type, "oauth_client_credentials") == 0)
            l = add_header(l, &ok, "Authorization: Bearer %s", c->token);
    }
    if (!ok) {
        curl_slist_free_all(l);
        return NULL;
    }
    return l;
}

/* ---- OAuth client credentials ------------------------------------------- */

static bool is_oauth(const struct up_auth *a)
{
    return a != NULL && a->type != NULL && strcmp(a->type, "oauth_client_credentials") == 0;
}

/* Redis key of a server's token, and the name the sealed token is bound to:
 * the server and the credentials it was fetched with (token URL, client,
 * scope; never the secret), so that neither another server's entry nor a
 * token of replaced credentials ever opens as this one's. */
static int token_key(struct conn *c, char *key, size_t kn, char *aad, size_t an)
{
    char material[2048], hex[65];
    const struct up_auth *a = c->auth;

    if (c->t->cache_id == NULL || c->t->cache_id[0] == '\0')
        return -1;
    if (gw_snprintf(material, sizeof(material), "%s\n%s\n%s", a->token_url,
                    a->client_id ? a->client_id : "", a->scope ? a->scope : "") != 0)
        return -1;
    gw_sha256_hex(material, strlen(material), hex);
    if (gw_snprintf(aad, an, "upstream-token:%s:%s", c->t->cache_id, hex) != 0)
        return -1;
    return rds_key(c->app, key, kn, "upstream:oauth:%s", c->t->cache_id);
}

/* The access token is a credential: in Redis only sealed with the gateway's
 * secret key (AES-256-GCM); without a key it is not cached at all. */
static const struct sec_key *token_seal_key(struct conn *c)
{
    char why[256];
    const struct sec_key *k = sec_key_for(&c->app->cfg, why, sizeof(why));

    if (k == NULL)
        log_info("upstream_token_cache", "access tokens are not cached: %s", why);
    return k;
}

static bool token_from_cache(struct conn *c)
{
    char key[512], aad[512];
    const struct sec_key *k;
    unsigned char *pt = NULL;
    size_t pt_len = 0;
    redisReply *r;
    bool hit = false;

    if (token_key(c, key, sizeof(key), aad, sizeof(aad)) != 0 || (k = token_seal_key(c)) == NULL)
        return false;
    r = rds_cmd(c->app, "GET %s", key);
    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        sec_open(k, aad, (const unsigned char *)r->str, r->len, &pt, &pt_len) == 0) {
        hit = pt_len > 0 && gw_strlcpy(c->token, (const char *)pt, sizeof(c->token)) == 0;
        sec_free(pt, pt_len);
    }
    if (r != NULL)
        freeReplyObject(r);
    return hit;
}

/* Renew before expiry: a token is cached for expires_in minus a tenth of it
 * (at least 1 s, at most 60 s), so no request carries one about to lapse. */
static void token_to_cache(struct conn *c, long expires_in)
{
    char key[512], aad[512];
    const struct sec_key *k;
    unsigned char *sealed = NULL;
    size_t sealed_len = 0;
    long margin, ttl;
    redisReply *r;

    if (token_key(c, key, sizeof(key), aad, sizeof(aad)) != 0 || (k = token_seal_key(c)) == NULL)
        return;
    if (expires_in <= 0)
        expires_in = 300; /* RFC 6749: the server may omit it; assume a short life */
    margin = expires_in / 10;
    margin = margin < 1 ? 1 : margin > 60 ? 60 : margin;
    ttl = expires_in - margin;
    if (ttl <= 0 || sec_seal(k, aad, (const unsigned char *)c->token, strlen(c->token), &sealed,
                             &sealed_len) != 0)
        return;
    r = rds_cmd(c->app, "SET %s %b EX %ld", key, sealed, sealed_len, ttl);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        log_warn("upstream_token_cache", "cannot cache the access token of server %s", c->t->cache_id);
    if (r != NULL)
        freeReplyObject(r);
    free(sealed);
}

void up_oauth_forget(struct gw_app *app, const char *cache_id)
{
    char key[512];
    redisReply *r;

    if (cache_id == NULL || rds_key(app, key, sizeof(key), "upstream:oauth:%s", cache_id) != 0)
        return;
    r = rds_cmd(app, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
}

static int form_add(char *form, size_t n, const char *name, const char *value)
{
    char *esc;
    size_t used = strlen(form);
    int rc;

    if (value == NULL || value[0] == '\0')
        return 0;
    esc = curl_easy_escape(NULL, value, 0);
    if (esc == NULL)
        return -1;
    rc = gw_snprintf(form + used, n - used, "%s%s=%s", used ? "&" : "", name, esc);
    curl_free(esc);
    return rc;
}

/* POST the client credentials to the token endpoint (itself under the URL
 * policy); the access token into c->token. */
static enum up_status token_fetch(struct conn *c)
{
    const struct up_auth *a = c->auth;
    struct up_url tu;
    struct xfer x;
    struct curl_slist *hdr = NULL;
    struct json_object *doc = NULL, *v;
    char form[4096] = "", errbuf[CURL_ERROR_SIZE], why[512];
    bool unresolvable, ok = true;
    enum up_status st;
    long status, expires_in = 0;
    CURLcode cc;

    memset(&x, 0, sizeof(x));
    if (a->token_url == NULL || a->client_id == NULL || a->client_secret == NULL) {
        gw_snprintf(c->why, c->n, "oauth_client_credentials needs token_url, client_id and client_secret");
        return UP_AUTH_REFUSED;
    }
    if (up_url_check_ex(&c->app->cfg, a->token_url, &unresolvable, why, sizeof(why)) != 0) {
        gw_snprintf(c->why, c->n, "token_url: %s", why);
        return unresolvable ? UP_UNREACHABLE : UP_URL_REFUSED;
    }
    if (up_url_parse(a->token_url, &tu, why, sizeof(why)) != 0 ||
        form_add(form, sizeof(form), "grant_type", "client_credentials") != 0 ||
        form_add(form, sizeof(form), "client_id", a->client_id) != 0 ||
        form_add(form, sizeof(form), "client_secret", a->client_secret) != 0 ||
        form_add(form, sizeof(form), "scope", a->scope) != 0) {
        gw_snprintf(c->why, c->n, "token request: credentials too long");
        st = UP_AUTH_REFUSED;
        goto out;
    }
    hdr = add_header(hdr, &ok, "Content-Type: application/x-www-form-urlencoded");
    hdr = add_header(hdr, &ok, "Accept: application/json");
    if (!ok) {
        gw_snprintf(c->why, c->n, "out of memory");
        st = UP_UNREACHABLE;
        goto out;
    }
    cc = perform(c, "POST", a->token_url, tu.scheme, form, hdr, &x, &status, errbuf, 0);
    if ((st = transport_status(c, "token request", cc, &x, errbuf)) != UP_OK)
        goto out;
    doc = x.body ? parse_json(x.body, x.body_len, 8) : NULL;
    if (status != 200) {
        const char *err = NULL;

        if (doc != NULL && json_object_object_get_ex(doc, "error", &v) &&
            json_object_is_type(v, json_type_string))
            err = json_object_get_string(v);
        /* The error code is the server's word (RFC 6749 5.2), never our secret. */
        gw_snprintf(c->why, c->n, "the token endpoint refused our client credentials (HTTP %ld%s%.64s)",
                    status, err ? ": " : "", err ? err : "");
        st = status >= 500 ? UP_UNREACHABLE : UP_AUTH_REFUSED;
        goto out;
    }
    if (doc == NULL || !json_object_object_get_ex(doc, "access_token", &v) ||
        !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
        gw_strlcpy(c->token, json_object_get_string(v), sizeof(c->token)) != 0 ||
        !header_value_ok(c->token)) {
        gw_snprintf(c->why, c->n, "the token endpoint answered no usable access_token");
        st = UP_AUTH_REFUSED;
        goto out;
    }
    if (json_object_object_get_ex(doc, "token_type", &v) &&
        strcasecmp(json_object_get_string(v), "bearer") != 0) {
        gw_snprintf(c->why, c->n, "the token endpoint issued a %.32s token, not a bearer token",
                    json_object_get_string(v));
        st = UP_AUTH_REFUSED;
        goto out;
    }
    if (json_object_object_get_ex(doc, "expires_in", &v))
        expires_in = (long)json_object_get_int64(v);
    token_to_cache(c, expires_in);
    log_info("upstream_token", "fetched an access token for server %s (expires in %ld s)",
             c->t->cache_id ? c->t->cache_id : "(unregistered)", expires_in);
    st = UP_OK;
out:
    json_object_put(doc);
    curl_slist_free_all(hdr);
    xfer_free(&x);
    OPENSSL_cleanse(form, sizeof(form));
    return st;
}

/* ---- JSON-RPC over Streamable HTTP ----------------------------------------- */

static enum up_status credentials_ready(struct conn *c)
{
    const struct up_auth *a = c->auth;

    if (a == NULL || a->type == NULL || strcmp(a->type, "none") == 0)
        return UP_OK;
    if (strcmp(a->type, "bearer") == 0) {
        if (a->token == NULL || a->token[0] == '\0' || !header_value_ok(a->token)) {
            gw_snprintf(c->why, c->n, "auth.token is missing or holds a line break");
            return UP_AUTH_REFUSED;
        }
        return UP_OK;
    }
    if (strcmp(a->type, "header") == 0) {
        if (!header_name_ok(a->header_name) || a->header_value == NULL ||
            !header_value_ok(a->header_value)) {
            gw_snprintf(c->why, c->n, "auth.header_name must be a header token other than the "
                        "protocol's own, and auth.header_value one line");
            return UP_AUTH_REFUSED;
        }
        return UP_OK;
    }
    if (strcmp(a->type, "oauth_client_credentials") == 0)
        return token_from_cache(c) ? UP_OK : token_fetch(c);
    gw_snprintf(c->why, c->n, "auth.type '%.40s' is not none, bearer, header or oauth_client_credentials",
                a->type);
    return UP_AUTH_REFUSED;
}

/* One exchange. params is borrowed (may be NULL). For a request, *result
 * receives the result member (owned). A notification expects no answer. */
/* ---- MCP 2026-07-28: the stateless envelope ------------------------------- */

bool up_era_modern(const char *protocol_version)
{
    return protocol_version != NULL && strcmp(protocol_version, UP_MODERN_VERSION) == 0;
}

/* What a stateless request must carry (msg is ours to change): its version
 * and the client's capabilities in params._meta, its method and name (tool,
 * prompt or resource) for the headers. -1 when the name cannot be a header. */
static int modern_envelope(struct conn *c, struct json_object *msg, struct json_object *caps)
{
    struct json_object *params = NULL, *meta = NULL;
    const char *method = js_str(msg, "method"), *name;

    c->rpc_method[0] = c->rpc_name[0] = '\0';
    if (method == NULL)
        return 0;
    /* The method is the client's, as the name is: no CR/LF may end the
     * header line early (another header, or a request smuggled in). */
    if (strlen(method) >= sizeof(c->rpc_method) || !header_value_ok(method)) {
        gw_snprintf(c->why, c->n, "the method cannot be sent in the Mcp-Method header");
        return -1;
    }
    gw_strlcpy(c->rpc_method, method, sizeof(c->rpc_method));
    if (!json_object_object_get_ex(msg, "params", &params) || !json_object_is_type(params, json_type_object)) {
        params = json_object_new_object();
        json_object_object_add(msg, "params", params);
    }
    if (!json_object_object_get_ex(params, "_meta", &meta) || !json_object_is_type(meta, json_type_object)) {
        meta = json_object_new_object();
        json_object_object_add(params, "_meta", meta);
    }
    json_object_object_add(meta, "io.modelcontextprotocol/protocolVersion",
                           json_object_new_string(UP_MODERN_VERSION));
    json_object_object_add(meta, "io.modelcontextprotocol/clientCapabilities",
                           caps != NULL ? json_object_get(caps) : json_object_new_object());
    name = strcmp(method, "resources/read") == 0 || strncmp(method, "resources/", 10) == 0
               ? js_str(params, "uri") : js_str(params, "name");
    /* Header values are visible ASCII: any other name goes base64-encoded,
     * as the revision has it. */
    if (name != NULL && (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
                         strcmp(method, "resources/read") == 0) &&
        mce_header_encode(name, c->rpc_name, sizeof(c->rpc_name)) != 0) {
        gw_snprintf(c->why, c->n, "%s: the name cannot be sent in the Mcp-Name header", method);
        return -1;
    }
    return 0;
}

static enum up_status exchange(struct conn *c, const char *method, struct json_object *params,
                               bool notification, struct json_object **result)
{
    struct json_object *msg = json_object_new_object(), *v;
    struct curl_slist *hdr = NULL;
    struct xfer x;
    char errbuf[CURL_ERROR_SIZE], what[96];
    const char *body;
    long status = 0, id = 0;
    bool retried = false;
    enum up_status st;
    CURLcode cc;

    gw_snprintf(what, sizeof(what), "%s", method);
    if (result != NULL)
        *result = NULL;
    json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
    if (!notification) {
        id = ++c->next_id;
        json_object_object_add(msg, "id", json_object_new_int64(id));
    }
    json_object_object_add(msg, "method", json_object_new_string(method));
    if (params != NULL)
        json_object_object_add(msg, "params", json_object_get(params));
    if (c->modern) {
        /* The envelope goes into a copy: params belong to the caller. */
        struct json_object *copy = NULL;

        if (json_object_deep_copy(msg, &copy, NULL) != 0 || modern_envelope(c, copy, NULL) != 0) {
            json_object_put(copy);
            json_object_put(msg);
            return UP_PROTOCOL_ERROR;
        }
        json_object_put(msg);
        msg = copy;
    }
    body = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
again:
    memset(&x, 0, sizeof(x));
    x.want_id = id;
    x.tick = c->tick;
    x.relay_arg = c->tick_arg;
    hdr = mcp_headers(c, true);
    if (hdr == NULL) {
        gw_snprintf(c->why, c->n, "%s: request headers too long", what);
        st = UP_PROTOCOL_ERROR;
        goto out;
    }
    cc = perform(c, "POST", c->t->url, c->url.scheme, body, hdr, &x, &status, errbuf, 0);
    curl_slist_free_all(hdr);
    hdr = NULL;
    if ((st = transport_status(c, what, cc, &x, errbuf)) != UP_OK)
        goto out;
    if (x.session_id_bad) {
        gw_snprintf(c->why, c->n, "%s: the upstream sent an unusable Mcp-Session-Id", what);
        st = UP_PROTOCOL_ERROR;
        goto out;
    }
    if (x.session_id[0] != '\0' && c->session_id[0] == '\0')
        gw_strlcpy(c->session_id, x.session_id, sizeof(c->session_id));
    /* An OAuth token the upstream no longer takes (revoked, or it restarted):
     * drop it from the cache, fetch a new one, and try once more. */
    if (status == 401 && is_oauth(c->auth) && !retried) {
        retried = true;
        up_oauth_forget(c->app, c->t->cache_id);
        log_info("upstream_token", "server %s refused its cached access token; fetching another",
                 c->t->cache_id ? c->t->cache_id : "(unregistered)");
        if ((st = token_fetch(c)) != UP_OK)
            goto out;
        xfer_free(&x);
        goto again;
    }
    if (notification) {
        if (status != 200 && status != 202 && status != 204) {
            st = http_status(c, what, status, c->session_id[0] != '\0');
            goto out;
        }
        st = UP_OK;
        goto out;
    }
    if (!x.sse && x.body != NULL && strncasecmp(x.content_type, "application/json", 16) == 0) {
        struct json_object *o = parse_json(x.body, x.body_len, c->app->cfg.json_depth);

        if (o != NULL && is_response_to(o, id, NULL))
            x.answer = o;
        else if (o != NULL && json_object_is_type(o, json_type_object) &&
                 json_object_object_get_ex(o, "jsonrpc", NULL) && status == 200) {
            json_object_put(o);
            gw_snprintf(c->why, c->n, "%s: a JSON-RPC message that does not answer our request", what);
            st = UP_PROTOCOL_ERROR;
            goto out;
        } else {
            json_object_put(o);
        }
    }
    if (x.answer != NULL && json_object_object_get_ex(x.answer, "error", &v)) {
        struct json_object *code = NULL, *message = NULL;

        json_object_object_get_ex(v, "code", &code);
        json_object_object_get_ex(v, "message", &message);
        c->rpc_error = json_object_get_int(code);
        gw_snprintf(c->why, c->n, "%s: the upstream answered error %d: %.200s", what,
                    json_object_get_int(code),
                    message ? json_object_get_string(message) : "(no message)");
        st = status == 401 || status == 403 ? UP_AUTH_REFUSED : UP_PROTOCOL_ERROR;
        goto out;
    }
    if (status != 200) {
        st = http_status(c, what, status, c->session_id[0] != '\0');
        goto out;
    }
    if (x.answer == NULL) {
        if (x.sse)
            gw_snprintf(c->why, c->n, "%s: the event stream ended without a JSON-RPC answer", what);
        else if (strncasecmp(x.content_type, "application/json", 16) == 0)
            gw_snprintf(c->why, c->n, "%s: JSON that is not a JSON-RPC answer", what);
        else
            gw_snprintf(c->why, c->n, "%s: answered %.60s, not JSON-RPC (application/json or "
                        "text/event-stream)", what, x.content_type[0] ? x.content_type : "no content type");
        st = UP_NOT_MCP;
        goto out;
    }
    json_object_object_get_ex(x.answer, "result", &v);
    if (!json_object_is_type(v, json_type_object)) {
        gw_snprintf(c->why, c->n, "%s: the result is not an object", what);
        st = UP_PROTOCOL_ERROR;
        goto out;
    }
    *result = json_object_get(v);
    st = UP_OK;
out:
    xfer_free(&x);
    json_object_put(msg);
    return st;
}

/* End the upstream session (MCP: a client SHOULD DELETE it); a server may
 * answer 405 when it does not allow that. Best effort, briefly. */
static void end_session(struct conn *c)
{
    struct curl_slist *hdr;
    struct xfer x;
    char errbuf[CURL_ERROR_SIZE];
    long status;

    if (c->session_id[0] == '\0')
        return;
    memset(&x, 0, sizeof(x));
    hdr = mcp_headers(c, false);
    if (hdr != NULL && c->deadline - gw_monotonic_ms() <= 0)
        c->deadline = gw_monotonic_ms() + UP_DELETE_MS;
    if (hdr != NULL)
        perform(c, "DELETE", c->t->url, c->url.scheme, NULL, hdr, &x, &status, errbuf, UP_DELETE_MS);
    curl_slist_free_all(hdr);
    xfer_free(&x);
    c->session_id[0] = '\0';
}

/* resolve: check every address the name has now (discovery, probes). The
 * forwarding path leaves that to the connect-time check alone, which sees
 * each new connection's real peer: no resolver call of its own per request
 * (nor one that could outlast the deadline). */
static enum up_status conn_open_ex(struct conn *c, struct gw_app *app, const struct up_target *t,
                                   bool resolve, char *why, size_t n)
{
    bool unresolvable;
    int timeout;

    memset(c, 0, sizeof(*c));
    c->app = app;
    c->t = t;
    c->auth = t->auth;
    c->why = why;
    c->n = n;
    why[0] = '\0';
    /* The operator's upstream.timeout_ms bounds every exchange made here: a
     * registration's own timeout_ms may shorten it, never stretch it. */
    timeout = app->cfg.upstream_timeout_ms;
    if (t->timeout_ms > 0 && t->timeout_ms < timeout)
        timeout = t->timeout_ms;
    c->deadline = gw_monotonic_ms() + timeout;
    if (resolve && up_url_check_ex(&app->cfg, t->url, &unresolvable, why, n) != 0)
        return unresolvable ? UP_UNREACHABLE : UP_URL_REFUSED;
    if (up_url_parse(t->url, &c->url, why, n) != 0)
        return UP_URL_REFUSED;
    return credentials_ready(c);
}

static enum up_status conn_open(struct conn *c, struct gw_app *app, const struct up_target *t,
                                char *why, size_t n)
{
    return conn_open_ex(c, app, t, true, why, n);
}

static void conn_close(struct conn *c)
{
    OPENSSL_cleanse(c->token, sizeof(c->token));
}

/* initialize, checked; the negotiated version and capabilities go to out. */
static enum up_status initialize(struct conn *c, struct up_catalog *out, struct json_object *caps_in)
{
    struct json_object *params = json_object_new_object(), *info = json_object_new_object();
    struct json_object *result = NULL, *v, *caps, *server;
    enum up_status st;
    const char *ver;
    bool known = false;

    json_object_object_add(info, "name", json_object_new_string(PACKAGE_NAME));
    json_object_object_add(info, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(params, "protocolVersion", json_object_new_string(UP_PROTOCOL_VERSION));
    json_object_object_add(params, "capabilities",
                           caps_in != NULL ? json_object_get(caps_in) : json_object_new_object());
    json_object_object_add(params, "clientInfo", info);
    st = exchange(c, "initialize", params, false, &result);
    json_object_put(params);
    if (st != UP_OK)
        return st;
    if (!json_object_object_get_ex(result, "protocolVersion", &v) ||
        !json_object_is_type(v, json_type_string) ||
        !json_object_object_get_ex(result, "capabilities", &caps) ||
        !json_object_is_type(caps, json_type_object) ||
        !json_object_object_get_ex(result, "serverInfo", &server) ||
        !json_object_is_type(server, json_type_object)) {
        gw_snprintf(c->why, c->n, "initialize: the result lacks protocolVersion, capabilities or serverInfo");
        st = UP_NOT_MCP;
        goto out;
    }
    ver = json_object_get_string(v);
    for (size_t i = 0; i < GW_ARRAY_LEN(versions); i++)
        known = known || strcmp(ver, versions[i]) == 0;
    if (!known) {
        gw_snprintf(c->why, c->n, "initialize: protocol version %.40s is not one we speak", ver);
        st = UP_PROTOCOL_ERROR;
        goto out;
    }
    gw_strlcpy(c->protocol_version, ver, sizeof(c->protocol_version));
    if (out != NULL) {
        gw_strlcpy(out->protocol_version, ver, sizeof(out->protocol_version));
        out->capabilities = json_object_get(caps);
        out->server_info = json_object_get(server);
    }
    st = UP_OK;
out:
    json_object_put(result);
    return st;
}

/* server/discover (MCP 2026-07-28), checked: an upstream that lists the
 * stateless revision among its versions is spoken to in it from now on. Any
 * other answer leaves c as it was, for initialize. */
static enum up_status discover_modern(struct conn *c, struct up_catalog *out)
{
    struct json_object *result = NULL, *versions_list, *caps, *server, *meta;
    enum up_status st;
    bool listed = false;

    c->modern = true;
    gw_strlcpy(c->protocol_version, UP_MODERN_VERSION, sizeof(c->protocol_version));
    st = exchange(c, "server/discover", NULL, false, &result);
    if (st != UP_OK)
        goto out;
    versions_list = js_get(result, "supportedVersions", json_type_array);
    for (size_t i = 0; versions_list != NULL && i < json_object_array_length(versions_list); i++) {
        struct json_object *v = json_object_array_get_idx(versions_list, i);

        listed = listed || (json_object_is_type(v, json_type_string) &&
                            strcmp(json_object_get_string(v), UP_MODERN_VERSION) == 0);
    }
    caps = js_get(result, "capabilities", json_type_object);
    if (!listed || caps == NULL) {
        gw_snprintf(c->why, c->n, "server/discover: %s", caps == NULL ? "the result lacks capabilities"
                    : "the server does not list " UP_MODERN_VERSION " among its versions");
        st = UP_NOT_MCP;
        goto out;
    }
    /* serverInfo moved into _meta in this revision; older drafts kept it beside. */
    meta = js_get(result, "_meta", json_type_object);
    server = js_get(meta, "io.modelcontextprotocol/serverInfo", json_type_object);
    if (server == NULL)
        server = js_get(result, "serverInfo", json_type_object);
    if (out != NULL) {
        gw_strlcpy(out->protocol_version, UP_MODERN_VERSION, sizeof(out->protocol_version));
        out->capabilities = json_object_get(caps);
        out->server_info = server != NULL ? json_object_get(server) : json_object_new_object();
    }
out:
    json_object_put(result);
    if (st != UP_OK) {
        c->modern = false;
        c->protocol_version[0] = c->session_id[0] = '\0';
        c->rpc_error = 0;
    }
    return st;
}

/* Which era the upstream speaks: server/discover first, initialize when the
 * upstream does not know it (an older server answers an error or a 4xx). A
 * failure of the connection itself is the answer: it would fail again. */
static enum up_status learn_era(struct conn *c, struct up_catalog *out)
{
    enum up_status st = discover_modern(c, out);

    if (st == UP_OK || st == UP_UNREACHABLE || st == UP_URL_REFUSED || st == UP_TIMEOUT ||
        st == UP_TOO_LARGE)
        return st;
    c->why[0] = '\0';
    st = initialize(c, out, NULL);
    if (st == UP_OK)
        st = exchange(c, "notifications/initialized", NULL, true, NULL);
    return st;
}

/* Every page of tools/list (prompts/list, resources/list) into *items. The
 * key field each entry must carry as a string: name or uri. */
static enum up_status list_all(struct conn *c, const char *method, const char *member,
                               const char *key, struct json_object **items)
{
    char cursor[1024] = "", prev[1024];
    enum up_status st = UP_OK;

    *items = json_object_new_array();
    for (int page = 0; page < UP_MAX_PAGES; page++) {
        struct json_object *params = NULL, *result = NULL, *arr, *next;

        if (cursor[0] != '\0') {
            params = json_object_new_object();
            json_object_object_add(params, "cursor", json_object_new_string(cursor));
        }
        st = exchange(c, method, params, false, &result);
        json_object_put(params);
        if (st != UP_OK)
            return st;
        if (!json_object_object_get_ex(result, member, &arr) || !json_object_is_type(arr, json_type_array)) {
            gw_snprintf(c->why, c->n, "%s: the result has no %s array", method, member);
            json_object_put(result);
            return UP_PROTOCOL_ERROR;
        }
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *it = json_object_array_get_idx(arr, i), *k;

            if (!json_object_object_get_ex(it, key, &k) || !json_object_is_type(k, json_type_string)) {
                gw_snprintf(c->why, c->n, "%s: an entry without a %s", method, key);
                json_object_put(result);
                return UP_PROTOCOL_ERROR;
            }
            if (json_object_array_length(*items) >= UP_MAX_ITEMS) {
                gw_snprintf(c->why, c->n, "%s: more than %d entries", method, UP_MAX_ITEMS);
                json_object_put(result);
                return UP_PROTOCOL_ERROR;
            }
            json_object_array_add(*items, json_object_get(it));
        }
        gw_strlcpy(prev, cursor, sizeof(prev));
        cursor[0] = '\0';
        if (json_object_object_get_ex(result, "nextCursor", &next) &&
            json_object_is_type(next, json_type_string) &&
            gw_strlcpy(cursor, json_object_get_string(next), sizeof(cursor)) != 0) {
            gw_snprintf(c->why, c->n, "%s: a cursor longer than %zu bytes", method, sizeof(cursor) - 1);
            json_object_put(result);
            return UP_PROTOCOL_ERROR;
        }
        json_object_put(result);
        if (cursor[0] == '\0')
            return UP_OK;
        if (strcmp(cursor, prev) == 0) {
            gw_snprintf(c->why, c->n, "%s: the upstream repeats the same cursor", method);
            return UP_PROTOCOL_ERROR;
        }
    }
    gw_snprintf(c->why, c->n, "%s: more than %d pages", method, UP_MAX_PAGES);
    return UP_PROTOCOL_ERROR;
}

void up_catalog_free(struct up_catalog *c)
{
    if (c == NULL)
        return;
    json_object_put(c->server_info);
    json_object_put(c->capabilities);
    json_object_put(c->tools);
    json_object_put(c->prompts);
    json_object_put(c->resources);
    json_object_put(c->resource_templates);
    memset(c, 0, sizeof(*c));
}

static bool offers(const struct up_catalog *cat, const char *capability)
{
    return json_object_object_get_ex(cat->capabilities, capability, NULL);
}

static void log_outcome(const char *op, const struct up_target *t, enum up_status st, const char *why)
{
    /* Credentials in the URL are refused, but some servers take a key in the
     * query string: log the URL up to its query. */
    int len = (int)strcspn(t->url, "?#");

    if (st == UP_OK)
        log_debug("upstream", "%s %.*s: ok", op, len, t->url);
    else
        log_info("upstream", "%s %.*s: %s: %s", op, len, t->url, up_status_name(st), why);
}

enum up_status up_discover(struct gw_app *app, const struct up_target *t, struct up_catalog *out,
                           char *why, size_t n)
{
    struct conn c;
    enum up_status st;
    static const struct {
        const char *capability, *method, *member, *key;
        size_t offset;
    } lists[] = {
        { "tools", "tools/list", "tools", "name", offsetof(struct up_catalog, tools) },
        { "prompts", "prompts/list", "prompts", "name", offsetof(struct up_catalog, prompts) },
        { "resources", "resources/list", "resources", "uri", offsetof(struct up_catalog, resources) },
        { "resources", "resources/templates/list", "resourceTemplates", "uriTemplate",
          offsetof(struct up_catalog, resource_templates) },
    };

    memset(out, 0, sizeof(*out));
    st = conn_open(&c, app, t, why, n);
    if (st == UP_OK)
        st = learn_era(&c, out);
    for (size_t i = 0; i < GW_ARRAY_LEN(lists) && st == UP_OK; i++) {
        struct json_object **slot = (struct json_object **)((char *)out + lists[i].offset);

        if (offers(out, lists[i].capability)) {
            c.rpc_error = 0;
            st = list_all(&c, lists[i].method, lists[i].member, lists[i].key, slot);
            /* Templates are optional within the resources capability: a
             * server without them may answer "method not found". */
            if (st == UP_PROTOCOL_ERROR && c.rpc_error == -32601 &&
                strcmp(lists[i].method, "resources/templates/list") == 0) {
                json_object_put(*slot);
                *slot = json_object_new_array();
                why[0] = '\0';
                st = UP_OK;
            }
        } else {
            *slot = json_object_new_array();
        }
    }
    end_session(&c);
    conn_close(&c);
    if (st != UP_OK)
        up_catalog_free(out);
    log_outcome("discover", t, st, why);
    return st;
}

enum up_status up_probe(struct gw_app *app, const struct up_target *t, long *latency_ms,
                        char *why, size_t n)
{
    struct conn c;
    enum up_status st;
    int64_t start;

    *latency_ms = -1;
    st = conn_open(&c, app, t, why, n);
    if (st == UP_OK) {
        start = gw_monotonic_ms();
        st = up_era_modern(t->protocol_version) ? discover_modern(&c, NULL) : initialize(&c, NULL, NULL);
        *latency_ms = (long)(gw_monotonic_ms() - start);
    }
    end_session(&c);
    conn_close(&c);
    log_outcome("probe", t, st, why);
    return st;
}

/* ---- forwarding ---------------------------------------------------------------- */

/* POST msg on the connection's session. With want (the request's id) the
 * answer lands in *answer; *gone is set when the upstream forgot the session
 * (404 on a session we sent). */
static enum up_status forward_once(struct conn *c, struct json_object *msg, struct json_object *want,
                                   struct up_forward *f, struct json_object **answer, bool *gone)
{
    const char *body = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    const char *method = NULL;
    struct json_object *v;
    struct curl_slist *hdr;
    struct xfer x;
    char errbuf[CURL_ERROR_SIZE], what[96];
    bool retried = false, had_session = c->session_id[0] != '\0';
    long status = 0;
    enum up_status st;
    CURLcode cc;

    *gone = false;
    if (answer != NULL)
        *answer = NULL;
    if (json_object_object_get_ex(msg, "method", &v) && json_object_is_type(v, json_type_string))
        method = json_object_get_string(v);
    gw_snprintf(what, sizeof(what), "%.80s", method != NULL ? method : "response");
again:
    memset(&x, 0, sizeof(x));
    x.want_jid = want;
    if (f != NULL) {
        x.relay = f->relay;
        x.tick = f->tick;
        x.early_answer = f->early_answer;
        x.relay_arg = f->relay_arg;
    }
    hdr = mcp_headers(c, true);
    if (hdr == NULL) {
        gw_snprintf(c->why, c->n, "%s: request headers too long", what);
        return UP_PROTOCOL_ERROR;
    }
    cc = perform(c, "POST", c->t->url, c->url.scheme, body, hdr, &x, &status, errbuf, 0);
    curl_slist_free_all(hdr);
    if ((st = transport_status(c, what, cc, &x, errbuf)) != UP_OK)
        goto out;
    if (status == 401 && is_oauth(c->auth) && !retried) {
        retried = true;
        up_oauth_forget(c->app, c->t->cache_id);
        if ((st = token_fetch(c)) != UP_OK)
            goto out;
        xfer_free(&x);
        goto again;
    }
    if (status == 404 && had_session) {
        gw_snprintf(c->why, c->n, "%s: the upstream no longer knows our session", what);
        *gone = true;
        st = UP_PROTOCOL_ERROR;
        goto out;
    }
    if (want == NULL) {
        st = status == 200 || status == 202 || status == 204 ? UP_OK : http_status(c, what, status, had_session);
        goto out;
    }
    if (!x.sse && x.body != NULL && strncasecmp(x.content_type, "application/json", 16) == 0) {
        struct json_object *o = parse_json(x.body, x.body_len, c->app->cfg.json_depth);

        if (o != NULL && is_response_to(o, 0, want))
            x.answer = o;
        else
            json_object_put(o);
    }
    /* A JSON-RPC error is the upstream's answer to pass on, whatever the
     * HTTP status that came with it (some servers send 400 with one). */
    if (x.answer == NULL && status != 200) {
        st = http_status(c, what, status, had_session);
        goto out;
    }
    if (x.answer == NULL) {
        if (x.sse)
            gw_snprintf(c->why, c->n, "%s: the event stream ended without the answer", what);
        else
            gw_snprintf(c->why, c->n, "%s: answered %.60s, not a JSON-RPC answer to our request", what,
                        x.content_type[0] ? x.content_type : "no content type");
        st = x.sse || strncasecmp(x.content_type, "application/json", 16) == 0 ? UP_PROTOCOL_ERROR
                                                                              : UP_NOT_MCP;
        goto out;
    }
    *answer = x.answer;
    x.answer = NULL;
    st = UP_OK;
out:
    xfer_free(&x);
    return st;
}

/* initialize + notifications/initialized on c; the session goes to s. */
static enum up_status open_session(struct conn *c, struct up_forward *f)
{
    enum up_status st;

    c->session_id[0] = c->protocol_version[0] = '\0';
    c->tick = f->tick;
    c->tick_arg = f->relay_arg;
    st = initialize(c, NULL, f->client_caps);
    if (st == UP_OK)
        st = exchange(c, "notifications/initialized", NULL, true, NULL);
    c->tick = NULL;
    c->tick_arg = NULL;
    if (st != UP_OK)
        return st;
    gw_strlcpy(f->session->id, c->session_id, sizeof(f->session->id));
    gw_strlcpy(f->session->protocol_version, c->protocol_version, sizeof(f->session->protocol_version));
    f->session_changed = true;
    return UP_OK;
}

/* A stateless upstream: no session to open or keep; the request goes in the
 * envelope, with the client's capabilities as the gateway declares them. */
static enum up_status forward_modern(struct gw_app *app, struct up_forward *f, struct json_object *msg,
                                     struct json_object **answer, char *why, size_t n)
{
    struct json_object *copy = NULL, *id = NULL;
    struct conn c;
    enum up_status st;
    bool gone = false;

    st = conn_open_ex(&c, app, f->t, false, why, n);
    if (st == UP_OK) {
        c.modern = true;
        c.extra_headers = f->headers;
        gw_strlcpy(c.protocol_version, UP_MODERN_VERSION, sizeof(c.protocol_version));
        json_object_object_get_ex(msg, "id", &id);
        if (json_object_deep_copy(msg, &copy, NULL) != 0 || modern_envelope(&c, copy, f->client_caps) != 0)
            st = UP_PROTOCOL_ERROR;
        else
            st = forward_once(&c, copy, id, f, answer, &gone);
    }
    json_object_put(copy);
    conn_close(&c);
    log_outcome("forward", f->t, st, why);
    return st;
}

enum up_status up_forward(struct gw_app *app, struct up_forward *f, struct json_object *msg,
                          struct json_object **answer, char *why, size_t n)
{
    struct json_object *id = NULL;
    struct conn c;
    enum up_status st;
    bool gone = false;

    *answer = NULL;
    f->session_changed = false;
    if (up_era_modern(f->t->protocol_version))
        return forward_modern(app, f, msg, answer, why, n);
    json_object_object_get_ex(msg, "id", &id);
    st = conn_open_ex(&c, app, f->t, false, why, n);
    if (st != UP_OK)
        goto out;
    if (f->session->protocol_version[0] == '\0') {
        st = open_session(&c, f);
    } else {
        gw_strlcpy(c.session_id, f->session->id, sizeof(c.session_id));
        gw_strlcpy(c.protocol_version, f->session->protocol_version, sizeof(c.protocol_version));
    }
    if (st == UP_OK)
        st = forward_once(&c, msg, id, f, answer, &gone);
    /* The upstream restarted or expired our session: a new one, once. */
    if (gone && !f->session_changed) {
        log_info("upstream_session", "server %s forgot our session; opening another",
                 f->t->cache_id ? f->t->cache_id : "(unregistered)");
        st = open_session(&c, f);
        if (st == UP_OK)
            st = forward_once(&c, msg, id, f, answer, &gone);
    }
out:
    conn_close(&c);
    log_outcome("forward", f->t, st, why);
    return st;
}

enum up_status up_send(struct gw_app *app, const struct up_target *t, const struct up_session *s,
                       struct json_object *msg, char *why, size_t n)
{
    struct conn c;
    enum up_status st;
    bool gone;

    st = conn_open_ex(&c, app, t, false, why, n);
    if (st == UP_OK) {
        gw_strlcpy(c.session_id, s->id, sizeof(c.session_id));
        gw_strlcpy(c.protocol_version, s->protocol_version, sizeof(c.protocol_version));
        st = forward_once(&c, msg, NULL, NULL, NULL, &gone);
    }
    conn_close(&c);
    log_outcome("send", t, st, why);
    return st;
}

void up_end(struct gw_app *app, const struct up_target *t, const struct up_session *s)
{
    struct conn c;
    char why[256];

    if (s->id[0] == '\0' || conn_open_ex(&c, app, t, false, why, sizeof(why)) != UP_OK) {
        conn_close(&c);
        return;
    }
    gw_strlcpy(c.session_id, s->id, sizeof(c.session_id));
    gw_strlcpy(c.protocol_version, s->protocol_version, sizeof(c.protocol_version));
    end_session(&c);
    conn_close(&c);
}
