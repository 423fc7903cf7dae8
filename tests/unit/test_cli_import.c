/* Import of official MCP registry server.json entries: names, the remote
 * chosen, and every reason a server is refused. */
#include <criterion/criterion.h>
#include <string.h>
#include <json-c/json.h>

#include "cli_api.h"

static struct json_object *body_of(const char *server_json, const char *const *headers, int *rc,
                                   char *why, size_t n)
{
    struct json_object *s = json_tokener_parse(server_json), *body = NULL;

    cr_assert_not_null(s, "fixture is JSON");
    *rc = cli_import_body(s, headers, &body, why, n);
    json_object_put(s);
    return body;
}

static const char *field(struct json_object *o, const char *path1, const char *path2)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, path1, &v))
        return NULL;
    if (path2 != NULL && !json_object_object_get_ex(v, path2, &v))
        return NULL;
    return json_object_get_string(v);
}

Test(import, names_follow_the_gateway_pattern)
{
    char out[64];

    cr_assert_eq(cli_import_name("io.github.acme/Weather_Tools", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "weather-tools");
    cr_assert_eq(cli_import_name("com.example/--x..y--", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "x-y");
    cr_assert_eq(cli_import_name("plain", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "plain");
    cr_assert_eq(cli_import_name("com.example/___", out, sizeof(out)), -1);
    cr_assert_eq(cli_import_name("a/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", out, sizeof(out)), 0);
    cr_assert_eq(strlen(out), 48);
}

Test(import, takes_the_streamable_http_remote)
{
    char why[256];
    int rc;
    struct json_object *b = body_of(
        "{\"name\":\"com.example/acme-analytics\",\"description\":\"BI\",\"version\":\"2.0.0\","
        "\"remotes\":[{\"type\":\"sse\",\"url\":\"https://a.example/sse\"},"
        "{\"type\":\"streamable-http\",\"url\":\"https://a.example/mcp\"}]}",
        NULL, &rc, why, sizeof(why));

    cr_assert_eq(rc, 0, "%s", why);
    cr_assert_str_eq(field(b, "name", NULL), "acme-analytics");
    cr_assert_str_eq(field(b, "url", NULL), "https://a.example/mcp");
    cr_assert_str_eq(field(b, "transport", NULL), "streamable-http");
    cr_assert_str_eq(field(b, "description", NULL), "BI");
    cr_assert(!json_object_object_get_ex(b, "auth", NULL));
    json_object_put(b);
}

Test(import, refuses_sse_only_packages_only_and_templates)
{
    char why[256];
    int rc;

    cr_assert_null(body_of("{\"name\":\"a/b\",\"remotes\":[{\"type\":\"sse\",\"url\":\"https://x/sse\"}]}",
                           NULL, &rc, why, sizeof(why)));
    cr_assert_eq(rc, -1);
    cr_assert_not_null(strstr(why, "streamable-http"));
    cr_assert_null(body_of("{\"name\":\"a/b\",\"packages\":[{\"registryType\":\"npm\"}]}", NULL, &rc,
                           why, sizeof(why)));
    cr_assert_not_null(strstr(why, "no remotes"));
    cr_assert_null(body_of("{\"name\":\"a/b\",\"remotes\":[{\"type\":\"streamable-http\","
                           "\"url\":\"https://{host}/mcp\"}]}", NULL, &rc, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "template"));
    cr_assert_null(body_of("{\"remotes\":[]}", NULL, &rc, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "name"));
}

Test(import, required_header_needs_a_value)
{
    static const char *const given[] = { "X-API-Key=s3cret", NULL };
    static const char *const bearer[] = { "authorization=Bearer tok", NULL };
    const char *srv = "{\"name\":\"a/keyed\",\"remotes\":[{\"type\":\"streamable-http\","
                      "\"url\":\"https://k.example/mcp\",\"headers\":[{\"name\":\"X-API-Key\","
                      "\"isRequired\":true,\"isSecret\":true}]}]}";
    const char *auth_srv = "{\"name\":\"a/authd\",\"remotes\":[{\"type\":\"streamable-http\","
                           "\"url\":\"https://k.example/mcp\",\"headers\":[{\"name\":\"Authorization\","
                           "\"isRequired\":true}]}]}";
    char why[256];
    int rc;
    struct json_object *b;

    cr_assert_null(body_of(srv, NULL, &rc, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "X-API-Key"));
    b = body_of(srv, given, &rc, why, sizeof(why));
    cr_assert_eq(rc, 0, "%s", why);
    cr_assert_str_eq(field(b, "auth", "type"), "header");
    cr_assert_str_eq(field(b, "auth", "header_name"), "X-API-Key");
    cr_assert_str_eq(field(b, "auth", "header_value"), "s3cret");
    json_object_put(b);
    b = body_of(auth_srv, bearer, &rc, why, sizeof(why));
    cr_assert_eq(rc, 0, "%s", why);
    cr_assert_str_eq(field(b, "auth", "type"), "bearer");
    cr_assert_str_eq(field(b, "auth", "token"), "tok");
    json_object_put(b);
}
