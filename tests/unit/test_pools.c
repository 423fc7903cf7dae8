/* Resource pools: the seed's allocation arithmetic, the [resources] keys, and
 * the reservation scripts on a real redis-server started for the suite
 * (capacity, all-or-nothing across pools, release, lease expiry, the reaper). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "mcp/catalog.h"
#include "pools.h"
#include "store_redis.h"
#include "util.h"

/* ---- the seed's arithmetic (no Redis) --------------------------------------------- */

static int compute(const struct gw_config *cfg, const char *op, const char *load, int units[POOL_COUNT],
                   char *err, size_t n)
{
    struct json_object *o = json_tokener_parse(load);
    int rc = pools_compute(cfg, op, o, units, err, n);

    json_object_put(o);
    return rc;
}

Test(pools_compute, bulk_registration_as_the_seed_computes_it)
{
    struct gw_config cfg;
    int u[POOL_COUNT];
    char err[256];

    cfg_defaults(&cfg);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":12,\"admin_count\":3}", u, err,
                         sizeof(err)), POOLS_OK, "%s", err);
    cr_assert_eq(u[POOL_DATABASE], 2); /* 12 // 5 */
    cr_assert_eq(u[POOL_REDIS], 2);
    cr_assert_eq(u[POOL_OAUTH], 3);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":100,\"admin_count\":0}", u, err,
                         sizeof(err)), POOLS_OK);
    cr_assert_eq(u[POOL_DATABASE], 4, "capped at the shared part 20 - 8 - 8");
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":4,\"admin_count\":1}", u, err,
                         sizeof(err)), POOLS_OK);
    cr_assert_eq(u[POOL_DATABASE], 0);
}

Test(pools_compute, refuses_what_can_never_be_granted_with_a_reason)
{
    struct gw_config cfg;
    int u[POOL_COUNT];
    char err[256];

    cfg_defaults(&cfg);
    cr_assert_eq(compute(&cfg, "drop_tables", "{}", u, err, sizeof(err)), POOLS_INVALID);
    cr_assert(strstr(err, "bulk_server_registration") != NULL, "%s", err);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"admin_count\":1}", u, err, sizeof(err)),
                 POOLS_INVALID);
    cr_assert(strstr(err, "server_count") != NULL, "%s", err);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":-5,\"admin_count\":1}", u, err,
                         sizeof(err)), POOLS_INVALID);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":5.5,\"admin_count\":1}", u, err,
                         sizeof(err)), POOLS_INVALID);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "{\"server_count\":5,\"admin_count\":51}", u, err,
                         sizeof(err)), POOLS_INVALID);
    cr_assert(strstr(err, "oauth_tokens") != NULL, "%s", err);
    cr_assert_eq(compute(&cfg, "bulk_server_registration", "[1]", u, err, sizeof(err)), POOLS_INVALID);
    cr_assert_eq(pools_compute(&cfg, NULL, NULL, u, err, sizeof(err)), POOLS_INVALID);
}

Test(pools_config, capacities_come_from_the_resources_section)
{
    struct gw_config cfg;
    struct cfg_errors errs;
    char path[] = "/tmp/test_pools_conf.XXXXXX";
    int fd = mkstemp(path);
    const char *text = "[resources]\ndb_connections = 30\ndb_reserved_api = 10\ndb_reserved_mcp = 5\n"
                       "redis_connections = 7\noauth_validations = 9\n";

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(&errs, 0, sizeof(errs));
    cr_assert_eq(cfg_load(&cfg, path, &errs), 0, "%s", errs.msg[0]);
    cr_assert_eq(pools_capacity(&cfg, POOL_DATABASE), 15);
    cr_assert_eq(pools_capacity(&cfg, POOL_REDIS), 7);
    cr_assert_eq(pools_capacity(&cfg, POOL_OAUTH), 9);
    unlink(path);
}

