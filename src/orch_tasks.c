/* Delegation: a task type routed to its agent, the least-loaded active server
 * of that agent leased in Redis for the call (a lease that outlives a dead
 * responder expires by itself), the call with the delegation context, and the
 * task recorded in PostgreSQL from start to outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "js.h"
#include "log.h"
#include "mcp/catalog.h"
#include "orch_int.h"
#include "pools.h"
#include "registry.h"
#include "store_pg.h"
#include "store_redis.h"
#include "upstream.h"
#include "util.h"

/* Keys, lease fields and arguments of the acquire script must fit rds_eval's 64. */
#define CANDIDATES_MAX 24
#define KEY_MAX 256
#define REAP_BATCH 256

/* ---- leases (Redis) ----------------------------------------------------------
 * orch:leases          zset  "task server agent" -> lease expiry (ms)
 * orch:agent:{agent}   zset  task -> expiry: the agent's in-flight tasks
 * orch:server:{id}     zset  task -> expiry: the server's in-flight tasks
 * orch:lease:{task}    hash  server_id, agent, pid, host, expires_ms (expires itself)
 * A count is the members whose expiry is still ahead: a lease whose
 * responder died stops counting when it expires, whoever reads. Expiries
 * are on Redis's clock (TIME), as the resource pools' are: a host whose
 * wall clock runs ahead would otherwise drop, and reap, leases of calls
 * still in flight elsewhere. */

/* Redis's clock in ms, for the scripts below. */
#define LUA_NOW                                                                       \
    "local t = redis.call('TIME')\n"                                                  \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* KEYS: leases, agent zset, lease hash, server zsets...; ARGV: task, pid,
 * host, agent, ttl_ms, server ids... Picks the server with the fewest unexpired leases (the first
 * on a tie), leases it until Redis's now + ttl_ms: {index, load}. */
static struct rds_script acquire_script = { .src =
    LUA_NOW
    "local exp = now + tonumber(ARGV[5])\n"
    "local best, bestn = nil, nil\n"
    "for i = 4, #KEYS do\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)\n"
    "  local n = redis.call('ZCARD', KEYS[i])\n"
    "  if best == nil or n < bestn then best, bestn = i, n end\n"
    "end\n"
    "if best == nil then return {0, 0} end\n"
    "local sid = ARGV[best + 2]\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "redis.call('ZADD', KEYS[best], exp, ARGV[1])\n"
    "redis.call('ZADD', KEYS[2], exp, ARGV[1])\n"
    "redis.call('ZADD', KEYS[1], exp, ARGV[1] .. ' ' .. sid .. ' ' .. ARGV[4])\n"
    "redis.call('HSET', KEYS[3], 'server_id', sid, 'agent', ARGV[4], 'pid', ARGV[2],"
    " 'host', ARGV[3], 'expires_ms', string.format('%d', exp))\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[5])\n"
    "return {best - 3, bestn}\n" };

/* KEYS: leases, agent zset, lease hash, server zset; ARGV: lease member, task. */
static struct rds_script release_script = { .src =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[2])\n"
    "redis.call('ZREM', KEYS[4], ARGV[2])\n"
    "return redis.call('DEL', KEYS[3])\n" };

/* KEYS: zsets (Redis's clock decides what expired). Unexpired members of each, expired ones dropped. */
static struct rds_script loads_script = { .src =
    LUA_NOW
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)\n"
    "  out[i] = redis.call('ZCARD', KEYS[i])\n"
    "end\n"
    "return out\n" };

/* KEYS: leases; ARGV: batch. The members whose lease expired by Redis's
 * clock, on which they were given, at most batch of them. */
static struct rds_script expired_script = { .src =
    LUA_NOW
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))\n" };

static int agent_key(struct gw_app *app, char *buf, const char *agent)
{
    return rds_key(app, buf, KEY_MAX, "orch:agent:%s", agent);
}

static int server_key(struct gw_app *app, char *buf, const char *id)
{
    return rds_key(app, buf, KEY_MAX, "orch:server:%s", id);
}

static int lease_key(struct gw_app *app, char *buf, const char *task)
{
    return rds_key(app, buf, KEY_MAX, "orch:lease:%s", task);
}

static int leases_key(struct gw_app *app, char *buf)
{
    return rds_key(app, buf, KEY_MAX, "orch:leases");
}

int orch_load_servers(struct gw_app *app, const char *const *server_ids, size_t n, long long *loads)
{
    char (*keys)[KEY_MAX] = n > 0 ? calloc(n, KEY_MAX) : NULL;
    const char **argv = calloc(n + 1, sizeof(*argv));
    redisReply *r = NULL;
    int rc = -1;

    for (size_t i = 0; i < n; i++)
        loads[i] = -1;
    if (n == 0) {
        free(argv);
        return 0;
    }
    if (keys == NULL || argv == NULL || n > 60)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (server_ids[i] == NULL || server_key(app, keys[i], server_ids[i]) != 0)
            goto out;
        argv[i] = keys[i];
    }
    r = rds_eval(app, &loads_script, (int)n, (int)n, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n)
        goto out;
    for (size_t i = 0; i < n; i++)
        loads[i] = r->element[i]->integer;
    rc = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    free(keys);
    free(argv);
    return rc;
}

