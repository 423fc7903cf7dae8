/* Quality gates on the management plane: the gates and their checks, a run
 * now, past runs of a gate, one run; runs are scoped to the caller's tenant. */
#include <stdlib.h>
#include <string.h>

#include "gates.h"
#include "log.h"
#include "routes.h"
#include "util.h"

/* platform_admin sees every tenant's runs (and the CLI's); others their tenant's. */
static const char *scope_tenant(const struct gw_call *c)
{
    return auth_has_role(c->who, ROLE_PLATFORM_ADMIN) ? NULL : c->who->tenant_id;
}

static void unavailable(struct gw_call *c, const char *err)
{
    log_warn("gate_runs_unavailable", "%s", err);
    http_add_header(c->res, "Retry-After", "2");
    http_send_problem(c->res, c->req, 503, "gate runs are unavailable: PostgreSQL cannot be reached");
}

/* 1 when {name} is a gate; else 0 with the 404 answered. */
static int known_gate(struct gw_call *c)
{
    if (gates_find(c->params[0]) != NULL)
        return 1;
    http_send_problem(c->res, c->req, 404, "no such gate (pre_deployment, post_deployment, security_validation)");
    return 0;
}

/* 200 {"key": value}; value is consumed. */
static void send_wrapped(struct gw_call *c, const char *key, struct json_object *value)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, key, value);
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

void route_gates_list(struct gw_call *c)
{
    size_t n;
    const struct gate_def *t = gates_table(&n);
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < n; i++) {
        struct json_object *g = json_object_new_object(), *checks = json_object_new_array();

        for (size_t k = 0; k < t[i].n; k++) {
            struct json_object *ck = json_object_new_object();

            json_object_object_add(ck, "check", json_object_new_string(t[i].checks[k].name));
            json_object_object_add(ck, "severity",
                                   json_object_new_string(gates_severity_name(t[i].checks[k].severity)));
            json_object_object_add(ck, "what", json_object_new_string(t[i].checks[k].what));
            json_object_array_add(checks, ck);
        }
        json_object_object_add(g, "name", json_object_new_string(t[i].name));
        json_object_object_add(g, "checks", checks);
        json_object_array_add(arr, g);
    }
    send_wrapped(c, "gates", arr);
}

void route_gates_run(struct gw_call *c)
{
    struct json_object *run = NULL;
    char err[256];
    int rc;

    if (!known_gate(c))
        return;
    rc = gates_run(c->app, c->who, c->params[0], &run, err, sizeof(err));
    if (rc > 0) {
        http_add_header(c->res, "Retry-After", "%d", rc);
        http_send_problem(c->res, c->req, 409, err);
        return;
    }
    if (rc != 0) {
        http_send_problem(c->res, c->req, 404, err);
        return;
    }
    http_send_json(c->res, 200, run);
    json_object_put(run);
}

void route_gates_runs(struct gw_call *c)
{
    const char *cur = NULL;
    char name[32], value[32], err[512];
    int limit = 20;
    struct json_object *runs;

    if (!known_gate(c))
        return;
    while (http_query_next(c->req, &cur, name, sizeof(name), value, sizeof(value)) == 1) {
        char *end;

        if (strcmp(name, "limit") != 0)
            continue;
        limit = (int)strtol(value, &end, 10);
        if (*end != '\0' || limit < 1 || limit > 200) {
            http_send_problem(c->res, c->req, 400, "limit must be a number from 1 to 200");
            return;
        }
    }
    if (gates_runs_list(c->app, c->params[0], scope_tenant(c), limit, &runs, err, sizeof(err)) != 0) {
        unavailable(c, err);
        return;
    }
    send_wrapped(c, "runs", runs);
}

void route_gates_run_get(struct gw_call *c)
{
    struct json_object *run = NULL;
    char err[512];

    switch (gates_run_get(c->app, c->params[0], scope_tenant(c), &run, err, sizeof(err))) {
    case 0:
        http_send_json(c->res, 200, run);
        json_object_put(run);
        break;
    case 1:
        /* Another tenant's run does not exist for the caller: 404, never 403. */
        http_send_problem(c->res, c->req, 404, "no such gate run");
        break;
    default:
        unavailable(c, err);
    }
}
