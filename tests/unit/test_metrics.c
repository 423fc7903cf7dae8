/* Per-host metrics: counters shared by forked processes, histogram buckets,
 * HELP and TYPE for every series, auth failures by reason, /metrics access,
 * and the access log line with its fields. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "app.h"
#include "auth.h"
#include "fake_io.h"
#include "jwt_fixture.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

struct buf {
    char s[262144];
    size_t n;
};

static int buf_emit(const char *s, size_t n, void *arg)
{
    struct buf *b = arg;

    if (b->n + n >= sizeof(b->s))
        return -1;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

static const char *test_route(int i, void *arg)
{
    static const char *const names[] = { "/health", "/api/v1/me" };

    (void)arg;
    return i >= 0 && i < 2 ? names[i] : NULL;
}

static const char *test_plane(int p)
{
    static const char *const names[] = { "none", "api", "mcp", "both" };

    return names[p];
}

static struct buf out;

static const char *render(void)
{
    struct metrics_labels l = { test_route, test_plane, "9.9.9", NULL };

    out.n = 0;
    out.s[0] = '\0';
    cr_assert_eq(metrics_render(&l, buf_emit, &out), 0);
    return out.s;
}

/* The value of the sample whose line starts with series + ' ', or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

Test(metrics, counts_requests_by_plane_route_and_status)
{
    const char *t;

    metrics_request(1, 0, 200, 300);
    metrics_request(1, 0, 200, 300);
    metrics_request(1, 1, 401, 300);
    metrics_request(1, -1, 404, 300);
    metrics_request(2, 0, 299, 300);
    t = render();
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"api\",route=\"/health\",status=\"200\"}"), 2, "%s", t);
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"api\",route=\"/api/v1/me\",status=\"401\"}"), 1);
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"api\",route=\"unmatched\",status=\"404\"}"), 1);
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"mcp\",route=\"/health\",status=\"other\"}"), 1);
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"api\",route=\"/health\",status=\"401\"}"), -1,
                 "no series for a combination never seen");
}

Test(metrics, latency_histogram_is_cumulative_in_seconds)
{
    const char *t;

    metrics_request(1, 0, 200, 500);       /* 0.5 ms */
    metrics_request(1, 0, 200, 3000);      /* 3 ms */
    metrics_request(1, 0, 200, 2000000);   /* 2 s */
    metrics_request(1, 0, 200, 60000000);  /* 60 s: only +Inf */
    t = render();
#define H(le) "mcpgw_http_request_duration_seconds_bucket{plane=\"api\",route=\"/health\",le=\"" le "\"}"
    cr_assert_eq(sample(t, H("0.001")), 1, "%s", t);
    cr_assert_eq(sample(t, H("0.0025")), 1);
    cr_assert_eq(sample(t, H("0.005")), 2);
    cr_assert_eq(sample(t, H("1")), 2);
    cr_assert_eq(sample(t, H("2.5")), 3);
    cr_assert_eq(sample(t, H("30")), 3);
    cr_assert_eq(sample(t, H("+Inf")), 4);
#undef H
    cr_assert_eq(sample(t, "mcpgw_http_request_duration_seconds_count{plane=\"api\",route=\"/health\"}"), 4);
    cr_assert_float_eq(sample(t, "mcpgw_http_request_duration_seconds_sum{plane=\"api\",route=\"/health\"}"),
                       62.0035, 1e-6);
}

/* Every sample belongs to a family declared by HELP and TYPE just before its
 * samples, and a family's samples are contiguous (text format 0.0.4). */
