/* The audit of MCP tool calls: the request path spools a record with one XADD
 * (or appends it to a local file when Redis refuses), and the monitor process
 * drains the spool into audit_log in batches, one transaction each.
 *
 * Nothing is lost and nothing is written twice:
 * - every record carries a random spool id ("sid") chosen on the request path;
 *   audit_spool_applied holds the sid of every record in audit_log, inserted in
 *   the same transaction as the row, so a record read twice (a monitor that died
 *   between COMMIT and XACK, a record claimed from a stalled monitor, the same
 *   record in the stream and in the fallback file) is written once;
 * - stream records are read through a consumer group and acknowledged (and
 *   deleted) only after COMMIT; those left pending by a monitor that died are
 *   taken over with XAUTOCLAIM after audit.claim_idle_ms;
 * - several monitors (several serve hosts) may drain at once: audit_append
 *   serialises the chain with its advisory lock.
 * With Redis down the record goes to audit.spool_fallback; with that unset or
 * unwritable, to a warn log line holding every field. */
#include "audit_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "app.h"
#include "audit.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "pools.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

#define SPOOL_STREAM "audit:spool"
#define SPOOL_GROUP "audit"
/* Longest field a drained record may hold: a user id is at most 1024. */
#define SPOOL_FIELD_MAX 2048
/* Pause between the reads that fill one batch (see fill). */
#define SPOOL_FILL_PAUSE_MS 20
/* A batch transaction may wait this long on the chain's lock or PostgreSQL. */
#define SPOOL_TX_TIMEOUT_MS "30000"
#define SPOOL_ACK_CHUNK 1000
#define SPOOL_RETRY_MIN_MS 500
#define SPOOL_RETRY_MAX_MS 5000

/* The fields of a spooled record, in the stream and in the fallback file. */
enum {
    F_SID, F_TS, F_USER, F_TENANT, F_SESSION, F_SERVER, F_SERVER_ID, F_TOOL, F_OUTCOME,
    F_CODE, F_DURATION, F_REQUEST, F_RPC_ID, F_ARGS, NFIELDS
};
static const char *const field_names[NFIELDS] = {
    "sid", "ts", "user", "tenant", "session", "server", "server_id", "tool", "outcome",
    "code", "duration_ms", "request_id", "rpc_id", "args_sha256",
};

static const char *const outcome_names[] = {
    [AUDIT_CALL_OK] = "ok", [AUDIT_CALL_TOOL_ERROR] = "tool_error", [AUDIT_CALL_ERROR] = "error",
    [AUDIT_CALL_CANCELLED] = "cancelled", [AUDIT_CALL_TIMEOUT] = "timeout",
};

const char *audit_call_outcome_name(enum audit_call_outcome o)
{
    return (unsigned)o < GW_ARRAY_LEN(outcome_names) ? outcome_names[o] : "error";
}

/* --- the request path ------------------------------------------------------- */

/* SHA-256 of the canonical arguments (audit.c's canonical JSON, so that the
 * same arguments hash the same whatever their key order); json-c's plain text
 * for what the canonical form refuses (a NUL in a string). */
static void args_hash(struct json_object *args, char out[65])
{
    char err[128];
    char *canon = audit_canonical_detail(json_object_is_type(args, json_type_object) ? args : NULL,
                                         err, sizeof(err));

    if (canon != NULL) {
        gw_sha256_hex(canon, strlen(canon), out);
        free(canon);
        return;
    }
    {
        size_t len = 0;
        const char *plain = json_object_to_json_string_length(args, JSON_C_TO_STRING_PLAIN, &len);

        gw_sha256_hex(plain, len, out);
    }
}

/* Appends one line under an exclusive lock, to the file that is at path when
 * the lock is held: the monitor renames the file away before reading it, and a
 * line written to the renamed file after the monitor read it would be lost. */
static int file_append(const char *path, const char *line, size_t len, char *err, size_t n)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        struct stat held, named;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        size_t off = 0;

        if (fd < 0) {
            gw_snprintf(err, n, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX) != 0) {
            gw_snprintf(err, n, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (fstat(fd, &held) != 0 || stat(path, &named) != 0 || held.st_ino != named.st_ino ||
            held.st_dev != named.st_dev) {
            close(fd);
            continue;
        }
        while (off < len) {
            ssize_t w = write(fd, line + off, len - off);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                gw_snprintf(err, n, "cannot write %s: %s", path, w < 0 ? strerror(errno) : "short write");
                /* A partial line is skipped by the reader, as malformed. */
                close(fd);
                return -1;
            }
            off += (size_t)w;
        }
        if (fdatasync(fd) != 0) {
            gw_snprintf(err, n, "cannot sync %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        return 0;
    }
    gw_snprintf(err, n, "%s kept being replaced while it was written", path);
    return -1;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when it is not one:
 * no overlong forms, no surrogates, no NUL (PostgreSQL refuses them). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    size_t k;

    if (c < 0x80)
        return c != 0 ? 1 : 0;
    if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (k >= n)
        return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[j] & 0x3f);
    }
    return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : k + 1;
}

