/* Stateless requests of MCP 2026-07-28: server/discover, the gateway's own
 * lists and tools, and upstream calls on the caller's shared upstream
 * sessions (mcp/session.c), results shaped for the new era. */
#include "mcp/stateless.h"

#include <string.h>

#include "app.h"
#include "js.h"
#include "log.h"
#include "mcp/era.h"
#include "mcp/proxy.h"
#include "mcp/server.h"
#include "mcp/session.h"
#include "util.h"

/* What the revision asks of each method it keeps; anything else (ping,
 * logging/setLevel, resources/subscribe, initialize's kin) is unknown. */
static const struct {
    const char *method;
    bool cacheable;
} methods[] = {
    { "server/discover", true },
    { "tools/list", true },
    { "prompts/list", true },
    { "resources/list", true },
    { "resources/templates/list", true },
    { "resources/read", true },
    { "tools/call", false },
    { "prompts/get", false },
    { "completion/complete", false },
};

void msl_send_error(struct http_response *res, struct json_object *id, int status, int code,
                    const char *message, struct json_object *data)
{
    struct json_object *e = jr_error(id, code, message, data);

    if (status == 503)
        http_add_header(res, "Retry-After", "2");
    http_send_json(res, status, e);
    json_object_put(e);
}

static int method_index(const char *m)
{
    for (size_t i = 0; m != NULL && i < GW_ARRAY_LEN(methods); i++)
        if (strcmp(m, methods[i].method) == 0)
            return (int)i;
    return -1;
}

int msl_shape(const char *method, int ttl_ms, const char *cache_scope, struct json_object *answer)
{
    struct json_object *r = js_get(answer, "result", json_type_object), *e, *code, *ttl;
    int i = method_index(method);

    if (r == NULL) {
        e = js_get(answer, "error", json_type_object);
        code = js_get(e, "code", json_type_int);
        return code != NULL && json_object_get_int(code) == JR_METHOD_NOT_FOUND ? 404 : 200;
    }
    /* An upstream's answer came through this caller's credentials and
     * session: never for shared caches, whatever the upstream says; and
     * fresh no longer than the gateway's own lists (a negative or larger
     * hint is replaced). */
    if (cache_scope == NULL) {
        cache_scope = "private";
        json_object_object_del(r, "cacheScope");
        if (json_object_object_get_ex(r, "ttlMs", &ttl) &&
            (!json_object_is_type(ttl, json_type_int) || json_object_get_int64(ttl) < 0 ||
             json_object_get_int64(ttl) > ttl_ms))
            json_object_object_del(r, "ttlMs");
    }
    if (!json_object_object_get_ex(r, "resultType", NULL))
        json_object_object_add(r, "resultType", json_object_new_string("complete"));
    /* Interim results carry no cache hints. */
    if (i >= 0 && methods[i].cacheable && strcmp(js_str(r, "resultType") ?: "", "complete") == 0) {
        if (!json_object_object_get_ex(r, "ttlMs", NULL))
            json_object_object_add(r, "ttlMs", json_object_new_int(ttl_ms));
        if (!json_object_object_get_ex(r, "cacheScope", NULL))
            json_object_object_add(r, "cacheScope", json_object_new_string(cache_scope));
    }
    return 200;
}

struct shaper {
    const char *method;
    int ttl_ms;
};

static int shape_upstream(void *arg, struct json_object *answer)
{
    struct shaper *s = arg;

    return msl_shape(s->method, s->ttl_ms, NULL, answer);
}

/* Send the answer (taken). */
static void send_answer(struct msl_call *sc, struct json_object *answer, const char *scope)
{
    int status = msl_shape(sc->msg->method, sc->app->cfg.mcp_list_ttl_ms, scope, answer);

    http_send_json(sc->res, status, answer);
    json_object_put(answer);
}

/* server/discover from the session era's InitializeResult (which it takes):
 * the same capabilities and identity, with the versions we speak. */
static struct json_object *discover_result(struct json_object *init)
{
    struct json_object *r = json_object_new_object(), *meta = json_object_new_object(),
                       *versions = json_object_new_array(), *v, *caps = NULL;
    const char *const *all;
    size_t n;

    all = mce_versions(&n);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(versions, json_object_new_string(all[i]));
    json_object_object_add(r, "supportedVersions", versions);
    /* A copy: the virtual server's capabilities belong to the catalog. */
    if (json_object_object_get_ex(init, "capabilities", &v) && json_object_deep_copy(v, &caps, NULL) == 0)
        json_object_object_add(r, "capabilities", caps);
    if (json_object_object_get_ex(init, "serverInfo", &v))
        json_object_object_add(meta, MCE_META_SERVER, json_object_get(v));
    json_object_object_add(r, "_meta", meta);
    if (json_object_object_get_ex(init, "instructions", &v))
        json_object_object_add(r, "instructions", json_object_get(v));
    json_object_put(init);
    return r;
}

