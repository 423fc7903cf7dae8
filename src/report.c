/* The system report: the seed's five specialist reports (security,
 * performance, health, deployment, protocol compliance) computed from the
 * audit log, the registry, the pools and the component checks, and
 * recommendations drawn from what they found. */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "build-config.h"
#include "health.h"
#include "js.h"
#include "log.h"
#include "mcp/catalog.h"
#include "mcp/transport.h"
#include "pools.h"
#include "routes.h"
#include "store_pg.h"
#include "util.h"

#define DENIED_WARN 50          /* denied requests a day worth a look */
#define ERROR_RATE_MIN_CALLS 20 /* tool calls before an error rate means something */
#define ERROR_RATE_WARN 0.05
#define POOL_WARN 0.8           /* share of a pool in use worth a warning */
#define GATES_TABLE "gate_runs"

struct report {
    struct gw_app *app;
    const char *tenant;          /* NULL: the whole fleet */
    bool platform;
    PGconn *pg;
    struct json_object *recs;    /* recommendations */
};

static void recommend(struct report *r, const char *severity, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void recommend(struct report *r, const char *severity, const char *area, const char *fmt, ...)
{
    struct json_object *o = json_object_new_object();
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_object_add(o, "severity", json_object_new_string(severity));
    json_object_object_add(o, "area", json_object_new_string(area));
    json_object_object_add(o, "message", json_object_new_string(msg));
    json_object_array_add(r->recs, o);
}

/* One query, with the tenant scope as $1 when it names $1; NULL (and a note in section) on failure. */
static PGresult *query(struct report *r, struct json_object *section, const char *sql)
{
    const char *params[1] = { r->tenant };
    int np = strstr(sql, "$1") != NULL ? 1 : 0;
    PGresult *res;

    if (r->pg == NULL) {
        json_object_object_add(section, "error", json_object_new_string("PostgreSQL cannot be reached"));
        return NULL;
    }
    res = PQexecParams(r->pg, sql, np, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn("report_query_failed", "%s", PQerrorMessage(r->pg));
        json_object_object_add(section, "error", json_object_new_string(PQerrorMessage(r->pg)));
        PQclear(res);
        return NULL;
    }
    return res;
}

static long long cell_ll(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static struct json_object *cell_num(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : json_object_new_double(strtod(PQgetvalue(res, row, col), NULL));
}

/* ---- security status ----------------------------------------------------------------- */

static struct json_object *security_status(struct report *r)
{
    const struct gw_config *cfg = &r->app->cfg;
    struct json_object *s = json_object_new_object(), *conf = json_object_new_object();
    PGresult *res;
    bool any_tenant = strcmp(cfg->auth_allowed_tenants, "*") == 0;

    res = query(r, s, "SELECT count(*) FILTER (WHERE outcome = 'denied'),"
                      " count(*) FILTER (WHERE outcome = 'denied' AND detail->>'status' = '401'),"
                      " count(*) FILTER (WHERE outcome = 'denied' AND detail->>'status' = '403')"
                      " FROM audit_log WHERE ts > now() - interval '24 hours'"
                      " AND ($1::text IS NULL OR tenant_id = $1 OR actor_tenant = $1)");
    if (res != NULL) {
        long long denied = cell_ll(res, 0, 0);

        json_object_object_add(s, "denied_requests_24h", json_object_new_int64(denied));
        json_object_object_add(s, "unauthenticated_24h", json_object_new_int64(cell_ll(res, 0, 1)));
        json_object_object_add(s, "forbidden_24h", json_object_new_int64(cell_ll(res, 0, 2)));
        if (denied >= DENIED_WARN)
            recommend(r, "warning", "security",
                      "%lld requests were denied in the last 24 hours: review GET /api/v1/audit?outcome=denied "
                      "for clients with stale tokens or probing", denied);
        PQclear(res);
    }
    /* The chain spans every tenant: only a platform_admin's report walks it. */
    if (r->platform && r->pg != NULL) {
        struct audit_verdict v;
        struct json_object *a = json_object_new_object();
        char err[512];

        if (audit_verify(r->pg, &v, err, sizeof(err)) == 0) {
            json_object_object_add(a, "ok", json_object_new_boolean(v.ok));
            json_object_object_add(a, "rows", json_object_new_int64(v.rows));
            if (!v.ok) {
                json_object_object_add(a, "broken_id", json_object_new_int64(v.broken_id));
                json_object_object_add(a, "reason", json_object_new_string(v.reason));
                recommend(r, "critical", "security",
                          "the audit chain is broken at row %lld (%s): treat the log as tampered with", v.broken_id,
                          v.reason);
            }
        } else {
            json_object_object_add(a, "error", json_object_new_string(err));
        }
        json_object_object_add(s, "audit_chain", a);
    }
    json_object_object_add(conf, "development_issuer", json_object_new_boolean(cfg->auth_dev_issuer_key[0] != '\0'));
    json_object_object_add(conf, "any_tenant_allowed", json_object_new_boolean(any_tenant));
    json_object_object_add(conf, "fleet_key", json_object_new_boolean(cfg->fleet_key_file[0] != '\0'));
    json_object_object_add(conf, "credential_sealing_key", json_object_new_boolean(cfg->secret_key_file[0] != '\0'));
    json_object_object_add(conf, "allowed_networks", json_object_new_string(cfg->upstream_allowed_networks));
    json_object_object_add(s, "configuration", conf);
    if (cfg->auth_dev_issuer_key[0] != '\0')
        recommend(r, "warning", "security",
                  "the development token issuer is trusted (auth.dev_issuer_key): remove it outside development");
    if (any_tenant)
        recommend(r, "warning", "security",
                  "auth.allowed_tenants is '*': every tenant of the issuer may sign in; list the tenants you serve");
    if (cfg->fleet_key_file[0] == '\0')
        recommend(r, "info", "security",
                  "security.fleet_key_file is not set: the JWKS copy and the catalog in Redis are not trusted "
                  "and every responder reads them from their sources");
    return s;
}

/* ---- performance metrics ------------------------------------------------------------- */

static struct json_object *performance_metrics(struct report *r)
{
    struct json_object *p = json_object_new_object(), *calls = json_object_new_object(), *pools, *v;
    const struct cat_snapshot *snap = NULL;
    char why[256];
    PGresult *res;

    res = query(r, p, "SELECT count(*), count(*) FILTER (WHERE outcome <> 'success'),"
                      " percentile_cont(0.5) WITHIN GROUP (ORDER BY (detail->>'duration_ms')::numeric),"
                      " percentile_cont(0.95) WITHIN GROUP (ORDER BY (detail->>'duration_ms')::numeric),"
                      " max((detail->>'duration_ms')::numeric)"
                      " FROM audit_log WHERE action = 'tool_call' AND ts > now() - interval '1 hour'"
                      " AND ($1::text IS NULL OR tenant_id = $1)");
    if (res != NULL) {
        long long n = cell_ll(res, 0, 0), failed = cell_ll(res, 0, 1);

        json_object_object_add(calls, "count", json_object_new_int64(n));
        json_object_object_add(calls, "failed", json_object_new_int64(failed));
        json_object_object_add(calls, "error_rate", json_object_new_double(n > 0 ? (double)failed / (double)n : 0));
        json_object_object_add(calls, "p50_ms", cell_num(res, 0, 2));
        json_object_object_add(calls, "p95_ms", cell_num(res, 0, 3));
        json_object_object_add(calls, "max_ms", cell_num(res, 0, 4));
        if (!PQgetisnull(res, 0, 3) && strtod(PQgetvalue(res, 0, 3), NULL) > 0.8 * r->app->cfg.upstream_timeout_ms)
            recommend(r, "warning", "performance",
                      "tool calls' p95 of %.0f ms is near upstream.timeout_ms (%d): find the slow upstream "
                      "before calls start timing out", strtod(PQgetvalue(res, 0, 3), NULL),
                      r->app->cfg.upstream_timeout_ms);
        PQclear(res);
    }
    json_object_object_add(p, "tool_calls_last_hour", calls);
    /* The server whose calls fail most, when enough calls were made. */
    res = query(r, p, "SELECT detail->'server'->>'name' AS s, count(*),"
                      " count(*) FILTER (WHERE outcome <> 'success')"
                      " FROM audit_log WHERE action = 'tool_call' AND ts > now() - interval '1 hour'"
                      " AND ($1::text IS NULL OR tenant_id = $1)"
                      " GROUP BY s ORDER BY 3 DESC, 2 DESC LIMIT 10");
    if (res != NULL) {
        struct json_object *by = json_object_new_array();

        for (int i = 0; i < PQntuples(res); i++) {
            struct json_object *o = json_object_new_object();
            long long n = cell_ll(res, i, 1), failed = cell_ll(res, i, 2);

            json_object_object_add(o, "server", PQgetisnull(res, i, 0) ? NULL
                                                                       : json_object_new_string(PQgetvalue(res, i, 0)));
            json_object_object_add(o, "count", json_object_new_int64(n));
            json_object_object_add(o, "failed", json_object_new_int64(failed));
            json_object_array_add(by, o);
            if (n >= ERROR_RATE_MIN_CALLS && (double)failed / (double)n > ERROR_RATE_WARN)
                recommend(r, "warning", "performance",
                          "%lld of %lld tool calls to server '%s' failed in the last hour: check its health and logs",
                          failed, n, PQgetisnull(res, i, 0) ? "?" : PQgetvalue(res, i, 0));
        }
        json_object_object_add(p, "tool_calls_by_server", by);
        PQclear(res);
    }
    if (cat_current(r->app, &snap, why, sizeof(why)) != CAT_OK)
        snap = NULL;
    pools = pools_describe(r->app, snap, NULL);
    if (pools != NULL && json_object_object_get_ex(pools, "pools", &v)) {
        struct json_object *mine = json_object_new_array();

        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            int cap = json_object_get_int(js_get(e, "capacity", json_type_int));
            int used = json_object_get_int(js_get(e, "in_use", json_type_int));
            const char *sid = js_str(e, "server_id");

            /* Upstream pools of servers the caller may see only. */
            if (sid != NULL && !r->platform) {
                bool seen = false;

                for (size_t k = 0; snap != NULL && k < snap->n; k++)
                    if (strcmp(snap->servers[k].id, sid) == 0)
                        seen = snap->servers[k].tenant_id[0] == '\0' ||
                               (r->tenant != NULL && strcmp(snap->servers[k].tenant_id, r->tenant) == 0);
                if (!seen)
                    continue;
            }
            json_object_array_add(mine, json_object_get(e));
            if (cap > 0 && used >= POOL_WARN * cap)
                recommend(r, "warning", "performance",
                          "pool %s has %d of %d in use: raise its capacity (%s) or spread the load",
                          js_str(e, "name"), used, cap,
                          sid != NULL ? "the server's max_concurrency" : "[resources] configuration");
        }
        json_object_object_add(p, "resource_pools", mine);
    } else {
        json_object_object_add(p, "resource_pools", NULL);
    }
    json_object_put(pools);
    return p;
}

/* ---- system health ------------------------------------------------------------------- */

static struct json_object *system_health(struct report *r)
{
    int unhealthy = 0;
    struct health_scope scope = { .tenant = r->tenant };
    struct json_object *h = health_components(&r->app->cfg, &scope, &unhealthy), *v, *servers;
    if (json_object_object_get_ex(h, "failed_services", &v))
        for (size_t i = 0; i < json_object_array_length(v); i++)
            recommend(r, "critical", "health", "%s is failing: the gateway cannot serve requests without it",
                      json_object_get_string(json_object_array_get_idx(v, i)));
    if (json_object_object_get_ex(h, "degraded_services", &v))
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            const char *name = json_object_get_string(json_object_array_get_idx(v, i));

            if (strcmp(name, "upstreams") != 0)
                recommend(r, "warning", "health", "%s is degraded: %s", name,
                          js_str(js_get(js_get(h, "components", json_type_object), name, json_type_object),
                                 "error") != NULL
                                     ? js_str(js_get(js_get(h, "components", json_type_object), name,
                                                     json_type_object), "error")
                                     : "see /health/components");
        }
    servers = js_get(js_get(js_get(h, "components", json_type_object), "upstreams", json_type_object), "servers",
                     json_type_array);
    for (size_t i = 0; servers != NULL && i < json_object_array_length(servers); i++) {
        struct json_object *s = json_object_array_get_idx(servers, i);
        const char *st = js_str(s, "status");

        if (json_object_get_boolean(js_get(s, "maintenance", json_type_boolean)))
            recommend(r, "info", "health", "server '%s' is in maintenance: its tools are not offered",
                      js_str(s, "name"));
        else if (st != NULL && strcmp(st, "active") != 0)
            recommend(r, "warning", "health", "server '%s' is %s: check it with POST /api/v1/servers/{id}/health",
                      js_str(s, "name"), st);
    }
    return h;
}

