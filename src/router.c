/* The route table of both planes and the request pipeline every request goes
 * through: request id, plane, body limit, route, authentication, role, log. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "util.h"

#define WK GW_WELL_KNOWN_PRM

static const struct route routes[] = {
    { PLANE_API, "GET", "/health", route_health, 0, "liveness summary" },
    { PLANE_API, "GET", "/health/ready", route_health_ready, 0, "readiness: Redis and PostgreSQL reachable" },
    { PLANE_API, "GET", "/health/components", route_health_components, ROLE_OPERATOR,
      "every component checked in parallel" },
    { PLANE_API, "GET", "/metrics", route_metrics, 0, "Prometheus metrics of this host" },
    { PLANE_API, "GET", "/openapi.json", route_openapi, 0, "this API described as OpenAPI 3.1" },
    { PLANE_API, "GET", "/docs", route_docs, 0, "this API as a readable HTML page" },
    { PLANE_API, "GET", "/api/v1/me", route_me, ROLE_USER, "the caller's identity as the gateway sees it" },
    { PLANE_API, "GET", "/api/v1/audit", route_audit_list, ROLE_AUDITOR,
      "audit rows, newest first: filters, cursor; tenant-scoped below platform_admin" },
    { PLANE_API, "GET", "/api/v1/audit/verify", route_audit_verify, ROLE_PLATFORM_ADMIN,
      "walk the whole hash chain: ok, or the first broken row and why" },
    /* registry: tenants see their own and shared servers; writes need admin */
    { PLANE_API, "POST", "/api/v1/servers", route_servers_register, ROLE_ADMIN,
      "register an upstream MCP server (auth, validation, registration, audit)" },
    { PLANE_API, "GET", "/api/v1/servers", route_servers_list, ROLE_USER,
      "list servers: tag, status, agent_role, q, cursor, limit" },
    { PLANE_API, "GET", "/api/v1/servers/{id}", route_servers_get, ROLE_USER, "one server, ETag = version" },
    { PLANE_API, "PATCH", "/api/v1/servers/{id}", route_servers_patch, ROLE_ADMIN,
      "change metadata; If-Match required" },
    { PLANE_API, "DELETE", "/api/v1/servers/{id}", route_servers_delete, ROLE_ADMIN, "remove a server" },
    { PLANE_API, "GET", "/api/v1/servers/{id}/tools", route_servers_tools, ROLE_USER, "the server's tool catalog" },
    { PLANE_API, "POST", "/api/v1/servers/{id}/refresh", route_servers_refresh, ROLE_ADMIN,
      "discover again; tools added, removed, changed" },
    { PLANE_API, "GET", "/api/v1/servers/{id}/health", route_servers_health, ROLE_OPERATOR,
      "probe the upstream now; status and latency" },
    { PLANE_API, "POST", "/api/v1/servers/{id}/maintenance", route_servers_maintenance_on, ROLE_ADMIN,
      "put the server in maintenance" },
    { PLANE_API, "DELETE", "/api/v1/servers/{id}/maintenance", route_servers_maintenance_off, ROLE_ADMIN,
      "end maintenance" },
    { PLANE_API, "POST", "/api/v1/catalog/refresh", route_catalog_refresh, ROLE_ADMIN,
      "discover every server in scope again, in parallel; refreshed and unavailable" },
    { PLANE_API, "GET", "/api/v1/tools", route_tools_search, ROLE_USER,
      "search the tools of every server the caller sees: q, cursor, limit" },
    { PLANE_API, "GET", "/api/v1/sessions", route_sessions_list, ROLE_OPERATOR,
      "MCP sessions of the caller's tenant (all tenants for platform_admin)" },
    { PLANE_API, "GET", "/api/v1/sessions/{id}", route_sessions_get, ROLE_OPERATOR, "one MCP session" },
    { PLANE_API, "DELETE", "/api/v1/sessions/{id}", route_sessions_delete, ROLE_ADMIN,
      "revoke an MCP session: its next request is 404; audited as session.revoke" },
    /* quality gates: operators run them; runs are tenant-scoped below platform_admin */
    { PLANE_API, "GET", "/api/v1/gates", route_gates_list, ROLE_OPERATOR, "the quality gates and their checks" },
    { PLANE_API, "GET", "/api/v1/gates/runs/{id}", route_gates_run_get, ROLE_OPERATOR, "one stored gate run" },
    { PLANE_API, "POST", "/api/v1/gates/{name}/run", route_gates_run, ROLE_OPERATOR,
      "run a gate now: its checks in order, fail fast on a critical one; stored and audited as gate.run" },
    { PLANE_API, "GET", "/api/v1/gates/{name}/runs", route_gates_runs, ROLE_OPERATOR,
      "past runs of a gate, newest first: limit" },
    { PLANE_MCP, "POST", "/mcp", route_mcp_post, ROLE_USER, "MCP: one JSON-RPC message" },
    { PLANE_MCP, "GET", "/mcp", route_mcp_get, ROLE_USER, "MCP: the session's stream of server messages" },
    { PLANE_MCP, "DELETE", "/mcp", route_mcp_delete, ROLE_USER, "MCP: end the session" },
    { PLANE_MCP, "POST", "/servers/{name}/mcp", route_servers_mcp_post, ROLE_USER,
      "MCP: one message to one upstream under its own names" },
    { PLANE_MCP, "GET", "/servers/{name}/mcp", route_servers_mcp_get, ROLE_USER,
      "MCP: the virtual server session's stream of server messages" },
    { PLANE_MCP, "DELETE", "/servers/{name}/mcp", route_servers_mcp_delete, ROLE_USER,
      "MCP: end the virtual server session" },
    { PLANE_BOTH, "GET", WK, route_oauth_metadata, 0, "RFC 9728 protected resource metadata" },
    { PLANE_MCP, "GET", WK "/mcp", route_oauth_metadata, 0, "RFC 9728 metadata for /mcp" },
    { PLANE_MCP, "GET", WK "/servers/{name}/mcp", route_oauth_metadata, 0,
      "RFC 9728 metadata for one virtual server" },
};

