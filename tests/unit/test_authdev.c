/* Development issuer: RFC 7638 kid, its JWKS, minted tokens that the gateway's
 * own verification accepts, and the token/jwks CLI entry points. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "app.h"
#include "auth.h"
#include "auth_dev.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "jwt_fixture.h"
#include "log.h"

#define AUD "api://gateway"

static struct gw_config cfg;
static struct fx_key rsa;
static char dir[256], key_path[300], jwks_path[300];

static void setup(void)
{
    FILE *fp;

    log_init("test", LOG_LVL_ERROR);
    cr_assert_eq(fx_tmpdir(dir, sizeof dir), 0);
    snprintf(key_path, sizeof key_path, "%s/dev-issuer.pem", dir);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    cr_assert_eq(fx_key_rsa(&rsa, "unused", 2048), 0);
    fp = fopen(key_path, "w");
    cr_assert_not_null(fp);
    cr_assert_eq(PEM_write_PrivateKey(fp, rsa.pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    cfg_defaults(&cfg);
    snprintf(cfg.auth_issuer, sizeof cfg.auth_issuer, "https://dev.example/{tid}/v2.0");
    snprintf(cfg.auth_audiences, sizeof cfg.auth_audiences, "%s,other", AUD);
    snprintf(cfg.auth_allowed_tenants, sizeof cfg.auth_allowed_tenants, "*");
    snprintf(cfg.auth_jwks_uri, sizeof cfg.auth_jwks_uri, "file://%s", jwks_path);
    snprintf(cfg.auth_dev_issuer_key, sizeof cfg.auth_dev_issuer_key, "%s", key_path);
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://127.0.0.1:1/0");
}

static void teardown(void)
{
    fx_key_free(&rsa);
    fx_rmdir(dir);
}

TestSuite(authdev, .init = setup, .fini = teardown);

static void write_dev_jwks(const struct authdev_key *k)
{
    char *doc = authdev_jwks_json(k);
    FILE *fp = fopen(jwks_path, "w");

    cr_assert_not_null(doc);
    cr_assert_not_null(fp);
    fputs(doc, fp);
    fclose(fp);
    free(doc);
}

static enum auth_status verify(const char *tok, struct gw_identity *id)
{
    struct gw_app app;
    char reason[256];
    enum auth_status st;

    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
    st = authjwt_verify(&app, tok, strlen(tok), id, reason, sizeof reason);
    app_free(&app);
    cr_log_info("verify: %s", reason);
    return st;
}

Test(authdev, thumbprint_matches_rfc7638_example)
{
    char kid[64];

    cr_assert_eq(authdev_thumbprint(
                     "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFF"
                     "xuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt"
                     "7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6"
                     "qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINH"
                     "aQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                     "AQAB", kid, sizeof kid),
                 0);
    cr_assert_str_eq(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

Test(authdev, jwks_publishes_the_key_under_its_thumbprint)
{
    struct authdev_key k;
    struct jwks_set set;
    char err[256], *doc;

    cr_assert_eq(authdev_key_load(key_path, &k, err, sizeof err), 0, "%s", err);
    doc = authdev_jwks_json(&k);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 1);
    cr_assert_not_null(jwks_find(&set, k.kid));
    cr_assert_eq(EVP_PKEY_eq(jwks_find(&set, k.kid)->pkey, rsa.pkey), 1);
    jwks_set_free(&set);
    free(doc);
    authdev_key_free(&k);
}

Test(authdev, minted_token_passes_gateway_verification)
{
    struct authdev_claims c = { "user-7", "tenant-1", "admin, user", "Mcp.User openid", AUD,
                                "dev-cli", 600 };
    struct authdev_key k;
    struct gw_identity id;
    char err[256], *tok;

    cr_assert_eq(authdev_key_load(key_path, &k, err, sizeof err), 0, "%s", err);
    write_dev_jwks(&k);
    tok = authdev_mint(&cfg, &k, &c, (int64_t)time(NULL), err, sizeof err);
    cr_assert_not_null(tok, "%s", err);
    cr_assert_eq(verify(tok, &id), AUTH_OK);
    cr_assert_str_eq(id.issuer, "https://dev.example/tenant-1/v2.0");
    cr_assert_str_eq(id.user_id, "oid|33:https://dev.example/tenant-1/v2.0|8:tenant-1|6:user-7");
    cr_assert_str_eq(id.token_roles, "admin,user");
    cr_assert_str_eq(id.scopes, "Mcp.User openid");
    cr_assert_str_eq(id.client_id, "dev-cli");
    cr_assert_eq(auth_map_roles(&cfg, id.token_roles, id.scopes),
                 ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR | ROLE_USER);
    free(tok);
    authdev_key_free(&k);
}

Test(authdev, mint_refuses_tid_issuer_without_tenant)
{
    struct authdev_claims c = { "user-7", "", "", "", AUD, "dev-cli", 600 };
    struct authdev_key k;
    char err[256];

    cr_assert_eq(authdev_key_load(key_path, &k, err, sizeof err), 0, "%s", err);
    cr_assert_null(authdev_mint(&cfg, &k, &c, (int64_t)time(NULL), err, sizeof err));
    cr_assert(strstr(err, "tenant") != NULL, "%s", err);
    authdev_key_free(&k);
}

Test(authdev, expired_minted_token_is_rejected)
{
    struct authdev_claims c = { "user-7", "tenant-1", "user", "", AUD, "dev-cli", 60 };
    struct authdev_key k;
    struct gw_identity id;
    char err[256], *tok;

    cr_assert_eq(authdev_key_load(key_path, &k, err, sizeof err), 0, "%s", err);
    write_dev_jwks(&k);
    tok = authdev_mint(&cfg, &k, &c, (int64_t)time(NULL) - 3600, err, sizeof err);
    cr_assert_not_null(tok, "%s", err);
    cr_assert_eq(verify(tok, &id), AUTH_INVALID);
    free(tok);
    authdev_key_free(&k);
}

Test(authdev, cli_token_without_dev_issuer_exits_2)
{
    char *argv[] = { "token", "--sub", "x", NULL };

    cfg.auth_dev_issuer_key[0] = '\0';
    cr_assert_eq(auth_cli_token(&cfg, 3, argv), 2);
}

Test(authdev, cli_token_rejects_bad_usage)
{
    char *no_sub[] = { "token", "--tenant", "t", NULL };
    char *bad_ttl[] = { "token", "--sub", "x", "--tenant", "t", "--ttl", "-5", NULL };

    cr_assert_eq(auth_cli_token(&cfg, 3, no_sub), 2);
    cr_assert_eq(auth_cli_token(&cfg, 7, bad_ttl), 2);
}

Test(authdev, cli_token_prints_a_verifiable_token)
{
    char *argv[] = { "token", "--sub", "ops-1", "--tenant", "tenant-2", "--roles", "operator",
                     "--scopes", "Mcp.User", "--ttl", "120", NULL };
    struct authdev_key k;
    struct gw_identity id;
    char err[256], line[8192];
    FILE *out;

    cr_redirect_stdout();
    cr_assert_eq(authdev_key_load(key_path, &k, err, sizeof err), 0, "%s", err);
    write_dev_jwks(&k);
    cr_assert_eq(auth_cli_token(&cfg, 11, argv), 0);
    fflush(stdout);
    out = cr_get_redirected_stdout();
    cr_assert_not_null(fgets(line, sizeof line, out));
    line[strcspn(line, "\n")] = '\0';
    cr_assert_eq(verify(line, &id), AUTH_OK);
    cr_assert_str_eq(id.user_id, "oid|33:https://dev.example/tenant-2/v2.0|8:tenant-2|5:ops-1");
    cr_assert(id.exp - (int64_t)time(NULL) <= 120);
    authdev_key_free(&k);
}

Test(authdev, cli_jwks_prints_the_public_key_set)
{
    char *argv[] = { "jwks", NULL };
    struct jwks_set set;
    char err[256], line[8192];
    FILE *out;

    cr_redirect_stdout();
    cr_assert_eq(auth_cli_jwks(&cfg, 1, argv), 0);
    fflush(stdout);
    out = cr_get_redirected_stdout();
    cr_assert_not_null(fgets(line, sizeof line, out));
    /* Written to a file as printed, newline included, it must load. */
    cr_assert_eq(jwks_parse(line, strlen(line), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 1);
    cr_assert_null(strstr(line, "\"d\""), "no private member");
    jwks_set_free(&set);
}
