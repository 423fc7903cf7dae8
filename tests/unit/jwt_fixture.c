/* Test fixtures for identity: keys, JWKS files and tokens made with OpenSSL
 * directly (not through the code under test), and a throw-away redis-server. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "config.h"
#include "jwt_fixture.h"

/* Independent of the gateway's encoder on purpose: OpenSSL's base64, then
 * translated to the URL alphabet without padding. */
static char *b64url(const unsigned char *in, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    int n;

    if (out == NULL)
        return NULL;
    n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

int fx_key_rsa(struct fx_key *k, const char *kid, int bits)
{
    memset(k, 0, sizeof *k);
    k->pkey = EVP_RSA_gen((unsigned)bits);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    return k->pkey != NULL ? 0 : -1;
}

int fx_key_ec(struct fx_key *k, const char *kid)
{
    memset(k, 0, sizeof *k);
    k->pkey = EVP_EC_gen("P-256");
    k->ec = 1;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    return k->pkey != NULL ? 0 : -1;
}

void fx_key_free(struct fx_key *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

static void add_bn(struct json_object *o, const char *name, const EVP_PKEY *pkey,
                   const char *param, int width)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int len;
    char *s;

    EVP_PKEY_get_bn_param(pkey, param, &bn);
    len = width > 0 ? BN_bn2binpad(bn, buf, width) : BN_bn2bin(bn, buf);
    s = b64url(buf, (size_t)len);
    json_object_object_add(o, name, json_object_new_string(s));
    free(s);
    BN_free(bn);
}

struct json_object *fx_jwk(const struct fx_key *k)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "kty", json_object_new_string(k->ec ? "EC" : "RSA"));
    json_object_object_add(o, "kid", json_object_new_string(k->kid));
    json_object_object_add(o, "use", json_object_new_string("sig"));
    if (k->ec) {
        json_object_object_add(o, "crv", json_object_new_string("P-256"));
        add_bn(o, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        add_bn(o, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    } else {
        add_bn(o, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        add_bn(o, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    }
    return o;
}

int fx_write_jwks(const char *path, const struct fx_key *const *keys, size_t n)
{
    struct json_object *doc = json_object_new_object(), *arr = json_object_new_array();
    char tmp[512];
    FILE *f;
    int rc = -1;

    for (size_t i = 0; i < n; i++)
        json_object_array_add(arr, fx_jwk(keys[i]));
    json_object_object_add(doc, "keys", arr);
    /* Rename into place so a reader never sees half a file. */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f != NULL) {
        fputs(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN), f);
        if (fclose(f) == 0 && rename(tmp, path) == 0)
            rc = 0;
    }
    json_object_put(doc);
    return rc;
}

long fx_pubkey_pem(const struct fx_key *k, char *buf, size_t n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len = -1;

    if (bio != NULL && PEM_write_bio_PUBKEY(bio, k->pkey) == 1) {
        long got = BIO_get_mem_data(bio, &data);

        if (got > 0 && (size_t)got < n) {
            memcpy(buf, data, (size_t)got);
            buf[got] = '\0';
            len = got;
        }
    }
    BIO_free(bio);
    return len;
}

/* "a.b" from two malloc'd strings, which it frees. */
static char *dot_join(char *a, char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = malloc(n);

    snprintf(out, n, "%s.%s", a, b);
    free(a);
    free(b);
    return out;
}

static char *signing_input(const char *header, const char *payload)
{
    return dot_join(b64url((const unsigned char *)header, strlen(header)),
                    b64url((const unsigned char *)payload, strlen(payload)));
}

static char *join_sig(char *input, const unsigned char *sig, size_t siglen)
{
    return dot_join(input, b64url(sig, siglen));
}

char *fx_sign(const struct fx_key *k, const char *header, const char *payload)
{
    char *input = signing_input(header, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[1024], raw[64];
    size_t siglen = sizeof sig;

    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey);
    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input));
    EVP_MD_CTX_free(ctx);
    if (k->ec) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);

        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        return join_sig(input, raw, sizeof raw);
    }
    return join_sig(input, sig, siglen);
}

char *fx_sign_hs256(const unsigned char *secret, size_t len, const char *header,
                    const char *payload)
{
    char *input = signing_input(header, payload);
    unsigned char mac[32];
    unsigned int maclen = sizeof mac;

    HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)input, strlen(input), mac, &maclen);
    return join_sig(input, mac, maclen);
}