/* Text the monitor accepts: at most max bytes of UTF-8, cut between
 * characters, bytes that are not UTF-8 as '?'. NULL when v is fine as it is
 * (else the caller frees the copy). What a client sends (a tool's name, its
 * JSON-RPC id) must not make its own call's record unwritable. */
static char *fit_text(const char *v, size_t max)
{
    size_t n = strlen(v), i = 0, o = 0, k;
    char *out;

    while (i < n && (k = utf8_seq((const unsigned char *)v + i, n - i)) != 0 && i + k <= max)
        i += k;
    if (i == n)
        return NULL;
    if ((out = malloc(max + 1)) == NULL)
        return NULL;
    for (i = 0; i < n;) {
        k = utf8_seq((const unsigned char *)v + i, n - i);
        if (o + (k != 0 ? k : 1) > max)
            break;
        if (k == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, v + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    return out;
}

enum audit_spooled audit_spool_tool_call(struct gw_app *app, const struct audit_tool_call *rec)
{
    return audit_spool_tool_call_give(app, rec, NULL);
}

enum audit_spooled audit_spool_tool_call_give(struct gw_app *app, const struct audit_tool_call *rec,
                                              struct pools_slot *slot)
{
    const char *val[NFIELDS] = { 0 }, *argv[3 + 2 * NFIELDS];
    char *fitted[NFIELDS] = { 0 };
    char sid[33], ts[32], code[16], dur[24], args[65], key[256], why[512] = "";
    struct json_object *line = NULL;
    redisReply *reply = NULL;
    enum audit_spooled where = AUDIT_SPOOLED_LOG;
    int argc = 0;

    if (gw_random_id(sid) != 0)
        gw_random_hex(sid, 16);
    gw_iso8601(gw_now_ms(), ts);
    args_hash(rec->arguments, args);
    snprintf(code, sizeof(code), "%d", rec->error_code);
    snprintf(dur, sizeof(dur), "%lld", (long long)(rec->duration_ms < 0 ? 0 : rec->duration_ms));
    val[F_SID] = sid;
    val[F_TS] = ts;
    val[F_USER] = rec->user_id;
    val[F_TENANT] = rec->tenant_id != NULL && rec->tenant_id[0] != '\0' ? rec->tenant_id : NULL;
    val[F_SESSION] = rec->session_id;
    val[F_SERVER] = rec->server_name;
    val[F_SERVER_ID] = rec->server_id;
    val[F_TOOL] = rec->tool != NULL ? rec->tool : "";
    val[F_OUTCOME] = audit_call_outcome_name(rec->outcome);
    val[F_CODE] = rec->outcome == AUDIT_CALL_ERROR ? code : NULL;
    val[F_DURATION] = dur;
    val[F_REQUEST] = rec->request_id;
    val[F_RPC_ID] = rec->jsonrpc_id != NULL ? json_object_to_json_string_ext(rec->jsonrpc_id, JSON_C_TO_STRING_PLAIN) : "null";
    val[F_ARGS] = args;
    for (int i = 0; i < NFIELDS; i++)
        if (val[i] != NULL && (fitted[i] = fit_text(val[i], SPOOL_FIELD_MAX)) != NULL)
            val[i] = fitted[i];

    if (rds_key(app, key, sizeof(key), SPOOL_STREAM) != 0) {
        gw_strlcpy(why, "the spool key does not fit", sizeof(why));
        if (slot != NULL)
            pools_upstream_release(app, slot);
    } else {
        /* No MAXLEN: trimming would drop records the monitor has not written. */
        argv[argc++] = "XADD";
        argv[argc++] = key;
        argv[argc++] = "*";
        for (int i = 0; i < NFIELDS; i++) {
            if (val[i] == NULL)
                continue;
            argv[argc++] = field_names[i];
            argv[argc++] = val[i];
        }
        reply = slot != NULL ? pools_upstream_release_then(app, slot, argc, argv)
                             : rds_cmdargv(app, argc, argv, NULL);
        if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
            freeReplyObject(reply);
            where = AUDIT_SPOOLED_REDIS;
            goto out;
        }
        gw_snprintf(why, sizeof(why), "%s", reply == NULL ? "Redis unavailable"
                    : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected XADD reply");
        freeReplyObject(reply);
    }

    line = json_object_new_object();
    for (int i = 0; i < NFIELDS && line != NULL; i++)
        if (val[i] != NULL)
            json_object_object_add(line, field_names[i], json_object_new_string(val[i]));
    if (line != NULL && app->cfg.audit_spool_fallback[0] != '\0') {
        size_t len = 0;
        const char *text = json_object_to_json_string_length(line, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        char *buf = malloc(len + 2), ferr[512];

        if (buf != NULL) {
            memcpy(buf, text, len);
            buf[len] = '\n';
            if (file_append(app->cfg.audit_spool_fallback, buf, len + 1, ferr, sizeof(ferr)) == 0)
                where = AUDIT_SPOOLED_FILE;
            else
                gw_snprintf(why + strlen(why), sizeof(why) - strlen(why), "; %s", ferr);
            free(buf);
        }
    }
    if (where == AUDIT_SPOOLED_FILE) {
        log_warn("audit_spool_fallback", "tool call %s spooled to %s: %s", sid,
                 app->cfg.audit_spool_fallback, why);
        metrics_count_named("audit_spool_fallback_total");
    } else {
        /* The last place the record can live: the log, every field. */
        log_warn("audit_spool_unspooled", "tool call not spooled (%s): %s", why,
                 line != NULL ? json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN) : sid);
        metrics_count_named("audit_spool_unspooled_total");
    }
    json_object_put(line);
out:
    for (int i = 0; i < NFIELDS; i++)
        free(fitted[i]);
    return where;
}

/* --- the monitor ------------------------------------------------------------ */

struct spool_rec {
    char id[48];               /* stream entry id; "" for a record of the fallback file */
    char *f[NFIELDS];          /* NULL when absent */
    const char *bad;           /* why the record cannot be written, or NULL */
};

struct batch {
    struct spool_rec *recs;
    int n, cap;
};

struct monitor {
    struct gw_app app;
    char key[256], consumer[128];
    struct leader *leader;      /* the fleet leader's lease and periodic jobs */
    struct batch b;             /* read from the stream, not yet acknowledged */
    int64_t retry_at, claim_at, gauge_at, file_at;
    int failures;
    int group_ready;
};

static void rec_clear(struct spool_rec *r)
{
    for (int i = 0; i < NFIELDS; i++)
        free(r->f[i]);
    memset(r, 0, sizeof(*r));
}

static void batch_clear(struct batch *b)
{
    for (int i = 0; i < b->n; i++)
        rec_clear(&b->recs[i]);
    b->n = 0;
}

static struct spool_rec *batch_add(struct batch *b)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        struct spool_rec *p = realloc(b->recs, (size_t)cap * sizeof(*p));

        if (p == NULL)
            return NULL;
        b->recs = p;
        b->cap = cap;
    }
    memset(&b->recs[b->n], 0, sizeof(b->recs[0]));
    return &b->recs[b->n++];
}

