/* PostgreSQL access for one responder: a lazily opened connection, reset after
 * faults, and the numbered SQL migrations under migrations/. */
#ifndef GW_STORE_PG_H
#define GW_STORE_PG_H

#include <stddef.h>
#include <libpq-fe.h>

struct gw_app;

/* Connect (non-blocking, polled) within timeout_ms; NULL with err filled
 * (password masked). */
PGconn *pg_connect_within(const char *dsn, int timeout_ms, char *err, size_t errlen);
/* The same with a timeout in seconds. */
PGconn *pg_connect_dsn(const char *dsn, int timeout_s, char *err, size_t errlen);
/* The responder's connection, opened on demand within postgres.connect_timeout;
 * NULL when PostgreSQL is down or a failed attempt is still being backed off. */
PGconn *pg_conn(struct gw_app *app);
/* Readiness: SELECT 1 on the responder's connection (opened if needed,
 * unless backing off) within timeout_ms, whatever the server does. */
int pg_ping_within(struct gw_app *app, int timeout_ms, char *err, size_t errlen);
void pg_close(struct gw_app *app);
/* SELECT 1 with a client-side deadline: a server that accepted the
 * connection and then stalls is cancelled, not waited on. 0, or -1 with err
 * (the connection is then unusable: close it). */
int pg_ping(PGconn *c, int timeout_ms, char *err, size_t errlen);
/* One parameterized statement with the same client-side deadline: its first
 * result (caller PQclears), or NULL with err naming what (after a timeout or
 * a lost connection the connection is unusable: close it). */
PGresult *pg_exec_within(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params,
                         int timeout_ms, char *err, size_t errlen);
/* Apply every migrations/NNN_name.sql not yet in schema_migrations, each in
 * its own transaction, in order. Returns the number applied or -1 (err). */
/* Run one statement without parameters (BEGIN, COMMIT, ...): 0, or -1 with
 * the server's message in err. */
int pg_exec(PGconn *c, const char *sql, char *err, size_t errlen);
int pg_migrate(const char *dsn, const char *dir, char *err, size_t errlen);

#endif
