/* Resource pools counted fleet-wide in Redis: every reservation is a holder
 * with units and a lease end, taken, released and expired by Lua scripts so
 * that no interleaving of responders can put a pool over its capacity. */
#include "pools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "js.h"
#include "log.h"
#include "mcp/catalog.h"
#include "store_redis.h"
#include "util.h"

#define KEY_MAX 192
/* Pools one usage script call covers: index + 3 keys + 1 name each must stay
 * within rds_eval's 64 arguments. */
#define POOLS_AT_ONCE 15
#define UPSTREAM_POOL "upstream:"
#define ALLOC_MAX_BYTES 4096   /* an allocation record in Redis */
/* Arguments of the command run with a release (rds_eval takes 64 in all). */
#define POOLS_CMD_MAX 58

/*
 * Keys, all under one hash tag so that a script may touch several pools:
 *   {pools}:index        set of pool names in use (what the reaper visits)
 *   {pools}:r:NAME       sorted set holder -> lease end (ms, Redis clock)
 *   {pools}:u:NAME       hash holder -> units
 *   {pools}:n:NAME       units held in all
 *   {pools}:a:ID         an allocation's record (JSON), expiring with its lease
 * The leases run on Redis's clock (TIME), so hosts with skewed clocks agree.
 */

/* Expired holders out of one pool; its units in use after that (an idle
 * pool has no counter: nothing to read or tidy then). Shared by the three
 * scripts below (Lua text pasted at the start of each). The counter n is the
 * sum of the holders' units: with no holder left it is 0 whatever it says,
 * and one that is not a number or below 0 is summed again from the holders,
 * so that a counter written by hand (or by a bug) neither holds a pool shut
 * for ever nor lets it take more than its capacity. */
#define LUA_PURGE                                                                     \
    "local t = redis.call('TIME')\n"                                                  \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"         \
    "local dropped = 0\n"                                                             \
    "local function purge(r, u, n)\n"                                                 \
    "  if redis.call('EXISTS', n) == 1 and not tonumber(redis.call('GET', n)) then\n" \
    "    redis.call('DEL', n)\n"                                                      \
    "    for _, k in ipairs(redis.call('HVALS', u)) do\n"                             \
    "      if (tonumber(k) or 0) > 0 then redis.call('INCRBY', n, tonumber(k)) end\n" \
    "    end\n"                                                                       \
    "  end\n"                                                                         \
    "  local old = redis.call('ZRANGEBYSCORE', r, '-inf', now)\n"                     \
    "  for _, h in ipairs(old) do\n"                                                  \
    "    local k = tonumber(redis.call('HGET', u, h) or '0') or 0\n"                  \
    "    redis.call('HDEL', u, h)\n"                                                  \
    "    if k > 0 then redis.call('DECRBY', n, k) end\n"                              \
    "    dropped = dropped + 1\n"                                                     \
    "  end\n"                                                                         \
    "  if #old > 0 then redis.call('ZREMRANGEBYSCORE', r, '-inf', now) end\n"         \
    "  local v = redis.call('GET', n)\n"                                              \
    "  if not v then return 0 end\n"                                                  \
    "  local used = tonumber(v)\n"                                                    \
    "  if redis.call('ZCARD', r) == 0 then\n"                                         \
    "    redis.call('DEL', n, u)\n"                                                   \
    "    used = 0\n"                                                                  \
    "  elseif not used or used < 0 then\n"                                            \
    "    used = 0\n"                                                                  \
    "    for _, k in ipairs(redis.call('HVALS', u)) do\n"                             \
    "      if (tonumber(k) or 0) > 0 then used = used + tonumber(k) end\n"            \
    "    end\n"                                                                       \
    "    redis.call('SET', n, used)\n"                                                \
    "  end\n"                                                                         \
    "  return used\n"                                                                 \
    "end\n"

/* acquire(K, A) with K: index, then r u n per pool; A: lease ms, holder,
 * then per pool: name, units, capacity. {1} when every pool had room (all
 * taken), else {0, pool number, units in use, ms until its earliest lease
 * ends}. */