long long orch_load_agent(struct gw_app *app, const char *agent)
{
    char key[KEY_MAX];
    const char *argv[1] = { key };
    redisReply *r;
    long long n = -1;

    if (agent == NULL || agent_key(app, key, agent) != 0)
        return -1;
    r = rds_eval(app, &loads_script, 1, 1, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        n = r->element[0]->integer;
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

/* Give the lease back: the counts fall at once. */
static void lease_release(struct gw_app *app, const char *task, const char *server_id, const char *agent)
{
    char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], k4[KEY_MAX], member[256];
    const char *argv[6] = { k1, k2, k3, k4, member, task };
    redisReply *r;

    if (leases_key(app, k1) != 0 || agent_key(app, k2, agent) != 0 || lease_key(app, k3, task) != 0 ||
        server_key(app, k4, server_id) != 0)
        return;
    snprintf(member, sizeof(member), "%s %s %s", task, server_id, agent);
    r = rds_eval(app, &release_script, 4, 6, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        log_warn("orch_lease_release", "task %s: the lease could not be given back (%s); it expires "
                 "by itself", task, r != NULL ? r->str : "Redis unavailable");
    if (r != NULL)
        freeReplyObject(r);
}

int orch_tasks_reap_expired(struct gw_app *app)
{
    static const char fail_sql[] =
        "UPDATE tasks SET status = 'failed', finished_at = now(), error = 'the delegation''s lease "
        "expired: the responder that ran it ended before the task finished' "
        "WHERE id = ANY ($1::uuid[]) AND status = 'running'";
    char lk[KEY_MAX], batch[16], *ids = NULL;
    const char *argv[2] = { lk, batch };
    redisReply *r;
    size_t idlen = 0, cap = 0;
    int reclaimed = 0;
    PGconn *c;

    if (leases_key(app, lk) != 0)
        return -1;
    snprintf(batch, sizeof(batch), "%d", REAP_BATCH);
    r = rds_eval(app, &expired_script, 1, 2, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    /* {id,id,...} for PostgreSQL; members are "task server agent". */
    cap = r->elements * 40 + 3;
    if ((ids = malloc(cap)) == NULL) {
        freeReplyObject(r);
        return -1;
    }
    ids[idlen++] = '{';
    for (size_t i = 0; i < r->elements; i++) {
        const char *m = r->element[i]->str;
        char id[37];

        if (r->element[i]->type != REDIS_REPLY_STRING || strlen(m) < 36)
            continue;
        memcpy(id, m, 36);
        id[36] = '\0';
        if (!reg_uuid_valid(id))
            continue;
        if (idlen > 1)
            ids[idlen++] = ',';
        memcpy(ids + idlen, m, 36);
        idlen += 36;
    }
    ids[idlen++] = '}';
    ids[idlen] = '\0';
    if ((c = pg_conn(app)) != NULL) {
        const char *p[1] = { ids };
        PGresult *pr = PQexecParams(c, fail_sql, 1, NULL, p, NULL, NULL, 0);

        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            log_warn("orch_reap", "expired leases kept for the next pass: %s", PQresultErrorMessage(pr));
            PQclear(pr);
            goto out;
        }
        PQclear(pr);
    } else {
        log_warn("orch_reap", "expired leases kept for the next pass: PostgreSQL is not reachable");
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        char task[40], server[40], agent[80], k[KEY_MAX];
        redisReply *x;

        if (r->element[i]->type != REDIS_REPLY_STRING ||
            sscanf(r->element[i]->str, "%39s %39s %79s", task, server, agent) != 3)
            continue;
        if (server_key(app, k, server) == 0 && (x = rds_cmd(app, "ZREM %s %s", k, task)) != NULL)
            freeReplyObject(x);
        if (agent_key(app, k, agent) == 0 && (x = rds_cmd(app, "ZREM %s %s", k, task)) != NULL)
            freeReplyObject(x);
        if ((x = rds_cmd(app, "ZREM %s %s", lk, r->element[i]->str)) != NULL) {
            if (x->type == REDIS_REPLY_INTEGER && x->integer == 1) {
                reclaimed++;
                log_warn("orch_lease_expired", "task %s on server %s (agent %s): its responder ended "
                         "mid-delegation; the load is given back and the task marked failed", task, server, agent);
            }
            freeReplyObject(x);
        }
    }
out:
    free(ids);
    freeReplyObject(r);
    return reclaimed;
}

/* ---- the request -------------------------------------------------------------- */

/* A string member as a whole: NULL when it holds a NUL character, which
 * would cut it short ("type": "known_type\u0000anything" is no task type). */
static const char *whole_str(struct json_object *o, const char *key)
{
    struct json_object *v = js_get(o, key, json_type_string);

    return v != NULL && !js_has_nul(v) ? json_object_get_string(v) : NULL;
}

int orch_request_parse(struct json_object *body, struct orch_request *r, struct orch_error *e)
{
    static const char *const keys[] = { "type", "context", "agent", "requesting_agent", "timeout_ms",
                                         "wait_ms" };
    struct json_object *v;

    memset(r, 0, sizeof(*r));
    if (orch_only_keys(body, keys, GW_ARRAY_LEN(keys), e) != 0)
        return -1;
    r->type = whole_str(body, "type");
    if (r->type == NULL || !orch_task_type_valid(r->type))
        return orch_fail(e, ORCH_BAD_REQUEST, "type", "'type' must be a task type: [a-z0-9][a-z0-9_]{0,63}");
    if (json_object_object_get_ex(body, "context", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_object))
            return orch_fail(e, ORCH_BAD_REQUEST, "context", "'context' must be an object");
        /* PostgreSQL's jsonb holds no NUL character: refused here, not as a
         * database failure later. */
        if (js_has_nul(v))
            return orch_fail(e, ORCH_BAD_REQUEST, "context", "'context' must not contain NUL characters");
        r->context = v;
    }
    if (json_object_object_get_ex(body, "agent", &v) && v != NULL) {
        r->agent = whole_str(body, "agent");
        if (r->agent == NULL || !orch_agent_name_valid(r->agent))
            return orch_fail(e, ORCH_BAD_REQUEST, "agent", "'agent' must be an agent name");
    }
    if (json_object_object_get_ex(body, "requesting_agent", &v) && v != NULL) {
        r->requesting_agent = whole_str(body, "requesting_agent");
        if (r->requesting_agent == NULL || !orch_agent_name_valid(r->requesting_agent))
            return orch_fail(e, ORCH_BAD_REQUEST, "requesting_agent", "'requesting_agent' must be an agent name");
    }
    if (json_object_object_get_ex(body, "timeout_ms", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_int64(v) > ORCH_TIMEOUT_MAX_MS)
            return orch_fail(e, ORCH_BAD_REQUEST, "timeout_ms", "'timeout_ms' must be an integer from 1 to %d",
                             ORCH_TIMEOUT_MAX_MS);
        r->timeout_ms = (int)json_object_get_int64(v);
    }
    if (json_object_object_get_ex(body, "wait_ms", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            json_object_get_int64(v) > ORCH_TIMEOUT_MAX_MS)
            return orch_fail(e, ORCH_BAD_REQUEST, "wait_ms", "'wait_ms' must be an integer from 0 to %d",
                             ORCH_TIMEOUT_MAX_MS);
        r->wait_ms = (int)json_object_get_int64(v);
    } else {
        r->wait_ms = -1;
    }
    return 0;
}

/* ---- routing -------------------------------------------------------------------- */

/* The agent of the request (named, or the routing matrix's), ready to take
 * work: 0 with agent filled, or -1 with the distinct refusal. */
static int route(PGconn *c, const struct orch_request *r, char *agent, size_t n, struct orch_error *e)
{
    PGresult *res;
    const char *p[1];
    char status[16];

    if (r->agent != NULL) {
        gw_strlcpy(agent, r->agent, n);
    } else {
        p[0] = r->type;
        res = orch_sql(c, "SELECT agent FROM routing_rules WHERE task_type = $1", 1, p);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            orch_db_fail(e, res, "reading the routing matrix");
            PQclear(res);
            return -1;
        }
        if (PQntuples(res) == 0) {
            PQclear(res);
            return orch_fail(e, ORCH_UNKNOWN_TASK_TYPE, "type", "no agent is routed task type '%s' "
                             "(GET /api/v1/routing lists the routed types)", r->type);
        }
        gw_strlcpy(agent, PQgetvalue(res, 0, 0), n);
        PQclear(res);
    }
    p[0] = agent;
    res = orch_sql(c, "SELECT status FROM agents WHERE name = $1", 1, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        orch_db_fail(e, res, "reading the agent");
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        return orch_fail(e, ORCH_UNKNOWN_AGENT, "agent", "no agent named '%s'", agent);
    }
    gw_strlcpy(status, PQgetvalue(res, 0, 0), sizeof(status));
    PQclear(res);
    if (strcmp(status, "inactive") == 0)
        return orch_fail(e, ORCH_AGENT_INACTIVE, "agent", "agent '%s' is inactive: it takes no tasks", agent);
    if (strcmp(status, "draining") == 0)
        return orch_fail(e, ORCH_AGENT_DRAINING, "agent", "agent '%s' is draining: it finishes its "
                         "tasks and takes no new ones", agent);
    return 0;
}