static int field_index(const char *name, size_t len)
{
    for (int i = 0; i < NFIELDS; i++)
        if (strlen(field_names[i]) == len && memcmp(field_names[i], name, len) == 0)
            return i;
    return -1;
}

/* Strict UTF-8 (no overlong forms, no surrogates): PostgreSQL refuses the
 * rest, and a row it refuses would stop the drain. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp, min;

        if (c < 0x80) {
            if (c == 0)
                return 0;
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* A string cut short by its buffer: drop a last character left incomplete,
 * which PostgreSQL would refuse (and with it the whole batch, again and again). */
static void utf8_cut(char *s)
{
    size_t n = strlen(s), i = 0, k;

    while (i < n && (k = utf8_seq((const unsigned char *)s + i, n - i)) != 0)
        i += k;
    s[i] = '\0';
}

static int set_field(struct spool_rec *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
    int i = field_index(name, nlen);

    if (i < 0)
        return 0; /* a field of a later version: ignored */
    if (vlen > SPOOL_FIELD_MAX) {
        r->bad = "a field is too long";
        return 0;
    }
    if (!utf8_valid((const unsigned char *)v, vlen)) {
        r->bad = "a field is not UTF-8 text";
        return 0;
    }
    free(r->f[i]);
    r->f[i] = strndup(v, vlen);
    return r->f[i] == NULL ? -1 : 0;
}

static int is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int is_int(const char *s, long long lo, long long hi)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    return s[0] != '\0' && *end == '\0' && errno == 0 && v >= lo && v <= hi;
}

/* Whoever can write to Redis can write to the stream: a record is checked
 * before it is trusted with a row. */
static void rec_check(struct spool_rec *r)
{
    int known = 0;

    if (r->bad != NULL)
        return;
    if (r->f[F_SID] == NULL || !is_hex(r->f[F_SID], 16, 64))
        r->bad = "no spool id of 16 to 64 hex digits";
    else if (r->f[F_TS] == NULL || r->f[F_TOOL] == NULL || r->f[F_OUTCOME] == NULL)
        r->bad = "ts, tool or outcome missing";
    else if (r->f[F_ARGS] == NULL || !is_hex(r->f[F_ARGS], 64, 64))
        r->bad = "args_sha256 is not a SHA-256";
    else if (r->f[F_DURATION] == NULL || !is_int(r->f[F_DURATION], 0, 1000000000000LL))
        r->bad = "duration_ms is not a number of milliseconds";
    else if (r->f[F_CODE] != NULL && !is_int(r->f[F_CODE], -2147483648LL, 2147483647LL))
        r->bad = "code is not a JSON-RPC error code";
    if (r->bad != NULL)
        return;
    for (size_t i = 0; i < GW_ARRAY_LEN(outcome_names); i++)
        known |= strcmp(r->f[F_OUTCOME], outcome_names[i]) == 0;
    if (!known)
        r->bad = "outcome is not ok, tool_error, error, cancelled or timeout";
}

