/* The hash-chained audit log: canonical row text, the SHA-256 chain, appends
 * serialised fleet-wide by an advisory lock, denied-request records, verify.
 *
 * The canonical row text (version 1), which the hash covers after the 64 hex
 * characters of the previous row's hash:
 *
 *   "mcpgw-audit-v1\n" "id=" <decimal id> "\n"
 *   then for each of ts, action, outcome, actor_user, actor_tenant, tenant_id,
 *   target_type, target_id, request_id, detail, in this order:
 *   <name> "=" <byte length> ":" <bytes> "\n", or <name> "=-\n" for NULL.
 *
 * ts is UTC with microseconds as PostgreSQL's to_char renders it (AUDIT_TS_SQL)
 * both when the row is written and when it is verified. detail is the
 * canonical JSON of the detail (below), stored as detail_canonical, because a
 * jsonb column re-renders numbers and key order and would not round-trip. */
#include "audit.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "app.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

/* Arbitrary, constant across the fleet; distinct from the migration lock. */
#define AUDIT_LOCK_KEY "7316150022"
#define AUDIT_DETAIL_DEPTH 32
#define AUDIT_VERIFY_BATCH 1000
#define AUDIT_VERIFY_BATCH_S "1000"
/* A denied request waits at most this long on the chain's lock or PostgreSQL. */
#define AUDIT_DENIED_TIMEOUT_MS "2000"
#define AUDIT_TS_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A growing string; a failed allocation is remembered and reported once. */
struct abuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void ab_put(struct abuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;

        while (b->len + n + 1 > cap)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void ab_puts(struct abuf *b, const char *s)
{
    ab_put(b, s, strlen(s));
}

/* JSON string: '"' and '\\' escaped, control characters as \n-style or
 * \u00XX, everything else (UTF-8 included) as is. */
static int put_json_string(struct abuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    ab_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = "\\u00";

        switch (ch) {
        case '\0':
            return -1; /* jsonb cannot hold U+0000 */
        case '"': ab_put(b, "\\\"", 2); break;
        case '\\': ab_put(b, "\\\\", 2); break;
        case '\b': ab_put(b, "\\b", 2); break;
        case '\f': ab_put(b, "\\f", 2); break;
        case '\n': ab_put(b, "\\n", 2); break;
        case '\r': ab_put(b, "\\r", 2); break;
        case '\t': ab_put(b, "\\t", 2); break;
        default:
            if (ch < 0x20) {
                esc[4] = hex[ch >> 4];
                esc[5] = hex[ch & 0xf];
                ab_put(b, esc, 6);
            } else {
                ab_put(b, (const char *)&s[i], 1);
            }
        }
    }
    ab_put(b, "\"", 1);
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Integers as decimal; a double with an integral value below 2^53 as the same
 * integer (so 100.0 and 100 agree), any other finite double as %.17g, which
 * reads back to the same double. */
static int put_json_number(struct abuf *b, struct json_object *o)
{
    char num[40];

    if (json_object_is_type(o, json_type_int)) {
        int64_t v = json_object_get_int64(o);

        if (v == INT64_MAX)
            snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(o));
        else
            snprintf(num, sizeof(num), "%" PRId64, v);
    } else {
        double d = json_object_get_double(o);

        if (!isfinite(d))
            return -1;
        if (d == floor(d) && fabs(d) < 9007199254740992.0)
            snprintf(num, sizeof(num), "%.0f", d == 0 ? 0.0 : d);
        else
            snprintf(num, sizeof(num), "%.17g", d);
    }
    ab_puts(b, num);
    return 0;
}

