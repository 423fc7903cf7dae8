/* Redis access for one responder: a lazily opened connection that reconnects by
 * itself after faults (with a short back-off), and prefixed key names. */
#ifndef GW_STORE_REDIS_H
#define GW_STORE_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

struct gw_app;

/* Open a connection to redis://host:port[/db] or unix:///path[?db=N]
 * with a connect and command timeout. NULL with err filled on failure. */
redisContext *rds_connect_url(const char *url, int timeout_ms, char *err, size_t errlen);
/* The responder's connection, opened on demand; NULL when Redis is down. */
redisContext *rds_conn(struct gw_app *app);
/* Run a command (hiredis format: %s/%b arguments, never data in the format).
 * Returns the reply (caller frees with freeReplyObject) or NULL when Redis is
 * unavailable; a connection error drops the connection so the next call
 * reconnects. A REDIS_REPLY_ERROR reply is returned as is. */
redisReply *rds_cmd(struct gw_app *app, const char *fmt, ...);
redisReply *rds_cmdargv(struct gw_app *app, int argc, const char **argv, const size_t *argvlen);
void rds_close(struct gw_app *app);
/* Fleet-wide counters: one hash, <prefix>metrics, that every responder adds
 * to and /metrics reads. */
#define RDS_METRICS_KEY "metrics"
/* HINCRBY <prefix>metrics name 1; best effort (Redis down is ignored). */
void rds_metric_incr(struct gw_app *app, const char *name);

/* prefix + formatted name into buf; 0 or -1 when it does not fit. */
int rds_key(const struct gw_app *app, char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A Lua script run by its SHA-1 (EVALSHA), loaded with EVAL the first time a
 * server does not know it: one round trip in the usual case. */
struct rds_script {
    const char *src;
    char sha[41];     /* computed on first use */
};
/* argv holds nkeys keys, then the arguments; lens may be NULL (strlen). */
redisReply *rds_eval(struct gw_app *app, struct rds_script *s, int nkeys, int argc,
                     const char **argv, const size_t *lens);

#endif
