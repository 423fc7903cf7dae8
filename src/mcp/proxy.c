/* Forwarding to upstream MCP servers: one request on the gateway session's
 * upstream session, the answer back as JSON or relayed event by event, and
 * upstream requests (sampling, elicitation, roots) relayed under ids of ours
 * that any responder can route back through Redis. */
#include "mcp/proxy.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "audit_spool.h"
#include "auth_jwt.h"
#include "fleet_key.h"
#include "js.h"
#include "log.h"
#include "mcp/era.h"
#include "mcp/jsonrpc.h"
#include "mcp/mrtr.h"
#include "mcp/stream.h"
#include "metrics.h"
#include "pools.h"
#include "store_redis.h"
#include "upstream.h"
#include "util.h"

#define KEY_MAX 256
#define RELAY_PREFIX "gw:"
#define RELAY_MARGIN_MS 1000     /* a relayed request's key outlives the call by this */
#define SEND_MS 2000             /* a notification or answer passed on, at most */
#define RELAY_REQUESTS_MAX 32    /* upstream requests relayed in one call, at most */
#define RELAY_ID_MAX 256         /* bytes of an upstream request's string id */
#define FANOUT_MS 5000           /* a client message passed to every upstream, at most */
#define SLOT_MARGIN_MS 5000      /* a call slot's lease outlives the call's deadlines by this */
#define INPUT_ROUNDS_MAX 8       /* input-required results completed for one call, at most */
#define INPUT_REQUESTS_MAX 8     /* requests in one input-required result, at most */

/* How each failure of an upstream call reaches the client. */
static const struct {
    enum up_status st;
    int code;
    const char *text;
} failures[] = {
    { UP_UNREACHABLE, MPX_UNAVAILABLE, "cannot be reached" },
    { UP_URL_REFUSED, MPX_UNAVAILABLE, "is at an address the gateway may not connect to" },
    { UP_TIMEOUT, MPX_TIMEOUT, "did not answer within its deadline" },
    { UP_AUTH_REFUSED, MPX_AUTH_REFUSED, "refused the gateway's credentials" },
    { UP_NOT_MCP, MPX_NOT_MCP, "did not answer as an MCP server" },
    { UP_TOO_LARGE, MPX_TOO_LARGE, "answered more than the gateway accepts" },
    { UP_PROTOCOL_ERROR, MPX_PROTOCOL_ERROR, "broke the MCP protocol" },
};

static int64_t call_timeout_ms(const struct gw_app *app, const struct cat_server *srv)
{
    int t = app->cfg.upstream_timeout_ms;

    return srv != NULL && srv->timeout_ms > 0 && srv->timeout_ms < t ? srv->timeout_ms : t;
}

static struct json_object *fail_data(const char *server, const char *reason)
{
    struct json_object *d = json_object_new_object();

    json_object_object_add(d, "server", json_object_new_string(server));
    json_object_object_add(d, "reason", json_object_new_string(reason));
    return d;
}

static struct json_object *upstream_error(struct json_object *id, const struct cat_server *srv,
                                          enum up_status st, int64_t timeout_ms)
{
    char msg[256];
    int code = MPX_PROTOCOL_ERROR;
    const char *text = "failed";

    for (size_t i = 0; i < GW_ARRAY_LEN(failures); i++)
        if (failures[i].st == st) {
            code = failures[i].code;
            text = failures[i].text;
        }
    if (st == UP_TIMEOUT)
        snprintf(msg, sizeof(msg), "Upstream server '%s' %s (%lld ms)", srv->name, text,
                 (long long)timeout_ms);
    else
        snprintf(msg, sizeof(msg), "Upstream server '%s' %s", srv->name, text);
    return jr_error(id, code, msg, fail_data(srv->name, up_status_name(st)));
}

/* ---- the answer: JSON, or SSE once the upstream streams ------------------------ */

/* rec under key for ttl_ms (SET PX): true when Redis took it. */
static bool remember(struct gw_app *app, const char *key, struct json_object *rec, int64_t ttl_ms)
{
    char ttl[24];
    redisReply *rep;
    bool ok;

    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    rep = rds_cmd(app, "SET %s %s PX %s", key, json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN), ttl);
    ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* o appended to the list key, which lives ttl_ms from now (one round trip). */
static bool list_push(struct gw_app *app, const char *key, struct json_object *o, int64_t ttl_ms)
{
    redisReply *rep = rds_cmd_expire(app, key, ttl_ms, "RPUSH %s %s", key,
                                     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    bool ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;

    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* The MAC of a record in Redis that a follow-up request acts on: Redis is
 * no trust anchor, and such a record names the upstream session and request
 * the client's answer goes to, or the list it is pushed to. Under
 * security.input_state_key_file, over the record's key (its session, when it
 * has one, and rid) and the named members, "id" as JSON. */
#define INPUT_RECORD_DOMAIN "mcp-gateway input record v1"
#define RELAY_RECORD_DOMAIN "mcp-gateway relay record v1"
#define RECORD_FIELDS_MAX 5

static const char *const input_fields[] = { "s", "u", "v", "o", "id", NULL };
static const char *const relay_fields[] = { "s", "u", "v", "id", NULL };  /* an upstream's request */
static const char *const waiter_fields[] = { "w", "k", NULL };            /* an input request's answer */

static bool record_mac(const struct gw_app *app, const char *domain, const char *sid, const char *rid,
                       struct json_object *rec, const char *const *fields, unsigned char mac[FLEET_MAC_LEN])
{
    struct fleet_part parts[3 + RECORD_FIELDS_MAX];
    size_t n = 0;

    if (app->cfg.input_state_key_len == 0)
        return false;
    parts[n++] = (struct fleet_part){ domain, strlen(domain) };
    if (sid != NULL)
        parts[n++] = (struct fleet_part){ sid, strlen(sid) };
    parts[n++] = (struct fleet_part){ rid, strlen(rid) };
    for (size_t i = 0; fields[i] != NULL && i < RECORD_FIELDS_MAX; i++) {
        struct json_object *m = NULL;
        const char *f;

        if (!json_object_object_get_ex(rec, fields[i], &m))
            return false;
        if (strcmp(fields[i], "id") == 0)
            f = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
        else if ((f = js_str(rec, fields[i])) == NULL)
            return false;
        parts[n++] = (struct fleet_part){ f, strlen(f) };
    }
    return fleet_mac(app->cfg.input_state_key, app->cfg.input_state_key_len, parts, n, mac) == 0;
}

static bool record_seal(const struct gw_app *app, const char *domain, const char *sid, const char *rid,
                        struct json_object *rec, const char *const *fields)
{
    unsigned char mac[FLEET_MAC_LEN];
    char b64[64];

    if (!record_mac(app, domain, sid, rid, rec, fields, mac) ||
        authjwt_b64url_encode(mac, sizeof(mac), b64, sizeof(b64)) < 0)
        return false;
    json_object_object_add(rec, "mac", json_object_new_string(b64));
    return true;
}

static bool record_ok(const struct gw_app *app, const char *domain, const char *sid, const char *rid,
                      struct json_object *rec, const char *const *fields)
{
    unsigned char want[FLEET_MAC_LEN], got[FLEET_MAC_LEN + 4];
    const char *m = js_str(rec, "mac");

    return m != NULL && authjwt_b64url_decode(m, strlen(m), got, sizeof(got)) == FLEET_MAC_LEN &&
           record_mac(app, domain, sid, rid, rec, fields, want) && CRYPTO_memcmp(want, got, FLEET_MAC_LEN) == 0;
}

/* A relay record is sealed when the gateway has an input state key (the
 * session era's relay works without one, as before) and, then, must be. */
static bool relay_seal(const struct gw_app *app, const char *sid, const char *rid, struct json_object *rec,
                       const char *const *fields)
{
    return app->cfg.input_state_key_len == 0 || record_seal(app, RELAY_RECORD_DOMAIN, sid, rid, rec, fields);
}

static bool relay_ok(const struct gw_app *app, const char *sid, const char *rid, struct json_object *rec,
                     const char *const *fields)
{
    return app->cfg.input_state_key_len == 0 || record_ok(app, RELAY_RECORD_DOMAIN, sid, rid, rec, fields);
}

struct relay {
    struct mpx_call *pc;
    const struct cat_server *srv;
    const struct up_session *ups;    /* as up_forward fills it */
    int64_t ttl_ms;                  /* of relayed request ids */
    struct json_object *progress_token; /* the request's own, borrowed; may be NULL */
    bool streaming;                  /* our event stream has begun */
    bool answered;                   /* the upstream's answer is sent */
    int64_t last_write;              /* monotonic ms of our last event */
    int events;
    int requests;                    /* upstream requests relayed so far */
    /* A 2026-07-28 client got an input-required result for an upstream
     * request: from then on the call's messages go to this Redis list, for
     * the follow-up request (any responder) to take. */
    bool handoff;
    char out_key[KEY_MAX];
};

static int hand_off_request(struct relay *r, struct json_object *msg);
static bool is_input_request(struct json_object *msg);
static int handoff_push(struct relay *r, const char *kind, struct json_object *msg);
static bool modern_client(const struct mpx_call *pc);

static int sse_event(struct http_response *res, struct json_object *msg)
{
    const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);

    /* Plain json-c output is one line: one data field carries it. */
    if (http_write(res, "event: message\ndata: ", 21) != 0 || http_write(res, text, strlen(text)) != 0 ||
        http_write(res, "\n\n", 2) != 0 || http_flush(res) != 0) {
        res->client_gone = true;
        return -1;
    }
    return 0;
}

