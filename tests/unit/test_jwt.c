/* Bearer token verification: every rejection the resource server owes (alg
 * confusion, foreign keys, claims, malformed input) and the accepted shapes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "app.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "jwt_fixture.h"
#include "log.h"

#define ISS FX_ISS
#define AUD FX_AUD
#define TID "72f988bf-86f1-41af-91ab-2d7cd011db47"

static struct gw_app app;
static struct gw_config cfg;
static struct fx_key rsa, ec;
static char dir[256], jwks_path[300];
static struct gw_identity id;
static char reason[256];

static void write_jwks(void)
{
    const struct fx_key *keys[] = { &rsa, &ec };

    cr_assert_eq(fx_write_jwks(jwks_path, keys, 2), 0);
}

static void setup(void)
{
    log_init("test", LOG_LVL_ERROR);
    cr_assert_eq(fx_tmpdir(dir, sizeof dir), 0);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    cr_assert_eq(fx_key_rsa(&rsa, "rsa-1", 2048), 0);
    cr_assert_eq(fx_key_ec(&ec, "ec-1"), 0);
    write_jwks();
    /* Redis is unreachable there: these tests exercise the direct JWKS path. */
    fx_config(&cfg, jwks_path);
    snprintf(cfg.auth_audiences, sizeof cfg.auth_audiences, "%s, https://gw.example/mcp", AUD);
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
}

static void teardown(void)
{
    app_free(&app);
    fx_key_free(&rsa);
    fx_key_free(&ec);
    fx_rmdir(dir);
}

TestSuite(jwt, .init = setup, .fini = teardown);

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static enum auth_status verify(const char *tok)
{
    reason[0] = '\0';
    return authjwt_verify(&app, tok, strlen(tok), &id, reason, sizeof reason);
}

/* Sign claims with k and verify; frees both. */
static enum auth_status verify_claims(const struct fx_key *k, struct json_object *claims)
{
    char *tok = fx_token(k, claims);
    enum auth_status st = verify(tok);

    free(tok);
    json_object_put(claims);
    return st;
}

static enum auth_status verify_raw(const struct fx_key *k, const char *header, const char *payload)
{
    char *tok = fx_sign(k, header, payload);
    enum auth_status st = verify(tok);

    free(tok);
    return st;
}

static const char *payload_ok(void)
{
    static char buf[512];

    snprintf(buf, sizeof buf, "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"s\",\"exp\":%lld}", ISS,
             AUD, (long long)now_s() + 600);
    return buf;
}

/* An RS256 token of claims, which it releases. */
static char *token_with(struct json_object *claims)
{
    char *tok = fx_token(&rsa, claims);

    json_object_put(claims);
    return tok;
}

static char *b64(const char *s)
{
    static char buf[4096];

    cr_assert_geq(authjwt_b64url_encode((const unsigned char *)s, strlen(s), buf, sizeof buf), 0);
    return buf;
}

/* ---- accepted -------------------------------------------------------------- */

Test(jwt, accepts_rs256_token_from_jwks_key)
{
    cr_assert_eq(verify_claims(&rsa, fx_claims(ISS, AUD, now_s())), AUTH_OK, "%s", reason);
    cr_assert_str_eq(id.user_id, "sub|23:" ISS "|9:subject-1");
    cr_assert_str_eq(id.issuer, ISS);
    cr_assert_eq(strlen(id.token_sha256), 64);
}

Test(jwt, accepts_es256_token_from_jwks_key)
{
    cr_assert_eq(verify_claims(&ec, fx_claims(ISS, AUD, now_s())), AUTH_OK, "%s", reason);
}

Test(jwt, accepts_typ_jwt_at_jwt_and_absent)
{
    char h[256];

    fx_header(h, sizeof h, "RS256", "rsa-1", "JWT");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_OK, "%s", reason);
    fx_header(h, sizeof h, "RS256", "rsa-1", "at+jwt");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_OK, "%s", reason);
    fx_header(h, sizeof h, "RS256", "rsa-1", "application/at+JWT");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_OK, "%s", reason);
    fx_header(h, sizeof h, "RS256", "rsa-1", NULL);
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_OK, "%s", reason);
}

