/* The audit chain's canonical forms and hash: the detail JSON and the row text
 * must be exactly what src/audit.c documents, so that verify recomputes them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "util.h"

static char err[256];

static void expect_detail(struct json_object *o, const char *want)
{
    char *got = audit_canonical_detail(o, err, sizeof(err));

    cr_assert_not_null(got, "canonical detail failed: %s", err);
    cr_expect_str_eq(got, want);
    free(got);
}

static void expect_detail_of(const char *json, const char *want)
{
    struct json_object *o = json_tokener_parse(json);

    cr_assert_not_null(o, "test input parses: %s", json);
    expect_detail(o, want);
    json_object_put(o);
}

Test(audit, detail_sorts_keys_at_every_level_without_white_space)
{
    expect_detail_of("{ \"b\": 1, \"a\": { \"d\": [1, \"x\", true], \"c\": null }, \"B\": false }",
                     "{\"B\":false,\"a\":{\"c\":null,\"d\":[1,\"x\",true]},\"b\":1}");
}

Test(audit, detail_does_not_depend_on_insertion_order)
{
    struct json_object *a = json_object_new_object(), *b = json_object_new_object();
    char *ca, *cb;

    json_object_object_add(a, "path", json_object_new_string("/x"));
    json_object_object_add(a, "method", json_object_new_string("GET"));
    json_object_object_add(b, "method", json_object_new_string("GET"));
    json_object_object_add(b, "path", json_object_new_string("/x"));
    ca = audit_canonical_detail(a, err, sizeof(err));
    cb = audit_canonical_detail(b, err, sizeof(err));
    cr_assert_not_null(ca);
    cr_assert_not_null(cb);
    cr_expect_str_eq(ca, cb);
    free(ca);
    free(cb);
    json_object_put(a);
    json_object_put(b);
}

Test(audit, detail_numbers_have_one_form)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "a", json_object_new_double(100.0));
    json_object_object_add(o, "b", json_object_new_double(0.1));
    json_object_object_add(o, "c", json_object_new_int64(INT64_MIN));
    json_object_object_add(o, "d", json_object_new_double(-0.0));
    json_object_object_add(o, "e", json_object_new_uint64(UINT64_MAX));
    json_object_object_add(o, "f", json_object_new_double(1e300));
    expect_detail(o, "{\"a\":100,\"b\":0.10000000000000001,\"c\":-9223372036854775808,\"d\":0,"
                     "\"e\":18446744073709551615,\"f\":1.0000000000000001e+300}");
    json_object_put(o);
    /* json-c keeps the text of parsed numbers; the canonical form does not. */
    expect_detail_of("{\"x\": 1e2, \"y\": 1.50}", "{\"x\":100,\"y\":1.5}");
}

Test(audit, detail_strings_escape_only_what_json_requires)
{
    expect_detail_of("{\"s\": \"q\\\" b\\\\ n\\n t\\t c\\u0001 / \\u00e9\"}",
                     "{\"s\":\"q\\\" b\\\\ n\\n t\\t c\\u0001 / \xc3\xa9\"}");
}

Test(audit, detail_is_a_fixed_point_of_parse_and_canonicalize)
{
    const char *in = "{\"z\":[{\"b\":2.25,\"a\":-3}],\"k\":\"\\u001f\\\"\",\"n\":12345678901234}";
    char *once, *twice;
    struct json_object *o = json_tokener_parse(in), *again;

    once = audit_canonical_detail(o, err, sizeof(err));
    cr_assert_not_null(once);
    again = json_tokener_parse(once);
    cr_assert_not_null(again, "canonical detail is JSON: %s", once);
    twice = audit_canonical_detail(again, err, sizeof(err));
    cr_assert_not_null(twice);
    cr_expect_str_eq(once, twice);
    free(once);
    free(twice);
    json_object_put(o);
    json_object_put(again);
}

