/* JWKS: which keys are trusted, where they may come from, the fleet copy in
 * Redis, and the single refresh per period on an unknown kid. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "auth_jwks.h"
#include "auth_jwt.h"
#include "jwt_fixture.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define ISS FX_ISS
#define AUD FX_AUD

static struct fx_key ka, kb, kc;
static char dir[256], jwks_path[300];
static struct gw_config cfg;
static struct fx_redis rds;

static void setup(void)
{
    log_init("test", LOG_LVL_ERROR);
    cr_assert_eq(fx_tmpdir(dir, sizeof dir), 0);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    cr_assert_eq(fx_key_rsa(&ka, "key-a", 2048), 0);
    cr_assert_eq(fx_key_rsa(&kb, "key-b", 2048), 0);
    cr_assert_eq(fx_key_ec(&kc, "key-c"), 0);
    fx_config(&cfg, jwks_path);
    memset(&rds, 0, sizeof rds);
}

static void teardown(void)
{
    fx_redis_stop(&rds);
    fx_key_free(&ka);
    fx_key_free(&kb);
    fx_key_free(&kc);
    fx_rmdir(dir);
}

TestSuite(jwks, .init = setup, .fini = teardown);

static void publish(const struct fx_key *k1, const struct fx_key *k2, const struct fx_key *k3)
{
    const struct fx_key *keys[] = { k1, k2, k3 };
    size_t n = k3 != NULL ? 3 : k2 != NULL ? 2 : 1;

    cr_assert_eq(fx_write_jwks(jwks_path, keys, n), 0);
}

static enum auth_status verify_with(struct gw_app *app, const struct fx_key *k)
{
    struct json_object *c = fx_claims(ISS, AUD, (int64_t)time(NULL));
    struct gw_identity id;
    char reason[256];
    char *tok = fx_token(k, c);
    enum auth_status st;

    st = authjwt_verify(app, tok, strlen(tok), &id, reason, sizeof reason);
    free(tok);
    json_object_put(c);
    return st;
}

/* The counters of this process (both "responders" of a test live in it). */
static long metric(const char *name)
{
    return (long)metrics_named_value(name);
}

#define FLEET_KEY "fleet-key-for-tests-0123456789abcdef"

static void set_fleet_key(struct gw_config *c, const char *key)
{
    c->fleet_key_len = strlen(key);
    memcpy(c->fleet_key, key, c->fleet_key_len);
}

/* A private Redis shared as a fleet does: with the fleet key. */
static void start_redis(void)
{
    cr_assert_eq(fx_redis_start(&rds), 0, "redis-server did not start");
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "%s", rds.url);
    snprintf(cfg.redis_prefix, sizeof cfg.redis_prefix, "mreg:");
    set_fleet_key(&cfg, FLEET_KEY);
}

/* Redis key names of the fleet copy and the refresh lock for cfg's JWKS URI. */
static void copy_key(char *buf, size_t n, const char *what)
{
    char hash[65];

    gw_sha256_hex(cfg.auth_jwks_uri, strlen(cfg.auth_jwks_uri), hash);
    snprintf(buf, n, "mreg:jwks:%s%s", what, hash);
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ---- parsing ---------------------------------------------------------------- */

static char *doc_of(struct json_object *arr)
{
    struct json_object *doc = json_object_new_object();
    char *s;

    json_object_object_add(doc, "keys", arr);
    s = strdup(json_object_to_json_string(doc));
    json_object_put(doc);
    return s;
}

Test(jwks, parses_rsa_and_ec_p256_keys)
{
    struct json_object *arr = json_object_new_array();
    struct jwks_set set;
    char err[160], *doc;

    json_object_array_add(arr, fx_jwk(&ka));
    json_object_array_add(arr, fx_jwk(&kc));
    doc = doc_of(arr);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 2);
    cr_assert_eq(jwks_find(&set, "key-a")->kty, JWKS_KTY_RSA);
    cr_assert_eq(jwks_find(&set, "key-c")->kty, JWKS_KTY_EC_P256);
    cr_assert_null(jwks_find(&set, "key-b"));
    jwks_set_free(&set);
    free(doc);
}