static int put_json(struct abuf *b, struct json_object *o, int depth, char *err, size_t n)
{
    if (depth > AUDIT_DETAIL_DEPTH) {
        gw_snprintf(err, n, "audit detail nested deeper than %d", AUDIT_DETAIL_DEPTH);
        return -1;
    }
    switch (json_object_get_type(o)) {
    case json_type_null:
        ab_puts(b, "null");
        return 0;
    case json_type_boolean:
        ab_puts(b, json_object_get_boolean(o) ? "true" : "false");
        return 0;
    case json_type_int:
    case json_type_double:
        if (put_json_number(b, o) != 0) {
            gw_snprintf(err, n, "audit detail holds a number JSON cannot represent");
            return -1;
        }
        return 0;
    case json_type_string:
        if (put_json_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o)) != 0) {
            gw_snprintf(err, n, "audit detail holds a string with a NUL character");
            return -1;
        }
        return 0;
    case json_type_array: {
        size_t len = json_object_array_length(o);

        ab_put(b, "[", 1);
        for (size_t i = 0; i < len; i++) {
            if (i > 0)
                ab_put(b, ",", 1);
            if (put_json(b, json_object_array_get_idx(o, i), depth + 1, err, n) != 0)
                return -1;
        }
        ab_put(b, "]", 1);
        return 0;
    }
    case json_type_object: {
        size_t cnt = (size_t)json_object_object_length(o), i = 0;
        const char **keys = calloc(cnt ? cnt : 1, sizeof(*keys));
        int rc = 0;

        if (keys == NULL) {
            b->oom = 1;
            return 0;
        }
        json_object_object_foreach(o, k, v) {
            (void)v;
            keys[i++] = k;
        }
        qsort(keys, cnt, sizeof(*keys), cmp_keys);
        ab_put(b, "{", 1);
        for (i = 0; i < cnt && rc == 0; i++) {
            if (i > 0)
                ab_put(b, ",", 1);
            put_json_string(b, keys[i], strlen(keys[i]));
            ab_put(b, ":", 1);
            rc = put_json(b, json_object_object_get(o, keys[i]), depth + 1, err, n);
        }
        ab_put(b, "}", 1);
        free(keys);
        return rc;
    }
    }
    gw_snprintf(err, n, "audit detail holds a value of unknown type");
    return -1;
}

char *audit_canonical_detail(struct json_object *detail, char *err, size_t n)
{
    struct abuf b = { 0 };

    if (detail != NULL && !json_object_is_type(detail, json_type_object)) {
        gw_snprintf(err, n, "audit detail must be a JSON object");
        return NULL;
    }
    if (detail == NULL)
        ab_puts(&b, "{}");
    else if (put_json(&b, detail, 0, err, n) != 0) {
        free(b.p);
        return NULL;
    }
    if (b.oom) {
        gw_snprintf(err, n, "out of memory for the audit detail");
        free(b.p);
        return NULL;
    }
    return b.p;
}

static void put_field(struct abuf *b, const char *name, const char *value)
{
    char head[96];

    if (value == NULL)
        snprintf(head, sizeof(head), "%s=-\n", name);
    else
        snprintf(head, sizeof(head), "%s=%zu:", name, strlen(value));
    ab_puts(b, head);
    if (value != NULL) {
        ab_puts(b, value);
        ab_put(b, "\n", 1);
    }
}