/* The JSON-RPC id as JSON-RPC allows it (string, integer, null); anything
 * else is kept as its text. */
static struct json_object *rpc_id_json(const char *text)
{
    struct json_object *o = text != NULL ? json_tokener_parse(text) : NULL;

    if (text == NULL)
        return NULL;
    if (o == NULL && strcmp(text, "null") == 0)
        return NULL;
    if (o != NULL && (json_object_is_type(o, json_type_string) || json_object_is_type(o, json_type_int)))
        return o;
    json_object_put(o);
    return json_object_new_string(text);
}

static struct json_object *rec_detail(const struct spool_rec *r)
{
    struct json_object *d = json_object_new_object(), *server = json_object_new_object();

    json_object_object_add(d, "spool_id", json_object_new_string(r->f[F_SID]));
    json_object_object_add(d, "called_at", json_object_new_string(r->f[F_TS]));
    json_object_object_add(d, "tool", json_object_new_string(r->f[F_TOOL]));
    json_object_object_add(d, "outcome", json_object_new_string(r->f[F_OUTCOME]));
    json_object_object_add(d, "duration_ms", json_object_new_int64(strtoll(r->f[F_DURATION], NULL, 10)));
    json_object_object_add(d, "arguments_sha256", json_object_new_string(r->f[F_ARGS]));
    if (r->f[F_CODE] != NULL)
        json_object_object_add(d, "error_code", json_object_new_int64(strtoll(r->f[F_CODE], NULL, 10)));
    if (r->f[F_SESSION] != NULL)
        json_object_object_add(d, "session_id", json_object_new_string(r->f[F_SESSION]));
    json_object_object_add(server, "name", r->f[F_SERVER] ? json_object_new_string(r->f[F_SERVER]) : NULL);
    json_object_object_add(server, "id", r->f[F_SERVER_ID] ? json_object_new_string(r->f[F_SERVER_ID]) : NULL);
    json_object_object_add(d, "server", server);
    json_object_object_add(d, "jsonrpc_id", rpc_id_json(r->f[F_RPC_ID]));
    return d;
}

static void pg_msg(char *err, size_t n, const char *what, PGconn *pg, PGresult *r)
{
    const char *msg = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg);
    char *nl;

    gw_snprintf(err, n, "%s: %s", what, msg);
    while ((nl = strchr(err, '\n')) != NULL)
        *nl = ' ';
    gw_trim(err);
}

static int exec_ok(PGconn *pg, const char *sql, const char *tag, char *err, size_t n)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK && (tag == NULL || strcmp(PQcmdStatus(r), tag) == 0);

    if (!ok)
        pg_msg(err, n, sql, pg, r);
    PQclear(r);
    return ok ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The records whose sid is not yet in audit_spool_applied, appended to the
 * chain; one transaction. 0 with *written (rows added), or -1 with err. */
