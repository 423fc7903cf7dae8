/* Quality gate runs: each check delegated to its routed agent or run built in,
 * fail fast on a critical failure, the run stored with its audit row. */
#include "gates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "log.h"
#include "registry.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

#define RUNS_LIMIT_MAX 200

const struct gate_def *gates_find(const char *name)
{
    size_t n;
    const struct gate_def *t = gates_table(&n);

    for (size_t i = 0; name != NULL && i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

const char *gates_severity_name(enum gate_severity s)
{
    switch (s) {
    case GATE_SEV_CRITICAL: return "critical";
    case GATE_SEV_MAJOR: return "major";
    default: return "minor";
    }
}

const char *gates_check_status_name(enum gate_check_status s)
{
    switch (s) {
    case GATE_CHECK_PASSED: return "passed";
    case GATE_CHECK_FAILED: return "failed";
    case GATE_CHECK_ERROR: return "error";
    default: return "skipped";
    }
}

static struct json_object *result_json(const struct gate_check *c, enum gate_check_status st,
                                       const char *detail, long long ms, const char *agent)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "check", json_object_new_string(c->name));
    json_object_object_add(o, "severity", json_object_new_string(gates_severity_name(c->severity)));
    json_object_object_add(o, "status", json_object_new_string(gates_check_status_name(st)));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    json_object_object_add(o, "duration_ms", json_object_new_int64(ms));
    json_object_object_add(o, "delegated_to", agent != NULL && agent[0] != '\0'
                                                  ? json_object_new_string(agent) : NULL);
    return o;
}

const char *gates_execute(struct gate_ctx *g, const struct gate_def *def, struct json_object *results,
                          const char **failed_check)
{
    int failed = 0;
    const struct gate_check *stopped_at = NULL;

    *failed_check = NULL;
    for (size_t i = 0; i < def->n; i++) {
        const struct gate_check *c = &def->checks[i];
        enum gate_check_status st = GATE_CHECK_ERROR;
        char detail[1024] = "", agent[128] = "", err[512];
        int64_t t0 = gw_monotonic_ms();
        int rc;

        if (stopped_at != NULL) {
            gw_snprintf(detail, sizeof(detail), "not run: the critical check %s did not pass",
                        stopped_at->name);
            json_object_array_add(results, result_json(c, GATE_CHECK_SKIPPED, detail, 0, NULL));
            continue;
        }
        rc = gates_delegate(g, c, &st, detail, sizeof(detail), agent, sizeof(agent), err, sizeof(err));
        if (rc < 0) {
            st = GATE_CHECK_ERROR;
            gw_snprintf(detail, sizeof(detail), "delegation to agent %s failed: %s", agent, err);
        } else if (rc == 0) {
            rc = c->run(g, detail, sizeof(detail));
            st = rc == 0 ? GATE_CHECK_PASSED : rc > 0 ? GATE_CHECK_FAILED : GATE_CHECK_ERROR;
        }
        json_object_array_add(results, result_json(c, st, detail, gw_monotonic_ms() - t0, agent));
        log_info("gate_check", "gate %s run %s: %s (%s) %s: %s", def->name, g->run_id, c->name,
                 gates_severity_name(c->severity), gates_check_status_name(st), detail);
        if (st == GATE_CHECK_PASSED || c->severity == GATE_SEV_MINOR)
            continue;
        failed = 1;
        if (c->severity == GATE_SEV_CRITICAL) {
            stopped_at = c;
            *failed_check = c->name;
        }
    }
    return failed ? "failed" : "passed";
}

void gate_ctx_free(struct gate_ctx *g)
{
    if (g->key_state == 1)
        authdev_key_free(&g->key);
    g->key_state = 0;
}

static void rollback(PGconn *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
}

