/* Events: recorded with one delivery row per routed agent and put on a Redis
 * stream; the fleet leader reads the stream as a consumer group and calls each
 * agent's handle_{type} tool, acknowledging an entry only when no delivery of
 * it is still due, so a failed or interrupted delivery is made again. */
#include "events.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "js.h"
#include "leader.h"
#include "log.h"
#include "mcp/catalog.h"
#include "orch.h"
#include "pools.h"
#include "registry.h"
#include "store_pg.h"
#include "store_redis.h"
#include "upstream.h"
#include "util.h"

#define EV_STREAM "events:stream"
#define EV_GROUP "delivery"
/* Entries handled per run, and rounds of XAUTOCLAIM over the pending list. */
#define EV_BATCH "100"
#define EV_CLAIM_ROUNDS 10
/* An event the API could not put on the stream is put there by the leader
 * once it is this old (its responder died between commit and XADD). */
#define EV_ENQUEUE_GRACE "2 seconds"

bool events_type_valid(const char *s)
{
    size_t i;

    if (s == NULL || !islower((unsigned char)s[0]))
        return false;
    for (i = 1; s[i] != '\0'; i++)
        if (i >= 64 || !(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

int events_tool_name(const char *type, char *out, size_t n)
{
    return gw_snprintf(out, n, "handle_%s", type);
}

void event_req_clear(struct event_req *r)
{
    json_object_put(r->data);
    memset(r, 0, sizeof(*r));
}

int events_parse(const char *body, size_t len, int depth, struct event_req *out, char *err, size_t n)
{
    enum js_parse_error pe;
    struct json_object *o = body != NULL ? js_parse(body, len, depth, &pe) : NULL, *v;
    const char *type;

    memset(out, 0, sizeof(*out));
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        gw_strlcpy(err, "the body must be a JSON object {type, data}", n);
        goto bad;
    }
    json_object_object_foreach(o, k, val) {
        (void)val;
        if (strcmp(k, "type") != 0 && strcmp(k, "data") != 0 && strcmp(k, "tenant_id") != 0) {
            gw_snprintf(err, n, "unknown field '%.64s' (allowed: type, data, tenant_id)", k);
            goto bad;
        }
    }
    type = js_str(o, "type");
    if (!events_type_valid(type)) {
        gw_strlcpy(err, "type must match [a-z][a-z0-9_]{0,63}", n);
        goto bad;
    }
    gw_strlcpy(out->type, type, sizeof(out->type));
    if (json_object_object_get_ex(o, "data", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_object)) {
            gw_strlcpy(err, "data must be a JSON object", n);
            goto bad;
        }
        /* PostgreSQL's jsonb holds no NUL character: refused here, not as a
         * database failure (a 503 to retry for ever) later. */
        if (js_has_nul(v)) {
            gw_strlcpy(err, "data must not contain NUL characters", n);
            goto bad;
        }
        out->data = json_object_get(v);
    } else {
        out->data = json_object_new_object();
    }
    if (json_object_object_get_ex(o, "tenant_id", &v)) {
        out->has_tenant = true;
        if (v != NULL && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
                          gw_strlcpy(out->tenant_id, json_object_get_string(v), sizeof(out->tenant_id)) != 0)) {
            gw_strlcpy(err, "tenant_id must be null or a non-empty string of at most 127 bytes", n);
            goto bad;
        }
    }
    json_object_put(o);
    return 0;
bad:
    json_object_put(o);
    event_req_clear(out);
    return -1;
}

/* ---- the management plane ------------------------------------------------------------ */

static const char get_sql[] =
    "SELECT json_build_object('id', e.id, 'type', e.type, 'data', e.data, 'tenant_id', e.tenant_id,"
    " 'created_by', e.created_by, 'created_at', e.created_at, 'enqueued', e.enqueued_at IS NOT NULL,"
    " 'status', CASE WHEN bool_and(d.status = 'delivered') THEN 'delivered'"
    "   WHEN bool_or(d.status IN ('pending', 'retrying')) THEN 'pending' ELSE 'failed' END,"
    " 'deliveries', COALESCE(json_agg(json_build_object('agent', d.agent, 'status', d.status,"
    "   'attempts', d.attempts, 'last_error', d.last_error, 'server_id', d.server_id,"
    "   'next_attempt_at', CASE WHEN d.status IN ('pending', 'retrying') THEN d.next_at END,"
    "   'delivered_at', d.delivered_at) ORDER BY d.agent) FILTER (WHERE d.agent IS NOT NULL), '[]'))::text"
    " FROM events e LEFT JOIN event_deliveries d ON d.event_id = e.id"
    " WHERE e.id = $1::uuid AND ($2::boolean OR e.tenant_id IS NOT DISTINCT FROM $3)"
    " GROUP BY e.id";