static void discover(struct msl_call *sc)
{
    struct json_object *r, *caps;

    r = discover_result(sc->srv != NULL ? mpx_initialize_result(sc->srv, MCP_VERSION_STATELESS)
                                        : mcp_initialize_result(MCP_VERSION_STATELESS));
    /* Change notifications need subscriptions/listen, which the gateway does
     * not serve: a stateless client relies on ttlMs instead. */
    caps = js_get(r, "capabilities", json_type_object);
    json_object_object_foreach(caps, k, v) {
        (void)k;
        if (json_object_is_type(v, json_type_object)) {
            json_object_object_del(v, "listChanged");
            json_object_object_del(v, "subscribe");
        }
    }
    if (caps != NULL && !json_object_object_get_ex(caps, "extensions", NULL))
        json_object_object_add(caps, "extensions", json_object_new_object());
    /* A virtual server is visible to some callers only. */
    send_answer(sc, jr_result(sc->msg->id, r), sc->srv != NULL ? "private" : "public");
}

/* The request an upstream of the session era is sent: the new era's _meta
 * keys are ours to read, not its (a progress token stays). Owned copy. */
static struct json_object *for_upstream(const struct jr_msg *m, struct jr_msg *out)
{
    struct json_object *copy = NULL, *meta;

    if (json_object_deep_copy(m->root, &copy, NULL) != 0)
        return NULL;
    *out = *m;
    out->root = copy;
    out->id = NULL;
    json_object_object_get_ex(copy, "id", &out->id);
    out->params = js_get(copy, "params", json_type_object);
    meta = js_get(out->params, "_meta", json_type_object);
    if (meta != NULL) {
        json_object_object_del(meta, MCE_META_VERSION);
        json_object_object_del(meta, MCE_META_CAPS);
        json_object_object_del(meta, MCE_META_CLIENT);
        json_object_object_del(meta, MCE_META_LOG_LEVEL);
        if (json_object_object_length(meta) == 0)
            json_object_object_del(out->params, "_meta");
    }
    return copy;
}

static const char *request_header(void *arg, const char *name)
{
    return http_header(arg, name);
}

/* The inputSchema of the upstream tool a tools/call names (the catalog's
 * copy, borrowed), or NULL for a built-in or unknown one. snap: the catalog
 * as read for /mcp (NULL on a virtual server's endpoint). */
static struct json_object *tool_schema(struct msl_call *sc, const struct cat_snapshot *snap)
{
    const char *name = js_str(sc->msg->params, "name"), *tool = name;
    const struct cat_server *srv = sc->srv;
    char sname[64];

    if (name == NULL)
        return NULL;
    if (srv == NULL) {
        if (snap == NULL || cat_split_name(name, sname, sizeof(sname), &tool) != 0 ||
            strcmp(sname, "gateway") == 0 || (srv = cat_find(snap, sc->who, sname)) == NULL)
            return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(srv->tools); i++) {
        struct json_object *t = json_object_array_get_idx(srv->tools, i);

        if (strcmp(js_str(t, "name") ?: "", tool) == 0)
            return js_get(t, "inputSchema", json_type_object);
    }
    return NULL;
}

/* Mcp-Param-* headers against the arguments (mcp/era.c): 0, or answered. */
static int check_param_headers(struct msl_call *sc, const struct cat_snapshot *snap)
{
    struct mce_verdict v;
    struct json_object *schema;

    if (strcmp(sc->msg->method, "tools/call") != 0 || (schema = tool_schema(sc, snap)) == NULL)
        return 0;
    if (mce_check_params(schema, js_get(sc->msg->params, "arguments", json_type_object), request_header,
                         (void *)sc->req, &v) == 0)
        return 0;
    log_info("mcp_request_refused", "%s (%d)", v.message, v.code);
    msl_send_error(sc->res, sc->msg->id, v.status, v.code, v.message, NULL);
    return -1;
}

/* The upstream server the request goes to when that is known before routing:
 * the virtual server's, or the one whose listed tool a tools/call on /mcp
 * names; else NULL. */
static const struct cat_server *call_target(struct msl_call *sc, const struct cat_snapshot *snap)
{
    const char *tool;
    char sname[64];

    if (sc->srv != NULL)
        return sc->srv;
    if (strcmp(sc->msg->method, "tools/call") != 0 || tool_schema(sc, snap) == NULL ||
        cat_split_name(js_str(sc->msg->params, "name"), sname, sizeof(sname), &tool) != 0)
        return NULL;
    return cat_find(snap, sc->who, sname);
}

struct slot_read {
    struct mpx_call *pc;
    const struct cat_server *srv;
};