/* The run row and its audit row in one transaction. */
static int store_run(struct gw_app *app, struct json_object *run, const struct gw_identity *who,
                     char *err, size_t n)
{
    PGconn *pg = pg_conn(app);
    struct json_object *tv = json_object_object_get(run, "tenant_id");
    const char *tenant = tv != NULL ? json_object_get_string(tv) : NULL;
    const char *p[8];
    PGresult *r;
    struct json_object *detail;
    int rc = -1;

    if (pg == NULL) {
        gw_strlcpy(err, "PostgreSQL unavailable", n);
        return -1;
    }
    if (PQtransactionStatus(pg) != PQTRANS_IDLE)
        rollback(pg);
    r = PQexec(pg, "BEGIN");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        gw_snprintf(err, n, "BEGIN: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    p[0] = json_object_get_string(json_object_object_get(run, "id"));
    p[1] = json_object_get_string(json_object_object_get(run, "gate"));
    p[2] = json_object_get_string(json_object_object_get(run, "status"));
    p[3] = json_object_get_string(json_object_object_get(run, "started_at"));
    p[4] = json_object_get_string(json_object_object_get(run, "finished_at"));
    p[5] = json_object_get_string(json_object_object_get(run, "triggered_by"));
    p[6] = tenant;
    p[7] = json_object_to_json_string_ext(json_object_object_get(run, "results"), JSON_C_TO_STRING_PLAIN);
    r = PQexecParams(pg,
                     "INSERT INTO gate_runs (id, gate, status, started_at, finished_at, triggered_by,"
                     " tenant_id, results) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                     8, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        gw_snprintf(err, n, "storing the run: %s", PQresultErrorMessage(r));
        PQclear(r);
        rollback(pg);
        return -1;
    }
    PQclear(r);
    detail = json_object_new_object();
    json_object_object_add(detail, "gate", json_object_new_string(p[1]));
    json_object_object_add(detail, "status", json_object_new_string(p[2]));
    json_object_object_add(detail, "failed_check", json_object_get(json_object_object_get(run, "failed_check")));
    {
        struct audit_entry e = {
            .action = "gate.run", .outcome = strcmp(p[2], "passed") == 0 ? "success" : "failure",
            .actor_user = who != NULL ? who->user_id : "cli",
            .actor_tenant = who != NULL && who->tenant_id[0] != '\0' ? who->tenant_id : NULL,
            .target_type = "gate_run", .target_id = p[0], .tenant_id = tenant,
            .request_id = log_request_id(), .detail = detail,
        };

        if (e.request_id == NULL || e.request_id[0] == '\0')
            e.request_id = p[0];
        if (audit_append(pg, &e, err, n) == 0) {
            r = PQexec(pg, "COMMIT");
            if (PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
                rc = 0;
            else
                gw_snprintf(err, n, "COMMIT: %s", PQresultErrorMessage(r));
            PQclear(r);
        }
    }
    json_object_put(detail);
    if (rc != 0)
        rollback(pg);
    return rc;
}

/* --- one run at a time per tenant and gate (API and MCP) ---------------------
 * A run holds its responder while its probes need others: runs of one tenant
 * are not allowed to pile up. The lock's value is the run id; it lives as long
 * as the longest run could (each check at most 8 requests of
 * gates.timeout_ms), so a responder that dies mid-run frees it in time. */

#define GATE_CHECK_REQUESTS_MAX 8

/* A key without expiry is none of ours (ours always have one): taken over,
 * rather than blocking the tenant's runs for good. */
static struct rds_script lock_script = { .src =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end\n"
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl == -1 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {1} end\n"
    "return {0, redis.call('GET', KEYS[1]) or '', ttl}\n" };

static int lock_key(struct gw_app *app, const struct gw_identity *who, const struct gate_def *def,
                    char *key, size_t n)
{
    return rds_key(app, key, n, "gate:running:%s:%s", def->name, who->tenant_id);
}

/* 0 taken (or Redis cannot say: the run goes ahead, the gate's own checks
 * report Redis), or the seconds until the run under way ends at the latest,
 * with err naming it. */
static int run_lock_take(struct gw_app *app, const struct gw_identity *who, const struct gate_def *def,
                         const char *run_id, char *err, size_t n)
{
    char key[256], ttl[32];
    const char *argv[3] = { key, run_id, ttl };
    long long ms = (long long)def->n * GATE_CHECK_REQUESTS_MAX * app->cfg.gates_timeout_ms;
    redisReply *r;
    int wait_s = 0;

    if (lock_key(app, who, def, key, sizeof(key)) != 0)
        return 0;
    snprintf(ttl, sizeof(ttl), "%lld", ms);
    r = rds_eval(app, &lock_script, 1, 3, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        log_warn("gate_run_unlocked", "gate %s run %s: no lock in Redis (%s); the run goes ahead",
                 def->name, run_id, r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
    } else if (r->element[0]->integer == 0 && r->elements == 3) {
        long long left = r->element[2]->type == REDIS_REPLY_INTEGER ? r->element[2]->integer : 0;

        /* Whoever writes to Redis sets the key's life: no more than a run's. */
        if (left <= 0 || left > ms)
            left = left <= 0 ? 1 : ms;
        wait_s = (int)((left + 999) / 1000);
        gw_snprintf(err, n, "a run of gate %s for tenant '%s' is under way (run %.36s); retry in %d s",
                    def->name, who->tenant_id,
                    r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?", wait_s);
    }
    if (r != NULL)
        freeReplyObject(r);
    return wait_s;
}

static void run_lock_release(struct gw_app *app, const struct gw_identity *who, const struct gate_def *def,
                             const char *run_id)
{
    char key[256];

    if (lock_key(app, who, def, key, sizeof(key)) == 0)
        rds_del_if(app, key, run_id);
}

int gates_run(struct gw_app *app, const struct gw_identity *who, const char *name,
              struct json_object **run, char *err, size_t n)
{
    const struct gate_def *def = gates_find(name);
    struct gate_ctx g = { .app = app, .who = who };
    struct json_object *o, *results;
    const char *status, *failed_check;
    char ts[32], serr[512];
    int busy;

    *run = NULL;
    if (def == NULL) {
        gw_snprintf(err, n, "no gate named '%s' (pre_deployment, post_deployment, security_validation)",
                    name != NULL ? name : "");
        return -1;
    }
    if (gw_uuid(g.run_id) != 0) {
        gw_strlcpy(err, "no randomness for the run id", n);
        return -1;
    }
    /* The CLI (who NULL) is the platform's own tool: not limited. */
    if (who != NULL && (busy = run_lock_take(app, who, def, g.run_id, err, n)) > 0)
        return busy;
    o = json_object_new_object();
    results = json_object_new_array();
    json_object_object_add(o, "id", json_object_new_string(g.run_id));
    json_object_object_add(o, "gate", json_object_new_string(def->name));
    gw_iso8601(gw_now_ms(), ts);
    json_object_object_add(o, "started_at", json_object_new_string(ts));
    status = gates_execute(&g, def, results, &failed_check);
    gw_iso8601(gw_now_ms(), ts);
    json_object_object_add(o, "status", json_object_new_string(status));
    json_object_object_add(o, "finished_at", json_object_new_string(ts));
    json_object_object_add(o, "triggered_by", json_object_new_string(who != NULL ? who->user_id : "cli"));
    json_object_object_add(o, "tenant_id", who != NULL && who->tenant_id[0] != '\0'
                                               ? json_object_new_string(who->tenant_id) : NULL);
    json_object_object_add(o, "failed_check", failed_check != NULL ? json_object_new_string(failed_check)
                                                                   : NULL);
    json_object_object_add(o, "results", results);
    gate_ctx_free(&g);
    if (who != NULL)
        run_lock_release(app, who, def, g.run_id);
    if (store_run(app, o, who, serr, sizeof(serr)) != 0) {
        /* A gate that finds PostgreSQL down still reports: the run is only not kept. */
        log_warn("gate_run_not_stored", "gate %s run %s (%s) not stored: %s", def->name, g.run_id, status,
                 serr);
        json_object_object_add(o, "stored", json_object_new_boolean(0));
        json_object_object_add(o, "store_error", json_object_new_string(serr));
    } else {
        json_object_object_add(o, "stored", json_object_new_boolean(1));
    }
    *run = o;
    return 0;
}

static struct json_object *row_json(PGresult *r, int i)
{
    struct json_object *o = json_object_new_object(), *results;
    static const char *const cols[] = { "id", "gate", "status", "started_at", "finished_at",
                                        "triggered_by", "tenant_id" };

    for (int c = 0; c < (int)GW_ARRAY_LEN(cols); c++)
        json_object_object_add(o, cols[c], PQgetisnull(r, i, c) ? NULL
                                                                : json_object_new_string(PQgetvalue(r, i, c)));
    results = json_tokener_parse(PQgetvalue(r, i, 7));
    json_object_object_add(o, "results", results != NULL ? results : json_object_new_array());
    return o;
}

#define RUN_COLS "id::text, gate, status," \
    " to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')," \
    " to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')," \
    " triggered_by, tenant_id, results::text"

/* The stored runs a query selects (RUN_COLS), as JSON objects: 0 with the
 * result (caller clears it), or -1 with err. */
static int query_runs(struct gw_app *app, const char *sql, int np, const char *const *p, PGresult **out,
                      char *err, size_t n)
{
    PGconn *pg = pg_conn(app);

    *out = NULL;
    if (pg == NULL) {
        gw_strlcpy(err, "PostgreSQL unavailable", n);
        return -1;
    }
    *out = PQexecParams(pg, sql, np, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(*out) != PGRES_TUPLES_OK) {
        gw_snprintf(err, n, "%s", PQresultErrorMessage(*out));
        PQclear(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

int gates_runs_list(struct gw_app *app, const char *gate, const char *tenant, int limit,
                    struct json_object **runs, char *err, size_t n)
{
    char lim[16];
    const char *p[3] = { gate, tenant, lim };
    PGresult *r;

    *runs = NULL;
    snprintf(lim, sizeof(lim), "%d", limit < 1 ? 20 : limit > RUNS_LIMIT_MAX ? RUNS_LIMIT_MAX : limit);
    if (query_runs(app,
                   "SELECT " RUN_COLS " FROM gate_runs WHERE gate = $1"
                   " AND ($2::text IS NULL OR tenant_id = $2) ORDER BY started_at DESC, id LIMIT $3::int",
                   3, p, &r, err, n) != 0)
        return -1;
    *runs = json_object_new_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_object_array_add(*runs, row_json(r, i));
    PQclear(r);
    return 0;
}

int gates_run_get(struct gw_app *app, const char *id, const char *tenant, struct json_object **run,
                  char *err, size_t n)
{
    const char *p[2] = { id, tenant };
    PGresult *r;
    int rc;

    *run = NULL;
    /* Not a UUID: no such run (not a database error). */
    if (!reg_uuid_valid(id))
        return 1;
    if (query_runs(app,
                   "SELECT " RUN_COLS " FROM gate_runs WHERE id = $1::uuid AND ($2::text IS NULL OR tenant_id = $2)",
                   2, p, &r, err, n) != 0)
        return -1;
    rc = PQntuples(r) == 1 ? 0 : 1;
    if (rc == 0)
        *run = row_json(r, 0);
    PQclear(r);
    return rc;
}