Test(jwt, accepts_entra_v2_token_with_tid_issuer)
{
    struct json_object *c = fx_claims("https://login.microsoftonline.com/" TID "/v2.0", AUD, now_s());

    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer,
             "https://login.microsoftonline.com/{tid}/v2.0");
    snprintf(app.cfg.auth_allowed_tenants, sizeof app.cfg.auth_allowed_tenants, "%s", TID);
    json_object_object_add(c, "ver", json_object_new_string("2.0"));
    json_object_object_add(c, "tid", json_object_new_string(TID));
    json_object_object_add(c, "oid", json_object_new_string("0b1f2c3d-0000-4000-8000-000000000001"));
    json_object_object_add(c, "azp", json_object_new_string("client-v2"));
    json_object_object_add(c, "scp", json_object_new_string("Mcp.Use Files.Read"));
    json_object_object_add(c, "preferred_username", json_object_new_string("admin@evil.example"));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
    cr_assert_str_eq(id.user_id, "oid|75:https://login.microsoftonline.com/" TID "/v2.0|36:" TID
                                 "|36:0b1f2c3d-0000-4000-8000-000000000001");
    cr_assert_str_eq(id.tenant_id, TID);
    cr_assert_str_eq(id.client_id, "client-v2");
    cr_assert_str_eq(id.scopes, "Mcp.Use Files.Read");
}

Test(jwt, accepts_entra_v1_token_with_appid)
{
    struct json_object *c = fx_claims("https://sts.windows.net/" TID "/", "api://gateway", now_s());
    struct json_object *roles = json_object_new_array();

    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer, "https://sts.windows.net/{tid}/");
    json_object_object_add(c, "ver", json_object_new_string("1.0"));
    json_object_object_add(c, "tid", json_object_new_string(TID));
    json_object_object_add(c, "oid", json_object_new_string("oid-v1"));
    json_object_object_add(c, "appid", json_object_new_string("client-v1"));
    json_object_array_add(roles, json_object_new_string("Gateway.Admin"));
    json_object_array_add(roles, json_object_new_string("Mcp.User"));
    json_object_object_add(c, "roles", roles);
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
    cr_assert_str_eq(id.user_id, "oid|61:https://sts.windows.net/" TID "/|36:" TID "|6:oid-v1");
    cr_assert_str_eq(id.client_id, "client-v1");
    cr_assert_str_eq(id.token_roles, "Gateway.Admin,Mcp.User");
}

Test(jwt, accepts_generic_oidc_token_identified_by_iss_and_sub)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    snprintf(app.cfg.auth_allowed_tenants, sizeof app.cfg.auth_allowed_tenants, "%s", "");
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
    cr_assert_str_eq(id.user_id, "sub|23:" ISS "|9:subject-1");
    cr_assert_str_eq(id.tenant_id, "");
}

/* The identity of claims c (released) as authjwt_check_claims sees it. */
static void identity_of(struct json_object *c, struct gw_identity *out)
{
    cr_assert_eq(authjwt_check_claims(&app.cfg, c, now_s(), out, reason, sizeof reason), 0, "%s",
                 reason);
    json_object_put(c);
}

Test(jwt, user_id_keeps_apart_principals_that_once_shared_one)
{
    struct json_object *entra = fx_claims(ISS, AUD, now_s());
    struct gw_identity a, b;

    /* "tid:oid" and "iss|sub" both spelled "https://issuer.example/|subject-1". */
    json_object_object_add(entra, "tid", json_object_new_string("https"));
    json_object_object_add(entra, "oid", json_object_new_string("//issuer.example/|subject-1"));
    identity_of(entra, &a);
    identity_of(fx_claims(ISS, AUD, now_s()), &b);
    cr_assert_str_neq(a.user_id, b.user_id);
    cr_assert_str_eq(a.user_id, "oid|23:" ISS "|5:https|27://issuer.example/|subject-1");
    cr_assert_str_eq(b.user_id, "sub|23:" ISS "|9:subject-1");
}