static int stream_begin(struct relay *r)
{
    if (r->streaming)
        return 0;
    r->streaming = true;
    r->last_write = gw_monotonic_ms();
    http_add_header(r->pc->res, "X-Accel-Buffering", "no");
    if (http_send_head(r->pc->res, 200, "text/event-stream") != 0 || http_flush(r->pc->res) != 0) {
        r->pc->res->client_gone = true;
        return -1;
    }
    return 0;
}

/* An upstream request to the client: under an id of ours, remembered in
 * Redis for as long as the call may last, so that the client's answer finds
 * its upstream session from any responder. */
static int rewrite_request_id(struct relay *r, struct json_object *msg)
{
    struct json_object *id = NULL, *rec;
    char rid[33], key[KEY_MAX], newid[40];
    int rc;

    json_object_object_get_ex(msg, "id", &id);
    if (gw_random_id(rid) != 0 ||
        rds_key(r->pc->app, key, sizeof(key), "relay:{%s}:%s", r->pc->session->id, rid) != 0)
        return -1;
    rec = json_object_new_object();
    json_object_object_add(rec, "s", json_object_new_string(r->srv->id));
    json_object_object_add(rec, "u", json_object_new_string(r->ups->id));
    json_object_object_add(rec, "v", json_object_new_string(r->ups->protocol_version));
    json_object_object_add(rec, "id", json_object_get(id));
    rc = relay_seal(r->pc->app, r->pc->session->id, rid, rec, relay_fields) &&
         remember(r->pc->app, key, rec, r->ttl_ms) ? 0 : -1;
    json_object_put(rec);
    if (rc != 0) {
        log_warn("mcp_relay", "cannot remember a request of server %s (Redis); it is not relayed",
                 r->srv->name);
        return 0; /* the upstream's request goes unanswered; the call goes on */
    }
    snprintf(newid, sizeof(newid), RELAY_PREFIX "%s", rid);
    json_object_object_add(msg, "id", json_object_new_string(newid));
    return 1;
}

/* Only what belongs to this call reaches the client: an upstream must not
 * answer, or report progress on, another of the client's requests (which
 * may be in flight to another server). */
static bool belongs_here(struct relay *r, struct json_object *msg)
{
    const char *method = js_str(msg, "method");
    struct json_object *params, *token;

    if (method == NULL)
        return false;
    if (strcmp(method, "notifications/progress") != 0)
        return true;
    params = js_get(msg, "params", json_type_object);
    return r->progress_token != NULL && params != NULL &&
           json_object_object_get_ex(params, "progressToken", &token) && jr_id_equal(token, r->progress_token);
}

static int on_upstream_message(void *arg, struct json_object *msg)
{
    struct relay *r = arg;
    struct json_object *id;

    if (r->handoff) {
        /* The client has its answer; only requests matter to the follow-up. */
        if (msg != NULL && is_input_request(msg))
            handoff_push(r, "m", msg);
        return 0;
    }
    if (stream_begin(r) != 0)
        return -1;
    if (msg == NULL)
        return 0;
    if (r->pc->drop_log_messages && strcmp(js_str(msg, "method") ?: "", "notifications/message") == 0)
        return 0;
    if (!belongs_here(r, msg)) {
        log_info("mcp_relay_dropped", "server %s sent a message that is not part of this call; dropped",
                 r->srv->name);
        return 0;
    }
    if (json_object_object_get_ex(msg, "id", &id)) {
        /* MCP ids are strings or integers; the id is kept in Redis for the
         * whole call, so a long one is refused rather than stored. */
        if (!json_object_is_type(id, json_type_int) &&
            !(json_object_is_type(id, json_type_string) && json_object_get_string_len(id) <= RELAY_ID_MAX)) {
            log_warn("mcp_relay_dropped", "server %s sent a request whose id is not a string of at most "
                     "%d bytes or an integer; dropped", r->srv->name, RELAY_ID_MAX);
            return 0;
        }
        /* Each relayed request is a Redis key and an event for the client:
         * an upstream asking without end gets no more of either. */
        if (r->requests >= RELAY_REQUESTS_MAX) {
            if (r->requests++ == RELAY_REQUESTS_MAX)
                log_warn("mcp_relay_flood", "server %s sent more than %d requests in one call; "
                         "the rest are dropped", r->srv->name, RELAY_REQUESTS_MAX);
            return 0;
        }
        r->requests++;
        if (modern_client(r->pc)) {
            if (is_input_request(msg))
                return hand_off_request(r, msg);
            log_info("mcp_relay_dropped", "server %s sent a %.60s request, which a 2026-07-28 client cannot "
                     "be asked; dropped", r->srv->name, js_str(msg, "method") ? js_str(msg, "method") : "");
            return 0;
        }
        if (rewrite_request_id(r, msg) <= 0)
            return r->pc->res->client_gone ? -1 : 0;
    }
    r->events++;
    r->last_write = gw_monotonic_ms();
    return sse_event(r->pc->res, msg);
}

/* A long quiet wait on an open stream: a comment keeps proxies from timing
 * it out and tells us when the client has gone (then the call stops). */
static int on_tick(void *arg)
{
    struct relay *r = arg;
    struct http_response *res = r->pc->res;

    /* A 2026-07-28 client has its input-required result and may have left:
     * the call goes on for its follow-up, whatever became of this stream. */
    if (r->handoff)
        return 0;
    if (!r->streaming || gw_monotonic_ms() - r->last_write < (int64_t)r->pc->app->cfg.keepalive_seconds * 1000)
        return 0;
    r->last_write = gw_monotonic_ms();
    if (http_write(res, ": keep-alive\n\n", 14) != 0 || http_flush(res) != 0) {
        res->client_gone = true;
        return -1;
    }
    return 0;
}

static void deliver(struct relay *r, struct json_object *answer)
{
    int status = 200;

    if (r->answered)
        return;
    r->answered = true;
    if (r->pc->shape != NULL)
        status = r->pc->shape(r->pc->shape_arg, answer);
    if (r->streaming) {
        if (!r->pc->res->client_gone)
            sse_event(r->pc->res, answer);
        return;
    }
    http_send_json(r->pc->res, status, answer);
}

/* The answer on a stream goes to the client at once, not when the upstream
 * gets round to ending its stream. */
static void on_early_answer(void *arg, struct json_object *answer)
{
    struct relay *r = arg;

    if (r->streaming)
        deliver(r, answer);
}

static void fill_target(struct up_target *t, const struct cat_server *srv)
{
    memset(t, 0, sizeof(*t));
    t->url = srv->url;
    t->auth = &srv->auth;
    t->timeout_ms = srv->timeout_ms;
    t->cache_id = srv->id;
    t->protocol_version = srv->protocol_version;
}

/* For what needs no answer: briefly, as the client waits on each in turn. */
static void fill_send_target(struct up_target *t, const struct cat_server *srv)
{
    fill_target(t, srv);
    if (t->timeout_ms <= 0 || t->timeout_ms > SEND_MS)
        t->timeout_ms = SEND_MS;
}

/* ---- the upstream's pool: one slot per call in flight, max_concurrency in all -------- */

/* A slot's lease covers a re-initialize plus the call, so only a responder
 * that died holds a slot until it ends. */
static int slot_lease_ms(const struct gw_app *app, const struct cat_server *srv)
{
    return (int)(2 * call_timeout_ms(app, srv) + SLOT_MARGIN_MS);
}