#define LUA_ACQUIRE                                                                   \
    LUA_PURGE                                                                         \
    "local function acquire(K, A)\n"                                                   \
    "  local ttl = tonumber(A[1])\n"                                                   \
    "  local id = A[2]\n"                                                              \
    "  local np = (#K - 1) / 3\n"                                                      \
    "  for i = 1, np do\n"                                                             \
    "    local r, u, n = K[3*i-1], K[3*i], K[3*i+1]\n"                                 \
    "    local used = purge(r, u, n)\n"                                                \
    "    local units = tonumber(A[3*i+1])\n"                                           \
    "    local cap = tonumber(A[3*i+2])\n"                                             \
    "    if units > 0 and used + units > cap then\n"                                   \
    "      local first = redis.call('ZRANGE', r, 0, 0, 'WITHSCORES')\n"                \
    "      local wait = 0\n"                                                           \
    "      if #first == 2 then wait = tonumber(first[2]) - now end\n"                  \
    "      return {0, i, used, wait}\n"                                                \
    "    end\n"                                                                        \
    "  end\n"                                                                          \
    "  for i = 1, np do\n"                                                             \
    "    local units = tonumber(A[3*i+1])\n"                                           \
    "    if units > 0 then\n"                                                          \
    "      redis.call('ZADD', K[3*i-1], now + ttl, id)\n"                              \
    "      redis.call('HSET', K[3*i], id, units)\n"                                    \
    "      redis.call('INCRBY', K[3*i+1], units)\n"                                    \
    "      redis.call('SADD', K[1], A[3*i])\n"                                         \
    "    end\n"                                                                        \
    "  end\n"                                                                          \
    "  return {1}\n"                                                                   \
    "end\n"

static struct rds_script acquire_script = {
    LUA_ACQUIRE
    "return acquire(KEYS, ARGV)\n",
    ""
};

/* The same after one command, in the same script. KEYS: those of acquire,
 * then the command's key. ARGV: the number of acquire's arguments, those,
 * then the command's verb and its arguments after the key. {the command's
 * reply or error, acquire's answer}. */
static struct rds_script acquire_after_script = {
    LUA_ACQUIRE
    "local K, A = {}, {}\n"
    "for i = 1, #KEYS - 1 do K[i] = KEYS[i] end\n"
    "local na = tonumber(ARGV[1])\n"
    "for i = 1, na do A[i] = ARGV[i + 1] end\n"
    "local cmd = {ARGV[na + 2], KEYS[#KEYS]}\n"
    "for i = na + 3, #ARGV do cmd[#cmd + 1] = ARGV[i] end\n"
    "local first = redis.pcall(unpack(cmd))\n"
    "return {first, acquire(K, A)}\n",
    ""
};

/* Holder h's units out of one pool (keys r u n): the units released, 0 when
 * it held none (its lease ended first). Shared by the two scripts below. */
#define LUA_RELEASE                                                                   \
    "local function release(r, u, n, h)\n"                                             \
    "  local k = tonumber(redis.call('HGET', u, h) or '0')\n"                          \
    "  if redis.call('HDEL', u, h) ~= 1 then return 0 end\n"                           \
    "  redis.call('ZREM', r, h)\n"                                                     \
    "  local left = redis.call('DECRBY', n, k)\n"                                      \
    "  if left <= 0 and redis.call('ZCARD', r) == 0 then redis.call('DEL', n) end\n"   \
    "  return k\n"                                                                     \
    "end\n"

/* KEYS: r u n per pool. ARGV: holder. Units released in all. */
static struct rds_script release_script = {
    LUA_RELEASE
    "local released = 0\n"
    "for i = 1, #KEYS / 3 do\n"
    "  released = released + release(KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i], ARGV[1])\n"
    "end\n"
    "return released\n",
    ""
};

/* KEYS: r u n of one pool, then the command's key. ARGV: holder, then the
 * command's verb and its arguments after the key. The release and the
 * command each run whatever becomes of the other (a pool key of the wrong
 * type does not stop the command): {units released or -1, the command's
 * reply or error}. */
static struct rds_script release_then_script = {
    LUA_RELEASE
    "local released = -1\n"
    "local ok, n = pcall(release, KEYS[1], KEYS[2], KEYS[3], ARGV[1])\n"
    "if ok then released = n end\n"
    "local cmd = {ARGV[2], KEYS[4]}\n"
    "for i = 3, #ARGV do cmd[#cmd + 1] = ARGV[i] end\n"
    "return {released, redis.pcall(unpack(cmd))}\n",
    ""
};

/* KEYS: r u of one pool. ARGV: holder, lease ms. 1 when the holder still
 * holds its units (its lease now ends lease ms from now), 0 when it does not. */