static const char *tenant_of(const struct ev_actor *a)
{
    return a->tenant_id != NULL && a->tenant_id[0] != '\0' ? a->tenant_id : NULL;
}

/* A database failure: its words (they name tables, they may quote the data)
 * go to the log; the client is told what could not be done. */
static enum ev_code db_failed(const char *what, const char *why, char *err, size_t n)
{
    log_error("event_db", "%s: %s", what, why);
    gw_snprintf(err, n, "%s failed in the database", what);
    return EV_UNAVAILABLE;
}

static enum ev_code load_event(PGconn *c, const struct ev_actor *a, const char *id,
                               struct json_object **out, char *err, size_t n)
{
    const char *p[3] = { id, a->platform ? "true" : "false", tenant_of(a) };
    PGresult *r;
    enum js_parse_error pe;

    if (!reg_uuid_valid(id)) {
        gw_strlcpy(err, "no such event", n);
        return EV_NOT_FOUND;
    }
    r = PQexecParams(c, get_sql, 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_failed("reading the event", PQresultErrorMessage(r), err, n);
        PQclear(r);
        return EV_UNAVAILABLE;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        gw_strlcpy(err, "no such event", n);
        return EV_NOT_FOUND;
    }
    *out = js_parse(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), 512, &pe);
    PQclear(r);
    if (*out == NULL) {
        gw_strlcpy(err, "the stored event cannot be read", n);
        return EV_UNAVAILABLE;
    }
    return EV_OK;
}

enum ev_code events_get(struct gw_app *app, const struct ev_actor *a, const char *id,
                        struct json_object **out, char *err, size_t n)
{
    PGconn *c = pg_conn(app);

    *out = NULL;
    if (c == NULL) {
        gw_strlcpy(err, "events are unavailable: PostgreSQL cannot be reached", n);
        return EV_UNAVAILABLE;
    }
    return load_event(c, a, id, out, err, n);
}

