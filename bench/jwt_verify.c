/* RS256 verifications per second on one core through authjwt_verify with a
 * cached JWKS key: the per-request cost of authentication, claims included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app.h"
#include "auth_jwt.h"
#include "jwt_fixture.h"
#include "log.h"
#include "util.h"

/* CPU time of this process in microseconds: `openssl speed` divides by CPU
 * time too, so both figures stay per core on a shared machine. */
static int64_t cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    struct gw_config cfg;
    struct gw_app app;
    struct gw_identity id;
    struct fx_key key;
    const struct fx_key *keys[1] = { &key };
    struct json_object *claims;
    char dir[256], path[300], reason[256], *tok;
    size_t len;
    int64_t start, stop, cpu0, cpu;
    unsigned long n = 0;
    int rc = 1;

    log_init("bench", LOG_LVL_ERROR);
    if (seconds <= 0 || fx_tmpdir(dir, sizeof dir) != 0 || fx_key_rsa(&key, "bench", 2048) != 0) {
        fprintf(stderr, "usage: jwt_verify [SECONDS]\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    if (fx_write_jwks(path, keys, 1) != 0)
        goto out;
    cfg_defaults(&cfg);
    snprintf(cfg.auth_issuer, sizeof cfg.auth_issuer, "https://login.microsoftonline.com/{tid}/v2.0");
    snprintf(cfg.auth_audiences, sizeof cfg.auth_audiences, "api://gateway");
    snprintf(cfg.auth_allowed_tenants, sizeof cfg.auth_allowed_tenants, "*");
    snprintf(cfg.auth_jwks_uri, sizeof cfg.auth_jwks_uri, "file://%s", path);
    /* No Redis: the steady state must not need it, so measure without it. */
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://127.0.0.1:1/0");
    if (app_init(&app, &cfg, PLANE_BOTH) != 0)
        goto out;
    /* A realistic Entra v2 access token: tenant, object id, roles, scopes. */
    claims = fx_claims("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                       "api://gateway", (int64_t)time(NULL));
    json_object_object_add(claims, "exp", json_object_new_int64((int64_t)time(NULL) + 86400));
    json_object_object_add(claims, "tid", json_object_new_string("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    json_object_object_add(claims, "oid", json_object_new_string("0b1f2c3d-0000-4000-8000-000000000001"));
    json_object_object_add(claims, "azp", json_object_new_string("3f1c0d5e-1111-4222-8333-444455556666"));
    json_object_object_add(claims, "scp", json_object_new_string("Mcp.User Files.Read"));
    json_object_object_add(claims, "ver", json_object_new_string("2.0"));
    tok = fx_token(&key, claims);
    json_object_put(claims);
    len = strlen(tok);
    /* The first call loads and parses the JWKS; it is not measured. */
    if (authjwt_verify(&app, tok, len, &id, reason, sizeof reason) != AUTH_OK) {
        fprintf(stderr, "jwt_verify: warm-up failed: %s\n", reason);
        goto free_tok;
    }
    start = gw_monotonic_ms();
    stop = start + (int64_t)(seconds * 1000);
    cpu0 = cpu_us();
    do {
        for (int i = 0; i < 64; i++) {
            if (authjwt_verify(&app, tok, len, &id, reason, sizeof reason) != AUTH_OK) {
                fprintf(stderr, "jwt_verify: verification failed: %s\n", reason);
                goto free_tok;
            }
            n++;
        }
    } while (gw_monotonic_ms() < stop);
    cpu = cpu_us() - cpu0;
    printf("gateway_rs256_verify_per_s %.1f\n", (double)n * 1e6 / (double)cpu);
    printf("gateway_rs256_verify_us %.2f\n", (double)cpu / (double)n);
    printf("wall_verify_per_s %.1f\n", (double)n * 1000.0 / (double)(gw_monotonic_ms() - start));
    printf("token_bytes %zu\n", len);
    rc = 0;
free_tok:
    free(tok);
    app_free(&app);
out:
    fx_key_free(&key);
    fx_rmdir(dir);
    return rc;
}