static struct rds_script renew_script = {
    "if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])\n"
    "return 1\n",
    ""
};

/* KEYS: index, then r u n per pool. ARGV: pool names. Expired leases out;
 * {dropped, used of pool 1, used of pool 2, ...}; pools left empty leave
 * the index. */
static struct rds_script usage_script = {
    LUA_PURGE
    "local out = {0}\n"
    "for i = 1, (#KEYS - 1) / 3 do\n"
    "  local r = KEYS[3*i-1]\n"
    "  local used = purge(r, KEYS[3*i], KEYS[3*i+1])\n"
    "  if redis.call('ZCARD', r) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end\n"
    "  out[i + 1] = used\n"
    "end\n"
    "out[1] = dropped\n"
    "return out\n",
    ""
};

static const struct {
    const char *name;
    const char *what;
} seed_pools[POOL_COUNT] = {
    [POOL_DATABASE] = { "database_connections", "PostgreSQL connections (allocations take the shared part)" },
    [POOL_REDIS] = { "redis_connections", "Redis connections" },
    [POOL_OAUTH] = { "oauth_tokens", "concurrent OAuth token validations" },
};

const char *pools_name(enum pool_id p)
{
    return p < POOL_COUNT ? seed_pools[p].name : "";
}

int pools_capacity(const struct gw_config *cfg, enum pool_id p)
{
    switch (p) {
    case POOL_DATABASE:
        return cfg->res_db_connections - cfg->res_db_reserved_api - cfg->res_db_reserved_mcp;
    case POOL_REDIS:
        return cfg->res_redis_connections;
    case POOL_OAUTH:
        return cfg->res_oauth_validations;
    default:
        return 0;
    }
}

bool pools_id_valid(const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return i == 32;
}

/* The three keys of one pool into r, u, n. */
static int pool_keys(struct gw_app *app, const char *pool, char r[KEY_MAX], char u[KEY_MAX], char n[KEY_MAX])
{
    return rds_key(app, r, KEY_MAX, "{pools}:r:%s", pool) | rds_key(app, u, KEY_MAX, "{pools}:u:%s", pool) |
           rds_key(app, n, KEY_MAX, "{pools}:n:%s", pool);
}

struct want {
    const char *pool;
    int units, capacity;
};

/* Reserve every want for holder, or none: the acquire script over np pools;
 * with cmd (cmdc > 0), that command first in the same script, its reply in
 * *cmd_rep (NULL when Redis is unavailable). */