Test(jwks, skips_symmetric_encryption_and_foreign_alg_keys)
{
    struct json_object *arr = json_object_new_array(), *enc = fx_jwk(&kb), *rs384 = fx_jwk(&kb);
    struct json_object *oct = json_object_new_object();
    struct jwks_set set;
    char err[160], *doc;

    json_object_object_add(oct, "kty", json_object_new_string("oct"));
    json_object_object_add(oct, "kid", json_object_new_string("hmac"));
    json_object_object_add(oct, "k", json_object_new_string("c2VjcmV0"));
    json_object_object_add(enc, "use", json_object_new_string("enc"));
    json_object_object_add(enc, "kid", json_object_new_string("enc"));
    json_object_object_add(rs384, "alg", json_object_new_string("RS384"));
    json_object_object_add(rs384, "kid", json_object_new_string("rs384"));
    json_object_array_add(arr, oct);
    json_object_array_add(arr, enc);
    json_object_array_add(arr, rs384);
    json_object_array_add(arr, fx_jwk(&ka));
    doc = doc_of(arr);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 1);
    cr_assert_not_null(jwks_find(&set, "key-a"));
    jwks_set_free(&set);
    free(doc);
}

Test(jwks, skips_rsa_key_below_2048_bits)
{
    struct fx_key weak;
    struct json_object *arr = json_object_new_array();
    struct jwks_set set;
    char err[160], *doc;

    cr_assert_eq(fx_key_rsa(&weak, "weak", 1024), 0);
    json_object_array_add(arr, fx_jwk(&weak));
    doc = doc_of(arr);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 0);
    jwks_set_free(&set);
    free(doc);
    fx_key_free(&weak);
}

Test(jwks, skips_rsa_key_with_even_modulus_or_trivial_exponent)
{
    struct json_object *arr = json_object_new_array(), *even = fx_jwk(&ka), *one = fx_jwk(&ka);
    struct jwks_set set;
    char err[160], *doc, n[343];

    /* 2048 bits, all ones but the last: even, hence no RSA modulus. */
    memset(n, '_', 340);
    memcpy(n + 340, "_g", 3);
    json_object_object_add(even, "n", json_object_new_string(n));
    json_object_object_add(even, "kid", json_object_new_string("even"));
    /* e = 1: every "signature" verifies as itself. */
    json_object_object_add(one, "e", json_object_new_string("AQ"));
    json_object_object_add(one, "kid", json_object_new_string("one"));
    json_object_array_add(arr, even);
    json_object_array_add(arr, one);
    json_object_array_add(arr, fx_jwk(&ka));
    doc = doc_of(arr);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 1);
    cr_assert_not_null(jwks_find(&set, "key-a"));
    jwks_set_free(&set);
    free(doc);
}

Test(jwks, skips_ec_point_not_on_curve)
{
    struct json_object *arr = json_object_new_array(), *jwk = fx_jwk(&kc);
    struct jwks_set set;
    char err[160], *doc;

    /* y = 1 is not on P-256 for this x: an invalid-curve attack key. */
    json_object_object_add(jwk, "y", json_object_new_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
    json_object_array_add(arr, jwk);
    doc = doc_of(arr);
    cr_assert_eq(jwks_parse(doc, strlen(doc), &set, err, sizeof err), 0, "%s", err);
    cr_assert_eq(set.n, 0);
    jwks_set_free(&set);
    free(doc);
}

Test(jwks, rejects_document_without_keys_array)
{
    struct jwks_set set;
    char err[160];

    cr_assert_eq(jwks_parse("{\"kids\":[]}", 11, &set, err, sizeof err), -1);
    cr_assert_eq(jwks_parse("{\"keys\":{}}", 11, &set, err, sizeof err), -1);
    cr_assert_eq(jwks_parse("not json", 8, &set, err, sizeof err), -1);
}

/* ---- sources ----------------------------------------------------------------- */

Test(jwks, refuses_plain_http_off_loopback)
{
    char *doc = NULL, err[256];
    size_t len;

    cr_assert_eq(jwks_fetch(&cfg, "http://192.0.2.1/keys", &doc, &len, err, sizeof err), -1);
    cr_assert(strstr(err, "loopback") != NULL, "%s", err);
    cr_assert_eq(jwks_fetch(&cfg, "http://example.com/keys", &doc, &len, err, sizeof err), -1);
    cr_assert(strstr(err, "loopback") != NULL, "%s", err);
}

Test(jwks, refuses_other_schemes)
{
    char *doc = NULL, err[256];
    size_t len;

    cr_assert_eq(jwks_fetch(&cfg, "ftp://127.0.0.1/keys", &doc, &len, err, sizeof err), -1);
    cr_assert_eq(jwks_fetch(&cfg, "", &doc, &len, err, sizeof err), -1);
}

/* Serve one HTTP response with body on a loopback port; returns the port. */
static int serve_once(const char *body, pid_t *child)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *child = fork();
    if (*child == 0) {
        char req[4096], head[256];
        int c = accept(fd, NULL, NULL);
        ssize_t got = 0, r;

        while ((r = read(c, req + got, sizeof req - 1 - (size_t)got)) > 0) {
            got += r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL)
                break;
        }
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
        if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
            _exit(1);
        close(c);
        _exit(0);
    }
    close(fd);
    return ntohs(a.sin_port);
}

