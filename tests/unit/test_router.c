/* Router and request pipeline: planes kept apart, 404/405 with Allow, request
 * ids on every answer, body limits, and authentication on protected routes. */
#include <criterion/criterion.h>
#include <string.h>
#include <json-c/json.h>

#include "app.h"
#include "fake_io.h"
#include "log.h"
#include "router.h"

static struct gw_app app;
static struct fake_io f;

static void setup(void)
{
    struct gw_config cfg;

    cfg_defaults(&cfg);
    cfg.body_max = 1024;
    /* Nothing listens here: handlers that would touch Redis see it down. */
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "redis://127.0.0.1:1/0");
    /* Nor here: a 401 writes an audit row, never into a local stack's database. */
    snprintf(cfg.pg_dsn, sizeof(cfg.pg_dsn), "host=127.0.0.1 port=1 dbname=x");
    log_init("test", LOG_LVL_ERROR);
    app_init(&app, &cfg, PLANE_BOTH);
}

static void teardown(void)
{
    app_free(&app);
}

TestSuite(router, .init = setup, .fini = teardown);

static int run(const char *const *vars, const char *body)
{
    int status = 0;

    fake_io_init(&f, vars, body);
    gw_handle(&app, &f.io);
    sscanf(f.out, "Status: %d", &status);
    return status;
}

Test(router, health_on_api_plane)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health", "MCPGW_PLANE", "api",
                           "HTTP_X_REQUEST_ID", "abc123", NULL };
    struct json_object *o;

    cr_assert_eq(run(vars, NULL), 200, "%s", f.out);
    cr_assert(strstr(f.out, "X-Request-Id: abc123\r\n") != NULL, "%s", f.out);
    o = json_tokener_parse(fake_body(&f));
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "status")), "ok");
    json_object_put(o);
}

Test(router, management_routes_are_not_on_the_mcp_plane)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health", "MCPGW_PLANE", "mcp", NULL };

    cr_assert_eq(run(vars, NULL), 404, "%s", f.out);
    cr_assert(strstr(f.out, "application/problem+json") != NULL);
}

Test(router, mcp_routes_are_not_on_the_api_plane)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI",
                           "/.well-known/oauth-protected-resource/mcp", "MCPGW_PLANE", "api", NULL };

    cr_assert_eq(run(vars, NULL), 404, "%s", f.out);
}

Test(router, plane_from_port_when_not_named)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health", "SERVER_PORT", "8001", NULL };
    const char *vars2[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health", "SERVER_PORT", "8000", NULL };

    cr_assert_eq(run(vars, NULL), 404);
    cr_assert_eq(run(vars2, NULL), 200);
}

Test(router, unknown_plane_is_refused)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health", NULL };

    cr_assert_eq(run(vars, NULL), 404);
}

Test(router, unknown_route_is_404_problem_with_request_id)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/nope", "MCPGW_PLANE", "api", NULL };
    struct json_object *o;
    const char *rid;

    cr_assert_eq(run(vars, NULL), 404);
    o = json_tokener_parse(fake_body(&f));
    cr_assert_not_null(o);
    rid = json_object_get_string(json_object_object_get(o, "request_id"));
    cr_assert_eq(strlen(rid), 32);
    cr_assert(strstr(f.out, rid) != NULL);
    json_object_put(o);
}

Test(router, wrong_method_is_405_with_allow)
{
    const char *vars[] = { "REQUEST_METHOD", "DELETE", "REQUEST_URI", "/health", "MCPGW_PLANE", "api", NULL };

    cr_assert_eq(run(vars, NULL), 405, "%s", f.out);
    cr_assert(strstr(f.out, "Allow: GET\r\n") != NULL, "%s", f.out);
}

Test(router, body_over_limit_is_413)
{
    static char big[2048];
    const char *vars[] = { "REQUEST_METHOD", "POST", "REQUEST_URI", "/health", "MCPGW_PLANE", "api",
                           "CONTENT_LENGTH", "2047", NULL };

    memset(big, 'x', sizeof(big) - 1);
    cr_assert_eq(run(vars, big), 413, "%s", f.out);
}

Test(router, protected_route_without_token_is_401_with_metadata)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api", NULL };

    cr_assert_eq(run(vars, NULL), 401, "%s", f.out);
    cr_assert(strstr(f.out, "WWW-Authenticate: Bearer resource_metadata=\"https://127.0.0.1:8000"
                            "/.well-known/oauth-protected-resource\"") != NULL, "%s", f.out);
    cr_assert_null(strstr(f.out, "error=\""), "no error= without a token: %s", f.out);
}

Test(router, pattern_captures_parameters)
{
    struct gw_call c;
    char allow[64];
    const struct route *r;

    memset(&c, 0, sizeof(c));
    r = router_match(PLANE_MCP, "GET", "/.well-known/oauth-protected-resource/servers/weather/mcp",
                     &c, allow, sizeof(allow));
    cr_assert_not_null(r);
    cr_assert_eq(c.nparams, 1);
    cr_assert_str_eq(c.params[0], "weather");
    cr_assert_null(router_match(PLANE_MCP, "GET", "/.well-known/oauth-protected-resource/servers//mcp",
                                &c, allow, sizeof(allow)));
}

Test(router, every_protected_route_declares_a_known_role)
{
    size_t n;
    const struct route *t = router_table(&n);

    for (size_t i = 0; i < n; i++) {
        if (strncmp(t[i].pattern, "/api/v1/", 8) == 0)
            cr_assert_neq(t[i].role, 0u, "%s must declare a role", t[i].pattern);
        if (t[i].role != 0)
            cr_assert_neq(strcmp(auth_role_name(t[i].role), "unknown"), 0, "%s", t[i].pattern);
    }
}

Test(router, challenge_url_has_no_double_slash_when_base_url_ends_in_slash)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api", NULL };

    snprintf(app.cfg.api_url, sizeof(app.cfg.api_url), "https://gw.example:8000/");
    cr_assert_eq(run(vars, NULL), 401, "%s", f.out);
    cr_assert(strstr(f.out, "resource_metadata=\"https://gw.example:8000/.well-known/"
                            "oauth-protected-resource\"") != NULL, "%s", f.out);
}