/* ---- deployment status --------------------------------------------------------------- */

static struct json_object *deployment_status(struct report *r)
{
    struct json_object *d = json_object_new_object(), *gates;
    PGresult *res;

    json_object_object_add(d, "version", json_object_new_string(PACKAGE_VERSION));
    res = query(r, d, "SELECT max(version), count(*), to_regclass('" GATES_TABLE "') IS NOT NULL"
                      " FROM schema_migrations");
    if (res == NULL)
        return d;
    json_object_object_add(d, "schema_version", json_object_new_int64(cell_ll(res, 0, 0)));
    json_object_object_add(d, "migrations_applied", json_object_new_int64(cell_ll(res, 0, 1)));
    if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        PQclear(res);
        json_object_object_add(d, "last_gate_runs", NULL);
        recommend(r, "info", "deployment", "quality gate runs are not recorded in this database (no table "
                  GATES_TABLE "): gates cannot vouch for this deployment");
        return d;
    }
    PQclear(res);
    /* The latest run of each gate in the caller's scope. */
    res = query(r, d, "SELECT DISTINCT ON (gate) gate, status,"
                      " to_char(coalesce(finished_at, started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                      " id::text FROM " GATES_TABLE
                      " WHERE $1::text IS NULL OR tenant_id IS NULL OR tenant_id::text = $1"
                      " ORDER BY gate, started_at DESC");
    gates = json_object_new_array();
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        struct json_object *g = json_object_new_object();

        json_object_object_add(g, "gate", json_object_new_string(PQgetvalue(res, i, 0)));
        json_object_object_add(g, "status", json_object_new_string(PQgetvalue(res, i, 1)));
        json_object_object_add(g, "at", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_object_add(g, "run_id", json_object_new_string(PQgetvalue(res, i, 3)));
        json_object_array_add(gates, g);
        if (strcmp(PQgetvalue(res, i, 1), "passed") != 0)
            recommend(r, "critical", "deployment",
                      "the last %s gate run %s (run %s): fix what it found and run it again",
                      PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 3));
    }
    if (res != NULL && PQntuples(res) == 0)
        recommend(r, "info", "deployment", "no quality gate has run yet: run pre_deployment and post_deployment "
                  "(mcp-gateway gate NAME)");
    PQclear(res);
    json_object_object_add(d, "last_gate_runs", gates);
    return d;
}

