/* Results of the stateless revision: resultType and cache hints. */
#include <criterion/criterion.h>
#include <string.h>

#include "js.h"
#include "mcp/stateless.h"

static struct json_object *shaped(const char *method, const char *scope, const char *answer, int *status)
{
    struct json_object *a = json_tokener_parse(answer);

    cr_assert_not_null(a);
    *status = msl_shape(method, 60000, scope, a);
    return a;
}

Test(mcp_stateless, results_get_result_type_and_lists_cache_hints)
{
    int st;
    struct json_object *a = shaped("tools/list", "private", "{\"id\":1,\"result\":{\"tools\":[]}}", &st);
    struct json_object *r = js_get(a, "result", json_type_object);

    cr_assert_eq(st, 200);
    cr_assert_str_eq(js_str(r, "resultType"), "complete");
    cr_assert_eq(json_object_get_int(js_get(r, "ttlMs", json_type_int)), 60000);
    cr_assert_str_eq(js_str(r, "cacheScope"), "private");
    json_object_put(a);
    a = shaped("tools/call", "private", "{\"id\":1,\"result\":{\"content\":[]}}", &st);
    r = js_get(a, "result", json_type_object);
    cr_assert_str_eq(js_str(r, "resultType"), "complete");
    cr_assert_null(js_get(r, "ttlMs", json_type_int), "a tool call is not cacheable");
    json_object_put(a);
}

Test(mcp_stateless, upstream_hints_cannot_widen_the_cache)
{
    int st;
    struct json_object *a = shaped("resources/read", NULL,
                                   "{\"id\":1,\"result\":{\"contents\":[],\"cacheScope\":\"public\",\"ttlMs\":999999999}}", &st);
    struct json_object *r = js_get(a, "result", json_type_object);

    cr_assert_str_eq(js_str(r, "cacheScope"), "private");
    cr_assert_eq(json_object_get_int(js_get(r, "ttlMs", json_type_int)), 60000);
    json_object_put(a);
    a = shaped("tools/list", NULL, "{\"id\":1,\"result\":{\"tools\":[],\"ttlMs\":-5}}", &st);
    cr_assert_eq(json_object_get_int(js_get(js_get(a, "result", json_type_object), "ttlMs", json_type_int)), 60000);
    json_object_put(a);
    a = shaped("tools/list", NULL, "{\"id\":1,\"result\":{\"tools\":[],\"ttlMs\":500}}", &st);
    cr_assert_eq(json_object_get_int(js_get(js_get(a, "result", json_type_object), "ttlMs", json_type_int)), 500);
    json_object_put(a);
    /* an interim result of an upstream carries no cache hints */
    a = shaped("tools/list", NULL, "{\"id\":1,\"result\":{\"resultType\":\"input_required\"}}", &st);
    cr_assert_null(js_get(js_get(a, "result", json_type_object), "ttlMs", json_type_int));
    json_object_put(a);
}

Test(mcp_stateless, method_not_found_is_http_404)
{
    int st;
    struct json_object *a = shaped("x/y", "private", "{\"id\":1,\"error\":{\"code\":-32601,\"message\":\"m\"}}", &st);

    cr_assert_eq(st, 404);
    json_object_put(a);
    a = shaped("tools/call", "private", "{\"id\":1,\"error\":{\"code\":-32602,\"message\":\"m\"}}", &st);
    cr_assert_eq(st, 200);
    json_object_put(a);
}
