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
/* May this identity see and use the server (tenant, required_roles)? */
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
/* Drop the responder's cached snapshot (tests, SIGHUP, fork). */
void cat_state_free(struct gw_app *app);

#endif