/* XADD the event; 0 when it is on the stream. */
static int enqueue(struct gw_app *app, const char *id)
{
    char key[128];
    redisReply *r;
    int rc;

    if (rds_key(app, key, sizeof(key), EV_STREAM) != 0)
        return -1;
    r = rds_cmd(app, "XADD %s * event %s", key, id);
    rc = r != NULL && r->type == REDIS_REPLY_STRING ? 0 : -1;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

static void mark_enqueued(PGconn *c, const char *id)
{
    const char *p[1] = { id };
    PGresult *r = PQexecParams(c, "UPDATE events SET enqueued_at = now() WHERE id = $1::uuid", 1, NULL, p,
                               NULL, NULL, 0);

    PQclear(r);
}

enum ev_code events_create(struct gw_app *app, const struct ev_actor *a, const struct event_req *req,
                           struct json_object **out, char *err, size_t n)
{
    static const char insert_sql[] =
        "WITH e AS (INSERT INTO events (id, type, data, tenant_id, created_by)"
        "   SELECT gen_random_uuid(), $1, $2::jsonb, $3, $4"
        "   WHERE EXISTS (SELECT 1 FROM event_routes WHERE event_type = $1) RETURNING id),"
        " d AS (INSERT INTO event_deliveries (event_id, agent)"
        "   SELECT e.id, r.agent FROM e, event_routes r WHERE r.event_type = $1 RETURNING agent)"
        " SELECT (SELECT id::text FROM e), (SELECT json_agg(agent ORDER BY agent) FROM d)::text";
    const char *tenant = tenant_of(a), *data;
    struct ev_actor platform = { a->user_id, NULL, true, a->request_id };
    struct json_object *detail = NULL, *agents = NULL;
    struct audit_entry e;
    char id[40], ignored[256], why[512];
    enum js_parse_error pe;
    enum ev_code rc = EV_UNAVAILABLE;
    PGconn *c;
    PGresult *r = NULL;

    *out = NULL;
    if (req->has_tenant) {
        const char *want = req->tenant_id[0] != '\0' ? req->tenant_id : NULL;

        if (!a->platform && (want == NULL || tenant == NULL || strcmp(want, tenant) != 0)) {
            gw_strlcpy(err, "only a platform_admin may raise an event for another tenant or for the platform", n);
            return EV_FORBIDDEN;
        }
        tenant = want;
    } else if (a->platform) {
        tenant = NULL;   /* a platform_admin's event is the platform's unless a tenant is named */
    }
    if ((c = pg_conn(app)) == NULL) {
        gw_strlcpy(err, "events are unavailable: PostgreSQL cannot be reached", n);
        return EV_UNAVAILABLE;
    }
    data = json_object_to_json_string_ext(req->data, JSON_C_TO_STRING_PLAIN);
    if (pg_exec(c, "BEGIN", why, sizeof(why)) != 0)
        return db_failed("recording the event", why, err, n);
    {
        const char *p[4] = { req->type, data, tenant, a->user_id };

        r = PQexecParams(c, insert_sql, 4, NULL, p, NULL, NULL, 0);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        db_failed("recording the event", PQresultErrorMessage(r), err, n);
        goto fail;
    }
    if (PQgetisnull(r, 0, 0)) {
        gw_snprintf(err, n, "no agent is routed events of type '%s' (see the event routing table)", req->type);
        rc = EV_NO_ROUTE;
        goto fail;
    }
    gw_strlcpy(id, PQgetvalue(r, 0, 0), sizeof(id));
    agents = js_parse(PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), 4, &pe);
    PQclear(r);
    r = NULL;
    detail = json_object_new_object();
    json_object_object_add(detail, "type", json_object_new_string(req->type));
    json_object_object_add(detail, "agents", agents);
    memset(&e, 0, sizeof(e));
    e.action = "event.create";
    e.outcome = "success";
    e.actor_user = a->user_id;
    e.actor_tenant = tenant_of(a);
    e.target_type = "event";
    e.target_id = id;
    e.tenant_id = tenant;
    e.request_id = a->request_id;
    e.detail = detail;
    if (audit_append(c, &e, why, sizeof(why)) != 0) {
        db_failed("writing the event's audit record", why, err, n);
        goto fail;
    }
    if (pg_exec(c, "COMMIT", why, sizeof(why)) != 0) {
        db_failed("recording the event", why, err, n);
        goto fail;
    }
    json_object_put(detail);
    if (enqueue(app, id) == 0)
        mark_enqueued(c, id);
    else
        log_warn("event_enqueue_failed", "event %s is recorded but not on the stream yet; the leader puts it there", id);
    return load_event(c, &platform, id, out, err, n);
fail:
    PQclear(r);
    json_object_put(detail);
    pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
    return rc;
}

/* ---- delivery (the leader) ----------------------------------------------------------- */

struct ev_job {
    const struct leader_run *run;
    char key[128];
    int delivered, failed_attempts, acked, fenced;
    int64_t until;                   /* monotonic: no delivery starts after this */
    int out_of_time;
};

/* A run hands out deliveries for one lease's length at most: agents that
 * answer slowly (at most a third of a lease each) and a backlog of events
 * must not hold the leader's other jobs (health probes, catalog refresh,
 * lease cleanup) back for the whole fleet. What is left stays pending in the
 * group and is taken up by the next run. */
static bool time_left(struct ev_job *j)
{
    if (gw_monotonic_ms() < j->until)
        return true;
    j->out_of_time = 1;
    return false;
}

/* One attempt to deliver the event to one server of the agent: 0, or -1 with why. */
static int call_agent(struct gw_app *app, const char *server_id, const char *tool,
                      struct json_object *args, char *why, size_t n)
{
    const struct cat_snapshot *snap;
    const struct cat_server *srv = NULL;
    struct json_object *answer = NULL;
    struct pools_slot slot;
    struct pools_busy busy;
    char said[512];
    enum up_status st;
    int timeout, rc = -1;