Test(jwt, user_id_names_the_issuer_of_the_same_tenant_and_object)
{
    struct json_object *v1 = fx_claims("https://sts.windows.net/" TID "/", AUD, now_s());
    struct json_object *v2 = fx_claims("https://login.microsoftonline.com/" TID "/v2.0", AUD, now_s());
    struct gw_identity a, b;

    json_object_object_add(v1, "tid", json_object_new_string(TID));
    json_object_object_add(v1, "oid", json_object_new_string("oid-1"));
    json_object_object_add(v2, "tid", json_object_new_string(TID));
    json_object_object_add(v2, "oid", json_object_new_string("oid-1"));
    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer, "https://sts.windows.net/{tid}/");
    identity_of(v1, &a);
    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer,
             "https://login.microsoftonline.com/{tid}/v2.0");
    identity_of(v2, &b);
    cr_assert_str_neq(a.user_id, b.user_id);
}

Test(jwt, user_id_holds_the_longest_subject)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());
    char sub[250];

    memset(sub, 'x', sizeof sub - 1);
    sub[sizeof sub - 1] = '\0';
    json_object_object_add(c, "sub", json_object_new_string(sub));
    identity_of(c, &id);
    cr_assert_eq(strlen(id.user_id), strlen("sub|23:" ISS "|249:") + 249);
}

Test(jwt, accepts_aud_array_with_one_configured_audience)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s()), *aud = json_object_new_array();

    json_object_array_add(aud, json_object_new_string("other"));
    json_object_array_add(aud, json_object_new_string("https://gw.example/mcp"));
    json_object_object_add(c, "aud", aud);
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
}

Test(jwt, accepts_nbf_in_future_within_skew)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_add(c, "nbf", json_object_new_int64(now_s() + 30));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
}

/* ---- rejected: algorithm and key ------------------------------------------ */

Test(jwt, rejects_alg_none)
{
    char tok[1024], h[128];

    fx_header(h, sizeof h, "none", "rsa-1", "JWT");
    snprintf(tok, sizeof tok, "%s.", b64(h));
    snprintf(tok + strlen(tok), sizeof tok - strlen(tok), "%s.", b64(payload_ok()));
    cr_assert_eq(verify(tok), AUTH_INVALID);
    cr_assert(strstr(reason, "alg") != NULL, "%s", reason);
    /* Same with a signature present: alg none is refused whatever follows. */
    snprintf(tok + strlen(tok), sizeof tok - strlen(tok), "%s", "c2ln");
    cr_assert_eq(verify(tok), AUTH_INVALID);
}

Test(jwt, rejects_hs256_signed_with_rsa_public_key)
{
    char pem[4096], h[128];
    long len = fx_pubkey_pem(&rsa, pem, sizeof pem);
    char *tok;

    cr_assert_gt(len, 0);
    fx_header(h, sizeof h, "HS256", "rsa-1", "JWT");
    tok = fx_sign_hs256((const unsigned char *)pem, (size_t)len, h, payload_ok());
    cr_assert_eq(verify(tok), AUTH_INVALID);
    cr_assert(strstr(reason, "HS256") != NULL, "%s", reason);
    free(tok);
}

Test(jwt, rejects_valid_signature_from_key_not_in_jwks)
{
    struct fx_key other;

    /* A well-formed RS256 signature, by a key that claims a trusted kid. */
    cr_assert_eq(fx_key_rsa(&other, "rsa-1", 2048), 0);
    cr_assert_eq(verify_claims(&other, fx_claims(ISS, AUD, now_s())), AUTH_INVALID);
    cr_assert(strstr(reason, "bad signature") != NULL, "%s", reason);
    fx_key_free(&other);
}

Test(jwt, rejects_rs256_header_on_ec_key)
{
    char h[128];

    fx_header(h, sizeof h, "RS256", "ec-1", "JWT");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_INVALID);
    cr_assert(strstr(reason, "does not match key") != NULL, "%s", reason);
}