redisReply *mpx_slot_take_after(struct mpx_call *pc, const struct cat_server *srv, int cmdc, const char **cmd)
{
    redisReply *rep;

    memset(&pc->pre.busy, 0, sizeof(pc->pre.busy));
    pc->pre.code = pools_upstream_acquire_after(pc->app, srv->id, srv->max_concurrency, slot_lease_ms(pc->app, srv),
                                                &pc->pre.slot, &pc->pre.busy, cmdc, cmd, &rep);
    pc->pre.server_id = srv->id;
    return rep;
}

void mpx_slot_after(struct mpx_call *pc)
{
    if (pc->pre.server_id != NULL)
        pools_upstream_release(pc->app, &pc->pre.slot);
    pc->pre.server_id = NULL;
}

/* Take a slot of srv's pool for one upstream call (or the one taken ahead
 * by mpx_slot_take_after): 0, or -1 when the answer (busy, with Retry-After;
 * or pools unavailable) was sent. */
static int upstream_slot_take(struct mpx_call *pc, const struct cat_server *srv, struct pools_slot *slot)
{
    struct pools_busy busy;
    struct json_object *e, *d;
    enum pools_code code;
    char m[256];

    memset(&busy, 0, sizeof(busy));
    if (pc->pre.server_id != NULL && strcmp(pc->pre.server_id, srv->id) == 0) {
        /* Taken (or refused) ahead: the slot is this call's now. */
        code = pc->pre.code;
        busy = pc->pre.busy;
        *slot = pc->pre.slot;
        pc->pre.server_id = NULL;
    } else {
        code = pools_upstream_acquire(pc->app, srv->id, srv->max_concurrency, slot_lease_ms(pc->app, srv), slot,
                                      &busy);
    }
    switch (code) {
    case POOLS_OK:
        return 0;
    case POOLS_BUSY:
        metrics_count_labeled("mcp_upstream_busy_total", "server", srv->name);
        /* Calls are short next to a lease: ask for a retry soon, not at the lease's end. */
        busy.retry_after_s = 1;
        snprintf(m, sizeof(m), "Upstream server '%s' is busy: all %d of its concurrent calls are in "
                 "flight; retry after %d s", srv->name, busy.capacity, busy.retry_after_s);
        d = fail_data(srv->name, "busy");
        json_object_object_add(d, "max_concurrency", json_object_new_int(busy.capacity));
        json_object_object_add(d, "in_use", json_object_new_int(busy.in_use));
        json_object_object_add(d, "retry_after_s", json_object_new_int(busy.retry_after_s));
        e = jr_error(pc->msg->id, MPX_BUSY, m, d);
        pc->error_code = MPX_BUSY;
        http_add_header(pc->res, "Retry-After", "%d", busy.retry_after_s);
        http_send_json(pc->res, 200, e);
        json_object_put(e);
        return -1;
    default:
        /* Without Redis the concurrency limit cannot be kept: refuse rather
         * than let the fleet exceed it. */
        log_warn("pools_unavailable", "server %s: no call slot (Redis)", srv->name);
        snprintf(m, sizeof(m), "Upstream server '%s' cannot be called now: its concurrency pool is "
                 "unavailable (Redis); retry later", srv->name);
        e = jr_error(pc->msg->id, MPX_UNAVAILABLE, m, fail_data(srv->name, "pools_unavailable"));
        pc->error_code = MPX_UNAVAILABLE;
        http_add_header(pc->res, "Retry-After", "2");
        http_send_json(pc->res, 503, e);
        json_object_put(e);
        return -1;
    }
}

/* What a tools/call's audit record needs besides the outcome. */
struct mpx_tool_record {
    const struct cat_server *srv;
    const char *server, *tool;
    struct json_object *arguments;
    int64_t start_ms;
    bool written;
};

static void tool_call_record(struct mpx_call *pc, struct mpx_tool_record *tr, const char *outcome,
                             struct pools_slot *slot);

/* Give the slot back; a tool call's record is spooled in the same round trip. */
static void upstream_slot_give(struct mpx_call *pc, struct pools_slot *slot, const char *outcome)
{
    if (pc->tool_record != NULL && !pc->tool_record->written)
        tool_call_record(pc, pc->tool_record, outcome, slot);
    else
        pools_upstream_release(pc->app, slot);
}

/* The slot held on past its first lease (input rounds): to last ms more. */
static void upstream_slot_extend(struct mpx_call *pc, const struct cat_server *srv, struct pools_slot *slot,
                                 int64_t ms)
{
    switch (pools_upstream_renew(pc->app, slot, (int)ms)) {
    case POOLS_OK:
        break;
    case POOLS_BUSY:
        log_warn("pools_slot_lost", "server %s: a call's slot lease ended while the call went on", srv->name);
        break;
    default:
        log_warn("pools_unavailable", "server %s: a call's slot lease not extended (Redis)", srv->name);
        break;
    }
}

/* ---- input-required results for a client of the 2025 era ---------------------
 *
 * An upstream of the 2026-07-28 era asks for input by answering a call with
 * resultType "input_required"; a client with a session knows only requests on
 * the call's event stream. Each input request goes to it as one, under an id
 * of ours remembered in Redis with the list its answer is pushed to; this
 * responder, which holds the call's stream, waits on that list (any responder
 * may take the answer), then calls again with inputResponses and the
 * upstream's requestState. */

static bool is_input_required(struct json_object *answer)
{
    const char *t = js_str(js_get(answer, "result", json_type_object), "resultType");

    return t != NULL && strcmp(t, "input_required") == 0;
}

/* Send the input requests of result to the client; the count sent, -1 when
 * they cannot be (malformed, too many, Redis, the client gone). */
static int ask_client(struct relay *r, struct json_object *result, const char *wait_key)
{
    struct json_object *reqs = js_get(result, "inputRequests", json_type_object);
    int n = 0;

    if (reqs == NULL || json_object_object_length(reqs) == 0 ||
        json_object_object_length(reqs) > INPUT_REQUESTS_MAX)
        return -1;
    json_object_object_foreach(reqs, k, v) {
        const char *method = js_str(v, "method");
        struct json_object *msg, *rec;
        char rid[33], key[KEY_MAX], newid[40];
        bool stored;

        if (method == NULL || strlen(k) > RELAY_ID_MAX || gw_random_id(rid) != 0 ||
            rds_key(r->pc->app, key, sizeof(key), "relay:{%s}:%s", r->pc->session->id, rid) != 0)
            return -1;
        rec = json_object_new_object();
        json_object_object_add(rec, "w", json_object_new_string(wait_key));
        json_object_object_add(rec, "k", json_object_new_string(k));
        stored = relay_seal(r->pc->app, r->pc->session->id, rid, rec, waiter_fields) &&
                 remember(r->pc->app, key, rec, r->ttl_ms);
        json_object_put(rec);
        if (!stored)
            return -1;
        snprintf(newid, sizeof(newid), RELAY_PREFIX "%s", rid);
        msg = json_object_new_object();
        json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(msg, "id", json_object_new_string(newid));
        json_object_object_add(msg, "method", json_object_new_string(method));
        if (js_get(v, "params", json_type_object) != NULL)
            json_object_object_add(msg, "params", json_object_get(js_get(v, "params", json_type_object)));
        if (stream_begin(r) != 0 || sse_event(r->pc->res, msg) != 0) {
            json_object_put(msg);
            return -1;
        }
        json_object_put(msg);
        r->last_write = gw_monotonic_ms();
        n++;
    }
    return n;
}

/* The client's n answers, {key: result}, within the call's time; NULL with
 * why when one is an error, the time is up, or the client left. */
static struct json_object *collect_answers(struct relay *r, const char *wait_key, int n, int64_t deadline,
                                           const char **why)
{
    struct json_object *got = json_object_new_object();
    int64_t keepalive = (int64_t)r->pc->app->cfg.keepalive_seconds * 1000;

    while (json_object_object_length(got) < n) {
        int64_t left = deadline - gw_monotonic_ms();
        struct json_object *a;
        bool failed;

        if (left <= 0) {
            *why = "timed_out";
            goto fail;
        }
        a = mst_pop(r->pc->app, wait_key, (long)(left < keepalive ? left : keepalive), &failed);
        if (a == NULL) {
            if (failed) {
                *why = "redis_unavailable";
                goto fail;
            }
            if (on_tick(r) != 0) {
                *why = "client_gone";
                goto fail;
            }
            continue;
        }
        if (js_str(a, "k") == NULL || js_get(a, "result", json_type_object) == NULL) {
            json_object_put(a);
            *why = "client_error";
            goto fail;
        }
        json_object_object_add(got, js_str(a, "k"), json_object_get(js_get(a, "result", json_type_object)));
        json_object_put(a);
    }
    return got;
fail:
    json_object_put(got);
    return NULL;
}

