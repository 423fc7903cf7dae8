/* Redis access under faults: a listener that accepts and never answers is not
 * taken for a Redis, readiness stays within its budget, and a failed attempt
 * is backed off instead of being repeated by every request. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "silent_listener.h"
#include "store_redis.h"
#include "util.h"

static long long since(int64_t t0)
{
    return (long long)(gw_monotonic_ms() - t0);
}

static int lfd = -1;
static struct gw_app app;

/* The responder's state with Redis pointing at a silent listener. */
static void setup(void)
{
    struct gw_config cfg;
    int port = 0;

    log_init("test", LOG_LVL_ERROR);
    lfd = silent_listener(&port);
    cr_assert_geq(lfd, 0);
    cfg_defaults(&cfg);
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "redis://127.0.0.1:%d/0", port);
    cfg.redis_timeout_ms = 1000;
    app_init(&app, &cfg, PLANE_BOTH);
}

static void teardown(void)
{
    app_free(&app);
    close(lfd);
}

TestSuite(store_redis, .init = setup, .fini = teardown);

Test(store_redis, connect_requires_an_answer_within_the_timeout)
{
    char err[256];
    int64_t t0 = gw_monotonic_ms();

    cr_assert_null(rds_connect_url(app.cfg.redis_url, 150, err, sizeof(err)));
    cr_assert_lt(since(t0), 800, "took %lld ms", since(t0));
    cr_assert(strstr(err, "PING") != NULL, "%s", err);
}

Test(store_redis, a_failed_connect_is_backed_off_from_its_end)
{
    int64_t t0;

    cr_assert_null(rds_conn(&app)); /* the whole redis.timeout_ms */
    t0 = gw_monotonic_ms();
    cr_assert_null(rds_conn(&app));
    cr_assert_lt(since(t0), 100, "second rds_conn took %lld ms", since(t0));
    cr_assert_eq(app.redis_failures, 1);
}

Test(store_redis, readiness_ping_stays_within_its_budget_then_answers_at_once)
{
    char err[256];
    int64_t t0 = gw_monotonic_ms();

    cr_assert_eq(rds_ping_within(&app, 50, err, sizeof(err)), -1);
    cr_assert_lt(since(t0), 300, "took %lld ms", since(t0));
    t0 = gw_monotonic_ms();
    cr_assert_eq(rds_ping_within(&app, 50, err, sizeof(err)), -1);
    cr_assert_lt(since(t0), 20, "backed-off probe took %lld ms", since(t0));
    cr_assert(strstr(err, "next attempt in") != NULL, "%s", err);
}

/* parse URL, then expect host (or path), port, user, password, db. */
static void parsed(const char *url, const char *host, int port, const char *path, const char *user,
                   const char *password, int db)
{
    char h[256], p[512], u[128], pw[256];
    int po, d;

    cr_assert_eq(rds_parse_url(url, h, sizeof(h), &po, p, sizeof(p), u, sizeof(u), pw, sizeof(pw), &d), 0,
                 "%s", url);
    cr_assert_str_eq(h, host, "%s", url);
    cr_assert_str_eq(p, path, "%s", url);
    cr_assert_str_eq(u, user, "%s", url);
    cr_assert_str_eq(pw, password, "%s", url);
    cr_assert_eq(d, db, "%s", url);
    if (host[0] != '\0')
        cr_assert_eq(po, port, "%s", url);
}

Test(store_redis, urls_name_tcp_or_a_unix_socket_with_a_password)
{
    char h[256], p[512], u[128], pw[256];
    int po, d;
    const char *bad[] = { "unix://:pw/tmp/r.sock", "unix://:pw@", "unix://", "unix://?db=1",
                          "http://127.0.0.1:6379", "redis://:pw@", "redis://h:0/1" };

    parsed("redis://127.0.0.1:7000/2", "127.0.0.1", 7000, "", "", "", 2);
    parsed("redis://:s3cret@h:6380/0", "h", 6380, "", "", "s3cret", 0);
    parsed("redis://gw:s3cret@h", "h", 6379, "", "gw", "s3cret", 0);
    parsed("unix:///run/redis.sock?db=3", "", 0, "/run/redis.sock", "", "", 3);
    parsed("unix://:s3cret@/run/redis.sock?db=1", "", 0, "/run/redis.sock", "", "s3cret", 1);
    parsed("unix://gw:s3cret@/tmp/r.sock", "", 0, "/tmp/r.sock", "gw", "s3cret", 0);
    parsed("unix://s3cret@/tmp/r.sock", "", 0, "/tmp/r.sock", "", "s3cret", 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_neq(rds_parse_url(bad[i], h, sizeof(h), &po, p, sizeof(p), u, sizeof(u), pw, sizeof(pw), &d),
                      0, "%s is refused", bad[i]);
}

/* A password on a unix socket URL is sent: a socket that is not there is
 * what fails, not the URL. */
Test(store_redis, a_unix_url_with_a_password_is_connected_to)
{
    char err[256];

    cr_assert_null(rds_connect_url("unix://:pw@/nonexistent/mcpgw-test.sock", 200, err, sizeof(err)));
    cr_assert(strstr(err, "/nonexistent/mcpgw-test.sock") != NULL, "%s", err);
}

/* A connection whose server has gone, as a socket pair with its far end closed. */
static redisContext *closed_by_server(void)
{
    int sv[2];
    redisContext *c;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c = redisConnectFd(sv[0]);
    cr_assert_not_null(c);
    close(sv[1]);
    return c;
}

Test(store_redis, a_connection_the_server_closed_is_replaced_once_per_request_not_per_command)
{
    redisContext *c = closed_by_server();

    app.redis = c;
    app.redis_peek_req = app.requests;
    app.redis_used_ms = gw_monotonic_ms();
    app.redis_retry_at_ms = gw_monotonic_ms() + 60000; /* no reconnect attempt: only the close is seen */
    cr_assert_eq(rds_conn(&app), c, "looked at again within the request");
    app.requests++;
    cr_assert_null(rds_conn(&app), "kept across a request although the server closed it");
    cr_assert_null(app.redis);
}

Test(store_redis, a_connection_the_server_closed_is_replaced_after_a_pause_outside_requests)
{
    redisContext *c = closed_by_server();

    app.redis = c;
    app.redis_peek_req = app.requests;
    app.redis_used_ms = gw_monotonic_ms() - 5000;
    app.redis_retry_at_ms = gw_monotonic_ms() + 60000;
    cr_assert_null(rds_conn(&app), "kept after a pause although the server closed it");
    cr_assert_null(app.redis);
}

Test(store_redis, a_write_with_its_expiry_answered_readonly_is_sent_again_to_the_primary)
{
    static const char demoted[] = "-READONLY You can't write against a read only replica.\r\n"
                                  "-READONLY You can't write against a read only replica.\r\n";
    int sv[2];
    redisReply *rep;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    app.redis = redisConnectFd(sv[0]);
    cr_assert_not_null(app.redis);
    cr_assert_eq(write(sv[1], demoted, sizeof(demoted) - 1), (ssize_t)(sizeof(demoted) - 1));
    app.redis_peek_req = app.requests;
    app.redis_used_ms = gw_monotonic_ms();
    /* The second attempt finds no primary to ask (none is reachable here):
     * what matters is that the replica's refusal was not the answer. */
    app.redis_retry_at_ms = gw_monotonic_ms() + 60000;
    rep = rds_cmd_expire(&app, "k", 1000, "RPUSH %s %s", "k", "v");
    cr_assert_null(rep, "the READONLY answer came back instead of a retry on the primary");
    cr_assert_null(app.redis);
    close(sv[1]);
}
