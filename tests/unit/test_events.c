/* The body of POST /api/v1/events and the tool an event is delivered to. */
#include <criterion/criterion.h>
#include <string.h>

#include "events.h"

static int parse(const char *body, struct event_req *r, char *err, size_t n)
{
    return events_parse(body, strlen(body), 16, r, err, n);
}

Test(events, parses_type_and_data)
{
    struct event_req r;
    char err[256];

    cr_assert_eq(parse("{\"type\":\"authentication_failure\",\"data\":{\"user\":\"u\"}}", &r, err, sizeof(err)), 0);
    cr_assert_str_eq(r.type, "authentication_failure");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(r.data, "user")), "u");
    cr_assert(!r.has_tenant);
    event_req_clear(&r);
}

Test(events, data_defaults_to_an_empty_object)
{
    struct event_req r;
    char err[256];

    cr_assert_eq(parse("{\"type\":\"deployment_status\"}", &r, err, sizeof(err)), 0);
    cr_assert(json_object_is_type(r.data, json_type_object));
    cr_assert_eq(json_object_object_length(r.data), 0);
    event_req_clear(&r);
    cr_assert_eq(parse("{\"type\":\"deployment_status\",\"data\":null}", &r, err, sizeof(err)), 0);
    cr_assert(json_object_is_type(r.data, json_type_object));
    event_req_clear(&r);
}

Test(events, tenant_null_means_a_platform_event)
{
    struct event_req r;
    char err[256];

    cr_assert_eq(parse("{\"type\":\"x\",\"tenant_id\":null}", &r, err, sizeof(err)), 0);
    cr_assert(r.has_tenant);
    cr_assert_str_eq(r.tenant_id, "");
    event_req_clear(&r);
    cr_assert_eq(parse("{\"type\":\"x\",\"tenant_id\":\"tb\"}", &r, err, sizeof(err)), 0);
    cr_assert_str_eq(r.tenant_id, "tb");
    event_req_clear(&r);
}

Test(events, refuses_what_is_not_an_event)
{
    static const char *const bad[] = {
        "", "null", "[]", "\"x\"", "{}", "{\"type\":1}", "{\"type\":\"\"}", "{\"type\":\"Upper\"}",
        "{\"type\":\"1abc\"}", "{\"type\":\"a-b\"}", "{\"type\":\"a b\"}",
        "{\"type\":\"a\",\"data\":[1]}", "{\"type\":\"a\",\"data\":\"s\"}", "{\"type\":\"a\",\"colour\":1}",
        "{\"type\":\"a\",\"tenant_id\":\"\"}", "{\"type\":\"a\",\"tenant_id\":5}", "{\"type\":\"a\"} x",
        "{\"type\":\"a\",\"data\":{\"d\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}",
    };
    struct event_req r;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(parse(bad[i], &r, err, sizeof(err)), -1, "accepted: %s", bad[i]);
        cr_assert_neq(err[0], '\0', "no reason for: %s", bad[i]);
        cr_assert_null(r.data);
    }
    cr_assert_eq(events_parse(NULL, 0, 16, &r, err, sizeof(err)), -1);
}

Test(events, type_is_at_most_64_lower_case_word_characters)
{
    char t[80];

    cr_assert(events_type_valid("protocol_violation"));
    cr_assert(events_type_valid("a9"));
    memset(t, 'a', 64);
    t[64] = '\0';
    cr_assert(events_type_valid(t));
    t[64] = 'a';
    t[65] = '\0';
    cr_assert(!events_type_valid(t));
    cr_assert(!events_type_valid(NULL));
    cr_assert(!events_type_valid("_a"));
}

Test(events, delivered_to_the_handle_tool_of_its_type)
{
    char out[80], small[10];

    cr_assert_eq(events_tool_name("authentication_failure", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "handle_authentication_failure");
    cr_assert_eq(events_tool_name("authentication_failure", small, sizeof(small)), -1);
}

Test(events, data_with_nul_is_refused_a_backslash_is_not)
{
    struct event_req r;
    char err[256];

    cr_assert_eq(parse("{\"type\":\"a\",\"data\":{\"d\":[\"a\\u0000b\"]}}", &r, err, sizeof(err)), -1);
    cr_assert_null(r.data);
    /* The six characters \u0000 (an escaped backslash) are no NUL. */
    cr_assert_eq(parse("{\"type\":\"a\",\"data\":{\"path\":\"C:\\\\u0000\"}}", &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(r.data, "path")), "C:\\u0000");
    event_req_clear(&r);
}