static enum pools_code reserve_after(struct gw_app *app, const struct want *w, int np, const char *holder,
                                     long long lease_ms, struct pools_busy *busy, int cmdc, const char **cmd,
                                     redisReply **cmd_rep)
{
    char keys[1 + 3 * POOLS_AT_ONCE][KEY_MAX];
    char args[2 + 3 * POOLS_AT_ONCE][32], nargs[16];
    const char *argv[1 + 3 * POOLS_AT_ONCE + 2 + 3 * POOLS_AT_ONCE + 1 + POOLS_CMD_MAX];
    int nk = 0, na = 0;
    redisReply *rep, *res;
    enum pools_code rc = POOLS_UNAVAILABLE;

    if (cmd_rep != NULL)
        *cmd_rep = NULL;
    if (np > POOLS_AT_ONCE || (cmdc > 0 && (cmdc < 2 || np > 1 || cmdc > POOLS_CMD_MAX)) ||
        rds_key(app, keys[0], KEY_MAX, "{pools}:index") != 0)
        return POOLS_UNAVAILABLE;
    argv[nk++] = keys[0];
    for (int i = 0; i < np; i++) {
        if (pool_keys(app, w[i].pool, keys[1 + 3 * i], keys[2 + 3 * i], keys[3 + 3 * i]) != 0)
            return POOLS_UNAVAILABLE;
        argv[nk++] = keys[1 + 3 * i];
        argv[nk++] = keys[2 + 3 * i];
        argv[nk++] = keys[3 + 3 * i];
    }
    if (cmdc > 0) {
        argv[nk++] = cmd[1];
        snprintf(nargs, sizeof(nargs), "%d", 2 + 3 * np);
        argv[nk + na++] = nargs;
    }
    snprintf(args[0], sizeof(args[0]), "%lld", lease_ms);
    argv[nk + na++] = args[0];
    argv[nk + na++] = holder;
    for (int i = 0; i < np; i++) {
        snprintf(args[1 + 2 * i], sizeof(args[0]), "%d", w[i].units);
        snprintf(args[2 + 2 * i], sizeof(args[0]), "%d", w[i].capacity);
        argv[nk + na++] = w[i].pool;
        argv[nk + na++] = args[1 + 2 * i];
        argv[nk + na++] = args[2 + 2 * i];
    }
    if (cmdc > 0) {
        argv[nk + na++] = cmd[0];
        for (int i = 2; i < cmdc; i++)
            argv[nk + na++] = cmd[i];
    }
    rep = rds_eval(app, cmdc > 0 ? &acquire_after_script : &acquire_script, nk, nk + na, argv, NULL);
    res = rep;
    if (cmdc > 0) {
        res = NULL;
        if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
            *cmd_rep = rep->element[0];
            rep->element[0] = NULL;
            res = rep->element[1];
        }
    }
    if (res == NULL || res->type != REDIS_REPLY_ARRAY || res->elements < 1 ||
        res->element[0]->type != REDIS_REPLY_INTEGER) {
        if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
            log_warn("pools_script_failed", "reserve in pool %s%s: %s", w[0].pool, np > 1 ? " and others" : "",
                     rep->str);
    } else if (res->element[0]->integer == 1) {
        rc = POOLS_OK;
    } else if (res->elements == 4) {
        long long i = res->element[1]->integer, wait_ms = res->element[3]->integer;

        rc = POOLS_BUSY;
        if (busy != NULL && i >= 1 && i <= np) {
            gw_strlcpy(busy->pool, w[i - 1].pool, sizeof(busy->pool));
            busy->capacity = w[i - 1].capacity;
            busy->requested = w[i - 1].units;
            busy->in_use = (int)res->element[2]->integer;
            busy->retry_after_s = wait_ms > 1000 ? (int)((wait_ms + 999) / 1000) : 1;
        }
    }
    freeReplyObject(rep);
    return rc;
}

static enum pools_code reserve(struct gw_app *app, const struct want *w, int np, const char *holder,
                               long long lease_ms, struct pools_busy *busy)
{
    return reserve_after(app, w, np, holder, lease_ms, busy, 0, NULL, NULL);
}

/* Release holder's units from each named pool; -1 when Redis cannot be reached. */
static long long release(struct gw_app *app, const char *const *pools, int np, const char *holder)
{
    char keys[3 * POOLS_AT_ONCE][KEY_MAX];
    const char *argv[3 * POOLS_AT_ONCE + 1];
    redisReply *rep;
    long long n = -1;

    if (np > POOLS_AT_ONCE)
        return -1;
    for (int i = 0; i < np; i++) {
        if (pool_keys(app, pools[i], keys[3 * i], keys[3 * i + 1], keys[3 * i + 2]) != 0)
            return -1;
        argv[3 * i] = keys[3 * i];
        argv[3 * i + 1] = keys[3 * i + 1];
        argv[3 * i + 2] = keys[3 * i + 2];
    }
    argv[3 * np] = holder;
    rep = rds_eval(app, &release_script, 3 * np, 3 * np + 1, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        n = rep->integer;
    else if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
        log_warn("pools_script_failed", "release in pool %s%s: %s", pools[0], np > 1 ? " and others" : "", rep->str);
    freeReplyObject(rep);
    return n;
}

/* Drop expired leases of the np named pools, used units into used[] (may be
 * NULL); dropped reservations, or -1. */
static long long usage(struct gw_app *app, const char *const *pools, int np, long long *used)
{
    char keys[1 + 3 * POOLS_AT_ONCE][KEY_MAX];
    const char *argv[1 + 4 * POOLS_AT_ONCE];
    redisReply *rep;
    long long dropped = -1;
    int nk = 0;

    if (np > POOLS_AT_ONCE || rds_key(app, keys[0], KEY_MAX, "{pools}:index") != 0)
        return -1;
    argv[nk++] = keys[0];
    for (int i = 0; i < np; i++) {
        if (pool_keys(app, pools[i], keys[1 + 3 * i], keys[2 + 3 * i], keys[3 + 3 * i]) != 0)
            return -1;
        argv[nk++] = keys[1 + 3 * i];
        argv[nk++] = keys[2 + 3 * i];
        argv[nk++] = keys[3 + 3 * i];
    }
    for (int i = 0; i < np; i++)
        argv[nk + i] = pools[i];
    rep = rds_eval(app, &usage_script, nk, nk + np, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == (size_t)np + 1) {
        dropped = rep->element[0]->integer;
        for (int i = 0; used != NULL && i < np; i++)
            used[i] = rep->element[i + 1]->integer;
    } else if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
        log_warn("pools_script_failed", "usage of pool %s%s: %s", pools[0], np > 1 ? " and others" : "", rep->str);
    }
    freeReplyObject(rep);
    return dropped;
}

