/* Per-responder state: configuration and lazily opened connections. Created in
 * the responder after fork so that no socket is ever shared between processes. */
#include "app.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "mcp/catalog.h"
#include "store_pg.h"
#include "store_redis.h"
#include "upstream.h"
#include "util.h"

int gw_plane_parse(const char *s, enum gw_plane *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "api") == 0)
        *out = PLANE_API;
    else if (strcmp(s, "mcp") == 0)
        *out = PLANE_MCP;
    else if (strcmp(s, "both") == 0)
        *out = PLANE_BOTH;
    else
        return -1;
    return 0;
}

const char *gw_plane_name(enum gw_plane p)
{
    switch (p) {
    case PLANE_API: return "api";
    case PLANE_MCP: return "mcp";
    case PLANE_BOTH: return "both";
    default: return "none";
    }
}

int gw_plane_url(const struct gw_app *app, enum gw_plane p, char *out, size_t n)
{
    const char *base = p == PLANE_MCP ? app->cfg.mcp_url : app->cfg.api_url;
    size_t len = strlen(base);

    while (len > 0 && base[len - 1] == '/')
        len--;
    return gw_snprintf(out, n, "%.*s", (int)len, base);
}

void app_store_failed(int *failures, int64_t *retry_at_ms)
{
    int64_t wait = APP_RETRY_MIN_MS;

    for (int i = 0; i < *failures && wait < APP_RETRY_MAX_MS; i++)
        wait *= 2;
    if (wait > APP_RETRY_MAX_MS)
        wait = APP_RETRY_MAX_MS;
    if (*failures < 1000)
        (*failures)++;
    /* From now, not from the start of the attempt: an attempt that took the
     * whole timeout must not leave the next one already due. */
    *retry_at_ms = gw_monotonic_ms() + wait;
}

int app_store_backing_off(const char *name, int64_t retry_at_ms, char *err, size_t errlen)
{
    int64_t left = retry_at_ms - gw_monotonic_ms();

    if (left <= 0)
        return 0;
    snprintf(err, errlen, "%s is not reachable (next attempt in %lld ms)", name, (long long)left);
    return 1;
}

int app_init(struct gw_app *app, const struct gw_config *cfg, enum gw_plane serve_plane)
{
    memset(app, 0, sizeof(*app));
    app->cfg = *cfg;
    app->serve_plane = serve_plane;
    app->started_ms = gw_now_ms();
    return 0;
}

void app_free(struct gw_app *app)
{
    auth_state_free(app);
    up_state_free(app);
    cat_state_free(app);
    rds_close(app);
    pg_close(app);
}
