/* The fleet leader and its periodic jobs: a Redis lease with a fencing token
 * decides which monitor leads; each job run is claimed in PostgreSQL under
 * the fence, so that no job runs twice in one period across the fleet. */
#include "leader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "app.h"
#include "events.h"
#include "js.h"
#include "log.h"
#include "registry.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

/* Lease cleanup of the other orchestration modules: tasks (per-task load
 * leases) and resource pools (reservations). Weak, so that a build without
 * either module links; each returns how many it reaped, or -1. */
int orch_tasks_reap_expired(struct gw_app *app) __attribute__((weak));
int pools_reap_expired(struct gw_app *app) __attribute__((weak));

/* A monitor that is not leading asks for the lease this often, so that a
 * lapsed lease is taken well within its TTL. */
#define LEADER_POLL_MS 200
/* An idle job is looked at again this soon. */
#define LEADER_IDLE_LOOK_MS 500
/* Job runs are kept this long. */
#define LEADER_RUNS_KEEP "7 days"

typedef int (*leader_job_fn)(const struct leader_run *r, struct json_object *detail, char *err,
                             size_t n);

struct leader_job {
    const char *name;
    leader_job_fn run;
    size_t period_field;             /* offsetof(struct gw_config, ...) */
    /* May be NULL; 1 when the job surely has nothing to do now (checked
     * without PostgreSQL), so that an idle fleet makes no statement for it. */
    int (*idle)(struct gw_app *app);
};

static int job_health(const struct leader_run *r, struct json_object *detail, char *err, size_t n);
static int job_catalog(const struct leader_run *r, struct json_object *detail, char *err, size_t n);
static int job_events(const struct leader_run *r, struct json_object *detail, char *err, size_t n);
static int job_cleanup(const struct leader_run *r, struct json_object *detail, char *err, size_t n);