/* ---- upstream call slots ------------------------------------------------------------ */

enum pools_code pools_upstream_acquire_after(struct gw_app *app, const char *server_id, int max_concurrency,
                                             int lease_ms, struct pools_slot *slot, struct pools_busy *busy,
                                             int cmdc, const char **cmd, redisReply **cmd_rep)
{
    struct want w;
    enum pools_code rc;

    memset(slot, 0, sizeof(*slot));
    if (cmd_rep != NULL)
        *cmd_rep = NULL;
    if (gw_snprintf(slot->pool, sizeof(slot->pool), UPSTREAM_POOL "%s", server_id) != 0 ||
        gw_random_hex(slot->holder, 16) != 0) {
        if (cmdc > 0)
            *cmd_rep = rds_cmdargv(app, cmdc, cmd, NULL);
        return POOLS_UNAVAILABLE;
    }
    w.pool = slot->pool;
    w.units = 1;
    w.capacity = max_concurrency > 0 ? max_concurrency : 1;
    rc = reserve_after(app, &w, 1, slot->holder, lease_ms, busy, cmdc, cmd, cmd_rep);
    slot->held = rc == POOLS_OK;
    return rc;
}

enum pools_code pools_upstream_acquire(struct gw_app *app, const char *server_id, int max_concurrency,
                                       int lease_ms, struct pools_slot *slot, struct pools_busy *busy)
{
    return pools_upstream_acquire_after(app, server_id, max_concurrency, lease_ms, slot, busy, 0, NULL, NULL);
}

static void pools_slot_release_failed(const struct pools_slot *slot, const char *why)
{
    log_warn("pools_release_failed", "slot of %s not released (%s): its lease ends it", slot->pool, why);
}

void pools_upstream_release(struct gw_app *app, struct pools_slot *slot)
{
    const char *pool = slot->pool;

    if (!slot->held)
        return;
    if (release(app, &pool, 1, slot->holder) < 0)
        pools_slot_release_failed(slot, "Redis");
    slot->held = false;
}

redisReply *pools_upstream_release_then(struct gw_app *app, struct pools_slot *slot, int cmdc, const char **cmd)
{
    char r[KEY_MAX], u[KEY_MAX], n[KEY_MAX];
    const char *argv[5 + POOLS_CMD_MAX];
    redisReply *rep, *out = NULL;

    if (!slot->held)
        return rds_cmdargv(app, cmdc, cmd, NULL);
    slot->held = false;
    if (cmdc < 2 || cmdc > POOLS_CMD_MAX || pool_keys(app, slot->pool, r, u, n) != 0) {
        pools_slot_release_failed(slot, "too many arguments or key too long");
        return rds_cmdargv(app, cmdc, cmd, NULL);
    }
    argv[0] = r;
    argv[1] = u;
    argv[2] = n;
    argv[3] = cmd[1];
    argv[4] = slot->holder;
    argv[5] = cmd[0];
    for (int i = 2; i < cmdc; i++)
        argv[4 + i] = cmd[i];
    rep = rds_eval(app, &release_then_script, 4, 4 + cmdc, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER) {
        /* 0: a lease that ended first, nothing to give back. */
        if (rep->element[0]->integer < 0)
            pools_slot_release_failed(slot, "the pool's keys are not what the scripts write");
        out = rep->element[1];
        rep->element[1] = NULL;
    } else {
        pools_slot_release_failed(slot, rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str : "Redis");
    }
    freeReplyObject(rep);
    return out;
}

enum pools_code pools_upstream_renew(struct gw_app *app, const struct pools_slot *slot, int lease_ms)
{
    char r[KEY_MAX], u[KEY_MAX], n[KEY_MAX], ttl[24];
    const char *argv[4];
    redisReply *rep;
    enum pools_code rc = POOLS_UNAVAILABLE;

