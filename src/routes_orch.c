/* Management routes of orchestration: /api/v1/agents, /api/v1/routing,
 * /api/v1/tasks and /api/v1/coordination/plan. They turn requests into orch_*
 * calls and orchestration errors into problem+json. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "js.h"
#include "log.h"
#include "orch.h"
#include "routes.h"
#include "util.h"

static void answer_error(struct gw_call *c, const struct orch_error *e, struct json_object *task)
{
    struct json_object *ext = json_object_new_object();
    int status = orch_http_status(e->code);

    json_object_object_add(ext, "reason", json_object_new_string(orch_reason(e->code)));
    if (e->field[0] != '\0')
        json_object_object_add(ext, "field", json_object_new_string(e->field));
    if (task != NULL) {
        json_object_object_add(ext, "task_id", json_object_get(js_get(task, "id", json_type_string)));
        json_object_object_add(ext, "task_url", json_object_get(js_get(task, "url", json_type_string)));
        json_object_object_add(ext, "task", json_object_get(task));
    }
    if (status == 503)
        /* A busy server frees a slot when one call ends: retry soon. */
        http_add_header(c->res, "Retry-After", e->code == ORCH_BUSY ? "1" : "5");
    if (status >= 500)
        log_warn("orch_failed", "%s %s: %d %s", c->req->method, c->req->path, status, e->detail);
    http_send_problem_ext(c->res, c->req, status, e->detail, ext);
    json_object_put(ext);
}

static void answer(struct gw_call *c, int rc, int status, struct json_object *out, const struct orch_error *e)
{
    if (rc != 0)
        answer_error(c, e, NULL);
    else if (out != NULL)
        http_send_json(c->res, status, out);
    else
        http_send_text(c->res, 204, "application/json", "");
    json_object_put(out);
}

/* The body as a JSON object (any JSON value for the callee to judge); NULL
 * after answering 415 or 400. */
static struct json_object *body_json(struct gw_call *c)
{
    struct json_object *o;
    enum js_parse_error err;

    if (!gw_has_prefix(c->req->content_type, "application/json")) {
        http_send_problem(c->res, c->req, 415, "the body must be application/json");
        return NULL;
    }
    o = c->req->body != NULL ? js_parse(c->req->body, c->req->body_len, c->app->cfg.json_depth, &err) : NULL;
    if (o == NULL) {
        struct json_object *ext = json_object_new_object();

        json_object_object_add(ext, "reason", json_object_new_string("invalid_body"));
        http_send_problem_ext(c->res, c->req, 400, "the body is not valid JSON", ext);
        json_object_put(ext);
    }
    return o;
}

void route_agents_list(struct gw_call *c)
{
    struct json_object *out = NULL;
    struct orch_error e = { 0 };
    int rc = orch_agents_list(c->app, c->who, NULL, &out, &e);

    answer(c, rc, 200, out, &e);
}

void route_agents_get(struct gw_call *c)
{
    struct json_object *out = NULL;
    struct orch_error e = { 0 };
    int rc;

    if (!orch_agent_name_valid(c->params[0])) {
        e.code = ORCH_NOT_FOUND;
        gw_strlcpy(e.detail, "no such agent", sizeof(e.detail));
        answer_error(c, &e, NULL);
        return;
    }
    rc = orch_agents_list(c->app, c->who, c->params[0], &out, &e);
    answer(c, rc, 200, out, &e);
}

/* PUT of an agent or a routing rule: the same body, the same answers. */
typedef int (*put_fn)(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                      const char *name, struct json_object *body, struct json_object **out,
                      struct orch_error *e);

static void put_named(struct gw_call *c, put_fn put)
{
    struct json_object *body = body_json(c), *out = NULL;
    struct orch_error e = { 0 };
    int rc;

    if (body == NULL)
        return;
    rc = put(c->app, c->who, c->req->request_id, c->params[0], body, &out, &e);
    json_object_put(body);
    answer(c, rc, 200, out, &e);
}

void route_agents_put(struct gw_call *c)
{
    put_named(c, orch_agent_put);
}

void route_routing_list(struct gw_call *c)
{
    struct json_object *out = NULL;
    struct orch_error e = { 0 };
    int rc = orch_routing_list(c->app, &out, &e);

    answer(c, rc, 200, out, &e);
}

void route_routing_put(struct gw_call *c)
{
    put_named(c, orch_routing_put);
}

void route_routing_delete(struct gw_call *c)
{
    struct orch_error e = { 0 };
    int rc = orch_routing_delete(c->app, c->who, c->req->request_id, c->params[0], &e);

    answer(c, rc, 204, NULL, &e);
}

/* The caller waits wait_ms at most: then 202 with the task's URL, and the
 * call goes on in this responder until the task ends (and is recorded). */
struct waiter {
    struct gw_call *c;
    int64_t answer_by_ms;     /* monotonic; 0: wait to the end */
    bool answered;
};

static int on_task_tick(void *arg, const char *task_id)
{
    struct waiter *w = arg;
    struct json_object *o;
    char url[96];

    if (w->answered || w->answer_by_ms == 0 || gw_monotonic_ms() < w->answer_by_ms)
        return 0;
    snprintf(url, sizeof(url), "/api/v1/tasks/%s", task_id);
    o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(task_id));
    json_object_object_add(o, "status", json_object_new_string("running"));
    json_object_object_add(o, "url", json_object_new_string(url));
    http_add_header(w->c->res, "Location", "%s", url);
    http_send_json(w->c->res, 202, o);
    http_flush(w->c->res);
    json_object_put(o);
    w->answered = true;
    log_info("orch_task_accepted", "task %s still running after the caller's wait: 202", task_id);
    return 1;
}

void route_tasks_create(struct gw_call *c)
{
    struct json_object *body = body_json(c), *task = NULL;
    struct orch_request r;
    struct orch_error e = { 0 };
    struct waiter w = { .c = c };
    int rc;

    if (body == NULL)
        return;
    if (orch_request_parse(body, &r, &e) != 0) {
        answer_error(c, &e, NULL);
        json_object_put(body);
        return;
    }
    r.request_id = c->req->request_id;
    if (r.wait_ms >= 0)
        w.answer_by_ms = gw_monotonic_ms() + r.wait_ms;
    r.tick = on_task_tick;
    r.tick_arg = &w;
    rc = orch_delegate_request(c->app, c->who, &r, &task, &e);
    if (!w.answered) {
        if (rc == ORCH_OK)
            http_send_json(c->res, 200, task);
        else
            answer_error(c, &e, task);
    }
    json_object_put(task);
    json_object_put(body);
}

void route_tasks_get(struct gw_call *c)
{
    struct json_object *out = NULL;
    struct orch_error e = { 0 };
    int rc = orch_task_get(c->app, c->who, c->params[0], &out, &e);

    answer(c, rc, 200, out, &e);
}

void route_coordination_plan(struct gw_call *c)
{
    struct json_object *body = body_json(c), *out = NULL;
    struct orch_error e = { 0 };
    int rc;

    if (body == NULL)
        return;
    rc = orch_plan_request(body, &out, &e);
    json_object_put(body);
    answer(c, rc, 200, out, &e);
}