static bool offers_tool(const struct cat_server *s, const char *tool)
{
    size_t n = json_object_array_length(s->tools);

    for (size_t i = 0; i < n; i++) {
        const char *name = js_str(json_object_array_get_idx(s->tools, i), "name");

        if (name != NULL && strcmp(name, tool) == 0)
            return true;
    }
    return false;
}

struct candidate {
    const struct cat_server *srv;   /* borrowed from the catalog snapshot */
    const char *tool;               /* the type's own tool, else handle_task */
};

/* Servers of the agent that who may use, active, not in maintenance, whose
 * credentials open here, offering the task's tool: their count, or -1 (e). */
static int candidates(struct gw_app *app, PGconn *c, const struct gw_identity *who, const char *agent,
                      const char *type, int own_tool_only, struct candidate *out, size_t max,
                      struct orch_error *e)
{
    const char *p[2] = { agent, orch_tenant_of(who) };
    const struct cat_snapshot *snap;
    PGresult *res;
    char why[256];
    int n = 0, registered;

    /* A delegation uses a server as a tool call on /mcp does: its tenant's
     * or a shared one, whatever the caller's role (cat_visible below). */
    res = orch_sql(c, "SELECT s.id::text FROM servers s WHERE $1 = ANY (s.agent_roles)"
                   " AND (s.tenant_id IS NULL OR s.tenant_id = $2::text) ORDER BY s.name, s.id", 2, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        orch_db_fail(e, res, "reading the agent's servers");
        PQclear(res);
        return -1;
    }
    registered = PQntuples(res);
    if (registered > 0 && cat_current(app, &snap, why, sizeof(why)) != CAT_OK) {
        PQclear(res);
        log_warn("catalog_unavailable", "delegation: %s", why);
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "the server catalog is unavailable: try again later");
    }
    for (int i = 0; i < registered && (size_t)n < max; i++) {
        const char *id = PQgetvalue(res, i, 0);

        for (size_t j = 0; j < snap->n; j++) {
            const struct cat_server *s = &snap->servers[j];

            if (strcmp(s->id, id) != 0)
                continue;
            if (!cat_visible(s, who) || strcmp(s->status, "active") != 0 || s->maintenance ||
                s->auth_unavailable)
                break;
            if (offers_tool(s, type))
                out[n].tool = type;
            else if (!own_tool_only && offers_tool(s, "handle_task"))
                out[n].tool = "handle_task";
            else
                break;
            out[n++].srv = s;
            break;
        }
    }
    PQclear(res);
    if (n == 0)
        return orch_fail(e, ORCH_NO_SERVER, "agent", "agent '%s' has no healthy server for task type "
                         "'%s': %d server(s) name it in agent_roles and you may use, none of them active, "
                         "out of maintenance and offering tool '%s'%s",
                         agent, type, registered, type, own_tool_only ? "" : " or 'handle_task'");
    return n;
}