    if (!slot->held)
        return POOLS_BUSY;
    if (pool_keys(app, slot->pool, r, u, n) != 0)
        return POOLS_UNAVAILABLE;
    snprintf(ttl, sizeof(ttl), "%d", lease_ms);
    argv[0] = r;
    argv[1] = u;
    argv[2] = slot->holder;
    argv[3] = ttl;
    rep = rds_eval(app, &renew_script, 2, 4, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        rc = rep->integer == 1 ? POOLS_OK : POOLS_BUSY;
    else if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
        log_warn("pools_script_failed", "renew in pool %s: %s", slot->pool, rep->str);
    freeReplyObject(rep);
    return rc;
}

/* ---- allocations -------------------------------------------------------------------- */

/* A non-negative integer member of the estimated load, at most max. */
static int load_int(struct json_object *load, const char *key, int max, int *out, char *err, size_t n)
{
    struct json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(load, key, &v) || !json_object_is_type(v, json_type_int)) {
        gw_snprintf(err, n, "estimated_load.%s must be an integer", key);
        return -1;
    }
    x = json_object_get_int64(v);
    if (x < 0 || x > max) {
        gw_snprintf(err, n, "estimated_load.%s must be between 0 and %d", key, max);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* As the seed's ResourceOrchestrator.allocate_resources: one database
 * connection per five servers up to the shared part, two Redis connections,
 * one token validation per administrator. */
static int alloc_bulk_registration(const struct gw_config *cfg, struct json_object *load,
                                   int units[POOL_COUNT], char *err, size_t n)
{
    int servers, admins, shared = pools_capacity(cfg, POOL_DATABASE);

    if (load_int(load, "server_count", 1000000, &servers, err, n) != 0 ||
        load_int(load, "admin_count", 1000000, &admins, err, n) != 0)
        return -1;
    units[POOL_DATABASE] = servers / 5 < shared ? servers / 5 : shared;
    units[POOL_REDIS] = 2;
    units[POOL_OAUTH] = admins;
    return 0;
}

static const struct {
    const char *operation;
    int (*compute)(const struct gw_config *cfg, struct json_object *load, int units[POOL_COUNT],
                   char *err, size_t n);
} alloc_rules[] = {
    { "bulk_server_registration", alloc_bulk_registration },
};

enum pools_code pools_compute(const struct gw_config *cfg, const char *operation_type,
                              struct json_object *estimated_load, int units[POOL_COUNT], char *err,
                              size_t n)
{
    memset(units, 0, sizeof(int) * POOL_COUNT);
    if (!json_object_is_type(estimated_load, json_type_object)) {
        gw_snprintf(err, n, "estimated_load must be an object");
        return POOLS_INVALID;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(alloc_rules); i++) {
        if (operation_type == NULL || strcmp(alloc_rules[i].operation, operation_type) != 0)
            continue;
        if (alloc_rules[i].compute(cfg, estimated_load, units, err, n) != 0)
            return POOLS_INVALID;
        for (int p = 0; p < POOL_COUNT; p++)
            if (units[p] > pools_capacity(cfg, (enum pool_id)p)) {
                gw_snprintf(err, n, "%s needs %d of pool %s, which holds %d in all", operation_type,
                            units[p], pools_name((enum pool_id)p), pools_capacity(cfg, (enum pool_id)p));
                return POOLS_INVALID;
            }
        return POOLS_OK;
    }
    gw_snprintf(err, n, "unknown operation_type '%.64s' (known: bulk_server_registration)",
                operation_type != NULL ? operation_type : "");
    return POOLS_INVALID;
}

static int alloc_key(struct gw_app *app, const char *id, char key[KEY_MAX])
{
    return rds_key(app, key, KEY_MAX, "{pools}:a:%s", id);
}

enum pools_code pools_allocate(struct gw_app *app, const char *operation_type,
                               struct json_object *estimated_load, const char *tenant_id,
                               const char *created_by, int lease_s, struct json_object **out,
                               struct pools_busy *busy, char *err, size_t n)
{
    int units[POOL_COUNT];
    struct want w[POOL_COUNT];
    struct json_object *rec, *alloc;
    char id[33], key[KEY_MAX], ts[32];
    const char *text;
    int np = 0;
    int64_t now = gw_now_ms();
    enum pools_code rc;
    redisReply *rep;

    *out = NULL;
    if ((rc = pools_compute(&app->cfg, operation_type, estimated_load, units, err, n)) != POOLS_OK)
        return rc;
    if (gw_random_id(id) != 0 || alloc_key(app, id, key) != 0) {
        gw_snprintf(err, n, "cannot make an allocation id");
        return POOLS_UNAVAILABLE;
    }
    for (int p = 0; p < POOL_COUNT; p++) {
        w[np].pool = pools_name((enum pool_id)p);
        w[np].units = units[p];
        w[np].capacity = pools_capacity(&app->cfg, (enum pool_id)p);
        np++;
    }
    /* The record first, so that no reservation exists without it; it
     * outlives the reservation by a second and names every unit held. */
    rec = json_object_new_object();
    alloc = json_object_new_object();
    json_object_object_add(rec, "id", json_object_new_string(id));
    json_object_object_add(rec, "operation_type", json_object_new_string(operation_type));
    json_object_object_add(rec, "estimated_load", json_object_get(estimated_load));
    for (int p = 0; p < POOL_COUNT; p++)
        json_object_object_add(alloc, pools_name((enum pool_id)p), json_object_new_int(units[p]));
    json_object_object_add(rec, "allocation", alloc);
    json_object_object_add(rec, "tenant_id", tenant_id != NULL && tenant_id[0] != '\0'
                                                 ? json_object_new_string(tenant_id) : NULL);
    json_object_object_add(rec, "created_by", json_object_new_string(created_by));
    gw_iso8601(now, ts);
    json_object_object_add(rec, "created_at", json_object_new_string(ts));
    gw_iso8601(now + (int64_t)lease_s * 1000, ts);
    json_object_object_add(rec, "expires_at", json_object_new_string(ts));
    json_object_object_add(rec, "lease_seconds", json_object_new_int(lease_s));
    text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
    if (strlen(text) > ALLOC_MAX_BYTES) {
        gw_snprintf(err, n, "estimated_load is too large to keep with the allocation");
        json_object_put(rec);
        return POOLS_INVALID;
    }
    rep = rds_cmd(app, "SET %s %s PX %lld", key, text, (long long)lease_s * 1000 + 1000);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        gw_snprintf(err, n, "resource pools are unavailable: Redis cannot be reached");
        json_object_put(rec);
        return POOLS_UNAVAILABLE;
    }
    freeReplyObject(rep);
    rc = reserve(app, w, np, id, (long long)lease_s * 1000, busy);
    if (rc != POOLS_OK) {
        freeReplyObject(rds_cmd(app, "DEL %s", key));
        json_object_put(rec);
        if (rc == POOLS_UNAVAILABLE)
            gw_snprintf(err, n, "resource pools are unavailable: Redis cannot be reached");
        else
            gw_snprintf(err, n, "pool %s has %d of %d in use; %d more do not fit", busy->pool,
                        busy->in_use, busy->capacity, busy->requested);
        return rc;
    }
    *out = rec;
    return POOLS_OK;
}

enum pools_code pools_allocation_get(struct gw_app *app, const char *id, struct json_object **out)
{
    char key[KEY_MAX];
    redisReply *rep;
    enum pools_code rc = POOLS_UNAVAILABLE;