Test(jwt, rejects_es256_header_on_rsa_key)
{
    char h[128];

    fx_header(h, sizeof h, "ES256", "rsa-1", "JWT");
    cr_assert_eq(verify_raw(&ec, h, payload_ok()), AUTH_INVALID);
    cr_assert(strstr(reason, "does not match key") != NULL, "%s", reason);
}

Test(jwt, rejects_token_without_kid)
{
    char h[128];

    fx_header(h, sizeof h, "RS256", NULL, "JWT");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_INVALID);
}

Test(jwt, rejects_unknown_typ_and_crit)
{
    char h[256];

    fx_header(h, sizeof h, "RS256", "rsa-1", "JWE");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_INVALID);
    snprintf(h, sizeof h, "%s", "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"]}");
    cr_assert_eq(verify_raw(&rsa, h, payload_ok()), AUTH_INVALID);
}

Test(jwt, rejects_tampered_payload)
{
    char *tok = token_with(fx_claims(ISS, AUD, now_s()));
    char *dot = strchr(tok, '.');
    struct json_object *c = fx_claims(ISS, AUD, now_s());
    char forged[8192];

    json_object_object_add(c, "sub", json_object_new_string("someone-else"));
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot - tok), tok,
             b64(json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN)), strrchr(tok, '.'));
    cr_assert_eq(verify(forged), AUTH_INVALID);
    json_object_put(c);
    free(tok);
}

/* ---- rejected: claims ------------------------------------------------------ */

Test(jwt, rejects_expired_token)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_add(c, "exp", json_object_new_int64(now_s() - 120));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    cr_assert(strstr(reason, "expired") != NULL, "%s", reason);
}

Test(jwt, rejects_exp_and_nbf_beyond_any_real_date)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    /* INT64_MAX: exp + skew would overflow if it were taken as a time. */
    json_object_object_add(c, "exp", json_object_new_int64(INT64_MAX));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "nbf", json_object_new_int64(INT64_MIN));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "exp", json_object_new_double(1e300));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, accepts_expiry_within_skew_and_rejects_past_it)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_add(c, "exp", json_object_new_int64(now_s() - 30));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
    app.cfg.auth_clock_skew = 5;
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "exp", json_object_new_int64(now_s() - 30));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, rejects_token_without_exp)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_del(c, "exp");
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "exp", json_object_new_string("tomorrow"));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, rejects_nbf_in_future_beyond_skew)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_add(c, "nbf", json_object_new_int64(now_s() + 300));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    cr_assert(strstr(reason, "not valid") != NULL, "%s", reason);
    /* The skew is configuration: without it, 30 s early is too early. */
    app.cfg.auth_clock_skew = 0;
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "nbf", json_object_new_int64(now_s() + 30));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, rejects_wrong_issuer)
{
    cr_assert_eq(verify_claims(&rsa, fx_claims("https://issuer.example", AUD, now_s())),
                 AUTH_INVALID);
    cr_assert(strstr(reason, "iss") != NULL, "%s", reason);
    cr_assert_eq(verify_claims(&rsa, fx_claims("https://evil.example/", AUD, now_s())),
                 AUTH_INVALID);
}

Test(jwt, rejects_issuer_with_embedded_nul)
{
    char payload[512], h[128];

    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\\u0000evil\",\"aud\":\"%s\",\"sub\":\"s\",\"exp\":%lld}", ISS, AUD,
             (long long)now_s() + 600);
    fx_header(h, sizeof h, "RS256", "rsa-1", "JWT");
    cr_assert_eq(verify_raw(&rsa, h, payload), AUTH_INVALID);
}

Test(jwt, rejects_multi_tenant_issuer_of_another_tenant)
{
    struct json_object *c = fx_claims("https://login.microsoftonline.com/other-tenant/v2.0", AUD,
                                      now_s());

    snprintf(app.cfg.auth_issuer, sizeof app.cfg.auth_issuer,
             "https://login.microsoftonline.com/{tid}/v2.0");
    json_object_object_add(c, "tid", json_object_new_string(TID));
    json_object_object_add(c, "oid", json_object_new_string("o"));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    /* And a {tid} issuer cannot be satisfied by a token without tid. */
    c = fx_claims("https://login.microsoftonline.com/{tid}/v2.0", AUD, now_s());
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, rejects_aud_string_not_configured)
{
    cr_assert_eq(verify_claims(&rsa, fx_claims(ISS, "api://someone-else", now_s())), AUTH_INVALID);
    cr_assert(strstr(reason, "aud") != NULL, "%s", reason);
}