static int write_batch(PGconn *pg, struct spool_rec *recs, int n, int *written, char *err, size_t en)
{
    PGresult *r = NULL;
    char *arr = NULL, **fresh = NULL, *used = NULL, ignored[64], (*targets)[1200] = NULL;
    struct audit_entry *entries = NULL;
    const char *params[1];
    size_t len = 3;
    int rc = -1, nfresh = 0, nentries = 0;

    *written = 0;
    for (int i = 0; i < n; i++)
        if (recs[i].bad == NULL)
            len += strlen(recs[i].f[F_SID]) + 1;
    if ((arr = malloc(len)) == NULL) {
        gw_strlcpy(err, "out of memory", en);
        return -1;
    }
    /* sids are hex (rec_check): an array literal needs no quoting. */
    {
        char *p = arr;

        *p++ = '{';
        for (int i = 0; i < n; i++) {
            size_t l;

            if (recs[i].bad != NULL)
                continue;
            if (p > arr + 1)
                *p++ = ',';
            l = strlen(recs[i].f[F_SID]);
            memcpy(p, recs[i].f[F_SID], l);
            p += l;
        }
        *p++ = '}';
        *p = '\0';
    }
    if (PQtransactionStatus(pg) != PQTRANS_IDLE)
        exec_ok(pg, "ROLLBACK", NULL, ignored, sizeof(ignored));
    if (exec_ok(pg, "BEGIN", NULL, err, en) != 0)
        goto out;
    if (exec_ok(pg, "SET LOCAL statement_timeout = " SPOOL_TX_TIMEOUT_MS, NULL, err, en) != 0)
        goto rollback;
    /* Sorted, so that two monitors with overlapping batches take the rows'
     * locks in one order and cannot deadlock; a sid another monitor holds
     * waits for its COMMIT and then counts as present. */
    params[0] = arr;
    r = PQexecParams(pg, "INSERT INTO audit_spool_applied (spool_id)"
                         " SELECT DISTINCT s FROM unnest($1::text[]) AS s ORDER BY s"
                         " ON CONFLICT DO NOTHING RETURNING spool_id",
                     1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_msg(err, en, "audit spool ids", pg, r);
        goto rollback;
    }
    nfresh = PQntuples(r);
    if (nfresh > 0 && ((fresh = calloc((size_t)nfresh, sizeof(*fresh))) == NULL ||
                       (used = calloc((size_t)nfresh, 1)) == NULL)) {
        gw_strlcpy(err, "out of memory", en);
        goto rollback;
    }
    for (int i = 0; i < nfresh; i++)
        fresh[i] = PQgetvalue(r, i, 0);
    if (nfresh > 0) /* qsort and bsearch want an array even when it is empty */
        qsort(fresh, (size_t)nfresh, sizeof(*fresh), cmp_str);
    if (nfresh > 0 && ((entries = calloc((size_t)nfresh, sizeof(*entries))) == NULL ||
                       (targets = calloc((size_t)nfresh, sizeof(*targets))) == NULL)) {
        gw_strlcpy(err, "out of memory", en);
        goto rollback;
    }
    for (int i = 0; i < n; i++) {
        struct spool_rec *rec = &recs[i];
        const char *sid = rec->f[F_SID];
        char **hit;
        struct audit_entry *e;

        if (rec->bad != NULL || nfresh == 0 ||
            (hit = bsearch(&sid, fresh, (size_t)nfresh, sizeof(*fresh), cmp_str)) == NULL ||
            used[hit - fresh])
            continue;
        used[hit - fresh] = 1; /* the same record twice in one batch: written once */
        e = &entries[nentries];
        if (gw_snprintf(targets[nentries], sizeof(targets[nentries]), "%s/%s",
                        rec->f[F_SERVER] ? rec->f[F_SERVER] : "-", rec->f[F_TOOL]) != 0)
            utf8_cut(targets[nentries]);
        *e = (struct audit_entry){
            .action = "tool_call",
            .outcome = strcmp(rec->f[F_OUTCOME], "ok") == 0 ? "success" : "failure",
            .actor_user = rec->f[F_USER], .actor_tenant = rec->f[F_TENANT],
            .tenant_id = rec->f[F_TENANT], .target_type = "tool", .target_id = targets[nentries],
            .request_id = rec->f[F_REQUEST], .detail = rec_detail(rec),
        };
        nentries++;
    }
    /* One append for the batch: one lock and one insert, not two round
     * trips a record. */
    if (audit_append_many(pg, entries, nentries, err, en) != 0)
        goto rollback;
    *written = nentries;
    if (exec_ok(pg, "COMMIT", "COMMIT", err, en) != 0)
        goto out;
    rc = 0;
    goto out;
rollback:
    exec_ok(pg, "ROLLBACK", NULL, ignored, sizeof(ignored));
out:
    /* fresh points into r. */
    free(fresh);
    free(used);
    for (int i = 0; i < nentries; i++)
        json_object_put(entries[i].detail);
    free(entries);
    free(targets);
    PQclear(r);
    free(arr);
    return rc;
}

static const char ack_src[] =
    "local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))\n"
    "redis.call('XDEL', KEYS[1], unpack(ARGV, 2))\n"
    "return n\n";
static struct rds_script ack_script = { ack_src, "" };

/* Acknowledge and delete the stream records of the batch: written (or found
 * unwritable), so nobody needs them any more. A failure leaves them pending:
 * claimed again later, they are found in audit_spool_applied. */
static void ack_batch(struct monitor *m, const struct batch *b)
{
    const char *argv[2 + SPOOL_ACK_CHUNK];
    int i = 0;

    while (i < b->n) {
        int argc = 0;
        redisReply *r;

        argv[argc++] = m->key;
        argv[argc++] = SPOOL_GROUP;
        for (; i < b->n && argc < 2 + SPOOL_ACK_CHUNK; i++)
            if (b->recs[i].id[0] != '\0')
                argv[argc++] = b->recs[i].id;
        if (argc == 2)
            continue;
        r = rds_eval(&m->app, &ack_script, 1, argc, argv, NULL);
        if (r == NULL || r->type == REDIS_REPLY_ERROR)
            log_warn("audit_spool_ack", "records written but not acknowledged (%s); they will be "
                     "claimed again and found already written",
                     r == NULL ? "Redis unavailable" : r->str);
        freeReplyObject(r);
    }
}

