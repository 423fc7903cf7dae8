/* Component health checks. Each check runs in its own thread with its own
 * connection and timeout; the report waits for each at most its deadline, so a
 * hung dependency can slow a report by its timeout but never stall it. */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "app.h"
#include "auth_jwks.h"
#include "config.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

#define UPSTREAMS_TIMEOUT_MS 5000   /* the registry read, like the postgres check */

enum check_kind { CHECK_POSTGRES, CHECK_REDIS, CHECK_HTTP, CHECK_JWKS, CHECK_UPSTREAMS };

struct check {
    const char *name;
    enum check_kind kind;
    int critical;            /* failure makes the gateway unhealthy */
    int timeout_ms;
    char target[CFG_STR_MAX]; /* DSN, Redis URL or URL */
    char ca_file[CFG_STR_MAX];
    char sentinels[CFG_STR_MAX];  /* Redis: ask these for the primary */
    char master_name[128];
    bool all_tenants;        /* upstreams: every tenant's, else tenant's and shared */
    char tenant[128];

    /* results, written by the thread under the lock */
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int done;
    int ok;
    long latency_ms;
    char error[512];
    struct json_object *detail; /* members added to the component (upstreams) */
    int refs;                /* 2 while both the thread and the report hold it */
};

static void check_release(struct check *k)
{
    int last;

    pthread_mutex_lock(k->lock);
    last = --k->refs == 0;
    pthread_mutex_unlock(k->lock);
    if (last) {
        json_object_put(k->detail);
        free(k);
    }
}

static int run_postgres(struct check *k, char *err, size_t n)
{
    int64_t t0 = gw_monotonic_ms();
    PGconn *c = pg_connect_within(k->target, k->timeout_ms, err, n);
    int rc;

    if (c == NULL)
        return -1;
    /* What is left of the check's time, so that connect plus query stay
     * within it and a stalled server never holds this thread for good. */
    rc = pg_ping(c, (int)(k->timeout_ms - (gw_monotonic_ms() - t0)), err, n);
    PQfinish(c);
    return rc;
}

static int run_redis(struct check *k, char *err, size_t n)
{
    redisContext *c = rds_connect(k->target, k->sentinels, k->master_name, k->timeout_ms, err, n);
    redisReply *r;
    int ok;

    if (c == NULL)
        return -1;
    r = redisCommand(c, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (!ok && r != NULL)
        snprintf(err, n, "PING failed: %s", r->str ? r->str : "unexpected reply");
    else if (!ok)
        rds_describe_error(c, err, n);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return ok ? 0 : -1;
}

static size_t discard(char *p, size_t sz, size_t nm, void *arg)
{
    (void)p;
    (void)arg;
    return sz * nm;
}

/* A plane through its public URL: the web server and a responder answer 200. */
static int run_http(struct check *k, char *err, size_t n)
{
    CURL *h = curl_easy_init();
    long code = 0;
    CURLcode rc;
    int ok = -1;

    if (h == NULL) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, k->target);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mcp-gateway-health");
    if (k->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(err, n, "%s: %s", k->target, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200)
            ok = 0;
        else
            snprintf(err, n, "%s answered HTTP %ld", k->target, code);
    }
    curl_easy_cleanup(h);
    return ok;
}

/* The identity provider with the gateway's own JWKS fetch and parser, so the
 * check follows the same rules (loopback-only http://, no proxy for it, size
 * limit, CA bundle) and counts only keys that could verify a token. */
static int run_jwks(struct check *k, char *err, size_t n)
{
    struct gw_config cfg;

    cfg_defaults(&cfg);
    gw_strlcpy(cfg.auth_ca_file, k->ca_file, sizeof(cfg.auth_ca_file));
    cfg.auth_jwks_timeout_ms = k->timeout_ms;
    return jwks_check(&cfg, k->target, err, n);
}

/* The upstreams as the registry's health probes left them (servers.status),
 * not probes of their own: the check costs one query on its own connection,
 * whatever the upstreams do. Degraded when one is out of service without
 * being in maintenance. */
