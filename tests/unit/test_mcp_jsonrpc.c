/* JSON-RPC parsing for the MCP plane: what is a request, a notification or a
 * response, and every malformed message refused with the right code. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mcp/jsonrpc.h"

static int parse(const char *text, struct jr_msg *m)
{
    char why[160];

    return jr_parse(text, strlen(text), 16, m, why, sizeof(why));
}

Test(jsonrpc, classifies_request_notification_and_response)
{
    struct jr_msg m;

    cr_assert_eq(parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}", &m), 0);
    cr_assert_eq(m.kind, JR_REQUEST);
    cr_assert_str_eq(m.method, "ping");
    cr_assert_eq(json_object_get_int(m.id), 7);
    jr_msg_free(&m);
    cr_assert_eq(parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &m), 0);
    cr_assert_eq(m.kind, JR_NOTIFICATION);
    cr_assert_null(m.id);
    jr_msg_free(&m);
    cr_assert_eq(parse("{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{}}", &m), 0);
    cr_assert_eq(m.kind, JR_RESPONSE);
    jr_msg_free(&m);
    cr_assert_eq(parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"x\"}}", &m), 0);
    cr_assert_eq(m.kind, JR_RESPONSE);
    jr_msg_free(&m);
}

Test(jsonrpc, unparsable_json_is_a_parse_error)
{
    struct jr_msg m;

    cr_assert_eq(parse("{\"jsonrpc\":", &m), JR_PARSE_ERROR);
    cr_assert_eq(parse("", &m), JR_PARSE_ERROR);
    cr_assert_eq(parse("{\"a\":1} trailing", &m), JR_PARSE_ERROR);
    cr_assert_eq(parse("{'jsonrpc':'2.0'}", &m), JR_PARSE_ERROR);
    cr_assert_null(m.root);
}

Test(jsonrpc, nesting_beyond_the_limit_is_refused)
{
    char deep[200];
    struct jr_msg m;
    size_t n = 0;

    n += (size_t)snprintf(deep, sizeof(deep), "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"a\":");
    for (int i = 0; i < 20; i++)
        deep[n++] = '[';
    for (int i = 0; i < 20; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n++] = '}';
    deep[n] = '\0';
    cr_assert_eq(parse(deep, &m), JR_PARSE_ERROR);
}

Test(jsonrpc, batches_and_non_objects_are_invalid_requests)
{
    struct jr_msg m;

    cr_assert_eq(parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", &m), JR_INVALID_REQUEST);
    cr_assert_eq(parse("5", &m), JR_INVALID_REQUEST);
    cr_assert_eq(parse("\"ping\"", &m), JR_INVALID_REQUEST);
    cr_assert_eq(parse("null", &m), JR_INVALID_REQUEST);
}

Test(jsonrpc, malformed_messages_are_invalid_requests)
{
    static const char *const bad[] = {
        "{\"id\":1,\"method\":\"ping\"}",                                    /* no jsonrpc */
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",                 /* wrong version */
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",              /* null id */
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",               /* fractional id */
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",              /* boolean id */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",                        /* method not a string */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",                     /* empty method */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}",     /* params array */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}",      /* both */
        "{\"jsonrpc\":\"2.0\",\"id\":1}",                                    /* nothing */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}",          /* both answers */
        "{\"jsonrpc\":\"2.0\",\"result\":{}}",                                /* response without id */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"x\"}}",       /* error without code */
    };
    struct jr_msg m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(parse(bad[i], &m), JR_INVALID_REQUEST, "accepted: %s", bad[i]);
}

Test(jsonrpc, envelopes_carry_the_id_or_null)
{
    struct json_object *id = json_object_new_string("a"), *r, *e;

    r = jr_result(id, NULL);
    cr_assert_str_eq(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN),
                     "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{}}");
    e = jr_error(NULL, JR_METHOD_NOT_FOUND, "Method not found", NULL);
    cr_assert_str_eq(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}");
    json_object_put(r);
    json_object_put(e);
    json_object_put(id);
}

Test(mcp_jsonrpc, ids_equal_only_in_type_and_value)
{
    struct json_object *i7 = json_object_new_int(7), *i7b = json_object_new_int64(7),
                       *s7 = json_object_new_string("7"), *s7b = json_object_new_string("7"),
                       *i8 = json_object_new_int(8), *null = NULL;

    cr_assert(jr_id_equal(i7, i7b));
    cr_assert(jr_id_equal(s7, s7b));
    cr_assert_not(jr_id_equal(i7, s7));
    cr_assert_not(jr_id_equal(i7, i8));
    cr_assert_not(jr_id_equal(null, null));
    cr_assert_not(jr_id_equal(i7, null));
    json_object_put(i7);
    json_object_put(i7b);
    json_object_put(s7);
    json_object_put(s7b);
    json_object_put(i8);
}
