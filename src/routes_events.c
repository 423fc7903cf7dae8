/* Events on the management plane: raise one (delivered by the fleet leader
 * to every routed agent) and read its delivery status per agent. */
#include <string.h>

#include "events.h"
#include "js.h"
#include "log.h"
#include "routes.h"
#include "util.h"

static void actor_of(const struct gw_call *c, struct ev_actor *a)
{
    a->user_id = c->who->user_id;
    a->tenant_id = c->who->tenant_id;
    a->platform = auth_has_role(c->who, ROLE_PLATFORM_ADMIN);
    a->request_id = c->req->request_id;
}

static void answer_error(struct gw_call *c, enum ev_code code, const char *detail)
{
    switch (code) {
    case EV_BAD_REQUEST: http_send_problem(c->res, c->req, 400, detail); break;
    case EV_FORBIDDEN: http_send_problem(c->res, c->req, 403, detail); break;
    case EV_NOT_FOUND: http_send_problem(c->res, c->req, 404, detail); break;
    case EV_NO_ROUTE: http_send_problem(c->res, c->req, 422, detail); break;
    default:
        http_add_header(c->res, "Retry-After", "2");
        http_send_problem(c->res, c->req, 503, detail);
    }
}

void route_events_create(struct gw_call *c)
{
    struct event_req req;
    struct ev_actor a;
    struct json_object *out = NULL;
    char err[512], loc[128];
    enum ev_code rc;

    if (!gw_has_prefix(c->req->content_type, "application/json")) {
        http_send_problem(c->res, c->req, 415, "the body must be application/json");
        return;
    }
    if (events_parse(c->req->body, c->req->body_len, c->app->cfg.json_depth, &req, err, sizeof(err)) != 0) {
        http_send_problem(c->res, c->req, 400, err);
        return;
    }
    actor_of(c, &a);
    rc = events_create(c->app, &a, &req, &out, err, sizeof(err));
    event_req_clear(&req);
    if (rc != EV_OK) {
        answer_error(c, rc, err);
        return;
    }
    log_info("event_raised", "event %s (%s) raised by %s", js_str(out, "id"), js_str(out, "type"),
             c->who->user_id);
    snprintf(loc, sizeof(loc), "/api/v1/events/%s", js_str(out, "id"));
    http_add_header(c->res, "Location", "%s", loc);
    http_send_json(c->res, 202, out);
    json_object_put(out);
}

void route_events_get(struct gw_call *c)
{
    struct ev_actor a;
    struct json_object *out = NULL;
    char err[512];
    enum ev_code rc;

    actor_of(c, &a);
    rc = events_get(c->app, &a, c->params[0], &out, err, sizeof(err));
    if (rc != EV_OK) {
        answer_error(c, rc, err);
        return;
    }
    http_send_json(c->res, 200, out);
    json_object_put(out);
}
