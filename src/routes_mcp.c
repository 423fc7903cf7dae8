/* The MCP plane over HTTP (Streamable HTTP): header rules, one JSON-RPC
 * message per POST, its era (mcp/era.c: stateless 2026-07-28 requests go to
 * mcp/stateless.c), sessions of the 2025-11-25 era, the answers of
 * mcp/server.c, and the virtual servers of /servers/{name}/mcp (mcp/proxy.c
 * forwards). */
#include <string.h>

#include "app.h"
#include "js.h"
#include "log.h"
#include "metrics.h"
#include "mcp/catalog.h"
#include "mcp/era.h"
#include "mcp/jsonrpc.h"
#include "mcp/proxy.h"
#include "mcp/server.h"
#include "mcp/session.h"
#include "mcp/stateless.h"
#include "mcp/stream.h"
#include "mcp/transport.h"
#include "routes.h"
#include "util.h"

/* An HTTP error whose body is a JSON-RPC error without an id. */
static void rpc_fail(struct gw_call *c, int status, int code, const char *message)
{
    msl_send_error(c->res, NULL, status, code, message, NULL);
}

static void sessions_unavailable(struct gw_call *c)
{
    rpc_fail(c, 503, JR_INTERNAL_ERROR, "Sessions are unavailable (Redis cannot be reached)");
}

/* Checks every MCP request passes before anything else is looked at. A
 * POST's version is the era's to judge, with its body (mcp/era.c). */
static int common_checks(struct gw_call *c)
{
    const char *version = http_header(c->req, "MCP-Protocol-Version");
    char msg[160];

    if (!mt_host_allowed(&c->app->cfg, c->req->host)) {
        log_warn("mcp_host_refused", "Host %.200s is not one of the MCP plane's names", c->req->host);
        rpc_fail(c, 403, JR_INVALID_REQUEST, "Forbidden: this Host is not the MCP endpoint's");
        return -1;
    }
    if (!mt_origin_allowed(&c->app->cfg, c->req->origin)) {
        log_warn("mcp_origin_refused", "Origin %.200s is not allowed", c->req->origin);
        rpc_fail(c, 403, JR_INVALID_REQUEST, "Forbidden: this Origin is not allowed");
        return -1;
    }
    /* The stateless revision has no GET stream and no sessions to DELETE. */
    if (strcmp(c->req->method, "POST") != 0 && mce_version_stateless(version)) {
        http_add_header(c->res, "Allow", "POST");
        rpc_fail(c, 405, JR_INVALID_REQUEST, "Method Not Allowed: MCP 2026-07-28 has only POST (no GET stream, "
                 "no sessions to DELETE)");
        return -1;
    }
    if (strcmp(c->req->method, "POST") != 0 && version != NULL && !mt_version_supported(version)) {
        snprintf(msg, sizeof(msg), "Bad Request: unsupported MCP-Protocol-Version (supported: %s)",
                 mt_versions_list());
        rpc_fail(c, 400, JR_INVALID_REQUEST, msg);
        return -1;
    }
    return 0;
}

/* The caller's session, or an answer sent: 400 without an id, 404 for one
 * that is unknown, expired, revoked, someone else's or another endpoint's,
 * 503 without Redis. endpoint: "" for /mcp, else the virtual server's name. */
