/* Management routes of the registry: /api/v1/servers and /api/v1/tools. They
 * turn requests into registry calls and registry errors into problem+json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "registry.h"
#include "routes.h"
#include "util.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

static void actor_of(const struct gw_call *c, struct reg_actor *a)
{
    a->user_id = c->who->user_id;
    a->tenant_id = c->who->tenant_id;
    a->platform = auth_has_role(c->who, ROLE_PLATFORM_ADMIN);
    a->admin = auth_has_role(c->who, ROLE_ADMIN);
    a->request_id = c->req->request_id;
}

static int status_of(enum reg_code code)
{
    switch (code) {
    case REG_OK: return 200;
    case REG_BAD_REQUEST: return 400;
    case REG_FORBIDDEN: return 403;
    case REG_NOT_FOUND: return 404;
    case REG_CONFLICT: return 409;
    case REG_PRECONDITION_FAILED: return 412;
    case REG_UPSTREAM_FAILED: return 502;
    case REG_UPSTREAM_TIMEOUT: return 504;
    case REG_UNAVAILABLE: return 503;
    case REG_INTERNAL: break;
    }
    return 500;
}

/* The registry's error as problem+json: phase, reason and field as members.
 * A refusal by role or tenant is audited as a denied request. */
static void answer_error(struct gw_call *c, const struct reg_error *e)
{
    struct json_object *ext = json_object_new_object();
    int status = status_of(e->code);

    if (e->phase != NULL)
        json_object_object_add(ext, "phase", json_object_new_string(e->phase));
    if (e->reason != NULL)
        json_object_object_add(ext, "reason", json_object_new_string(e->reason));
    if (e->field[0] != '\0')
        json_object_object_add(ext, "field", json_object_new_string(e->field));
    if (status == 403) {
        log_warn("access_denied", "%s %s: %s", c->req->method, c->req->path, e->detail);
        audit_denied(c->app, c->req, c->who, 403, e->detail);
    } else if (status >= 500) {
        log_warn("registry_failed", "%s %s: %d %s", c->req->method, c->req->path, status, e->detail);
    }
    if (status == 503)
        http_add_header(c->res, "Retry-After", "5");
    http_send_problem_ext(c->res, c->req, status, e->detail, ext);
    json_object_put(ext);
}

/* out is read after rc was computed: pass its address, not its value. */
static void answer(struct gw_call *c, int rc, int status, struct json_object **outp,
                   const struct reg_error *e)
{
    struct json_object *out = outp != NULL ? *outp : NULL;

    if (rc != 0) {
        answer_error(c, e);
        return;
    }
    if (out != NULL) {
        struct json_object *v;

        /* A server object carries its version: the ETag for If-Match. */
        if (json_object_object_get_ex(out, "version", &v) && json_object_is_type(v, json_type_int))
            http_add_header(c->res, "ETag", "\"%d\"", json_object_get_int(v));
        http_send_json(c->res, status, out);
    } else {
        http_send_text(c->res, 204, "application/json", "");
    }
    json_object_put(out);
}

/* The request body as a JSON object; NULL after answering 400 or 415. */
struct json_object *route_read_json(struct gw_call *c)
{
    struct json_tokener *tok;
    struct json_object *o = NULL;

