/* The sealed requestState of multi-round-trip input: what it carries comes
 * back, and a handle altered, expired, of another caller or request is refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "mcp/mrtr.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof(key) - 1)
#define NOW 1800000000

static void alice(struct gw_identity *w)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->user_id, sizeof(w->user_id), "sub|https://issuer.test|alice");
    snprintf(w->tenant_id, sizeof(w->tenant_id), "tenant-a");
}

static void state(struct mrtr_state *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->server_id, sizeof(s->server_id), "srv-1");
    snprintf(s->method, sizeof(s->method), "tools/call");
    snprintf(s->target, sizeof(s->target), "weather__confirm");
    snprintf(s->upstream_state, sizeof(s->upstream_state), "upstream-opaque-\"state\"");
    snprintf(s->pending, sizeof(s->pending), "abcdef0123456789");
    s->exp = NOW + 60;
}

static void sealed(char *h, size_t n)
{
    struct gw_identity w;
    struct mrtr_state s;

    alice(&w);
    state(&s);
    cr_assert_eq(mrtr_seal(key, KEYLEN, &w, &s, h, n), 0);
}

Test(mrtr, round_trip_gives_back_what_was_sealed)
{
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    sealed(h, sizeof(h));
    alice(&w);
    cr_assert_eq(strncmp(h, "g1.", 3), 0);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, "tools/call", "weather__confirm", &out), MRTR_OK);
    cr_assert_str_eq(out.server_id, "srv-1");
    cr_assert_str_eq(out.upstream_state, "upstream-opaque-\"state\"");
    cr_assert_str_eq(out.pending, "abcdef0123456789");
    cr_assert_eq(out.exp, NOW + 60);
}

Test(mrtr, refuses_a_handle_with_any_byte_changed)
{
    char h[MRTR_HANDLE_MAX], t[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;
    size_t len;

    sealed(h, sizeof(h));
    alice(&w);
    len = strlen(h);
    for (size_t i = 3; i < len; i++) {
        enum mrtr_status st;

        if (h[i] == '.')
            continue;
        memcpy(t, h, len + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        st = mrtr_open(key, KEYLEN, &w, t, NOW, NULL, NULL, &out);
        /* The last character of base64url may carry unused bits that a
         * strict decoder refuses: then it is malformed, never accepted. */
        cr_assert(st == MRTR_TAMPERED || st == MRTR_MALFORMED, "byte %zu: %d", i, st);
        cr_assert_str_eq(out.server_id, "");
    }
}

Test(mrtr, refuses_a_handle_sealed_under_another_key)
{
    static const unsigned char other[] = "another-key-another-key-another-key!";
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    sealed(h, sizeof(h));
    alice(&w);
    cr_assert_eq(mrtr_open(other, sizeof(other) - 1, &w, h, NOW, NULL, NULL, &out), MRTR_TAMPERED);
}

Test(mrtr, refuses_an_expired_handle)
{
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    sealed(h, sizeof(h));
    alice(&w);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW + 60, NULL, NULL, &out), MRTR_EXPIRED);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW + 59, NULL, NULL, &out), MRTR_OK);
}

Test(mrtr, refuses_another_user_or_tenant)
{
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    sealed(h, sizeof(h));
    alice(&w);
    snprintf(w.user_id, sizeof(w.user_id), "sub|https://issuer.test|mallory");
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, NULL, NULL, &out), MRTR_FOREIGN);
    alice(&w);
    snprintf(w.tenant_id, sizeof(w.tenant_id), "tenant-b");
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, NULL, NULL, &out), MRTR_FOREIGN);
    /* The same subject at another issuer is another principal. */
    alice(&w);
    snprintf(w.user_id, sizeof(w.user_id), "sub|https://other.test|alice");
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, NULL, NULL, &out), MRTR_FOREIGN);
}

Test(mrtr, refuses_a_handle_replayed_on_another_tool_or_method)
{
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    sealed(h, sizeof(h));
    alice(&w);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, "tools/call", "weather__delete_all", &out),
                 MRTR_MISMATCH);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, h, NOW, "prompts/get", "weather__confirm", &out),
                 MRTR_MISMATCH);
}

Test(mrtr, refuses_malformed_text_and_works_only_with_a_key)
{
    static const char *bad[] = { "", "g1.", "g1..", "g2.abc.def", "g1.abc", "g1.a.b.c",
                                 "g1.eyJ1IjoxfQ.AAAA", "g1.!!!.AAAA" };
    char h[MRTR_HANDLE_MAX];
    struct gw_identity w;
    struct mrtr_state out;

    alice(&w);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(mrtr_open(key, KEYLEN, &w, bad[i], NOW, NULL, NULL, &out), MRTR_MALFORMED, "%s",
                     bad[i]);
    cr_assert_eq(mrtr_open(key, KEYLEN, &w, NULL, NOW, NULL, NULL, &out), MRTR_MALFORMED);
    sealed(h, sizeof(h));
    cr_assert_eq(mrtr_open(key, 0, &w, h, NOW, NULL, NULL, &out), MRTR_NO_KEY);
}

Test(mrtr, seal_refuses_a_buffer_too_small)
{
    char h[64];
    struct gw_identity w;
    struct mrtr_state s;

    alice(&w);
    state(&s);
    cr_assert_eq(mrtr_seal(key, KEYLEN, &w, &s, h, sizeof(h)), -1);
    cr_assert_str_eq(h, "");
    cr_assert_eq(mrtr_seal(key, 0, &w, &s, h, sizeof(h)), -1);
}