/* answer is input-required: ask the client, call again with its answers,
 * until the upstream completes or fails, within the call's deadline. The
 * final answer (ours to put), or an error answer naming what stopped it. */
static struct json_object *complete_input(struct relay *r, struct up_forward *f, struct pools_slot *slot,
                                          struct json_object *msg, struct json_object *answer,
                                          enum up_status *st, char *why, size_t n)
{
    int64_t deadline = gw_monotonic_ms() + call_timeout_ms(r->pc->app, r->srv);
    char wait_key[KEY_MAX], wid[33];

    for (int round = 0; *st == UP_OK && is_input_required(answer); round++) {
        struct json_object *result = js_get(answer, "result", json_type_object);
        struct json_object *again = NULL, *params, *responses;
        const char *stop = NULL;
        char m[200];
        int asked;

        /* The slot is held through every round: its lease must cover the
         * client's answers and the next call (a re-initialize plus the call),
         * or the pool forgets this call while it goes on. */
        if (round < INPUT_ROUNDS_MAX) {
            int64_t left = deadline - gw_monotonic_ms();

            upstream_slot_extend(r->pc, r->srv, slot, (left > 0 ? left : 0) +
                                 2 * call_timeout_ms(r->pc->app, r->srv) + SLOT_MARGIN_MS);
        }
        if (round >= INPUT_ROUNDS_MAX)
            stop = "too_many_rounds";
        else if (gw_random_id(wid) != 0 ||
                 rds_key(r->pc->app, wait_key, sizeof(wait_key), "input:{%s}:%s", r->pc->session->id, wid) != 0 ||
                 (asked = ask_client(r, result, wait_key)) < 0)
            stop = r->pc->res->client_gone ? "client_gone" : "input_not_relayed";
        else if ((responses = collect_answers(r, wait_key, asked, deadline, &stop)) != NULL) {
            if (json_object_deep_copy(msg, &again, NULL) != 0 ||
                (params = js_get(again, "params", json_type_object)) == NULL) {
                json_object_put(responses);
                json_object_put(again);
                stop = "internal_error";
            } else {
                json_object_object_add(params, "inputResponses", responses);
                if (js_get(result, "requestState", json_type_string) != NULL)
                    json_object_object_add(params, "requestState",
                                           json_object_get(js_get(result, "requestState", json_type_string)));
                else
                    json_object_object_del(params, "requestState");
            }
        }
        if (stop != NULL) {
            int code = strcmp(stop, "timed_out") == 0 ? MPX_TIMEOUT : MPX_PROTOCOL_ERROR;

            log_warn("mcp_input_required", "server %s: the input it asked for was not completed: %s",
                     r->srv->name, stop);
            snprintf(m, sizeof(m), "Upstream server '%s' asked for input that was not given (%s)",
                     r->srv->name, stop);
            json_object_put(answer);
            return jr_error(r->pc->msg->id, code, m, fail_data(r->srv->name, stop));
        }
        json_object_put(answer);
        answer = NULL;
        *st = up_forward(r->pc->app, f, again, &answer, why, n);
        json_object_put(again);
    }
    return answer;
}

/* ---- input-required results for a client of the 2026-07-28 era ---------------
 *
 * Whatever a follow-up request needs comes back with it in requestState,
 * sealed by mrtr_seal for this caller, method and name: the upstream's own
 * requestState (2026-07-28 upstream), or the id of a Redis record naming the
 * upstream request a 2025-11-25 upstream made on the call's stream. That call
 * stays with the responder holding the stream, which pushes what follows to a
 * Redis list; the follow-up, on any responder, sends the answer upstream and
 * takes the next message from the list. */

static void answer_error(struct mpx_call *pc, int code, const char *message, struct json_object *data);

static bool modern_client(const struct mpx_call *pc)
{
    return pc->session != NULL && pc->session->identity;
}

/* The upstream requests an input-required result can carry. */
static bool is_input_request(struct json_object *msg)
{
    static const char *const methods[] = { "elicitation/create", "sampling/createMessage", "roots/list" };
    const char *m = js_str(msg, "method");

    for (size_t i = 0; m != NULL && json_object_object_get_ex(msg, "id", NULL) && i < GW_ARRAY_LEN(methods); i++)
        if (strcmp(m, methods[i]) == 0)
            return true;
    return false;
}

/* What the client called: the tool or prompt, or the resource URI. */
static const char *client_target(const struct mpx_call *pc)
{
    const char *t = js_str(pc->msg->params, "name");

    if (t == NULL)
        t = js_str(pc->msg->params, "uri");
    return t != NULL ? t : "";
}

static int seal_for(const struct mpx_call *pc, const struct cat_server *srv, const char *upstream_state,
                    const char *pending, char *out, size_t n)
{
    struct mrtr_state st;

    memset(&st, 0, sizeof(st));
    if (strlen(upstream_state) > MRTR_UPSTREAM_MAX || strlen(client_target(pc)) >= sizeof(st.target))
        return -1;
    gw_strlcpy(st.server_id, srv->id, sizeof(st.server_id));
    gw_strlcpy(st.method, pc->msg->method, sizeof(st.method));
    gw_strlcpy(st.target, client_target(pc), sizeof(st.target));
    gw_strlcpy(st.upstream_state, upstream_state, sizeof(st.upstream_state));
    gw_strlcpy(st.pending, pending, sizeof(st.pending));
    st.exp = (int64_t)time(NULL) + MRTR_TTL_S;
    return mrtr_seal(pc->app->cfg.input_state_key, pc->app->cfg.input_state_key_len, pc->who, &st, out, n);
}

static struct json_object *input_failure(const struct mpx_call *pc, const struct cat_server *srv,
                                         const char *reason)
{
    char m[256];

    log_warn("mcp_input_required", "server %s: input-required result not carried: %s", srv->name, reason);
    snprintf(m, sizeof(m), "Upstream server '%s' asked for input that the gateway cannot carry (%s)",
             srv->name, reason);
    return jr_error(pc->msg->id, MPX_PROTOCOL_ERROR, m, fail_data(srv->name, reason));
}

/* A 2026-07-28 upstream's input-required result for a 2026-07-28 client:
 * its requestState sealed in ours. Takes answer; returns what to send. */
static struct json_object *seal_input_required(struct mpx_call *pc, const struct cat_server *srv,
                                               struct json_object *answer)
{
    struct json_object *result = js_get(answer, "result", json_type_object);
    const char *us = js_str(result, "requestState");
    char h[MRTR_HANDLE_MAX];

    if (pc->app->cfg.input_state_key_len == 0 || seal_for(pc, srv, us != NULL ? us : "", "", h, sizeof(h)) != 0) {
        json_object_put(answer);
        return input_failure(pc, srv, pc->app->cfg.input_state_key_len == 0 ? "no_input_state_key"
                                                                            : "request_state_too_long");
    }
    json_object_object_add(result, "requestState", json_object_new_string(h));
    return answer;
}

/* One round for a 2025-11-25 upstream's request (the input request "input"):
 * the record the follow-up needs, in Redis, and the input-required result. */
static struct json_object *input_round(struct mpx_call *pc, const struct cat_server *srv, const char *ups_id,
                                       const char *ups_version, struct json_object *req, const char *out_key,
                                       int64_t ttl_ms)
{
    struct json_object *rec, *result, *reqs, *one, *id = NULL;
    char rid[33], key[KEY_MAX], h[MRTR_HANDLE_MAX];
    bool stored;

    if (pc->app->cfg.input_state_key_len == 0)
        return input_failure(pc, srv, "no_input_state_key");
    json_object_object_get_ex(req, "id", &id);
    if (gw_random_id(rid) != 0 || rds_key(pc->app, key, sizeof(key), "mrtr:{%s}", rid) != 0 ||
        seal_for(pc, srv, "", rid, h, sizeof(h)) != 0)
        return input_failure(pc, srv, "internal_error");
    rec = json_object_new_object();
    json_object_object_add(rec, "s", json_object_new_string(srv->id));
    json_object_object_add(rec, "u", json_object_new_string(ups_id));
    json_object_object_add(rec, "v", json_object_new_string(ups_version));
    json_object_object_add(rec, "id", json_object_get(id));
    json_object_object_add(rec, "o", json_object_new_string(out_key));
    stored = record_seal(pc->app, INPUT_RECORD_DOMAIN, NULL, rid, rec, input_fields) &&
             remember(pc->app, key, rec, ttl_ms);
    json_object_put(rec);
    if (!stored)
        return input_failure(pc, srv, "redis_unavailable");
    one = json_object_new_object();
    json_object_object_add(one, "method", json_object_new_string(js_str(req, "method")));
    if (js_get(req, "params", json_type_object) != NULL)
        json_object_object_add(one, "params", json_object_get(js_get(req, "params", json_type_object)));
    reqs = json_object_new_object();
    json_object_object_add(reqs, "input", one);
    result = json_object_new_object();
    json_object_object_add(result, "resultType", json_object_new_string("input_required"));
    json_object_object_add(result, "inputRequests", reqs);
    json_object_object_add(result, "requestState", json_object_new_string(h));
    return jr_result(pc->msg->id, result);
}

