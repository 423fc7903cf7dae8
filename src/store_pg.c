/* PostgreSQL access for one responder, and schema migrations: numbered SQL
 * files applied in order, each in its own transaction, under an advisory lock. */
#include "store_pg.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "log.h"
#include "util.h"

#define MIGRATION_LOCK_KEY 7316150021LL /* arbitrary, constant across the fleet */

/* libpq's message, on one line, after our prefix. */
static void conn_error(PGconn *c, const char *why, char *err, size_t errlen)
{
    char *nl;

    snprintf(err, errlen, "cannot connect to PostgreSQL: %s", why ? why : PQerrorMessage(c));
    while ((nl = strchr(err, '\n')) != NULL)
        *nl = ' ';
    gw_trim(err);
}

PGconn *pg_connect_within(const char *dsn, int timeout_ms, char *err, size_t errlen)
{
    const char *keys[] = { "dbname", "application_name", NULL };
    const char *vals[] = { dsn, "mcp-gateway", NULL };
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PGconn *c;

    /* The non-blocking start: libpq's own connect_timeout counts whole
     * seconds (2 at least) and only in the blocking calls. Host names are
     * still resolved inside libpq without a deadline: give addresses. */
    c = PQconnectStartParams(keys, vals, 1);
    if (c == NULL) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(c) == CONNECTION_BAD) {
        conn_error(c, NULL, err, errlen);
        PQfinish(c);
        return NULL;
    }
    while (st != PGRES_POLLING_OK) {
        struct pollfd p = { .fd = PQsocket(c) };
        int64_t left = deadline - gw_monotonic_ms();
        int n;

        if (st == PGRES_POLLING_FAILED) {
            conn_error(c, NULL, err, errlen);
            PQfinish(c);
            return NULL;
        }
        p.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        n = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* Named as a timeout, with the server that did not answer. */
            snprintf(err, errlen, "timeout: no answer from PostgreSQL at %s:%s within %d ms",
                     PQhost(c) ? PQhost(c) : "?", PQport(c) ? PQport(c) : "?", timeout_ms);
            PQfinish(c);
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    return c;
}

PGconn *pg_connect_dsn(const char *dsn, int timeout_s, char *err, size_t errlen)
{
    return pg_connect_within(dsn, timeout_s * 1000, err, errlen);
}

/* An idle connection has nothing to read: when its socket is readable (or
 * hung up), the server has spoken unasked, which in practice is the FATAL
 * and the close of a restart or an administrator's terminate. libpq notices
 * that only when the next statement fails, so the request that found it would
 * answer 503; a new connection is cheaper. Rarely, an unasked ParameterStatus
 * costs one reconnect. */
static int pg_idle_closed(PGconn *c)
{
    struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };

    if (p.fd < 0)
        return 1;
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        return 0;
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static PGconn *pg_open(struct gw_app *app, int timeout_ms)
{
    char err[512];

    if (app->pg != NULL) {
        if (PQstatus(app->pg) == CONNECTION_OK && !pg_idle_closed(app->pg))
            return app->pg;
        if (PQstatus(app->pg) == CONNECTION_OK)
            log_info("postgres_reconnect", "the idle PostgreSQL connection was closed by the server; reconnecting");
        /* Not PQreset: it reconnects without a deadline and without the
         * back-off below. */
        pg_close(app);
    }
    if (gw_monotonic_ms() < app->pg_retry_at_ms)
        return NULL;
    app->pg = pg_connect_within(app->cfg.pg_dsn, timeout_ms, err, sizeof(err));
    if (app->pg == NULL) {
        app_store_failed(&app->pg_failures, &app->pg_retry_at_ms);
        log_warn("postgres_unavailable", "%s; next attempt in %lld ms", err,
                 (long long)(app->pg_retry_at_ms - gw_monotonic_ms()));
        return NULL;
    }
    app->pg_failures = 0;
    return app->pg;
}

PGconn *pg_conn(struct gw_app *app)
{
    return pg_open(app, app->cfg.pg_connect_timeout * 1000);
}

int pg_ping_within(struct gw_app *app, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    int64_t left;
    char why[256];

    if (app->pg == NULL && app_store_backing_off("PostgreSQL", app->pg_retry_at_ms, err, errlen))
        return -1;
    if (pg_open(app, timeout_ms) == NULL) {
        snprintf(err, errlen, "PostgreSQL is not reachable");
        return -1;
    }
    left = deadline - gw_monotonic_ms();
    if (pg_ping(app->pg, left > 1 ? (int)left : 1, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "PostgreSQL: %s", why);
        /* Out of step (a query may still be running): drop it. */
        pg_close(app);
        app_store_failed(&app->pg_failures, &app->pg_retry_at_ms);
        log_warn("postgres_unavailable", "%s", err);
        return -1;
    }
    return 0;
}

void pg_close(struct gw_app *app)
{
    if (app->pg != NULL) {
        PQfinish(app->pg);
        app->pg = NULL;
    }
}

