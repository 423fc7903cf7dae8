/* Per-session message streams in Redis (XADD by any producer, XREAD BLOCK by
 * the GET stream). Stream ids are the SSE event ids, so Last-Event-ID resumes
 * on any responder; the newest GET stream owns the session's messages, and
 * every stream ends after a bounded time so that it never pins a responder. */
#include "mcp/stream.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "app.h"
#include "js.h"
#include "log.h"
#include "store_redis.h"
#include "util.h"

#define KEY_MAX 256
#define READ_BATCH "100"

/* The blocking reader: XREAD BLOCK holds its connection, so it gets its own,
 * kept for the responder's life like any cache that is safe to lose. */
static redisContext *blocking;

static int stream_key(const struct gw_app *app, const char *sid, char *key)
{
    return rds_key(app, key, KEY_MAX, "stream:{%s}", sid);
}

int mst_event_id_valid(const char *id)
{
    size_t i = 0, dash = 0;

    if (id == NULL || id[0] == '\0' || strlen(id) > 41)
        return 0;
    for (; id[i] != '\0'; i++) {
        if (id[i] == '-' && dash == 0 && i > 0)
            dash = i;
        else if (!isdigit((unsigned char)id[i]))
            return 0;
    }
    return dash > 0 && dash + 1 < i;
}

int mst_publish(struct gw_app *app, const char *session_id, struct json_object *msg)
{
    char key[KEY_MAX], maxlen[16];
    const char *text = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    redisReply *r;
    int rc;

    if (!ms_id_valid(session_id) || stream_key(app, session_id, key) != 0)
        return -1;
    snprintf(maxlen, sizeof(maxlen), "%d", app->cfg.stream_max_len);
    r = rds_cmd_expire(app, key, (int64_t)app->cfg.session_ttl * 1000, "XADD %s MAXLEN ~ %s * m %s", key,
                       maxlen, text);
    rc = r != NULL && r->type == REDIS_REPLY_STRING ? 0 : -1;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

static redisContext *blocking_conn(struct gw_app *app)
{
    char err[512];

    if (blocking != NULL)
        return blocking;
    blocking = rds_connect_cfg(&app->cfg, app->cfg.redis_timeout_ms, err, sizeof(err));
    if (blocking == NULL)
        log_warn("redis_unavailable", "stream reader: %s", err);
    return blocking;
}

static void blocking_drop(void)
{
    if (blocking != NULL) {
        redisFree(blocking);
        blocking = NULL;
    }
}

static int sse_write(struct http_response *res, const char *text)
{
    if (http_write(res, text, strlen(text)) != 0 || http_flush(res) != 0) {
        res->client_gone = true;
        return -1;
    }
    return 0;
}

/* Still ours: the session exists and no newer GET stream took it over. */
static struct rds_script still_owner = { .src =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "redis.call('HSET', KEYS[1], 'delivered', ARGV[3])\n"
    "return 1\n" };

static struct rds_script release_owner = { .src =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n" };

static int check_owner(struct gw_app *app, const char *skey, const char *okey, const char *token,
                       const char *cursor, long hold_ms)
{
    char hold[24];
    const char *argv[] = { skey, okey, token, hold, cursor };
    redisReply *r;
    int ok;

    snprintf(hold, sizeof(hold), "%ld", hold_ms);
    r = rds_eval(app, &still_owner, 2, 5, argv, NULL);
    ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/* Write each entry of an XREAD reply as an SSE event; advances cursor. */
static int write_entries(struct http_response *res, const redisReply *rep, char *cursor, size_t n)
{
    const redisReply *entries;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0 || rep->element[0]->type != REDIS_REPLY_ARRAY ||
        rep->element[0]->elements < 2)
        return 0;
    entries = rep->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i], *fields;
        const char *id, *msg = NULL;
        char head[96];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
            continue;
        id = e->element[0]->str;
        fields = e->element[1];
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
            if (fields->element[f]->str != NULL && strcmp(fields->element[f]->str, "m") == 0)
                msg = fields->element[f + 1]->str;
        if (id == NULL)
            continue;
        gw_strlcpy(cursor, id, n);
        /* A message is one JSON text on one line (json-c's plain output). */
        if (msg == NULL || strchr(msg, '\n') != NULL || strchr(msg, '\r') != NULL)
            continue;
        snprintf(head, sizeof(head), "id: %s\ndata: ", id);
        if (http_write(res, head, strlen(head)) != 0 || http_write(res, msg, strlen(msg)) != 0 ||
            sse_write(res, "\n\n") != 0)
            return -1;
    }
    return 0;
}

