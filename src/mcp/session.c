/* MCP sessions in Redis. Creation, the per-request check-and-slide, and
 * deletion each run as one Lua script, so that a session is never half
 * written and a foreign identity cannot even extend another's session. */
#include "mcp/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "mcp/catalog.h"
#include "store_redis.h"
#include "util.h"

#define KEY_MAX 256

int ms_id_valid(const char *id)
{
    size_t n = 0;

    if (id == NULL)
        return 0;
    for (; id[n] != '\0'; n++)
        if (n >= 32 || !((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return 0;
    return n == 32;
}

int64_t ms_ttl_ms(const struct gw_app *app, const struct gw_identity *who)
{
    int64_t ttl = (int64_t)app->cfg.session_ttl * 1000;
    int64_t left = who->exp * 1000 - gw_now_ms();

    return left < ttl ? left : ttl;
}

static int session_keys(const struct gw_app *app, const char *id, char *skey, char *akey)
{
    /* The braces make the id a hash tag: both keys of a session land on the
     * same node of a Redis Cluster. */
    return rds_key(app, skey, KEY_MAX, "session:{%s}", id) | rds_key(app, akey, KEY_MAX, "auth:{%s}", id);
}

static int index_keys(const struct gw_app *app, const char *tenant, char *all, char *per_tenant)
{
    return rds_key(app, all, KEY_MAX, "sessions") |
           rds_key(app, per_tenant, KEY_MAX, "sessions:tenant:%s", tenant);
}

/* KEYS: session, auth, index, tenant index. ARGV: ttl ms, expiry (ms since the
 * epoch), id, number of session field/value pairs, the pairs, auth pairs. */
static struct rds_script create_script = { .src =
    "local ns = tonumber(ARGV[4])\n"
    "local s, a = {}, {}\n"
    "for i = 5, 4 + 2 * ns do s[#s + 1] = ARGV[i] end\n"
    "for i = 5 + 2 * ns, #ARGV do a[#a + 1] = ARGV[i] end\n"
    "if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], unpack(s))\n"
    "redis.call('HSET', KEYS[2], unpack(a))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])\n"
    "redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])\n"
    "return 1\n" };

/* KEYS: session, auth, index, tenant index, catalog version. ARGV: user,
 * tenant, issuer, ttl ms, expiry, id, token hash, now. 0 unknown or foreign;
 * else the session's fields and the catalog version (nil when absent), read
 * here so that the request needs no round trip of its own for it. Eight
 * commands when the token is the one already recorded (the hash read once,
 * its existence told by that read, the token hash written only on change). */
static struct rds_script touch_script = { .src =
    "local a = redis.call('HMGET', KEYS[2], 'user', 'tenant', 'iss', 'token')\n"
    "if not a[1] or a[1] ~= ARGV[1] or a[2] ~= ARGV[2] or a[3] ~= ARGV[3] then return 0 end\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "if #h == 0 then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "if a[4] ~= ARGV[7] then redis.call('HSET', KEYS[2], 'token', ARGV[7]) end\n"
    "redis.call('HSET', KEYS[1], 'last', ARGV[8], 'expires', ARGV[5])\n"
    "redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])\n"
    "redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])\n"
    /* The fields as just written, without reading the hash again. */
    "local last = false\n"
    "for i = 1, #h, 2 do\n"
    "  if h[i] == 'last' then h[i + 1] = ARGV[8]; last = true\n"
    "  elseif h[i] == 'expires' then h[i + 1] = ARGV[5] end\n"
    "end\n"
    "if not last then h[#h + 1] = 'last'; h[#h + 1] = ARGV[8] end\n"
    "return { h, redis.call('GET', KEYS[5]) }\n" };

/* KEYS: session, auth, index, message stream, stream owner. ARGV: id,
 * tenant index prefix. */
static struct rds_script delete_script = { .src =
    "local t = redis.call('HGET', KEYS[2], 'tenant')\n"
    "local n = redis.call('DEL', KEYS[1], KEYS[2])\n"
    "redis.call('DEL', KEYS[4], KEYS[5])\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "if t then redis.call('ZREM', ARGV[2] .. t, ARGV[1]) end\n"
    "return n\n" };

static void fill_from_hash(struct ms_session *out, const redisReply *rep)
{
    size_t ups = 0;

    /* Every upstream session the hash keeps, however many servers the
     * session has used: one left out would be opened anew on each call and
     * never ended. */
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (rep->element[i]->str != NULL && strncmp(rep->element[i]->str, "up:", 3) == 0)
            ups++;
    if (ups > MS_MAX_UPSTREAMS)
        ups = MS_MAX_UPSTREAMS;
    if (ups > 0 && (out->up = calloc(ups, sizeof(*out->up))) == NULL)
        ups = 0;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const char *k = rep->element[i]->str, *v = rep->element[i + 1]->str;

        if (k == NULL || v == NULL)
            continue;
        if (strcmp(k, "v") == 0)
            gw_strlcpy(out->protocol_version, v, sizeof(out->protocol_version));
        else if (strcmp(k, "endpoint") == 0)
            gw_strlcpy(out->endpoint, v, sizeof(out->endpoint));
        else if (strcmp(k, "created") == 0)
            out->created_ms = strtoll(v, NULL, 10);
        else if (strcmp(k, "last") == 0)
            out->last_ms = strtoll(v, NULL, 10);
        else if (strcmp(k, "expires") == 0)
            out->expires_ms = strtoll(v, NULL, 10);
        else if (strncmp(k, "up:", 3) == 0 && (size_t)out->nup < ups) {
            struct ms_upstream *u = &out->up[out->nup];
            const char *sp = strchr(v, ' ');

            if (sp == NULL || (size_t)(sp - v) >= sizeof(u->protocol_version) ||
                gw_strlcpy(u->server_id, k + 3, sizeof(u->server_id)) != 0 ||
                gw_strlcpy(u->session_id, sp + 1, sizeof(u->session_id)) != 0)
                continue;
            memcpy(u->protocol_version, v, (size_t)(sp - v));
            u->protocol_version[sp - v] = '\0';
            out->nup++;
        }
    }
}

void ms_session_clear(struct ms_session *s)
{
    free(s->up);
    s->up = NULL;
    s->nup = 0;
}

const struct ms_upstream *ms_upstream_find(const struct ms_session *s, const char *server_id)
{
    for (int i = 0; i < s->nup; i++)
        if (strcmp(s->up[i].server_id, server_id) == 0)
            return &s->up[i];
    return NULL;
}

/* KEYS: session. ARGV: field, value, the value expected now ("" none).
 * Never recreates an ended session. 0 gone, 1 set, 2 another was kept. */
static struct rds_script upstream_set_script = { .src =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[3] then return 2 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "return 1\n" };

/* The same for a caller's stateless upstream sessions, whose hash is made
 * by its first upstream session. ARGV[4]: its lifetime, ms. */
static struct rds_script identity_set_script = { .src =
    "if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[3] then return 2 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "return 1\n" };

static int identity_key(const struct gw_app *app, const char *id, char *key)
{
    return rds_key(app, key, KEY_MAX, "upstreams:{%s}", id);
}

enum ms_status ms_upstream_set(struct gw_app *app, const struct ms_session *s, const char *server_id,
                               const char *protocol_version, const char *upstream_session,
                               const struct ms_upstream *expected, bool *lost)
{
    char skey[KEY_MAX], akey[KEY_MAX], field[64], value[320], was[320] = "", ttl[24];
    redisReply *rep;
    enum ms_status st;

    *lost = false;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)app->cfg.session_ttl * 1000);
    if (!ms_id_valid(s->id) ||
        (s->identity ? identity_key(app, s->id, skey) : session_keys(app, s->id, skey, akey)) != 0 ||
        gw_snprintf(field, sizeof(field), "up:%s", server_id) != 0 ||
        gw_snprintf(value, sizeof(value), "%s %s", protocol_version, upstream_session) != 0 ||
        (expected != NULL && gw_snprintf(was, sizeof(was), "%s %s", expected->protocol_version,
                                         expected->session_id) != 0))
        return MS_UNAVAILABLE;
    {
        const char *argv[] = { skey, field, value, was, ttl };

        rep = rds_eval(app, s->identity ? &identity_set_script : &upstream_set_script, 1,
                       (int)GW_ARRAY_LEN(argv) - (s->identity ? 0 : 1), argv, NULL);
    }
    if (rep == NULL)
        return MS_UNAVAILABLE;
    st = rep->type != REDIS_REPLY_INTEGER ? MS_UNAVAILABLE : rep->integer == 0 ? MS_NOT_FOUND : MS_OK;
    *lost = rep->type == REDIS_REPLY_INTEGER && rep->integer == 2;
    freeReplyObject(rep);
    return st;
}

enum ms_status ms_identity_upstreams(struct gw_app *app, const struct gw_identity *who,
                                     struct ms_session *out)
{
    return ms_identity_upstreams_read(app, who, out, NULL, NULL);
}

enum ms_status ms_identity_upstreams_read(struct gw_app *app, const struct gw_identity *who,
                                          struct ms_session *out, ms_read_fn *read, void *arg)
{
    char key[KEY_MAX], hash[65];
    size_t ul = strlen(who->user_id), tl = strlen(who->tenant_id);
    char buf[sizeof(who->user_id) + sizeof(who->tenant_id) + 1];
    redisReply *rep;

    memset(out, 0, sizeof(*out));
    out->identity = true;
    /* The user id already names its issuer (and tenant, for Entra); the
     * tenant is added for issuers whose subjects are per tenant. */
    memcpy(buf, who->tenant_id, tl);
    buf[tl] = '\n';
    memcpy(buf + tl + 1, who->user_id, ul);
    gw_sha256_hex(buf, tl + 1 + ul, hash);
    memcpy(out->id, hash, 32);
    out->id[32] = '\0';
    if (identity_key(app, out->id, key) != 0)
        return MS_UNAVAILABLE;
    {
        const char *cmd[] = { "HGETALL", key };

        rep = read != NULL ? read(arg, 2, cmd) : rds_cmdargv(app, 2, cmd, NULL);
    }
    if (rep == NULL)
        return MS_UNAVAILABLE;
    if (rep->type == REDIS_REPLY_ARRAY)
        fill_from_hash(out, rep);
    freeReplyObject(rep);
    return MS_OK;
}

struct json_object *ms_client_caps(struct gw_app *app, const char *id)
{
    char skey[KEY_MAX], akey[KEY_MAX];
    struct json_object *o = NULL;
    redisReply *rep;

    if (!ms_id_valid(id) || session_keys(app, id, skey, akey) != 0)
        return NULL;
    rep = rds_cmd(app, "HGET %s caps", skey);
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        o = json_tokener_parse(rep->str);
        if (o != NULL && !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return o;
}

enum ms_status ms_create(struct gw_app *app, const struct gw_identity *who, const char *version,
                         const char *endpoint, struct json_object *client_info,
                         struct json_object *capabilities, struct ms_session *out)
{
    char skey[KEY_MAX], akey[KEY_MAX], all[KEY_MAX], per[KEY_MAX];
    char ttl[24], exp[24], now_s[24], roles[16], texp[24], api_port[8], mcp_port[8];
    int64_t now = gw_now_ms(), ttl_ms = ms_ttl_ms(app, who);
    const char *ci = client_info ? json_object_to_json_string_ext(client_info, JSON_C_TO_STRING_PLAIN) : "{}";
    const char *caps = capabilities ? json_object_to_json_string_ext(capabilities, JSON_C_TO_STRING_PLAIN) : "{}";
    redisReply *rep;
    enum ms_status st = MS_UNAVAILABLE;

    memset(out, 0, sizeof(*out));
    if (ttl_ms <= 0)
        return MS_NOT_FOUND;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (gw_random_id(out->id) != 0 || session_keys(app, out->id, skey, akey) != 0 ||
            index_keys(app, who->tenant_id, all, per) != 0)
            return MS_UNAVAILABLE;
        snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
        snprintf(exp, sizeof(exp), "%lld", (long long)(now + ttl_ms));
        snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
        snprintf(roles, sizeof(roles), "%u", who->roles);
        snprintf(texp, sizeof(texp), "%lld", (long long)who->exp);
        snprintf(api_port, sizeof(api_port), "%d", app->cfg.api_port);
        snprintf(mcp_port, sizeof(mcp_port), "%d", app->cfg.mcp_port);
        {
            const char *argv[] = {
                skey, akey, all, per, ttl, exp, out->id, "6",
                /* session */
                "v", version, "endpoint", endpoint, "client", ci, "caps", caps,
                "created", now_s, "expires", exp,
                /* auth: never the token, only its hash */
                "user", who->user_id, "tenant", who->tenant_id, "iss", who->issuer,
                "roles", roles, "troles", who->token_roles, "token", who->token_sha256,
                "token_exp", texp,
                "created", now_s, "api_port", api_port, "mcp_port", mcp_port,
            };

            rep = rds_eval(app, &create_script, 4, (int)GW_ARRAY_LEN(argv), argv, NULL);
        }
        if (rep == NULL)
            return MS_UNAVAILABLE;
        {
            int type = rep->type;
            long long val = rep->integer;

            if (type == REDIS_REPLY_ERROR)
                log_error("session_create", "Redis refused the session script: %s", rep->str);
            freeReplyObject(rep);
            if (type == REDIS_REPLY_INTEGER && val == 1) {
                st = MS_OK;
                break;
            }
            if (type != REDIS_REPLY_INTEGER)
                return MS_UNAVAILABLE;
        }
        /* A 128-bit collision: draw again. */
    }
    if (st != MS_OK)
        return MS_UNAVAILABLE;
    gw_strlcpy(out->protocol_version, version, sizeof(out->protocol_version));
    gw_strlcpy(out->endpoint, endpoint, sizeof(out->endpoint));
    out->created_ms = out->last_ms = now;
    out->expires_ms = now + ttl_ms;
    return MS_OK;
}

enum ms_status ms_touch(struct gw_app *app, const char *id, const struct gw_identity *who,
                        struct ms_session *out)
{
    char skey[KEY_MAX], akey[KEY_MAX], all[KEY_MAX], per[KEY_MAX], cver[KEY_MAX], ttl[24], exp[24],
        now_s[24];
    int64_t now = gw_now_ms(), ttl_ms = ms_ttl_ms(app, who);
    redisReply *rep;
    enum ms_status st;

    memset(out, 0, sizeof(*out));
    if (!ms_id_valid(id) || ttl_ms <= 0)
        return MS_NOT_FOUND;
    if (session_keys(app, id, skey, akey) != 0 || index_keys(app, who->tenant_id, all, per) != 0 ||
        cat_version_key(app, cver, sizeof(cver)) != 0)
        return MS_UNAVAILABLE;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
    snprintf(exp, sizeof(exp), "%lld", (long long)(now + ttl_ms));
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    {
        const char *argv[] = { skey, akey, all, per, cver, who->user_id, who->tenant_id, who->issuer,
                               ttl, exp, id, who->token_sha256, now_s };

        rep = rds_eval(app, &touch_script, 5, (int)GW_ARRAY_LEN(argv), argv, NULL);
    }
    if (rep == NULL)
        return MS_UNAVAILABLE;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[0]->type == REDIS_REPLY_ARRAY) {
        const redisReply *v = rep->element[1];

        gw_strlcpy(out->id, id, sizeof(out->id));
        fill_from_hash(out, rep->element[0]);
        cat_version_seen(app, v->type == REDIS_REPLY_STRING ? v->str : NULL);
        st = MS_OK;
    } else if (rep->type == REDIS_REPLY_INTEGER) {
        st = MS_NOT_FOUND;
    } else {
        log_error("session_touch", "Redis refused the session script: %s",
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        st = MS_UNAVAILABLE;
    }
    freeReplyObject(rep);
    return st;
}

enum ms_status ms_delete(struct gw_app *app, const char *id)
{
    char skey[KEY_MAX], akey[KEY_MAX], all[KEY_MAX], tprefix[KEY_MAX], stream[KEY_MAX], owner[KEY_MAX];
    redisReply *rep;
    enum ms_status st;

    if (!ms_id_valid(id))
        return MS_NOT_FOUND;
    if (session_keys(app, id, skey, akey) != 0 || rds_key(app, all, sizeof(all), "sessions") != 0 ||
        rds_key(app, tprefix, sizeof(tprefix), "sessions:tenant:") != 0 ||
        rds_key(app, stream, sizeof(stream), "stream:{%s}", id) != 0 ||
        rds_key(app, owner, sizeof(owner), "stream-owner:{%s}", id) != 0)
        return MS_UNAVAILABLE;
    {
        const char *argv[] = { skey, akey, all, stream, owner, id, tprefix };

        rep = rds_eval(app, &delete_script, 5, (int)GW_ARRAY_LEN(argv), argv, NULL);
    }
    if (rep == NULL)
        return MS_UNAVAILABLE;
    st = rep->type == REDIS_REPLY_INTEGER ? (rep->integer > 0 ? MS_OK : MS_NOT_FOUND) : MS_UNAVAILABLE;
    freeReplyObject(rep);
    return st;
}

/* The session's public description from its two hashes. */
static struct json_object *describe(const char *id, const redisReply *s, const redisReply *a,
                                    char **tenant)
{
    struct json_object *o = json_object_new_object();
    char ts[32];

    json_object_object_add(o, "id", json_object_new_string(id));
    for (size_t i = 0; i + 1 < s->elements; i += 2) {
        const char *k = s->element[i]->str, *v = s->element[i + 1]->str;

        if (k == NULL || v == NULL)
            continue;
        if (strcmp(k, "v") == 0) {
            json_object_object_add(o, "protocol_version", json_object_new_string(v));
        } else if (strcmp(k, "endpoint") == 0) {
            char path[128];

            /* The path the session belongs to, as its client uses it. */
            gw_snprintf(path, sizeof(path), v[0] ? "/servers/%s/mcp" : "/mcp", v);
            json_object_object_add(o, "endpoint", json_object_new_string(path));
        } else if (strcmp(k, "client") == 0 || strcmp(k, "caps") == 0) {
            struct json_object *j = json_tokener_parse(v);

            json_object_object_add(o, k[0] == 'c' && k[1] == 'l' ? "client_info" : "client_capabilities",
                                   j != NULL ? j : json_object_new_object());
        } else if (strcmp(k, "created") == 0 || strcmp(k, "last") == 0 || strcmp(k, "expires") == 0) {
            gw_iso8601(strtoll(v, NULL, 10), ts);
            json_object_object_add(o, k[0] == 'c' ? "created_at" : k[0] == 'l' ? "last_seen_at" : "expires_at",
                                   json_object_new_string(ts));
        } else if (strncmp(k, "up:", 3) == 0) {
            struct json_object *ups;

            /* Which upstreams have a session open; never their ids. */
            if (!json_object_object_get_ex(o, "upstreams", &ups)) {
                ups = json_object_new_array();
                json_object_object_add(o, "upstreams", ups);
            }
            json_object_array_add(ups, json_object_new_string(k + 3));
        }
    }
    for (size_t i = 0; i + 1 < a->elements; i += 2) {
        const char *k = a->element[i]->str, *v = a->element[i + 1]->str;

        if (k == NULL || v == NULL)
            continue;
        if (strcmp(k, "user") == 0)
            json_object_object_add(o, "user_id", json_object_new_string(v));
        else if (strcmp(k, "tenant") == 0) {
            json_object_object_add(o, "tenant_id", json_object_new_string(v));
            if (tenant != NULL)
                *tenant = strdup(v);
        } else if (strcmp(k, "iss") == 0)
            json_object_object_add(o, "issuer", json_object_new_string(v));
        else if (strcmp(k, "roles") == 0) {
            unsigned bits = (unsigned)strtoul(v, NULL, 10);
            struct json_object *arr = json_object_new_array();

            for (unsigned b = 1; b <= ROLE_PLATFORM_ADMIN; b <<= 1)
                if (bits & b)
                    json_object_array_add(arr, json_object_new_string(auth_role_name(b)));
            json_object_object_add(o, "roles", arr);
        } else if (strcmp(k, "token_exp") == 0) {
            gw_iso8601(strtoll(v, NULL, 10) * 1000, ts);
            json_object_object_add(o, "token_expires_at", json_object_new_string(ts));
        } else if (strcmp(k, "api_port") == 0 || strcmp(k, "mcp_port") == 0) {
            json_object_object_add(o, k, json_object_new_int((int)strtol(v, NULL, 10)));
        }
    }
    return o;
}

/* HGETALL of both hashes in one round trip. */
static enum ms_status read_both(struct gw_app *app, const char *id, redisReply **s, redisReply **a)
{
    char skey[KEY_MAX], akey[KEY_MAX];
    redisContext *c;
    void *r1 = NULL, *r2 = NULL;

    *s = *a = NULL;
    if (session_keys(app, id, skey, akey) != 0)
        return MS_UNAVAILABLE;
    c = rds_conn(app);
    if (c == NULL)
        return MS_UNAVAILABLE;
    redisAppendCommand(c, "HGETALL %s", skey);
    redisAppendCommand(c, "HGETALL %s", akey);
    if (redisGetReply(c, &r1) != REDIS_OK || redisGetReply(c, &r2) != REDIS_OK) {
        if (r1 != NULL)
            freeReplyObject(r1);
        rds_close(app);
        return MS_UNAVAILABLE;
    }
    *s = r1;
    *a = r2;
    if ((*s)->type != REDIS_REPLY_ARRAY || (*a)->type != REDIS_REPLY_ARRAY || (*s)->elements == 0 ||
        (*a)->elements == 0) {
        freeReplyObject(*s);
        freeReplyObject(*a);
        *s = *a = NULL;
        return MS_NOT_FOUND;
    }
    return MS_OK;
}

enum ms_status ms_describe(struct gw_app *app, const char *id, struct json_object **out, char **tenant)
{
    redisReply *s, *a;
    enum ms_status st;

    *out = NULL;
    if (tenant != NULL)
        *tenant = NULL;
    if (!ms_id_valid(id))
        return MS_NOT_FOUND;
    st = read_both(app, id, &s, &a);
    if (st != MS_OK)
        return st;
    *out = describe(id, s, a, tenant);
    freeReplyObject(s);
    freeReplyObject(a);
    return MS_OK;
}

enum ms_status ms_list(struct gw_app *app, const char *tenant, int limit, struct json_object **out)
{
    char idx[KEY_MAX], now_s[24], lim[16];
    redisReply *ids, *rm;

    *out = NULL;
    if ((tenant != NULL ? rds_key(app, idx, sizeof(idx), "sessions:tenant:%s", tenant)
                        : rds_key(app, idx, sizeof(idx), "sessions")) != 0)
        return MS_UNAVAILABLE;
    snprintf(now_s, sizeof(now_s), "%lld", (long long)gw_now_ms());
    snprintf(lim, sizeof(lim), "%d", limit);
    /* Expired members leave the index here, lazily. */
    rm = rds_cmd(app, "ZREMRANGEBYSCORE %s -inf %s", idx, now_s);
    if (rm == NULL)
        return MS_UNAVAILABLE;
    freeReplyObject(rm);
    ids = rds_cmd(app, "ZRANGEBYSCORE %s %s +inf LIMIT 0 %s", idx, now_s, lim);
    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        if (ids != NULL)
            freeReplyObject(ids);
        return MS_UNAVAILABLE;
    }
    *out = json_object_new_array();
    for (size_t i = 0; i < ids->elements; i++) {
        struct json_object *o;

        /* Revoked or expired since the index was read: skip it. */
        if (ms_describe(app, ids->element[i]->str, &o, NULL) == MS_OK)
            json_object_array_add(*out, o);
    }
    freeReplyObject(ids);
    return MS_OK;
}
