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
