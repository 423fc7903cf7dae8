/* Coordination plans of the tasks that span both planes, as the seed's
 * coordinate_dual_server_task drew them: one table, read by the plan endpoint
 * and by the registration it describes. */
#include <stdio.h>
#include <string.h>

#include "js.h"
#include "orch_int.h"
#include "util.h"

#define PLAN_STEPS_MAX 8

struct plan_step {
    const char *task;
    const char *plane;      /* "api" | "mcp" */
    const char *phase;      /* the phase a runner reports it under */
    const char *rollback;   /* what undoes it, when it must be undone */
};

struct plan_def {
    const char *task_type;
    const char *description;
    struct plan_step steps[PLAN_STEPS_MAX];
    const char *deps[PLAN_STEPS_MAX][2];   /* {before, after} */
};

static const struct plan_def plans[] = {
    { ORCH_PLAN_REGISTRATION, "register an upstream server on behalf of an authenticated admin",
      { { "authenticate_admin", "mcp", "auth", "nothing to undo: the caller's token is only read" },
        { "validate_server_config", "api", "validation",
          "end the discovery session opened on the upstream (done as discovery ends)" },
        { "update_registry", "api", "registration",
          "roll back the transaction: server row, tool catalog and audit row go together" },
        { "audit_registration", "mcp", "audit",
          "nothing apart: the audit row is written in the registration's transaction" } },
      { { "authenticate_admin", "validate_server_config" },
        { "validate_server_config", "update_registry" },
        { "update_registry", "audit_registration" } } },
    { "bulk_server_registration", "register many upstream servers under one resource allocation",
      { { "authenticate_admin", "mcp", "auth", "nothing to undo: the caller's token is only read" },
        { "allocate_resources", "api", "allocation", "release the allocation" },
        { "validate_server_configs", "api", "validation", "end each discovery session" },
        { "update_registry", "api", "registration", "roll back each server's transaction" },
        { "audit_registration", "mcp", "audit", "nothing apart: written in each registration's transaction" },
        { "release_resources", "api", "release", "nothing to undo" } },
      { { "authenticate_admin", "allocate_resources" },
        { "allocate_resources", "validate_server_configs" },
        { "validate_server_configs", "update_registry" },
        { "update_registry", "audit_registration" },
        { "audit_registration", "release_resources" } } },
    { "server_removal_with_auth", "remove an upstream server and end what the MCP plane holds of it",
      { { "authenticate_admin", "mcp", "auth", "nothing to undo: the caller's token is only read" },
        { "delete_registry_rows", "api", "registration",
          "roll back the transaction: rows and audit row go together" },
        { "audit_removal", "mcp", "audit", "nothing apart: written in the removal's transaction" },
        { "drop_catalog_entry", "mcp", "catalog", "rebuild the catalog from PostgreSQL" } },
      { { "authenticate_admin", "delete_registry_rows" },
        { "delete_registry_rows", "audit_removal" },
        { "audit_removal", "drop_catalog_entry" } } },
    { "session_revocation", "revoke an MCP session from the management plane",
      { { "authenticate_admin", "api", "auth", "nothing to undo: the caller's token is only read" },
        { "revoke_session", "mcp", "revocation", "none: a revoked session stays revoked" },
        { "audit_revocation", "api", "audit", "nothing to undo" } },
      { { "authenticate_admin", "revoke_session" },
        { "revoke_session", "audit_revocation" } } },
};

static const struct plan_def *plan_find(const char *task_type)
{
    for (size_t i = 0; task_type != NULL && i < GW_ARRAY_LEN(plans); i++)
        if (strcmp(plans[i].task_type, task_type) == 0)
            return &plans[i];
    return NULL;
}

static size_t steps_of(const struct plan_def *p)
{
    size_t n = 0;

    while (n < PLAN_STEPS_MAX && p->steps[n].task != NULL)
        n++;
    return n;
}

static int step_index(const struct plan_def *p, const char *task)
{
    for (size_t i = 0; i < steps_of(p); i++)
        if (strcmp(p->steps[i].task, task) == 0)
            return (int)i;
    return -1;
}

/* Kahn's order of the steps, table order among the ready ones. */
static size_t plan_order(const struct plan_def *p, int order[PLAN_STEPS_MAX])
{
    size_t n = steps_of(p), done = 0;
    bool placed[PLAN_STEPS_MAX] = { false };

    while (done < n) {
        size_t before = done;

        for (size_t i = 0; i < n; i++) {
            bool ready = !placed[i];

            for (size_t d = 0; ready && d < PLAN_STEPS_MAX && p->deps[d][0] != NULL; d++)
                if (strcmp(p->deps[d][1], p->steps[i].task) == 0 && !placed[step_index(p, p->deps[d][0])])
                    ready = false;
            if (ready) {
                placed[i] = true;
                order[done++] = (int)i;
                break;
            }
        }
        if (done == before)   /* a cycle: the table is wrong, the plan says so by ending short */
            break;
    }
    return done;
}

