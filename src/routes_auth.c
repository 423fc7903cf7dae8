/* Identity routes: RFC 9728 protected resource metadata for OAuth clients, and
 * GET /api/v1/me, the caller's identity exactly as the gateway derived it. */
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "auth_jwt.h"
#include "config.h"
#include "http.h"
#include "routes.h"
#include "util.h"


static struct json_object *list_array(const char *list)
{
    struct json_object *arr = json_object_new_array();
    const char *cur = NULL;
    char buf[CFG_STR_MAX];

    while (arr != NULL && cfg_list_next(list, &cur, buf, sizeof buf) != NULL)
        json_object_array_add(arr, json_object_new_string(buf));
    return arr;
}

/* The issuer as an authorization server URL: a {tid} issuer names no single
 * server, so take the one allowed tenant, else Entra's multi-tenant alias. */
static void default_authorization_server(const struct gw_config *cfg, char *out, size_t n)
{
    const char *cur = NULL;
    char first[256], second[256];

    if (strstr(cfg->auth_issuer, "{tid}") == NULL) {
        gw_strlcpy(out, cfg->auth_issuer, n);
        return;
    }
    if (cfg_list_next(cfg->auth_allowed_tenants, &cur, first, sizeof first) == NULL ||
        strcmp(first, "*") == 0 ||
        cfg_list_next(cfg->auth_allowed_tenants, &cur, second, sizeof second) != NULL)
        gw_strlcpy(first, "organizations", sizeof first);
    if (authjwt_issuer_for(cfg, first, out, n) != 0)
        gw_strlcpy(out, cfg->auth_issuer, n);
}

void route_oauth_metadata(struct gw_call *c)
{
    const struct gw_config *cfg = &c->app->cfg;
    /* The route table matched the bare path, /mcp or /servers/{name}/mcp
     * below it: what follows the prefix names the resource. */
    const char *suffix = c->req->path + strlen(GW_WELL_KNOWN_PRM);
    char base[CFG_STR_MAX], resource[CFG_STR_MAX + 512], as[CFG_STR_MAX];
    struct json_object *doc = NULL, *servers;

    if (gw_plane_url(c->app, c->req->plane, base, sizeof base) != 0 ||
        gw_snprintf(resource, sizeof resource, "%s%s", base, suffix) != 0) {
        http_send_problem(c->res, c->req, 414, "resource URL too long");
        return;
    }
    doc = json_object_new_object();
    if (doc == NULL) {
        http_send_problem(c->res, c->req, 500, NULL);
        return;
    }
    json_object_object_add(doc, "resource", json_object_new_string(resource));
    if (cfg->auth_authorization_servers[0] != '\0') {
        servers = list_array(cfg->auth_authorization_servers);
    } else {
        default_authorization_server(cfg, as, sizeof as);
        servers = json_object_new_array();
        if (servers != NULL)
            json_object_array_add(servers, json_object_new_string(as));
    }
    json_object_object_add(doc, "authorization_servers", servers);
    if (cfg->auth_scopes_supported[0] != '\0')
        json_object_object_add(doc, "scopes_supported", list_array(cfg->auth_scopes_supported));
    servers = json_object_new_array();
    if (servers != NULL)
        json_object_array_add(servers, json_object_new_string("header"));
    json_object_object_add(doc, "bearer_methods_supported", servers);
    json_object_object_add(doc, "resource_name", json_object_new_string("mcp-registry-gateway"));
    http_send_json(c->res, 200, doc);
    json_object_put(doc);
}

void route_me(struct gw_call *c)
{
    const struct gw_identity *who = c->who;
    struct json_object *doc = NULL, *roles, *arr;
    const char *cur = NULL, *p;
    char buf[512], when[32];
    unsigned bit;

    if (who == NULL) {
        http_send_problem(c->res, c->req, 401, "a bearer token is required");
        return;
    }
    doc = json_object_new_object();
    roles = json_object_new_array();
    if (doc == NULL || roles == NULL) {
        json_object_put(roles);
        json_object_put(doc);
        http_send_problem(c->res, c->req, 500, NULL);
        return;
    }
    json_object_object_add(doc, "user_id", json_object_new_string(who->user_id));
    json_object_object_add(doc, "subject", json_object_new_string(who->subject));
    json_object_object_add(doc, "tenant_id", who->tenant_id[0] != '\0'
                                                 ? json_object_new_string(who->tenant_id)
                                                 : NULL);
    /* Most powerful first, the order an operator reads them in. */
    for (bit = ROLE_PLATFORM_ADMIN; bit != 0; bit >>= 1)
        if (who->roles & bit)
            json_object_array_add(roles, json_object_new_string(auth_role_name(bit)));
    json_object_object_add(doc, "roles", roles);
    arr = json_object_new_array();
    while (arr != NULL && cfg_list_next(who->token_roles, &cur, buf, sizeof buf) != NULL)
        json_object_array_add(arr, json_object_new_string(buf));
    json_object_object_add(doc, "token_roles", arr);
    arr = json_object_new_array();
    for (p = who->scopes; arr != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");

        if (len > 0)
            json_object_array_add(arr, json_object_new_string_len(p, (int)len));
        p += len;
        p += strspn(p, " ");
    }
    json_object_object_add(doc, "scopes", arr);
    json_object_object_add(doc, "issuer", json_object_new_string(who->issuer));
    json_object_object_add(doc, "client_id", who->client_id[0] != '\0'
                                                 ? json_object_new_string(who->client_id)
                                                 : NULL);
    gw_iso8601(who->exp * 1000, when);
    json_object_object_add(doc, "expires_at", json_object_new_string(when));
    http_send_json(c->res, 200, doc);
    json_object_put(doc);
}