static void log_bad(const struct spool_rec *r)
{
    struct json_object *o = json_object_new_object();

    for (int i = 0; i < NFIELDS; i++)
        if (r->f[i] != NULL)
            json_object_object_add(o, field_names[i], json_object_new_string(r->f[i]));
    log_error("audit_spool_malformed", "spool record %s cannot be audited (%s): %s",
              r->id[0] ? r->id : "(fallback file)", r->bad,
              json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    metrics_count_named("audit_spool_malformed_total");
    json_object_put(o);
}

/* Write the batch; 0 when it is in audit_log (or unwritable and logged). */
static int flush(struct monitor *m, struct batch *b, const char *source)
{
    char err[512];
    int written = 0, bad = 0;
    int64_t oldest = 0, now = gw_now_ms();
    PGconn *pg;

    for (int i = 0; i < b->n; i++) {
        rec_check(&b->recs[i]);
        if (b->recs[i].bad != NULL)
            bad++;
        else if (b->recs[i].id[0] != '\0' && (oldest == 0 || strtoll(b->recs[i].id, NULL, 10) < oldest))
            oldest = strtoll(b->recs[i].id, NULL, 10);
    }
    pg = pg_conn(&m->app);
    if (pg == NULL) {
        gw_strlcpy(err, "PostgreSQL unavailable", sizeof(err));
    } else if (write_batch(pg, b->recs, b->n, &written, err, sizeof(err)) == 0) {
        for (int i = 0; i < b->n; i++)
            if (b->recs[i].bad != NULL)
                log_bad(&b->recs[i]);
        log_info("audit_batch", "%d tool calls from the %s written to audit_log (%d already there, "
                 "%d malformed), lag %lld ms", written, source, b->n - bad - written, bad,
                 (long long)(oldest > 0 ? now - oldest : 0));
        for (int i = 0; i < written; i++)
            metrics_count_named("audit_spool_written_total");
        m->failures = 0;
        return 0;
    }
    /* A connection that died since its last use is noticed only now. */
    if (pg != NULL && PQstatus(pg) != CONNECTION_OK)
        pg_close(&m->app);
    m->failures++;
    {
        int64_t wait = SPOOL_RETRY_MIN_MS << (m->failures < 4 ? m->failures - 1 : 3);

        m->retry_at = gw_monotonic_ms() + (wait > SPOOL_RETRY_MAX_MS ? SPOOL_RETRY_MAX_MS : wait);
    }
    log_warn("audit_batch_failed", "%d tool calls from the %s not written yet (%s); retrying", b->n,
             source, err);
    return -1;
}

/* One stream entry ([id, [field, value, ...]]) into the batch. */
static int add_entry(struct batch *b, const redisReply *e)
{
    struct spool_rec *r;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    if ((r = batch_add(b)) == NULL)
        return -1;
    gw_strlcpy(r->id, e->element[0]->str, sizeof(r->id));
    if (e->element[1]->type != REDIS_REPLY_ARRAY) {
        r->bad = "the entry has no fields";
        return 0;
    }
    for (size_t i = 0; i + 1 < e->element[1]->elements; i += 2) {
        const redisReply *k = e->element[1]->element[i], *v = e->element[1]->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (set_field(r, k->str, k->len, v->str, v->len) != 0)
            return -1;
    }
    return 0;
}

static int add_entries(struct batch *b, const redisReply *list)
{
    if (list == NULL || list->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < list->elements; i++)
        if (add_entry(b, list->element[i]) != 0)
            return -1;
    return 0;
}

static int ensure_group(struct monitor *m)
{
    redisReply *r = rds_cmd(&m->app, "XGROUP CREATE %s %s 0 MKSTREAM", m->key, SPOOL_GROUP);
    int ok = r != NULL && (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0);

    if (r != NULL && !ok)
        log_warn("audit_spool_group", "cannot create the spool's consumer group: %s", r->str);
    freeReplyObject(r);
    m->group_ready = ok;
    return ok ? 0 : -1;
}

/* Records pending on a consumer that has not acknowledged them for
 * audit.claim_idle_ms (a monitor that died or hangs) become ours. */
static void claim(struct monitor *m)
{
    char idle[24], count[24];
    const char *start = "0-0";
    char next[48];

    snprintf(idle, sizeof(idle), "%d", m->app.cfg.audit_claim_idle_ms);
    snprintf(count, sizeof(count), "%d", m->app.cfg.audit_batch);
    while (m->b.n < m->app.cfg.audit_batch) {
        redisReply *r = rds_cmd(&m->app, "XAUTOCLAIM %s %s %s %s %s COUNT %s", m->key, SPOOL_GROUP,
                                m->consumer, idle, start, count);
        int before = m->b.n;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0)
                m->group_ready = 0;
            freeReplyObject(r);
            return;
        }
        if (add_entries(&m->b, r->element[1]) != 0) {
            freeReplyObject(r);
            return;
        }
        gw_strlcpy(next, r->element[0]->str, sizeof(next));
        freeReplyObject(r);
        if (m->b.n > before)
            log_info("audit_spool_claimed", "took over %d tool-call records read but not "
                     "acknowledged for %d ms", m->b.n - before, m->app.cfg.audit_claim_idle_ms);
        if (strcmp(next, "0-0") == 0)
            return;
        start = next;
    }
}