static int run_upstreams(struct check *k, char *err, size_t n)
{
    static const char sql[] =
        "SELECT name, status, maintenance, last_health_status,"
        " to_json(last_health_at) #>> '{}', last_latency_ms"
        " FROM servers WHERE $1::boolean OR tenant_id IS NULL OR tenant_id = $2 ORDER BY name, id";
    const char *params[2] = { k->all_tenants ? "true" : "false", k->tenant };
    int64_t t0 = gw_monotonic_ms();
    PGconn *c = pg_connect_within(k->target, k->timeout_ms, err, n);
    struct json_object *d, *list;
    PGresult *r;
    int bad = 0, total;

    if (c == NULL)
        return -1;
    r = pg_exec_within(c, "the registry's health", sql, 2, params, (int)(k->timeout_ms - (gw_monotonic_ms() - t0)),
                       err, n);
    PQfinish(c);
    if (r == NULL)
        return -1;
    d = json_object_new_object();
    list = json_object_new_array();
    total = PQntuples(r);
    for (int i = 0; i < total; i++) {
        struct json_object *s = json_object_new_object();
        bool maint = strcmp(PQgetvalue(r, i, 2), "t") == 0;

        json_object_object_add(s, "name", json_object_new_string(PQgetvalue(r, i, 0)));
        json_object_object_add(s, "status", json_object_new_string(PQgetvalue(r, i, 1)));
        json_object_object_add(s, "maintenance", json_object_new_boolean(maint));
        json_object_object_add(s, "last_health_status",
                               PQgetisnull(r, i, 3) ? NULL : json_object_new_string(PQgetvalue(r, i, 3)));
        json_object_object_add(s, "checked_at",
                               PQgetisnull(r, i, 4) ? NULL : json_object_new_string(PQgetvalue(r, i, 4)));
        json_object_object_add(s, "latency_ms", PQgetisnull(r, i, 5) ? NULL
                                                : json_object_new_int64(strtoll(PQgetvalue(r, i, 5), NULL, 10)));
        json_object_array_add(list, s);
        if (!maint && strcmp(PQgetvalue(r, i, 1), "active") != 0)
            bad++;
    }
    PQclear(r);
    json_object_object_add(d, "total", json_object_new_int(total));
    json_object_object_add(d, "not_active", json_object_new_int(bad));
    json_object_object_add(d, "servers", list);
    pthread_mutex_lock(k->lock);
    k->detail = d;
    pthread_mutex_unlock(k->lock);
    if (bad > 0) {
        snprintf(err, n, "%d of %d upstream servers are unhealthy or unreachable", bad, total);
        return -1;
    }
    return 0;
}

static void *check_thread(void *arg)
{
    struct check *k = arg;
    char err[512] = "";
    int64_t t0 = gw_monotonic_ms();
    int rc;

    switch (k->kind) {
    case CHECK_POSTGRES: rc = run_postgres(k, err, sizeof(err)); break;
    case CHECK_REDIS: rc = run_redis(k, err, sizeof(err)); break;
    case CHECK_JWKS: rc = run_jwks(k, err, sizeof(err)); break;
    case CHECK_UPSTREAMS: rc = run_upstreams(k, err, sizeof(err)); break;
    default: rc = run_http(k, err, sizeof(err)); break;
    }
    pthread_mutex_lock(k->lock);
    k->ok = rc == 0;
    k->latency_ms = (long)(gw_monotonic_ms() - t0);
    /* The answer of /health/components must not carry a DSN's or URL's password. */
    gw_mask_secrets(err, k->error, sizeof(k->error));
    k->done = 1;
    pthread_cond_broadcast(k->cond);
    pthread_mutex_unlock(k->lock);
    check_release(k);
    return NULL;
}

static struct check *new_check(const char *name, enum check_kind kind, int critical,
                               int timeout_ms, const char *target, const char *ca)
{
    struct check *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->name = name;
    k->kind = kind;
    k->critical = critical;
    k->timeout_ms = timeout_ms;
    gw_strlcpy(k->target, target, sizeof(k->target));
    gw_strlcpy(k->ca_file, ca ? ca : "", sizeof(k->ca_file));
    return k;
}