Test(jwks, fetches_http_jwks_from_loopback)
{
    struct json_object *arr = json_object_new_array();
    char *body, *doc = NULL, url[128], err[256];
    size_t len = 0;
    pid_t child;
    int port;

    json_object_array_add(arr, fx_jwk(&ka));
    body = doc_of(arr);
    port = serve_once(body, &child);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/keys", port);
    cr_assert_eq(jwks_fetch(&cfg, url, &doc, &len, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(doc, body);
    waitpid(child, NULL, 0);
    free(doc);
    free(body);
}

/* ---- responder cache, fleet copy, refresh ------------------------------------ */

Test(jwks, redis_down_fetches_directly_and_limits_refresh_per_responder)
{
    struct gw_app app;

    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app, &ka), AUTH_OK);
    /* Rotation: the one refresh this period finds the new key. */
    publish(&ka, &kb, NULL);
    cr_assert_eq(verify_with(&app, &kb), AUTH_OK);
    /* A further unknown kid within the period is not fetched for. */
    publish(&ka, &kb, &kc);
    nap_ms(1100);
    cr_assert_eq(verify_with(&app, &kc), AUTH_INVALID);
    app_free(&app);
}

Test(jwks, unavailable_when_neither_source_nor_redis_has_keys)
{
    struct gw_app app;

    snprintf(cfg.auth_jwks_uri, sizeof cfg.auth_jwks_uri, "file://%s/missing.json", dir);
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app, &ka), AUTH_UNAVAILABLE);
    app_free(&app);
}

/* A private Redis and one responder that has loaded key-a, the published key. */
static void responder_with_key_a(struct gw_app *app)
{
    start_redis();
    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(app, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(app, &ka), AUTH_OK);
}

Test(jwks, caches_fetched_jwks_in_redis_for_24_hours)
{
    struct gw_app app;
    char key[200], out[64];

    responder_with_key_a(&app);
    copy_key(key, sizeof key, "");
    cr_assert_eq(fx_redis_query(&rds, out, sizeof out, "TTL %s", key), 0);
    cr_assert(atol(out) > 86000 && atol(out) <= 86400, "TTL %s", out);
    cr_assert_eq(metric("jwks_fetch_total"), 1);
    app_free(&app);
}

Test(jwks, loads_fleet_copy_from_redis_without_the_source)
{
    struct gw_app app1, app2;

    start_redis();
    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(&app1, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app1, &ka), AUTH_OK);
    /* The source goes away; a new responder still gets the keys. */
    cr_assert_eq(unlink(jwks_path), 0);
    cr_assert_eq(app_init(&app2, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app2, &ka), AUTH_OK);
    cr_assert_eq(metric("jwks_fetch_total"), 1);
    app_free(&app1);
    app_free(&app2);
}

/* Two responders sharing one Redis; key-a is published and the first of
 * them has loaded it. */
