/* The registry of upstream MCP servers: phased registration, the catalog of
 * their tools, prompts and resources, tenant-scoped reads and audited writes. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "upstream.h"

struct gw_app;
struct gw_config;

/* Who asks, as far as the registry cares. A tenant sees its own servers and
 * the shared ones (tenant_id NULL); platform sees and writes all; admin
 * writes its own tenant's servers only. */
struct reg_actor {
    const char *user_id;
    const char *tenant_id;     /* NULL or "": no tenant (sees shared servers only) */
    bool platform;
    bool admin;
    const char *request_id;
};

enum reg_code {
    REG_OK = 0,
    REG_BAD_REQUEST,           /* field names the culprit */
    REG_FORBIDDEN,             /* visible but not writable (a shared server for an admin) */
    REG_NOT_FOUND,             /* absent or another tenant's: never told apart */
    REG_CONFLICT,              /* the name is taken in the caller's visible scope */
    REG_PRECONDITION_FAILED,   /* If-Match names another version */
    REG_UPSTREAM_FAILED,       /* unreachable, not MCP, credentials refused */
    REG_UPSTREAM_TIMEOUT,
    REG_UNAVAILABLE,           /* PostgreSQL or the secret key cannot be had */
    REG_INTERNAL,
};

struct reg_error {
    enum reg_code code;
    const char *phase;         /* registration: auth | validation | registration | audit */
    const char *reason;        /* one word: invalid_body, url_refused, unreachable, ... */
    char field[64];            /* the body field at fault ("" when none) */
    char detail[512];          /* for the client; never a secret */
};

struct reg_list_query {
    const char *tag, *status, *agent_role, *q;
    const char *cursor;        /* opaque, from a previous page; NULL for the first */
    int limit;                 /* 1..200 */
};

/* POST /api/v1/servers: auth -> validation (body, URL policy, a real MCP
 * discovery with the server's own credentials) -> registration (row and
 * catalog in one transaction) -> audit (same transaction). *out is
 * {server_id, phases_completed, server}. */
int reg_register(struct gw_app *app, const struct reg_actor *a, struct json_object *body,
                 struct json_object **out, struct reg_error *e);
/* {servers: [...], next_cursor} in (name, id) order, as JSON text (*out
 * malloc'd); one prepared SQL statement. */
int reg_list(struct gw_app *app, const struct reg_actor *a, const struct reg_list_query *q,
             char **out, struct reg_error *e);
int reg_get(struct gw_app *app, const struct reg_actor *a, const char *id,
            struct json_object **out, struct reg_error *e);
/* Patch metadata when the stored version is if_match; *out is the new server. */
int reg_patch(struct gw_app *app, const struct reg_actor *a, const char *id, int if_match,
              struct json_object *body, struct json_object **out, struct reg_error *e);
/* if_match < 0: any version. */
int reg_delete(struct gw_app *app, const struct reg_actor *a, const char *id, int if_match,
               struct reg_error *e);
int reg_maintenance(struct gw_app *app, const struct reg_actor *a, const char *id, bool on,
                    struct json_object **out, struct reg_error *e);
/* {server_id, tools: [...]} */
int reg_tools(struct gw_app *app, const struct reg_actor *a, const char *id,
              struct json_object **out, struct reg_error *e);
/* Discovery again; {added, removed, changed, unchanged} of tools by schema hash. */
int reg_refresh(struct gw_app *app, const struct reg_actor *a, const char *id,
                struct json_object **out, struct reg_error *e);
/* POST /api/v1/catalog/refresh: discovery again of every server the actor
 * may write (platform: all; admin: its tenant's), upstream.refresh_parallel
 * at once, each within min(its timeout_ms, upstream.timeout_ms). *out is
 * {refreshed: [{server_id, name, tools, prompts, resources, duration_ms}],
 * unavailable: [{server_id, name, reason, detail, status}], duration_ms}; an
 * unavailable server is marked (status unreachable or unhealthy) and keeps
 * its last catalog. */
int reg_refresh_all(struct gw_app *app, const struct reg_actor *a, struct json_object **out,
                    struct reg_error *e);
/* Probe now; {server_id, status, latency_ms, checked_at}, stored on the row. */
int reg_health(struct gw_app *app, const struct reg_actor *a, const char *id,
               struct json_object **out, struct reg_error *e);
/* GET /api/v1/tools?q=: tools of every server the actor sees; JSON text as reg_list. */
int reg_search_tools(struct gw_app *app, const struct reg_actor *a, const char *q,
                     const char *cursor, int limit, char **out, struct reg_error *e);

/* Re-seal every stored credential under the key in new_key_file, in one
 * transaction: all or nothing. *count is how many were re-sealed. */
int reg_rekey(const struct gw_config *cfg, const char *new_key_file, int *count,
              char *err, size_t n);

enum reg_creds_failure { REG_CREDS_NONE = 0, REG_CREDS_NO_KEY, REG_CREDS_KEY_MISMATCH,
                         REG_CREDS_CORRUPT };
/* Open the sealed credentials of server_id as PostgreSQL stores them (type,
 * hex of auth_secret, auth_key_id) with the responder's secret key: 0 with au
 * filled (type "none" when there are none) pointing into *obj, which the
 * caller puts; or -1 logged, with why. */
int reg_creds_open(struct gw_app *app, const char *server_id, const char *type, const char *hex,
                   const char *key_id, struct json_object **obj, struct up_auth *au,
                   enum reg_creds_failure *why);

/* Helpers the routes and tests share. */
bool reg_name_valid(const char *name);
bool reg_uuid_valid(const char *s);
/* Opaque cursor of a (name, id) position: base64url. 0 or -1. */
int reg_cursor_encode(const char *name, const char *id, char *out, size_t n);
int reg_cursor_decode(const char *cursor, char *name, size_t nn, char *id, size_t idn);

#endif