PGresult *pg_exec_within(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params,
                         int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    PGresult *r, *out = NULL;
    int ok = 1;

    /* Without parameters the simple protocol: one message, as PQexec sends it. */
    if (!(nparams == 0 ? PQsendQuery(c, sql) : PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0))) {
        snprintf(err, errlen, "cannot send %s: %s", what, PQerrorMessage(c));
        return NULL;
    }
    while (PQisBusy(c)) {
        struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
        int64_t left = deadline - gw_monotonic_ms();

        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            /* No PQcancel: it opens another connection to the same stalled
             * server and waits for it without a timeout. The caller closes
             * this connection, and the server drops the query with it. */
            snprintf(err, errlen, "timeout: no answer to %s from PostgreSQL at %s:%s within %d ms", what,
                     PQhost(c) ? PQhost(c) : "?", PQport(c) ? PQport(c) : "?", timeout_ms);
            return NULL;
        }
        if (!PQconsumeInput(c)) {
            snprintf(err, errlen, "connection lost: %s", PQerrorMessage(c));
            return NULL;
        }
    }
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s failed: %s", what, PQresultErrorMessage(r));
            ok = 0;
        }
        if (out == NULL && ok)
            out = r;
        else
            PQclear(r);
    }
    if (!ok) {
        PQclear(out);
        return NULL;
    }
    return out;
}

int pg_ping(PGconn *c, int timeout_ms, char *err, size_t errlen)
{
    PGresult *r = pg_exec_within(c, "SELECT 1", "SELECT 1", 0, NULL, timeout_ms, err, errlen);

    PQclear(r);
    return r != NULL ? 0 : -1;
}

int pg_exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;

    if (rc != 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static int is_migration_name(const char *n)
{
    size_t len = strlen(n);

    return len > 8 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' &&
           n[2] >= '0' && n[2] <= '9' && n[3] == '_' && strcmp(n + len - 4, ".sql") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    char *buf;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        snprintf(err, errlen, "%s: read failed", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[st.st_size] = '\0';
    fclose(f);
    return buf;
}

/* 1 when version is recorded, 0 when not, -1 on error. */
static int applied(PGconn *c, const char *version, char *err, size_t errlen)
{
    const char *params[1] = { version };
    PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                               NULL, params, NULL, NULL, 0);
    int rc;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        rc = -1;
    } else {
        rc = PQntuples(r) > 0;
    }
    PQclear(r);
    return rc;
}

/* A database migrated by a newer binary has tables and constraints this one
 * does not know: applying our older files to it, or serving from it, would
 * write rows the newer code cannot trust. Refuse, naming both versions. */
static int newer_than_known(PGconn *c, const char *last_file, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT max(version) FROM schema_migrations");
    int rc = 0;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        rc = -1;
    } else if (!PQgetisnull(r, 0, 0) && strncmp(PQgetvalue(r, 0, 0), last_file, 3) > 0) {
        snprintf(err, errlen,
                 "the database schema is at migration %s, newer than the newest this "
                 "mcp-gateway knows (%.3s): upgrade mcp-gateway before migrating",
                 PQgetvalue(r, 0, 0), last_file);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int apply_one(PGconn *c, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096], version[4], sum[65];
    const char *params[3];
    char *sql = NULL;
    PGresult *r = NULL;
    int rc = -1;

    memcpy(version, name, 3);
    version[3] = '\0';
    if (gw_snprintf(path, sizeof(path), "%s/%s", dir, name) != 0) {
        snprintf(err, errlen, "migration path too long");
        return -1;
    }
    if ((sql = slurp(path, err, errlen)) == NULL)
        return -1;
    gw_sha256_hex(sql, strlen(sql), sum);
    if (pg_exec(c, "BEGIN", err, errlen) != 0)
        goto out;
    if (pg_exec(c, sql, err, errlen) != 0) {
        char why[400];

        gw_strlcpy(why, err, sizeof(why));
        snprintf(err, errlen, "%s: %s", name, gw_trim(why));
        goto rollback;
    }
    params[0] = version;
    params[1] = name;
    params[2] = sum;
    r = PQexecParams(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s: %s", name, PQresultErrorMessage(r));
        goto rollback;
    }
    if (pg_exec(c, "COMMIT", err, errlen) != 0)
        goto out;
    rc = 0;
    goto out;
rollback:
    {
        char ignored[64];

        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
    }
out:
    PQclear(r);
    free(sql);
    return rc;
}

int pg_migrate(const char *dsn, const char *dir, char *err, size_t errlen)
{
    PGconn *c = NULL;
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL, lock[96];
    size_t n = 0, cap = 0;
    int count = -1, done = 0;

    c = pg_connect_dsn(dsn, 10, err, errlen);
    if (c == NULL)
        return -1;
    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "migrations directory %s: %s", dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_migration_name(e->d_name))
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));

            if (nn == NULL)
                goto out;
            names = nn;
            cap = cap ? cap * 2 : 16;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            goto out;
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names);

    /* One migrator at a time across the fleet. */
    snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%lld)", MIGRATION_LOCK_KEY);
    if (pg_exec(c, "SET client_min_messages = warning", err, errlen) != 0 ||
        pg_exec(c, lock, err, errlen) != 0 ||
        pg_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())", err, errlen) != 0)
        goto out;
    if (newer_than_known(c, n ? names[n - 1] : "000", err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char version[4];
        int a;

        memcpy(version, names[i], 3);
        version[3] = '\0';
        a = applied(c, version, err, errlen);
        if (a < 0)
            goto out;
        if (a)
            continue;
        if (apply_one(c, dir, names[i], err, errlen) != 0)
            goto out;
        log_info("migration_applied", "applied %s", names[i]);
        done++;
    }
    count = done;
out:
    if (d)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    PQfinish(c);
    return count;
}
