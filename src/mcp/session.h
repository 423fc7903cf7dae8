/* MCP sessions (2025-11-25 era) in Redis, shared by every responder:
 * <prefix>session:{id} and <prefix>auth:{id}, one hash tag per session. */
#ifndef GW_MCP_SESSION_H
#define GW_MCP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "auth.h"

struct gw_app;

struct ms_session {
    char id[33];
    char protocol_version[16];
    char endpoint[64];          /* "" for /mcp, else the server name of /servers/{name}/mcp */
    int64_t created_ms;
    int64_t last_ms;
    int64_t expires_ms;
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
/* End the session (DELETE on the MCP endpoint, or revocation). */
enum ms_status ms_delete(struct gw_app *app, const char *id);

/* Management plane: the session as JSON (never the token's hash), with its
 * tenant in *tenant (caller frees) so the caller can scope it. */
enum ms_status ms_describe(struct gw_app *app, const char *id, struct json_object **out,
                           char **tenant);
/* Live sessions of one tenant (NULL: all), newest expiry last, at most limit. */
enum ms_status ms_list(struct gw_app *app, const char *tenant, int limit, struct json_object **out);

#endif