/* ---- protocol compliance ------------------------------------------------------------- */

static struct json_object *protocol_compliance(struct report *r)
{
    struct json_object *p = json_object_new_object(), *list = json_object_new_array();
    PGresult *res;
    int current = 0;

    json_object_object_add(p, "gateway_versions", json_object_new_string(mt_versions_list()));
    json_object_object_add(p, "gateway_latest", json_object_new_string(MCP_VERSION_LATEST));
    res = query(r, p, "SELECT name, protocol_version, transport FROM servers"
                      " WHERE $1::text IS NULL OR tenant_id IS NULL OR tenant_id = $1 ORDER BY name, id");
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        struct json_object *o = json_object_new_object();
        const char *name = PQgetvalue(res, i, 0), *v = PQgetvalue(res, i, 1);
        const char *verdict = v[0] == '\0'                         ? "unknown"
                              : strcmp(v, MCP_VERSION_LATEST) == 0 ? "current"
                              : mt_version_supported(v)            ? "older"
                                                                   : "unsupported";

        json_object_object_add(o, "server", json_object_new_string(name));
        json_object_object_add(o, "protocol_version", json_object_new_string(v));
        json_object_object_add(o, "transport", json_object_new_string(PQgetvalue(res, i, 2)));
        json_object_object_add(o, "verdict", json_object_new_string(verdict));
        json_object_array_add(list, o);
        if (strcmp(verdict, "current") == 0)
            current++;
        else if (strcmp(verdict, "older") == 0)
            recommend(r, "info", "protocol", "server '%s' speaks MCP %s, older than %s: upgrade its SDK", name, v,
                      MCP_VERSION_LATEST);
        else if (strcmp(verdict, "unsupported") == 0)
            recommend(r, "warning", "protocol", "server '%s' negotiated MCP %s, which the gateway does not speak",
                      name, v);
        else
            recommend(r, "warning", "protocol", "server '%s' has no negotiated MCP version: refresh it", name);
    }
    if (res != NULL) {
        json_object_object_add(p, "servers", list);
        json_object_object_add(p, "servers_current", json_object_new_int(current));
        json_object_object_add(p, "servers_total", json_object_new_int(PQntuples(res)));
    } else {
        json_object_put(list);
    }
    PQclear(res);
    return p;
}

