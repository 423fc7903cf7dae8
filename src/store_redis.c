/* Redis access for one responder. The connection is opened on first use after
 * fork and dropped on any I/O error; the next call reconnects after a back-off. */
#include "store_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "app.h"
#include "log.h"
#include "util.h"

static int parse_url(const char *url, char *host, size_t hostn, int *port, char *path,
                     size_t pathn, char *user, size_t usern, char *password, size_t pwn, int *db)
{
    const char *p, *at, *slash, *colon;
    char *end;

    host[0] = path[0] = user[0] = password[0] = '\0';
    *port = 6379;
    *db = 0;
    if (gw_has_prefix(url, "unix://")) {
        const char *q = strchr(url + 7, '?');
        size_t n = q ? (size_t)(q - (url + 7)) : strlen(url + 7);

        if (n == 0 || n >= pathn)
            return -1;
        memcpy(path, url + 7, n);
        path[n] = '\0';
        if (q != NULL && gw_has_prefix(q, "?db="))
            *db = (int)strtol(q + 4, NULL, 10);
        return 0;
    }
    if (!gw_has_prefix(url, "redis://"))
        return -1;
    p = url + 8;
    at = strrchr(p, '@');
    if (at != NULL) {
        /* [user]:password@ (Redis 6 ACL user, or the default user) */
        const char *pc = memchr(p, ':', (size_t)(at - p));
        const char *pw = pc ? pc + 1 : p;
        size_t n = (size_t)(at - pw), un = pc ? (size_t)(pc - p) : 0;

        if (n >= pwn || un >= usern)
            return -1;
        memcpy(user, p, un);
        user[un] = '\0';
        memcpy(password, pw, n);
        password[n] = '\0';
        p = at + 1;
    }
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon != NULL && (slash == NULL || colon < slash)) {
        if ((size_t)(colon - p) >= hostn)
            return -1;
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = '\0';
        *port = (int)strtol(colon + 1, &end, 10);
        if (*port <= 0 || *port > 65535)
            return -1;
    } else {
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n >= hostn)
            return -1;
        memcpy(host, p, n);
        host[n] = '\0';
    }
    if (slash != NULL && slash[1] != '\0')
        *db = (int)strtol(slash + 1, NULL, 10);
    return host[0] != '\0' ? 0 : -1;
}

static void set_timeout_ms(redisContext *c, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

    redisSetTimeout(c, tv);
}

/* One command on a connection being opened, within what is left of the
 * deadline; NULL (err filled) when it fails or is refused. */
