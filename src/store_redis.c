/* Redis access for one responder. The connection is opened on first use after
 * fork and dropped on any I/O error; the next call reconnects after a back-off. */
#include "store_redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* [user]:password (Redis 6 ACL user, or the default user; a lone token is a
 * password) from p to at, into user and password. */
static int parse_userinfo(const char *p, const char *at, char *user, size_t usern, char *password,
                          size_t pwn)
{
    const char *pc = memchr(p, ':', (size_t)(at - p));
    const char *pw = pc ? pc + 1 : p;
    size_t n = (size_t)(at - pw), un = pc ? (size_t)(pc - p) : 0;

    if (n >= pwn || un >= usern)
        return -1;
    memcpy(user, p, un);
    user[un] = '\0';
    memcpy(password, pw, n);
    password[n] = '\0';
    return 0;
}

int rds_parse_url(const char *url, char *host, size_t hostn, int *port, char *path, size_t pathn,
                  char *user, size_t usern, char *password, size_t pwn, int *db)
{
    const char *p, *at, *slash, *colon;
    char *end;

    host[0] = path[0] = user[0] = password[0] = '\0';
    *port = 6379;
    *db = 0;
    if (gw_has_prefix(url, "unix://")) {
        const char *q, *start = url + 7;
        size_t n;

        /* unix://[[user]:password@]/path: the userinfo ends at the '@' that
         * comes right before the path's first '/'. */
        if (start[0] != '/') {
            slash = strchr(start, '/');
            if (slash == NULL || slash[-1] != '@' ||
                parse_userinfo(start, slash - 1, user, usern, password, pwn) != 0)
                return -1;
            start = slash;
        }
        q = strchr(start, '?');
        n = q ? (size_t)(q - start) : strlen(start);
        if (n == 0 || n >= pathn)
            return -1;
        memcpy(path, start, n);
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
        if (parse_userinfo(p, at, user, usern, password, pwn) != 0)
            return -1;
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

void rds_describe_error(const redisContext *c, char *buf, size_t n)
{
    char where[300];
    long ms = 0;

    if (c == NULL) {
        gw_snprintf(buf, n, "no connection to Redis");
        return;
    }
    if (c->connection_type == REDIS_CONN_UNIX)
        gw_snprintf(where, sizeof(where), "%s", c->unix_sock.path ? c->unix_sock.path : "?");
    else
        gw_snprintf(where, sizeof(where), "%s:%d", c->tcp.host ? c->tcp.host : "?", c->tcp.port);
    if (c->timeout != NULL)
        ms = (long)c->timeout->tv_sec * 1000 + (long)c->timeout->tv_usec / 1000;
    /* hiredis reports a timeout as an I/O error carrying errno's text:
     * ETIMEDOUT when connecting, EAGAIN when a reply is late. */
    if (c->err == REDIS_ERR_IO && (strcmp(c->errstr, strerror(ETIMEDOUT)) == 0 ||
                                   strcmp(c->errstr, strerror(EAGAIN)) == 0))
        gw_snprintf(buf, n, "timeout: no answer from Redis at %s within %ld ms", where, ms);
    else
        gw_snprintf(buf, n, "Redis at %s: %s", where, c->err ? c->errstr : "no reply");
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
    if (rep == NULL) {
        char why[400];

        /* "timeout: no answer from Redis at HOST:PORT within N ms" when late. */
        rds_describe_error(c, why, sizeof(why));
        snprintf(err, errlen, "%s (on %s)", why, what);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "Redis %s failed: %s", what, rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Connect, authenticate and select: the parts of a parsed URL, host and port
 * possibly replaced by what the sentinels named. */
static redisContext *connect_parts(const char *host, int port, const char *path, const char *user,
                                   const char *password, int db, int timeout_ms, char *err,
                                   size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    redisContext *c;
    redisReply *rep;

    c = path[0] ? redisConnectUnixWithTimeout(path, tv) : redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        char why[512];

        rds_describe_error(c, why, sizeof(why));
        if (strncmp(why, "timeout", 7) == 0)
            snprintf(err, errlen, "cannot connect to Redis: %s", why);
        else
            snprintf(err, errlen, "cannot connect to %s", why);
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

/* Ask one sentinel where the primary of `name` is: 0 with host and port. */
static int sentinel_ask(const char *sentinel, const char *name, int timeout_ms, char *host,
                        size_t hostn, int *port, char *err, size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    const char *colon = strrchr(sentinel, ':');
    char shost[256];
    redisContext *c;
    redisReply *rep;
    int rc = -1;

    if (colon == NULL || (size_t)(colon - sentinel) >= sizeof(shost) || colon == sentinel) {
        snprintf(err, errlen, "sentinel '%s' is not host:port", sentinel);
        return -1;
    }
    memcpy(shost, sentinel, (size_t)(colon - sentinel));
    shost[colon - sentinel] = '\0';
    c = redisConnectWithTimeout(shost, atoi(colon + 1), tv);
    if (c == NULL || c->err) {
        snprintf(err, errlen, "sentinel %s: %s", sentinel, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return -1;
    }
    redisSetTimeout(c, tv);
    rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", name);
    if (rep == NULL) {
        snprintf(err, errlen, "sentinel %s: %s", sentinel, c->errstr);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
               rep->element[0]->type != REDIS_REPLY_STRING ||
               rep->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "sentinel %s does not know a primary named %s", sentinel, name);
    } else if (gw_strlcpy(host, rep->element[0]->str, hostn) != 0 ||
               (*port = atoi(rep->element[1]->str)) <= 0 || *port > 65535) {
        snprintf(err, errlen, "sentinel %s named an unusable address", sentinel);
    } else {
        rc = 0;
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return rc;
}

/* ROLE says master: during a failover a sentinel may still name the old one. */
static bool is_master(redisContext *c)
{
    redisReply *rep = redisCommand(c, "ROLE");
    bool yes = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
               rep->element[0]->type == REDIS_REPLY_STRING &&
               strcmp(rep->element[0]->str, "master") == 0;

    if (rep)
        freeReplyObject(rep);
    return yes;
}

redisContext *rds_connect(const char *url, const char *sentinels, const char *master_name,
                          int timeout_ms, char *err, size_t errlen)
{
    char host[256], path[512], user[128], password[256], sentinel[300];
    const char *cursor = NULL;
    int port, db;

    if (rds_parse_url(url, host, sizeof(host), &port, path, sizeof(path), user, sizeof(user),
                      password, sizeof(password), &db) != 0) {
        /* Not the URL itself: it may hold a password. */
        snprintf(err, errlen, "redis.url is not redis://[[user]:password@]host:port[/db] "
                              "or unix://[[user]:password@]/path[?db=N]");
        return NULL;
    }
    if (sentinels == NULL || sentinels[0] == '\0')
        return connect_parts(host, port, path, user, password, db, timeout_ms, err, errlen);
    /* The URL still gives the password and database; the sentinels give the address. */
    snprintf(err, errlen, "redis.sentinels lists no sentinel");
    while (cfg_list_next(sentinels, &cursor, sentinel, sizeof(sentinel)) != NULL) {
        char mhost[256];
        int mport;
        redisContext *c;

        if (sentinel_ask(sentinel, master_name, timeout_ms, mhost, sizeof(mhost), &mport, err,
                         errlen) != 0)
            continue;
        c = connect_parts(mhost, mport, "", user, password, db, timeout_ms, err, errlen);
        if (c == NULL)
            continue;
        if (is_master(c))
            return c;
        snprintf(err, errlen, "sentinel %s named %s:%d for %s, which is not a primary", sentinel,
                 mhost, mport, master_name);
        redisFree(c);
    }
    return NULL;
}

redisContext *rds_connect_url(const char *url, int timeout_ms, char *err, size_t errlen)
{
    return rds_connect(url, NULL, NULL, timeout_ms, err, errlen);
}

redisContext *rds_connect_cfg(const struct gw_config *cfg, int timeout_ms, char *err,
                              size_t errlen)
{
    return rds_connect(cfg->redis_url, cfg->redis_sentinels, cfg->redis_master_name, timeout_ms,
                       err, errlen);
}

/* 1 when the server has closed the connection (it was restarted, or dropped
 * an idle client): a FIN or reset is waiting on the socket. Nothing is read. */
static int peer_closed(const redisContext *c)
{
    char b;
    ssize_t k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A connection the server closed would fail the next command, and so one
 * request per responder after every Redis restart: it is replaced first.
 * Looked at once per request, and after a pause in work outside requests
 * (a spool, a worker), not before each of a request's commands: a close in
 * the middle of a request fails that command, as any other failure would. */
#define PEEK_IDLE_MS 1000

static redisContext *rds_open(struct gw_app *app, int timeout_ms)
{
    char err[512];
    int64_t now = gw_monotonic_ms();

    if (app->redis != NULL && (app->redis_peek_req != app->requests || now - app->redis_used_ms >= PEEK_IDLE_MS)) {
        app->redis_peek_req = app->requests;
        if (peer_closed(app->redis)) {
            log_info("redis_reconnect", "Redis closed this connection; reconnecting");
            rds_close(app);
        }
    }
    app->redis_used_ms = now;
    if (app->redis != NULL)
        return app->redis;
    if (gw_monotonic_ms() < app->redis_retry_at_ms)
        return NULL;
    app->redis = rds_connect_cfg(&app->cfg, timeout_ms, err, sizeof(err));
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
    redisReply *r = rep;

    if (r == NULL) {
        char why[512];

        rds_describe_error(app->redis, why, sizeof(why));
        log_warn(strncmp(why, "timeout", 7) == 0 ? "redis_timeout" : "redis_error",
                 "Redis command failed: %s; reconnecting on next use", why);
        rds_close(app);
    } else if (r->type == REDIS_REPLY_ERROR && gw_has_prefix(r->str, "READONLY")) {
        /* A failover made this server a replica: find the primary again. */
        log_warn("redis_readonly", "Redis answered READONLY; reconnecting to the primary");
        rds_close(app);
    }
    return rep;
}

/* A primary demoted by a failover answers READONLY and did nothing: the
 * command is sent once more, to the primary the sentinels name now. */
static int readonly(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && gw_has_prefix(r->str, "READONLY");
}

redisReply *rds_cmd(struct gw_app *app, const char *fmt, ...)
{
    va_list ap;
    redisReply *rep = NULL;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (rep != NULL)
            freeReplyObject(rep);
        if (rds_conn(app) == NULL)
            return NULL;
        va_start(ap, fmt);
        rep = finish(app, redisvCommand(app->redis, fmt, ap));
        va_end(ap);
        if (!readonly(rep))
            break;
    }
    return rep;
}

static redisReply *cmd_expire_once(struct gw_app *app, const char *key, const char *ttl, const char *fmt,
                                   va_list ap)
{
    void *first = NULL, *second = NULL;

    if (rds_conn(app) == NULL)
        return NULL;
    if (redisvAppendCommand(app->redis, fmt, ap) != REDIS_OK ||
        redisAppendCommand(app->redis, "PEXPIRE %s %s", key, ttl) != REDIS_OK ||
        redisGetReply(app->redis, &first) != REDIS_OK || redisGetReply(app->redis, &second) != REDIS_OK) {
        if (first != NULL)
            freeReplyObject(first);
        return finish(app, NULL);
    }
    freeReplyObject(second);
    return finish(app, first);
}

redisReply *rds_cmd_expire(struct gw_app *app, const char *key, int64_t ttl_ms, const char *fmt, ...)
{
    va_list ap;
    redisReply *rep = NULL;
    char ttl[24];

    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (rep != NULL)
            freeReplyObject(rep);
        va_start(ap, fmt);
        rep = cmd_expire_once(app, key, ttl, fmt, ap);
        va_end(ap);
        if (!readonly(rep))
            break;
    }
    return rep;
}

redisReply *rds_cmdargv(struct gw_app *app, int argc, const char **argv, const size_t *argvlen)
{
    redisReply *rep = NULL;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (rep != NULL)
            freeReplyObject(rep);
        if (rds_conn(app) == NULL)
            return NULL;
        rep = finish(app, redisCommandArgv(app->redis, argc, argv, argvlen));
        if (!readonly(rep))
            break;
    }
    return rep;
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

/* Counters are per host now (metrics.c); the name stays for callers. */
void rds_metric_incr(struct gw_app *app, const char *name)
{
    (void)app;
    metrics_count_named(name);
}