char *audit_canonical_row(const struct audit_row *row, size_t *len)
{
    struct abuf b = { 0 };
    char id[48];

    snprintf(id, sizeof(id), "id=%lld\n", row->id);
    ab_puts(&b, "mcpgw-audit-v1\n");
    ab_puts(&b, id);
    put_field(&b, "ts", row->ts);
    put_field(&b, "action", row->action);
    put_field(&b, "outcome", row->outcome);
    put_field(&b, "actor_user", row->actor_user);
    put_field(&b, "actor_tenant", row->actor_tenant);
    put_field(&b, "tenant_id", row->tenant_id);
    put_field(&b, "target_type", row->target_type);
    put_field(&b, "target_id", row->target_id);
    put_field(&b, "request_id", row->request_id);
    put_field(&b, "detail", row->detail_canonical);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

void audit_row_hash(const char *prev_hash, const struct audit_row *row, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    size_t len = 0;
    char *text = audit_canonical_row(row, &len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* A hash that cannot be computed must never match a stored one. */
    out[0] = '\0';
    if (text != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, prev_hash, strlen(prev_hash)) == 1 &&
        EVP_DigestUpdate(ctx, text, len) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
        mdlen == sizeof(md))
        gw_hex(md, sizeof(md), out);
    EVP_MD_CTX_free(ctx);
    free(text);
}

/* PostgreSQL's message on one line, into err. */
static void pg_error(char *err, size_t n, const char *what, const char *msg)
{
    char *nl;

    gw_snprintf(err, n, "%s: %s", what, msg);
    while ((nl = strchr(err, '\n')) != NULL)
        *nl = ' ';
    gw_trim(err);
}

static const char *col(PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static int valid_outcome(const char *o)
{
    return o != NULL && (strcmp(o, "success") == 0 || strcmp(o, "denied") == 0 ||
                         strcmp(o, "failure") == 0);
}

/* One element of a PostgreSQL array literal: NULL bare, anything else
 * double-quoted with '"' and '\\' escaped, so any text survives. */
static void put_array_elem(struct abuf *b, const char *v)
{
    if (b->len > 1)
        ab_put(b, ",", 1);
    if (v == NULL) {
        ab_put(b, "NULL", 4);
        return;
    }
    ab_put(b, "\"", 1);
    for (const char *s = v; *s != '\0';) {
        size_t run = strcspn(s, "\"\\");

        ab_put(b, s, run);
        s += run;
        if (*s != '\0') {
            ab_put(b, "\\", 1);
            ab_put(b, s++, 1);
        }
    }
    ab_put(b, "\"", 1);
}

#define AUDIT_COLS 13

int audit_append_many(PGconn *pg, const struct audit_entry *es, int count, char *err, size_t n)
{
    PGresult *r = NULL;
    char **details = NULL, prev[65], hash[65], sql[1024];
    struct abuf cols[AUDIT_COLS];
    const char *params[AUDIT_COLS];
    int rc = -1;

    memset(cols, 0, sizeof(cols));
    if (count <= 0)
        return 0;
    for (int i = 0; i < count; i++)
        if (es[i].action == NULL || es[i].action[0] == '\0' || !valid_outcome(es[i].outcome)) {
            gw_snprintf(err, n, "audit entry needs an action and an outcome of success, denied or failure");
            return -1;
        }
    /* The lock below is released at the end of the transaction: outside one
     * it would be released before the insert and the chain could fork. */
    if (PQtransactionStatus(pg) != PQTRANS_INTRANS) {
        gw_snprintf(err, n, "audit_append needs an open transaction");
        return -1;
    }
    if ((details = calloc((size_t)count, sizeof(*details))) == NULL) {
        gw_snprintf(err, n, "out of memory");
        return -1;
    }
    for (int i = 0; i < count; i++)
        if ((details[i] = audit_canonical_detail(es[i].detail, err, n)) == NULL)
            goto out;
    /* Two statements in one round trip: the server runs them in order and
     * the second takes its own snapshot after the lock is granted, so it
     * sees the row of whoever held the lock before us. PQexec answers the
     * last statement's result, or the first error. One id and one clock
     * reading per row, in id order: the whole batch costs one lock, one
     * head read and one insert, not two round trips a row. */
    gw_snprintf(sql, sizeof(sql),
                "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_KEY ");"
                " SELECT current_setting('transaction_isolation'),"
                " (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), id, ts FROM"
                " (SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS id,"
                " " AUDIT_TS_SQL("clock_timestamp()") " AS ts FROM generate_series(1, %d)) AS s"
                " ORDER BY id",
                count);
    r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != count) {
        pg_error(err, n, "audit lock and head", PQresultErrorMessage(r));
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "read committed") != 0) {
        gw_snprintf(err, n, "audit_append needs a READ COMMITTED transaction, not %s",
                    PQgetvalue(r, 0, 0));
        goto out;
    }
    gw_strlcpy(prev, PQgetisnull(r, 0, 1) ? AUDIT_GENESIS_HASH : PQgetvalue(r, 0, 1), sizeof(prev));
    for (int c = 0; c < AUDIT_COLS; c++)
        ab_put(&cols[c], "{", 1);
    for (int i = 0; i < count; i++) {
        const struct audit_entry *e = &es[i];
        const char *id = PQgetvalue(r, i, 2), *ts = PQgetvalue(r, i, 3);
        struct audit_row row = {
            .id = strtoll(id, NULL, 10), .ts = ts, .action = e->action, .outcome = e->outcome,
            .actor_user = e->actor_user, .actor_tenant = e->actor_tenant, .tenant_id = e->tenant_id,
            .target_type = e->target_type, .target_id = e->target_id, .request_id = e->request_id,
            .detail_canonical = details[i],
        };
        const char *v[AUDIT_COLS] = {
            id, ts, e->action, e->outcome, e->actor_user, e->actor_tenant, e->tenant_id,
            e->target_type, e->target_id, e->request_id, details[i], prev, hash,
        };

        /* Each row chains on the one before it in this batch. */
        audit_row_hash(prev, &row, hash);
        if (hash[0] == '\0') {
            gw_snprintf(err, n, "audit hash cannot be computed");
            goto out;
        }
        for (int c = 0; c < AUDIT_COLS; c++)
            put_array_elem(&cols[c], v[c]);
        gw_strlcpy(prev, hash, sizeof(prev));
    }
    for (int c = 0; c < AUDIT_COLS; c++) {
        ab_put(&cols[c], "}", 1);
        if (cols[c].oom) {
            gw_snprintf(err, n, "out of memory");
            goto out;
        }
        params[c] = cols[c].p;
    }
    PQclear(r);
    /* d typed text in both places: jsonb's rendering must not replace the
     * canonical text the hash covers. */
    r = PQexecParams(pg, "INSERT INTO audit_log (id, ts, action, outcome, actor_user, actor_tenant,"
                         " tenant_id, target_type, target_id, request_id, detail, detail_canonical,"
                         " prev_hash, hash) SELECT id, ts::timestamptz, action, outcome, au, at, tn,"
                         " tt, ti, rq, d::jsonb, d, ph, h FROM unnest($1::bigint[], $2::text[],"
                         " $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
                         " $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])"
                         " AS t(id, ts, action, outcome, au, at, tn, tt, ti, rq, d, ph, h) ORDER BY id",
                     AUDIT_COLS, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(err, n, "audit insert", PQresultErrorMessage(r));
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    for (int c = 0; c < AUDIT_COLS; c++)
        free(cols[c].p);
    for (int i = 0; i < count; i++)
        free(details[i]);
    free(details);
    return rc;
}