static redisReply *setup_cmd(redisContext *c, int64_t deadline, char *err, size_t errlen,
                             const char *what, const char *fmt, ...)
{
    int64_t left = deadline - gw_monotonic_ms();
    redisReply *rep;
    va_list ap;

    if (left <= 0) {
        snprintf(err, errlen, "Redis %s: no answer in time", what);
        return NULL;
    }
    set_timeout_ms(c, left);
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "Redis %s failed: %s", what,
                 rep ? rep->str : (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
                                      ? "no answer in time" : c->errstr);
        if (rep)
            freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

redisContext *rds_connect_url(const char *url, int timeout_ms, char *err, size_t errlen)
{
    char host[256], path[512], user[128], password[256];
    int port, db;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    redisContext *c;
    redisReply *rep;

    if (parse_url(url, host, sizeof(host), &port, path, sizeof(path), user, sizeof(user),
                  password, sizeof(password), &db) != 0) {
        /* Not the URL itself: it may hold a password. */
        snprintf(err, errlen, "redis.url is not redis://[[user]:password@]host:port[/db] "
                              "or unix:///path[?db=N]");
        return NULL;
    }
    c = path[0] ? redisConnectUnixWithTimeout(path, tv) : redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s", path[0] ? path : host,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    /* A listener that accepts and never answers is not a Redis: every
     * connection is proven by an answer (AUTH, SELECT or PING), and all of it
     * stays within timeout_ms. */
    if (password[0] != '\0') {
        rep = user[0] != '\0' ? setup_cmd(c, deadline, err, errlen, "AUTH", "AUTH %s %s", user, password)
                              : setup_cmd(c, deadline, err, errlen, "AUTH", "AUTH %s", password);
        if (rep == NULL)
            goto fail;
        freeReplyObject(rep);
    }
    if (db != 0) {
        if ((rep = setup_cmd(c, deadline, err, errlen, "SELECT", "SELECT %d", db)) == NULL)
            goto fail;
        freeReplyObject(rep);
    }
    if (password[0] == '\0' && db == 0) {
        if ((rep = setup_cmd(c, deadline, err, errlen, "PING", "PING")) == NULL)
            goto fail;
        freeReplyObject(rep);
    }
    redisSetTimeout(c, tv);
    return c;
fail:
    redisFree(c);
    return NULL;
}

static redisContext *rds_open(struct gw_app *app, int timeout_ms)
{
    char err[512];

    if (app->redis != NULL)
        return app->redis;
    if (gw_monotonic_ms() < app->redis_retry_at_ms)
        return NULL;
    app->redis = rds_connect_url(app->cfg.redis_url, timeout_ms, err, sizeof(err));
    if (app->redis == NULL) {
        app_store_failed(&app->redis_failures, &app->redis_retry_at_ms);
        log_warn("redis_unavailable", "%s; next attempt in %lld ms", err,
                 (long long)(app->redis_retry_at_ms - gw_monotonic_ms()));
        return NULL;
    }
    app->redis_failures = 0;
    if (timeout_ms != app->cfg.redis_timeout_ms)
        set_timeout_ms(app->redis, app->cfg.redis_timeout_ms);
    return app->redis;
}

redisContext *rds_conn(struct gw_app *app)
{
    return rds_open(app, app->cfg.redis_timeout_ms);
}

int rds_ping_within(struct gw_app *app, int timeout_ms, char *err, size_t errlen)
{
    redisContext *had = app->redis;
    redisReply *rep;
    int ok;

    if (had == NULL && app_store_backing_off("Redis", app->redis_retry_at_ms, err, errlen))
        return -1;
    if (rds_open(app, timeout_ms) == NULL) {
        snprintf(err, errlen, "Redis is not reachable");
        return -1;
    }
    if (had == NULL)
        return 0; /* just opened: the connection has answered already */
    set_timeout_ms(app->redis, timeout_ms);
    rep = redisCommand(app->redis, "PING");
    ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    if (rep != NULL)
        freeReplyObject(rep);
    if (!ok) {
        snprintf(err, errlen, "Redis did not answer PING within %d ms", timeout_ms);
        /* A reply may still be on its way: this connection is out of step. */
        rds_close(app);
        app_store_failed(&app->redis_failures, &app->redis_retry_at_ms);
        log_warn("redis_unavailable", "%s", err);
        return -1;
    }
    set_timeout_ms(app->redis, app->cfg.redis_timeout_ms);
    return 0;
}

void rds_close(struct gw_app *app)
{
    if (app->redis != NULL) {
        redisFree(app->redis);
        app->redis = NULL;
    }
}

static redisReply *finish(struct gw_app *app, void *rep)
{
    if (rep == NULL) {
        log_warn("redis_error", "Redis command failed: %s; reconnecting on next use",
                 app->redis ? app->redis->errstr : "no connection");
        rds_close(app);
    }
    return rep;
}

redisReply *rds_cmd(struct gw_app *app, const char *fmt, ...)
{
    va_list ap;
    void *rep;

    if (rds_conn(app) == NULL)
        return NULL;
    va_start(ap, fmt);
    rep = redisvCommand(app->redis, fmt, ap);
    va_end(ap);
    return finish(app, rep);
}

redisReply *rds_cmdargv(struct gw_app *app, int argc, const char **argv, const size_t *argvlen)
{
    if (rds_conn(app) == NULL)
        return NULL;
    return finish(app, redisCommandArgv(app->redis, argc, argv, argvlen));
}

int rds_key(const struct gw_app *app, char *buf, size_t n, const char *fmt, ...)
{
    size_t plen = strlen(app->cfg.redis_prefix);
    va_list ap;
    int m;

    if (plen >= n)
        return -1;
    memcpy(buf, app->cfg.redis_prefix, plen);
    va_start(ap, fmt);
    m = vsnprintf(buf + plen, n - plen, fmt, ap);
    va_end(ap);
    return (m < 0 || (size_t)m >= n - plen) ? -1 : 0;
}

void rds_metric_incr(struct gw_app *app, const char *name)
{
    char key[128];
    redisReply *rep;

    if (rds_key(app, key, sizeof(key), "%s", RDS_METRICS_KEY) != 0)
        return;
    rep = rds_cmd(app, "HINCRBY %s %s 1", key, name);
    if (rep != NULL)
        freeReplyObject(rep);
}