Test(pools_config, reserved_shares_must_leave_a_shared_part)
{
    struct gw_config cfg;
    struct cfg_errors errs;
    char path[] = "/tmp/test_pools_conf.XXXXXX";
    int fd = mkstemp(path);
    const char *text = "[resources]\ndb_connections = 16\n";

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(&errs, 0, sizeof(errs));
    cr_assert_eq(cfg_load(&cfg, path, &errs), -1);
    cr_assert(strstr(errs.msg[0], "db_reserved_api") != NULL, "%s", errs.msg[0]);
    unlink(path);
}

Test(pools_id, only_32_lower_hex_digits)
{
    cr_assert(pools_id_valid("0123456789abcdef0123456789abcdef"));
    cr_assert_not(pools_id_valid("0123456789ABCDEF0123456789abcdef"));
    cr_assert_not(pools_id_valid("0123456789abcdef0123456789abcde"));
    cr_assert_not(pools_id_valid("../../0123456789abcdef0123456789"));
    cr_assert_not(pools_id_valid(""));
}

/* ---- the scripts on a real Redis ---------------------------------------------------- */

static pid_t redis_pid = -1;
static struct gw_app app;

static int free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void redis_up(void)
{
    struct gw_config cfg;
    char port[16];
    int p = free_port();
    char err[256];

    log_init("test", LOG_LVL_ERROR);
    snprintf(port, sizeof(port), "%d", p);
    redis_pid = fork();
    cr_assert_geq(redis_pid, 0);
    if (redis_pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    cfg_defaults(&cfg);
    snprintf(cfg.redis_url, sizeof(cfg.redis_url), "redis://127.0.0.1:%d/0", p);
    for (int i = 0; i < 100; i++) {
        redisContext *c = rds_connect_url(cfg.redis_url, 200, err, sizeof(err));

        if (c != NULL) {
            redisFree(c);
            break;
        }
        usleep(50000);
    }
    app_init(&app, &cfg, PLANE_BOTH);
}

static void redis_down(void)
{
    app_free(&app);
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
}

TestSuite(pools_redis, .init = redis_up, .fini = redis_down);

static long long counter(const char *pool)
{
    char key[192];
    redisReply *r;
    long long v;

    snprintf(key, sizeof(key), "%s{pools}:n:%s", app.cfg.redis_prefix, pool);
    r = rds_cmd(&app, "GET %s", key);
    cr_assert_not_null(r);
    v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return v;
}

Test(pools_redis, upstream_slots_stop_at_max_concurrency_and_come_back)
{
    struct pools_slot s[3];
    struct pools_busy busy;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-1", 2, 60000, &s[0], &busy), POOLS_OK);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-1", 2, 60000, &s[1], &busy), POOLS_OK);
    memset(&busy, 0, sizeof(busy));
    cr_assert_eq(pools_upstream_acquire(&app, "srv-1", 2, 60000, &s[2], &busy), POOLS_BUSY);
    cr_assert_not(s[2].held);
    cr_assert_str_eq(busy.pool, "upstream:srv-1");
    cr_assert_eq(busy.capacity, 2);
    cr_assert_eq(busy.in_use, 2);
    cr_assert_geq(busy.retry_after_s, 59, "until the earliest lease ends: %d", busy.retry_after_s);
    /* Another server's pool is its own. */
    cr_assert_eq(pools_upstream_acquire(&app, "srv-2", 1, 60000, &s[2], &busy), POOLS_OK);
    pools_upstream_release(&app, &s[2]);
    pools_upstream_release(&app, &s[0]);
    cr_assert_not(s[0].held);
    pools_upstream_release(&app, &s[0]); /* twice: nothing more is given back */
    cr_assert_eq(counter("upstream:srv-1"), 1);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-1", 2, 60000, &s[0], &busy), POOLS_OK);
    pools_upstream_release(&app, &s[0]);
    pools_upstream_release(&app, &s[1]);
    cr_assert_eq(counter("upstream:srv-1"), 0);
}