/* The first request of a 2025-11-25 upstream during a 2026-07-28 client's
 * call: the client gets an input-required result now; the call goes on here. */
static int hand_off_request(struct relay *r, struct json_object *msg)
{
    char pid[33];
    struct json_object *answer;

    if (gw_random_id(pid) != 0 || rds_key(r->pc->app, r->out_key, sizeof(r->out_key), "mrtr-out:{%s}", pid) != 0)
        answer = input_failure(r->pc, r->srv, "internal_error");
    else
        answer = input_round(r->pc, r->srv, r->ups->id, r->ups->protocol_version, msg, r->out_key, r->ttl_ms);
    deliver(r, answer);
    r->handoff = js_get(answer, "result", json_type_object) != NULL;
    json_object_put(answer);
    return 0;
}

/* {kind: msg} onto the call's list, for the follow-up request. */
static int handoff_push(struct relay *r, const char *kind, struct json_object *msg)
{
    struct json_object *o = json_object_new_object();
    bool ok;

    json_object_object_add(o, kind, json_object_get(msg));
    ok = list_push(r->pc->app, r->out_key, o, r->ttl_ms);
    if (!ok)
        log_warn("mcp_input_required", "server %s: a message for a follow-up request was lost (Redis)",
                 r->srv->name);
    json_object_put(o);
    return ok ? 0 : -1;
}

/* A follow-up whose requestState names a waiting 2025-11-25 upstream
 * request: the client's answer goes upstream, and the call's next message
 * (another request, or its answer) comes back from the list. */
static const char *resume_pending(struct mpx_call *pc, const struct cat_server *srv, const char *rid,
                                  struct json_object *msg)
{
    struct json_object *rec = NULL, *reply = NULL, *next = NULL, *answer = NULL, *resp, *v;
    struct relay r;
    struct up_session us;
    struct up_target t;
    char key[KEY_MAX], why[512];
    const char *outcome = "ok";
    int64_t deadline = gw_monotonic_ms() + call_timeout_ms(pc->app, srv);
    redisReply *rep;
    enum up_status st;

    memset(&r, 0, sizeof(r));
    r.pc = pc;
    r.srv = srv;
    /* Checked before the record is taken: a malformed follow-up leaves the
     * call waiting for a good one. */
    resp = js_get(js_get(js_get(msg, "params", json_type_object), "inputResponses", json_type_object), "input",
                  json_type_object);
    if (resp == NULL) {
        answer_error(pc, JR_INVALID_PARAMS, "inputResponses.input is missing: it answers the input request", NULL);
        return "input_missing";
    }
    if (rds_key(pc->app, key, sizeof(key), "mrtr:{%s}", rid) != 0)
        goto gone;
    /* GETDEL: each round is answered once. */
    rep = rds_cmd(pc->app, "GETDEL %s", key);
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        enum js_parse_error e;

        rec = js_parse(rep->str, rep->len, 4, &e);
    }
    if (rep != NULL)
        freeReplyObject(rep);
    if (rec == NULL || strcmp(js_str(rec, "s") ? js_str(rec, "s") : "", srv->id) != 0 || js_str(rec, "o") == NULL ||
        !json_object_object_get_ex(rec, "id", &v))
        goto gone;
    if (!record_ok(pc->app, INPUT_RECORD_DOMAIN, NULL, rid, rec, input_fields)) {
        log_warn("mcp_input_state", "server %s: the record of a waiting input request was altered in Redis; "
                 "refused", srv->name);
        goto gone;
    }
    memset(&us, 0, sizeof(us));
    gw_strlcpy(us.id, js_str(rec, "u") ? js_str(rec, "u") : "", sizeof(us.id));
    gw_strlcpy(us.protocol_version, js_str(rec, "v") ? js_str(rec, "v") : "", sizeof(us.protocol_version));
    reply = json_object_new_object();
    json_object_object_add(reply, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(reply, "id", json_object_get(v));
    json_object_object_add(reply, "result", json_object_get(resp));
    fill_send_target(&t, srv);
    if ((st = up_send(pc->app, &t, &us, reply, why, sizeof(why))) != UP_OK) {
        log_warn("mcp_input_required", "server %s: the answer was not delivered: %s: %s", srv->name,
                 up_status_name(st), why);
        answer = upstream_error(pc->msg->id, srv, st, call_timeout_ms(pc->app, srv));
        outcome = up_status_name(st);
        goto send;
    }
    while (next == NULL && gw_monotonic_ms() < deadline) {
        bool failed;

        next = mst_pop(pc->app, js_str(rec, "o"), (long)(deadline - gw_monotonic_ms()), &failed);
        if (next == NULL && failed)
            break;
    }
    if (next == NULL) {
        answer = upstream_error(pc->msg->id, srv, UP_TIMEOUT, call_timeout_ms(pc->app, srv));
        outcome = "timed_out";
    } else if ((v = js_get(next, "m", json_type_object)) != NULL) {
        answer = input_round(pc, srv, us.id, us.protocol_version, v, js_str(rec, "o"),
                             call_timeout_ms(pc->app, srv) + RELAY_MARGIN_MS);
    } else if ((v = js_get(next, "a", json_type_object)) != NULL) {
        answer = json_object_get(v);
        json_object_object_add(answer, "id", json_object_get(pc->msg->id));
        if (json_object_object_get_ex(answer, "error", NULL))
            outcome = "error";
    } else {
        answer = input_failure(pc, srv, "malformed_handoff");
    }
send:
    deliver(&r, answer);
    goto out;
gone:
    log_info("mcp_input_state", "a follow-up for server %s names an input request no call waits for", srv->name);
    answer_error(pc, JR_INVALID_PARAMS, "requestState names an input request that was answered or has ended", NULL);
    outcome = "input_state_refused";
out:
    json_object_put(answer);
    json_object_put(next);
    json_object_put(reply);
    json_object_put(rec);
    return outcome;
}

/* A 2026-07-28 client's requestState, opened: the upstream's own state put
 * back into msg (ours to change); *pending set when the call waits on a
 * 2025-11-25 upstream. 0, or -1 with the refusal answered. */
static int open_input_state(struct mpx_call *pc, const struct cat_server *srv, struct json_object *msg,
                            char *pending, size_t pn)
{
    struct json_object *params = js_get(msg, "params", json_type_object), *h = NULL;
    struct mrtr_state st;
    enum mrtr_status ms;
    char m[160];

    pending[0] = '\0';
    if (params == NULL || !json_object_object_get_ex(params, "requestState", &h))
        return 0;
    ms = !json_object_is_type(h, json_type_string) ? MRTR_MALFORMED
         : mrtr_open(pc->app->cfg.input_state_key, pc->app->cfg.input_state_key_len, pc->who,
                     json_object_get_string(h), (int64_t)time(NULL), pc->msg->method, client_target(pc), &st);
    if (ms == MRTR_OK && strcmp(st.server_id, srv->id) != 0)
        ms = MRTR_MISMATCH;
    if (ms != MRTR_OK) {
        snprintf(m, sizeof(m), "requestState %s", mrtr_status_text(ms));
        log_info("mcp_input_state", "%s__%s: %s", srv->name, client_target(pc), m);
        answer_error(pc, JR_INVALID_PARAMS, m, NULL);
        return -1;
    }
    if (st.upstream_state[0] != '\0')
        json_object_object_add(params, "requestState", json_object_new_string(st.upstream_state));
    else
        json_object_object_del(params, "requestState");
    gw_strlcpy(pending, st.pending, pn);
    return 0;
}

/* ---- Mcp-Param-* headers for a 2026-07-28 upstream --------------------------------
 *
 * A tool may name arguments (x-mcp-header in its inputSchema) that requests
 * must mirror in Mcp-Param-{Name} headers; a 2026-07-28 upstream refuses a
 * call without them, whatever era the client speaks. */