    if (!gw_has_prefix(c->req->content_type, "application/json")) {
        http_send_problem(c->res, c->req, 415, "the body must be application/json");
        return NULL;
    }
    tok = json_tokener_new_ex(c->app->cfg.json_depth);
    if (tok != NULL && c->req->body != NULL) {
        o = json_tokener_parse_ex(tok, c->req->body, (int)c->req->body_len);
        if (json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != c->req->body_len) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    if (o == NULL) {
        struct json_object *ext = json_object_new_object();

        json_object_object_add(ext, "phase", json_object_new_string("validation"));
        json_object_object_add(ext, "reason", json_object_new_string("invalid_body"));
        http_send_problem_ext(c->res, c->req, 400, "the body is not valid JSON", ext);
        json_object_put(ext);
    }
    return o;
}

/* A query parameter, NULL when absent; answers 400 and sets *bad when malformed. */
static const char *query(struct gw_call *c, const char *name, char *buf, size_t n, int *bad)
{
    const char *cur = NULL;
    char key[256], val[1024];
    int rc;

    /* Walk every pair with room for any value we take, so that a long value
     * of another parameter is not blamed on this one. */
    while ((rc = http_query_next(c->req, &cur, key, sizeof(key), val, sizeof(val))) == 1 &&
           strcmp(key, name) != 0)
        ;
    if (rc == 1 && gw_strlcpy(buf, val, n) != 0)
        rc = -1;

    if (rc < 0 && !*bad) {
        char d[128];
        struct json_object *ext = json_object_new_object();

        *bad = 1;
        json_object_object_add(ext, "field", json_object_new_string(name));
        snprintf(d, sizeof(d), "query parameter '%s' is malformed or too long", name);
        http_send_problem_ext(c->res, c->req, 400, d, ext);
        json_object_put(ext);
    }
    return rc == 1 ? buf : NULL;
}

static int query_limit(struct gw_call *c, int *limit, int *bad)
{
    char buf[16], *end;
    long v;

    *limit = LIST_DEFAULT;
    if (query(c, "limit", buf, sizeof(buf), bad) == NULL)
        return *bad ? -1 : 0;
    v = strtol(buf, &end, 10);
    if (*end != '\0' || end == buf || v < 1 || v > LIST_MAX) {
        struct reg_error e = { .code = REG_BAD_REQUEST, .reason = "invalid_query", .field = "limit" };

        snprintf(e.detail, sizeof(e.detail), "'limit' must be an integer from 1 to %d", LIST_MAX);
        answer_error(c, &e);
        *bad = 1;
        return -1;
    }
    *limit = (int)v;
    return 0;
}

/* If-Match: "N", W/"N" or *. 1 with *version (-1 for *), 0 when absent, -1 when unusable. */
static int if_match(struct gw_call *c, int *version)
{
    const char *h = http_header(c->req, "If-Match");
    char *end;
    long v;

    *version = -1;
    if (h == NULL || h[0] == '\0')
        return 0;
    if (strcmp(h, "*") == 0)
        return 1;
    if (gw_has_prefix(h, "W/"))
        h += 2;
    if (h[0] != '"')
        return -1;
    v = strtol(h + 1, &end, 10);
    if (end == h + 1 || strcmp(end, "\"") != 0 || v < 1 || v > 2000000000)
        return -1;
    *version = (int)v;
    return 1;
}

/* A list page the registry wrote as JSON text. */
static void answer_text(struct gw_call *c, int rc, char **text, const struct reg_error *e)
{
    if (rc != 0)
        answer_error(c, e);
    else
        http_send_text(c->res, 200, "application/json", *text);
    free(*text);
    *text = NULL;
}

typedef int (*by_id_fn)(struct gw_app *app, const struct reg_actor *a, const char *id,
                        struct json_object **out, struct reg_error *e);

/* The routes on /api/v1/servers/{id}... that take nothing but the id. */
static void by_id(struct gw_call *c, by_id_fn fn)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct json_object *out = NULL;

    actor_of(c, &a);
    answer(c, fn(c->app, &a, c->params[0], &out, &e), 200, &out, &e);
}

void route_servers_register(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct json_object *body, *out = NULL;
    int rc;

    if ((body = route_read_json(c)) == NULL)
        return;
    actor_of(c, &a);
    rc = reg_register(c->app, &a, body, &out, &e);
    json_object_put(body);
    if (rc == 0) {
        struct json_object *id;

        if (json_object_object_get_ex(out, "server_id", &id))
            http_add_header(c->res, "Location", "/api/v1/servers/%s", json_object_get_string(id));
        http_send_json(c->res, 201, out);
        json_object_put(out);
        return;
    }
    answer_error(c, &e);
}