/* Every monitor that ever ran is a consumer of the group: one that holds
 * nothing and has not read for a while (dead; a live one reads every few
 * hundred ms, and would be recreated by its next read anyway) is removed,
 * so that restarts do not pile up consumers. */
static void forget_consumers(struct monitor *m)
{
    redisReply *r = rds_cmd(&m->app, "XINFO CONSUMERS %s %s", m->key, SPOOL_GROUP);
    long long idle_min = 2LL * m->app.cfg.audit_claim_idle_ms;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *c = r->element[i];
        const char *name = NULL;
        long long pending = -1, idle = -1;

        if (c->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t j = 0; j + 1 < c->elements; j += 2) {
            const redisReply *k = c->element[j], *v = c->element[j + 1];

            if (k->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                name = v->str;
            else if (strcmp(k->str, "pending") == 0 && v->type == REDIS_REPLY_INTEGER)
                pending = v->integer;
            else if (strcmp(k->str, "idle") == 0 && v->type == REDIS_REPLY_INTEGER)
                idle = v->integer;
        }
        if (name != NULL && pending == 0 && idle > idle_min && strcmp(name, m->consumer) != 0) {
            redisReply *d = rds_cmd(&m->app, "XGROUP DELCONSUMER %s %s %s", m->key, SPOOL_GROUP, name);

            freeReplyObject(d);
        }
    }
    freeReplyObject(r);
}

/* New records, until the batch is full or audit.batch_wait_ms has passed
 * since the first one. -1 when Redis is unavailable. */
static int fill(struct monitor *m, volatile sig_atomic_t *stop)
{
    int64_t deadline = 0;
    char count[24], block[24];

    while (!*stop && m->b.n < m->app.cfg.audit_batch) {
        int64_t now = gw_monotonic_ms(), wait = deadline ? deadline - now : m->app.cfg.audit_batch_wait_ms;
        redisReply *r;

        /* A BLOCK past the command timeout would read as a dead server. */
        if (wait > m->app.cfg.redis_timeout_ms / 2)
            wait = m->app.cfg.redis_timeout_ms / 2;

        if (deadline && wait <= 0)
            break;
        snprintf(count, sizeof(count), "%d", m->app.cfg.audit_batch - m->b.n);
        snprintf(block, sizeof(block), "%lld", (long long)(wait < 1 ? 1 : wait));
        r = rds_cmd(&m->app, "XREADGROUP GROUP %s %s COUNT %s BLOCK %s STREAMS %s >", SPOOL_GROUP,
                    m->consumer, count, block, m->key);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            if (strncmp(r->str, "NOGROUP", 7) == 0)
                m->group_ready = 0;
            else
                log_warn("audit_spool_read", "cannot read the spool: %s", r->str);
            freeReplyObject(r);
            return -1;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            if (deadline == 0)
                return 0; /* nothing within one wait */
            break;
        }
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_ARRAY && r->element[i]->elements == 2)
                add_entries(&m->b, r->element[i]->element[1]);
        freeReplyObject(r);
        if (deadline == 0)
            deadline = now + m->app.cfg.audit_batch_wait_ms;
        /* Under load a blocking read returns with the one record that woke
         * it: a short pause lets the next read take what arrived meanwhile,
         * so that a batch costs a few reads instead of one per tool call. */
        if (m->b.n < m->app.cfg.audit_batch) {
            int64_t until = gw_monotonic_ms() + SPOOL_FILL_PAUSE_MS;
            struct timespec ts;

            if (until > deadline)
                until = deadline;
            now = gw_monotonic_ms();
            if (until > now && !*stop) {
                ts.tv_sec = 0;
                ts.tv_nsec = (long)(until - now) * 1000000L;
                nanosleep(&ts, NULL);
            }
        }
    }
    return 0;
}

/* The fallback file: renamed away so that writers start a new one, read
 * under the lock a writer holds while it appends, written like the stream. */
static void drain_file(struct monitor *m)
{
    const char *path = m->app.cfg.audit_spool_fallback;
    char draining[CFG_STR_MAX + 16], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    struct batch fb = { 0 };
    FILE *f;
    int fd;

    if (path[0] == '\0' || gw_snprintf(draining, sizeof(draining), "%s.draining", path) != 0)
        return;
    /* A file left by a monitor that died mid-way is drained first. */
    if (access(draining, F_OK) != 0 && rename(path, draining) != 0)
        return;
    fd = open(draining, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* another monitor of this host has it */
        close(fd);
        return;
    }
    if ((f = fdopen(fd, "r")) == NULL) {
        close(fd);
        return;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        struct json_object *o;
        struct spool_rec *r;

        if (line[len - 1] != '\n')
            break; /* a line cut by a failed write */
        line[len - 1] = '\0';
        if ((o = json_tokener_parse(line)) == NULL || !json_object_is_type(o, json_type_object)) {
            log_error("audit_spool_malformed", "line of %s is not a JSON object: %.300s", draining, line);
            json_object_put(o);
            continue;
        }
        if ((r = batch_add(&fb)) == NULL) {
            json_object_put(o);
            break;
        }
        json_object_object_foreach(o, k, v) {
            if (json_object_is_type(v, json_type_string))
                set_field(r, k, strlen(k), json_object_get_string(v),
                          (size_t)json_object_get_string_len(v));
        }
        json_object_put(o);
    }
    free(line);
    fclose(f); /* and the lock: writers now find the file renamed and start another */
    if (fb.n == 0 || flush(m, &fb, "fallback file") == 0)
        unlink(draining);
    batch_clear(&fb);
    free(fb.recs);
}

