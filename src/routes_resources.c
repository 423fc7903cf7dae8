/* Management routes of the resource pools: /api/v1/resources (pools and
 * their fleet-wide use) and allocations taken and released by operation. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "auth.h"
#include "js.h"
#include "log.h"
#include "mcp/catalog.h"
#include "pools.h"
#include "routes.h"
#include "util.h"

static void unavailable(struct gw_call *c)
{
    http_add_header(c->res, "Retry-After", "2");
    http_send_problem(c->res, c->req, 503, "resource pools are unavailable: Redis cannot be reached");
}

/* platform_admin sees every tenant's; everyone else only their own. */
static bool may_see(const struct gw_call *c, struct json_object *rec)
{
    const char *t = js_str(rec, "tenant_id");

    if (auth_has_role(c->who, ROLE_PLATFORM_ADMIN))
        return true;
    return t != NULL && strcmp(t, c->who->tenant_id) == 0;
}

void route_resources_get(struct gw_call *c)
{
    const struct cat_snapshot *snap = NULL;
    struct json_object *o;
    char why[256];

    /* Without a catalog the seed's pools still show; upstream pools do not. */
    if (cat_current(c->app, &snap, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s", why);
        snap = NULL;
    }
    o = pools_describe(c->app, snap, auth_has_role(c->who, ROLE_PLATFORM_ADMIN) ? NULL : c->who);
    if (o == NULL) {
        unavailable(c);
        return;
    }
    json_object_object_add(o, "allocation_lease_seconds", json_object_new_int(c->app->cfg.res_lease_seconds));
    http_send_json(c->res, 200, o);
    json_object_put(o);
}

/* An allocation lives in Redis: its audit row has a short transaction of its
 * own. A grant that cannot be audited is released again (no unaudited
 * reservation); a release that cannot be audited stands and is logged. */
static int audit_allocation(struct gw_call *c, const char *action, struct json_object *rec)
{
    struct json_object *detail = json_object_new_object(), *v;
    const char *tenant = js_str(rec, "tenant_id");
    struct audit_entry e = {
        .action = action, .outcome = "success",
        .actor_user = c->who->user_id,
        .actor_tenant = c->who->tenant_id[0] != '\0' ? c->who->tenant_id : NULL,
        .target_type = "resource_allocation", .target_id = js_str(rec, "id"),
        .tenant_id = tenant, .request_id = c->req->request_id, .detail = detail,
    };
    char err[512];
    int rc;

    if (json_object_object_get_ex(rec, "operation_type", &v))
        json_object_object_add(detail, "operation_type", json_object_get(v));
    if (json_object_object_get_ex(rec, "allocation", &v))
        json_object_object_add(detail, "allocation", json_object_get(v));
    rc = audit_append_own(c->app, &e, err, sizeof(err));
    if (rc != 0)
        log_warn("audit_allocation_failed", "%s of allocation %s by %s not audited: %s", action,
                 e.target_id != NULL ? e.target_id : "-", c->who->user_id, err);
    json_object_put(detail);
    return rc;
}

void route_allocations_post(struct gw_call *c)
{
    struct json_object *body, *rec = NULL, *ext;
    struct pools_busy busy;
    const char *op;
    char err[512];
    enum pools_code rc;

    if ((body = route_read_json(c)) == NULL)
        return;
    op = js_str(body, "operation_type");
    memset(&busy, 0, sizeof(busy));
    if (op == NULL) {
        http_send_problem(c->res, c->req, 400, "operation_type (a string) is required");
        goto out;
    }
    rc = pools_allocate(c->app, op, js_get(body, "estimated_load", json_type_object), c->who->tenant_id,
                        c->who->user_id, c->app->cfg.res_lease_seconds, &rec, &busy, err, sizeof(err));
    switch (rc) {
    case POOLS_OK:
        break;
    case POOLS_INVALID:
        http_send_problem(c->res, c->req, 422, err);
        goto out;
    case POOLS_BUSY:
        ext = json_object_new_object();
        json_object_object_add(ext, "pool", json_object_new_string(busy.pool));
        json_object_object_add(ext, "capacity", json_object_new_int(busy.capacity));
        json_object_object_add(ext, "in_use", json_object_new_int(busy.in_use));
        json_object_object_add(ext, "requested", json_object_new_int(busy.requested));
        json_object_object_add(ext, "retry_after_s", json_object_new_int(busy.retry_after_s));
        http_add_header(c->res, "Retry-After", "%d", busy.retry_after_s);
        http_send_problem_ext(c->res, c->req, 503, err, ext);
        json_object_put(ext);
        goto out;
    default:
        unavailable(c);
        goto out;
    }
    if (audit_allocation(c, "resources.allocate", rec) != 0) {
        pools_allocation_release(c->app, js_str(rec, "id"));
        http_add_header(c->res, "Retry-After", "5");
        http_send_problem(c->res, c->req, 503, "the allocation cannot be audited (PostgreSQL): released again");
        goto out;
    }
    log_info("resources_allocated", "allocation %s (%s) for %s", js_str(rec, "id"), op, c->who->user_id);
    http_add_header(c->res, "Location", "/api/v1/resources/allocations/%s", js_str(rec, "id"));
    http_send_json(c->res, 201, rec);
out:
    json_object_put(rec);
    json_object_put(body);
}

/* The allocation when it exists and the caller may see it; else the 404 or
 * 503 was sent (another tenant's is 404, never 403). */
static struct json_object *visible_allocation(struct gw_call *c)
{
    struct json_object *rec = NULL;

    switch (pools_allocation_get(c->app, c->params[0], &rec)) {
    case POOLS_OK:
        if (may_see(c, rec))
            return rec;
        json_object_put(rec);
        /* fall through */
    case POOLS_NOT_FOUND:
        http_send_problem(c->res, c->req, 404, "no such allocation (released, expired or never made)");
        return NULL;
    default:
        unavailable(c);
        return NULL;
    }
}

void route_allocations_get(struct gw_call *c)
{
    struct json_object *rec = visible_allocation(c);

    if (rec == NULL)
        return;
    http_send_json(c->res, 200, rec);
    json_object_put(rec);
}

void route_allocations_delete(struct gw_call *c)
{
    struct json_object *rec = visible_allocation(c);

    if (rec == NULL)
        return;
    if (pools_allocation_release(c->app, c->params[0]) != POOLS_OK) {
        unavailable(c);
    } else {
        log_info("resources_released", "allocation %s released by %s", c->params[0], c->who->user_id);
        audit_allocation(c, "resources.release", rec);
        http_send_head(c->res, 204, NULL);
    }
    json_object_put(rec);
}