static redisReply *read_taking_slot(void *arg, int cmdc, const char **cmd)
{
    struct slot_read *sr = arg;

    return mpx_slot_take_after(sr->pc, sr->srv, cmdc, cmd);
}

/* The caller's upstream sessions into ids; with the slot of the server the
 * request goes to, when known, taken in the same round trip (for forward:
 * mpx_slot_after gives it back when forward did not use it). */
static enum ms_status upstreams_and_slot(struct msl_call *sc, const struct cat_snapshot *snap,
                                         struct mpx_call *pc, struct ms_session *ids)
{
    struct slot_read sr = { pc, call_target(sc, snap) };

    if (sr.srv == NULL)
        return ms_identity_upstreams(sc->app, sc->who, ids);
    return ms_identity_upstreams_read(sc->app, sc->who, ids, read_taking_slot, &sr);
}

/* Requests that may reach an upstream: on the caller's upstream sessions. */
static void upstream_or_own(struct msl_call *sc)
{
    struct ms_session ids;
    struct mpx_call pc;
    struct mcp_call mc;
    struct jr_msg up;
    struct shaper shp = { sc->msg->method, sc->app->cfg.mcp_list_ttl_ms };
    const struct cat_snapshot *snap = NULL;
    struct json_object *copy;
    char why[256];

    /* One read of the catalog serves the header check and the routing. */
    if (sc->srv == NULL && cat_current(sc->app, &snap, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s", why);
        msl_send_error(sc->res, sc->msg->id, 200, MPX_CATALOG_UNAVAILABLE,
                       "The server catalog is unavailable: try again later", NULL);
        return;
    }
    if (check_param_headers(sc, snap) != 0)
        return;
    if ((copy = for_upstream(sc->msg, &up)) == NULL) {
        msl_send_error(sc->res, sc->msg->id, 500, JR_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    mpx_call_init(&pc, sc->app, sc->res, sc->who, &ids, &up, sc->request_id);
    if (upstreams_and_slot(sc, snap, &pc, &ids) != MS_OK) {
        msl_send_error(sc->res, sc->msg->id, 503, JR_INTERNAL_ERROR,
                       "Upstream sessions are unavailable (Redis cannot be reached): retry later", NULL);
        mpx_slot_after(&pc);
        json_object_put(copy);
        return;
    }
    pc.client_caps = js_get(js_get(sc->msg->params, "_meta", json_type_object), MCE_META_CAPS,
                            json_type_object);
    pc.shape = shape_upstream;
    pc.shape_arg = &shp;
    pc.snap = snap;
    /* Log messages only for a request that set a level (2026-07-28). */
    pc.drop_log_messages = js_get(js_get(sc->msg->params, "_meta", json_type_object), MCE_META_LOG_LEVEL,
                                  json_type_string) == NULL;
    if (sc->srv != NULL) {
        mpx_forward(&pc, sc->srv);
    } else if (!mpx_route(&pc)) {
        memset(&mc, 0, sizeof(mc));
        mc.app = sc->app;
        mc.who = sc->who;
        mc.msg = sc->msg;
        mc.request_id = sc->request_id;
        send_answer(sc, mcp_dispatch(&mc), "private");
    }
    mpx_slot_after(&pc);
    json_object_put(copy);
    ms_session_clear(&ids);
}

void msl_post(struct msl_call *sc)
{
    const struct jr_msg *m = sc->msg;
    struct mcp_call mc;
    int i;

    if (m->kind == JR_NOTIFICATION) {
        /* Each request has its own stream, whose end is its cancellation:
         * no notification of the client needs passing on. */
        http_add_header(sc->res, "Content-Length", "0");
        http_send_head(sc->res, 202, NULL);
        return;
    }
    i = method_index(m->method);
    if (i < 0 || (sc->srv == NULL && strcmp(m->method, "completion/complete") == 0)) {
        msl_send_error(sc->res, m->id, 404, JR_METHOD_NOT_FOUND, "Method not found",
                       json_object_new_string(m->method));
        return;
    }
    if (strcmp(m->method, "server/discover") == 0) {
        discover(sc);
        return;
    }
    /* The gateway's own lists on /mcp need no upstream session. */
    if (sc->srv == NULL && strcmp(m->method, "tools/call") != 0 && strcmp(m->method, "prompts/get") != 0 &&
        strcmp(m->method, "resources/read") != 0) {
        memset(&mc, 0, sizeof(mc));
        mc.app = sc->app;
        mc.who = sc->who;
        mc.msg = m;
        mc.request_id = sc->request_id;
        /* Filtered by tenant and role: only for this caller. */
        send_answer(sc, mcp_dispatch(&mc), "private");
        return;
    }
    upstream_or_own(sc);
}