int mst_serve(struct gw_app *app, struct http_response *res, const struct ms_session *s,
              const char *last_event_id)
{
    char key[KEY_MAX], skey[KEY_MAX], okey[KEY_MAX], token[33], cursor[48], prime[96];
    int64_t start = gw_monotonic_ms(), deadline = start + (int64_t)app->cfg.stream_seconds * 1000;
    long hold_ms = (long)app->cfg.stream_seconds * 1000 + 10000;
    redisReply *r;
    int events = 0;

    if (stream_key(app, s->id, key) != 0 || rds_key(app, skey, sizeof(skey), "session:{%s}", s->id) != 0 ||
        rds_key(app, okey, sizeof(okey), "stream-owner:{%s}", s->id) != 0 || gw_random_id(token) != 0)
        return -1;
    /* Where to start: the client's Last-Event-ID, else after what an earlier
     * stream delivered, else the beginning of what is kept. */
    if (last_event_id != NULL && mst_event_id_valid(last_event_id)) {
        gw_strlcpy(cursor, last_event_id, sizeof(cursor));
    } else {
        r = rds_cmd(app, "HGET %s delivered", skey);
        gw_strlcpy(cursor, r != NULL && r->type == REDIS_REPLY_STRING && mst_event_id_valid(r->str) ? r->str : "0-0",
                   sizeof(cursor));
        if (r != NULL)
            freeReplyObject(r);
    }
    /* The newest stream takes the session's messages over. */
    r = rds_cmd(app, "SET %s %s PX %ld", okey, token, hold_ms);
    if (r == NULL)
        return -1; /* nothing sent: the caller answers */
    freeReplyObject(r);
    http_add_header(res, "X-Accel-Buffering", "no");
    if (http_send_head(res, 200, "text/event-stream") != 0)
        return 0;
    /* Prime the client with an event id to resume from. */
    snprintf(prime, sizeof(prime), "id: %s\ndata: \n\n", cursor);
    if (sse_write(res, prime) != 0)
        goto out;
    for (;;) {
        int64_t now = gw_monotonic_ms(), left = deadline - now;
        long block = left < (int64_t)app->cfg.keepalive_seconds * 1000 ? (long)left
                                                                        : (long)app->cfg.keepalive_seconds * 1000;
        redisContext *b;
        struct timeval tv;
        char blk[24];

        if (left <= 0)
            break;
        b = blocking_conn(app);
        if (b == NULL)
            break;
        tv.tv_sec = (block + 2000) / 1000;
        tv.tv_usec = (block + 2000) % 1000 * 1000;
        redisSetTimeout(b, tv);
        snprintf(blk, sizeof(blk), "%ld", block < 1 ? 1 : block);
        r = redisCommand(b, "XREAD COUNT " READ_BATCH " BLOCK %s STREAMS %s %s", blk, key, cursor);
        if (r == NULL) {
            log_warn("redis_error", "stream reader: %s; the stream ends", b->errstr);
            blocking_drop();
            break;
        }
        if (r->type == REDIS_REPLY_NIL) {
            freeReplyObject(r);
            if (sse_write(res, ": keep-alive\n\n") != 0)
                break;
        } else {
            int wrc = write_entries(res, r, cursor, sizeof(cursor));

            freeReplyObject(r);
            events++;
            if (wrc != 0)
                break;
        }
        if (!check_owner(app, skey, okey, token, cursor, hold_ms))
            break;
    }
    if (!res->client_gone)
        sse_write(res, "retry: 2000\n\n");
out:
    {
        const char *argv[] = { okey, token };

        r = rds_eval(app, &release_owner, 1, 2, argv, NULL);
        if (r != NULL)
            freeReplyObject(r);
    }
    log_info("mcp_stream_end", "stream of session %.8s... ended after %lld ms, %d batches%s", s->id,
             (long long)(gw_monotonic_ms() - start), events, res->client_gone ? ", client gone" : "");
    return 0;
}

struct json_object *mst_pop(struct gw_app *app, const char *key, long block_ms, bool *failed)
{
    struct json_object *o = NULL;
    redisContext *b = blocking_conn(app);
    struct timeval tv;
    redisReply *r;
    char blk[32];

    *failed = b == NULL;
    if (b == NULL)
        return NULL;
    /* BLPOP counts seconds (fractions allowed); the socket outwaits it. */
    tv.tv_sec = (block_ms + 2000) / 1000;
    tv.tv_usec = (block_ms + 2000) % 1000 * 1000;
    redisSetTimeout(b, tv);
    snprintf(blk, sizeof(blk), "%.3f", (block_ms < 1 ? 1 : block_ms) / 1000.0);
    r = redisCommand(b, "BLPOP %s %s", key, blk);
    if (r == NULL) {
        log_warn("redis_error", "waiting on %s: %s", key, b->errstr);
        blocking_drop();
        *failed = true;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING) {
        enum js_parse_error e;

        o = js_parse(r->element[1]->str, r->element[1]->len, app->cfg.json_depth, &e);
    } else if (r->type != REDIS_REPLY_NIL) {
        *failed = true;
    }
    freeReplyObject(r);
    return o;
}
