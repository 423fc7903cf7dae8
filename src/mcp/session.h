/* MCP sessions (2025-11-25 era) in Redis, shared by every responder:
 * <prefix>session:{id} and <prefix>auth:{id}, one hash tag per session. */
#ifndef GW_MCP_SESSION_H
#define GW_MCP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "auth.h"

struct gw_app;

/* Upstream sessions a gateway session keeps: field up:<server id> of its
 * hash, "<protocol version> <upstream Mcp-Session-Id>". At most this many are
 * read back (one per server used, so only a forged hash holds more). */
#define MS_MAX_UPSTREAMS 1024

struct ms_upstream {
    char server_id[37];
    char session_id[256];       /* "" when the upstream keeps no session */
    char protocol_version[32];
};

struct ms_session {
    char id[33];
    char protocol_version[16];
    char endpoint[64];          /* "" for /mcp, else the server name of /servers/{name}/mcp */
    int64_t created_ms;
    int64_t last_ms;
    int64_t expires_ms;
    bool identity;              /* the upstream sessions of one caller's stateless requests
                                 * (ms_identity_upstreams): id names the caller, not a session */
    int nup;                    /* upstream sessions read by ms_touch */
    struct ms_upstream *up;     /* nup of them, owned: ms_session_clear */
};

enum ms_status {
    MS_OK = 0,
    MS_NOT_FOUND,     /* unknown, expired, revoked, or another identity's */
    MS_UNAVAILABLE,   /* Redis cannot be reached */
};

/* Valid session ids: 32 lower-case hex characters (128 random bits). */
int ms_id_valid(const char *id);
/* Lifetime of a session for this token: min(session.ttl, token expiry). */
int64_t ms_ttl_ms(const struct gw_app *app, const struct gw_identity *who);

/* New session for who; client_info and capabilities are borrowed. */
enum ms_status ms_create(struct gw_app *app, const struct gw_identity *who, const char *version,
                         const char *endpoint, struct json_object *client_info,
                         struct json_object *capabilities, struct ms_session *out);
/* Look the session up for who (issuer, tenant and user must match), slide its
 * expiry and record the token's hash: one Redis round trip. */
enum ms_status ms_touch(struct gw_app *app, const char *id, const struct gw_identity *who,
                        struct ms_session *out);
/* Free what ms_touch allocated in s (its upstream sessions). */
void ms_session_clear(struct ms_session *s);
/* The upstream session kept for server_id, or NULL. */
const struct ms_upstream *ms_upstream_find(const struct ms_session *s, const char *server_id);
/* Keep (or replace) the upstream session of server_id in the session, only
 * while the session exists and only if the one kept is still expected (the
 * one read before, NULL for none): MS_OK, or MS_OK with *lost set when a
 * concurrent request kept another first (the caller then ends its own). */
enum ms_status ms_upstream_set(struct gw_app *app, const struct ms_session *s, const char *server_id,
                               const char *protocol_version, const char *upstream_session,
                               const struct ms_upstream *expected, bool *lost);
/* Stateless (2026-07-28) requests have no session, but the upstreams of the
 * session era want one: the upstream sessions of one caller (issuer, tenant
 * and user, hashed) are kept in <prefix>upstreams:{hash}, shared by that
 * caller's requests on every responder and by no one else's. Only read
 * here: written when an upstream session is opened (ms_upstream_set), it
 * lives session.ttl from then. */
enum ms_status ms_identity_upstreams(struct gw_app *app, const struct gw_identity *who,
                                     struct ms_session *out);
/* The same, the read (cmdc arguments in cmd) sent by read(arg, ...) rather
 * than on its own, so that the caller may join it to a round trip of its
 * own: its reply (the caller's to free), NULL when Redis is unavailable. */
typedef redisReply *ms_read_fn(void *arg, int cmdc, const char **cmd);
enum ms_status ms_identity_upstreams_read(struct gw_app *app, const struct gw_identity *who,
                                          struct ms_session *out, ms_read_fn *read, void *arg);
/* The capabilities the client declared in initialize (owned), or NULL. */
struct json_object *ms_client_caps(struct gw_app *app, const char *id);
/* End the session (DELETE on the MCP endpoint, or revocation). */
enum ms_status ms_delete(struct gw_app *app, const char *id);

/* Management plane: the session as JSON (never the token's hash), with its
 * tenant in *tenant (caller frees) so the caller can scope it. */
enum ms_status ms_describe(struct gw_app *app, const char *id, struct json_object **out,
                           char **tenant);
/* Live sessions of one tenant (NULL: all), newest expiry last, at most limit. */
enum ms_status ms_list(struct gw_app *app, const char *tenant, int limit, struct json_object **out);

#endif