Test(audit, detail_refuses_what_jsonb_cannot_hold)
{
    struct json_object *o = json_object_new_object(), *deep, *cur;

    json_object_object_add(o, "s", json_object_new_string_len("a\0b", 3));
    cr_expect_null(audit_canonical_detail(o, err, sizeof(err)));
    cr_expect(strstr(err, "NUL") != NULL, "%s", err);
    json_object_object_add(o, "s", json_object_new_double(NAN));
    cr_expect_null(audit_canonical_detail(o, err, sizeof(err)));
    json_object_put(o);

    o = json_object_new_array();
    cr_expect_null(audit_canonical_detail(o, err, sizeof(err)), "a detail that is not an object");
    json_object_put(o);

    deep = cur = json_object_new_object();
    for (int i = 0; i < 40; i++) {
        struct json_object *next = json_object_new_object();

        json_object_object_add(cur, "k", next);
        cur = next;
    }
    cr_expect_null(audit_canonical_detail(deep, err, sizeof(err)));
    cr_expect(strstr(err, "deeper") != NULL, "%s", err);
    json_object_put(deep);
}

Test(audit, null_detail_is_an_empty_object)
{
    expect_detail(NULL, "{}");
}

static const struct audit_row sample = {
    .id = 42,
    .ts = "2026-12-01T00:46:05.123456Z",
    .action = "server.register",
    .outcome = "success",
    .actor_user = "t1:u1",
    .actor_tenant = "t1",
    .tenant_id = "t1",
    .target_type = "server",
    .target_id = "srv-1",
    .request_id = NULL,
    .detail_canonical = "{\"name\":\"w\xc3\xa9" "ather\"}",
};

Test(audit, row_text_is_length_prefixed_in_a_fixed_order)
{
    size_t len = 0;
    char *text = audit_canonical_row(&sample, &len);
    const char *want = "mcpgw-audit-v1\nid=42\nts=27:2026-12-01T00:46:05.123456Z\n"
                       "action=15:server.register\noutcome=7:success\nactor_user=5:t1:u1\n"
                       "actor_tenant=2:t1\ntenant_id=2:t1\ntarget_type=6:server\n"
                       "target_id=5:srv-1\nrequest_id=-\ndetail=19:{\"name\":\"w\xc3\xa9" "ather\"}\n";

    cr_assert_not_null(text);
    cr_expect_eq(len, strlen(want));
    cr_expect_str_eq(text, want);
    free(text);
}

/* Known answer, computed outside C from the definition in audit.c:
 * sha256("0"*64 + row text) of the sample row. */
Test(audit, hash_matches_the_documented_definition)
{
    char h[65];

    audit_row_hash(AUDIT_GENESIS_HASH, &sample, h);
    cr_expect_str_eq(h, "bab7542becf437a682da3432d2cd0c00150d21228b30345d60b8fd737ed47f2e");
}

Test(audit, every_field_and_the_previous_hash_change_the_hash)
{
    char base[65], h[65];
    struct audit_row r;
    const char **fields[] = { &r.ts, &r.action, &r.outcome, &r.actor_user, &r.actor_tenant,
                              &r.tenant_id, &r.target_type, &r.target_id, &r.request_id,
                              &r.detail_canonical };

    audit_row_hash(AUDIT_GENESIS_HASH, &sample, base);
    for (size_t i = 0; i < GW_ARRAY_LEN(fields); i++) {
        r = sample;
        *fields[i] = *fields[i] == NULL ? "" : "changed";
        audit_row_hash(AUDIT_GENESIS_HASH, &r, h);
        cr_expect_str_neq(h, base, "field %zu does not change the hash", i);
    }
    r = sample;
    r.id = 43;
    audit_row_hash(AUDIT_GENESIS_HASH, &r, h);
    cr_expect_str_neq(h, base, "the id does not change the hash");
    audit_row_hash("1111111111111111111111111111111111111111111111111111111111111111", &sample, h);
    cr_expect_str_neq(h, base, "the previous hash does not change the hash");
}

Test(audit, null_and_empty_fields_differ_and_boundaries_cannot_shift)
{
    struct audit_row a = sample, b = sample;
    char ha[65], hb[65];

    a.actor_user = NULL;
    b.actor_user = "";
    audit_row_hash(AUDIT_GENESIS_HASH, &a, ha);
    audit_row_hash(AUDIT_GENESIS_HASH, &b, hb);
    cr_expect_str_neq(ha, hb);

    /* A value that imitates the next field must not equal the real thing. */
    a = sample;
    b = sample;
    a.actor_user = "u\nactor_tenant=2:t1";
    a.actor_tenant = NULL;
    b.actor_user = "u";
    audit_row_hash(AUDIT_GENESIS_HASH, &a, ha);
    audit_row_hash(AUDIT_GENESIS_HASH, &b, hb);
    cr_expect_str_neq(ha, hb);
}