struct json_object *report_build(struct gw_app *app, const struct gw_identity *who)
{
    struct report r = { .app = app };
    struct json_object *o = json_object_new_object(), *sections = json_object_new_object(), *health;
    char ts[32];

    r.platform = auth_has_role(who, ROLE_PLATFORM_ADMIN);
    r.tenant = r.platform ? NULL : who->tenant_id;
    r.pg = pg_conn(app);
    r.recs = json_object_new_array();
    json_object_object_add(sections, "security_status", security_status(&r));
    json_object_object_add(sections, "performance_metrics", performance_metrics(&r));
    health = system_health(&r);
    json_object_object_add(sections, "system_health", health);
    json_object_object_add(sections, "deployment_status", deployment_status(&r));
    json_object_object_add(sections, "protocol_compliance", protocol_compliance(&r));
    gw_iso8601(gw_now_ms(), ts);
    json_object_object_add(o, "generated_at", json_object_new_string(ts));
    json_object_object_add(o, "scope", r.tenant != NULL ? json_object_new_string(r.tenant)
                                                        : json_object_new_string("fleet"));
    json_object_object_add(o, "overall_system_health",
                           json_object_new_string(js_str(health, "overall_status") != NULL
                                                      ? js_str(health, "overall_status") : "unknown"));
    json_object_object_add(o, "reports", sections);
    json_object_object_add(o, "recommendations", r.recs);
    return o;
}

void route_report(struct gw_call *c)
{
    struct json_object *o = report_build(c->app, c->who);

    http_send_json(c->res, 200, o);
    json_object_put(o);
}