void fx_header(char *buf, size_t n, const char *alg, const char *kid, const char *typ)
{
    struct json_object *h = json_object_new_object();

    json_object_object_add(h, "alg", json_object_new_string(alg));
    if (kid != NULL)
        json_object_object_add(h, "kid", json_object_new_string(kid));
    if (typ != NULL)
        json_object_object_add(h, "typ", json_object_new_string(typ));
    snprintf(buf, n, "%s", json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN));
    json_object_put(h);
}

struct json_object *fx_claims(const char *iss, const char *aud, int64_t now)
{
    struct json_object *c = json_object_new_object();

    json_object_object_add(c, "iss", json_object_new_string(iss));
    json_object_object_add(c, "aud", json_object_new_string(aud));
    json_object_object_add(c, "sub", json_object_new_string("subject-1"));
    json_object_object_add(c, "iat", json_object_new_int64(now));
    json_object_object_add(c, "nbf", json_object_new_int64(now - 10));
    json_object_object_add(c, "exp", json_object_new_int64(now + 600));
    return c;
}

char *fx_token(const struct fx_key *k, struct json_object *claims)
{
    char header[256];

    fx_header(header, sizeof header, k->ec ? "ES256" : "RS256", k->kid, "JWT");
    return fx_sign(k, header, json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN));
}

/* ---- redis-server -------------------------------------------------------- */

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int fx_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/gw-auth-test-XXXXXX");
    return mkdtemp(buf) != NULL ? 0 : -1;
}

void fx_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

int fx_redis_start(struct fx_redis *r)
{
    const char *server = getenv("REDIS_SERVER");
    char port[16], pidfile[300];
    pid_t pid;
    int status;

    memset(r, 0, sizeof *r);
    if (fx_tmpdir(r->dir, sizeof r->dir) != 0 || (r->port = free_port()) <= 0)
        return -1;
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(pidfile, sizeof pidfile, "%s/redis.pid", r->dir);
    snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
    pid = fork();
    if (pid == 0) {
        execlp(server != NULL ? server : "redis-server", "redis-server", "--port", port,
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "yes",
               "--pidfile", pidfile, "--dir", r->dir, "--logfile", "redis.log", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    for (int i = 0; i < 200; i++) {
        char out[16];

        if (fx_redis_query(r, out, sizeof out, "PING") == 0)
            return 0;
        nap_ms(10);
    }
    return -1;
}

void fx_redis_stop(struct fx_redis *r)
{
    char pidfile[300];
    FILE *f;
    long pid = 0;

    if (r->dir[0] == '\0')
        return;
    snprintf(pidfile, sizeof pidfile, "%s/redis.pid", r->dir);
    f = fopen(pidfile, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 1) {
        kill((pid_t)pid, SIGTERM);
        for (int i = 0; i < 300 && kill((pid_t)pid, 0) == 0; i++)
            nap_ms(10);
    }
    fx_rmdir(r->dir);
    r->dir[0] = '\0';
}

int fx_redis_query(const struct fx_redis *r, char *out, size_t n, const char *fmt, ...)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply *rep = NULL;
    va_list ap;
    int rc = -1;

    if (c == NULL || c->err)
        goto out;
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        goto out;
    if (rep->type == REDIS_REPLY_INTEGER)
        snprintf(out, n, "%lld", rep->integer);
    else if (rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS)
        snprintf(out, n, "%.*s", (int)rep->len, rep->str);
    else
        snprintf(out, n, "%s", "");
    rc = 0;
out:
    if (rep != NULL)
        freeReplyObject(rep);
    if (c != NULL)
        redisFree(c);
    return rc;
}

void fx_config(struct gw_config *cfg, const char *jwks_path)
{
    cfg_defaults(cfg);
    snprintf(cfg->auth_issuer, sizeof cfg->auth_issuer, "%s", FX_ISS);
    snprintf(cfg->auth_audiences, sizeof cfg->auth_audiences, "%s", FX_AUD);
    snprintf(cfg->auth_allowed_tenants, sizeof cfg->auth_allowed_tenants, "*");
    snprintf(cfg->auth_jwks_uri, sizeof cfg->auth_jwks_uri, "file://%s", jwks_path);
    snprintf(cfg->redis_url, sizeof cfg->redis_url, "redis://127.0.0.1:1/0");
    /* Denied requests write audit rows: never into a local stack's database. */
    snprintf(cfg->pg_dsn, sizeof cfg->pg_dsn, "host=127.0.0.1 port=1 dbname=x");
}