    *out = NULL;
    if (!pools_id_valid(id))
        return POOLS_NOT_FOUND;
    if (alloc_key(app, id, key) != 0)
        return POOLS_UNAVAILABLE;
    rep = rds_cmd(app, "GET %s", key);
    if (rep != NULL && rep->type == REDIS_REPLY_NIL) {
        rc = POOLS_NOT_FOUND;
    } else if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        *out = json_tokener_parse(rep->str);
        rc = *out != NULL ? POOLS_OK : POOLS_NOT_FOUND;
    }
    freeReplyObject(rep);
    return rc;
}

enum pools_code pools_allocation_release(struct gw_app *app, const char *id)
{
    const char *names[POOL_COUNT];
    char key[KEY_MAX];
    redisReply *rep;

    if (!pools_id_valid(id))
        return POOLS_NOT_FOUND;
    for (int p = 0; p < POOL_COUNT; p++)
        names[p] = pools_name((enum pool_id)p);
    if (release(app, names, POOL_COUNT, id) < 0 || alloc_key(app, id, key) != 0)
        return POOLS_UNAVAILABLE;
    rep = rds_cmd(app, "DEL %s", key);
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(rep);
        return POOLS_UNAVAILABLE;
    }
    freeReplyObject(rep);
    return POOLS_OK;
}

