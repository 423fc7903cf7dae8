/* The catalog's pure parts: "{server}__{name}" splitting, list cursors, the
 * entry parser (what it refuses), and who may see a server. */
#include <criterion/criterion.h>
#include <string.h>

#include "auth.h"
#include "mcp/catalog.h"

Test(catalog, split_at_the_first_double_underscore)
{
    char srv[49];
    const char *rest = NULL;

    cr_assert_eq(cat_split_name("weather__get_forecast", srv, sizeof(srv), &rest), 0);
    cr_assert_str_eq(srv, "weather");
    cr_assert_str_eq(rest, "get_forecast");
    cr_assert_eq(cat_split_name("a__b__c", srv, sizeof(srv), &rest), 0);
    cr_assert_str_eq(srv, "a");
    cr_assert_str_eq(rest, "b__c");
    cr_assert_eq(cat_split_name("gateway__", srv, sizeof(srv), &rest), 0);
    cr_assert_str_eq(rest, "");
}

Test(catalog, split_refuses_names_without_a_server)
{
    char srv[8];
    const char *rest = NULL;

    cr_assert_eq(cat_split_name("plain", srv, sizeof(srv), &rest), -1);
    cr_assert_eq(cat_split_name("__tool", srv, sizeof(srv), &rest), -1);
    cr_assert_eq(cat_split_name("single_underscore", srv, sizeof(srv), &rest), -1);
    cr_assert_eq(cat_split_name(NULL, srv, sizeof(srv), &rest), -1);
    /* A server part longer than the buffer is refused, not cut. */
    cr_assert_eq(cat_split_name("abcdefghij__x", srv, sizeof(srv), &rest), -1);
}

Test(catalog, cursors_round_trip_per_kind)
{
    char cur[256], after[128];

    cr_assert_eq(cat_cursor_encode('t', "weather__get_forecast", cur, sizeof(cur)), 0);
    cr_assert_eq(strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 strlen(cur));
    cr_assert_eq(cat_cursor_decode(cur, 't', after, sizeof(after)), 0);
    cr_assert_str_eq(after, "weather__get_forecast");
    /* A cursor of one list is no cursor of another. */
    cr_assert_eq(cat_cursor_decode(cur, 'p', after, sizeof(after)), -1);
    cr_assert_eq(cat_cursor_encode('r', "file:///a b?c=d", cur, sizeof(cur)), 0);
    cr_assert_eq(cat_cursor_decode(cur, 'r', after, sizeof(after)), 0);
    cr_assert_str_eq(after, "file:///a b?c=d");
}

Test(catalog, bad_cursors_are_refused)
{
    char after[64], cur[256];

    cr_assert_eq(cat_cursor_decode("", 't', after, sizeof(after)), -1);
    cr_assert_eq(cat_cursor_decode("not a cursor!", 't', after, sizeof(after)), -1);
    cr_assert_eq(cat_cursor_decode("YWJj", 't', after, sizeof(after)), -1);     /* "abc" */
    cr_assert_eq(cat_cursor_decode("YzF0Og", 't', after, sizeof(after)), -1);   /* "c1t:" empty */
    cr_assert_eq(cat_cursor_decode(NULL, 't', after, sizeof(after)), -1);
    /* Too long for the caller's buffer: refused, not truncated. */
    cr_assert_eq(cat_cursor_encode('t', "0123456789012345678901234567890123456789012345678901234567890123456789",
                                   cur, sizeof(cur)), 0);
    cr_assert_eq(cat_cursor_decode(cur, 't', after, sizeof(after)), -1);
}

#define ENTRY(EXTRA) \
    "{\"id\":\"2fc1144e-f4f7-4625-bc5f-5e5b0a5147f9\",\"name\":\"weather\",\"tenant_id\":null," \
    "\"url\":\"http://127.0.0.1:9/mcp\",\"description\":\"d\",\"tags\":[\"x\"],\"status\":\"active\"," \
    "\"maintenance\":false,\"timeout_ms\":30000,\"max_concurrency\":16,\"protocol_version\":\"2025-11-25\"," \
    "\"server_info\":{},\"capabilities\":{},\"auth_type\":\"none\",\"auth_secret\":null,\"auth_key_id\":null," \
    "\"tools\":[{\"name\":\"t1\"}],\"prompts\":[],\"resources\":[],\"resource_templates\":[]," EXTRA "}"

Test(catalog, entries_parse)
{
    static const char e[] = ENTRY("\"required_roles\":[\"operator\",\"finance\"]");
    struct cat_server s;
    char why[256];

    cr_assert_eq(cat_entry_parse(e, strlen(e), &s, why, sizeof(why)), 0, "%s", why);
    cr_assert_str_eq(s.name, "weather");
    cr_assert_str_eq(s.tenant_id, "");
    cr_assert_eq(s.timeout_ms, 30000);
    cr_assert_eq(json_object_array_length(s.tools), 1);
    cr_assert_str_eq(s.auth.type, "none");
    cat_server_clear(&s);
}

Test(catalog, entries_are_checked)
{
    static const char *const bad[] = {
        ENTRY("\"required_roles\":\"admin\""),
        ENTRY("\"required_roles\":[1]"),
        "{\"id\":\"x\"}",
        "[]",
        "{",
        ENTRY("\"required_roles\":[]") "trailing",
    };
    struct cat_server s;
    char why[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(cat_entry_parse(bad[i], strlen(bad[i]), &s, why, sizeof(why)), -1, "case %zu", i);
        cr_assert_null(s.entry);
    }
}

static void who(struct gw_identity *id, const char *tenant, unsigned roles, const char *token_roles)
{
    memset(id, 0, sizeof(*id));
    strcpy(id->tenant_id, tenant);
    id->roles = auth_roles_effective(roles);
    strcpy(id->token_roles, token_roles);
}

Test(catalog, visibility_by_tenant_and_required_roles)
{
    static const char e[] = ENTRY("\"required_roles\":[\"operator\",\"finance\"]");
    struct cat_server s;
    struct gw_identity id;
    char why[256];

    cr_assert_eq(cat_entry_parse(e, strlen(e), &s, why, sizeof(why)), 0, "%s", why);
    who(&id, "t1", ROLE_OPERATOR, "operator, finance");
    cr_assert(cat_visible(&s, &id));
    who(&id, "t1", ROLE_ADMIN, "finance");           /* admin implies operator */
    cr_assert(cat_visible(&s, &id));
    who(&id, "t1", ROLE_USER, "finance");            /* operator missing */
    cr_assert_not(cat_visible(&s, &id));
    who(&id, "t1", ROLE_OPERATOR, "financeX,xfinance");
    cr_assert_not(cat_visible(&s, &id));
    strcpy(s.tenant_id, "t2");
    who(&id, "t1", ROLE_PLATFORM_ADMIN, "finance");  /* another tenant's server */
    cr_assert_not(cat_visible(&s, &id));
    who(&id, "t2", ROLE_OPERATOR, "finance");
    cr_assert(cat_visible(&s, &id));
    cat_server_clear(&s);
}