static void gauges(struct monitor *m)
{
    redisReply *len = rds_cmd(&m->app, "XLEN %s", m->key), *first = NULL;
    long long n = len != NULL && len->type == REDIS_REPLY_INTEGER ? len->integer : -1, age = 0;

    if (n > 0 && (first = rds_cmd(&m->app, "XRANGE %s - + COUNT 1", m->key)) != NULL &&
        first->type == REDIS_REPLY_ARRAY && first->elements == 1 &&
        first->element[0]->type == REDIS_REPLY_ARRAY && first->element[0]->elements == 2 &&
        first->element[0]->element[0]->type == REDIS_REPLY_STRING)
        age = gw_now_ms() - strtoll(first->element[0]->element[0]->str, NULL, 10);
    if (n >= 0)
        metrics_audit_spool(n, age < 0 ? 0 : age);
    freeReplyObject(len);
    freeReplyObject(first);
}

static void nap(volatile sig_atomic_t *stop, int64_t until)
{
    while (!*stop && gw_monotonic_ms() < until) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };

        nanosleep(&ts, NULL);
    }
}

int audit_spool_monitor(const struct gw_config *cfg, volatile sig_atomic_t *stop)
{
    static struct monitor m;
    char host[64] = "";

    memset(&m, 0, sizeof(m));
    if (app_init(&m.app, cfg, PLANE_BOTH) != 0)
        return 1;
    if (rds_key(&m.app, m.key, sizeof(m.key), SPOOL_STREAM) != 0) {
        log_error("audit_spool_key", "the spool's key does not fit");
        app_free(&m.app);
        return 1;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(m.consumer, sizeof(m.consumer), "%s:%d", host[0] ? host : "host", (int)getpid());
    log_info("monitor_started", "monitor %d drains the tool-call audit spool as consumer %s",
             (int)getpid(), m.consumer);
    {
        char holder[160], rnd[9];

        /* Unique even when a pid is used again on the host. */
        if (gw_random_hex(rnd, 4) != 0)
            snprintf(rnd, sizeof(rnd), "0");
        snprintf(holder, sizeof(holder), "%s:%s", m.consumer, rnd);
        m.leader = leader_new(&m.app, holder);
        if (m.leader == NULL)
            log_error("leader_init", "monitor %d cannot take part in the fleet leader election", (int)getpid());
    }
    while (!*stop) {
        int64_t now;

        leader_tick(m.leader, stop);
        now = gw_monotonic_ms();

        if (m.retry_at > now) {
            /* Short naps: the leader's lease is renewed between them. */
            nap(stop, m.retry_at < now + 200 ? m.retry_at : now + 200);
            continue;
        }
        if (now >= m.file_at) {
            m.file_at = now + 1000;
            drain_file(&m);
            if (m.retry_at > gw_monotonic_ms())
                continue;
        }
        if (now >= m.gauge_at) {
            m.gauge_at = now + 1000;
            gauges(&m);
        }
        if (m.b.n == 0) {
            if (!m.group_ready && ensure_group(&m) != 0) {
                m.retry_at = now + SPOOL_RETRY_MIN_MS;
                continue;
            }
            if (now >= m.claim_at) {
                m.claim_at = now + (cfg->audit_claim_idle_ms / 2 < 5000 ? cfg->audit_claim_idle_ms / 2 : 5000);
                claim(&m);
                forget_consumers(&m);
            }
            if (m.b.n == 0 && fill(&m, stop) != 0) {
                if (m.b.n == 0) {
                    m.retry_at = gw_monotonic_ms() + SPOOL_RETRY_MIN_MS;
                    continue;
                }
            }
        }
        if (m.b.n > 0 && flush(&m, &m.b, "spool") == 0) {
            ack_batch(&m, &m.b);
            batch_clear(&m.b);
        }
    }
    log_info("monitor_stopped", "monitor %d stopped%s", (int)getpid(),
             m.b.n > 0 ? "; its unwritten batch stays pending for the next monitor" : "");
    batch_clear(&m.b);
    free(m.b.recs);
    leader_free(m.leader);
    app_free(&m.app);
    return 0;
}
