/* Management-plane audit routes: GET /api/v1/audit (filtered, tenant-scoped,
 * cursor-paginated, newest first) and GET /api/v1/audit/verify (the chain's verdict). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "auth.h"
#include "auth_jwt.h"
#include "log.h"
#include "routes.h"
#include "store_pg.h"
#include "util.h"

#define AUDIT_PAGE_DEFAULT 50
#define AUDIT_PAGE_MAX 200
#define CURSOR_TAG "audit:"

/* Filters of GET /api/v1/audit, in the order of their SQL parameters. */
enum { F_TENANT, F_ACTION, F_OUTCOME, F_ACTOR, F_TARGET, F_TARGET_TYPE, F_SINCE, F_UNTIL, F_COUNT };
static const char *const filter_names[F_COUNT] = {
    "tenant", "action", "outcome", "actor", "target", "target_type", "since", "until",
};

struct list_query {
    char value[F_COUNT][256];
    int set[F_COUNT];
    long long before;          /* cursor: rows with a smaller id; 0 = from the newest */
    int limit;
};

/* Two digits at s, from lo to hi. */
static int in_range(const char *s, int lo, int hi)
{
    int v = (s[0] - '0') * 10 + (s[1] - '0');

    return v >= lo && v <= hi;
}

/* RFC 3339 date-time with a zone: 2026-12-01T00:00:00Z, 2026-12-01T00:00:00.5+01:00. */
static int is_rfc3339(const char *s)
{
    static const char head[] = "dddd-dd-ddTdd:dd:dd";
    size_t i;

    for (i = 0; head[i] != '\0'; i++) {
        if (head[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != head[i])
            return 0;
    }
    if (!in_range(s + 5, 1, 12) || !in_range(s + 8, 1, 31) || !in_range(s + 11, 0, 23) ||
        !in_range(s + 14, 0, 59) || !in_range(s + 17, 0, 60))
        return 0;
    s += i;
    if (*s == '.') {
        size_t digits = strspn(s + 1, "0123456789");

        if (digits == 0 || digits > 6)
            return 0;
        s += 1 + digits;
    }
    if (strcmp(s, "Z") == 0)
        return 1;
    return (s[0] == '+' || s[0] == '-') && isdigit((unsigned char)s[1]) &&
           isdigit((unsigned char)s[2]) && s[3] == ':' && isdigit((unsigned char)s[4]) &&
           isdigit((unsigned char)s[5]) && s[6] == '\0';
}

static int cursor_encode(long long id, char *out, size_t n)
{
    char raw[48];

    snprintf(raw, sizeof(raw), CURSOR_TAG "%lld", id);
    return authjwt_b64url_encode((const unsigned char *)raw, strlen(raw), out, n) < 0 ? -1 : 0;
}

/* The id an opaque cursor stands for, or -1 when it is not one of ours. */
static long long cursor_decode(const char *s)
{
    unsigned char raw[48];
    long len = authjwt_b64url_decode(s, strlen(s), raw, sizeof(raw) - 1);
    char *end;
    long long id;

    if (len <= (long)strlen(CURSOR_TAG) || memcmp(raw, CURSOR_TAG, strlen(CURSOR_TAG)) != 0)
        return -1;
    raw[len] = '\0';
    id = strtoll((const char *)raw + strlen(CURSOR_TAG), &end, 10);
    return *end == '\0' && id > 0 ? id : -1;
}

/* 0, or -1 with why naming the parameter at fault. */
static int parse_query(const struct http_request *r, struct list_query *q, char *why, size_t n)
{
    const char *cur = NULL;
    char name[64], value[256];
    int rc, seen_cursor = 0, seen_limit = 0;

    memset(q, 0, sizeof(*q));
    q->limit = AUDIT_PAGE_DEFAULT;
    while ((rc = http_query_next(r, &cur, name, sizeof(name), value, sizeof(value))) == 1) {
        int f;

        if (strcmp(name, "cursor") == 0 && !seen_cursor++) {
            if ((q->before = cursor_decode(value)) < 0) {
                gw_snprintf(why, n, "cursor: not a cursor this route gave out");
                return -1;
            }
            continue;
        }
        if (strcmp(name, "limit") == 0 && !seen_limit++) {
            char *end;
            long v = strtol(value, &end, 10);

            if (value[0] == '\0' || *end != '\0' || v < 1 || v > AUDIT_PAGE_MAX) {
                gw_snprintf(why, n, "limit: an integer from 1 to %d", AUDIT_PAGE_MAX);
                return -1;
            }
            q->limit = (int)v;
            continue;
        }
        for (f = 0; f < F_COUNT && strcmp(name, filter_names[f]) != 0; f++)
            ;
        if (f == F_COUNT || q->set[f]) {
            /* A second cursor or limit gets here too: it is repeated, not unknown. */
            int repeated = f < F_COUNT || strcmp(name, "cursor") == 0 || strcmp(name, "limit") == 0;

            gw_snprintf(why, n, "%.64s: %s query parameter", name,
                        repeated ? "repeated" : "unknown");
            return -1;
        }
        if ((f == F_SINCE || f == F_UNTIL) && !is_rfc3339(value)) {
            gw_snprintf(why, n, "%s: an RFC 3339 date-time with a zone (2026-12-01T00:00:00Z)", name);
            return -1;
        }
        if (f == F_OUTCOME && strcmp(value, "success") != 0 && strcmp(value, "denied") != 0 &&
            strcmp(value, "failure") != 0) {
            gw_snprintf(why, n, "outcome: one of success, denied, failure");
            return -1;
        }
        gw_strlcpy(q->value[f], value, sizeof(q->value[f]));
        q->set[f] = 1;
    }
    if (rc < 0) {
        gw_snprintf(why, n, "the query string is malformed or a value is longer than %zu bytes",
                    sizeof(value) - 1);
        return -1;
    }
    return 0;
}

static void add_str(struct json_object *o, const char *key, PGresult *r, int row, int c)
{
    json_object_object_add(o, key, PQgetisnull(r, row, c) ? NULL
                                                           : json_object_new_string(PQgetvalue(r, row, c)));
}

static struct json_object *row_json(PGresult *r, int i)
{
    static const char *const names[] = { "id", "ts", "action", "outcome", "actor_user",
                                         "actor_tenant", "tenant_id", "target_type", "target_id",
                                         "request_id", "detail", "prev_hash", "hash" };
    struct json_object *o = json_object_new_object();

    for (int c = 0; o != NULL && c < (int)GW_ARRAY_LEN(names); c++) {
        if (c == 0)
            json_object_object_add(o, names[c],
                                   json_object_new_int64(strtoll(PQgetvalue(r, i, c), NULL, 10)));
        else if (c == 10)
            json_object_object_add(o, names[c], json_tokener_parse(PQgetvalue(r, i, c)));
        else
            add_str(o, names[c], r, i, c);
    }
    return o;
}

static void send_unavailable(struct gw_call *c)
{
    http_add_header(c->res, "Retry-After", "5");
    http_send_problem(c->res, c->req, 503, "the audit log is unavailable: PostgreSQL cannot be reached");
}

void route_audit_list(struct gw_call *c)
{
    struct list_query q;
    const char *params[F_COUNT + 2];
    char why[256], before[32], limit[16], next[96];
    struct json_object *doc, *items;
    PGconn *pg;
    PGresult *r;
    int rows;

    if (parse_query(c->req, &q, why, sizeof(why)) != 0) {
        http_send_problem(c->res, c->req, 400, why);
        return;
    }
    /* Tenant-scoped callers see their tenant's rows and nothing else: asking
     * for another tenant finds nothing, as if it had none. */
    if (!auth_has_role(c->who, ROLE_PLATFORM_ADMIN)) {
        if (q.set[F_TENANT] && strcmp(q.value[F_TENANT], c->who->tenant_id) != 0)
            q.limit = 0;
        gw_strlcpy(q.value[F_TENANT], c->who->tenant_id, sizeof(q.value[F_TENANT]));
        q.set[F_TENANT] = 1;
    }
    if ((pg = pg_conn(c->app)) == NULL) {
        send_unavailable(c);
        return;
    }
    for (int f = 0; f < F_COUNT; f++)
        params[f] = q.set[f] ? q.value[f] : NULL;
    snprintf(before, sizeof(before), "%lld", q.before);
    snprintf(limit, sizeof(limit), "%d", q.limit + 1); /* one more tells whether a next page exists */
    params[F_COUNT] = q.before > 0 ? before : NULL;
    params[F_COUNT + 1] = limit;
    r = PQexecParams(pg, "SELECT id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
                         " action, outcome, actor_user, actor_tenant, tenant_id, target_type,"
                         " target_id, request_id, detail::text, prev_hash, hash FROM audit_log"
                         " WHERE ($1::text IS NULL OR tenant_id = $1)"
                         " AND ($2::text IS NULL OR action = $2)"
                         " AND ($3::text IS NULL OR outcome = $3)"
                         " AND ($4::text IS NULL OR actor_user = $4)"
                         " AND ($5::text IS NULL OR target_id = $5)"
                         " AND ($6::text IS NULL OR target_type = $6)"
                         " AND ($7::timestamptz IS NULL OR ts >= $7)"
                         " AND ($8::timestamptz IS NULL OR ts < $8)"
                         " AND ($9::bigint IS NULL OR id < $9)"
                         " ORDER BY id DESC LIMIT $10::int",
                     F_COUNT + 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

        /* Class 22: a date-time of the right shape that is not a time (month 13). */
        if (state != NULL && strncmp(state, "22", 2) == 0) {
            http_send_problem(c->res, c->req, 400, "since or until: not a valid date-time");
        } else {
            log_error("audit_list", "audit query failed: %s", PQresultErrorMessage(r));
            if (PQstatus(pg) != CONNECTION_OK)
                send_unavailable(c);
            else
                http_send_problem(c->res, c->req, 500, "the audit log cannot be read");
        }
        PQclear(r);
        return;
    }
    rows = PQntuples(r);
    doc = json_object_new_object();
    items = json_object_new_array();
    for (int i = 0; i < rows && i < q.limit; i++)
        json_object_array_add(items, row_json(r, i));
    json_object_object_add(doc, "items", items);
    if (rows > q.limit && q.limit > 0 &&
        cursor_encode(strtoll(PQgetvalue(r, q.limit - 1, 0), NULL, 10), next, sizeof(next)) == 0)
        json_object_object_add(doc, "next_cursor", json_object_new_string(next));
    else
        json_object_object_add(doc, "next_cursor", NULL);
    PQclear(r);
    http_send_json(c->res, 200, doc);
    json_object_put(doc);
}

void route_audit_verify(struct gw_call *c)
{
    struct audit_verdict v;
    struct json_object *doc;
    char err[512];
    PGconn *pg = pg_conn(c->app);

    if (pg == NULL) {
        send_unavailable(c);
        return;
    }
    if (audit_verify(pg, &v, err, sizeof(err)) != 0) {
        log_error("audit_verify", "%s", err);
        http_send_problem(c->res, c->req, 500, "the audit chain cannot be read");
        return;
    }
    doc = json_object_new_object();
    json_object_object_add(doc, "ok", json_object_new_boolean(v.ok));
    json_object_object_add(doc, "rows_checked", json_object_new_int64(v.rows));
    json_object_object_add(doc, "last_id", json_object_new_int64(v.last_id));
    json_object_object_add(doc, "head_hash", json_object_new_string(v.head_hash));
    if (!v.ok) {
        log_error("audit_chain_broken", "audit chain broken at row %lld: %s", v.broken_id, v.reason);
        json_object_object_add(doc, "broken_id", json_object_new_int64(v.broken_id));
        json_object_object_add(doc, "reason", json_object_new_string(v.reason));
    }
    http_send_json(c->res, 200, doc);
    json_object_put(doc);
}