int audit_append(PGconn *pg, const struct audit_entry *e, char *err, size_t n)
{
    return audit_append_many(pg, e, 1, err, n);
}

/* One statement whose result needs no rows; 0 or -1 with err. */
static int exec_cmd(PGconn *pg, const char *sql, const char *expect_tag, char *err, size_t n)
{
    PGresult *r = PQexec(pg, sql);
    int rc = 0;

    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(err, n, sql, PQresultErrorMessage(r));
        rc = -1;
    } else if (expect_tag != NULL && strcmp(PQcmdStatus(r), expect_tag) != 0) {
        /* COMMIT of a failed transaction answers ROLLBACK. */
        gw_snprintf(err, n, "%s answered %s", sql, PQcmdStatus(r));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int own_write(PGconn *pg, const struct audit_entry *e, char *err, size_t n)
{
    char ignored[64];

    /* A transaction left open by an earlier request must not be committed
     * along with this row. */
    if (PQtransactionStatus(pg) != PQTRANS_IDLE) {
        log_warn("audit_denied_rollback", "a transaction was left open on this connection; rolled back");
        exec_cmd(pg, "ROLLBACK", NULL, ignored, sizeof(ignored));
    }
    if (exec_cmd(pg, "BEGIN", NULL, err, n) != 0)
        return -1;
    if (exec_cmd(pg, "SET LOCAL statement_timeout = " AUDIT_DENIED_TIMEOUT_MS, NULL, err, n) == 0 &&
        audit_append(pg, e, err, n) == 0 && exec_cmd(pg, "COMMIT", "COMMIT", err, n) == 0)
        return 0;
    exec_cmd(pg, "ROLLBACK", NULL, ignored, sizeof(ignored));
    return -1;
}

int audit_append_own(struct gw_app *app, const struct audit_entry *e, char *err, size_t n)
{
    /* pg_conn keeps its own back-off: with PostgreSQL down this costs one
     * refused connect per half second, not one per request. */
    PGconn *pg = pg_conn(app);
    int rc;

    if (pg == NULL) {
        gw_strlcpy(err, "PostgreSQL unavailable", n);
        return -1;
    }
    rc = own_write(pg, e, err, n);
    /* A connection that died since its last use (PostgreSQL restarted) is
     * only noticed by using it: reconnect once rather than lose the row. */
    if (rc != 0 && PQstatus(pg) != CONNECTION_OK && (pg = pg_conn(app)) != NULL)
        rc = own_write(pg, e, err, n);
    return rc;
}

int audit_denied(struct gw_app *app, const struct http_request *r, const struct gw_identity *who,
                 int status, const char *reason)
{
    struct json_object *detail = json_object_new_object();
    const char *tenant = who != NULL && who->tenant_id[0] != '\0' ? who->tenant_id : NULL;
    struct audit_entry e = {
        .action = "request.denied",
        .outcome = "denied",
        .actor_user = who != NULL && who->user_id[0] != '\0' ? who->user_id : NULL,
        .actor_tenant = tenant,
        .tenant_id = tenant,
        .target_type = "route",
        .target_id = r->path,
        .request_id = r->request_id,
        .detail = detail,
    };
    char err[512];
    int rc = -1;

    if (detail == NULL) {
        gw_strlcpy(err, "out of memory", sizeof(err));
        goto out;
    }
    json_object_object_add(detail, "method", json_object_new_string(r->method ? r->method : ""));
    json_object_object_add(detail, "path", json_object_new_string(r->path));
    json_object_object_add(detail, "status", json_object_new_int(status));
    json_object_object_add(detail, "reason", json_object_new_string(reason ? reason : ""));
    if (r->remote_addr != NULL && r->remote_addr[0] != '\0')
        json_object_object_add(detail, "remote_addr", json_object_new_string(r->remote_addr));
    rc = audit_append_own(app, &e, err, sizeof(err));
out:
    if (rc != 0) {
        log_warn("audit_denied_failed", "denied request not audited: %s", err);
        rds_metric_incr(app, "audit_denied_failed_total");
    }
    json_object_put(detail);
    return rc;
}

int audit_verify(PGconn *pg, struct audit_verdict *v, char *err, size_t n)
{
    char expect[65], after[32];
    long long prev_id = 0;
    const char *params[1] = { after };

    memset(v, 0, sizeof(*v));
    v->ok = 1;
    gw_strlcpy(expect, AUDIT_GENESIS_HASH, sizeof(expect));
    gw_strlcpy(v->head_hash, AUDIT_GENESIS_HASH, sizeof(v->head_hash));
    for (;;) {
        PGresult *r;
        int rows;

        snprintf(after, sizeof(after), "%lld", v->last_id);
        r = PQexecParams(pg, "SELECT id, " AUDIT_TS_SQL("ts") ", action, outcome, actor_user,"
                             " actor_tenant, tenant_id, target_type, target_id, request_id,"
                             " detail_canonical, prev_hash, hash,"
                             " audit_detail_matches(detail, detail_canonical)"
                             " FROM audit_log WHERE id > $1::bigint ORDER BY id LIMIT "
                             AUDIT_VERIFY_BATCH_S,
                         1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_error(err, n, "audit verify", PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            struct audit_row row = {
                .id = strtoll(PQgetvalue(r, i, 0), NULL, 10), .ts = col(r, i, 1),
                .action = col(r, i, 2), .outcome = col(r, i, 3), .actor_user = col(r, i, 4),
                .actor_tenant = col(r, i, 5), .tenant_id = col(r, i, 6),
                .target_type = col(r, i, 7), .target_id = col(r, i, 8),
                .request_id = col(r, i, 9), .detail_canonical = col(r, i, 10),
            };
            const char *prev_hash = PQgetvalue(r, i, 11), *hash = PQgetvalue(r, i, 12);
            char computed[65];

            if (strcmp(prev_hash, expect) != 0) {
                if (prev_id == 0)
                    gw_snprintf(v->reason, sizeof(v->reason), "the first row does not start from "
                                "the genesis hash: rows before it were removed");
                else
                    gw_snprintf(v->reason, sizeof(v->reason), "prev_hash is not the hash of row "
                                "%lld: a row between them was removed or rehashed", prev_id);
            } else {
                audit_row_hash(prev_hash, &row, computed);
                if (strcmp(computed, hash) != 0)
                    gw_strlcpy(v->reason, "the row's content does not match its hash: the row was changed",
                               sizeof(v->reason));
                else if (strcmp(PQgetvalue(r, i, 13), "t") != 0)
                    gw_strlcpy(v->reason, "detail differs from the detail its hash covers",
                               sizeof(v->reason));
            }
            if (v->reason[0] != '\0') {
                v->ok = 0;
                v->broken_id = row.id;
                PQclear(r);
                return 0;
            }
            v->rows++;
            v->last_id = row.id;
            prev_id = row.id;
            gw_strlcpy(expect, hash, sizeof(expect));
            gw_strlcpy(v->head_hash, hash, sizeof(v->head_hash));
        }
        PQclear(r);
        if (rows < AUDIT_VERIFY_BATCH)
            return 0;
    }
}
