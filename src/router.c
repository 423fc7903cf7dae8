/* The route table of both planes and the request pipeline every request goes
 * through: request id, plane, body limit, route, authentication, role, log. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "routes.h"
#include "util.h"

#define WK GW_WELL_KNOWN_PRM

static const struct route routes[] = {
    { PLANE_API, "GET", "/health", route_health, 0, "liveness summary" },
    { PLANE_API, "GET", "/health/ready", route_health_ready, 0, "readiness: Redis and PostgreSQL reachable" },
    { PLANE_API, "GET", "/health/components", route_health_components, ROLE_OPERATOR,
      "every component checked in parallel" },
    { PLANE_API, "GET", "/metrics", route_metrics, 0, "Prometheus metrics, fleet-wide" },
    { PLANE_API, "GET", "/api/v1/me", route_me, ROLE_USER, "the caller's identity as the gateway sees it" },
    { PLANE_API, "GET", "/api/v1/sessions", route_sessions_list, ROLE_OPERATOR,
      "MCP sessions of the caller's tenant (all tenants for platform_admin)" },
    { PLANE_API, "GET", "/api/v1/sessions/{id}", route_sessions_get, ROLE_OPERATOR, "one MCP session" },
    { PLANE_API, "DELETE", "/api/v1/sessions/{id}", route_sessions_delete, ROLE_ADMIN,
      "revoke an MCP session: its next request is 404" },
    { PLANE_MCP, "POST", "/mcp", route_mcp_post, ROLE_USER, "MCP: one JSON-RPC message" },
    { PLANE_MCP, "GET", "/mcp", route_mcp_get, ROLE_USER, "MCP: the session's stream of server messages" },
    { PLANE_MCP, "DELETE", "/mcp", route_mcp_delete, ROLE_USER, "MCP: end the session" },
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
        if (strcmp(r->method, method) == 0) {
            pattern_match(r->pattern, path, c);
            return r;
        }
        if (allow != NULL && strstr(allow, r->method) == NULL) {
            int n = snprintf(allow + off, allown - off, "%s%s", off ? ", " : "", r->method);

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

static void dispatch(struct gw_app *app, struct http_request *req, struct http_response *res)
{
    struct gw_call call;
    struct gw_identity who;
    const struct route *rt;
    char allow[128], reason[256];
    int st;

    memset(&call, 0, sizeof(call));
    call.app = app;
    call.req = req;
    call.res = res;

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
        if (st != 0) {
            http_send_problem(res, req, st, "request body shorter than its Content-Length");
            return;
        }
    }
    rt = router_match(req->plane, req->method, req->path, &call, allow, sizeof(allow));
    if (rt == NULL) {
        if (allow[0] != '\0') {
            http_add_header(res, "Allow", "%s", allow);
            http_send_problem(res, req, 405, NULL);
        } else {
            http_send_problem(res, req, 404, NULL);
        }
        return;
    }
    if (rt->role != 0) {
        enum auth_status as = auth_authenticate(app, req, &who, reason, sizeof(reason));

        switch (as) {
        case AUTH_OK:
            break;
        case AUTH_MISSING:
            challenge(&call, 401, NULL, "a bearer token is required");
            return;
        case AUTH_INVALID:
            challenge(&call, 401, "invalid_token", "the bearer token is not valid");
            return;
        case AUTH_UNAVAILABLE:
            http_add_header(res, "Retry-After", "5");
            http_send_problem(res, req, 503, "the identity provider's keys cannot be obtained");
            return;
        }
        if (!auth_has_role(&who, rt->role)) {
            char d[128];

            log_warn("access_denied", "user %s lacks role %s for %s %s", who.user_id,
                     auth_role_name(rt->role), req->method, req->path);
            snprintf(d, sizeof(d), "the role '%s' is required", auth_role_name(rt->role));
            challenge(&call, 403, "insufficient_scope", d);
            return;
        }
        call.who = &who;
    }
    rt->fn(&call);
    if (!res->head_sent)
        http_send_problem(res, req, 500, "the handler produced no response");
}

void gw_handle(struct gw_app *app, struct http_io *io)
{
    struct http_request req;
    struct http_response res;
    int st;

    app->requests++;
    http_response_init(&res, io);
    st = http_request_init(&req, io, app->cfg.header_max);
    log_set_request_id(req.request_id);
    http_add_header(&res, "X-Request-Id", "%s", req.request_id);
    http_add_header(&res, "Cache-Control", "no-store");
    http_add_header(&res, "X-Content-Type-Options", "nosniff");
    if (st != 0)
        http_send_problem(&res, &req, st, "the request cannot be processed as sent");
    else
        dispatch(app, &req, &res);
    /* No flush here: the process layer's end of request sends what is left in
     * one write. Streaming handlers flush each event themselves. */
    log_info("request", "%s %s %d %zub %lldms plane=%s%s", req.method ? req.method : "-",
             req.path, res.status, res.bytes, (long long)(gw_monotonic_ms() - req.start_ms),
             gw_plane_name(req.plane), res.client_gone ? " client_gone" : "");
    http_request_free(&req);
    log_set_request_id(NULL);
}