/* The Mcp-Param-* headers of msg (a tools/call under the upstream's name)
 * for srv into *out, NULL when none apply. 0, or -1 when an argument cannot
 * go in its header: the client has its answer. */
static int param_headers(struct mpx_call *pc, const struct cat_server *srv, struct json_object *msg,
                         struct json_object **out)
{
    struct json_object *params = js_get(msg, "params", json_type_object), *answer;
    const char *name = js_str(params, "name");
    struct mce_verdict v;

    *out = NULL;
    if (!up_era_modern(srv->protocol_version) || strcmp(js_str(msg, "method") ?: "", "tools/call") != 0 ||
        name == NULL)
        return 0;
    for (size_t i = 0; i < json_object_array_length(srv->tools); i++) {
        struct json_object *tool = json_object_array_get_idx(srv->tools, i);

        if (strcmp(js_str(tool, "name") ?: "", name) != 0)
            continue;
        if (mce_param_headers(js_get(tool, "inputSchema", json_type_object),
                              js_get(params, "arguments", json_type_object), out, &v) == 0)
            return 0;
        log_info("mcp_param_header", "server %s, tool %s: %s", srv->name, name, v.message);
        answer = jr_error(pc->msg->id, v.code, v.message, NULL);
        pc->error_code = v.code;
        http_send_json(pc->res, 200, answer);
        json_object_put(answer);
        return -1;
    }
    return 0;
}

/* Forward msg (its id the client's) to srv; the answer, or an error naming
 * the failure, goes to the client. The outcome for the record. */
static const char *forward(struct mpx_call *pc, const struct cat_server *srv, struct json_object *msg)
{
    const struct ms_upstream *kept = ms_upstream_find(pc->session, srv->id);
    struct json_object *answer = NULL, *v, *headers;
    struct up_target t;
    struct up_session us;
    struct up_forward f;
    struct relay r;
    struct pools_slot slot;
    enum up_status st;
    const char *outcome = "ok";
    bool lost_session = false;
    char why[512];

    if (srv->maintenance) {
        char m[160];

        snprintf(m, sizeof(m), "Upstream server '%s' is in maintenance: try again later", srv->name);
        answer = jr_error(pc->msg->id, MPX_MAINTENANCE, m, fail_data(srv->name, "maintenance"));
        pc->error_code = MPX_MAINTENANCE;
        http_send_json(pc->res, 200, answer);
        json_object_put(answer);
        return "maintenance";
    }
    if (srv->auth_unavailable) {
        char m[200];

        log_warn("mcp_upstream_failed", "server %s: its credentials cannot be opened on this host "
                 "(secret key missing or different)", srv->name);
        snprintf(m, sizeof(m), "Upstream server '%s' cannot be called: the gateway cannot open its "
                 "credentials", srv->name);
        answer = jr_error(pc->msg->id, MPX_AUTH_REFUSED, m, fail_data(srv->name, "credentials_unavailable"));
        pc->error_code = MPX_AUTH_REFUSED;
        http_send_json(pc->res, 200, answer);
        json_object_put(answer);
        return "credentials_unavailable";
    }
    if (modern_client(pc)) {
        char pending[sizeof(((struct mrtr_state *)0)->pending)];

        if (open_input_state(pc, srv, msg, pending, sizeof(pending)) != 0)
            return "input_state_refused";
        if (pending[0] != '\0')
            return resume_pending(pc, srv, pending, msg);
    }
    if (param_headers(pc, srv, msg, &headers) != 0)
        return "param_header_refused";
    memset(&us, 0, sizeof(us));
    if (kept != NULL) {
        gw_strlcpy(us.id, kept->session_id, sizeof(us.id));
        gw_strlcpy(us.protocol_version, kept->protocol_version, sizeof(us.protocol_version));
    }
    fill_target(&t, srv);
    memset(&r, 0, sizeof(r));
    r.pc = pc;
    r.srv = srv;
    r.ups = &us;
    r.ttl_ms = call_timeout_ms(pc->app, srv) + RELAY_MARGIN_MS;
    {
        struct json_object *meta = js_get(js_get(msg, "params", json_type_object), "_meta", json_type_object);

        if (meta != NULL)
            json_object_object_get_ex(meta, "progressToken", &r.progress_token);
    }
    memset(&f, 0, sizeof(f));
    f.t = &t;
    f.session = &us;
    if (kept == NULL)
        f.client_caps = pc->session->identity ? json_object_get(pc->client_caps)
                                              : ms_client_caps(pc->app, pc->session->id);
    f.relay = on_upstream_message;
    f.tick = on_tick;
    f.early_answer = on_early_answer;
    f.relay_arg = &r;
    f.headers = headers;
    if (upstream_slot_take(pc, srv, &slot) != 0) {
        json_object_put(f.client_caps);
        json_object_put(f.headers);
        return pc->error_code == MPX_BUSY ? "busy" : "pools_unavailable";
    }
    st = up_forward(pc->app, &f, msg, &answer, why, sizeof(why));
    if (st == UP_OK && is_input_required(answer) && !r.handoff)
        answer = modern_client(pc) ? seal_input_required(pc, srv, answer)
                 : pc->session != NULL ? complete_input(&r, &f, &slot, msg, answer, &st, why, sizeof(why)) : answer;
    json_object_put(f.client_caps);
    json_object_put(f.headers);
    if (f.session_changed) {
        bool lost;

        if (ms_upstream_set(pc->app, pc->session, srv->id, us.protocol_version, us.id, kept,
                            &lost) == MS_UNAVAILABLE)
            log_warn("mcp_upstream_session", "cannot keep the session of server %s (Redis)", srv->name);
        else if (lost)
            lost_session = true;
    }
    if (st != UP_OK) {
        log_warn("mcp_upstream_failed", "server %s: %s: %s", srv->name, up_status_name(st), why);
        answer = upstream_error(pc->msg->id, srv, st, call_timeout_ms(pc->app, srv));
        outcome = up_status_name(st);
        pc->error_code = json_object_get_int(js_get(js_get(answer, "error", json_type_object), "code",
                                                    json_type_int));
    } else if (json_object_object_get_ex(answer, "error", NULL)) {
        outcome = "error";
        pc->error_code = json_object_get_int(js_get(js_get(answer, "error", json_type_object), "code",
                                                    json_type_int));
    } else if (json_object_object_get_ex(answer, "result", &v) &&
               json_object_get_boolean(js_get(v, "isError", json_type_boolean))) {
        outcome = "tool_error";
    }
    if (pc->res->client_gone)
        outcome = "client_gone";
    /* Before the answer goes out: a slow client holds its responder, not the
     * upstream's slot. */
    upstream_slot_give(pc, &slot, outcome);
    if (r.handoff)
        handoff_push(&r, "a", answer);
    deliver(&r, answer);
    json_object_put(answer);
    /* A concurrent request of this session kept its own upstream session
     * first: this one served its call and ends now rather than linger. */
    if (lost_session) {
        struct up_target et;

        fill_send_target(&et, srv);
        up_end(pc->app, &et, &us);
    }
    return outcome;
}

/* A copy of the request with params.key replaced by value. */
static struct json_object *renamed(const struct jr_msg *m, const char *key, const char *value)
{
    struct json_object *copy = NULL, *params;

    if (json_object_deep_copy(m->root, &copy, NULL) != 0)
        return NULL;
    if (json_object_object_get_ex(copy, "params", &params) && value != NULL)
        json_object_object_add(params, key, json_object_new_string(value));
    return copy;
}

