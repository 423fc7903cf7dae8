/* Quality gate engine: the seed's checks in order, fail fast on a critical
 * check, severities deciding the gate, agents' verdicts read safely. */
#include <criterion/criterion.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "gates.h"
#include "js.h"

static int calls[8];

static int pass0(struct gate_ctx *g, char *d, size_t n) { (void)g; calls[0]++; snprintf(d, n, "ok"); return 0; }
static int fail1(struct gate_ctx *g, char *d, size_t n) { (void)g; calls[1]++; snprintf(d, n, "broken"); return 1; }
static int pass2(struct gate_ctx *g, char *d, size_t n) { (void)g; calls[2]++; snprintf(d, n, "ok"); return 0; }
static int error3(struct gate_ctx *g, char *d, size_t n) { (void)g; calls[3]++; snprintf(d, n, "cannot probe"); return -1; }

static struct gw_app app;
static struct gate_ctx ctx;

static void setup(void)
{
    struct gw_config cfg;

    memset(calls, 0, sizeof(calls));
    cfg_defaults(&cfg);
    /* Nothing listens here: the routing look-up finds no PostgreSQL and every check runs built in. */
    snprintf(cfg.pg_dsn, sizeof(cfg.pg_dsn), "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=1");
    app_init(&app, &cfg, PLANE_NONE);
    memset(&ctx, 0, sizeof(ctx));
    ctx.app = &app;
    snprintf(ctx.run_id, sizeof(ctx.run_id), "00000000-0000-4000-8000-000000000000");
}

static void teardown(void)
{
    app_free(&app);
}

static const char *status_of(struct json_object *results, size_t i)
{
    return js_str(json_object_array_get_idx(results, i), "status");
}

Test(gates, tables_hold_the_seeds_checks_in_order)
{
    static const char *const want[3][5] = {
        { "database_health_check", "redis_connectivity_test", "azure_oauth_validation", "fastmcp_server_health",
          "fastapi_server_health" },
        { "dual_server_communication_test", "oauth_flow_end_to_end_test", "database_performance_validation",
          "middleware_chain_validation", "audit_logging_verification" },
        { "jwt_token_validation_test", "role_based_access_test", "tenant_isolation_test",
          "audit_trail_completeness", "azure_app_registration_validation" },
    };
    static const char *const names[3] = { "pre_deployment", "post_deployment", "security_validation" };
    size_t n;

    gates_table(&n);
    cr_assert_eq(n, 3);
    for (int g = 0; g < 3; g++) {
        const struct gate_def *d = gates_find(names[g]);

        cr_assert_not_null(d, "%s", names[g]);
        cr_assert_eq(d->n, 5);
        for (int c = 0; c < 5; c++) {
            cr_expect_str_eq(d->checks[c].name, want[g][c]);
            cr_expect_not_null(d->checks[c].run);
        }
    }
    cr_expect_null(gates_find("deploy"));
    cr_expect_null(gates_find(NULL));
}

Test(gates, critical_failure_stops_the_run_and_skips_the_rest, .init = setup, .fini = teardown)
{
    static const struct gate_check checks[] = {
        { "a", GATE_SEV_CRITICAL, pass0, "" },
        { "b", GATE_SEV_CRITICAL, fail1, "" },
        { "c", GATE_SEV_CRITICAL, pass2, "" },
        { "d", GATE_SEV_MINOR, error3, "" },
    };
    struct gate_def def = { "t", checks, 4 };
    struct json_object *results = json_object_new_array();
    const char *failed = NULL;

    cr_assert_str_eq(gates_execute(&ctx, &def, results, &failed), "failed");
    cr_assert_str_eq(failed, "b");
    cr_assert_eq(calls[0] + calls[1], 2);
    cr_assert_eq(calls[2] + calls[3], 0, "checks after a critical failure must not run");
    cr_assert_eq(json_object_array_length(results), 4);
    cr_expect_str_eq(status_of(results, 0), "passed");
    cr_expect_str_eq(status_of(results, 1), "failed");
    cr_expect_str_eq(status_of(results, 2), "skipped");
    cr_expect_str_eq(status_of(results, 3), "skipped");
    cr_expect_str_eq(js_str(json_object_array_get_idx(results, 1), "severity"), "critical");
    cr_expect_str_eq(js_str(json_object_array_get_idx(results, 1), "detail"), "broken");
    cr_expect(strstr(js_str(json_object_array_get_idx(results, 2), "detail"), "critical check b") != NULL);
    json_object_put(results);
}