/* ---- what the pools hold ------------------------------------------------------------ */

static struct json_object *pool_entry(const char *name, const char *kind, int capacity, long long used)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "kind", json_object_new_string(kind));
    json_object_object_add(o, "capacity", json_object_new_int(capacity));
    json_object_object_add(o, "in_use", json_object_new_int64(used));
    json_object_object_add(o, "available", json_object_new_int64(capacity > used ? capacity - used : 0));
    return o;
}

struct json_object *pools_describe(struct gw_app *app, const struct cat_snapshot *snap,
                                   const struct gw_identity *who)
{
    const struct gw_config *cfg = &app->cfg;
    const char *names[POOLS_AT_ONCE];
    const struct cat_server *srvs[POOLS_AT_ONCE];
    long long used[POOLS_AT_ONCE];
    struct json_object *out = json_object_new_object(), *list = json_object_new_array(), *o;
    size_t next = 0;
    char pool[POOLS_AT_ONCE][POOLS_NAME_MAX];

    json_object_object_add(out, "pools", list);
    for (int p = 0; p < POOL_COUNT; p++)
        names[p] = pools_name((enum pool_id)p);
    if (usage(app, names, POOL_COUNT, used) < 0)
        goto unavailable;
    for (int p = 0; p < POOL_COUNT; p++) {
        o = pool_entry(names[p], "seed", pools_capacity(cfg, (enum pool_id)p), used[p]);
        json_object_object_add(o, "description", json_object_new_string(seed_pools[p].what));
        if (p == POOL_DATABASE) {
            struct json_object *r = json_object_new_object();

            json_object_object_add(r, "max_pool_size", json_object_new_int(cfg->res_db_connections));
            json_object_object_add(r, "reserved_for_api", json_object_new_int(cfg->res_db_reserved_api));
            json_object_object_add(r, "reserved_for_mcp", json_object_new_int(cfg->res_db_reserved_mcp));
            json_object_object_add(r, "shared_pool", json_object_new_int(pools_capacity(cfg, POOL_DATABASE)));
            json_object_object_add(o, "partition", r);
        }
        json_object_array_add(list, o);
    }
    /* Upstream pools, a script call per POOLS_AT_ONCE servers. */
    while (snap != NULL && next < snap->n) {
        int np = 0;

        for (; next < snap->n && np < POOLS_AT_ONCE; next++) {
            const struct cat_server *s = &snap->servers[next];

            if (who != NULL && !cat_visible(s, who))
                continue;
            snprintf(pool[np], sizeof(pool[np]), UPSTREAM_POOL "%s", s->id);
            names[np] = pool[np];
            srvs[np++] = s;
        }
        if (np > 0 && usage(app, names, np, used) < 0)
            goto unavailable;
        for (int i = 0; i < np; i++) {
            o = pool_entry(names[i], "upstream", srvs[i]->max_concurrency, used[i]);
            json_object_object_add(o, "server", json_object_new_string(srvs[i]->name));
            json_object_object_add(o, "server_id", json_object_new_string(srvs[i]->id));
            json_object_array_add(list, o);
        }
    }
    return out;
unavailable:
    json_object_put(out);
    return NULL;
}

int pools_reap_expired(struct gw_app *app)
{
    char key[KEY_MAX];
    redisReply *rep;
    long long dropped = 0;

    if (rds_key(app, key, KEY_MAX, "{pools}:index") != 0)
        return -1;
    rep = rds_cmd(app, "SMEMBERS %s", key);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        return -1;
    }
    for (size_t i = 0; i < rep->elements; i += POOLS_AT_ONCE) {
        const char *names[POOLS_AT_ONCE];
        int np = 0;
        long long d;

        for (size_t j = i; j < rep->elements && np < POOLS_AT_ONCE; j++)
            if (rep->element[j]->type == REDIS_REPLY_STRING)
                names[np++] = rep->element[j]->str;
        if (np > 0 && (d = usage(app, names, np, NULL)) < 0) {
            freeReplyObject(rep);
            return -1;
        }
        if (np > 0)
            dropped += d;
    }
    freeReplyObject(rep);
    if (dropped > 0)
        log_info("pools_leases_expired", "%lld reservation(s) dropped after their lease", dropped);
    return dropped > 0x7fffffff ? 0x7fffffff : (int)dropped;
}
