/* The catalog the MCP plane serves from: every registered upstream server with
 * its tools, prompts and resources, held in Redis (kept in step with the
 * registry, MAC'd with the fleet key: Redis is not a trust anchor) and cached
 * per responder by version, so that neither a list nor a call needs
 * PostgreSQL or a fan-out to upstreams. */
#ifndef GW_MCP_CATALOG_H
#define GW_MCP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "auth.h"
#include "upstream.h"

struct gw_app;

struct cat_server {
    char id[37];                    /* uuid */
    char name[49];                  /* [a-z0-9][a-z0-9-]{0,47} */
    char tenant_id[128];            /* "" = shared with every tenant */
    char url[2048];
    char status[16];                /* active | unhealthy | unreachable */
    bool maintenance;
    int timeout_ms;
    int max_concurrency;
    char protocol_version[32];      /* what the upstream negotiated at discovery */
    struct json_object *required_roles;   /* array of strings, never NULL */
    struct json_object *server_info;      /* object, never NULL */
    struct json_object *capabilities;     /* object, never NULL */
    /* MCP shapes as the upstream listed them (own names), never NULL. */
    struct json_object *tools, *prompts, *resources, *resource_templates;
    /* Unsealed upstream credentials; owned by the snapshot. */
    struct up_auth auth;
    /* The credentials are sealed but could not be opened here (no key, or
     * another key): auth.type is kept, its secret fields are NULL. */
    bool auth_unavailable;
    const char *description;              /* never NULL */
    struct json_object *tags;             /* array of strings, never NULL */
    /* Owned storage the pointers above borrow from. */
    struct json_object *entry, *auth_obj;
};

struct cat_snapshot {
    uint64_t version;               /* bumped on every change */
    size_t n;
    struct cat_server *servers;     /* ordered by name, then id */
};

enum cat_status { CAT_OK = 0, CAT_UNAVAILABLE };

/* The current catalog, borrowed until the next call in this responder. When
 * the cached copy is current this costs one Redis round trip (the version);
 * when Redis holds no catalog it is rebuilt once from PostgreSQL (cold path).
 * CAT_UNAVAILABLE with why when neither store can give it. */
enum cat_status cat_current(struct gw_app *app, const struct cat_snapshot **out, char *why,
                            size_t n);
/* The Redis key of the catalog version (n >= 256), so that a script run on
 * the request path anyway can read it; and what it read (NULL: absent), kept
 * for the rest of this request (app->requests) so that cat_current needs no
 * round trip of its own when its cached copy has that version. */
int cat_version_key(const struct gw_app *app, char *buf, size_t n);
void cat_version_seen(struct gw_app *app, const char *value);
/* May this identity see and use the server? Its tenant is the caller's (or
 * the server is shared: no tenant), and the caller holds every role in
 * required_roles, a role being held when it names one of the caller's
 * effective gateway roles (auth_role_name) or is an entry of the token's
 * roles claim. Maintenance does not hide a server here (listings leave it
 * out; a call can then say why). */
bool cat_visible(const struct cat_server *s, const struct gw_identity *who);
/* The server called name in who's visible scope, or NULL. */
const struct cat_server *cat_find(const struct cat_snapshot *c, const struct gw_identity *who,
                                  const char *name);
/* Split "{server}__{name}" at the first "__": server into srv (n bytes),
 * *rest points into full. -1 when there is no prefix. */
int cat_split_name(const char *full, char *srv, size_t n, const char **rest);

/* Registry hooks, called after a committed write: put the server's entry (read
 * from PostgreSQL) or drop it, bump the version and tell sessions with an open
 * stream whose visible catalog changed (notifications/{tools,prompts,
 * resources}/list_changed through their session streams). 0, or -1 logged
 * (the catalog is then rebuilt on the next read). */
int cat_server_changed(struct gw_app *app, const char *server_id);
int cat_server_removed(struct gw_app *app, const char *server_id);
/* Rebuild the whole Redis catalog from PostgreSQL. */
int cat_rebuild(struct gw_app *app, char *why, size_t n);
/* Parse one catalog entry (the JSON held in Redis, as written from
 * PostgreSQL) into out, credentials still sealed (auth.type only). 0, or -1
 * with why; out is then cleared. Free with cat_server_clear. */
int cat_entry_parse(const char *json, size_t len, struct cat_server *out, char *why, size_t n);
void cat_server_clear(struct cat_server *s);

/* Opaque list cursors: kind ('t' tools, 'p' prompts, 'r' resources, 'T'
 * resource templates) and the key of the last item of the page (the next
 * page starts after it). decode: 0, or -1 for anything else (-32602). */
int cat_cursor_encode(char kind, const char *after, char *out, size_t n);
int cat_cursor_decode(const char *cursor, char kind, char *after, size_t n);

/* Drop the responder's cached snapshot (tests, SIGHUP, fork). */
void cat_state_free(struct gw_app *app);

#endif