    if (cat_current(app, &snap, why, n) != CAT_OK)
        return -1;
    for (size_t i = 0; i < snap->n && srv == NULL; i++)
        if (strcmp(snap->servers[i].id, server_id) == 0)
            srv = &snap->servers[i];
    if (srv == NULL) {
        gw_snprintf(why, n, "server %s is not in the catalog", server_id);
        return -1;
    }
    if (srv->auth_unavailable) {
        gw_snprintf(why, n, "server %s: its stored credentials cannot be opened here", srv->name);
        return -1;
    }
    /* The lease is renewed between deliveries: none may outlast a third of it. */
    timeout = srv->timeout_ms < app->cfg.leader_lease_ttl_ms / 3 ? srv->timeout_ms : app->cfg.leader_lease_ttl_ms / 3;
    /* A delivery is a tools/call on the server like any other: it takes a
     * slot of the server's max_concurrency pool, or waits for its retry. */
    memset(&busy, 0, sizeof(busy));
    switch (pools_upstream_acquire(app, srv->id, srv->max_concurrency, 2 * timeout + ORCH_LEASE_MARGIN_MS, &slot,
                                   &busy)) {
    case POOLS_OK:
        break;
    case POOLS_BUSY:
        gw_snprintf(why, n, "server %s is busy: all %d of its concurrent calls are in flight", srv->name,
                    busy.capacity);
        return -1;
    default:
        gw_snprintf(why, n, "server %s cannot be called now: its concurrency pool is unavailable (Redis)",
                    srv->name);
        return -1;
    }
    st = orch_call_tool(app, srv, tool, args, timeout, NULL, NULL, &answer, why, n);
    pools_upstream_release(app, &slot);
    if (st != UP_OK) {
        char up[256];

        gw_strlcpy(up, why, sizeof(up));
        gw_snprintf(why, n, "server %s: %s: %s", srv->name, up_status_name(st), up);
    } else if (orch_answer_failed(answer, said, sizeof(said)) != 0) {
        gw_snprintf(why, n, "server %s: %s: %s", srv->name, tool, said);
    } else {
        rc = 0;
    }
    json_object_put(answer);
    return rc;
}

/* Record one attempt, fenced: 1 recorded, 0 fenced out, -1 database error. */
static int record_attempt(struct ev_job *j, PGconn *c, const char *event_id, const char *agent,
                          const char *server_id, const char *error)
{
    static const char sql[] =
        "UPDATE event_deliveries SET attempts = attempts + 1, server_id = $3::uuid,"
        " last_error = COALESCE($4, last_error),"   /* a delivery keeps its last failure's reason */
        " status = CASE WHEN $4 IS NULL THEN 'delivered' WHEN attempts + 1 >= $5::int THEN 'failed'"
        "   ELSE 'retrying' END,"
        " delivered_at = CASE WHEN $4 IS NULL THEN now() END,"
        " next_at = now() + make_interval(secs => $6::int / 1000.0)"
        " WHERE event_id = $1::uuid AND agent = $2 AND status IN ('pending', 'retrying')";
    const struct gw_config *cfg = &j->run->app->cfg;
    char max[16], retry[16], err[256], ignored[256];
    const char *p[6] = { event_id, agent, server_id, error, max, retry };
    PGresult *r;
    int f;

    snprintf(max, sizeof(max), "%d", cfg->events_max_attempts);
    snprintf(retry, sizeof(retry), "%d", cfg->events_retry_ms);
    if (pg_exec(c, "BEGIN", err, sizeof(err)) != 0)
        return -1;
    if ((f = leader_fence(c, j->run->token, j->run->holder, err, sizeof(err))) != 1) {
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return f;
    }
    r = PQexecParams(c, sql, 6, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_warn("event_delivery_record", "event %s to %s: %s", event_id, agent, PQresultErrorMessage(r));
        PQclear(r);
        pg_exec(c, "ROLLBACK", ignored, sizeof(ignored));
        return -1;
    }
    PQclear(r);
    return pg_exec(c, "COMMIT", err, sizeof(err)) == 0 ? 1 : -1;
}

/* The agent's active servers the event's tenant may reach; the attempt number
 * picks one in turn, so that a failed server is not the only one tried. */
static int pick_server(PGconn *c, const char *agent, const char *tenant, int attempt, char out[40])
{
    static const char sql[] =
        "SELECT id::text FROM servers WHERE $1 = ANY(agent_roles) AND NOT maintenance"
        " AND status = 'active' AND (tenant_id IS NULL OR tenant_id = $2) ORDER BY id";
    const char *p[2] = { agent, tenant };
    PGresult *r = PQexecParams(c, sql, 2, NULL, p, NULL, NULL, 0);
    int rows;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || (rows = PQntuples(r)) == 0) {
        PQclear(r);
        return -1;
    }
    gw_strlcpy(out, PQgetvalue(r, attempt % rows, 0), 40);
    PQclear(r);
    return 0;
}