Test(metrics, every_series_has_help_and_type_and_families_are_contiguous)
{
    char fams[64][96], cur[96] = "", type[96] = "", help[96] = "";
    int nf = 0, samples = 0;
    const char *t;

    metrics_request(1, 0, 200, 10);
    metrics_count_named("jwks_fetch_total");
    metrics_count_labeled("auth_failures_total", "reason", "expired");
    metrics_count_labeled("auth_failures_total", "reason", "missing");
    metrics_count_named("zz_other_total");
    t = render();
    for (const char *p = t; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        char line[512], name[96];
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        cr_assert_lt(len, sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (nl ? 1 : 0);
        if (sscanf(line, "# HELP %95s", help) == 1)
            continue;
        if (sscanf(line, "# TYPE %95s", type) == 1) {
            cr_assert_str_eq(type, help, "TYPE without HELP: %s", line);
            for (int i = 0; i < nf; i++)
                cr_assert_str_neq(fams[i], type, "family %s declared twice", type);
            snprintf(fams[nf++], sizeof(fams[0]), "%s", type);
            snprintf(cur, sizeof(cur), "%s", type);
            continue;
        }
        cr_assert_eq(sscanf(line, "%95[a-z0-9_]", name), 1, "%s", line);
        samples++;
        if (strcmp(name, cur) != 0) {
            size_t cl = strlen(cur);

            cr_assert(strncmp(name, cur, cl) == 0 &&
                          (!strcmp(name + cl, "_bucket") || !strcmp(name + cl, "_sum") ||
                           !strcmp(name + cl, "_count")),
                      "sample %s outside its family (current %s)", line, cur);
        }
    }
    cr_assert_gt(samples, 10);
    cr_assert(strstr(t, "# TYPE mcpgw_auth_failures_total counter\n") != NULL, "%s", t);
    cr_assert(strstr(t, "# TYPE mcpgw_http_request_duration_seconds histogram\n") != NULL);
    cr_assert(strstr(t, "mcpgw_metrics_scope{scope=\"process\"} 1\n") != NULL, "no supervisor here");
}

/* Each counter the gateway counts by name says what it counts: an operator
 * reading /metrics must not meet "Events counted by the gateway under this
 * name". The list is every name passed to metrics_count_named/_labeled. */
Test(metrics, every_gateway_counter_has_its_own_help)
{
    static const char *const names[] = {
        "auth_failures_total", "mcp_tool_calls_total", "audit_spool_fallback_total",
        "audit_spool_malformed_total", "audit_spool_unspooled_total", "audit_spool_written_total",
        "catalog_rebuild_total", "catalog_tampered_total", "jwks_cache_miss_total",
        "jwks_cache_rejected_total", "jwks_fetch_error_total", "jwks_fetch_total",
        "jwks_refresh_limited_total", "jwks_refresh_total",
    };
    const char *t;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        metrics_count_named(names[i]);
    t = render();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char head[160];
        const char *h;

        snprintf(head, sizeof(head), "# HELP mcpgw_%s ", names[i]);
        h = strstr(t, head);
        cr_assert_not_null(h, "no HELP for %s", names[i]);
        cr_assert(strncmp(h + strlen(head), "Events counted", 14) != 0, "generic HELP for %s", names[i]);
    }
}

Test(metrics, malformed_names_are_dropped_not_rendered)
{
    const char *t;

    metrics_count_named("Bad Name");
    metrics_count_labeled("auth_failures_total", "reason", "x\"} 1\nevil 2");
    t = render();
    cr_assert_null(strstr(t, "evil"));
    cr_assert_null(strstr(t, "Bad Name"));
    cr_assert_eq(sample(t, "mcpgw_metrics_series_dropped_total"), 2);
}

/* Forked processes add to the segment the parent mapped before forking, and
 * a series first counted by several of them at once exists once. */
