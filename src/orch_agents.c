/* The specialist agents and the routing matrix as PostgreSQL holds them:
 * lists with live load, and audited writes (change and audit row in one
 * transaction). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "auth.h"
#include "js.h"
#include "log.h"
#include "orch_int.h"
#include "store_pg.h"
#include "util.h"

int orch_fail(struct orch_error *e, enum orch_code code, const char *field, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    gw_strlcpy(e->field, field != NULL ? field : "", sizeof(e->field));
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    return -1;
}

const char *orch_reason(enum orch_code code)
{
    switch (code) {
    case ORCH_OK: return "ok";
    case ORCH_BAD_REQUEST: return "invalid_body";
    case ORCH_UNKNOWN_TASK_TYPE: return "unknown_task_type";
    case ORCH_UNKNOWN_AGENT: return "unknown_agent";
    case ORCH_AGENT_INACTIVE: return "agent_inactive";
    case ORCH_AGENT_DRAINING: return "agent_draining";
    case ORCH_NO_SERVER: return "no_healthy_server";
    case ORCH_NOT_FOUND: return "not_found";
    case ORCH_FORBIDDEN: return "forbidden";
    case ORCH_TASK_FAILED: return "task_failed";
    case ORCH_TASK_TIMED_OUT: return "task_timed_out";
    case ORCH_BUSY: return "busy";
    case ORCH_UNAVAILABLE: return "unavailable";
    case ORCH_INTERNAL: break;
    }
    return "internal_error";
}

int orch_http_status(enum orch_code code)
{
    switch (code) {
    case ORCH_OK: return 200;
    case ORCH_BAD_REQUEST: return 400;
    case ORCH_UNKNOWN_TASK_TYPE: return 422;
    case ORCH_UNKNOWN_AGENT: return 422;
    case ORCH_AGENT_INACTIVE: return 409;
    case ORCH_AGENT_DRAINING: return 409;
    case ORCH_NO_SERVER: return 503;
    case ORCH_NOT_FOUND: return 404;
    case ORCH_FORBIDDEN: return 403;
    case ORCH_TASK_FAILED: return 502;
    case ORCH_TASK_TIMED_OUT: return 504;
    case ORCH_BUSY: return 503;
    case ORCH_UNAVAILABLE: return 503;
    case ORCH_INTERNAL: break;
    }
    return 500;
}

static bool name_chars(const char *s, size_t max, bool dash)
{
    size_t n;

    if (s == NULL || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (n = 0; s[n] != '\0'; n++) {
        char ch = s[n];

        if (n >= max)
            return false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || (dash && ch == '-')))
            return false;
    }
    return true;
}

bool orch_agent_name_valid(const char *s) { return name_chars(s, 64, true); }
bool orch_task_type_valid(const char *s) { return name_chars(s, 64, false); }

PGconn *orch_db(struct gw_app *app, struct orch_error *e)
{
    PGconn *c = pg_conn(app);

    if (c == NULL)
        orch_fail(e, ORCH_UNAVAILABLE, NULL, "the orchestration database is not reachable");
    return c;
}

PGresult *orch_sql(PGconn *c, const char *sql, int n, const char *const *p)
{
    return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

int orch_db_fail(struct orch_error *e, PGresult *r, const char *what)
{
    log_error("orch_db", "%s failed: %s", what, r != NULL ? PQresultErrorMessage(r) : "no result");
    return orch_fail(e, ORCH_UNAVAILABLE, NULL, "%s failed in the database", what);
}

static int exec_simple(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

    if (rc != 0)
        log_error("orch_db", "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

int orch_begin(PGconn *c, struct orch_error *e)
{
    if (exec_simple(c, "BEGIN") != 0)
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "the change could not start in the database");
    return 0;
}

int orch_commit(PGconn *c, struct orch_error *e)
{
    if (exec_simple(c, "COMMIT") != 0)
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "the change could not be committed");
    return 0;
}

void orch_rollback(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
}

const char *orch_tenant_of(const struct gw_identity *who)
{
    return who->tenant_id[0] != '\0' ? who->tenant_id : NULL;
}

int orch_audit(PGconn *c, const struct gw_identity *who, const char *request_id, const char *action,
               const char *target_type, const char *target_id, struct json_object *detail,
               struct orch_error *e)
{
    struct audit_entry ae = {
        .action = action, .outcome = "success", .actor_user = who->user_id,
        .actor_tenant = orch_tenant_of(who), .target_type = target_type, .target_id = target_id,
        .tenant_id = orch_tenant_of(who), .request_id = request_id != NULL ? request_id : "-",
        .detail = detail,
    };
    char err[256];

    if (audit_append(c, &ae, err, sizeof(err)) != 0) {
        log_error("audit_append_failed", "%s %s: %s", action, target_id, err);
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "the audit record could not be written; nothing was changed");
    }
    return 0;
}

/* ---- agents ------------------------------------------------------------------- */

