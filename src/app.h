/* Per-responder state: configuration, lazily opened store connections, and the
 * caches that are safe to lose (parsed JWKS keys). Nothing here is shared. */
#ifndef GW_APP_H
#define GW_APP_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "config.h"
#include "http.h"

struct auth_state;
struct up_state;
struct cat_state;

struct gw_app {
    struct gw_config cfg;
    enum gw_plane serve_plane;       /* --plane: which planes this process serves */
    redisContext *redis;
    int64_t redis_retry_at_ms;       /* no reconnect attempt before this */
    int redis_failures;              /* failed connects in a row */
    unsigned long redis_peek_req;    /* requests when the connection was last checked for a close */
    int64_t redis_used_ms;           /* monotonic ms of its last command */
    PGconn *pg;
    int64_t pg_retry_at_ms;
    int pg_failures;
    struct auth_state *auth;         /* owned by auth_*; NULL until first use */
    struct up_state *upstream;       /* owned by up_*: the kept-alive curl handle */
    struct cat_state *catalog;       /* owned by cat_*: the cached catalog snapshot */
    int64_t started_ms;
    unsigned long requests;
};

/* A store connection attempt failed: none before the end of this attempt
 * plus a wait that doubles with each failure in a row (APP_RETRY_MIN_MS up to
 * APP_RETRY_MAX_MS), so a store that hangs costs a responder one timeout per
 * wait, not one per request. */
#define APP_RETRY_MIN_MS 500
#define APP_RETRY_MAX_MS 5000
void app_store_failed(int *failures, int64_t *retry_at_ms);
/* 1 while a failed attempt on store `name` is being backed off (err says
 * until when), else 0. */
int app_store_backing_off(const char *name, int64_t retry_at_ms, char *err, size_t errlen);

/* Copies cfg; opens nothing (connections are opened after fork, on use). */
int app_init(struct gw_app *app, const struct gw_config *cfg, enum gw_plane serve_plane);
void app_free(struct gw_app *app);
int gw_plane_parse(const char *s, enum gw_plane *out);
const char *gw_plane_name(enum gw_plane p);
/* Public base URL of a plane (server.api_url or server.mcp_url) without a
 * trailing '/', into out; 0, or -1 when it does not fit. */
int gw_plane_url(const struct gw_app *app, enum gw_plane p, char *out, size_t n);

/* RFC 9728 protected resource metadata, and the path-suffixed forms below it. */
#define GW_WELL_KNOWN_PRM "/.well-known/oauth-protected-resource"

#endif
