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

#define PG_RETRY_MS 500
#define MIGRATION_LOCK_KEY 7316150021LL /* arbitrary, constant across the fleet */

PGconn *pg_connect_dsn(const char *dsn, int timeout_s, char *err, size_t errlen)
{
    char timeout[16];
    const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *vals[] = { dsn, timeout, "mcp-gateway", NULL };
    PGconn *c;

    snprintf(timeout, sizeof(timeout), "%d", timeout_s);
    /* expand_dbname=1: dsn is a whole connection string; the keys after it
     * (the configured timeout, our application name) take precedence. */
    c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char *m = PQerrorMessage(c), *nl;

        /* libpq words its own timeout "timeout expired" and leaves out the
         * server it waited for. */
        if (strstr(m, "timeout expired") != NULL)
            snprintf(err, errlen, "timeout: no answer from PostgreSQL at %s:%s within %d s",
                     PQhost(c) ? PQhost(c) : "?", PQport(c) ? PQport(c) : "?", timeout_s);
        else
            snprintf(err, errlen, "cannot connect to PostgreSQL: %s", m);
        while ((nl = strchr(err, '\n')) != NULL)
            *nl = ' ';
        gw_trim(err);
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGconn *pg_conn(struct gw_app *app)
{
    char err[512];
    int64_t now;

    if (app->pg != NULL) {
        if (PQstatus(app->pg) == CONNECTION_OK)
            return app->pg;
        PQreset(app->pg);
        if (PQstatus(app->pg) == CONNECTION_OK)
            return app->pg;
        pg_close(app);
    }
    now = gw_monotonic_ms();
    if (now < app->pg_retry_at_ms)
        return NULL;
    app->pg = pg_connect_dsn(app->cfg.pg_dsn, app->cfg.pg_connect_timeout, err, sizeof(err));
    if (app->pg == NULL) {
        app->pg_retry_at_ms = now + PG_RETRY_MS;
        log_warn("postgres_unavailable", "%s", err);
    }
    return app->pg;
}

void pg_close(struct gw_app *app)
{
    if (app->pg != NULL) {
        PQfinish(app->pg);
        app->pg = NULL;
    }
}

int pg_ping(PGconn *c, int timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = gw_monotonic_ms() + timeout_ms;
    PGresult *r;
    int ok = 1;

    if (!PQsendQuery(c, "SELECT 1")) {
        snprintf(err, errlen, "cannot send SELECT 1: %s", PQerrorMessage(c));
        return -1;
    }
    while (PQisBusy(c)) {
        struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
        int64_t left = deadline - gw_monotonic_ms();

        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            /* No PQcancel: it opens another connection to the same stalled
             * server and waits for it without a timeout. The caller closes
             * this connection, and the server drops the query with it. */
            snprintf(err, errlen, "timeout: no answer to SELECT 1 from PostgreSQL at %s:%s within %d ms",
                     PQhost(c) ? PQhost(c) : "?", PQport(c) ? PQport(c) : "?", timeout_ms);
            return -1;
        }
        if (!PQconsumeInput(c)) {
            snprintf(err, errlen, "connection lost: %s", PQerrorMessage(c));
            return -1;
        }
    }
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "SELECT 1 failed: %s", PQresultErrorMessage(r));
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
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
    if (exec_ok(c, "BEGIN", err, errlen) != 0)
        goto out;
    if (exec_ok(c, sql, err, errlen) != 0) {
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
    if (exec_ok(c, "COMMIT", err, errlen) != 0)
        goto out;
    rc = 0;
    goto out;
rollback:
    {
        char ignored[64];

        exec_ok(c, "ROLLBACK", ignored, sizeof(ignored));
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
    if (exec_ok(c, "SET client_min_messages = warning", err, errlen) != 0 ||
        exec_ok(c, lock, err, errlen) != 0 ||
        exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
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
