/* Orchestration logic without stores: coordination plans (shape, order,
 * rollback backwards, the registration's phases), the delegation request
 * checks, names of agents and task types, and the codes' HTTP answers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "js.h"
#include "orch.h"

static const char *idx(struct json_object *a, size_t i)
{
    return json_object_get_string(json_object_array_get_idx(a, i));
}

static struct json_object *plan(const char *type, const char *ctx)
{
    struct json_object *c = ctx != NULL ? json_tokener_parse(ctx) : NULL, *out = NULL;
    struct orch_error e = { 0 };

    cr_assert_eq(orch_plan(type, c, &out, &e), 0, "%s: %s", type, e.detail);
    json_object_put(c);
    return out;
}

Test(orch_plan, registration_plan_has_the_seed_shape)
{
    struct json_object *p = plan(ORCH_PLAN_REGISTRATION, "{\"session_id\":\"s-1\"}");
    struct json_object *api = js_get(p, "api_tasks", json_type_array), *mcp = js_get(p, "mcp_tasks", json_type_array),
                       *deps = js_get(p, "dependencies", json_type_array);

    cr_assert_str_eq(js_str(p, "session_id"), "s-1");
    cr_assert_eq(json_object_array_length(api), 2);
    cr_assert_str_eq(idx(api, 0), "validate_server_config");
    cr_assert_str_eq(idx(api, 1), "update_registry");
    cr_assert_eq(json_object_array_length(mcp), 2);
    cr_assert_str_eq(idx(mcp, 0), "authenticate_admin");
    cr_assert_str_eq(idx(mcp, 1), "audit_registration");
    cr_assert_str_eq(idx(deps, 0), "authenticate_admin -> validate_server_config");
    cr_assert_not_null(js_get(p, "rollback_plan", json_type_array));
    json_object_put(p);
}

Test(orch_plan, order_respects_every_dependency)
{
    static const char *const types[] = { ORCH_PLAN_REGISTRATION, "bulk_server_registration",
                                         "server_removal_with_auth", "session_revocation" };

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct json_object *p = plan(types[t], NULL), *order = js_get(p, "order", json_type_array),
                           *deps = js_get(p, "dependencies", json_type_array);
        size_t steps = json_object_array_length(js_get(p, "api_tasks", json_type_array)) +
                       json_object_array_length(js_get(p, "mcp_tasks", json_type_array));

        cr_assert_eq(json_object_array_length(order), steps, "%s: every step is ordered", types[t]);
        for (size_t d = 0; d < json_object_array_length(deps); d++) {
            char before[64], after[64];
            int ib = -1, ia = -1;

            cr_assert_eq(sscanf(idx(deps, d), "%63s -> %63s", before, after), 2);
            for (size_t i = 0; i < json_object_array_length(order); i++) {
                const char *task = js_str(json_object_array_get_idx(order, i), "task");

                if (strcmp(task, before) == 0)
                    ib = (int)i;
                if (strcmp(task, after) == 0)
                    ia = (int)i;
            }
            cr_assert(ib >= 0 && ia > ib, "%s: %s runs before %s", types[t], before, after);
        }
        json_object_put(p);
    }
}

Test(orch_plan, rollback_undoes_the_last_step_first)
{
    struct json_object *p = plan(ORCH_PLAN_REGISTRATION, NULL), *rb = js_get(p, "rollback_plan", json_type_array),
                       *order = js_get(p, "order", json_type_array);
    size_t n = json_object_array_length(order);

    cr_assert_eq(json_object_array_length(rb), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(js_str(json_object_array_get_idx(rb, i), "task"),
                         js_str(json_object_array_get_idx(order, n - 1 - i), "task"));
    cr_assert(json_object_is_type(json_object_object_get(p, "session_id"), json_type_null));
    json_object_put(p);
}

Test(orch_plan, registration_phases_are_the_plans)
{
    struct json_object *ph = orch_plan_phases(ORCH_PLAN_REGISTRATION);

    cr_assert_eq(json_object_array_length(ph), 4);
    cr_assert_str_eq(idx(ph, 0), "auth");
    cr_assert_str_eq(idx(ph, 1), "validation");
    cr_assert_str_eq(idx(ph, 2), "registration");
    cr_assert_str_eq(idx(ph, 3), "audit");
    json_object_put(ph);
    cr_assert_null(orch_plan_phases("bake_bread"));
}

Test(orch_plan, unknown_type_is_unknown_task_type)
{
    struct json_object *out = NULL;
    struct orch_error e = { 0 };

    cr_assert_eq(orch_plan("bake_bread", NULL, &out, &e), -1);
    cr_assert_eq(e.code, ORCH_UNKNOWN_TASK_TYPE);
    cr_assert_null(out);
}

Test(orch_plan, request_body_is_checked)
{
    struct json_object *b = json_tokener_parse("{\"task_type\":\"session_revocation\",\"extra\":1}"), *out = NULL;
    struct orch_error e = { 0 };

    cr_assert_eq(orch_plan_request(b, &out, &e), -1);
    cr_assert_str_eq(e.field, "extra");
    json_object_put(b);
    b = json_tokener_parse("{\"task_type\":\"session_revocation\",\"context\":[]}");
    cr_assert_eq(orch_plan_request(b, &out, &e), -1);
    cr_assert_str_eq(e.field, "context");
    json_object_put(b);
    b = json_tokener_parse("{\"task_type\":\"session_revocation\"}");
    cr_assert_eq(orch_plan_request(b, &out, &e), 0);
    cr_assert_str_eq(js_str(out, "task_type"), "session_revocation");
    json_object_put(out);
    json_object_put(b);
}

static int parse(const char *json, struct orch_request *r, struct orch_error *e)
{
    struct json_object *b = json_tokener_parse(json);
    int rc = orch_request_parse(b, r, e);

    json_object_put(b);   /* r points into b: only rc and e are read after */
    return rc;
}