static const char agents_sql[] =
    "SELECT a.name, json_build_object('name', a.name, 'description', a.description,"
    " 'status', a.status, 'updated_at', a.updated_at,"
    " 'servers', coalesce((SELECT json_agg(json_build_object('server_id', s.id, 'name', s.name,"
    "   'tenant_id', s.tenant_id, 'status', s.status, 'maintenance', s.maintenance) ORDER BY s.name, s.id)"
    "   FROM servers s WHERE a.name = ANY (s.agent_roles)"
    "   AND ($2::bool OR s.tenant_id IS NULL OR s.tenant_id = $1::text)), '[]'::json))::text"
    " FROM agents a WHERE ($3::text IS NULL OR a.name = $3) ORDER BY a.name";

/* Live load on each agent and on each of its servers. */
static void add_loads(struct gw_app *app, struct json_object *agent)
{
    struct json_object *servers = js_get(agent, "servers", json_type_array);
    size_t n = servers != NULL ? json_object_array_length(servers) : 0;
    const char **ids = calloc(n + 1, sizeof(*ids));
    long long *loads = calloc(n + 1, sizeof(*loads));

    json_object_object_add(agent, "load",
                           json_object_new_int64(orch_load_agent(app, js_str(agent, "name"))));
    if (ids != NULL && loads != NULL) {
        for (size_t i = 0; i < n; i++)
            ids[i] = js_str(json_object_array_get_idx(servers, i), "server_id");
        orch_load_servers(app, ids, n, loads);
        for (size_t i = 0; i < n; i++)
            json_object_object_add(json_object_array_get_idx(servers, i), "load",
                                   json_object_new_int64(loads[i]));
    }
    free(ids);
    free(loads);
}

int orch_agents_list(struct gw_app *app, const struct gw_identity *who, const char *only,
                     struct json_object **out, struct orch_error *e)
{
    bool platform = who == NULL || auth_has_role(who, ROLE_PLATFORM_ADMIN);
    const char *p[3] = { who != NULL ? orch_tenant_of(who) : NULL, platform ? "true" : "false", only };
    struct json_object *list;
    PGconn *c;
    PGresult *r;

    *out = NULL;
    if ((c = orch_db(app, e)) == NULL)
        return -1;
    r = orch_sql(c, agents_sql, 3, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        orch_db_fail(e, r, "reading the agents");
        PQclear(r);
        return -1;
    }
    if (only != NULL && PQntuples(r) == 0) {
        PQclear(r);
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no agent named '%s'", only);
    }
    list = json_object_new_array();
    for (int i = 0; i < PQntuples(r); i++) {
        struct json_object *a = json_tokener_parse(PQgetvalue(r, i, 1));

        if (a == NULL)
            continue;
        add_loads(app, a);
        json_object_array_add(list, a);
    }
    PQclear(r);
    if (only != NULL) {
        *out = json_object_get(json_object_array_get_idx(list, 0));
        json_object_put(list);
    } else {
        *out = json_object_new_object();
        json_object_object_add(*out, "agents", list);
    }
    return 0;
}