/* ---- the delegation context ------------------------------------------------------ */

/* A member name that says it holds a credential: one of its words (split at
 * '_', '-', '.', ' ' and camelCase humps, case ignored) is a credential's
 * word, or two of them make one: "token", "githubToken", "DB_PASSWORD",
 * "X-Api-Key", "private_key"; not "max_tokens". */
static bool secret_name(const char *k)
{
    static const char *const words[] = { "token", "password", "passwd", "secret", "authorization", "cookie",
                                         "apikey", "credential", "credentials", "bearer" };
    static const char *const pairs[] = { "api key", "private key", "access key" };
    char w[128], prev[128] = "", pair[260];
    size_t n = 0;

    for (size_t i = 0;; i++) {
        char ch = k[i];
        bool hump = ch >= 'A' && ch <= 'Z' && i > 0 &&
                    ((k[i - 1] >= 'a' && k[i - 1] <= 'z') || (k[i - 1] >= '0' && k[i - 1] <= '9'));

        if (ch == '\0' || ch == '_' || ch == '-' || ch == '.' || ch == ' ' || hump) {
            w[n] = '\0';
            if (n > 0) {
                for (size_t j = 0; j < GW_ARRAY_LEN(words); j++)
                    if (strcmp(w, words[j]) == 0)
                        return true;
                snprintf(pair, sizeof(pair), "%s %s", prev, w);
                for (size_t j = 0; j < GW_ARRAY_LEN(pairs); j++)
                    if (strcmp(pair, pairs[j]) == 0)
                        return true;
                gw_strlcpy(prev, w, sizeof(prev));
            }
            n = 0;
            if (ch == '\0')
                return false;
            if (!hump)
                continue;
        }
        if (n < sizeof(w) - 1)
            w[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
}

/* A deep copy without members named like credentials: nothing the caller put
 * in the context as a secret travels to an agent or into the task record. */
static struct json_object *without_secrets(struct json_object *o)
{
    struct json_object *copy;

    if (o == NULL)
        return NULL;
    if (json_object_is_type(o, json_type_object)) {
        copy = json_object_new_object();
        json_object_object_foreach(o, k, v) {
            if (!secret_name(k))
                json_object_object_add(copy, k, without_secrets(v));
        }
        return copy;
    }
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);

        copy = json_object_new_array_ext((int)n);
        for (size_t i = 0; i < n; i++)
            json_object_array_add(copy, without_secrets(json_object_array_get_idx(o, i)));
        return copy;
    }
    return json_object_get(o);
}

/* The seed's session_preservation, from the verified identity: who, tenant,
 * roles, scopes, until when; never the token. */
static struct json_object *session_preservation(const struct gw_identity *who, struct json_object *ctx)
{
    struct json_object *sp = json_object_new_object(), *auth = json_object_new_object(),
                       *roles = json_object_new_array(), *v;
    char exp[32];