/* Does the list (tools or prompts) hold an entry called name? */
static bool listed(struct json_object *list, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        const char *n = js_str(json_object_array_get_idx(list, i), "name");

        if (n != NULL && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* RFC 6570 templates as servers use them: the literal text before the first
 * expression and after the last must frame the URI. */
static bool template_matches(const char *tpl, const char *uri)
{
    const char *open = strchr(tpl, '{'), *close = strrchr(tpl, '}');
    size_t pre, post, ulen = strlen(uri);

    if (open == NULL || close == NULL || close < open)
        return strcmp(tpl, uri) == 0;
    pre = (size_t)(open - tpl);
    post = strlen(close + 1);
    return ulen > pre + post && strncmp(tpl, uri, pre) == 0 && strcmp(uri + ulen - post, close + 1) == 0;
}

static const struct cat_server *server_of_uri(const struct cat_snapshot *c, const struct gw_identity *who,
                                              const char *uri)
{
    /* Exact resources first: a template must not steal a listed URI. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < c->n; i++) {
            const struct cat_server *s = &c->servers[i];
            struct json_object *list = pass == 0 ? s->resources : s->resource_templates;

            if (!cat_visible(s, who))
                continue;
            for (size_t k = 0; k < json_object_array_length(list); k++) {
                struct json_object *e = json_object_array_get_idx(list, k);
                const char *u = js_str(e, pass == 0 ? "uri" : "uriTemplate");

                if (u != NULL && (pass == 0 ? strcmp(u, uri) == 0 : template_matches(u, uri)))
                    return s;
            }
        }
    return NULL;
}

static void answer_error(struct mpx_call *pc, int code, const char *message, struct json_object *data)
{
    struct json_object *e = jr_error(pc->msg->id, code, message, data);

    pc->error_code = code;
    http_send_json(pc->res, 200, e);
    json_object_put(e);
}

static const struct cat_snapshot *catalog(struct mpx_call *pc)
{
    const struct cat_snapshot *snap = NULL;
    char why[256];

    if (pc->snap != NULL)
        return pc->snap;
    if (cat_current(pc->app, &snap, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s", why);
        answer_error(pc, MPX_CATALOG_UNAVAILABLE, "The server catalog is unavailable: try again later", NULL);
        return NULL;
    }
    return snap;
}

/* The one record of every upstream tool call: what was called, with what,
 * how it ended and how long it took; spooled with the give of slot (NULL:
 * none held), or by the caller of forward when no slot was taken. */
static void tool_call_record(struct mpx_call *pc, struct mpx_tool_record *tr, const char *outcome,
                             struct pools_slot *slot)
{
    int64_t ms = gw_monotonic_ms() - tr->start_ms;
    struct audit_tool_call rec = {
        .user_id = pc->who->user_id,
        .tenant_id = pc->who->tenant_id,
        .session_id = pc->session != NULL && !pc->session->identity ? pc->session->id : NULL,
        .server_name = tr->server,
        .server_id = tr->srv != NULL ? tr->srv->id : "",
        .tool = tr->tool,
        .outcome = AUDIT_CALL_OK,
        .duration_ms = ms,
        .request_id = pc->request_id,
        .jsonrpc_id = pc->msg->id,
        .arguments = tr->arguments,
    };

    if (strcmp(outcome, "tool_error") == 0) {
        rec.outcome = AUDIT_CALL_TOOL_ERROR;
    } else if (strcmp(outcome, "timed_out") == 0) {
        rec.outcome = AUDIT_CALL_TIMEOUT;
    } else if (strcmp(outcome, "client_gone") == 0) {
        rec.outcome = AUDIT_CALL_CANCELLED;
    } else if (strcmp(outcome, "ok") != 0) {
        rec.outcome = AUDIT_CALL_ERROR;
        rec.error_code = pc->error_code != 0 ? pc->error_code : JR_INTERNAL_ERROR;
    }
    metrics_count_labeled("mcp_tool_calls_total", "outcome", outcome);
    log_info("mcp_tool_call", "%s__%s by %s: %s in %lld ms", tr->server, tr->tool, pc->who->user_id, outcome,
             (long long)ms);
    tr->written = true;
    audit_spool_tool_call_give(pc->app, &rec, slot);
}

/* forward, with the tool call's record spooled once whichever way it ends. */
static const char *forward_tool(struct mpx_call *pc, struct mpx_tool_record *tr, struct json_object *msg)
{
    const char *outcome;

    pc->tool_record = tr;
    outcome = forward(pc, tr->srv, msg);
    pc->tool_record = NULL;
    return outcome;
}

/* The record of a tool call that never reached forward_tool, or that ended there without a slot. */
static void tool_call_unforwarded(struct mpx_call *pc, struct mpx_tool_record *tr, const char *outcome)
{
    if (!tr->written)
        tool_call_record(pc, tr, outcome, NULL);
}

static int route_tool(struct mpx_call *pc)
{
    const char *name = js_str(pc->msg->params, "name"), *tool;
    const struct cat_snapshot *snap;
    const struct cat_server *srv = NULL;
    struct json_object *up;
    char sname[64];
    struct mpx_tool_record tr = { .start_ms = gw_monotonic_ms() };
    const char *outcome;

    if (name == NULL || cat_split_name(name, sname, sizeof(sname), &tool) != 0 ||
        strcmp(sname, "gateway") == 0)
        return 0;
    tr.server = sname;
    tr.tool = tool;
    tr.arguments = js_get(pc->msg->params, "arguments", json_type_object);
    if ((snap = catalog(pc)) == NULL) {
        outcome = "catalog_unavailable";
    } else {
        /* Unknown, invisible or unlisted: the gateway's own "Unknown tool". */
        srv = cat_find(snap, pc->who, sname);
        if (srv == NULL || !listed(srv->tools, tool))
            return 0;
        up = renamed(pc->msg, "name", tool);
        if (up != NULL) {
            tr.srv = srv;
            outcome = forward_tool(pc, &tr, up);
            json_object_put(up);
        } else {
            answer_error(pc, JR_INTERNAL_ERROR, "out of memory", NULL);
            outcome = "internal_error";
        }
    }
    tool_call_unforwarded(pc, &tr, outcome);
    return 1;
}

static int route_prompt(struct mpx_call *pc)
{
    const char *name = js_str(pc->msg->params, "name"), *prompt;
    const struct cat_snapshot *snap;
    const struct cat_server *srv;
    struct json_object *up;
    char sname[64];

    if (name == NULL) {
        answer_error(pc, JR_INVALID_PARAMS, "prompts/get needs params.name", NULL);
        return 1;
    }
    if ((snap = catalog(pc)) == NULL)
        return 1;
    if (cat_split_name(name, sname, sizeof(sname), &prompt) != 0 ||
        (srv = cat_find(snap, pc->who, sname)) == NULL || !listed(srv->prompts, prompt)) {
        answer_error(pc, JR_INVALID_PARAMS, "Unknown prompt", json_object_new_string(name));
        return 1;
    }
    up = renamed(pc->msg, "name", prompt);
    if (up != NULL)
        forward(pc, srv, up);
    else
        answer_error(pc, JR_INTERNAL_ERROR, "out of memory", NULL);
    json_object_put(up);
    return 1;
}

static int route_resource(struct mpx_call *pc)
{
    const char *uri = js_str(pc->msg->params, "uri");
    const struct cat_snapshot *snap;
    const struct cat_server *srv;

    if (uri == NULL) {
        answer_error(pc, JR_INVALID_PARAMS, "this method needs params.uri", NULL);
        return 1;
    }
    if ((snap = catalog(pc)) == NULL)
        return 1;
    srv = server_of_uri(snap, pc->who, uri);
    if (srv == NULL) {
        /* MCP's code for an unknown resource, as the gateway's own answer. */
        answer_error(pc, -32002, "Resource not found", json_object_new_string(uri));
        return 1;
    }
    forward(pc, srv, pc->msg->root);
    return 1;
}

void mpx_call_init(struct mpx_call *pc, struct gw_app *app, struct http_response *res,
                   const struct gw_identity *who, const struct ms_session *session, const struct jr_msg *msg,
                   const char *request_id)
{
    memset(pc, 0, sizeof(*pc));
    pc->app = app;
    pc->res = res;
    pc->who = who;
    pc->session = session;
    pc->msg = msg;
    pc->request_id = request_id;
}

int mpx_route(struct mpx_call *pc)
{
    const char *m = pc->msg->method;

    if (strcmp(m, "tools/call") == 0)
        return route_tool(pc);
    if (strcmp(m, "prompts/get") == 0)
        return route_prompt(pc);
    if (strcmp(m, "resources/read") == 0 || strcmp(m, "resources/subscribe") == 0 ||
        strcmp(m, "resources/unsubscribe") == 0)
        return route_resource(pc);
    return 0;
}

void mpx_forward(struct mpx_call *pc, const struct cat_server *srv)
{
    struct mpx_tool_record tr = {
        .srv = srv, .server = srv->name, .tool = js_str(pc->msg->params, "name"),
        .arguments = js_get(pc->msg->params, "arguments", json_type_object), .start_ms = gw_monotonic_ms(),
    };

    if (strcmp(pc->msg->method, "tools/call") != 0) {
        forward(pc, srv, pc->msg->root);
        return;
    }
    if (tr.tool == NULL)
        tr.tool = "";
    tool_call_unforwarded(pc, &tr, forward_tool(pc, &tr, pc->msg->root));
}

/* ---- messages from the client that need no answer -------------------------------- */

static const struct cat_server *server_by_id(const struct cat_snapshot *c, const struct gw_identity *who,
                                             const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->servers[i].id, id) == 0)
            return cat_visible(&c->servers[i], who) ? &c->servers[i] : NULL;
    return NULL;
}

/* The client's answer to an input request of an input-required result: to
 * the list the responder holding the call waits on. */
static void answer_to_waiter(struct mpx_call *pc, struct json_object *rec)
{
    struct json_object *a = json_object_new_object(), *v;

    json_object_object_add(a, "k", json_object_new_string(js_str(rec, "k") ? js_str(rec, "k") : ""));
    if ((v = js_get(pc->msg->root, "result", json_type_object)) != NULL)
        json_object_object_add(a, "result", json_object_get(v));
    else
        json_object_object_add(a, "error", json_object_get(js_get(pc->msg->root, "error", json_type_object)));
    if (!list_push(pc->app, js_str(rec, "w"), a, call_timeout_ms(pc->app, NULL) + RELAY_MARGIN_MS))
        log_warn("mcp_relay", "an answer to an input request was not passed on (Redis)");
    json_object_put(a);
}

/* The client's answer to a relayed upstream request: back to the upstream
 * session that asked, under the upstream's own id. */
static void relay_answer(struct mpx_call *pc, const char *rid)
{
    const struct cat_snapshot *snap = NULL;
    const struct cat_server *srv;
    struct json_object *rec = NULL, *copy = NULL, *oid;
    struct up_session us;
    struct up_target t;
    char key[KEY_MAX], why[512];
    redisReply *rep;
    enum up_status st;

    if (rds_key(pc->app, key, sizeof(key), "relay:{%s}:%s", pc->session->id, rid) != 0)
        return;
    /* GETDEL: an answer is delivered once, whoever sends it twice. */
    rep = rds_cmd(pc->app, "GETDEL %s", key);
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        rec = json_tokener_parse(rep->str);
    if (rep != NULL)
        freeReplyObject(rep);
    if (rec != NULL && !relay_ok(pc->app, pc->session->id, rid, rec,
                                 js_str(rec, "w") != NULL ? waiter_fields : relay_fields)) {
        log_warn("mcp_relay", "the record of %s" "%.32s was altered in Redis (its MAC does not match); "
                 "the answer is dropped", RELAY_PREFIX, rid);
        goto out;
    }
    if (rec != NULL && js_str(rec, "w") != NULL) {
        answer_to_waiter(pc, rec);
        goto out;
    }
    if (rec == NULL || !json_object_is_type(rec, json_type_object) ||
        !json_object_object_get_ex(rec, "id", &oid)) {
        log_info("mcp_relay", "an answer to %s" "%.32s, which no upstream is waiting for (expired or "
                 "answered)", RELAY_PREFIX, rid);
        goto out;
    }
    if (cat_current(pc->app, &snap, why, sizeof(why)) != CAT_OK ||
        (srv = server_by_id(snap, pc->who, js_str(rec, "s") ? js_str(rec, "s") : "")) == NULL) {
        log_warn("mcp_relay", "the server that asked %.40s is gone or unavailable", rid);
        goto out;
    }
    memset(&us, 0, sizeof(us));
    gw_strlcpy(us.id, js_str(rec, "u") ? js_str(rec, "u") : "", sizeof(us.id));
    gw_strlcpy(us.protocol_version, js_str(rec, "v") ? js_str(rec, "v") : "", sizeof(us.protocol_version));
    if (json_object_deep_copy(pc->msg->root, &copy, NULL) != 0)
        goto out;
    json_object_object_add(copy, "id", json_object_get(oid));
    fill_send_target(&t, srv);
    st = up_send(pc->app, &t, &us, copy, why, sizeof(why));
    if (st != UP_OK)
        log_warn("mcp_relay", "the answer to server %s was not delivered: %s: %s", srv->name,
                 up_status_name(st), why);
out:
    json_object_put(copy);
    json_object_put(rec);
}

/* Do fn for each upstream session of the gateway session (only: that
 * server's alone), one after the other within FANOUT_MS in all: a session
 * that used many servers, some of them slow, must not hold the responder for
 * each in turn. Each exchange gets at most what is left of the time. */
typedef void (*each_fn)(struct mpx_call *pc, const struct cat_server *srv, const struct up_target *t,
                        struct up_session *us);

static void each_upstream(struct mpx_call *pc, const struct cat_snapshot *snap, const char *only,
                          const char *what, each_fn fn)
{
    int64_t deadline = gw_monotonic_ms() + FANOUT_MS;

    for (int i = 0; i < pc->session->nup; i++) {
        const struct ms_upstream *u = &pc->session->up[i];
        const struct cat_server *srv = server_by_id(snap, pc->who, u->server_id);
        struct up_session us;
        struct up_target t;
        int64_t left = deadline - gw_monotonic_ms();

        if (srv == NULL || (only != NULL && strcmp(only, srv->id) != 0))
            continue;
        if (left <= 0) {
            log_warn("mcp_upstream_fanout", "%s: %d upstream sessions skipped: the others took %d ms",
                     what, pc->session->nup - i, FANOUT_MS);
            break;
        }
        memset(&us, 0, sizeof(us));
        gw_strlcpy(us.id, u->session_id, sizeof(us.id));
        gw_strlcpy(us.protocol_version, u->protocol_version, sizeof(us.protocol_version));
        fill_send_target(&t, srv);
        if (t.timeout_ms <= 0 || t.timeout_ms > left)
            t.timeout_ms = (int)left;
        fn(pc, srv, &t, &us);
    }
}

/* notifications/cancelled carries the client's request id, which is the id
 * upstream too; an upstream that never had it ignores it. */
static void pass_notification(struct mpx_call *pc, const struct cat_server *srv, const struct up_target *t,
                              struct up_session *us)
{
    char why[512];
    enum up_status st = up_send(pc->app, t, us, pc->msg->root, why, sizeof(why));

    if (st != UP_OK)
        log_info("mcp_notification", "%s to server %s: %s: %s", pc->msg->method, srv->name,
                 up_status_name(st), why);
}

/* An upstream session not ended here expires upstream. */
static void end_session(struct mpx_call *pc, const struct cat_server *srv, const struct up_target *t,
                        struct up_session *us)
{
    (void)srv;
    up_end(pc->app, t, us);
}

void mpx_client_message(struct mpx_call *pc, const char *only)
{
    const struct cat_snapshot *snap = NULL;
    char why[512];

    if (pc->msg->kind == JR_RESPONSE) {
        const char *id = json_object_is_type(pc->msg->id, json_type_string)
                             ? json_object_get_string(pc->msg->id) : "";

        if (strncmp(id, RELAY_PREFIX, strlen(RELAY_PREFIX)) == 0 && ms_id_valid(id + strlen(RELAY_PREFIX)))
            relay_answer(pc, id + strlen(RELAY_PREFIX));
        return;
    }
    /* Our own handshake with each upstream already sent its initialized. */
    if (strcmp(pc->msg->method, "notifications/initialized") == 0 || pc->session->nup == 0)
        return;
    if (cat_current(pc->app, &snap, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s: %s not forwarded", why, pc->msg->method);
        return;
    }
    each_upstream(pc, snap, only, pc->msg->method, pass_notification);
}

void mpx_end_upstreams(struct mpx_call *pc)
{
    const struct cat_snapshot *snap = NULL;
    char why[256];

    if (pc->session->nup == 0 || cat_current(pc->app, &snap, why, sizeof(why)) != CAT_OK)
        return;
    each_upstream(pc, snap, NULL, "session end", end_session);
}

/* ---- the virtual server ---------------------------------------------------------------- */

struct json_object *mpx_initialize_result(const struct cat_server *srv, const char *version)
{
    /* What the gateway can carry of the upstream's capabilities: requests it
     * forwards and their notifications; nothing it does not relay. */
    static const char *const carried[] = { "tools", "prompts", "resources", "completions", "logging" };
    struct json_object *r = json_object_new_object(), *caps = json_object_new_object(), *v;

    for (size_t i = 0; i < GW_ARRAY_LEN(carried); i++)
        if (json_object_object_get_ex(srv->capabilities, carried[i], &v))
            json_object_object_add(caps, carried[i], json_object_get(v));
    json_object_object_add(r, "protocolVersion", json_object_new_string(version));
    json_object_object_add(r, "capabilities", caps);
    json_object_object_add(r, "serverInfo", json_object_get(srv->server_info));
    return r;
}
