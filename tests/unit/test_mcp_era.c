/* The era of an MCP POST and the 2026-07-28 request-metadata rules. */
#include <criterion/criterion.h>
#include <string.h>
#include <strings.h>

#include "mcp/era.h"

#define META "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
             "\"io.modelcontextprotocol/clientCapabilities\":{}}"

static struct mce_verdict classify(const char *body, const char *version, const char *method,
                                   const char *name)
{
    struct mce_headers h = { version, method, name };
    struct mce_verdict v;
    struct jr_msg m;
    char why[160];

    cr_assert_eq(jr_parse(body, strlen(body), 16, &m, why, sizeof(why)), 0, "%s", why);
    mce_classify(&h, &m, &v);
    jr_msg_free(&m);
    return v;
}

Test(mcp_era, session_era_for_initialize_and_old_headers)
{
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                          "\"protocolVersion\":\"2026-07-28\",\"capabilities\":{}}}", NULL, NULL, NULL).era, MCE_SESSION);
    /* initialize in the new era's clothes: a removed method, answered there */
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{" META "}}",
                          "2026-07-28", "initialize", NULL).era, MCE_STATELESS);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "2025-11-25", NULL, NULL).era,
                 MCE_SESSION);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", NULL, NULL, NULL).era,
                 MCE_SESSION);
}

Test(mcp_era, stateless_when_header_and_meta_agree_and_headers_mirror_the_body)
{
    struct mce_verdict v = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                                    "\"name\":\"a__b\"," META "}}", "2026-07-28", "tools/call", " a__b ");

    cr_assert_eq(v.era, MCE_STATELESS, "%s", v.message);
    v = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}", "2026-07-28",
                 "tools/list", NULL);
    cr_assert_eq(v.era, MCE_STATELESS);
    /* "a__b" in base64 */
    v = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a__b\"," META "}}",
                 "2026-07-28", "tools/call", "=?base64?YV9fYg==?=");
    cr_assert_eq(v.era, MCE_STATELESS, "%s", v.message);
}

static void assert_refused(struct mce_verdict v, int status, int code)
{
    cr_assert_eq(v.era, MCE_REFUSED);
    cr_assert_eq(v.status, status);
    cr_assert_eq(v.code, code, "code %d: %s", v.code, v.message);
}

Test(mcp_era, header_mismatch_is_minus_32020)
{
    const char *list = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}";
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"," META "}}";

    assert_refused(classify(list, NULL, "tools/list", NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(list, "2025-11-25", "tools/list", NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(list, "2026-07-28", NULL, NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(list, "2026-07-28", "prompts/list", NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(list, "2026-07-28", "TOOLS/LIST", NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(call, "2026-07-28", "tools/call", NULL), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(call, "2026-07-28", "tools/call", "y"), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(call, "2026-07-28", "tools/call", "=?base64?eQ==?="), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(call, "2026-07-28", "tools/call", "=?base64?!!?="), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify(call, "2026-07-28", "tools/call", "x\001"), 400, MCE_HEADER_MISMATCH);
    assert_refused(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                            "\"io.modelcontextprotocol/protocolVersion\":\"2025-11-25\","
                            "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
                            "2026-07-28", "tools/list", NULL), 400, MCE_HEADER_MISMATCH);
}

Test(mcp_era, missing_meta_is_invalid_params)
{
    assert_refused(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{}}", "2026-07-28",
                            "tools/list", NULL), 400, JR_INVALID_PARAMS);
    assert_refused(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                            "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}", "2026-07-28",
                            "tools/list", NULL), 400, JR_INVALID_PARAMS);
}

Test(mcp_era, unknown_version_is_minus_32022_with_the_version_asked)
{
    struct mce_verdict v = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                                    "\"io.modelcontextprotocol/protocolVersion\":\"v999\","
                                    "\"io.modelcontextprotocol/clientCapabilities\":{}}}}", "v999", "tools/list", NULL);
    size_t n;
    const char *const *all = mce_versions(&n);

    assert_refused(v, 400, MCE_UNSUPPORTED_VERSION);
    cr_assert_str_eq(v.requested, "v999");
    v = classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "1999-01-01", NULL, NULL);
    assert_refused(v, 400, MCE_UNSUPPORTED_VERSION);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(all[0], "2026-07-28");
    cr_assert_str_eq(all[1], "2025-11-25");
}