    for (unsigned bit = 1; bit <= ROLE_PLATFORM_ADMIN; bit <<= 1)
        if ((who->roles & bit) != 0)
            json_object_array_add(roles, json_object_new_string(auth_role_name(bit)));
    json_object_object_add(auth, "user_id", json_object_new_string(who->user_id));
    json_object_object_add(auth, "subject", json_object_new_string(who->subject));
    json_object_object_add(auth, "tenant_id",
                           who->tenant_id[0] != '\0' ? json_object_new_string(who->tenant_id) : NULL);
    json_object_object_add(auth, "roles", roles);
    json_object_object_add(auth, "scopes", json_object_new_string(who->scopes));
    json_object_object_add(auth, "issuer", json_object_new_string(who->issuer));
    gw_iso8601((int64_t)who->exp * 1000, exp);
    json_object_object_add(auth, "expires_at", who->exp > 0 ? json_object_new_string(exp) : NULL);
    json_object_object_add(sp, "auth_context", auth);
    v = js_get(ctx, "session_id", json_type_string);
    json_object_object_add(sp, "session_id", v != NULL ? json_object_get(v) : NULL);
    v = js_get(ctx, "redis_keys", json_type_array);
    json_object_object_add(sp, "redis_keys", v != NULL ? without_secrets(v) : json_object_new_array());
    return sp;
}

/* ---- the task record -------------------------------------------------------------- */

#define TASK_JSON \
    "json_build_object('id', t.id, 'type', t.type, 'agent', t.agent, 'server_id', t.server_id," \
    " 'status', t.status, 'requested_by', t.requested_by, 'tenant_id', t.tenant_id," \
    " 'context', t.context, 'result', t.result, 'error', t.error, 'created_at', t.created_at," \
    " 'started_at', t.started_at, 'finished_at', t.finished_at," \
    " 'duration_ms', (extract(epoch FROM (t.finished_at - t.started_at)) * 1000)::bigint," \
    " 'url', '/api/v1/tasks/' || t.id)::text"

static struct json_object *task_read(PGconn *c, const char *id)
{
    const char *p[1] = { id };
    PGresult *r = orch_sql(c, "SELECT " TASK_JSON ", t.tenant_id, t.requested_by FROM tasks t"
                           " WHERE t.id = $1::uuid", 1, p);
    struct json_object *o = NULL;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        o = json_tokener_parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    return o;
}

static int task_insert(PGconn *c, const struct gw_identity *who, const char *request_id, const char *id,
                       const char *type, const char *agent, const char *server_id, struct json_object *ctx,
                       const char *tool, struct orch_error *e)
{
    const char *p[7] = { id, type, agent, server_id, who->user_id, orch_tenant_of(who),
                         json_object_to_json_string_ext(ctx, JSON_C_TO_STRING_PLAIN) };
    struct json_object *detail;
    PGresult *r;
    int rc;

    if (orch_begin(c, e) != 0)
        return -1;
    r = orch_sql(c, "INSERT INTO tasks (id, type, agent, server_id, status, requested_by, tenant_id, context,"
                 " started_at) VALUES ($1::uuid, $2, $3, $4::uuid, 'running', $5, $6, $7::jsonb, now())", 7, p);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        orch_db_fail(e, r, "recording the task");
        PQclear(r);
        orch_rollback(c);
        return -1;
    }
    PQclear(r);
    detail = json_object_new_object();
    json_object_object_add(detail, "type", json_object_new_string(type));
    json_object_object_add(detail, "agent", json_object_new_string(agent));
    json_object_object_add(detail, "server_id", json_object_new_string(server_id));
    json_object_object_add(detail, "tool", json_object_new_string(tool));
    rc = orch_audit(c, who, request_id, "task.delegate", "task", id, detail, e);
    json_object_put(detail);
    if (rc != 0 || orch_commit(c, e) != 0) {
        orch_rollback(c);
        return -1;
    }
    return 0;
}

/* Record the outcome: 0, 1 when the result could not be stored and the
 * task was recorded failed instead, -1 when nothing could be recorded. */
static int task_finish(struct gw_app *app, const char *id, const char *status, struct json_object *result,
                       const char *error)
{
    int rc = 0;

    const char *p[4] = { id, status,
                         result != NULL ? json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN) : NULL,
                         error };
    PGconn *c = pg_conn(app);
    PGresult *r;

    if (c == NULL) {
        log_error("orch_task_record", "task %s ended %s but PostgreSQL is not reachable: the record "
                  "stays running until its lease is reaped", id, status);
        return -1;
    }
    r = orch_sql(c, "UPDATE tasks SET status = $2, result = $3::jsonb, error = $4, finished_at = now()"
                 " WHERE id = $1::uuid AND status = 'running'", 4, p);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && p[2] != NULL) {
        /* An agent's result that jsonb refuses (a NUL character, say) must
         * not leave the task running for ever: recorded failed, without it. */
        log_warn("orch_task_record", "task %s: the agent's result cannot be stored: %s", id,
                 PQresultErrorMessage(r));
        PQclear(r);
        p[1] = "failed";
        p[2] = NULL;
        p[3] = "the agent's result could not be stored (not representable as jsonb)";
        r = orch_sql(c, "UPDATE tasks SET status = $2, result = $3::jsonb, error = $4, finished_at = now()"
                     " WHERE id = $1::uuid AND status = 'running'", 4, p);
        rc = 1;
    }
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_error("orch_task_record", "task %s ended %s, not recorded: %s; the record stays running until "
                  "its lease is reaped", id, status, PQresultErrorMessage(r));
        rc = -1;
    }
    PQclear(r);
    return rc;
}

