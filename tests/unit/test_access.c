/* Access: role map and inheritance, bearer tokens only from the Authorization
 * header, 401/403 challenges, RFC 9728 metadata and GET /api/v1/me. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "fake_io.h"
#include "jwt_fixture.h"
#include "log.h"
#include "router.h"

#define ISS FX_ISS
#define AUD FX_AUD

static struct gw_app app;
static struct gw_config cfg;
static struct fx_key rsa;
static char dir[256], jwks_path[300];
static struct fake_io f;

static void setup(void)
{
    const struct fx_key *keys[1];

    log_init("test", LOG_LVL_ERROR);
    cr_assert_eq(fx_tmpdir(dir, sizeof dir), 0);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    cr_assert_eq(fx_key_rsa(&rsa, "rsa-1", 2048), 0);
    keys[0] = &rsa;
    cr_assert_eq(fx_write_jwks(jwks_path, keys, 1), 0);
    fx_config(&cfg, jwks_path);
    snprintf(cfg.mcp_url, sizeof cfg.mcp_url, "https://127.0.0.1:8001/");
    snprintf(cfg.api_url, sizeof cfg.api_url, "https://127.0.0.1:8000");
    snprintf(cfg.auth_role_map, sizeof cfg.auth_role_map,
             "Gateway.Admin=admin, Mcp.User=user, Gateway.Ops=operator");
    snprintf(cfg.auth_scopes_supported, sizeof cfg.auth_scopes_supported, "Mcp.User, Gateway.Admin");
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
}

static void teardown(void)
{
    app_free(&app);
    fx_key_free(&rsa);
    fx_rmdir(dir);
}

TestSuite(access, .init = setup, .fini = teardown);

static int run(const char *const *vars)
{
    int status = 0;

    fake_io_init(&f, vars, NULL);
    gw_handle(&app, &f.io);
    sscanf(f.out, "Status: %d", &status);
    return status;
}

/* A signed token with roles (comma list, may be NULL) and scp. */
static char *token(const char *roles, const char *scp, const char *tid)
{
    struct json_object *c = fx_claims(ISS, AUD, (int64_t)time(NULL));
    char *tok, buf[256], *save = NULL, *r;

    if (roles != NULL) {
        struct json_object *arr = json_object_new_array();

        snprintf(buf, sizeof buf, "%s", roles);
        for (r = strtok_r(buf, ",", &save); r != NULL; r = strtok_r(NULL, ",", &save))
            json_object_array_add(arr, json_object_new_string(r));
        json_object_object_add(c, "roles", arr);
    }
    if (scp != NULL)
        json_object_object_add(c, "scp", json_object_new_string(scp));
    if (tid != NULL) {
        json_object_object_add(c, "tid", json_object_new_string(tid));
        json_object_object_add(c, "oid", json_object_new_string("oid-1"));
    }
    tok = fx_token(&rsa, c);
    json_object_put(c);
    return tok;
}

/* ---- role map ------------------------------------------------------------------ */

Test(access, role_inheritance_follows_the_hierarchy)
{
    cr_assert_eq(auth_roles_effective(ROLE_PLATFORM_ADMIN),
                 ROLE_PLATFORM_ADMIN | ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR | ROLE_USER);
    cr_assert_eq(auth_roles_effective(ROLE_ADMIN),
                 ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR | ROLE_USER);
    cr_assert_eq(auth_roles_effective(ROLE_OPERATOR), ROLE_OPERATOR | ROLE_USER);
    cr_assert_eq(auth_roles_effective(ROLE_AUDITOR), ROLE_AUDITOR | ROLE_USER);
    cr_assert_eq(auth_roles_effective(0), 0u);
}

Test(access, role_map_applies_to_the_roles_claim)
{
    cr_assert_eq(auth_map_roles(&app.cfg, "Gateway.Admin", ""),
                 ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR | ROLE_USER);
    cr_assert_eq(auth_map_roles(&app.cfg, "Other,Gateway.Ops", ""), ROLE_OPERATOR | ROLE_USER);
}

Test(access, role_map_does_not_apply_to_scopes)
{
    /* A scope is what the user let a client do; a client names any scope it likes. */
    cr_assert_eq(auth_map_roles(&app.cfg, "", "openid Mcp.User Gateway.Admin"), 0u);
}

Test(access, scopes_grant_no_role_without_a_scope_map)
{
    app.cfg.auth_role_map[0] = '\0';
    cr_assert_eq(auth_map_roles(&app.cfg, "", "platform_admin"), 0u);
    cr_assert_eq(auth_map_roles(&app.cfg, "", "admin operator auditor user"), 0u);
    cr_assert_eq(auth_map_roles(&app.cfg, "operator", "platform_admin"), ROLE_OPERATOR | ROLE_USER);
}