static void fleet_of_two(struct gw_app *app1, struct gw_app *app2)
{
    start_redis();
    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(app1, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(app_init(app2, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(app1, &ka), AUTH_OK);
}

Test(jwks, unknown_kid_refreshes_exactly_once_per_period_for_the_fleet)
{
    struct gw_app app1, app2;

    fleet_of_two(&app1, &app2);

    /* The issuer rotates in key-b: one refresh finds it. */
    publish(&ka, &kb, NULL);
    cr_assert_eq(verify_with(&app1, &kb), AUTH_OK);
    cr_assert_eq(metric("jwks_refresh_total"), 1);

    /* key-c appears at the source, but this period's refresh is spent:
     * neither this responder nor another one fetches again. */
    publish(&ka, &kb, &kc);
    nap_ms(1100);
    cr_assert_eq(verify_with(&app1, &kc), AUTH_INVALID);
    cr_assert_eq(verify_with(&app2, &kc), AUTH_INVALID);
    cr_assert_eq(metric("jwks_refresh_total"), 1);
    cr_assert_eq(metric("jwks_fetch_total"), 2);

    /* The other responder picked up key-b from the fleet copy. */
    cr_assert_eq(verify_with(&app2, &kb), AUTH_OK);
    cr_assert_geq(metric("jwks_cache_miss_total"), 3);
    app_free(&app1);
    app_free(&app2);
}

Test(jwks, loser_of_refresh_lock_rereads_the_fleet_copy)
{
    struct gw_app app1, app2;

    fleet_of_two(&app1, &app2);
    cr_assert_eq(verify_with(&app2, &ka), AUTH_OK);
    publish(&ka, &kb, NULL);
    cr_assert_eq(verify_with(&app1, &kb), AUTH_OK);
    /* app2 holds the old set; the lock is taken, but the copy is new. */
    cr_assert_eq(verify_with(&app2, &kb), AUTH_OK);
    cr_assert_eq(metric("jwks_refresh_total"), 1);
    app_free(&app1);
    app_free(&app2);
}

Test(jwks, steady_state_makes_no_redis_call)
{
    struct gw_app app;
    static char info[16384];

    start_redis();
    publish(&ka, &kc, NULL);
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app, &ka), AUTH_OK);
    cr_assert_eq(fx_redis_query(&rds, info, sizeof info, "CONFIG RESETSTAT"), 0);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(verify_with(&app, &ka), AUTH_OK);
        cr_assert_eq(verify_with(&app, &kc), AUTH_OK);
    }
    cr_assert_eq(fx_redis_query(&rds, info, sizeof info, "INFO commandstats"), 0);
    cr_assert(strstr(info, "cmdstat_get:") == NULL, "%s", info);
    cr_assert(strstr(info, "cmdstat_set:") == NULL, "%s", info);
    cr_assert(strstr(info, "cmdstat_hincrby:") == NULL, "%s", info);
    app_free(&app);
}

/* ---- Redis is no trust anchor ------------------------------------------------ */

/* {"keys":[k]} as a document. */
static char *jwks_of(const struct fx_key *k)
{
    struct json_object *arr = json_object_new_array();

    json_object_array_add(arr, fx_jwk(k));
    return doc_of(arr);
}

/* Put value into Redis as the fleet copy of cfg's JWKS, as anyone with write
 * access to Redis could. */
static void plant(const char *value)
{
    char key[200], out[16];

    copy_key(key, sizeof key, "");
    cr_assert_eq(fx_redis_query(&rds, out, sizeof out, "SET %s %s", key, value), 0);
}

/* A copy of k's JWKS sealed for uri under fleet key fk, fetched just now. */
static char *sealed(const char *fk, const char *uri, const struct fx_key *k)
{
    struct gw_config other = cfg;
    char *doc = jwks_of(k), *copy = NULL;
    size_t len;

    set_fleet_key(&other, fk);
    cr_assert_eq(jwks_copy_seal(&other, uri, gw_now_ms(), doc, strlen(doc), &copy, &len), 0);
    free(doc);
    return copy;
}