static int require_session(struct gw_call *c, struct ms_session *s, const char *endpoint)
{
    const char *sid = http_header(c->req, "Mcp-Session-Id");

    if (sid == NULL || sid[0] == '\0') {
        rpc_fail(c, 400, JR_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
        return -1;
    }
    switch (ms_touch(c->app, sid, c->who, s)) {
    case MS_OK:
        if (strcmp(s->endpoint, endpoint) == 0)
            return 0;
        ms_session_clear(s);
        /* A session lives on the endpoint that opened it. */
        __attribute__((fallthrough));
    case MS_NOT_FOUND:
        rpc_fail(c, 404, JR_INVALID_REQUEST, "Session not found: send initialize to start a new one");
        return -1;
    default:
        sessions_unavailable(c);
        return -1;
    }
}

static void initialize(struct gw_call *c, struct jr_msg *m, const struct cat_server *srv)
{
    const char *requested = js_str(m->params, "protocolVersion");
    const char *version;
    struct ms_session s;
    struct json_object *r;

    if (http_header(c->req, "Mcp-Session-Id") != NULL) {
        rpc_fail(c, 400, JR_INVALID_REQUEST, "Bad Request: initialize starts a session; send it without Mcp-Session-Id");
        return;
    }
    if (requested == NULL) {
        r = jr_error(m->id, JR_INVALID_PARAMS, "initialize needs params.protocolVersion", NULL);
        http_send_json(c->res, 200, r);
        json_object_put(r);
        return;
    }
    version = mt_negotiate(requested);
    switch (ms_create(c->app, c->who, version, srv != NULL ? srv->name : "",
                      js_get(m->params, "clientInfo", json_type_object),
                      js_get(m->params, "capabilities", json_type_object), &s)) {
    case MS_OK:
        break;
    case MS_NOT_FOUND:
        rpc_fail(c, 401, JR_INVALID_REQUEST, "the token has expired");
        return;
    default:
        sessions_unavailable(c);
        return;
    }
    log_info("mcp_session_created", "session %.8s... for %s, protocol %s%s%s", s.id, c->who->user_id,
             version, srv != NULL ? ", server " : "", srv != NULL ? srv->name : "");
    http_add_header(c->res, "Mcp-Session-Id", "%s", s.id);
    r = jr_result(m->id, srv != NULL ? mpx_initialize_result(srv, version) : mcp_initialize_result(version));
    http_send_json(c->res, 200, r);
    json_object_put(r);
}

/* The virtual server of /servers/{name}/mcp, or an answer sent: 404 for a
 * server the caller may not see (as for one that does not exist). */
static const struct cat_server *virtual_server(struct gw_call *c)
{
    const struct cat_snapshot *snap;
    const struct cat_server *srv;
    char why[256];

    if (cat_current(c->app, &snap, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s", why);
        rpc_fail(c, 503, JR_INTERNAL_ERROR, "The server catalog is unavailable: retry later");
        return NULL;
    }
    srv = cat_find(snap, c->who, c->params[0]);
    if (srv == NULL)
        rpc_fail(c, 404, JR_INVALID_REQUEST, "Not found: no MCP server by this name");
    return srv;
}

/* The refusal of a request the era rules turn away: its id kept, and for an
 * unsupported version the versions we speak, as the 2026-07-28 revision has it. */
static void era_refuse(struct gw_call *c, const struct jr_msg *m, const struct mce_verdict *v)
{
    struct json_object *data = NULL;

    if (v->code == MCE_UNSUPPORTED_VERSION) {
        struct json_object *list = json_object_new_array();
        const char *const *all;
        size_t n;

        all = mce_versions(&n);
        for (size_t i = 0; i < n; i++)
            json_object_array_add(list, json_object_new_string(all[i]));
        data = json_object_new_object();
        json_object_object_add(data, "supported", list);
        json_object_object_add(data, "requested", json_object_new_string(v->requested));
    }
    log_info("mcp_request_refused", "%s (%d)", v->message, v->code);
    msl_send_error(c->res, m->id, v->status, v->code, v->message, data);
}

/* The era of the message: MCE_SESSION goes on to the session era's path
 * below; a stateless request or a refusal is answered here. */
static enum mce_era era_dispatch(struct gw_call *c, struct jr_msg *m, const struct cat_server *srv)
{
    struct mce_headers h = {
        .version = http_header(c->req, "MCP-Protocol-Version"),
        .method = http_header(c->req, "Mcp-Method"),
        .name = http_header(c->req, "Mcp-Name"),
    };
    struct mce_verdict v;
    struct msl_call sc;

    mce_classify(&h, m, &v);
    if (v.era == MCE_REFUSED) {
        era_refuse(c, m, &v);
    } else if (v.era == MCE_STATELESS) {
        memset(&sc, 0, sizeof(sc));
        sc.app = c->app;
        sc.req = c->req;
        sc.res = c->res;
        sc.who = c->who;
        sc.srv = srv;
        sc.msg = m;
        sc.request_id = c->req->request_id;
        msl_post(&sc);
    }
    return v.era;
}

/* One message on /mcp (srv NULL) or on a virtual server's endpoint. */
static void mcp_post(struct gw_call *c, const struct cat_server *srv)
{
    struct jr_msg m;
    struct ms_session s;
    struct mcp_call mc;
    struct mpx_call pc;
    struct json_object *r;
    char why[160], server_id[sizeof(srv->id)];
    int code;

    if (!mt_accepts(c->req->accept, "application/json") || !mt_accepts(c->req->accept, "text/event-stream")) {
        rpc_fail(c, 406, JR_INVALID_REQUEST,
                 "Not Acceptable: Accept must list both application/json and text/event-stream");
        return;
    }
    if (!mt_is_json(c->req->content_type)) {
        rpc_fail(c, 415, JR_INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json");
        return;
    }
    code = jr_parse(c->req->body != NULL ? c->req->body : "", c->req->body_len, c->app->cfg.json_depth,
                    &m, why, sizeof(why));
    if (code != 0) {
        rpc_fail(c, 400, code, code == JR_PARSE_ERROR ? "Parse error" : why);
        return;
    }
    if (era_dispatch(c, &m, srv) != MCE_SESSION) {
        jr_msg_free(&m);
        return;
    }
    if (strcmp(m.method != NULL ? m.method : "", "initialize") == 0) {
        if (m.kind == JR_REQUEST)
            initialize(c, &m, srv);
        else
            rpc_fail(c, 400, JR_INVALID_REQUEST, "initialize must be a request (with an id)");
        jr_msg_free(&m);
        return;
    }
    if (require_session(c, &s, srv != NULL ? srv->name : "") != 0) {
        jr_msg_free(&m);
        return;
    }
    mpx_call_init(&pc, c->app, c->res, c->who, &s, &m, c->req->request_id);
    if (m.kind != JR_REQUEST) {
        /* Responses to relayed upstream requests and notifications (cancelled)
         * go on to the upstreams; the client needs no answer. */
        if (srv != NULL)
            gw_strlcpy(server_id, srv->id, sizeof(server_id));
        mpx_client_message(&pc, srv != NULL ? server_id : NULL);
        http_add_header(c->res, "Content-Length", "0");
        http_send_head(c->res, 202, NULL);
        jr_msg_free(&m);
        ms_session_clear(&s);
        return;
    }
    if (srv != NULL && strcmp(m.method, "ping") != 0) {
        mpx_forward(&pc, srv);
        jr_msg_free(&m);
        ms_session_clear(&s);
        return;
    }
    if (srv == NULL && mpx_route(&pc)) {
        jr_msg_free(&m);
        ms_session_clear(&s);
        return;
    }
    mc.app = c->app;
    mc.who = c->who;
    mc.session = &s;
    mc.msg = &m;
    mc.request_id = c->req->request_id;
    r = mcp_dispatch(&mc);
    http_send_json(c->res, 200, r);
    json_object_put(r);
    jr_msg_free(&m);
    ms_session_clear(&s);
}

void route_mcp_post(struct gw_call *c)
{
    if (common_checks(c) != 0)
        return;
    mcp_post(c, NULL);
}

void route_servers_mcp_post(struct gw_call *c)
{
    const struct cat_server *srv;

    if (common_checks(c) != 0 || (srv = virtual_server(c)) == NULL)
        return;
    mcp_post(c, srv);
}

static void mcp_delete(struct gw_call *c, const char *endpoint)
{
    struct ms_session s;
    struct mpx_call pc;

    if (require_session(c, &s, endpoint) != 0)
        return;
    if (ms_delete(c->app, s.id) == MS_UNAVAILABLE) {
        sessions_unavailable(c);
        ms_session_clear(&s);
        return;
    }
    mpx_call_init(&pc, c->app, c->res, c->who, &s, NULL, c->req->request_id);
    mpx_end_upstreams(&pc);
    log_info("mcp_session_ended", "session %.8s... ended by its client", s.id);
    http_send_head(c->res, 204, NULL);
    ms_session_clear(&s);
}

void route_mcp_delete(struct gw_call *c)
{
    if (common_checks(c) == 0)
        mcp_delete(c, "");
}

/* fn on the session of the per-server endpoint the caller may see, by its
 * name (a copy: the catalog may be read again meanwhile). */
static void on_virtual_server(struct gw_call *c, void (*fn)(struct gw_call *c, const char *endpoint))
{
    const struct cat_server *srv;
    char name[sizeof(srv->name)];

    if (common_checks(c) != 0 || (srv = virtual_server(c)) == NULL)
        return;
    gw_strlcpy(name, srv->name, sizeof(name));
    fn(c, name);
}

void route_servers_mcp_delete(struct gw_call *c)
{
    on_virtual_server(c, mcp_delete);
}

/* The session's own stream of server messages (notifications and requests
 * from the gateway or its upstreams), resumable with Last-Event-ID. */
static void mcp_get(struct gw_call *c, const char *endpoint)
{
    struct ms_session s;

    if (!mt_accepts(c->req->accept, "text/event-stream")) {
        rpc_fail(c, 406, JR_INVALID_REQUEST, "Not Acceptable: Accept must list text/event-stream");
        return;
    }
    if (require_session(c, &s, endpoint) != 0)
        return;
    ms_session_clear(&s); /* a stream needs none of its upstream sessions */
    /* HEAD learns what a GET would start, without holding a stream open. */
    if (strcmp(c->req->method, "HEAD") == 0) {
        http_send_head(c->res, 200, "text/event-stream");
        return;
    }
    if (!metrics_stream_begin()) {
        log_warn("mcp_stream_refused", "GET stream of session %.8s... refused: half of this host's "
                 "responders already hold streams", s.id);
        rpc_fail(c, 503, JR_INTERNAL_ERROR, "Too many open streams on this host: retry later");
        return;
    }
    if (mst_serve(c->app, c->res, &s, http_header(c->req, "Last-Event-ID")) != 0)
        sessions_unavailable(c);
    metrics_stream_end();
}

void route_mcp_get(struct gw_call *c)
{
    if (common_checks(c) == 0)
        mcp_get(c, "");
}

void route_servers_mcp_get(struct gw_call *c)
{
    on_virtual_server(c, mcp_get);
}