Test(access, scope_map_grants_the_roles_it_names)
{
    snprintf(app.cfg.auth_scope_map, sizeof app.cfg.auth_scope_map,
             "Mcp.Use=user, Gateway.Run=operator");
    cr_assert_eq(auth_map_roles(&app.cfg, "", "openid Mcp.Use"), ROLE_USER);
    cr_assert_eq(auth_map_roles(&app.cfg, "", "Gateway.Run"), ROLE_OPERATOR | ROLE_USER);
    cr_assert_eq(auth_map_roles(&app.cfg, "", "Gateway.Admin platform_admin"), 0u,
                 "scopes outside the scope map grant nothing");
    cr_assert_eq(auth_map_roles(&app.cfg, "Mcp.Use", ""), 0u, "the scope map is not a role map");
}

Test(access, unmapped_values_grant_nothing_even_when_named_like_roles)
{
    /* With a map configured, a token role "admin" is just an unknown value. */
    cr_assert_eq(auth_map_roles(&app.cfg, "admin,platform_admin", "user"), 0u);
    cr_assert_eq(auth_map_roles(&app.cfg, "gateway.admin", ""), 0u, "case matters");
}

Test(access, empty_role_map_takes_gateway_role_names)
{
    app.cfg.auth_role_map[0] = '\0';
    cr_assert_eq(auth_map_roles(&app.cfg, "operator", ""), ROLE_OPERATOR | ROLE_USER);
    cr_assert_eq(auth_map_roles(&app.cfg, "Gateway.Admin,auditor", ""), ROLE_AUDITOR | ROLE_USER);
}

Test(access, role_map_check_names_the_bad_entry)
{
    char err[256];

    cr_assert_eq(auth_role_map_check("A=admin, B = user", err, sizeof err), 0);
    cr_assert_eq(auth_role_map_check("A=root", err, sizeof err), -1);
    cr_assert(strstr(err, "root") != NULL, "%s", err);
    cr_assert_eq(auth_role_map_check("A", err, sizeof err), -1);
}

Test(access, role_names_round_trip)
{
    cr_assert_str_eq(auth_role_name(ROLE_PLATFORM_ADMIN), "platform_admin");
    cr_assert_eq(auth_role_parse("auditor"), (unsigned)ROLE_AUDITOR);
    cr_assert_eq(auth_role_parse("root"), 0u);
}

/* ---- authenticate ---------------------------------------------------------------- */

static enum auth_status authenticate(const char *authorization, const char *query,
                                     struct gw_identity *id)
{
    struct http_request r;
    char reason[256];

    memset(&r, 0, sizeof r);
    r.method = "GET";
    snprintf(r.path, sizeof r.path, "/api/v1/me");
    r.query = query != NULL ? query : "";
    r.authorization = authorization != NULL ? authorization : "";
    return auth_authenticate(&app, &r, id, reason, sizeof reason);
}

Test(access, bearer_scheme_is_case_insensitive_and_maps_roles)
{
    char *tok = token("Gateway.Admin", "Mcp.User", NULL), hdr[4096];
    struct gw_identity id;

    snprintf(hdr, sizeof hdr, "bEaReR   %s ", tok);
    cr_assert_eq(authenticate(hdr, NULL, &id), AUTH_OK);
    cr_assert(auth_has_role(&id, ROLE_ADMIN));
    cr_assert(auth_has_role(&id, ROLE_AUDITOR));
    cr_assert_not(auth_has_role(&id, ROLE_PLATFORM_ADMIN));
    free(tok);
}

Test(access, token_in_query_string_is_ignored)
{
    char *tok = token("Gateway.Admin", NULL, NULL), query[4096];
    struct gw_identity id;

    snprintf(query, sizeof query, "access_token=%s", tok);
    cr_assert_eq(authenticate(NULL, query, &id), AUTH_MISSING);
    cr_assert_eq(id.roles, 0u);
    free(tok);
}

Test(access, other_schemes_are_not_bearer_tokens)
{
    struct gw_identity id;

    cr_assert_eq(authenticate("Basic dXNlcjpwYXNz", NULL, &id), AUTH_MISSING);
    cr_assert_eq(authenticate("Bearer", NULL, &id), AUTH_MISSING);
    cr_assert_eq(authenticate("Bearertoken", NULL, &id), AUTH_MISSING);
    cr_assert_eq(authenticate("Bearer not-a-jwt", NULL, &id), AUTH_INVALID);
}

/* ---- through the router ----------------------------------------------------------- */

Test(access, query_token_gets_401_challenge_with_resource_metadata)
{
    char *tok = token("Gateway.Admin", NULL, NULL), uri[4096];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", uri, "QUERY_STRING", uri + 11,
                           "MCPGW_PLANE", "api", NULL };

    snprintf(uri, sizeof uri, "/api/v1/me?access_token=%s", tok);
    cr_assert_eq(run(vars), 401, "%s", f.out);
    cr_assert(strstr(f.out, "WWW-Authenticate: Bearer resource_metadata=\"https://127.0.0.1:8000"
                            "/.well-known/oauth-protected-resource\"") != NULL, "%s", f.out);
    free(tok);
}

