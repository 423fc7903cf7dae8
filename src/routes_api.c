/* Management-plane handlers for health and metrics. They translate domain
 * results (health.c, Redis counters) into HTTP answers and nothing more. */
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "health.h"
#include "log.h"
#include "openapi.h"
#include "routes.h"
#include "store_redis.h"
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
    struct json_object *o = health_components(&c->app->cfg, &unhealthy);

    if (unhealthy)
        log_warn("health_unhealthy", "component health: %s",
                 json_object_to_json_string_ext(json_object_object_get(o, "failed_services"),
                                                JSON_C_TO_STRING_PLAIN));
    http_send_json(c->res, unhealthy ? 503 : 200, o);
    json_object_put(o);
}

/* Fleet-wide counters live in one Redis hash; every responder adds to it. */
void route_metrics(struct gw_call *c)
{
    char key[128], line[512];
    redisReply *r;
    struct http_response *w = c->res;
    int up = 1;

    rds_key(c->app, key, sizeof(key), "%s", RDS_METRICS_KEY);
    r = rds_cmd(c->app, "HGETALL %s", key);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        up = 0;
    if (http_send_head(w, 200, "text/plain; version=0.0.4") != 0)
        goto out;
    snprintf(line, sizeof(line),
             "# HELP mcpgw_build_info Gateway version.\n# TYPE mcpgw_build_info gauge\n"
             "mcpgw_build_info{version=\"%s\"} 1\n"
             "# HELP mcpgw_redis_up Whether the fleet counters could be read.\n"
             "# TYPE mcpgw_redis_up gauge\nmcpgw_redis_up %d\n", PACKAGE_VERSION, up);
    http_write(w, line, strlen(line));
    if (up) {
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *name = r->element[i]->str, *val = r->element[i + 1]->str;
            int safe = name != NULL && val != NULL;

            for (const char *p = name; safe && *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                    safe = 0;
            if (!safe)
                continue;
            snprintf(line, sizeof(line), "# TYPE mcpgw_%s counter\nmcpgw_%s %s\n", name, name, val);
            http_write(w, line, strlen(line));
        }
    }
out:
    if (r)
        freeReplyObject(r);
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