void route_servers_list(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct reg_list_query q = { 0 };
    char *out = NULL;
    char tag[128], status[32], role[128], text[256], cursor[900];
    int bad = 0;

    q.tag = query(c, "tag", tag, sizeof(tag), &bad);
    q.status = query(c, "status", status, sizeof(status), &bad);
    q.agent_role = query(c, "agent_role", role, sizeof(role), &bad);
    q.q = query(c, "q", text, sizeof(text), &bad);
    q.cursor = query(c, "cursor", cursor, sizeof(cursor), &bad);
    if (bad || query_limit(c, &q.limit, &bad) != 0)
        return;
    /* A misspelt status would match no server: say so instead of an empty list. */
    if (q.status != NULL && strcmp(q.status, "active") != 0 && strcmp(q.status, "unhealthy") != 0 &&
        strcmp(q.status, "unreachable") != 0 && strcmp(q.status, "maintenance") != 0) {
        struct reg_error be = { .code = REG_BAD_REQUEST, .reason = "invalid_query", .field = "status" };

        snprintf(be.detail, sizeof(be.detail), "'status' must be active, unhealthy, unreachable "
                 "or maintenance");
        answer_error(c, &be);
        return;
    }
    actor_of(c, &a);
    answer_text(c, reg_list(c->app, &a, &q, &out, &e), &out, &e);
}

void route_servers_get(struct gw_call *c)
{
    by_id(c, reg_get);
}

void route_servers_patch(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct json_object *body, *out = NULL;
    int version, m = if_match(c, &version);

    if (m == 0) {
        http_send_problem(c->res, c->req, 428, "PATCH needs If-Match with the server's ETag");
        return;
    }
    if (m < 0 || version < 0) {
        http_send_problem(c->res, c->req, 412, "If-Match must name one version, as the ETag gives it");
        return;
    }
    if ((body = route_read_json(c)) == NULL)
        return;
    actor_of(c, &a);
    answer(c, reg_patch(c->app, &a, c->params[0], version, body, &out, &e), 200, &out, &e);
    json_object_put(body);
}

void route_servers_delete(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    int version, m = if_match(c, &version);

    if (m < 0) {
        http_send_problem(c->res, c->req, 412, "If-Match must name one version, as the ETag gives it");
        return;
    }
    actor_of(c, &a);
    answer(c, reg_delete(c->app, &a, c->params[0], version, &e), 204, NULL, &e);
}

void route_servers_tools(struct gw_call *c)
{
    by_id(c, reg_tools);
}

void route_servers_refresh(struct gw_call *c)
{
    by_id(c, reg_refresh);
}

void route_catalog_refresh(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct json_object *out = NULL;

    actor_of(c, &a);
    answer(c, reg_refresh_all(c->app, &a, &out, &e), 200, &out, &e);
}

void route_servers_health(struct gw_call *c)
{
    by_id(c, reg_health);
}

static void maintenance(struct gw_call *c, bool on)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    struct json_object *out = NULL;

    actor_of(c, &a);
    answer(c, reg_maintenance(c->app, &a, c->params[0], on, &out, &e), 200, &out, &e);
}

void route_servers_maintenance_on(struct gw_call *c)
{
    maintenance(c, true);
}

void route_servers_maintenance_off(struct gw_call *c)
{
    maintenance(c, false);
}

void route_tools_search(struct gw_call *c)
{
    struct reg_actor a;
    struct reg_error e = { 0 };
    char *out = NULL;
    char text[256], cursor[900];
    const char *q, *cur;
    int bad = 0, limit;

    q = query(c, "q", text, sizeof(text), &bad);
    cur = query(c, "cursor", cursor, sizeof(cursor), &bad);
    if (bad || query_limit(c, &limit, &bad) != 0)
        return;
    actor_of(c, &a);
    answer_text(c, reg_search_tools(c->app, &a, q, cur, limit, &out, &e), &out, &e);
}