static const char agent_put_sql[] =
    "INSERT INTO agents (name, description, status) VALUES ($1, coalesce($2, ''), coalesce($3, 'active'))"
    " ON CONFLICT (name) DO UPDATE SET description = coalesce($2, agents.description),"
    " status = coalesce($3, agents.status), updated_at = now()"
    " RETURNING json_build_object('name', name, 'description', description, 'status', status,"
    " 'updated_at', updated_at)::text, (xmax = 0)";

static int optional_string(struct json_object *body, const char *key, size_t max, const char **out,
                           struct orch_error *e)
{
    struct json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(body, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string) || (size_t)json_object_get_string_len(v) > max)
        return orch_fail(e, ORCH_BAD_REQUEST, key, "'%s' must be a string of at most %zu bytes", key, max);
    *out = json_object_get_string(v);
    if (strlen(*out) != (size_t)json_object_get_string_len(v))
        return orch_fail(e, ORCH_BAD_REQUEST, key, "'%s' must not contain NUL", key);
    return 0;
}

/* Only the listed members, so that a typo is an error rather than ignored. */
int orch_only_keys(struct json_object *body, const char *const *keys, size_t n, struct orch_error *e)
{
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return orch_fail(e, ORCH_BAD_REQUEST, NULL, "the body must be a JSON object");
    json_object_object_foreach(body, k, v) {
        bool known = false;

        (void)v;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known)
            return orch_fail(e, ORCH_BAD_REQUEST, k, "unknown member '%.64s'", k);
    }
    return 0;
}

int orch_agent_put(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                   const char *name, struct json_object *body, struct json_object **out,
                   struct orch_error *e)
{
    static const char *const keys[] = { "status", "description" };
    const char *p[3], *status, *desc;
    struct json_object *detail;
    PGconn *c;
    PGresult *r;
    bool created;
    int rc;

    *out = NULL;
    if (!orch_agent_name_valid(name))
        return orch_fail(e, ORCH_BAD_REQUEST, "name", "an agent name is [a-z0-9][a-z0-9_-]{0,63}");
    if (orch_only_keys(body, keys, GW_ARRAY_LEN(keys), e) != 0 ||
        optional_string(body, "status", 16, &status, e) != 0 ||
        optional_string(body, "description", 1024, &desc, e) != 0)
        return -1;
    if (status != NULL && strcmp(status, "active") != 0 && strcmp(status, "inactive") != 0 &&
        strcmp(status, "draining") != 0)
        return orch_fail(e, ORCH_BAD_REQUEST, "status", "'status' is active, inactive or draining");
    if ((c = orch_db(app, e)) == NULL || orch_begin(c, e) != 0)
        return -1;
    p[0] = name;
    p[1] = desc;
    p[2] = status;
    r = orch_sql(c, agent_put_sql, 3, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        orch_db_fail(e, r, "changing the agent");
        PQclear(r);
        orch_rollback(c);
        return -1;
    }
    *out = json_tokener_parse(PQgetvalue(r, 0, 0));
    created = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    detail = json_object_new_object();
    if (status != NULL)
        json_object_object_add(detail, "status", json_object_new_string(status));
    if (desc != NULL)
        json_object_object_add(detail, "description", json_object_new_string(desc));
    rc = orch_audit(c, who, request_id, created ? "agent.create" : "agent.update", "agent", name, detail, e);
    json_object_put(detail);
    if (rc != 0 || orch_commit(c, e) != 0) {
        orch_rollback(c);
        json_object_put(*out);
        *out = NULL;
        return -1;
    }
    log_info("agent_changed", "agent %s %s by %s (status %s)", name, created ? "created" : "changed",
             who->user_id, status != NULL ? status : "unchanged");
    return 0;
}

/* ---- routing matrix ------------------------------------------------------------- */

int orch_routing_list(struct gw_app *app, struct json_object **out, struct orch_error *e)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('task_type', task_type, 'agent', agent, 'kind', kind,"
        " 'updated_at', updated_at) ORDER BY kind DESC, task_type), '[]'::json)::text FROM routing_rules";
    PGconn *c;
    PGresult *r;

    *out = NULL;
    if ((c = orch_db(app, e)) == NULL)
        return -1;
    r = orch_sql(c, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        orch_db_fail(e, r, "reading the routing matrix");
        PQclear(r);
        return -1;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "rules", json_tokener_parse(PQgetvalue(r, 0, 0)));
    PQclear(r);
    return 0;
}