Test(mcp_era, responses_are_refused_notifications_pass)
{
    assert_refused(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "2026-07-28", NULL, NULL), 400,
                   JR_INVALID_REQUEST);
    cr_assert_eq(classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{}}", "2026-07-28",
                          "notifications/cancelled", NULL).era, MCE_STATELESS);
}

Test(mcp_era, header_values_trimmed_and_base64_decoded_strictly)
{
    char out[64];

    cr_assert_eq(mce_header_value("  abc\t", out, sizeof(out)), -1);
    cr_assert_eq(mce_header_value("  abc  ", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "abc");
    cr_assert_eq(mce_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Hello, \xe4\xb8\x96\xe7\x95\x8c");
    cr_assert_eq(mce_header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "=?base64?literal?=");
    cr_assert_eq(mce_header_value("=?base64?SGVsbG8?=", out, sizeof(out)), -1);      /* no padding */
    cr_assert_eq(mce_header_value("=?base64?SGVsbG8_?=", out, sizeof(out)), -1);     /* base64url */
    cr_assert_eq(mce_header_value("=?base64?AA==?=", out, sizeof(out)), -1);         /* a NUL */
    cr_assert_eq(mce_header_value("caf\xc3\xa9", out, sizeof(out)), -1);             /* not ASCII */
    cr_assert_eq(mce_header_value("=?BASE64?YQ==?=", out, sizeof(out)), 0);          /* markers are case-sensitive */
    cr_assert_str_eq(out, "=?BASE64?YQ==?=");
}

/* Headers of a fake request: "Name: value" pairs, NULL-terminated. */
static const char *fake_header(void *arg, const char *name)
{
    const char *const *h = arg;

    for (; h[0] != NULL; h += 2)
        if (strcasecmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

static int params_check(const char *schema, const char *args, const char *const *headers)
{
    struct json_object *s = json_tokener_parse(schema), *a = json_tokener_parse(args);
    struct mce_verdict v;
    int rc = mce_check_params(s, a, fake_header, (void *)headers, &v);

    if (rc != 0)
        cr_assert_eq(v.code, MCE_HEADER_MISMATCH);
    json_object_put(s);
    json_object_put(a);
    return rc;
}

#define SCHEMA "{\"type\":\"object\",\"properties\":{\"region\":{\"type\":\"string\",\"x-mcp-header\":\"Region\"}," \
               "\"count\":{\"type\":\"integer\",\"x-mcp-header\":\"Count\"},\"on\":{\"type\":\"boolean\",\"x-mcp-header\":\"On\"}," \
               "\"where\":{\"type\":\"object\",\"properties\":{\"zone\":{\"type\":\"string\",\"x-mcp-header\":\"Zone\"}}}," \
               "\"list\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\",\"x-mcp-header\":\"X\"}}}}}}"

Test(mcp_era, param_headers_mirror_annotated_arguments)
{
    const char *const ok[] = { "Mcp-Param-Region", "us-west1", "Mcp-Param-Count", "42.0", "Mcp-Param-On", "true",
                               "Mcp-Param-Zone", "=?base64?YQ==?=", NULL };
    const char *const none[] = { NULL };
    const char *const wrong[] = { "Mcp-Param-Region", "eu-west1", NULL };
    const char *const bad_b64[] = { "Mcp-Param-Region", "=?base64?dXMtd2VzdDE?=", NULL };
    const char *const bad_char[] = { "Mcp-Param-Region", "us\001west", NULL };
    const char *const bool_wrong[] = { "Mcp-Param-On", "True", NULL };

    cr_assert_eq(params_check(SCHEMA, "{\"region\":\"us-west1\",\"count\":42,\"on\":true,\"where\":{\"zone\":\"a\"}}", ok), 0);
    cr_assert_eq(params_check(SCHEMA, "{}", none), 0);                             /* nothing to mirror */
    cr_assert_eq(params_check(SCHEMA, "{\"region\":null}", none), 0);              /* null: no header expected */
    cr_assert_eq(params_check(SCHEMA, "{\"list\":[{\"x\":\"y\"}]}", none), 0);     /* through items: not a header */
    cr_assert_eq(params_check(SCHEMA, "{\"region\":\"us-west1\"}", none), -1);     /* missing */
    cr_assert_eq(params_check(SCHEMA, "{\"region\":\"us-west1\"}", wrong), -1);    /* mismatch */
    cr_assert_eq(params_check(SCHEMA, "{\"region\":\"us-west1\"}", bad_b64), -1);  /* bad padding */
    cr_assert_eq(params_check(SCHEMA, "{}", bad_char), -1);                        /* invalid characters */
    cr_assert_eq(params_check(SCHEMA, "{\"on\":true}", bool_wrong), -1);
    cr_assert_eq(params_check(SCHEMA, "{\"where\":{\"zone\":\"b\"}}", ok), -1);    /* nested mismatch */
    cr_assert_eq(params_check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"bad name\"}}}",
                              "{\"a\":\"x\"}", none), -1);
}

static struct json_object *built(const char *schema, const char *args, int *rc, struct mce_verdict *v)
{
    struct json_object *s = json_tokener_parse(schema), *a = json_tokener_parse(args), *out = NULL;

    *rc = mce_param_headers(s, a, &out, v);
    json_object_put(s);
    json_object_put(a);
    return out;
}

Test(mcp_era, param_headers_built_for_an_upstream_mirror_annotated_arguments)
{
    struct mce_verdict v;
    struct json_object *h;
    int rc;

    h = built(SCHEMA, "{\"region\":\"us-west1\",\"count\":42,\"on\":true,\"where\":{\"zone\":\"\\u00e9\"},"
                      "\"list\":[{\"x\":\"y\"}]}", &rc, &v);
    cr_assert_eq(rc, 0);
    cr_assert_not_null(h);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(h, "Mcp-Param-Region")), "us-west1");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(h, "Mcp-Param-Count")), "42");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(h, "Mcp-Param-On")), "true");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(h, "Mcp-Param-Zone")), "=?base64?w6k=?=");
    cr_assert_eq(json_object_object_length(h), 4);              /* not through items */
    json_object_put(h);
    h = built(SCHEMA, "{\"region\":null}", &rc, &v);
    cr_assert_eq(rc, 0);
    cr_assert_null(h);                                           /* nothing to send */
}