static void ack(struct ev_job *j, const char *entry)
{
    redisReply *r = rds_cmd(j->run->app, "XACK %s %s %s", j->key, EV_GROUP, entry);

    if (r != NULL)
        freeReplyObject(r);
    r = rds_cmd(j->run->app, "XDEL %s %s", j->key, entry);
    if (r != NULL)
        freeReplyObject(r);
    j->acked++;
}

/* Deliver what is due of one stream entry; acknowledge it when nothing of it is left to deliver. */
static void process_entry(struct ev_job *j, PGconn *c, const char *entry, const char *event_id)
{
    static const char due_sql[] =
        "SELECT d.agent, d.attempts, e.type, e.data::text, e.tenant_id, e.created_at::text, e.created_by"
        " FROM event_deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.event_id = $1::uuid AND d.status IN ('pending', 'retrying') AND d.next_at <= now()"
        " ORDER BY d.agent";
    static const char left_sql[] =
        "SELECT count(*) FROM event_deliveries WHERE event_id = $1::uuid AND status IN ('pending', 'retrying')";
    const char *p[1] = { event_id };
    PGresult *r;
    int rows;

    if (!reg_uuid_valid(event_id)) {
        log_warn("event_entry_invalid", "stream entry %s names no event ('%.40s'): dropped", entry, event_id);
        ack(j, entry);
        return;
    }
    r = PQexecParams(c, due_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_warn("event_delivery_read", "event %s: %s", event_id, PQresultErrorMessage(r));
        PQclear(r);
        return;
    }
    rows = PQntuples(r);
    for (int i = 0; i < rows && !j->fenced && !*j->run->stop && time_left(j); i++) {
        const char *agent = PQgetvalue(r, i, 0), *type = PQgetvalue(r, i, 2);
        const char *tenant = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
        int attempt = atoi(PQgetvalue(r, i, 1));
        char server[40] = "", tool[80], why[768], ts[32];
        struct json_object *args = json_object_new_object(), *data;
        enum js_parse_error pe;
        int rec;

        events_tool_name(type, tool, sizeof(tool));
        data = js_parse(PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3), 512, &pe);
        gw_iso8601(gw_now_ms(), ts);
        /* The delegation context of the seed, for an event. */
        json_object_object_add(args, "event_id", json_object_new_string(event_id));
        json_object_object_add(args, "event_type", json_object_new_string(type));
        json_object_object_add(args, "requesting_agent", json_object_new_string("mcp-orchestrator"));
        json_object_object_add(args, "target_agent", json_object_new_string(agent));
        json_object_object_add(args, "task_type", json_object_new_string(tool));
        json_object_object_add(args, "attempt", json_object_new_int(attempt + 1));
        json_object_object_add(args, "timestamp", json_object_new_string(ts));
        json_object_object_add(args, "tenant_id", tenant ? json_object_new_string(tenant) : NULL);
        json_object_object_add(args, "raised_by", json_object_new_string(PQgetvalue(r, i, 6)));
        json_object_object_add(args, "raised_at", json_object_new_string(PQgetvalue(r, i, 5)));
        json_object_object_add(args, "data", data != NULL ? data : json_object_new_object());
        if (pick_server(c, agent, tenant, attempt, server) != 0)
            gw_snprintf(why, sizeof(why), "no active server serves agent %s", agent);
        else if (!leader_keep(j->run)) {
            json_object_put(args);
            j->fenced = 1;    /* the lease lapsed: the next leader delivers it */
            break;
        } else if (call_agent(j->run->app, server, tool, args, why, sizeof(why)) == 0)
            why[0] = '\0';
        json_object_put(args);
        rec = record_attempt(j, c, event_id, agent, server[0] ? server : NULL, why[0] ? why : NULL);
        if (rec == 0)
            j->fenced = 1;
        if (why[0] == '\0') {
            j->delivered++;
            log_info("event_delivered", "event %s (%s) delivered to %s on server %s", event_id, type, agent,
                     server);
        } else {
            j->failed_attempts++;
            log_warn("event_delivery_failed", "event %s (%s) to %s, attempt %d: %s", event_id, type, agent,
                     attempt + 1, why);
        }
    }
    PQclear(r);
    if (j->fenced)
        return;
    r = PQexecParams(c, left_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") == 0)
        ack(j, entry);
    PQclear(r);
}