struct json_object *health_components(const struct gw_config *cfg, const struct health_scope *scope,
                                      int *unhealthy)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct check *checks[7];
    size_t n = 0;
    char url[CFG_STR_MAX + 64];
    struct json_object *report, *comps, *degraded, *failed;
    int any_failed_critical = 0, any_degraded = 0;
    char ts[32];
    struct timespec started;

    checks[n++] = new_check("postgres", CHECK_POSTGRES, 1, 5000, cfg->pg_dsn, NULL);
    checks[n++] = new_check("redis", CHECK_REDIS, 1, 3000, cfg->redis_url, NULL);
    if (checks[n - 1] != NULL) {
        gw_strlcpy(checks[n - 1]->sentinels, cfg->redis_sentinels, sizeof(checks[n - 1]->sentinels));
        gw_strlcpy(checks[n - 1]->master_name, cfg->redis_master_name,
                   sizeof(checks[n - 1]->master_name));
    }
    snprintf(url, sizeof(url), "%s/health", cfg->api_url);
    checks[n++] = new_check("api_plane", CHECK_HTTP, 0, 5000, url, cfg->ca_file);
    snprintf(url, sizeof(url), "%s/.well-known/oauth-protected-resource", cfg->mcp_url);
    checks[n++] = new_check("mcp_plane", CHECK_HTTP, 0, 5000, url, cfg->ca_file);
    if (cfg->auth_jwks_uri[0] != '\0')
        checks[n++] = new_check("identity_provider", CHECK_JWKS, 0, 15000, cfg->auth_jwks_uri,
                                cfg->auth_ca_file);
    if (scope != NULL) {
        checks[n++] = new_check("upstreams", CHECK_UPSTREAMS, 0, UPSTREAMS_TIMEOUT_MS, cfg->pg_dsn, NULL);
        if (checks[n - 1] != NULL) {
            checks[n - 1]->all_tenants = scope->tenant == NULL;
            gw_strlcpy(checks[n - 1]->tenant, scope->tenant != NULL ? scope->tenant : "",
                       sizeof(checks[n - 1]->tenant));
        }
    }

    clock_gettime(CLOCK_REALTIME, &started);
    for (size_t i = 0; i < n; i++) {
        pthread_t t;

        if (checks[i] == NULL)
            continue;
        checks[i]->lock = &lock;
        checks[i]->cond = &cond;
        checks[i]->refs = 2;
        if (pthread_create(&t, NULL, check_thread, checks[i]) != 0) {
            checks[i]->refs = 1;
            checks[i]->done = 1;
            snprintf(checks[i]->error, sizeof(checks[i]->error), "cannot start check thread");
            continue;
        }
        pthread_detach(t);
    }

    report = json_object_new_object();
    comps = json_object_new_object();
    degraded = json_object_new_array();
    failed = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct check *k = checks[i];
        struct json_object *c;
        struct timespec deadline;
        const char *status;
        int done, ok;
        long latency;
        char error[sizeof(k->error)];
        struct json_object *detail;

        if (k == NULL)
            continue;
        /* Deadlines count from the start of all checks, so hung
         * dependencies overlap instead of adding up. */
        deadline = started;
        deadline.tv_sec += (k->timeout_ms + 500) / 1000 + 1;
        pthread_mutex_lock(&lock);
        while (!k->done) {
            if (pthread_cond_timedwait(&cond, &lock, &deadline) == ETIMEDOUT)
                break;
        }
        done = k->done;
        ok = k->ok;
        latency = k->latency_ms;
        detail = done ? k->detail : NULL;
        if (detail != NULL)
            k->detail = NULL;
        if (done)
            gw_strlcpy(error, k->error, sizeof(error));
        else
            snprintf(error, sizeof(error), "timeout: no answer within %d ms", k->timeout_ms);
        pthread_mutex_unlock(&lock);

        c = json_object_new_object();
        status = done && ok ? "healthy" : (k->critical ? "unhealthy" : "degraded");
        json_object_object_add(c, "status", json_object_new_string(status));
        json_object_object_add(c, "critical", json_object_new_boolean(k->critical));
        json_object_object_add(c, "latency_ms", json_object_new_int64(done ? latency : k->timeout_ms));
        json_object_object_add(c, "timeout_ms", json_object_new_int(k->timeout_ms));
        if (detail != NULL) {
            json_object_object_foreach(detail, key, val)
                json_object_object_add(c, key, json_object_get(val));
            json_object_put(detail);
        }
        if (!(done && ok)) {
            json_object_object_add(c, "error", json_object_new_string(error));
            if (k->critical) {
                any_failed_critical = 1;
                json_object_array_add(failed, json_object_new_string(k->name));
            } else {
                any_degraded = 1;
                json_object_array_add(degraded, json_object_new_string(k->name));
            }
        }
        json_object_object_add(comps, k->name, c);
        check_release(k);
    }
    gw_iso8601(gw_now_ms(), ts);
    json_object_object_add(report, "overall_status",
                           json_object_new_string(any_failed_critical ? "unhealthy"
                                                  : any_degraded   ? "degraded"
                                                                   : "healthy"));
    json_object_object_add(report, "components", comps);
    json_object_object_add(report, "degraded_services", degraded);
    json_object_object_add(report, "failed_services", failed);
    json_object_object_add(report, "timestamp", json_object_new_string(ts));
    *unhealthy = any_failed_critical;
    return report;
}

int health_ready(struct gw_app *app, char *why, size_t n)
{
    /* One budget for both stores, so that a probe is answered in about
     * server.ready_timeout_ms whatever they do: a hung store fails the
     * probe at the deadline, and its back-off answers the next ones at once. */
    int64_t deadline = gw_monotonic_ms() + app->cfg.ready_timeout_ms;
    int64_t left;

    if (rds_ping_within(app, app->cfg.ready_timeout_ms, why, n) != 0)
        return -1;
    left = deadline - gw_monotonic_ms();
    if (left <= 0) {
        snprintf(why, n, "PostgreSQL not checked: Redis took the whole %d ms",
                 app->cfg.ready_timeout_ms);
        return -1;
    }
    return pg_ping_within(app, (int)left, why, n);
}
