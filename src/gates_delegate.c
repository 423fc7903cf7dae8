/* Delegation of a gate check to the specialist agent the routing matrix names
 * (task type = the check's name) through orch_delegate, and reading the
 * agent's verdict. A check no active agent is routed for runs built in. */
#include "gates.h"

#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

#include "app.h"
#include "auth.h"
#include "js.h"
#include "log.h"
#include "orch.h"
#include "store_pg.h"
#include "util.h"

/* The CLI runs gates as the platform itself. */
static const struct gw_identity cli_identity = {
    .user_id = "mcp-gateway gate", .roles = ROLE_PLATFORM_ADMIN | ROLE_ADMIN | ROLE_OPERATOR |
                                           ROLE_AUDITOR | ROLE_USER,
};

/* The active agent routed `check` with an active server the caller may use
 * (shared or of its tenant), into agent. 1 found, 0 none, -1 error. */
static int routed_agent(struct gate_ctx *g, const char *check, char *agent, size_t an, char *err, size_t en)
{
    PGconn *pg = pg_conn(g->app);
    const char *tenant = g->who != NULL && g->who->tenant_id[0] != '\0' ? g->who->tenant_id : NULL;
    const char *p[2] = { check, tenant };
    PGresult *r;
    int rc = 0;

    if (pg == NULL)
        return 0; /* the checks themselves report PostgreSQL */
    r = PQexecParams(pg,
                     "SELECT a.name FROM routing_rules rr JOIN agents a ON a.name = rr.agent"
                     " WHERE rr.task_type = $1 AND a.status = 'active' AND EXISTS ("
                     "  SELECT 1 FROM servers s WHERE a.name = ANY (s.agent_roles) AND s.status = 'active'"
                     "  AND (s.tenant_id IS NULL OR s.tenant_id = $2))",
                     2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        gw_snprintf(err, en, "routing look-up: %s", PQresultErrorMessage(r));
        rc = -1;
    } else if (PQntuples(r) == 1) {
        rc = gw_strlcpy(agent, PQgetvalue(r, 0, 0), an) == 0 ? 1 : 0;
    }
    PQclear(r);
    return rc;
}

int gates_verdict_parse(struct json_object *answer, enum gate_check_status *status, char *detail, size_t n)
{
    struct json_object *v;
    const char *d;
    size_t i;

    if (answer == NULL || !json_object_is_type(answer, json_type_object)) {
        gw_strlcpy(detail, "the agent's answer is not a JSON object", n);
        return -1;
    }
    if ((v = js_get(answer, "passed", json_type_boolean)) != NULL) {
        *status = json_object_get_boolean(v) ? GATE_CHECK_PASSED : GATE_CHECK_FAILED;
    } else if ((d = js_str(answer, "status")) != NULL && strcmp(d, "passed") == 0) {
        *status = GATE_CHECK_PASSED;
    } else if (d != NULL && strcmp(d, "failed") == 0) {
        *status = GATE_CHECK_FAILED;
    } else {
        gw_strlcpy(detail, "the agent's answer has no verdict (passed: true|false, or status: passed|failed)", n);
        return -1;
    }
    d = js_str(answer, "detail");
    if (d == NULL)
        d = *status == GATE_CHECK_PASSED ? "passed (agent)" : "failed (agent)";
    if (n == 0)
        return 0;
    /* An agent's words go into logs, reports and a jsonb column: printable
     * ASCII, bounded (a cut multi-byte character would not be UTF-8). */
    for (i = 0; d[i] != '\0' && i + 1 < n; i++)
        detail[i] = (unsigned char)d[i] < 0x20 ? ' ' : (unsigned char)d[i] >= 0x7f ? '?' : d[i];
    detail[i] = '\0';
    return 0;
}

int gates_delegate(struct gate_ctx *g, const struct gate_check *check, enum gate_check_status *status,
                   char *detail, size_t dn, char *agent, size_t an, char *err, size_t en)
{
    struct json_object *ctx, *result = NULL;
    int rc;

    agent[0] = '\0';
    rc = routed_agent(g, check->name, agent, an, err, en);
    if (rc <= 0) {
        agent[0] = '\0';
        return rc;
    }
    ctx = json_object_new_object();
    json_object_object_add(ctx, "gate_run_id", json_object_new_string(g->run_id));
    json_object_object_add(ctx, "check", json_object_new_string(check->name));
    json_object_object_add(ctx, "severity", json_object_new_string(gates_severity_name(check->severity)));
    rc = orch_delegate(g->app, g->who != NULL ? g->who : &cli_identity, check->name, ctx,
                       g->app->cfg.gates_timeout_ms, &result, err, en);
    json_object_put(ctx);
    if (rc == ORCH_NO_SERVER) {
        /* The agent is active but none of its servers can take the check now
         * (in maintenance, credentials that do not open, no such tool): as
         * for an inactive agent, the check runs built in. */
        log_info("gate_check_builtin", "check %s: agent %s has no server ready for it (%s); run built in",
                 check->name, agent, err);
        json_object_put(result);
        agent[0] = '\0';
        return 0;
    }
    if (rc != 0) {
        json_object_put(result);
        return -1;
    }
    rc = gates_verdict_parse(result, status, detail, dn);
    json_object_put(result);
    if (rc != 0) {
        gw_strlcpy(err, detail, en);
        return -1;
    }
    return 1;
}