Test(pools_redis, a_lease_ends_a_slot_nobody_released)
{
    struct pools_slot a, b;
    struct pools_busy busy;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-3", 1, 150, &a, &busy), POOLS_OK);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-3", 1, 150, &b, &busy), POOLS_BUSY);
    usleep(250000);
    /* The holder died: its slot is free once the lease ended. */
    cr_assert_eq(pools_upstream_acquire(&app, "srv-3", 1, 150, &b, &busy), POOLS_OK);
    usleep(250000);
    cr_assert_eq(pools_reap_expired(&app), 1);
    cr_assert_eq(counter("upstream:srv-3"), 0);
    /* The late release of an expired slot takes nothing from anyone. */
    pools_upstream_release(&app, &a);
    cr_assert_eq(counter("upstream:srv-3"), 0);
    cr_assert_eq(pools_reap_expired(&app), 0);
}

Test(pools_redis, an_allocation_takes_every_pool_or_none)
{
    struct json_object *load = json_tokener_parse("{\"server_count\":20,\"admin_count\":1}"), *a = NULL,
                       *b = NULL, *c = NULL;
    struct pools_busy busy;
    char err[256];

    /* 4 database connections each: the shared part (4) allows one. */
    cr_assert_eq(pools_allocate(&app, "bulk_server_registration", load, "t1", "u1", 60, &a, &busy, err,
                                sizeof(err)), POOLS_OK, "%s", err);
    memset(&busy, 0, sizeof(busy));
    cr_assert_eq(pools_allocate(&app, "bulk_server_registration", load, "t1", "u1", 60, &b, &busy, err,
                                sizeof(err)), POOLS_BUSY);
    cr_assert_str_eq(busy.pool, "database_connections");
    cr_assert_eq(busy.requested, 4);
    /* Nothing of the refused one was kept in the pools that had room. */
    cr_assert_eq(counter("redis_connections"), 2);
    cr_assert_eq(counter("oauth_tokens"), 1);
    cr_assert_eq(pools_allocation_get(&app, json_object_get_string(json_object_object_get(a, "id")), &c), POOLS_OK);
    json_object_put(c);
    cr_assert_eq(pools_allocation_release(&app, json_object_get_string(json_object_object_get(a, "id"))),
                 POOLS_OK);
    cr_assert_eq(counter("database_connections"), 0);
    cr_assert_eq(counter("redis_connections"), 0);
    cr_assert_eq(counter("oauth_tokens"), 0);
    cr_assert_eq(pools_allocation_get(&app, json_object_get_string(json_object_object_get(a, "id")), &c),
                 POOLS_NOT_FOUND);
    cr_assert_eq(pools_allocation_get(&app, "not-an-id", &c), POOLS_NOT_FOUND);
    json_object_put(a);
    json_object_put(load);
}

Test(pools_redis, describe_drops_expired_leases_before_counting)
{
    struct pools_slot s;
    struct pools_busy busy;
    struct json_object *d, *list;
    bool seen = false;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-4", 3, 100, &s, &busy), POOLS_OK);
    usleep(200000);
    d = pools_describe(&app, NULL, NULL);
    cr_assert_not_null(d);
    list = json_object_object_get(d, "pools");
    cr_assert_eq(json_object_array_length(list), POOL_COUNT, "the seed's pools, no catalog given");
    for (size_t i = 0; i < POOL_COUNT; i++) {
        struct json_object *p = json_object_array_get_idx(list, i);

        cr_assert_eq(json_object_get_int(json_object_object_get(p, "in_use")), 0);
        seen |= strcmp(json_object_get_string(json_object_object_get(p, "name")), "oauth_tokens") == 0;
    }
    cr_assert(seen);
    json_object_put(d);
    cr_assert_eq(pools_reap_expired(&app), 1, "the expired upstream slot");
}