/* ---- the call ------------------------------------------------------------------ */

struct call_ticks {
    const struct orch_request *r;
    const char *task_id;
};

static int on_tick(void *arg)
{
    struct call_ticks *t = arg;

    /* The caller may stop waiting; the call itself always goes on. */
    if (t->r->tick != NULL)
        t->r->tick(t->r->tick_arg, t->task_id);
    return 0;
}

int orch_answer_failed(struct json_object *answer, char *out, size_t n)
{
    struct json_object *err = js_get(answer, "error", json_type_object),
                       *res = js_get(answer, "result", json_type_object), *content;
    const char *m = NULL;

    if (err == NULL && res != NULL && !json_object_get_boolean(js_get(res, "isError", json_type_boolean)))
        return 0;
    if (err != NULL)
        m = js_str(err, "message");
    else if (res != NULL && (content = js_get(res, "content", json_type_array)) != NULL &&
             json_object_array_length(content) > 0)
        m = js_str(json_object_array_get_idx(content, 0), "text");
    snprintf(out, n, "%s%.400s", err != NULL ? "the agent answered an error: " : "the agent's tool failed: ",
             m != NULL ? m : "(no message)");
    return -1;
}

enum up_status orch_call_tool(struct gw_app *app, const struct cat_server *srv, const char *tool,
                              struct json_object *args, int timeout_ms, int (*tick)(void *), void *tick_arg,
                              struct json_object **answer, char *why, size_t n)
{
    struct json_object *msg = json_object_new_object(), *params = json_object_new_object();
    struct up_target t;
    struct up_session us;
    struct up_forward f;
    enum up_status st;

    json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(msg, "id", json_object_new_int(1));
    json_object_object_add(msg, "method", json_object_new_string("tools/call"));
    json_object_object_add(params, "name", json_object_new_string(tool));
    json_object_object_add(params, "arguments", json_object_get(args));
    json_object_object_add(msg, "params", params);
    memset(&t, 0, sizeof(t));
    t.url = srv->url;
    t.auth = &srv->auth;
    t.timeout_ms = timeout_ms;
    t.cache_id = srv->id;
    t.protocol_version = srv->protocol_version;
    memset(&us, 0, sizeof(us));
    memset(&f, 0, sizeof(f));
    f.t = &t;
    f.session = &us;
    f.tick = tick;
    f.relay_arg = tick_arg;
    st = up_forward(app, &f, msg, answer, why, n);
    if (us.id[0] != '\0')
        up_end(app, &t, &us);
    json_object_put(msg);
    return st;
}

int orch_delegate_request(struct gw_app *app, const struct gw_identity *who, const struct orch_request *r,
                          struct json_object **task_out, struct orch_error *e)
{
    struct candidate cand[CANDIDATES_MAX];
    char agent[80], id[37], keys[3 + CANDIDATES_MAX][KEY_MAX], pid[16], host[128],
        ttl[16], stamp[32], why[512], errbuf[512];
    const char *argv[5 + 3 + 2 * CANDIDATES_MAX];
    struct json_object *ctx = NULL, *deleg = NULL, *answer = NULL, *result;
    const struct candidate *pick;
    struct pools_slot slot;
    struct pools_busy busy;
    struct call_ticks ticks;
    enum up_status st;
    const char *status;
    redisReply *rep;
    int n, timeout, call_ms, left, fin, rc = -1, argc = 0;
    long long load_before;
    int64_t start, taken;
    PGconn *c;

    if (task_out != NULL)
        *task_out = NULL;
    if ((c = orch_db(app, e)) == NULL || route(c, r, agent, sizeof(agent), e) != 0)
        return e->code;
    if ((n = candidates(app, c, who, agent, r->type, r->own_tool_only, cand, CANDIDATES_MAX, e)) < 0)
        return e->code;
    if (gw_uuid(id) != 0)
        return orch_fail(e, ORCH_INTERNAL, NULL, "no task id could be made"), e->code;