int orch_routing_put(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                     const char *task_type, struct json_object *body, struct json_object **out,
                     struct orch_error *e)
{
    static const char *const keys[] = { "agent", "kind" };
    static const char sql[] =
        "INSERT INTO routing_rules (task_type, agent, kind) VALUES ($1, $2, coalesce($3, 'task'))"
        " ON CONFLICT (task_type) DO UPDATE SET agent = $2, kind = coalesce($3, routing_rules.kind),"
        " updated_at = now()"
        " RETURNING json_build_object('task_type', task_type, 'agent', agent, 'kind', kind,"
        " 'updated_at', updated_at)::text";
    const char *p[3], *agent, *kind, *state;
    PGconn *c;
    PGresult *r;

    *out = NULL;
    if (!orch_task_type_valid(task_type))
        return orch_fail(e, ORCH_BAD_REQUEST, "task_type", "a task type is [a-z0-9][a-z0-9_]{0,63}");
    if (orch_only_keys(body, keys, GW_ARRAY_LEN(keys), e) != 0 ||
        optional_string(body, "agent", 64, &agent, e) != 0 || optional_string(body, "kind", 16, &kind, e) != 0)
        return -1;
    if (agent == NULL || !orch_agent_name_valid(agent))
        return orch_fail(e, ORCH_BAD_REQUEST, "agent", "'agent' must name an agent");
    if (kind != NULL && strcmp(kind, "task") != 0 && strcmp(kind, "quality_check") != 0)
        return orch_fail(e, ORCH_BAD_REQUEST, "kind", "'kind' is task or quality_check");
    if ((c = orch_db(app, e)) == NULL || orch_begin(c, e) != 0)
        return -1;
    p[0] = task_type;
    p[1] = agent;
    p[2] = kind;
    r = orch_sql(c, sql, 3, p);
    state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state != NULL && strcmp(state, "23503") == 0) {
        PQclear(r);
        orch_rollback(c);
        return orch_fail(e, ORCH_UNKNOWN_AGENT, "agent", "no agent named '%s': create it first "
                         "(PUT /api/v1/agents/%s)", agent, agent);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        orch_db_fail(e, r, "changing the routing rule");
        PQclear(r);
        orch_rollback(c);
        return -1;
    }
    *out = json_tokener_parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (orch_audit(c, who, request_id, "routing.put", "routing_rule", task_type, *out, e) != 0 ||
        orch_commit(c, e) != 0) {
        orch_rollback(c);
        json_object_put(*out);
        *out = NULL;
        return -1;
    }
    log_info("routing_changed", "task type %s -> agent %s by %s", task_type, agent, who->user_id);
    return 0;
}

int orch_routing_delete(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                        const char *task_type, struct orch_error *e)
{
    static const char sql[] =
        "DELETE FROM routing_rules WHERE task_type = $1"
        " RETURNING json_build_object('task_type', task_type, 'agent', agent, 'kind', kind)::text";
    const char *p[1] = { task_type };
    struct json_object *gone;
    PGconn *c;
    PGresult *r;
    int rc;

    if (!orch_task_type_valid(task_type))
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no routing rule for that task type");
    if ((c = orch_db(app, e)) == NULL || orch_begin(c, e) != 0)
        return -1;
    r = orch_sql(c, sql, 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        orch_db_fail(e, r, "removing the routing rule");
        PQclear(r);
        orch_rollback(c);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        orch_rollback(c);
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no routing rule for task type '%s'", task_type);
    }
    gone = json_tokener_parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    rc = orch_audit(c, who, request_id, "routing.delete", "routing_rule", task_type, gone, e);
    json_object_put(gone);
    if (rc != 0 || orch_commit(c, e) != 0) {
        orch_rollback(c);
        return -1;
    }
    log_info("routing_changed", "task type %s unrouted by %s", task_type, who->user_id);
    return 0;
}