Test(metrics, forked_processes_share_one_host_segment)
{
    enum { KIDS = 4, EACH = 20000 };
    pid_t pids[KIDS];
    const char *t;
    int st;

    cr_assert_eq(metrics_init_shared(), 0);
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        cr_assert_geq(pids[k], 0);
        if (pids[k] == 0) {
            char name[32];

            metrics_attach_slot(k);
            for (int i = 0; i < EACH; i++) {
                snprintf(name, sizeof(name), "race_%d_total", i % 16);
                metrics_count_named(name);
                metrics_request(1, 0, 200, 100);
            }
            _exit(0);
        }
        metrics_slot_set(k, (int)pids[k]);
    }
    for (int k = 0; k < KIDS; k++) {
        cr_assert_eq(waitpid(pids[k], &st, 0), pids[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    t = render();
    cr_assert_eq(sample(t, "mcpgw_http_requests_total{plane=\"api\",route=\"/health\",status=\"200\"}"),
                 KIDS * EACH, "%s", t);
    for (int i = 0; i < 16; i++) {
        char series[32], *first;

        snprintf(series, sizeof(series), "\nmcpgw_race_%d_total ", i);
        first = strstr(t, series);
        cr_assert_not_null(first, "%s missing", series);
        cr_assert_null(strstr(first + 1, series), "%s rendered twice", series);
        cr_assert_eq(strtod(first + strlen(series), NULL), KIDS * EACH / 16);
    }
    cr_assert(strstr(t, "mcpgw_metrics_scope{scope=\"host\"} 1\n") != NULL);
    cr_assert_eq(sample(t, "mcpgw_responders_alive"), KIDS, "slots still hold the pids");
}

Test(metrics, supervisor_counts_restarts_generation_and_busy)
{
    const char *t;

    cr_assert_eq(metrics_init_shared(), 0);
    metrics_slot_set(0, (int)getpid());
    metrics_slot_set(1, (int)getpid());
    metrics_attach_slot(1);
    metrics_busy(1);
    metrics_restart();
    metrics_restart();
    metrics_set_generation(3);
    t = render();
    cr_assert_eq(sample(t, "mcpgw_responders_alive"), 2, "%s", t);
    cr_assert_eq(sample(t, "mcpgw_responders_busy"), 1);
    cr_assert_eq(sample(t, "mcpgw_responder_restarts_total"), 2);
    cr_assert_eq(sample(t, "mcpgw_reload_generation"), 3);
    cr_assert_gt(sample(t, "mcpgw_process_resident_memory_bytes{role=\"supervisor\"}"), 100000);
    metrics_busy(0);
    metrics_slot_set(0, 0);
    t = render();
    cr_assert_eq(sample(t, "mcpgw_responders_busy"), 0);
    cr_assert_eq(sample(t, "mcpgw_responders_alive"), 1);
}

Test(metrics, a_new_responder_does_not_clear_a_busy_flag_it_already_set)
{
    cr_assert_eq(metrics_init_shared(), 0);
    metrics_attach_slot(4);
    metrics_busy(1);                       /* the child, first request */
    metrics_slot_set(4, (int)getpid());    /* the supervisor, after fork() returned */
    cr_assert_eq(sample(render(), "mcpgw_responders_busy"), 1);
    metrics_slot_set(4, 0);                /* reaped */
    cr_assert_eq(sample(render(), "mcpgw_responders_busy"), 0);
}

/* The supervisor tells a busy responder from an idle one by its flag and by
 * the requests it began since the last look; a reaped slot starts afresh. */
Test(metrics, slot_activity_shows_busy_and_requests_begun)
{
    unsigned n;

    cr_assert_eq(metrics_init_shared(), 0);
    metrics_slot_set(2, (int)getpid());
    metrics_attach_slot(2);
    cr_assert_eq(metrics_slot_activity(2, &n), 0);
    cr_assert_eq(n, 0);
    metrics_busy(1);
    cr_assert_eq(metrics_slot_activity(2, &n), 1);
    cr_assert_eq(n, 1);
    metrics_busy(0);
    metrics_busy(1);
    metrics_busy(0);
    cr_assert_eq(metrics_slot_activity(2, &n), 0, "idle between two looks");
    cr_assert_eq(n, 2, "but two requests begun");
    metrics_slot_set(2, 0);
    cr_assert_eq(metrics_slot_activity(2, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(metrics_slot_activity(-1, &n), 0);
    cr_assert_eq(metrics_slot_activity(METRICS_SLOTS, &n), 0);
}

/* Streams may take half the pool: of the live responders, or of the most the
 * pool may grow to when that is more (a held stream makes the pool grow). */
Test(metrics, stream_cap_follows_the_pool_size_it_may_reach)
{
    int granted = 0;

    cr_assert_eq(metrics_init_shared(), 0);
    for (int i = 0; i < 4; i++)
        metrics_slot_set(i, (int)getpid());
    metrics_attach_slot(0);
    /* A fixed pool of 4: two streams. */
    while (granted < 10 && metrics_stream_begin()) {
        granted++;
        metrics_attach_slot(granted); /* each stream is another responder's */
    }
    cr_assert_eq(granted, 2);
    cr_assert_eq(sample(render(), "mcpgw_responders_max"), 4);
    /* The same 4 alive, growing up to 16: eight. */
    metrics_set_pool_max(16);
    while (granted < 20 && metrics_stream_begin()) {
        granted++;
        metrics_attach_slot(granted);
    }
    cr_assert_eq(granted, 8);
    cr_assert_eq(sample(render(), "mcpgw_responders_max"), 16);
}

/* A responder's CPU moves from /proc (live) to wait4 (retired) when it is
 * reaped; the counter must not go back on the way. */
Test(metrics, responder_cpu_counter_never_goes_back)
{
    const char *series = "mcpgw_process_cpu_seconds_total{role=\"responder\"}";
    double live, after;
    pid_t kid;
    int st;

    cr_assert_eq(metrics_init_shared(), 0);
    kid = fork();
    if (kid == 0) {
        struct timespec t0, t;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        do
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 150);
        pause();
        _exit(0);
    }
    metrics_slot_set(0, (int)kid);
    for (int i = 0; i < 100 && sample(render(), series) < 0.1; i++)
        usleep(50000);
    live = sample(render(), series);
    cr_assert_geq(live, 0.1, "the busy child's CPU is seen: %f", live);
    kill(kid, SIGKILL);
    cr_assert_eq(waitpid(kid, &st, 0), kid);
    metrics_slot_set(0, 0);
    metrics_add_retired_cpu_us(0); /* as if wait4 had reported less than /proc */
    after = sample(render(), series);
    cr_assert_geq(after, live, "%f then %f", live, after);
}

Test(metrics, access_setting_is_validated)
{
    struct gw_config c;
    struct cfg_errors e = { 0 };

    cr_assert_eq(cfg_load_string(&c, "t.conf", "[metrics]\naccess = role:operator\n", &e), 0);
    cr_assert_str_eq(c.metrics_access, "role:operator");
    cr_assert_eq(cfg_load_string(&c, "t.conf", "[metrics]\naccess = role:nobody\n", &e), -1);
    cr_assert(strstr(e.msg[0], "t.conf:2") != NULL && strstr(e.msg[0], "access") != NULL, "%s", e.msg[0]);
    cfg_defaults(&c);
    cr_assert_str_eq(c.metrics_access, "public");
}

/* ---- through the request pipeline ---------------------------------------- */

static struct gw_app app;
static struct gw_config cfg;
static struct fx_key rsa;
static char dir[256], jwks_path[300], log_path[300];
static struct fake_io f;

static void setup(void)
{
    const struct fx_key *keys[1];

    cr_assert_eq(fx_tmpdir(dir, sizeof dir), 0);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    snprintf(log_path, sizeof log_path, "%s/gateway.log", dir);
    log_init("test", LOG_LVL_INFO);
    cr_assert_eq(log_open_file(log_path), 0);
    cr_assert_eq(fx_key_rsa(&rsa, "rsa-1", 2048), 0);
    keys[0] = &rsa;
    cr_assert_eq(fx_write_jwks(jwks_path, keys, 1), 0);
    fx_config(&cfg, jwks_path);
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
}

static void teardown(void)
{
    app_free(&app);
    fx_key_free(&rsa);
    fx_rmdir(dir);
}

static int run(const char *const *vars)
{
    return fake_handle(&app, &f, vars, NULL);
}

static char *token_with(int64_t exp_delta, const char *tid)
{
    struct json_object *c = fx_claims(FX_ISS, FX_AUD, (int64_t)time(NULL));
    char *t;

    json_object_object_add(c, "exp", json_object_new_int64((int64_t)time(NULL) + exp_delta));
    json_object_object_add(c, "tid", json_object_new_string(tid));
    json_object_object_add(c, "oid", json_object_new_string("oid-7"));
    json_object_object_add(c, "roles", json_object_new_array());
    json_object_array_add(json_object_object_get(c, "roles"), json_object_new_string("user"));
    t = fx_token(&rsa, c);
    json_object_put(c);
    return t;
}

static uint64_t auth_failures(const char *reason)
{
    char series[96];

    snprintf(series, sizeof(series), "auth_failures_total{reason=\"%s\"}", reason);
    return metrics_named_value(series);
}

/* The last line of the log file, parsed. */
static struct json_object *last_log_line(void)
{
    static char text[65536];
    FILE *fp = fopen(log_path, "r");
    size_t n;
    char *last;

    cr_assert_not_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    last = strrchr(text, '\n');
    return json_tokener_parse(last ? last + 1 : text);
}

static const char *field(struct json_object *o, const char *k)
{
    struct json_object *v;

    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

TestSuite(pipeline, .init = setup, .fini = teardown);

Test(pipeline, auth_failures_are_counted_by_reason)
{
    char hdr[4096], *expired = token_with(-3600, "t-1"), *good = token_with(600, "t-1");
    const char *none[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api", NULL };
    const char *with[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api",
                           "HTTP_AUTHORIZATION", hdr, NULL };
    const char *ops[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health/components", "MCPGW_PLANE", "api",
                          "HTTP_AUTHORIZATION", hdr, NULL };

    cr_assert_eq(run(none), 401);
    snprintf(hdr, sizeof(hdr), "Bearer %s", expired);
    cr_assert_eq(run(with), 401);
    snprintf(hdr, sizeof(hdr), "Bearer %sx", good);
    cr_assert_eq(run(with), 401);
    snprintf(hdr, sizeof(hdr), "Bearer %s", good);
    cr_assert_eq(run(ops), 403, "a user is not an operator: %s", f.out);
    cr_assert_eq(auth_failures("missing"), 1);
    cr_assert_eq(auth_failures("expired"), 1);
    cr_assert_eq(auth_failures("signature"), 1);
    cr_assert_eq(auth_failures("insufficient_role"), 1);
    free(expired);
    free(good);
}

Test(pipeline, access_line_carries_fields_with_user_and_tenant)
{
    char hdr[4096], *good = token_with(600, "tenant-42");
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me?secret=1", "MCPGW_PLANE", "api",
                           "HTTP_AUTHORIZATION", hdr, "HTTP_USER_AGENT", "it-agent/1.0",
                           "REMOTE_ADDR", "192.0.2.7", "HTTP_X_REQUEST_ID", "rid-access-1", NULL };
    struct json_object *o;

    snprintf(hdr, sizeof(hdr), "Bearer %s", good);
    cr_assert_eq(run(vars), 200, "%s", f.out);
    o = last_log_line();
    cr_assert_not_null(o);
    cr_assert_str_eq(field(o, "event"), "request");
    cr_assert_str_eq(field(o, "method"), "GET");
    cr_assert_str_eq(field(o, "path"), "/api/v1/me", "no query string in the log");
    cr_assert_str_eq(field(o, "route"), "/api/v1/me");
    cr_assert_str_eq(field(o, "status"), "200");
    cr_assert_gt(atol(field(o, "bytes")), 10);
    cr_assert_geq(atof(field(o, "duration_ms")), 0.0);
    cr_assert_str_eq(field(o, "plane"), "api");
    cr_assert_str_eq(field(o, "remote_addr"), "192.0.2.7");
    cr_assert_str_eq(field(o, "tenant"), "tenant-42");
    cr_assert(strstr(field(o, "user"), "oid-7") != NULL, "%s", field(o, "user"));
    cr_assert_str_eq(field(o, "user_agent"), "it-agent/1.0");
    cr_assert_str_eq(field(o, "request_id"), "rid-access-1");
    cr_assert_null(strstr(json_object_to_json_string(o), good), "never the token");
    json_object_put(o);
    free(good);
}

Test(pipeline, metrics_route_counts_itself_and_may_be_restricted)
{
    const char *scrape[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/metrics", "MCPGW_PLANE", "api",
                             "REMOTE_ADDR", "192.0.2.9", NULL };
    const char *local[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/metrics", "MCPGW_PLANE", "api",
                            "REMOTE_ADDR", "127.0.0.1", NULL };

    cr_assert_eq(run(scrape), 200, "public by default: %s", f.out);
    cr_assert_eq(run(scrape), 200);
    cr_assert(strstr(fake_body(&f), "mcpgw_http_requests_total{plane=\"api\",route=\"/metrics\","
                                    "status=\"200\"} 1\n") != NULL, "%s", fake_body(&f));
    snprintf(app.cfg.metrics_access, sizeof(app.cfg.metrics_access), "loopback");
    cr_assert_eq(run(scrape), 403, "%s", f.out);
    cr_assert_eq(run(local), 200);
    snprintf(app.cfg.metrics_access, sizeof(app.cfg.metrics_access), "role:operator");
    cr_assert_eq(run(local), 401, "%s", f.out);
    cr_assert(strstr(f.out, "WWW-Authenticate: Bearer") != NULL);
}

Test(pipeline, failure_kinds_are_bounded_labels)
{
    static const char *const reasons[][2] = {
        { "token expired 30 s ago", "expired" },
        { "bad signature for key k1", "signature" },
        { "alg HS256 not accepted", "algorithm" },
        { "alg RS256 does not match key k1", "algorithm" },
        { "no key with this kid in the issuer's JWKS", "unknown_key" },
        { "token iss is not the configured issuer", "issuer" },
        { "token aud is not a configured audience", "audience" },
        { "tenant t9 not allowed", "tenant" },
        { "token not valid for another 90 s", "not_yet_valid" },
        { "token is not three dot-separated segments", "malformed" },
        { "token longer than 16384 bytes", "too_large" },
        { "token names no subject (sub or tid+oid)", "claims" },
    };

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        cr_assert_str_eq(auth_failure_kind(AUTH_INVALID, reasons[i][0]), reasons[i][1], "%s",
                         reasons[i][0]);
    cr_assert_str_eq(auth_failure_kind(AUTH_MISSING, "anything"), "missing");
    cr_assert_str_eq(auth_failure_kind(AUTH_UNAVAILABLE, "x"), "keys_unavailable");
    cr_assert_str_eq(auth_failure_kind(AUTH_INVALID, "something new"), "other");
}