    /* Lease the least-loaded server. Ties go to a random one of them: the
     * candidates are rotated by a random offset first. */
    {
        unsigned char rnd = 0;
        struct candidate rot[CANDIDATES_MAX];

        gw_random_bytes(&rnd, 1);
        for (int i = 0; i < n; i++)
            rot[i] = cand[(i + rnd) % n];
        memcpy(cand, rot, sizeof(rot[0]) * (size_t)n);
    }
    timeout = r->timeout_ms > 0 ? r->timeout_ms : ORCH_TIMEOUT_DEFAULT_MS;
    start = gw_now_ms();
    taken = gw_monotonic_ms();
    if (leases_key(app, keys[0]) != 0 || agent_key(app, keys[1], agent) != 0 || lease_key(app, keys[2], id) != 0)
        return orch_fail(e, ORCH_INTERNAL, NULL, "key names do not fit"), e->code;
    for (int i = 0; i < n; i++)
        if (server_key(app, keys[3 + i], cand[i].srv->id) != 0)
            return orch_fail(e, ORCH_INTERNAL, NULL, "key names do not fit"), e->code;
    /* The lease covers the longest the call can take (the task's deadline;
     * a server's own may be shorter) plus a margin. */
    snprintf(ttl, sizeof(ttl), "%d", timeout + ORCH_LEASE_MARGIN_MS);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (gethostname(host, sizeof(host) - 1) != 0)
        gw_strlcpy(host, "unknown", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    for (int i = 0; i < 3 + n; i++)
        argv[argc++] = keys[i];
    argv[argc++] = id;
    argv[argc++] = pid;
    argv[argc++] = host;
    argv[argc++] = agent;
    argv[argc++] = ttl;
    for (int i = 0; i < n; i++)
        argv[argc++] = cand[i].srv->id;
    rep = rds_eval(app, &acquire_script, 3 + n, argc, argv, NULL);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->integer < 1 ||
        rep->element[0]->integer > n) {
        if (rep != NULL)
            log_warn("orch_lease", "lease refused: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        if (rep != NULL)
            freeReplyObject(rep);
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "no lease could be taken: Redis cannot be reached"), e->code;
    }
    pick = &cand[rep->element[0]->integer - 1];
    load_before = rep->element[1]->integer;
    freeReplyObject(rep);

    /* A delegation is a tools/call on the server: it takes a slot of the
     * server's max_concurrency pool as a call through /mcp does, so that
     * tasks (202 ones included) never pile more calls on it than it takes. */
    memset(&busy, 0, sizeof(busy));
    call_ms = pick->srv->timeout_ms > 0 && pick->srv->timeout_ms < timeout ? pick->srv->timeout_ms : timeout;
    /* The lease covers a re-initialize plus the call, as on /mcp: only a
     * responder that died holds the slot until it ends. */
    switch (pools_upstream_acquire(app, pick->srv->id, pick->srv->max_concurrency,
                                   2 * call_ms + ORCH_LEASE_MARGIN_MS, &slot, &busy)) {
    case POOLS_OK:
        break;
    case POOLS_BUSY:
        lease_release(app, id, pick->srv->id, agent);
        return orch_fail(e, ORCH_BUSY, NULL, "server %s of agent '%s' is busy: all %d of its concurrent "
                         "calls are in flight; retry shortly", pick->srv->name, agent, busy.capacity), e->code;
    default:
        lease_release(app, id, pick->srv->id, agent);
        return orch_fail(e, ORCH_UNAVAILABLE, NULL, "server %s cannot be called now: its concurrency "
                         "pool is unavailable (Redis)", pick->srv->name), e->code;
    }

    ctx = without_secrets(r->context != NULL ? r->context : NULL);
    if (ctx == NULL)
        ctx = json_object_new_object();
    if (task_insert(c, who, r->request_id, id, r->type, agent, pick->srv->id, ctx, pick->tool, e) != 0) {
        pools_upstream_release(app, &slot);
        lease_release(app, id, pick->srv->id, agent);
        json_object_put(ctx);
        return e->code;
    }
    /* The lease runs out timeout + margin after it was taken: the call gets
     * what is left of the task's deadline once the task is recorded, so that
     * a slow insert cannot let the lease (and the load it counts) lapse while
     * the call is still in flight. */
    left = timeout - (int)(gw_monotonic_ms() - taken);
    if (left < call_ms)
        call_ms = left > 0 ? left : 1;
    log_info("orch_delegate", "task %s (%s) -> agent %s, server %s (load %lld), tool %s", id, r->type, agent,
             pick->srv->name, load_before, pick->tool);

    /* The seed's delegation context. */
    gw_iso8601(start, stamp);
    deleg = json_object_new_object();
    json_object_object_add(deleg, "task_id", json_object_new_string(id));
    json_object_object_add(deleg, "requesting_agent",
                           json_object_new_string(r->requesting_agent != NULL ? r->requesting_agent
                                                                              : ORCH_SELF_AGENT));
    json_object_object_add(deleg, "target_agent", json_object_new_string(agent));
    json_object_object_add(deleg, "task_type", json_object_new_string(r->type));
    json_object_object_add(deleg, "timestamp", json_object_new_string(stamp));
    json_object_object_add(deleg, "context", json_object_get(ctx));
    json_object_object_add(deleg, "session_preservation", session_preservation(who, ctx));
    ticks.r = r;
    ticks.task_id = id;
    st = orch_call_tool(app, pick->srv, pick->tool, deleg, call_ms, on_tick, &ticks, &answer, why, sizeof(why));