Test(jwks, copy_seal_round_trips_and_binds_every_field)
{
    char *doc = jwks_of(&ka), *copy = NULL, why[160];
    const char *got;
    size_t len, glen;
    int64_t t;
    struct gw_config other;

    set_fleet_key(&cfg, FLEET_KEY);
    cr_assert_eq(jwks_copy_seal(&cfg, cfg.auth_jwks_uri, 1700000000123LL, doc, strlen(doc), &copy,
                                &len), 0);
    cr_assert_eq(jwks_copy_open(&cfg, cfg.auth_jwks_uri, copy, len, &t, &got, &glen, why,
                                sizeof why), 0, "%s", why);
    cr_assert_eq(t, 1700000000123LL);
    cr_assert_eq(glen, strlen(doc));
    cr_assert_eq(memcmp(got, doc, glen), 0);
    cr_assert_eq(jwks_copy_open(&cfg, "file:///elsewhere", copy, len, &t, &got, &glen, why,
                                sizeof why), -1, "another URI");
    other = cfg;
    snprintf(other.auth_issuer, sizeof other.auth_issuer, "https://other.example/");
    cr_assert_eq(jwks_copy_open(&other, cfg.auth_jwks_uri, copy, len, &t, &got, &glen, why,
                                sizeof why), -1, "another issuer");
    other = cfg;
    set_fleet_key(&other, "another-fleet-key-0123456789abcdef");
    cr_assert_eq(jwks_copy_open(&other, cfg.auth_jwks_uri, copy, len, &t, &got, &glen, why,
                                sizeof why), -1, "another fleet key");
    copy[strlen("jwks1 1700000000")] = '9'; /* a later fetch time */
    cr_assert_eq(jwks_copy_open(&cfg, cfg.auth_jwks_uri, copy, len, &t, &got, &glen, why,
                                sizeof why), -1, "the fetch time");
    copy[strlen("jwks1 1700000000")] = '1';
    copy[len - 3] ^= 1;                      /* one bit of the document */
    cr_assert_eq(jwks_copy_open(&cfg, cfg.auth_jwks_uri, copy, len, &t, &got, &glen, why,
                                sizeof why), -1, "the document");
    cr_assert(strstr(why, "MAC") != NULL, "%s", why);
    free(copy);
    free(doc);
}

Test(jwks, copy_mac_is_hmac_sha256_over_length_framed_fields)
{
    /* Computed independently (Python hmac): each field preceded by its length
     * as 8 big-endian bytes: label, issuer, URI, fetch time, document. */
    static const char want[] =
        "jwks1 1764547200000 8731008591332704b5feec184670d4f5e1c018b246680dbac573448437652c78\n"
        "{\"keys\":[]}";
    char *copy = NULL;
    size_t len;

    set_fleet_key(&cfg, FLEET_KEY);
    cr_assert_eq(jwks_copy_seal(&cfg, "file:///kat/jwks.json", 1764547200000LL, "{\"keys\":[]}", 11,
                                &copy, &len), 0);
    cr_assert_eq(len, strlen(want));
    cr_assert_str_eq(copy, want);
    free(copy);
}

Test(jwks, copy_in_redis_without_the_fleet_mac_lets_no_foreign_key_in)
{
    struct gw_app app;
    char *raw = jwks_of(&kb), *forged = sealed("not-the-fleet-key-0123456789abcdef", cfg.auth_jwks_uri, &kb);
    char *elsewhere = sealed(FLEET_KEY, "file:///some/other/jwks.json", &kb);
    const char *copies[] = { raw, forged, elsewhere, "jwks1 1 0000\n{\"keys\":[]}" };

    start_redis();
    publish(&ka, NULL, NULL);
    /* Before any responder loaded keys, someone writes key-b (theirs) into Redis. */
    for (size_t i = 0; i < GW_ARRAY_LEN(copies); i++) {
        plant(copies[i]);
        cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
        cr_assert_eq(verify_with(&app, &kb), AUTH_INVALID, "planted copy %zu was trusted", i);
        cr_assert_eq(verify_with(&app, &ka), AUTH_OK, "the issuer's own key still works");
        cr_assert_eq(metric("jwks_cache_rejected_total"), (long)i + 1);
        app_free(&app);
    }
    free(raw);
    free(forged);
    free(elsewhere);
}

Test(jwks, loser_of_refresh_lock_ignores_a_planted_copy)
{
    struct gw_app app;
    char lock[200], out[16], *raw = jwks_of(&kb);

    responder_with_key_a(&app);
    /* The lock held, a loser re-reads the copy: a planted one must not count. */
    copy_key(lock, sizeof lock, "refresh:");
    cr_assert_eq(fx_redis_query(&rds, out, sizeof out, "SET %s other EX 300", lock), 0);
    plant(raw);
    cr_assert_eq(verify_with(&app, &kb), AUTH_INVALID);
    cr_assert_eq(metric("jwks_cache_rejected_total"), 1);
    cr_assert_eq(verify_with(&app, &ka), AUTH_OK);
    app_free(&app);
    free(raw);
}

