/* MCP sessions seen from the management plane ("context preserved across
 * planes"): list, read and revoke, each scoped to the caller's tenant. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "mcp/session.h"
#include "routes.h"
#include "util.h"

#define SESSIONS_PAGE_MAX 1000

/* platform_admin sees every tenant; everyone else only their own. */
static const char *scope_tenant(const struct gw_call *c)
{
    return auth_has_role(c->who, ROLE_PLATFORM_ADMIN) ? NULL : c->who->tenant_id;
}

static void unavailable(struct gw_call *c)
{
    http_add_header(c->res, "Retry-After", "2");
    http_send_problem(c->res, c->req, 503, "sessions are unavailable: Redis cannot be reached");
}

void route_sessions_list(struct gw_call *c)
{
    struct json_object *list, *o;

    switch (ms_list(c->app, scope_tenant(c), SESSIONS_PAGE_MAX, &list)) {
    case MS_OK:
        break;
    default:
        unavailable(c);
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "sessions", list);
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

/* The session when it exists and the caller may see it, with its tenant in
 * *tenant_out when asked for (malloc'd, may be NULL); else an answer was sent
 * (404 for another tenant's, never 403). */
static struct json_object *visible_session(struct gw_call *c, char **tenant_out)
{
    struct json_object *o = NULL;
    char *tenant = NULL;
    const char *scope = scope_tenant(c);

    switch (ms_describe(c->app, c->params[0], &o, &tenant)) {
    case MS_OK:
        break;
    case MS_NOT_FOUND:
        http_send_problem(c->res, c->req, 404, "no such session");
        return NULL;
    default:
        unavailable(c);
        return NULL;
    }
    if (scope != NULL && (tenant == NULL || strcmp(tenant, scope) != 0)) {
        json_object_put(o);
        o = NULL;
        http_send_problem(c->res, c->req, 404, "no such session");
    }
    if (o != NULL && tenant_out != NULL)
        *tenant_out = tenant;
    else
        free(tenant);
    return o;
}

void route_sessions_get(struct gw_call *c)
{
    struct json_object *o = visible_session(c, NULL);

    if (o == NULL)
        return;
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

/* A revocation is a change made in Redis, not in PostgreSQL: its audit row
 * has a short transaction of its own, written after the session is gone. A
 * row that cannot be written does not undo the revocation (ending a session
 * must work while PostgreSQL is down); it is logged with every field. */
static void audit_revoke(struct gw_call *c, struct json_object *session, const char *tenant)
{
    struct json_object *detail = json_object_new_object(), *v;
    struct audit_entry e = {
        .action = "session.revoke", .outcome = "success",
        .actor_user = c->who->user_id,
        .actor_tenant = c->who->tenant_id[0] != '\0' ? c->who->tenant_id : NULL,
        .target_type = "session", .target_id = c->params[0],
        .tenant_id = tenant, .request_id = c->req->request_id, .detail = detail,
    };
    char err[512];

    if (detail != NULL) {
        if (json_object_object_get_ex(session, "user_id", &v))
            json_object_object_add(detail, "session_user", json_object_get(v));
        if (json_object_object_get_ex(session, "endpoint", &v))
            json_object_object_add(detail, "endpoint", json_object_get(v));
    }
    if (detail == NULL)
        gw_strlcpy(err, "out of memory", sizeof(err));
    if (detail == NULL || audit_append_own(c->app, &e, err, sizeof(err)) != 0)
        log_warn("audit_session_revoke_failed", "revocation of session %s by %s (tenant %s) not audited: %s",
                 c->params[0], c->who->user_id, tenant != NULL ? tenant : "-", err);
    json_object_put(detail);
}

void route_sessions_delete(struct gw_call *c)
{
    char *tenant = NULL;
    struct json_object *o = visible_session(c, &tenant);

    if (o == NULL)
        return;
    switch (ms_delete(c->app, c->params[0])) {
    case MS_OK:
    case MS_NOT_FOUND: /* ended meanwhile: the outcome is the same */
        log_info("mcp_session_revoked", "session %.8s... revoked by %s", c->params[0], c->who->user_id);
        audit_revoke(c, o, tenant);
        http_send_head(c->res, 204, NULL);
        break;
    default:
        unavailable(c);
    }
    json_object_put(o);
    free(tenant);
}