    result = js_get(answer, "result", json_type_object);
    if (st == UP_TIMEOUT) {
        status = "timed_out";
        snprintf(errbuf, sizeof(errbuf), "the agent did not answer within %d ms", call_ms);
        orch_fail(e, ORCH_TASK_TIMED_OUT, NULL, "task %s: %s", id, errbuf);
    } else if (st != UP_OK) {
        status = "failed";
        snprintf(errbuf, sizeof(errbuf), "server %s could not be called: %s: %.400s", pick->srv->name,
                 up_status_name(st), why);
        orch_fail(e, ORCH_TASK_FAILED, NULL, "task %s: %s", id, errbuf);
    } else if (orch_answer_failed(answer, errbuf, sizeof(errbuf)) != 0) {
        status = "failed";
        orch_fail(e, ORCH_TASK_FAILED, NULL, "task %s: %s", id, errbuf);
    } else {
        status = "completed";
        errbuf[0] = '\0';
        rc = 0;
    }
    /* The load falls as soon as the outcome is recorded. One that could not
     * be keeps its lease: when it expires, the cleanup settles the task,
     * which would otherwise read running for ever. */
    pools_upstream_release(app, &slot);
    fin = task_finish(app, id, status, result, rc == 0 ? NULL : errbuf);
    if (fin >= 0)
        lease_release(app, id, pick->srv->id, agent);
    if (fin != 0 && rc == 0) {
        rc = -1;
        orch_fail(e, ORCH_TASK_FAILED, NULL, "task %s: the agent's result could not be %s", id,
                  fin > 0 ? "stored" : "recorded");
    }
    if (rc == 0)
        log_info("orch_task_done", "task %s completed in %lld ms", id, (long long)(gw_now_ms() - start));
    else
        log_warn("orch_task_done", "task %s %s in %lld ms: %.300s", id,
                 strcmp(status, "timed_out") == 0 ? "timed out" : "failed", (long long)(gw_now_ms() - start),
                 errbuf[0] != '\0' ? errbuf : e->detail);
    if (task_out != NULL && (c = pg_conn(app)) != NULL)
        *task_out = task_read(c, id);
    json_object_put(answer);
    json_object_put(deleg);
    json_object_put(ctx);
    return rc == 0 ? ORCH_OK : e->code;
}

int orch_delegate(struct gw_app *app, const struct gw_identity *who, const char *task_type,
                  struct json_object *context, int timeout_ms, int own_tool_only,
                  struct json_object **result_out, char *err, size_t errlen)
{
    struct orch_request r;
    struct orch_error e = { 0 };
    struct json_object *task = NULL;
    int rc;

    *result_out = NULL;
    memset(&r, 0, sizeof(r));
    r.type = task_type;
    r.context = context;
    r.timeout_ms = timeout_ms;
    r.wait_ms = -1;
    r.own_tool_only = own_tool_only;
    if (task_type == NULL || !orch_task_type_valid(task_type)) {
        snprintf(err, errlen, "'%.64s' is not a task type", task_type != NULL ? task_type : "");
        return ORCH_BAD_REQUEST;
    }
    rc = orch_delegate_request(app, who, &r, &task, &e);
    if (rc == ORCH_OK) {
        struct json_object *res = js_get(task, "result", json_type_object),
                           *sc = js_get(res, "structuredContent", json_type_object);

        /* The agent's structured answer (a verdict, say) when it gave one. */
        *result_out = sc != NULL ? json_object_get(sc) : res != NULL ? json_object_get(res) : json_object_new_object();
    } else {
        snprintf(err, errlen, "%s: %s", orch_reason(e.code), e.detail);
    }
    json_object_put(task);
    return rc;
}

int orch_task_get(struct gw_app *app, const struct gw_identity *who, const char *id,
                  struct json_object **out, struct orch_error *e)
{
    struct json_object *o;
    const char *tenant, *by, *status;
    PGconn *c;
    bool seen;

    *out = NULL;
    if (!reg_uuid_valid(id))
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no such task");
    if ((c = orch_db(app, e)) == NULL)
        return -1;
    if ((o = task_read(c, id)) == NULL)
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no such task");
    /* A running task whose responder died is settled before it is shown. */
    status = js_str(o, "status");
    if (status != NULL && strcmp(status, "running") == 0 && orch_tasks_reap_expired(app) > 0) {
        json_object_put(o);
        if ((o = task_read(c, id)) == NULL)
            return orch_fail(e, ORCH_NOT_FOUND, NULL, "no such task");
    }
    tenant = js_str(o, "tenant_id");
    by = js_str(o, "requested_by");
    if (auth_has_role(who, ROLE_PLATFORM_ADMIN))
        seen = true;
    else if (auth_has_role(who, ROLE_OPERATOR))
        seen = (tenant == NULL && who->tenant_id[0] == '\0') ||
               (tenant != NULL && strcmp(tenant, who->tenant_id) == 0);
    else
        seen = by != NULL && strcmp(by, who->user_id) == 0;
    if (!seen) {
        json_object_put(o);
        return orch_fail(e, ORCH_NOT_FOUND, NULL, "no such task");
    }
    *out = o;
    return 0;
}