/* Entries of an XREADGROUP or XAUTOCLAIM reply: [[id, [field, value, ...]], ...]. */
static void process_entries(struct ev_job *j, PGconn *c, const redisReply *list)
{
    for (size_t i = 0; i < list->elements && !j->fenced && !*j->run->stop && time_left(j); i++) {
        const redisReply *e = list->element[i], *f;
        const char *event = "";

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        f = e->element[1];
        if (f->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (f->element[k]->type == REDIS_REPLY_STRING && strcmp(f->element[k]->str, "event") == 0 &&
                    f->element[k + 1]->type == REDIS_REPLY_STRING)
                    event = f->element[k + 1]->str;
        process_entry(j, c, e->element[0]->str, event);
    }
}

int events_enqueue_stragglers(const struct leader_run *run)
{
    PGconn *c = pg_conn(run->app);
    PGresult *r;
    int rows, done = 0;

    if (c == NULL)
        return 0;
    r = PQexec(c, "SELECT id::text FROM events WHERE enqueued_at IS NULL"
                            " AND created_at < now() - interval '" EV_ENQUEUE_GRACE "' ORDER BY created_at LIMIT 100");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    rows = PQntuples(r);
    for (int i = 0; i < rows; i++)
        if (enqueue(run->app, PQgetvalue(r, i, 0)) == 0) {
            mark_enqueued(c, PQgetvalue(r, i, 0));
            done++;
        }
    PQclear(r);
    return done;
}

int events_idle(struct gw_app *app)
{
    char key[128];
    redisReply *r;
    int idle = 0;

    /* Acknowledged entries are deleted: an empty stream has nothing due. */
    if (rds_key(app, key, sizeof(key), EV_STREAM) != 0 || (r = rds_cmd(app, "XLEN %s", key)) == NULL)
        return 0;
    idle = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
    freeReplyObject(r);
    return idle;
}

int events_deliver(const struct leader_run *run, struct json_object *detail, char *err, size_t n)
{
    struct ev_job j;
    PGconn *c = pg_conn(run->app);
    redisReply *r;
    char start[64] = "0-0";

    memset(&j, 0, sizeof(j));
    j.run = run;
    j.until = gw_monotonic_ms() + run->app->cfg.leader_lease_ttl_ms;
    err[0] = '\0';
    if (c == NULL) {
        gw_strlcpy(err, "PostgreSQL is unavailable", n);
        return -1;
    }
    if (rds_key(run->app, j.key, sizeof(j.key), EV_STREAM) != 0) {
        gw_strlcpy(err, "the event stream's key does not fit", n);
        return -1;
    }
    r = rds_cmd(run->app, "XGROUP CREATE %s %s 0 MKSTREAM", j.key, EV_GROUP);
    if (r == NULL) {
        gw_strlcpy(err, "Redis is unavailable", n);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        gw_snprintf(err, n, "creating the delivery group: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    /* New entries join this consumer's pending list ... */
    r = rds_cmd(run->app, "XREADGROUP GROUP %s %s COUNT %s STREAMS %s >", EV_GROUP, run->holder, EV_BATCH,
                j.key);
    if (r != NULL)
        freeReplyObject(r);
    /* ... and every pending entry, a former leader's too, is taken and handled. */
    for (int round = 0; round < EV_CLAIM_ROUNDS && !j.fenced && !*run->stop && time_left(&j); round++) {
        r = rds_cmd(run->app, "XAUTOCLAIM %s %s %s 0 %s COUNT %s", j.key, EV_GROUP, run->holder, start,
                    EV_BATCH);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            if (r != NULL && r->type == REDIS_REPLY_ERROR)
                gw_snprintf(err, n, "claiming pending events: %s", r->str);
            if (r != NULL)
                freeReplyObject(r);
            if (err[0] != '\0')
                return -1;
            break;
        }
        process_entries(&j, c, r->element[1]);
        gw_strlcpy(start, r->element[0]->str, sizeof(start));
        freeReplyObject(r);
        if (strcmp(start, "0-0") == 0)
            break;
    }
    json_object_object_add(detail, "delivered", json_object_new_int(j.delivered));
    json_object_object_add(detail, "failed_attempts", json_object_new_int(j.failed_attempts));
    json_object_object_add(detail, "acknowledged", json_object_new_int(j.acked));
    if (j.out_of_time)
        json_object_object_add(detail, "left_for_next_run", json_object_new_boolean(1));
    if (j.fenced) {
        gw_strlcpy(err, "the lease was lost during delivery; the next leader takes over", n);
        return -1;
    }
    return 0;
}