Test(pools_redis, many_upstream_pools_are_counted_and_reaped_in_batches)
{
    enum { N = 40 };
    struct cat_server *srv = calloc(N, sizeof(*srv));
    struct cat_snapshot snap = { .version = 1, .n = N, .servers = srv };
    struct pools_slot slot;
    struct pools_busy busy;
    struct json_object *d, *list;

    cr_assert_not_null(srv);
    for (int i = 0; i < N; i++) {
        snprintf(srv[i].id, sizeof(srv[i].id), "00000000-0000-4000-8000-%012d", i);
        snprintf(srv[i].name, sizeof(srv[i].name), "s%d", i);
        srv[i].max_concurrency = 2;
        /* every pool holds a slot, every third one for a moment only */
        cr_assert_eq(pools_upstream_acquire(&app, srv[i].id, 2, i % 3 == 0 ? 100 : 60000, &slot, &busy), POOLS_OK);
    }
    usleep(200000);
    d = pools_describe(&app, &snap, NULL);
    cr_assert_not_null(d, "every pool of a large catalog is described");
    list = json_object_object_get(d, "pools");
    cr_assert_eq(json_object_array_length(list), POOL_COUNT + N);
    for (int i = 0; i < N; i++) {
        struct json_object *p = json_object_array_get_idx(list, POOL_COUNT + i);

        cr_assert_str_eq(json_object_get_string(json_object_object_get(p, "server")), srv[i].name);
        cr_assert_eq(json_object_get_int(json_object_object_get(p, "in_use")), i % 3 == 0 ? 0 : 1);
    }
    json_object_put(d);
    cr_assert_eq(pools_reap_expired(&app), 0, "describe already dropped the expired slots");
    free(srv);
}

/* An XADD to stream key with one field, as the audit spool sends it. */
static redisReply *xadd_with_release(struct pools_slot *s, const char *stream, const char *value)
{
    char key[192];
    const char *cmd[] = { "XADD", key, "*", "f", value };

    snprintf(key, sizeof(key), "%s%s", app.cfg.redis_prefix, stream);
    return pools_upstream_release_then(&app, s, 5, cmd);
}

static long long stream_len(const char *stream)
{
    redisReply *r = rds_cmd(&app, "XLEN %s%s", app.cfg.redis_prefix, stream);
    long long n;

    cr_assert_not_null(r);
    n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

Test(pools_redis, release_then_gives_the_slot_back_and_runs_the_command_in_one_script)
{
    struct pools_slot s, t;
    struct pools_busy busy;
    redisReply *r;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-rt", 1, 60000, &s, &busy), POOLS_OK);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-rt", 1, 60000, &t, &busy), POOLS_BUSY);
    r = xadd_with_release(&s, "spool-1", "a");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "the XADD's entry id comes back");
    freeReplyObject(r);
    cr_assert_not(s.held);
    cr_assert_eq(counter("upstream:srv-rt"), 0);
    cr_assert_eq(stream_len("spool-1"), 1);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-rt", 1, 60000, &t, &busy), POOLS_OK, "the slot is free again");
    pools_upstream_release(&app, &t);
    /* Not held: the command alone. */
    r = xadd_with_release(&s, "spool-1", "b");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    freeReplyObject(r);
    cr_assert_eq(stream_len("spool-1"), 2);
}

Test(pools_redis, release_then_runs_the_command_when_the_lease_ended_first)
{
    struct pools_slot a, b;
    struct pools_busy busy;
    redisReply *r;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-late", 1, 100, &a, &busy), POOLS_OK);
    usleep(200000);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-late", 1, 60000, &b, &busy), POOLS_OK, "a's lease ended");
    r = xadd_with_release(&a, "spool-2", "late");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "the record is written though nothing was released");
    freeReplyObject(r);
    cr_assert_eq(stream_len("spool-2"), 1);
    cr_assert_eq(counter("upstream:srv-late"), 1, "b's slot is not taken by a's late release");
    pools_upstream_release(&app, &b);
    cr_assert_eq(counter("upstream:srv-late"), 0);
}