Test(jwt, rejects_aud_array_without_configured_audience)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s()), *aud = json_object_new_array();

    json_object_array_add(aud, json_object_new_string("api://a"));
    json_object_array_add(aud, json_object_new_string("api://b"));
    json_object_object_add(c, "aud", aud);
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_del(c, "aud");
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

Test(jwt, rejects_tenant_not_allowed)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    snprintf(app.cfg.auth_allowed_tenants, sizeof app.cfg.auth_allowed_tenants, "tenant-a,tenant-b");
    json_object_object_add(c, "tid", json_object_new_string("tenant-c"));
    json_object_object_add(c, "oid", json_object_new_string("o"));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
    cr_assert(strstr(reason, "tenant") != NULL, "%s", reason);
    c = fx_claims(ISS, AUD, now_s());
    json_object_object_add(c, "tid", json_object_new_string("tenant-b"));
    json_object_object_add(c, "oid", json_object_new_string("o"));
    cr_assert_eq(verify_claims(&rsa, c), AUTH_OK, "%s", reason);
}

Test(jwt, rejects_token_without_tid_when_tenants_are_listed)
{
    snprintf(app.cfg.auth_allowed_tenants, sizeof app.cfg.auth_allowed_tenants, "tenant-a");
    cr_assert_eq(verify_claims(&rsa, fx_claims(ISS, AUD, now_s())), AUTH_INVALID);
}

Test(jwt, rejects_token_without_subject)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());

    json_object_object_del(c, "sub");
    cr_assert_eq(verify_claims(&rsa, c), AUTH_INVALID);
}

/* ---- rejected: malformed ----------------------------------------------------- */

Test(jwt, rejects_wrong_segment_count)
{
    char *tok = token_with(fx_claims(ISS, AUD, now_s()));
    char buf[8192];

    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    *strrchr(tok, '.') = '\0';
    cr_assert_eq(verify(tok), AUTH_INVALID);
    cr_assert(strstr(reason, "three") != NULL, "%s", reason);
    free(tok);
    tok = token_with(fx_claims(ISS, AUD, now_s()));
    snprintf(buf, sizeof buf, "%s.c2ln", tok);
    cr_assert_eq(verify(buf), AUTH_INVALID);
    cr_assert_eq(verify("abc"), AUTH_INVALID);
    cr_assert_eq(verify(""), AUTH_INVALID);
    free(tok);
}

Test(jwt, rejects_malformed_base64url)
{
    char *tok = token_with(fx_claims(ISS, AUD, now_s()));
    char buf[8192];

    /* Padding, the standard alphabet, and a stray character. */
    snprintf(buf, sizeof buf, "%s=", tok);
    cr_assert_eq(verify(buf), AUTH_INVALID);
    snprintf(buf, sizeof buf, "%s", tok);
    strchr(buf, '.')[-1] = '+';
    cr_assert_eq(verify(buf), AUTH_INVALID);
    snprintf(buf, sizeof buf, "%s", tok);
    buf[3] = '*';
    cr_assert_eq(verify(buf), AUTH_INVALID);
    free(tok);
}

Test(jwt, b64url_decoder_is_strict)
{
    unsigned char out[16];

    cr_assert_eq(authjwt_b64url_decode("QQ", 2, out, sizeof out), 1);
    cr_assert_eq(out[0], 'A');
    cr_assert_eq(authjwt_b64url_decode("QR", 2, out, sizeof out), -1, "non-zero trailing bits");
    cr_assert_eq(authjwt_b64url_decode("QQ==", 4, out, sizeof out), -1, "padding");
    cr_assert_eq(authjwt_b64url_decode("Q", 1, out, sizeof out), -1, "impossible length");
    cr_assert_eq(authjwt_b64url_decode("ab/c", 4, out, sizeof out), -1, "standard alphabet");
    cr_assert_eq(authjwt_b64url_decode("-_-_", 4, out, sizeof out), 3);
}