static const struct leader_job jobs[] = {
    { "health_probes", job_health, offsetof(struct gw_config, leader_health_period_ms), NULL },
    { "catalog_refresh", job_catalog, offsetof(struct gw_config, leader_catalog_period_ms), NULL },
    { "event_delivery", job_events, offsetof(struct gw_config, leader_events_period_ms), events_idle },
    { "lease_cleanup", job_cleanup, offsetof(struct gw_config, leader_cleanup_period_ms), NULL },
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

struct leader {
    struct gw_app *app;
    char holder[128];
    char lease_key[128], token_key[128];
    long long token;                 /* 0: not leading */
    long long floor;                 /* the fence as last read; -1: read it again */
    int64_t lease_until;             /* monotonic: our lease surely holds until then */
    int64_t renew_at;
    int64_t next_try[NJOBS];         /* wall clock ms */
};

/* Take the lease when nobody holds it (a new token, above floor: the
 * highest that ever wrote, should Redis have lost the counter), or renew it
 * when we hold it. A lease of ours whose token is below floor (Redis went
 * back in time, e.g. a failover to a replica that missed writes) would be
 * fenced out for ever: it is taken again with a new token. No monitor
 * writes a lease that is not `holder|token` or that never expires: such a
 * value (written by hand) holds nobody, and is taken like a lapsed lease,
 * rather than keeping the fleet without a leader for ever. A counter that
 * is no integer, or too large to count on, starts again from floor, as a
 * lost one does: the fence keeps new tokens above every token that wrote.
 * Returns our token, or 0 when another holds the lease. */
static const char acquire_src[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local h, t = string.match(cur, '^(.*)|(%d+)$')\n"
    "  if h ~= nil and redis.call('PTTL', KEYS[1]) > 0 then\n"
    "    if h ~= ARGV[1] then return 0 end\n"
    "    if tonumber(t) >= tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]); return tonumber(t) end\n"
    "  end\n"
    "end\n"
    "local c = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if c == nil or c ~= math.floor(c) or c >= 2^53 or c < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3]) end\n"
    "local t = redis.call('INCR', KEYS[2])\n"
    "redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'PX', ARGV[2])\n"
    "return t\n";
static struct rds_script acquire_script = { acquire_src, "" };

static const char release_src[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur and string.match(cur, '^(.*)|%d+$') == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";
static struct rds_script release_script = { release_src, "" };

struct leader *leader_new(struct gw_app *app, const char *holder)
{
    struct leader *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->app = app;
    l->floor = -1;
    if (gw_strlcpy(l->holder, holder, sizeof(l->holder)) != 0 ||
        rds_key(app, l->lease_key, sizeof(l->lease_key), "leader:lease") != 0 ||
        rds_key(app, l->token_key, sizeof(l->token_key), "leader:token") != 0) {
        free(l);
        return NULL;
    }
    return l;
}

int leader_leading(const struct leader *l)
{
    return l != NULL && l->token > 0;
}

int leader_fence(PGconn *c, long long token, const char *holder, char *err, size_t n)
{
    static const char sql[] =
        "UPDATE leader_fence SET token = $1::bigint, holder = $2, at = now()"
        " WHERE id = 1 AND token <= $1::bigint";
    char tok[24];
    const char *p[2] = { tok, holder };
    PGresult *r;
    int rc;

    snprintf(tok, sizeof(tok), "%lld", token);
    r = PQexecParams(c, sql, 2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        gw_snprintf(err, n, "fence: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    rc = strcmp(PQcmdTuples(r), "1") == 0 ? 1 : 0;
    PQclear(r);
    return rc;
}

/* The highest token that ever wrote (the fence), so that a new token is above it. */
static long long fence_floor(struct gw_app *app)
{
    PGconn *c = pg_conn(app);
    PGresult *r;
    long long v = -1;                /* unknown: read again next time */

    if (c == NULL)
        return -1;
    r = PQexec(c, "SELECT token FROM leader_fence WHERE id = 1");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static void step_down(struct leader *l, const char *why)
{
    if (l->token > 0)
        log_warn("leader_lost", "monitor %s is no longer the fleet leader (token %lld): %s", l->holder,
                 l->token, why);
    l->token = 0;
}

static void renew(struct leader *l, int64_t now)
{
    const struct gw_config *cfg = &l->app->cfg;
    char ttl[24], floor[24];
    const char *argv[5] = { l->lease_key, l->token_key, l->holder, ttl, floor };
    redisReply *r;

    snprintf(ttl, sizeof(ttl), "%d", cfg->leader_lease_ttl_ms);
    /* The fence is read only at start and after being fenced out: a monitor
     * that is not leading asks Redis often, PostgreSQL not at all. */
    if (l->token == 0 && l->floor < 0)
        l->floor = fence_floor(l->app);
    snprintf(floor, sizeof(floor), "%lld", l->token > 0 ? 0LL : (l->floor > 0 ? l->floor : 0LL));
    r = rds_eval(l->app, &acquire_script, 2, 5, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        if (r != NULL && r->type == REDIS_REPLY_ERROR)
            log_warn("leader_lease_error", "the leader lease script failed: %s", r->str);
        if (r != NULL)
            freeReplyObject(r);
        /* Redis cannot say: lead on only while the lease surely holds. */
        if (l->token > 0 && now >= l->lease_until)
            step_down(l, "the lease could not be renewed before it lapsed");
        l->renew_at = now + LEADER_POLL_MS;
        return;
    }
    if (r->integer > 0) {
        if (l->token != r->integer)
            log_info("leader_acquired", "monitor %s leads the fleet with fencing token %lld", l->holder,
                     (long long)r->integer);
        l->token = r->integer;
        /* The lease was set at most now + ttl in Redis' clock; keep a margin. */
        l->lease_until = now + cfg->leader_lease_ttl_ms - cfg->leader_lease_ttl_ms / 5;
        l->renew_at = now + cfg->leader_lease_ttl_ms / 3;
    } else {
        step_down(l, "another monitor holds the lease");
        l->renew_at = now + LEADER_POLL_MS;
    }
    freeReplyObject(r);
}

/* Claim the job's run of the current period (*period): 1 claimed (*run_id
 * set), 0 it already ran in this period, -2 fenced out (a newer leader
 * wrote), -1 error. */
static int claim(struct leader *l, const struct leader_job *j, int period_ms, long long *run_id,
                 long long *period, char *err, size_t n)
{
    /* A second statement after the fence row's lock: its snapshot sees the
     * run a concurrent claimer committed while we waited for the lock. */
    static const char insert_sql[] =
        "WITH p AS (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000 / $2::bigint)::bigint AS period),"
        " ins AS (INSERT INTO leader_job_runs (job, period, token, holder)"
        "   SELECT $1, p.period, $3::bigint, $4 FROM p"
        "   WHERE NOT EXISTS (SELECT 1 FROM leader_job_runs r WHERE r.job = $1 AND r.period = p.period)"
        "   RETURNING id)"
        " SELECT (SELECT id FROM ins), p.period FROM p";
    PGconn *c = pg_conn(l->app);
    char per[24], tok[24], ignored[256];
    const char *p[4] = { j->name, per, tok, l->holder };
    PGresult *r;
    int f;

    if (c == NULL) {
        gw_strlcpy(err, "PostgreSQL is unavailable", n);
        return -1;
    }
    snprintf(per, sizeof(per), "%d", period_ms);
    snprintf(tok, sizeof(tok), "%lld", l->token);
    if (pg_exec(c, "BEGIN", err, n) != 0)
        return -1;
    f = leader_fence(c, l->token, l->holder, err, n);
    if (f != 1) {
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return f == 0 ? -2 : -1;
    }
    r = PQexecParams(c, insert_sql, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        gw_snprintf(err, n, "claim: %s", PQresultErrorMessage(r));
        PQclear(r);
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return -1;
    }
    *period = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return 0;
    }
    *run_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return pg_exec(c, "COMMIT", err, n) == 0 ? 1 : -1;
}

static void finish(struct leader *l, long long run_id, int ok, struct json_object *detail)
{
    static const char sql[] =
        "UPDATE leader_job_runs SET finished_at = clock_timestamp(), status = $2, detail = $3::jsonb"
        " WHERE id = $1::bigint";
    PGconn *c = pg_conn(l->app);
    char id[24];
    const char *p[3] = { id, ok ? "ok" : "error",
                         json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN) };
    PGresult *r;

    if (c == NULL)
        return;
    snprintf(id, sizeof(id), "%lld", run_id);
    r = PQexecParams(c, sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        log_warn("leader_job_finish", "cannot record the end of job run %s: %s", id,
                 PQresultErrorMessage(r));
    PQclear(r);
}

static void run_due(struct leader *l, volatile sig_atomic_t *stop)
{
    for (size_t i = 0; i < NJOBS && !*stop && l->token > 0; i++) {
        const struct leader_job *j = &jobs[i];
        int period = *(const int *)((const char *)&l->app->cfg + j->period_field);
        int64_t wall = gw_now_ms();
        long long run_id = 0, per = 0;
        char err[512] = "";
        struct json_object *detail;
        struct leader_run run = { l, l->app, l->holder, 0, stop };
        int rc;

        if (wall < l->next_try[i])
            continue;
        /* Nothing to do: no claim, no statement (the next look is soon). */
        if (j->idle != NULL && j->idle(l->app)) {
            l->next_try[i] = wall + (period < LEADER_IDLE_LOOK_MS ? period : LEADER_IDLE_LOOK_MS);
            continue;
        }
        /* A long job before this one may have used up the renewal's slack. */
        if (gw_monotonic_ms() >= l->renew_at)
            renew(l, gw_monotonic_ms());
        if (l->token == 0 || gw_monotonic_ms() >= l->lease_until)
            return;
        rc = claim(l, j, period, &run_id, &per, err, sizeof(err));
        if (rc == -2) {
            step_down(l, "a newer leader has written (fenced out)");
            l->floor = -1;                    /* read the fence again, */
            l->renew_at = gw_monotonic_ms();  /* and at once take a token above it if the lease is ours */
            return;
        }
        if (rc == -1) {
            /* PostgreSQL is down or failing: one line per job every few seconds. */
            log_warn("leader_job_claim", "job %s not claimed: %s", j->name, err);
            l->next_try[i] = wall + (period < 5000 ? period : 5000);
            continue;
        }
        /* The next period starts at (per + 1) * period in PostgreSQL's clock. */
        l->next_try[i] = (int64_t)(per + 1) * period;
        if (l->next_try[i] > wall + period)
            l->next_try[i] = wall + period;
        if (rc == 0)                  /* already ran in this period */
            continue;
        run.token = l->token;         /* the token the run was claimed under */
        detail = json_object_new_object();
        rc = j->run(&run, detail, err, sizeof(err));
        if (rc != 0) {
            json_object_object_add(detail, "error", json_object_new_string(err));
            log_warn("leader_job_failed", "job %s (run %lld): %s", j->name, run_id, err);
        }
        finish(l, run_id, rc == 0, detail);
        json_object_put(detail);
    }
}

int leader_keep(const struct leader_run *run)
{
    struct leader *l = run->leader;
    int64_t now = gw_monotonic_ms();

    if (now >= l->renew_at)
        renew(l, now);
    return l->token == run->token && now < l->lease_until;
}

void leader_tick(struct leader *l, volatile sig_atomic_t *stop)
{
    int64_t now = gw_monotonic_ms();

    if (l == NULL)
        return;
    if (now >= l->renew_at)
        renew(l, now);
    if (l->token > 0)
        run_due(l, stop);
}

void leader_free(struct leader *l)
{
    if (l == NULL)
        return;
    if (l->token > 0) {
        const char *argv[2] = { l->lease_key, l->holder };
        redisReply *r = rds_eval(l->app, &release_script, 1, 2, argv, NULL);

        if (r != NULL)
            freeReplyObject(r);
        log_info("leader_released", "monitor %s gave the fleet lease back", l->holder);
    }
    free(l);
}

/* ---- the jobs ---------------------------------------------------------------------- */

static const char *str_of(struct json_object *o, const char *key)
{
    const char *s = js_str(o, key);

    return s != NULL ? s : "";
}

static const struct reg_actor monitor_actor = {
    .user_id = "gateway-monitor", .tenant_id = NULL, .platform = true, .admin = true,
    .request_id = "leader",
};

/* Probe every server not in maintenance; the result is stored on its row. */
static int job_health(const struct leader_run *run, struct json_object *detail, char *err, size_t n)
{
    PGconn *c = pg_conn(run->app);
    PGresult *r;
    int healthy = 0, unhealthy = 0, skipped = 0, rows;

    if (c == NULL) {
        gw_strlcpy(err, "PostgreSQL is unavailable", n);
        return -1;
    }
    r = PQexec(c, "SELECT id::text FROM servers WHERE NOT maintenance ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        gw_snprintf(err, n, "listing servers: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    rows = PQntuples(r);
    for (int i = 0; i < rows && !*run->stop; i++) {
        struct json_object *out = NULL;
        struct reg_error e = { 0 };
        const char *st;

        /* A monitor that lost the lease mid-job stops probing. */
        if (!leader_keep(run)) {
            skipped = rows - i;
            break;
        }
        if (reg_health(run->app, &monitor_actor, PQgetvalue(r, i, 0), &out, &e) != 0) {
            unhealthy++;
            continue;
        }
        st = str_of(out, "status");
        if (strcmp(st, "healthy") == 0)
            healthy++;
        else
            unhealthy++;
        json_object_put(out);
    }
    PQclear(r);
    json_object_object_add(detail, "servers", json_object_new_int(rows));
    json_object_object_add(detail, "healthy", json_object_new_int(healthy));
    json_object_object_add(detail, "unhealthy", json_object_new_int(unhealthy));
    if (skipped > 0)
        json_object_object_add(detail, "skipped_lease_lost", json_object_new_int(skipped));
    return 0;
}

static bool nonempty_array(struct json_object *o, const char *key)
{
    struct json_object *a = js_get(o, key, json_type_array);

    return a != NULL && json_object_array_length(a) > 0;
}

/* The schema changes of one refreshed server (its diff per kind: tools,
 * prompts, resources, resource templates, each {added, removed, changed,
 * ...}): {server_id, name, KIND: {added, removed, changed}} for the kinds
 * that changed, or NULL when none did. */
static struct json_object *schema_changes(struct json_object *s)
{
    static const char *const kinds[] = { "tools", "prompts", "resources", "resource_templates" };
    static const char *const moves[] = { "added", "removed", "changed" };
    struct json_object *out = NULL;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct json_object *d = js_get(s, kinds[i], json_type_object), *k = NULL;

        for (size_t m = 0; d != NULL && m < sizeof(moves) / sizeof(moves[0]); m++) {
            if (!nonempty_array(d, moves[m]))
                continue;
            if (k == NULL)
                k = json_object_new_object();
            json_object_object_add(k, moves[m], json_object_get(js_get(d, moves[m], json_type_array)));
        }
        if (k == NULL)
            continue;
        if (out == NULL) {
            out = json_object_new_object();
            json_object_object_add(out, "server_id", json_object_new_string(str_of(s, "server_id")));
            json_object_object_add(out, "name", json_object_new_string(str_of(s, "name")));
        }
        json_object_object_add(out, kinds[i], k);
    }
    return out;
}

/* Discover every server again; a tool (prompt, resource) added, removed or
 * whose schema hash changed is a schema change, logged and kept in the run's
 * detail. */
static int job_catalog(const struct leader_run *run, struct json_object *detail, char *err, size_t n)
{
    struct json_object *out = NULL, *refreshed, *changes;
    struct reg_error e = { 0 };
    size_t len;

    if (reg_refresh_all(run->app, &monitor_actor, &out, &e) != 0) {
        gw_snprintf(err, n, "catalog refresh: %s", e.detail);
        return -1;
    }
    changes = json_object_new_array();
    refreshed = js_get(out, "refreshed", json_type_array);
    len = refreshed != NULL ? json_object_array_length(refreshed) : 0;
    for (size_t i = 0; i < len; i++) {
        struct json_object *c = schema_changes(json_object_array_get_idx(refreshed, i));

        if (c == NULL)
            continue;
        log_warn("catalog_schema_changed", "server %s (%s) changed: %s", str_of(c, "name"),
                 str_of(c, "server_id"), json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN));
        json_object_array_add(changes, c);
    }
    json_object_object_add(detail, "refreshed", json_object_new_int((int)len));
    json_object_object_add(detail, "unavailable",
                           json_object_new_int((int)json_object_array_length(
                               js_get(out, "unavailable", json_type_array))));
    json_object_object_add(detail, "schema_changes", changes);
    json_object_put(out);
    return 0;
}

static int job_events(const struct leader_run *run, struct json_object *detail, char *err, size_t n)
{
    return events_deliver(run, detail, err, n);
}

static void reaped(struct json_object *detail, const char *key, int (*fn)(struct gw_app *),
                   struct gw_app *app)
{
    int v;

    if (fn == NULL) {
        json_object_object_add(detail, key, NULL); /* not in this build */
        return;
    }
    v = fn(app);
    json_object_object_add(detail, key, v < 0 ? json_object_new_string("error") : json_object_new_int(v));
}

/* Events the API could not put on the stream, expired task and resource
 * leases, and job runs past their keeping. */
static int job_cleanup(const struct leader_run *run, struct json_object *detail, char *err, size_t n)
{
    PGconn *c;
    PGresult *r;
    char ignored[256];
    int f;

    json_object_object_add(detail, "events_enqueued", json_object_new_int(events_enqueue_stragglers(run)));
    reaped(detail, "tasks_reaped", orch_tasks_reap_expired, run->app);
    reaped(detail, "allocations_reaped", pools_reap_expired, run->app);
    if ((c = pg_conn(run->app)) == NULL) {
        gw_strlcpy(err, "PostgreSQL is unavailable", n);
        return -1;
    }
    if (pg_exec(c, "BEGIN", err, n) != 0)
        return -1;
    if ((f = leader_fence(c, run->token, run->holder, err, n)) != 1) {
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        if (f == 0)
            gw_strlcpy(err, "fenced out: a newer leader has written", n);
        return -1;
    }
    r = PQexec(c, "DELETE FROM leader_job_runs WHERE started_at < now() - interval '" LEADER_RUNS_KEEP "'");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        gw_snprintf(err, n, "pruning job runs: %s", PQresultErrorMessage(r));
        PQclear(r);
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return -1;
    }
    json_object_object_add(detail, "runs_pruned", json_object_new_int(atoi(PQcmdTuples(r))));
    PQclear(r);
    return pg_exec(c, "COMMIT", err, n);
}