const struct route *router_table(size_t *n)
{
    *n = GW_ARRAY_LEN(routes);
    return routes;
}

/* Match "/a/{x}/b" against a path, capturing {x} segments into c->params. */
static int pattern_match(const char *pat, const char *path, struct gw_call *c)
{
    int np = 0;

    while (*pat != '\0' && *path != '\0') {
        if (*pat == '{') {
            const char *pend = strchr(pat, '}');
            const char *seg = path;
            size_t len;

            if (pend == NULL)
                return 0;
            while (*path != '\0' && *path != '/')
                path++;
            len = (size_t)(path - seg);
            if (len == 0 || np >= ROUTE_MAX_PARAMS || len >= sizeof(c->params[0]))
                return 0;
            if (c != NULL) {
                memcpy(c->params[np], seg, len);
                c->params[np][len] = '\0';
            }
            np++;
            pat = pend + 1;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    if (*pat != '\0' || *path != '\0')
        return 0;
    if (c != NULL)
        c->nparams = np;
    return 1;
}

const struct route *router_match(enum gw_plane plane, const char *method, const char *path,
                                 struct gw_call *c, char *allow, size_t allown)
{
    size_t off = 0;

    if (allow != NULL && allown > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < GW_ARRAY_LEN(routes); i++) {
        const struct route *r = &routes[i];

        if (!(r->plane & plane) || !pattern_match(r->pattern, path, NULL))
            continue;
        /* Every GET route answers HEAD too (RFC 9110 9.3.2). */
        if (strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            pattern_match(r->pattern, path, c);
            return r;
        }
        if (allow != NULL && strstr(allow, r->method) == NULL) {
            int n = snprintf(allow + off, allown - off, "%s%s%s", off ? ", " : "", r->method,
                             strcmp(r->method, "GET") == 0 ? ", HEAD" : "");

            if (n > 0 && (size_t)n < allown - off)
                off += (size_t)n;
        }
    }
    return NULL;
}

/* Which public plane the request arrived on: fixed by --plane, else named by
 * the web server (MCPGW_PLANE), else told by the port. */
static enum gw_plane request_plane(const struct gw_app *app, const struct http_request *r)
{
    const char *hint = http_param(r, "MCPGW_PLANE");
    enum gw_plane p = PLANE_NONE;

    if (hint != NULL && gw_plane_parse(hint, &p) == 0 && p != PLANE_BOTH)
        return p;
    if (app->serve_plane == PLANE_API || app->serve_plane == PLANE_MCP)
        return app->serve_plane;
    if (r->server_port[0] != '\0') {
        int port = (int)strtol(r->server_port, NULL, 10);

        if (port == app->cfg.api_port)
            return PLANE_API;
        if (port == app->cfg.mcp_port)
            return PLANE_MCP;
    }
    return PLANE_NONE;
}

/* RFC 9728: the metadata of the resource being accessed. On the MCP plane each
 * endpoint (/mcp, /servers/{name}/mcp) is its own resource with a
 * path-suffixed document; the management API is one resource. */
static void challenge(struct gw_call *c, int status, const char *error, const char *detail)
{
    const char *suffix = c->req->plane == PLANE_MCP ? c->req->path : "";
    char base[CFG_STR_MAX];

    gw_plane_url(c->app, c->req->plane, base, sizeof(base));

    if (error != NULL)
        http_add_header(c->res, "WWW-Authenticate",
                        "Bearer error=\"%s\", resource_metadata=\"%s" WK "%s\"", error, base,
                        suffix);
    else
        http_add_header(c->res, "WWW-Authenticate", "Bearer resource_metadata=\"%s" WK "%s\"",
                        base, suffix);
    http_send_problem(c->res, c->req, status, detail);
}

int router_authorize(struct gw_call *c, unsigned role)
{
    char reason[256], d[128];
    enum auth_status as = auth_authenticate(c->app, c->req, &c->identity, reason, sizeof(reason));

    if (as != AUTH_OK) {
        metrics_count_labeled("auth_failures_total", "reason", auth_failure_kind(as, reason));
        switch (as) {
        case AUTH_MISSING:
            audit_denied(c->app, c->req, NULL, 401, reason);
            challenge(c, 401, NULL, "a bearer token is required");
            break;
        case AUTH_UNAVAILABLE:
            http_add_header(c->res, "Retry-After", "5");
            http_send_problem(c->res, c->req, 503, "the identity provider's keys cannot be obtained");
            break;
        default:
            /* The claims of a rejected token are not an identity. */
            audit_denied(c->app, c->req, NULL, 401, reason);
            challenge(c, 401, "invalid_token", "the bearer token is not valid");
            break;
        }
        return -1;
    }
    if (!auth_has_role(&c->identity, role)) {
        metrics_count_labeled("auth_failures_total", "reason", "insufficient_role");
        log_warn("access_denied", "user %s lacks role %s for %s %s", c->identity.user_id,
                 auth_role_name(role), c->req->method, c->req->path);
        snprintf(d, sizeof(d), "the role '%s' is required", auth_role_name(role));
        audit_denied(c->app, c->req, &c->identity, 403, d);
        challenge(c, 403, "insufficient_scope", d);
        return -1;
    }
    c->who = &c->identity;
    return 0;
}

static void dispatch(struct gw_call *call)
{
    struct gw_app *app = call->app;
    struct http_request *req = call->req;
    struct http_response *res = call->res;
    const struct route *rt;
    char allow[128];
    int st;

    req->plane = request_plane(app, req);
    if (req->plane == PLANE_NONE || !(app->serve_plane & req->plane)) {
        http_send_problem(res, req, 404, "this responder does not serve the plane this request came in on");
        return;
    }
    if (req->content_length > 0 || strcmp(req->method, "POST") == 0 ||
        strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0) {
        st = http_read_body(req, app->cfg.body_max);
        if (st == 413) {
            char d[96];

            snprintf(d, sizeof(d), "request body larger than %ld bytes", app->cfg.body_max);
            http_send_problem(res, req, 413, d);
            return;
        }
        if (st == 408) {
            http_send_problem(res, req, 408, "the request body did not arrive in time");
            return;
        }
        if (st != 0) {
            http_send_problem(res, req, st, "request body shorter than its Content-Length");
            return;
        }
    }
    rt = router_match(req->plane, req->method, req->path, call, allow, sizeof(allow));
    if (rt == NULL) {
        if (allow[0] != '\0') {
            http_add_header(res, "Allow", "%s", allow);
            http_send_problem(res, req, 405, NULL);
        } else {
            http_send_problem(res, req, 404, NULL);
        }
        return;
    }
    call->route = rt;
    if (rt->role != 0 && router_authorize(call, rt->role) != 0)
        return;
    rt->fn(call);
    if (!res->head_sent)
        http_send_problem(res, req, 500, "the handler produced no response");
}

static int64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One access line per request, as fields (the request id is added by log.c).
 * The query string is left out: callers put secrets there despite advice. */
static void access_log(const struct gw_call *c, int64_t duration_us)
{
    const struct http_request *req = c->req;
    const struct gw_identity *id = &c->identity;
    const char *ua = http_header(req, "User-Agent");
    char ua_short[256] = "";
    struct log_field f[12];
    size_t n = 0;

    if (!log_enabled(LOG_LVL_INFO))
        return;
    if (ua != NULL)
        gw_strlcpy(ua_short, ua, sizeof(ua_short)); /* bounded: clients send anything */
    f[n++] = (struct log_field){ "method", LOG_STR, req->method ? req->method : "-", 0, 0 };
    f[n++] = (struct log_field){ "path", LOG_STR, req->path, 0, 0 };
    f[n++] = (struct log_field){ "route", LOG_STR, c->route != NULL ? c->route->pattern : NULL, 0, 0 };
    f[n++] = (struct log_field){ "status", LOG_INT, NULL, c->res->status, 0 };
    f[n++] = (struct log_field){ "bytes", LOG_INT, NULL, (long long)c->res->bytes, 0 };
    f[n++] = (struct log_field){ "duration_ms", LOG_MS, NULL, 0, (double)duration_us / 1000.0 };
    f[n++] = (struct log_field){ "plane", LOG_STR, gw_plane_name(req->plane), 0, 0 };
    f[n++] = (struct log_field){ "remote_addr", LOG_STR, req->remote_addr, 0, 0 };
    f[n++] = (struct log_field){ "user", LOG_STR, id->user_id, 0, 0 };
    f[n++] = (struct log_field){ "tenant", LOG_STR, id->tenant_id, 0, 0 };
    f[n++] = (struct log_field){ "user_agent", LOG_STR, ua_short, 0, 0 };
    if (c->res->client_gone)
        f[n++] = (struct log_field){ "client_gone", LOG_INT, NULL, 1, 0 };
    log_fields(LOG_LVL_INFO, "request", f, n, "%s %s %d", req->method ? req->method : "-", req->path,
               c->res->status);
}

void gw_handle(struct gw_app *app, struct http_io *io)
{
    struct http_request req;
    struct http_response res;
    struct gw_call call;
    int64_t t0 = monotonic_us(), us;
    size_t nroutes;
    int st;

    metrics_busy(1);
    app->requests++;
    memset(&call, 0, sizeof(call));
    call.app = app;
    call.req = &req;
    call.res = &res;
    http_response_init(&res, io);
    st = http_request_init(&req, io, app->cfg.header_max);
    res.head_only = req.method != NULL && strcmp(req.method, "HEAD") == 0;
    log_set_request_id(req.request_id);
    http_add_header(&res, "X-Request-Id", "%s", req.request_id);
    http_add_header(&res, "Cache-Control", "no-store");
    http_add_header(&res, "X-Content-Type-Options", "nosniff");
    if (st != 0)
        http_send_problem(&res, &req, st, "the request cannot be processed as sent");
    else
        dispatch(&call);
    /* No flush here: the process layer's end of request sends what is left in
     * one write. Streaming handlers flush each event themselves. */
    us = monotonic_us() - t0;
    metrics_request((int)req.plane, call.route != NULL ? (int)(call.route - router_table(&nroutes)) : -1,
                    res.status, us);
    access_log(&call, us);
    http_request_free(&req);
    log_set_request_id(NULL);
    metrics_busy(0);
}