Test(orch_request, needs_a_task_type_name)
{
    struct orch_request r;
    struct orch_error e = { 0 };

    cr_assert_eq(parse("{}", &r, &e), -1);
    cr_assert_str_eq(e.field, "type");
    cr_assert_eq(parse("{\"type\":\"Has Space\"}", &r, &e), -1);
    cr_assert_eq(parse("{\"type\":\"x-y\"}", &r, &e), -1, "a task type names a tool: no dash");
    cr_assert_eq(parse("{\"type\":\"dual_server_debugging\\u0000x\"}", &r, &e), -1,
                 "a NUL does not cut a task type short");
    cr_assert_str_eq(e.field, "type");
    cr_assert_eq(parse("{\"type\":\"a\",\"agent\":\"mcp-debugger\\u0000x\"}", &r, &e), -1);
    cr_assert_str_eq(e.field, "agent");
    cr_assert_eq(parse("{\"type\":\"dual_server_debugging\"}", &r, &e), 0);
    cr_assert_eq(r.wait_ms, -1);
}

Test(orch_request, refuses_bad_members)
{
    struct orch_request r;
    struct orch_error e = { 0 };

    cr_assert_eq(parse("{\"type\":\"a\",\"context\":\"x\"}", &r, &e), -1);
    cr_assert_str_eq(e.field, "context");
    cr_assert_eq(parse("{\"type\":\"a\",\"timeout_ms\":0}", &r, &e), -1);
    cr_assert_str_eq(e.field, "timeout_ms");
    cr_assert_eq(parse("{\"type\":\"a\",\"timeout_ms\":600001}", &r, &e), -1);
    cr_assert_eq(parse("{\"type\":\"a\",\"wait_ms\":-1}", &r, &e), -1);
    cr_assert_eq(parse("{\"type\":\"a\",\"agent\":\"../x\"}", &r, &e), -1);
    cr_assert_str_eq(e.field, "agent");
    cr_assert_eq(parse("{\"type\":\"a\",\"surprise\":true}", &r, &e), -1);
    cr_assert_str_eq(e.field, "surprise");
    cr_assert_eq(parse("[]", &r, &e), -1);
    cr_assert_eq(parse("{\"type\":\"a\",\"context\":{\"x\":[\"a\\u0000b\"]}}", &r, &e), -1,
                 "jsonb cannot hold NUL: refused as the client's error");
    cr_assert_str_eq(e.field, "context");
    /* The six characters \u0000 (an escaped backslash) are no NUL. */
    cr_assert_eq(parse("{\"type\":\"a\",\"context\":{\"path\":\"C:\\\\u0000\"}}", &r, &e), 0, "%s", e.detail);
}

Test(orch_names, agents_and_types)
{
    cr_assert(orch_agent_name_valid("mcp-security-auditor"));
    cr_assert(orch_agent_name_valid("a_b-c9"));
    cr_assert_not(orch_agent_name_valid("-x"));
    cr_assert_not(orch_agent_name_valid("X"));
    cr_assert_not(orch_agent_name_valid(""));
    cr_assert_not(orch_agent_name_valid(NULL));
    cr_assert_not(orch_agent_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
    cr_assert(orch_task_type_valid("jwt_token_validation_test"));
    cr_assert_not(orch_task_type_valid("handle-task"));
}

Test(orch_codes, each_refusal_is_distinct)
{
    cr_assert_eq(orch_http_status(ORCH_UNKNOWN_TASK_TYPE), 422);
    cr_assert_eq(orch_http_status(ORCH_AGENT_INACTIVE), 409);
    cr_assert_eq(orch_http_status(ORCH_NO_SERVER), 503);
    cr_assert_str_neq(orch_reason(ORCH_UNKNOWN_TASK_TYPE), orch_reason(ORCH_UNKNOWN_AGENT));
    cr_assert_str_neq(orch_reason(ORCH_AGENT_INACTIVE), orch_reason(ORCH_AGENT_DRAINING));
    cr_assert_str_neq(orch_reason(ORCH_NO_SERVER), orch_reason(ORCH_UNAVAILABLE));
}
