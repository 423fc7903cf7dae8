/* MCP sessions seen from the management plane ("context preserved across
 * planes"): list, read and revoke, each scoped to the caller's tenant. */
#include <stdlib.h>
#include <string.h>

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

/* The session when it exists and the caller may see it; else an answer was
 * sent (404 for another tenant's, never 403). */
static struct json_object *visible_session(struct gw_call *c)
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
    free(tenant);
    return o;
}

void route_sessions_get(struct gw_call *c)
{
    struct json_object *o = visible_session(c);

    if (o == NULL)
        return;
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

void route_sessions_delete(struct gw_call *c)
{
    struct json_object *o = visible_session(c);

    if (o == NULL)
        return;
    json_object_put(o);
    switch (ms_delete(c->app, c->params[0])) {
    case MS_OK:
    case MS_NOT_FOUND: /* ended meanwhile: the outcome is the same */
        log_info("mcp_session_revoked", "session %.8s... revoked by %s", c->params[0], c->who->user_id);
        http_send_head(c->res, 204, NULL);
        return;
    default:
        unavailable(c);
    }
}