Test(pools_redis, release_then_runs_the_command_when_the_pool_keys_are_broken)
{
    struct pools_slot a;
    struct pools_busy busy;
    redisReply *r;

    cr_assert_eq(pools_upstream_acquire(&app, "srv-bad", 1, 60000, &a, &busy), POOLS_OK);
    /* Whoever can write to Redis turned the holder hash into a string. */
    r = rds_cmd(&app, "SET %s{pools}:u:upstream:srv-bad x", app.cfg.redis_prefix);
    freeReplyObject(r);
    r = xadd_with_release(&a, "spool-3", "kept");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "the record is written though the release failed");
    freeReplyObject(r);
    cr_assert_eq(stream_len("spool-3"), 1);
    /* And a command that fails comes back as its error. */
    cr_assert_eq(pools_upstream_acquire(&app, "srv-ok", 1, 60000, &a, &busy), POOLS_OK);
    r = rds_cmd(&app, "SET %sspool-4 x", app.cfg.redis_prefix);
    freeReplyObject(r);
    r = xadd_with_release(&a, "spool-4", "refused");
    cr_assert(r != NULL && r->type == REDIS_REPLY_ERROR && strstr(r->str, "WRONGTYPE") != NULL);
    freeReplyObject(r);
    cr_assert_eq(counter("upstream:srv-ok"), 0, "the slot was given back all the same");
}

Test(pools_redis, acquire_after_reads_and_takes_in_one_script_and_never_over_capacity)
{
    struct pools_slot s[3];
    struct pools_busy busy;
    char key[192];
    const char *cmd[] = { "HGETALL", key };
    redisReply *r;

    snprintf(key, sizeof(key), "%supstreams:{x}", app.cfg.redis_prefix);
    freeReplyObject(rds_cmd(&app, "HSET %s up:a v", key));
    for (int i = 0; i < 3; i++) {
        enum pools_code c = pools_upstream_acquire_after(&app, "srv-aa", 2, 60000, &s[i], &busy, 2, cmd, &r);

        cr_assert_eq(c, i < 2 ? POOLS_OK : POOLS_BUSY);
        cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2, "the read's reply, busy or not");
        cr_assert_str_eq(r->element[0]->str, "up:a");
        freeReplyObject(r);
    }
    cr_assert_eq(busy.capacity, 2);
    cr_assert_eq(busy.in_use, 2);
    cr_assert_eq(counter("upstream:srv-aa"), 2);
    pools_upstream_release(&app, &s[0]);
    pools_upstream_release(&app, &s[1]);
    pools_upstream_release(&app, &s[2]);
    cr_assert_eq(counter("upstream:srv-aa"), 0);
}

/* The log line a failing script leaves: what failed and in which pool, so
 * that an operator finds the broken keys without reading the scripts. */
Test(pools_redis, a_failing_script_names_its_pool_in_the_log)
{
    struct pools_slot a;
    struct pools_busy busy;
    char path[] = "/tmp/test_pools_log.XXXXXX", line[4096];
    size_t got;
    redisReply *r;
    FILE *f;
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    close(fd);
    r = rds_cmd(&app, "SET %s{pools}:r:upstream:srv-broken x", app.cfg.redis_prefix);
    freeReplyObject(r);
    log_init("test", LOG_LVL_WARN);
    cr_assert_eq(log_open_file(path), 0);
    cr_assert_eq(pools_upstream_acquire(&app, "srv-broken", 1, 60000, &a, &busy), POOLS_UNAVAILABLE);
    log_close_file();
    log_init("test", LOG_LVL_ERROR);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    got = fread(line, 1, sizeof(line) - 1, f);
    line[got] = '\0';
    fclose(f);
    unlink(path);
    cr_assert(strstr(line, "pools_script_failed") != NULL && strstr(line, "upstream:srv-broken") != NULL,
              "the log names the pool: %s", line);
}