struct json_object *orch_plan_phases(const char *task_type)
{
    const struct plan_def *p = plan_find(task_type);
    int order[PLAN_STEPS_MAX];
    struct json_object *a;
    size_t n;

    if (p == NULL)
        return NULL;
    n = plan_order(p, order);
    a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(p->steps[order[i]].phase));
    return a;
}

int orch_plan(const char *task_type, struct json_object *context, struct json_object **out,
              struct orch_error *e)
{
    const struct plan_def *p = plan_find(task_type);
    struct json_object *o, *api, *mcp, *deps, *ord, *phases, *rb, *sid;
    int order[PLAN_STEPS_MAX];
    size_t n;

    *out = NULL;
    if (p == NULL) {
        e->code = ORCH_UNKNOWN_TASK_TYPE;
        gw_strlcpy(e->field, "task_type", sizeof(e->field));
        snprintf(e->detail, sizeof(e->detail), "no coordination plan for task type '%.64s'; known: "
                 "server_registration_with_auth, bulk_server_registration, server_removal_with_auth, "
                 "session_revocation", task_type != NULL ? task_type : "");
        return -1;
    }
    n = plan_order(p, order);
    o = json_object_new_object();
    api = json_object_new_array();
    mcp = json_object_new_array();
    deps = json_object_new_array();
    ord = json_object_new_array();
    phases = json_object_new_array();
    rb = json_object_new_array();
    for (size_t i = 0; i < steps_of(p); i++)
        json_object_array_add(strcmp(p->steps[i].plane, "api") == 0 ? api : mcp,
                              json_object_new_string(p->steps[i].task));
    for (size_t d = 0; d < PLAN_STEPS_MAX && p->deps[d][0] != NULL; d++) {
        char line[160];

        snprintf(line, sizeof(line), "%s -> %s", p->deps[d][0], p->deps[d][1]);
        json_object_array_add(deps, json_object_new_string(line));
    }
    for (size_t i = 0; i < n; i++) {
        const struct plan_step *s = &p->steps[order[i]];
        struct json_object *step = json_object_new_object();

        json_object_object_add(step, "task", json_object_new_string(s->task));
        json_object_object_add(step, "plane", json_object_new_string(s->plane));
        json_object_object_add(step, "phase", json_object_new_string(s->phase));
        json_object_array_add(ord, step);
        json_object_array_add(phases, json_object_new_string(s->phase));
    }
    /* Undo runs backwards: the last step done is the first undone. */
    for (size_t i = n; i-- > 0;) {
        const struct plan_step *s = &p->steps[order[i]];
        struct json_object *step = json_object_new_object();

        json_object_object_add(step, "task", json_object_new_string(s->task));
        json_object_object_add(step, "undo", json_object_new_string(s->rollback));
        json_object_array_add(rb, step);
    }
    json_object_object_add(o, "task_type", json_object_new_string(p->task_type));
    json_object_object_add(o, "description", json_object_new_string(p->description));
    sid = context != NULL ? js_get(context, "session_id", json_type_string) : NULL;
    json_object_object_add(o, "session_id", sid != NULL ? json_object_get(sid) : NULL);
    json_object_object_add(o, "api_tasks", api);
    json_object_object_add(o, "mcp_tasks", mcp);
    json_object_object_add(o, "dependencies", deps);
    json_object_object_add(o, "order", ord);
    json_object_object_add(o, "phases", phases);
    json_object_object_add(o, "rollback_plan", rb);
    *out = o;
    return 0;
}

int orch_plan_request(struct json_object *body, struct json_object **out, struct orch_error *e)
{
    static const char *const keys[] = { "task_type", "context" };
    struct json_object *ctx;

    *out = NULL;
    if (orch_only_keys(body, keys, GW_ARRAY_LEN(keys), e) != 0)
        return -1;
    if (js_str(body, "task_type") == NULL)
        return orch_fail(e, ORCH_BAD_REQUEST, "task_type", "'task_type' (a string) is required");
    if (json_object_object_get_ex(body, "context", &ctx) && ctx != NULL &&
        !json_object_is_type(ctx, json_type_object))
        return orch_fail(e, ORCH_BAD_REQUEST, "context", "'context' must be an object");
    return orch_plan(js_str(body, "task_type"), ctx, out, e);
}
