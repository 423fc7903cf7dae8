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

struct gw_app {
    struct gw_config cfg;
    enum gw_plane serve_plane;       /* --plane: which planes this process serves */
    redisContext *redis;
    int64_t redis_retry_at_ms;       /* no reconnect attempt before this */
    PGconn *pg;
    int64_t pg_retry_at_ms;
    struct auth_state *auth;         /* owned by auth_*; NULL until first use */
    struct up_state *upstream;       /* owned by up_*: the kept-alive curl handle */
    int64_t started_ms;
    unsigned long requests;
};

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
