/* Client side of MCP towards registered upstream servers: the URL policy
 * (SSRF), Streamable HTTP discovery and health probes, upstream credentials. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <json-c/json.h>

struct gw_app;
struct gw_config;

enum up_status { UP_OK = 0, UP_URL_REFUSED, UP_UNREACHABLE, UP_TIMEOUT, UP_NOT_MCP,
                 UP_AUTH_REFUSED, UP_PROTOCOL_ERROR, UP_TOO_LARGE };
/* "ok", "url_refused", "unreachable", "timed_out", "not_mcp", "auth_refused",
 * "protocol_error", "too_large" */
const char *up_status_name(enum up_status s);

struct up_auth {                    /* plaintext, owned by the caller; unused fields NULL */
    const char *type;               /* "none" | "bearer" | "header" | "oauth_client_credentials" */
    const char *token, *header_name, *header_value, *token_url, *client_id, *client_secret, *scope;
};

struct up_target {
    const char *url;
    const struct up_auth *auth;     /* NULL = none */
    int timeout_ms;                 /* whole exchange; 0 = upstream.timeout_ms */
    const char *cache_id;           /* server id for the OAuth token cache, may be NULL */
    /* The upstream's era as the catalog knows it: UP_MODERN_VERSION means
     * stateless requests (MCP 2026-07-28); NULL or another version, sessions. */
    const char *protocol_version;
};

/* The stateless revision: no initialize, no session, every request carries
 * its version and the client's capabilities in _meta, and its method and name
 * in headers. */
#define UP_MODERN_VERSION "2026-07-28"
bool up_era_modern(const char *protocol_version);

struct up_catalog {                 /* owned json-c objects; arrays possibly empty, never NULL on UP_OK */
    char protocol_version[32];
    struct json_object *server_info, *capabilities, *tools, *prompts, *resources,
        *resource_templates;
};

/* URL policy only (scheme, every resolved address, upstream.allowed_networks;
 * link-local, metadata, private, loopback refused unless listed). 0, or -1
 * with why. Checked again at connect time by up_discover and up_probe. */
int up_url_check(const struct gw_config *cfg, const char *url, char *why, size_t n);
/* initialize + notifications/initialized + tools/list (+ prompts/list,
 * resources/list and resources/templates/list when offered; a server that
 * does not know the last lists none), all pages; the session is deleted after. */
enum up_status up_discover(struct gw_app *app, const struct up_target *t, struct up_catalog *out,
                           char *why, size_t n);
void up_catalog_free(struct up_catalog *c);
/* Health probe: initialize with the timeout (the session is deleted after);
 * latency in ms of the initialize exchange. */
enum up_status up_probe(struct gw_app *app, const struct up_target *t, long *latency_ms,
                        char *why, size_t n);
/* ---- forwarding (the MCP plane's calls) --------------------------------------- */

/* One upstream MCP session as a gateway session keeps it. */
struct up_session {
    char id[256];                   /* Mcp-Session-Id; "" when the upstream keeps none */
    char protocol_version[32];      /* "" = not opened yet */
};

/* Each message the upstream sends before its answer (notifications, its own
 * requests), borrowed, as it arrives; msg NULL once when the upstream starts an
 * event stream. A non-zero return stops the call (the client went away). */
typedef int (*up_relay_fn)(void *arg, struct json_object *msg);

struct up_forward {
    const struct up_target *t;
    struct up_session *session;     /* in: kept (or empty); out: the one used */
    bool session_changed;           /* out: opened or re-opened: keep it */
    struct json_object *client_caps; /* declared to the upstream when opening; may be NULL */
    up_relay_fn relay;              /* may be NULL: other messages are dropped */
    /* About once a second while the call waits (relay_arg): non-zero stops
     * it (the client went away). May be NULL. */
    int (*tick)(void *arg);
    /* The answer as soon as it arrives on a stream (borrowed), before the
     * stream ends; it is still returned by up_forward. May be NULL. */
    void (*early_answer)(void *arg, struct json_object *answer);
    void *relay_arg;
    /* Headers a 2026-07-28 upstream expects beside the body, {name: value}
     * (Mcp-Param-*; borrowed, may be NULL); values must be header-safe. */
    struct json_object *headers;
};

/* Forward one JSON-RPC request (borrowed; its id is the client's own) on the
 * kept upstream session, opening it first when there is none and once more
 * when the upstream forgot it (404). All of it ends by the target's deadline.
 * *answer: the upstream's JSON-RPC response, result or error, owned. */
enum up_status up_forward(struct gw_app *app, struct up_forward *f, struct json_object *msg,
                          struct json_object **answer, char *why, size_t n);
/* End a kept upstream session (DELETE, briefly, best effort). */
void up_end(struct gw_app *app, const struct up_target *t, const struct up_session *s);
/* Send a notification or a response (no answer expected) on a kept session. */
enum up_status up_send(struct gw_app *app, const struct up_target *t, const struct up_session *s,
                       struct json_object *msg, char *why, size_t n);

/* Forget the cached OAuth access token of a server (credentials changed). */
void up_oauth_forget(struct gw_app *app, const char *cache_id);
/* The responder's reusable curl handle (kept-alive connections) and cache. */
void up_state_free(struct gw_app *app);

/* ---- address policy (upstream_policy.c), exposed for tests ---------------- */

/* An IPv4 or IPv6 network; IPv4 is kept as IPv4-mapped IPv6 (::ffff:0:0/96),
 * so one matcher serves both and a mapped address matches its IPv4 network. */
struct up_cidr {
    unsigned char addr[16];
    int prefix;                     /* 0..128 */
};

/* "10.0.0.0/8", "fd00::/8", or a bare address (a host). Host bits must be 0. */
int up_cidr_parse(const char *s, struct up_cidr *out, char *why, size_t n);
/* addr: 16 bytes as above. */
bool up_cidr_contains(const struct up_cidr *c, const unsigned char addr[16]);
/* A comma-separated CIDR list (the upstream.allowed_networks validator). */
int up_networks_check(const char *list, char *why, size_t n);
/* sockaddr (AF_INET or AF_INET6) to the 16-byte form; -1 for other families. */
int up_addr_from_sockaddr(const struct sockaddr *sa, unsigned char out[16]);
/* May we connect to addr for a URL of this scheme ("http" or "https")?
 * 0, or -1 with why naming the address and the rule. */
int up_addr_allowed(const struct gw_config *cfg, const char *scheme, const unsigned char addr[16],
                    char *why, size_t n);

#endif