Test(access, invalid_token_gets_401_invalid_token)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api",
                           "HTTP_AUTHORIZATION", "Bearer e30.e30.c2ln", NULL };

    cr_assert_eq(run(vars), 401, "%s", f.out);
    cr_assert(strstr(f.out, "error=\"invalid_token\"") != NULL, "%s", f.out);
}

Test(access, missing_role_gets_403_insufficient_scope)
{
    char *tok = token("Unmapped.Role", NULL, NULL), hdr[4096];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api",
                           "HTTP_AUTHORIZATION", hdr, NULL };

    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    cr_assert_eq(run(vars), 403, "%s", f.out);
    cr_assert(strstr(f.out, "error=\"insufficient_scope\"") != NULL, "%s", f.out);
    free(tok);
}

Test(access, platform_admin_scope_opens_nothing_without_a_scope_map)
{
    char *tok = token(NULL, "platform_admin admin operator", NULL), hdr[4096];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/health/components",
                           "MCPGW_PLANE", "api", "HTTP_AUTHORIZATION", hdr, NULL };

    app.cfg.auth_role_map[0] = '\0';
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    cr_assert_eq(run(vars), 403, "%s", f.out);
    cr_assert(strstr(f.out, "error=\"insufficient_scope\"") != NULL, "%s", f.out);
    free(tok);
}

Test(access, me_answers_identity_without_the_token)
{
    char *tok = token("Gateway.Admin,Other", "Mcp.User openid", "tenant-1"), hdr[4096];
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", "/api/v1/me", "MCPGW_PLANE", "api",
                           "HTTP_AUTHORIZATION", hdr, NULL };
    struct json_object *o, *v;

    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    cr_assert_eq(run(vars), 200, "%s", f.out);
    o = json_tokener_parse(fake_body(&f));
    cr_assert_not_null(o);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "user_id")),
                     "oid|23:" ISS "|8:tenant-1|5:oid-1");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "tenant_id")), "tenant-1");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "issuer")), ISS);
    v = json_object_object_get(o, "roles");
    cr_assert_eq(json_object_array_length(v), 4);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), "admin");
    v = json_object_object_get(o, "token_roles");
    cr_assert_eq(json_object_array_length(v), 2);
    v = json_object_object_get(o, "scopes");
    cr_assert_eq(json_object_array_length(v), 2);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "openid");
    cr_assert_eq(strlen(json_object_get_string(json_object_object_get(o, "expires_at"))), 24);
    cr_assert(strstr(f.out, strrchr(tok, '.') + 1) == NULL, "the token must not be echoed");
    json_object_put(o);
    free(tok);
}

static struct json_object *metadata(const char *uri, const char *plane)
{
    const char *vars[] = { "REQUEST_METHOD", "GET", "REQUEST_URI", uri, "MCPGW_PLANE", plane, NULL };

    cr_assert_eq(run(vars), 200, "%s", f.out);
    return json_tokener_parse(fake_body(&f));
}

Test(access, protected_resource_metadata_for_mcp_paths)
{
    struct json_object *o = metadata("/.well-known/oauth-protected-resource/mcp", "mcp"), *v;

    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "resource")),
                     "https://127.0.0.1:8001/mcp");
    v = json_object_object_get(o, "authorization_servers");
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), ISS);
    v = json_object_object_get(o, "bearer_methods_supported");
    cr_assert_eq(json_object_array_length(v), 1);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), "header");
    v = json_object_object_get(o, "scopes_supported");
    cr_assert_eq(json_object_array_length(v), 2);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "Gateway.Admin");
    json_object_put(o);

    o = metadata("/.well-known/oauth-protected-resource/servers/github/mcp", "mcp");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "resource")),
                     "https://127.0.0.1:8001/servers/github/mcp");
    json_object_put(o);

    o = metadata("/.well-known/oauth-protected-resource", "mcp");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "resource")),
                     "https://127.0.0.1:8001");
    json_object_put(o);
}

Test(access, metadata_names_configured_authorization_servers)
{
    struct json_object *o, *v;

    snprintf(app.cfg.auth_authorization_servers, sizeof app.cfg.auth_authorization_servers,
             "https://as1.example, https://as2.example");
    o = metadata("/.well-known/oauth-protected-resource", "api");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "resource")),
                     "https://127.0.0.1:8000");
    v = json_object_object_get(o, "authorization_servers");
    cr_assert_eq(json_object_array_length(v), 2);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "https://as2.example");
    json_object_put(o);
}

Test(access, metadata_for_tid_issuer_names_the_single_allowed_tenant)
{
    struct json_object *o, *v;

    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer,
             "https://login.microsoftonline.com/{tid}/v2.0");
    snprintf(app.cfg.auth_allowed_tenants, sizeof app.cfg.auth_allowed_tenants, "tenant-1");
    o = metadata("/.well-known/oauth-protected-resource/mcp", "mcp");
    v = json_object_object_get(o, "authorization_servers");
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)),
                     "https://login.microsoftonline.com/tenant-1/v2.0");
    json_object_put(o);
}
