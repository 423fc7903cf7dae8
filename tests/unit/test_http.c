/* HTTP layer: request parsing from CGI variables, body limits, request ids,
 * header injection, and problem+json answers. */
#include <criterion/criterion.h>
#include <string.h>
#include <json-c/json.h>

#include "fake_io.h"
#include "http.h"

Test(http, parses_path_query_and_headers)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me?x=1&y=2",
                           "HTTP_AUTHORIZATION", "Bearer abc", "HTTP_X_REQUEST_ID", "req-42", NULL };
    struct fake_io f;
    struct http_request r;

    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_str_eq(r.path, "/api/v1/me");
    cr_assert_str_eq(r.query, "x=1&y=2");
    cr_assert_str_eq(r.authorization, "Bearer abc");
    cr_assert_str_eq(r.request_id, "req-42");
    cr_assert_eq(r.content_length, -1);
    http_request_free(&r);
}

Test(http, insane_request_id_is_replaced)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/",
                           "HTTP_X_REQUEST_ID", "bad id\r\nX-Evil: 1", NULL };
    struct fake_io f;
    struct http_request r;

    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_eq(strlen(r.request_id), 32);
    cr_assert_null(strchr(r.request_id, ' '));
}

Test(http, request_id_rules)
{
    char long_id[80];

    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    cr_assert(http_request_id_valid("abc-DEF_1.2"));
    cr_assert_not(http_request_id_valid(""));
    cr_assert_not(http_request_id_valid("a b"));
    cr_assert_not(http_request_id_valid("a\"b"));
    cr_assert_not(http_request_id_valid(long_id));
}

Test(http, oversized_header_is_431)
{
    static char big[9000];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/", "HTTP_ACCEPT", big, NULL };
    struct fake_io f;
    struct http_request r;

    memset(big, 'x', sizeof(big) - 1);
    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 431);
}

Test(http, large_authorization_is_left_to_the_token_check)
{
    static char big[12000];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/", "HTTP_AUTHORIZATION", big, NULL };
    struct fake_io f;
    struct http_request r;

    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'x', sizeof(big) - 8);
    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_eq(strlen(r.authorization), sizeof(big) - 1);
}

Test(http, body_over_limit_is_413_and_short_body_is_400)
{
    const char *vars[] = { "REQUEST_METHOD", "POST", "REQUEST_URI", "/", "CONTENT_LENGTH", "10", NULL };
    struct fake_io f;
    struct http_request r;

    fake_io_init(&f, vars, "0123456789");
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_eq(http_read_body(&r, 5), 413);
    http_request_free(&r);

    fake_io_init(&f, vars, "01234");
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_eq(http_read_body(&r, 100), 400);
    http_request_free(&r);

    fake_io_init(&f, vars, "0123456789");
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cr_assert_eq(http_read_body(&r, 100), 0);
    cr_assert_str_eq(r.body, "0123456789");
    http_request_free(&r);
}

/* The process layer's read deadline passed after part of the body. */
static long read_then_time_out(void *ctx, char *buf, size_t n)
{
    int *calls = ctx;

    if ((*calls)++ > 0)
        return HTTP_IO_TIMEOUT;
    memcpy(buf, "01234", n < 5 ? n : 5);
    return n < 5 ? (long)n : 5;
}

Test(http, body_cut_off_by_the_read_deadline_is_408)
{
    const char *vars[] = { "REQUEST_METHOD", "POST", "REQUEST_URI", "/", "CONTENT_LENGTH", "10", NULL };
    struct fake_io f;
    struct http_request r;
    struct http_io cut;
    int calls = 0;

    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 0);
    cut = f.io;
    cut.read = read_then_time_out;
    cut.ctx = &calls;
    r.io = &cut;
    cr_assert_eq(http_read_body(&r, 100), 408);
    cr_assert_eq(r.body_len, 5);
    http_request_free(&r);
}

Test(http, malformed_content_length_is_400)
{
    const char *vars[] = { "REQUEST_METHOD", "POST", "REQUEST_URI", "/", "CONTENT_LENGTH", "12abc", NULL };
    struct fake_io f;
    struct http_request r;

    fake_io_init(&f, vars, NULL);
    cr_assert_eq(http_request_init(&r, &f.io, 8192), 400);
}