Test(gates, major_failure_fails_the_gate_but_runs_every_check, .init = setup, .fini = teardown)
{
    static const struct gate_check checks[] = {
        { "a", GATE_SEV_MAJOR, fail1, "" },
        { "b", GATE_SEV_CRITICAL, pass0, "" },
        { "c", GATE_SEV_MINOR, error3, "" },
    };
    struct gate_def def = { "t", checks, 3 };
    struct json_object *results = json_object_new_array();
    const char *failed = "x";

    cr_assert_str_eq(gates_execute(&ctx, &def, results, &failed), "failed");
    cr_expect_null(failed);
    cr_expect_eq(calls[1] + calls[0] + calls[3], 3);
    cr_expect_str_eq(status_of(results, 2), "error");
    json_object_put(results);
}

Test(gates, minor_problems_do_not_fail_the_gate, .init = setup, .fini = teardown)
{
    static const struct gate_check checks[] = {
        { "a", GATE_SEV_CRITICAL, pass0, "" },
        { "b", GATE_SEV_MINOR, fail1, "" },
        { "c", GATE_SEV_MINOR, error3, "" },
    };
    struct gate_def def = { "t", checks, 3 };
    struct json_object *results = json_object_new_array();
    const char *failed;

    cr_assert_str_eq(gates_execute(&ctx, &def, results, &failed), "passed");
    cr_expect_null(json_object_object_get(json_object_array_get_idx(results, 0), "delegated_to"),
                   "not delegated: built in");
    json_object_put(results);
}

Test(gates, a_critical_check_that_cannot_probe_stops_the_run, .init = setup, .fini = teardown)
{
    static const struct gate_check checks[] = {
        { "a", GATE_SEV_CRITICAL, error3, "" },
        { "b", GATE_SEV_CRITICAL, pass0, "" },
    };
    struct gate_def def = { "t", checks, 2 };
    struct json_object *results = json_object_new_array();
    const char *failed;

    cr_assert_str_eq(gates_execute(&ctx, &def, results, &failed), "failed");
    cr_expect_str_eq(failed, "a");
    cr_expect_eq(calls[0], 0);
    json_object_put(results);
}

static int verdict(const char *json, enum gate_check_status *st, char *detail, size_t n)
{
    enum js_parse_error e;
    struct json_object *o = js_parse(json, strlen(json), 32, &e);
    int rc = gates_verdict_parse(o, st, detail, n);

    json_object_put(o);
    return rc;
}

Test(gates, agent_verdicts_are_passed_or_failed_and_nothing_else)
{
    enum gate_check_status st;
    char d[256];

    cr_assert_eq(verdict("{\"passed\":true,\"detail\":\"fine\"}", &st, d, sizeof(d)), 0);
    cr_expect_eq(st, GATE_CHECK_PASSED);
    cr_expect_str_eq(d, "fine");
    cr_assert_eq(verdict("{\"status\":\"failed\"}", &st, d, sizeof(d)), 0);
    cr_expect_eq(st, GATE_CHECK_FAILED);
    cr_expect_str_eq(d, "failed (agent)");
    cr_expect_eq(verdict("{\"passed\":\"true\"}", &st, d, sizeof(d)), -1, "a string is not a boolean");
    cr_expect_eq(verdict("{\"status\":\"skipped\"}", &st, d, sizeof(d)), -1);
    cr_expect_eq(verdict("[true]", &st, d, sizeof(d)), -1);
    cr_expect_eq(verdict("null", &st, d, sizeof(d)), -1);
}

Test(gates, agent_detail_is_bounded_and_printable)
{
    enum gate_check_status st;
    char d[8];

    cr_assert_eq(verdict("{\"passed\":false,\"detail\":\"a\\nb\\u001bc-long-tail\"}", &st, d, sizeof(d)), 0);
    cr_expect_str_eq(d, "a b c-l");
    cr_assert_eq(verdict("{\"passed\":true,\"detail\":\"\\u00e9t\\u00e9\"}", &st, d, sizeof(d)), 0);
    cr_expect_str_eq(d, "??t??", "no byte of a multi-byte character survives, so no cut one either");
}
