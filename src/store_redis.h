/* Redis access for one responder: a lazily opened connection that reconnects by
 * itself after faults (with a short back-off), and prefixed key names. */
#ifndef GW_STORE_REDIS_H
#define GW_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

struct gw_app;
struct gw_config;

/* Split redis.url: redis://[[user]:password@]host[:port][/db] or
 * unix://[[user]:password@]/path[?db=N] (path set, host empty). 0, or -1 when
 * it is neither or a part does not fit its buffer. */
int rds_parse_url(const char *url, char *host, size_t hostn, int *port, char *path, size_t pathn,
                  char *user, size_t usern, char *password, size_t pwn, int *db);
/* Open a connection to redis://host:port[/db] or unix:///path[?db=N] and
 * prove it answers (AUTH, SELECT or PING), all within timeout_ms, which then
 * stays the command timeout. With sentinels ("host:port,..."), the
 * address is the primary that the first answering sentinel names for
 * master_name, checked with ROLE; the URL still gives password and db.
 * NULL with err filled on failure. */
redisContext *rds_connect(const char *url, const char *sentinels, const char *master_name,
                          int timeout_ms, char *err, size_t errlen);
/* One fixed address, no sentinels (prefer rds_connect_cfg, which follows a failover). */
redisContext *rds_connect_url(const char *url, int timeout_ms, char *err, size_t errlen);
/* What went wrong on c, naming the server (host:port or socket path); a
 * timeout reads "timeout: no answer from Redis at HOST:PORT within N ms". */
void rds_describe_error(const redisContext *c, char *buf, size_t n);
/* rds_connect with redis.url, redis.sentinels and redis.master_name: what
 * every connection of the gateway should use. */
redisContext *rds_connect_cfg(const struct gw_config *cfg, int timeout_ms, char *err,
                              size_t errlen);
/* The responder's connection, opened on demand; NULL when Redis is down or
 * a failed attempt is still being backed off (app_store_failed). */
redisContext *rds_conn(struct gw_app *app);
/* Readiness: PING on the responder's connection (opened if needed, unless
 * backing off) within timeout_ms, whatever the server does. 0, or -1 with err. */
int rds_ping_within(struct gw_app *app, int timeout_ms, char *err, size_t errlen);
/* Run a command (hiredis format: %s/%b arguments, never data in the format).
 * Returns the reply (caller frees with freeReplyObject) or NULL when Redis is
 * unavailable; a connection error (or READONLY: the server became a replica)
 * drops the connection so the next call reconnects. A REDIS_REPLY_ERROR reply
 * is returned as is. */
redisReply *rds_cmd(struct gw_app *app, const char *fmt, ...);
redisReply *rds_cmdargv(struct gw_app *app, int argc, const char **argv, const size_t *argvlen);
/* One command on key, then PEXPIRE key ttl_ms, in one round trip: the
 * command's reply as rds_cmd gives it (not retried). */
redisReply *rds_cmd_expire(struct gw_app *app, const char *key, int64_t ttl_ms, const char *fmt, ...);
void rds_close(struct gw_app *app);
/* Count an event by name: metrics_count_named (per-host shared counters,
 * no Redis traffic); kept so that existing callers read the same. */
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
/* DEL key only while it holds value (a lock released by its holder, never
 * one another has taken since): 1 deleted, 0 not, -1 no answer. */
int rds_del_if(struct gw_app *app, const char *key, const char *value);

#endif