Test(http, problem_json_carries_status_and_request_id)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/nope", "HTTP_X_REQUEST_ID", "rid1", NULL };
    struct fake_io f;
    struct http_request r;
    struct http_response w;
    struct json_object *o;

    fake_io_init(&f, vars, NULL);
    http_request_init(&r, &f.io, 8192);
    http_response_init(&w, &f.io);
    http_send_problem(&w, &r, 404, "no such thing");
    cr_assert(strncmp(f.out, "Status: 404 Not Found\r\n", 23) == 0, "%s", f.out);
    cr_assert(strstr(f.out, "Content-Type: application/problem+json\r\n") != NULL);
    o = json_tokener_parse(fake_body(&f));
    cr_assert_not_null(o);
    cr_assert_eq(json_object_get_int(json_object_object_get(o, "status")), 404);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "request_id")), "rid1");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "detail")), "no such thing");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "title")), "Not Found");
    json_object_put(o);
}

Test(http, header_values_cannot_split_the_response)
{
    const char *vars[] = { NULL };
    struct fake_io f;
    struct http_response w;

    fake_io_init(&f, vars, NULL);
    http_response_init(&w, &f.io);
    http_add_header(&w, "X-Test", "a\r\nSet-Cookie: evil=1");
    http_send_text(&w, 200, "text/plain", "ok");
    cr_assert_null(strstr(f.out, "\r\nSet-Cookie"), "%s", f.out);
}

Test(http, client_gone_is_remembered)
{
    const char *vars[] = { NULL };
    struct fake_io f;
    struct http_response w;

    fake_io_init(&f, vars, NULL);
    f.out_len = sizeof(f.out) - 4; /* the next write overflows: the client is gone */
    http_response_init(&w, &f.io);
    cr_assert_eq(http_send_text(&w, 200, "text/plain", "hello"), -1);
    cr_assert(w.client_gone);
    cr_assert_eq(http_write(&w, "x", 1), -1);
}

Test(http, header_that_does_not_fit_is_refused_whole)
{
    static char big[HTTP_HEAD_MAX];
    const char *vars[] = { NULL };
    struct fake_io f;
    struct http_response w;

    memset(big, 'v', sizeof(big) - 1);
    fake_io_init(&f, vars, NULL);
    http_response_init(&w, &f.io);
    cr_assert_eq(http_add_header(&w, "X-Small", "1"), 0);
    cr_assert_eq(http_add_header(&w, "X-Big", "%s", big), -1);
    cr_assert_eq(http_add_header(&w, "X-After", "2"), 0);
    http_send_text(&w, 200, "text/plain", "ok");
    cr_assert(strstr(f.out, "X-Small: 1\r\nX-After: 2\r\n") != NULL, "%s", f.out);
    cr_assert_null(strstr(f.out, "X-Big"));
}

/* A GET of uri through the fake CGI variables (vars must outlive r). */
static void get_request(struct fake_io *f, const char **vars, const char *uri, struct http_request *r)
{
    vars[0] = "REQUEST_METHOD";
    vars[1] = "GET";
    vars[2] = "REQUEST_URI";
    vars[3] = uri;
    vars[4] = NULL;
    fake_io_init(f, vars, NULL);
    cr_assert_eq(http_request_init(r, &f->io, 8192), 0);
}

Test(http, query_pairs_are_percent_decoded_in_order)
{
    const char *vars[5];
    struct fake_io f;
    struct http_request r;
    const char *cur = NULL;
    char n[32], v[64];

    get_request(&f, vars, "/a?since=2026-12-01T00%3A00%3A00%2B01%3A00&&q=a+b&flag&x=%41", &r);
    cr_assert_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), 1);
    cr_expect_str_eq(n, "since");
    cr_expect_str_eq(v, "2026-12-01T00:00:00+01:00");
    cr_assert_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), 1);
    cr_expect_str_eq(n, "q");
    cr_expect_str_eq(v, "a b");
    cr_assert_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), 1);
    cr_expect_str_eq(n, "flag");
    cr_expect_str_eq(v, "");
    cr_assert_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), 1);
    cr_expect_str_eq(v, "A");
    cr_expect_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), 0);
    http_request_free(&r);
}

Test(http, query_refuses_bad_escapes_nul_and_overlong_values)
{
    const char *bad[] = { "/a?x=%4", "/a?x=%zz", "/a?x=%00", "/a?x=0123456789", "/a?%=1" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *vars[5];
        struct fake_io f;
        struct http_request r;
        const char *cur = NULL;
        char n[8], v[8];

        get_request(&f, vars, bad[i], &r);
        cr_expect_eq(http_query_next(&r, &cur, n, sizeof n, v, sizeof v), -1, "%s", bad[i]);
        http_request_free(&r);
    }
}