Test(jwt, rejects_malformed_json)
{
    char h[128];

    fx_header(h, sizeof h, "RS256", "rsa-1", "JWT");
    cr_assert_eq(verify_raw(&rsa, h, "{\"iss\":"), AUTH_INVALID);
    cr_assert(strstr(reason, "payload") != NULL, "%s", reason);
    cr_assert_eq(verify_raw(&rsa, h, "[1,2]"), AUTH_INVALID);
    cr_assert_eq(verify_raw(&rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"} x", payload_ok()),
                 AUTH_INVALID);
    cr_assert(strstr(reason, "header") != NULL, "%s", reason);
    cr_assert_eq(verify_raw(&rsa, "{'alg':'RS256'}", payload_ok()), AUTH_INVALID);
}

Test(jwt, rejects_token_over_16k)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());
    static char big[17000];
    char *tok;

    memset(big, 'a', sizeof big - 1);
    json_object_object_add(c, "pad", json_object_new_string(big));
    tok = fx_token(&rsa, c);
    cr_assert_gt(strlen(tok), 16384);
    cr_assert_eq(verify(tok), AUTH_INVALID);
    cr_assert(strstr(reason, "longer") != NULL, "%s", reason);
    free(tok);
    json_object_put(c);
}

Test(jwt, rejection_reason_never_contains_the_token)
{
    char *tok = token_with(fx_claims("https://evil.example/", AUD, now_s()));
    char *sig = strrchr(tok, '.') + 1;

    cr_assert_eq(verify(tok), AUTH_INVALID);
    cr_assert(strstr(reason, sig) == NULL);
    cr_assert(strstr(reason, "eyJ") == NULL, "%s", reason);
    free(tok);
}

/* ---- the responder's cache of verified tokens ------------------------------ */

Test(jwt, verified_token_is_checked_again_once_expired)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());
    char *tok;

    app.cfg.auth_clock_skew = 0;
    json_object_object_add(c, "exp", json_object_new_int64(now_s() + 2));
    tok = token_with(c);
    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    cr_assert_str_eq(id.user_id, "sub|23:" ISS "|9:subject-1");
    cr_assert_eq(strlen(id.token_sha256), 64);
    sleep(3);
    cr_assert_eq(verify(tok), AUTH_INVALID, "a kept token outlived its exp");
    cr_assert(strstr(reason, "expired") != NULL, "%s", reason);
    free(tok);
}

Test(jwt, verified_token_is_checked_again_under_a_new_key_set)
{
    struct fx_key other;
    const struct fx_key *keys[] = { &other };
    char *tok = token_with(fx_claims(ISS, AUD, now_s()));

    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    /* The issuer replaces the key behind the same kid. */
    cr_assert_eq(fx_key_rsa(&other, "rsa-1", 2048), 0);
    cr_assert_eq(fx_write_jwks(jwks_path, keys, 1), 0);
    app.auth->loaded = false;
    cr_assert_eq(verify(tok), AUTH_INVALID, "a token kept from the old key set was trusted");
    cr_assert(strstr(reason, "signature") != NULL, "%s", reason);
    fx_key_free(&other);
    free(tok);
}

Test(jwt, rejected_token_is_not_kept)
{
    struct json_object *c = fx_claims(ISS, AUD, now_s());
    char *tok;

    json_object_object_add(c, "aud", json_object_new_string("https://other.example"));
    tok = token_with(c);
    cr_assert_eq(verify(tok), AUTH_INVALID);
    snprintf(app.cfg.auth_audiences, sizeof app.cfg.auth_audiences, "https://other.example");
    cr_assert_eq(verify(tok), AUTH_OK, "%s", reason);
    snprintf(app.cfg.auth_audiences, sizeof app.cfg.auth_audiences, "%s", AUD);
    free(tok);
}
