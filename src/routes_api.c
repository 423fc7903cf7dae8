/* Management-plane handlers for health and metrics. They translate domain
 * results (health.c, metrics.c) into HTTP answers and nothing more. */
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "routes.h"
#include "util.h"

void route_health(struct gw_call *c)
{
    struct json_object *o = json_object_new_object();
    char ts[32];
    int64_t now = gw_now_ms();

    /* Liveness only: no dependency is touched, so this stays cheap and says
     * nothing that could help an attacker. */
    gw_iso8601(now, ts);
    json_object_object_add(o, "status", json_object_new_string("ok"));
    json_object_object_add(o, "service", json_object_new_string(PACKAGE_NAME));
    json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(o, "plane", json_object_new_string(gw_plane_name(c->req->plane)));
    json_object_object_add(o, "uptime_s", json_object_new_int64((now - c->app->started_ms) / 1000));
    json_object_object_add(o, "timestamp", json_object_new_string(ts));
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

void route_health_ready(struct gw_call *c)
{
    char why[256];
    struct json_object *o;

    if (health_ready(c->app, why, sizeof(why)) != 0) {
        http_add_header(c->res, "Retry-After", "5");
        http_send_problem(c->res, c->req, 503, why);
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("ready"));
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

void route_health_components(struct gw_call *c)
{
    int unhealthy = 0;
    struct health_scope scope = {
        .tenant = auth_has_role(c->who, ROLE_PLATFORM_ADMIN) ? NULL : c->who->tenant_id,
    };
    struct json_object *o = health_components(&c->app->cfg, &scope, &unhealthy);

    if (unhealthy)
        log_warn("health_unhealthy", "component health: %s",
                 json_object_to_json_string_ext(json_object_object_get(o, "failed_services"),
                                                JSON_C_TO_STRING_PLAIN));
    http_send_json(c->res, unhealthy ? 503 : 200, o);
    json_object_put(o);
}

static const char *metrics_route_name(int i, void *arg)
{
    size_t n;
    const struct route *t = router_table(&n);

    (void)arg;
    return i >= 0 && (size_t)i < n ? t[i].pattern : NULL;
}

static const char *metrics_plane_name(int plane)
{
    return gw_plane_name((enum gw_plane)plane);
}

static int metrics_emit(const char *s, size_t n, void *arg)
{
    return http_write(arg, s, n);
}

/* metrics.access: who may read the host's numbers (route counts and process
 * sizes tell an attacker what runs here). 0 when allowed, else answered. */
static int metrics_allowed(struct gw_call *c)
{
    const char *access = c->app->cfg.metrics_access;

    if (strncmp(access, "role:", 5) == 0)
        return router_authorize(c, auth_role_parse(access + 5));
    if (strcmp(access, "loopback") == 0 && !gw_host_is_loopback(c->req->remote_addr)) {
        log_warn("metrics_refused", "/metrics from %s refused: metrics.access is loopback",
                 c->req->remote_addr ? c->req->remote_addr : "(unknown address)");
        http_send_problem(c->res, c->req, 403, "metrics are served to this host's loopback only");
        return -1;
    }
    return 0;
}

/* This host's counters, from the shared segment: no store is touched, so a
 * scrape answers with Redis or PostgreSQL down, and N hosts sum to the fleet. */
void route_metrics(struct gw_call *c)
{
    struct metrics_labels l = { metrics_route_name, metrics_plane_name, PACKAGE_VERSION, NULL };

    if (metrics_allowed(c) != 0)
        return;
    if (http_send_head(c->res, 200, "text/plain; version=0.0.4; charset=utf-8") != 0)
        return;
    if (metrics_render(&l, metrics_emit, c->res) != 0)
        log_info("metrics_client_gone", "the scraper left before the end of /metrics");
}

/* The document depends only on the route table and server.api_url, both fixed
 * for a responder's life (a reload starts new responders): build it once. */
static char *openapi_text, *docs_html;

static int openapi_cached(struct gw_call *c)
{
    struct json_object *doc;

    if (openapi_text != NULL)
        return 0;
    doc = openapi_build(c->app->cfg.api_url);
    if (doc == NULL)
        return -1;
    openapi_text = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    docs_html = openapi_html(doc);
    json_object_put(doc);
    return openapi_text != NULL && docs_html != NULL ? 0 : -1;
}

void route_openapi(struct gw_call *c)
{
    if (openapi_cached(c) != 0) {
        log_error("openapi_build", "the OpenAPI document cannot be built");
        http_send_problem(c->res, c->req, 500, "the API description cannot be built");
        return;
    }
    http_send_text(c->res, 200, "application/json", openapi_text);
}

void route_docs(struct gw_call *c)
{
    if (openapi_cached(c) != 0) {
        log_error("openapi_build", "the OpenAPI document cannot be built");
        http_send_problem(c->res, c->req, 500, "the API description cannot be built");
        return;
    }
    /* Everything is inline: no script, no external style, no remote font. */
    http_add_header(c->res, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
    http_send_text(c->res, 200, "text/html; charset=utf-8", docs_html);
}