Test(mcp_era, param_header_too_long_for_an_upstream_is_refused_by_name)
{
    char args[2100] = "{\"region\":\"";
    struct mce_verdict v;
    struct json_object *h;
    int rc;

    memset(args + strlen(args), 'a', 1500);
    strcpy(args + strlen(args), "\"}");
    h = built(SCHEMA, args, &rc, &v);
    cr_assert_eq(rc, -1);
    cr_assert_null(h);
    cr_assert_eq(v.code, -32602);
    cr_assert(strstr(v.message, "'region'") != NULL && strstr(v.message, "Mcp-Param-Region") != NULL, "%s",
              v.message);
    h = built("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"x-mcp-header\":\"bad\\r\\nname\"}}}",
              "{\"a\":\"x\"}", &rc, &v);
    cr_assert_eq(rc, -1);
    cr_assert_null(h);
    h = built("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"x-mcp-header\":\"A\"}}}",
              "{\"a\":[1]}", &rc, &v);
    cr_assert_eq(rc, -1);
    cr_assert_null(h);
}

Test(mcp_era, header_values_encoded_as_they_are_read_back)
{
    static const char *const plain[] = { "us-west1", "a b", "42" };
    static const char *const coded[] = { "Z\xc3\xbcrich", " lead", "trail ", "", "=?base64?x?=", "a\r\nb" };
    char enc[64], dec[64];

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        cr_assert_eq(mce_header_encode(plain[i], enc, sizeof(enc)), 0);
        cr_assert_str_eq(enc, plain[i]);
    }
    for (size_t i = 0; i < sizeof(coded) / sizeof(coded[0]); i++) {
        cr_assert_eq(mce_header_encode(coded[i], enc, sizeof(enc)), 0);
        cr_assert(strncmp(enc, "=?base64?", 9) == 0, "%s", enc);
        cr_assert_eq(mce_header_value(enc, dec, sizeof(dec)), 0, "%s", enc);
        cr_assert_str_eq(dec, coded[i]);
    }
    cr_assert_eq(mce_header_encode("\xc3\xbc\xc3\xbc\xc3\xbc", enc, 13 + 8), 0);  /* exactly fits */
    cr_assert_eq(mce_header_encode("\xc3\xbc\xc3\xbc\xc3\xbc", enc, 12 + 7), -1);
}