Test(jwks, without_a_fleet_key_redis_copies_are_neither_written_nor_read)
{
    struct gw_app app1, app2;
    char key[200], out[64];

    start_redis();
    cfg.fleet_key_len = 0;
    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(&app1, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app1, &ka), AUTH_OK);
    copy_key(key, sizeof key, "");
    cr_assert_eq(fx_redis_query(&rds, out, sizeof out, "EXISTS %s", key), 0);
    cr_assert_str_eq(out, "0");
    plant("{\"keys\":[]}");
    cr_assert_eq(app_init(&app2, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(verify_with(&app2, &ka), AUTH_OK);
    cr_assert_eq(metric("jwks_fetch_total"), 2, "each responder went to the source");
    app_free(&app1);
    app_free(&app2);
}

/* ---- lifetime and back-off ---------------------------------------------------- */

static void nap_until(int64_t t0, long ms)
{
    int64_t left = t0 + ms - gw_monotonic_ms();

    if (left > 0)
        nap_ms((long)left);
}

Test(jwks, withdrawn_key_stops_being_trusted_max_age_after_its_fetch)
{
    struct gw_app app1, app2;
    int64_t t0;

    start_redis();
    cfg.auth_jwks_max_age = 4;
    publish(&ka, NULL, NULL);
    cr_assert_eq(app_init(&app1, &cfg, PLANE_BOTH), 0);
    cr_assert_eq(app_init(&app2, &cfg, PLANE_BOTH), 0);
    t0 = gw_monotonic_ms();
    cr_assert_eq(verify_with(&app1, &ka), AUTH_OK); /* fetched at t0, copy in Redis */
    /* The issuer withdraws key-a; half-way through the lifetime a second
     * responder loads the fleet copy, which still holds it. */
    publish(&kb, NULL, NULL);
    nap_until(t0, 2000);
    cr_assert_eq(verify_with(&app2, &ka), AUTH_OK);
    /* 4 s after the fetch (not 4 s after that load, at 6 s) key-a is gone
     * everywhere; 1 s of margin either side for a busy machine. */
    nap_until(t0, 5000);
    cr_assert_eq(verify_with(&app2, &ka), AUTH_INVALID, "trusted past auth.jwks_max_age");
    cr_assert_eq(verify_with(&app1, &ka), AUTH_INVALID, "trusted past auth.jwks_max_age");
    cr_assert_eq(verify_with(&app2, &kb), AUTH_OK);
    app_free(&app1);
    app_free(&app2);
}

/* A loopback port that accepts connections (the kernel does) and never answers. */
static int silent_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

Test(jwks, failed_load_backs_off_from_the_end_of_a_hung_fetch)
{
    struct gw_app app;
    int port, fd = silent_listener(&port);
    int64_t t0, first, second;

    /* A fetch timeout longer than the 5 s back-off: measured from the start
     * of the fetch, the back-off would be over before the fetch gave up. */
    snprintf(cfg.auth_jwks_uri, sizeof cfg.auth_jwks_uri, "http://127.0.0.1:%d/keys", port);
    cfg.auth_jwks_timeout_ms = 5500;
    cr_assert_eq(app_init(&app, &cfg, PLANE_BOTH), 0);
    t0 = gw_monotonic_ms();
    cr_assert_eq(verify_with(&app, &ka), AUTH_UNAVAILABLE);
    first = gw_monotonic_ms() - t0;
    cr_assert_geq(first, 5000, "the fetch hung for its timeout (%lld ms)", (long long)first);
    t0 = gw_monotonic_ms();
    cr_assert_eq(verify_with(&app, &ka), AUTH_UNAVAILABLE);
    second = gw_monotonic_ms() - t0;
    cr_assert_lt(second, 1000, "the next request waited %lld ms for the same hung issuer",
                 (long long)second);
    app_free(&app);
    close(fd);
}
