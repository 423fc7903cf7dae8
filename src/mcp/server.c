/* Methods of the aggregated MCP endpoint that the gateway answers itself:
 * the handshake result, ping, the lists of everything the caller may use
 * (built-in tools and the catalog's upstream tools, prompts, resources and
 * resource templates), and the built-in tools in one table. */
#include "mcp/server.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit_spool.h"
#include "build-config.h"
#include "gates.h"
#include "health.h"
#include "js.h"
#include "log.h"
#include "mcp/catalog.h"
#include "registry.h"
#include "util.h"

#define CURSOR_MAX 8192

struct builtin_tool {
    const char *name;
    const char *title;
    const char *description;
    unsigned role;             /* gateway role needed to see and call it */
    bool read_only;
    const char *input_schema;  /* JSON Schema text */
    const char *output_schema;
    /* structuredContent into *out; 0, or -1 with a message for the caller. */
    int (*run)(struct mcp_call *mc, struct json_object *args, struct json_object **out, char *err,
               size_t n);
};

static int run_health_check(struct mcp_call *mc, struct json_object *args, struct json_object **out,
                            char *err, size_t n)
{
    int unhealthy = 0;

    (void)args;
    (void)err;
    (void)n;
    *out = health_components(&mc->app->cfg, &unhealthy);
    return 0;
}

/* A server as gateway__list_servers shows it: nothing that reaches it
 * (URL, credentials), only what it offers. */
static struct json_object *server_summary(const struct cat_server *sv)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(sv->name));
    json_object_object_add(o, "description", json_object_new_string(sv->description));
    json_object_object_add(o, "status", json_object_new_string(sv->status));
    json_object_object_add(o, "maintenance", json_object_new_boolean(sv->maintenance));
    json_object_object_add(o, "shared", json_object_new_boolean(sv->tenant_id[0] == '\0'));
    json_object_object_add(o, "tools", json_object_new_int((int)json_object_array_length(sv->tools)));
    json_object_object_add(o, "prompts", json_object_new_int((int)json_object_array_length(sv->prompts)));
    json_object_object_add(o, "resources",
                           json_object_new_int((int)json_object_array_length(sv->resources)));
    json_object_object_add(o, "tags", json_object_get(sv->tags));
    return o;
}

static int run_list_servers(struct mcp_call *mc, struct json_object *args, struct json_object **out,
                            char *err, size_t n)
{
    const struct cat_snapshot *c;
    struct json_object *list;
    char why[256];

    (void)args;
    if (cat_current(mc->app, &c, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "gateway__list_servers: %s", why);
        gw_snprintf(err, n, "the catalog is not available now; try again shortly");
        return -1;
    }
    list = json_object_new_array();
    for (size_t i = 0; i < c->n; i++)
        if (cat_visible(&c->servers[i], mc->who))
            json_object_array_add(list, server_summary(&c->servers[i]));
    *out = json_object_new_object();
    json_object_object_add(*out, "servers", list);
    return 0;
}

/* The body and rules of POST /api/v1/servers, as a tool. */
static int run_register_server(struct mcp_call *mc, struct json_object *args,
                               struct json_object **out, char *err, size_t n)
{
    struct reg_actor a = {
        .user_id = mc->who->user_id, .tenant_id = mc->who->tenant_id,
        .platform = auth_has_role(mc->who, ROLE_PLATFORM_ADMIN),
        .admin = auth_has_role(mc->who, ROLE_ADMIN), .request_id = log_request_id(),
    };
    struct reg_error e = { 0 };
    struct json_object *res = NULL, *v;

    if (args == NULL) {
        gw_snprintf(err, n, "registration failed in phase validation (invalid_body): "
                            "arguments must be an object with at least name and url");
        return -1;
    }
    if (reg_register(mc->app, &a, args, &res, &e) != 0) {
        gw_snprintf(err, n, "registration failed in phase %s (%s%s%s): %s",
                    e.phase != NULL ? e.phase : "registration", e.reason != NULL ? e.reason : "error",
                    e.field[0] != '\0' ? ", field " : "", e.field, e.detail);
        return -1;
    }
    *out = json_object_new_object();
    if (json_object_object_get_ex(res, "server_id", &v))
        json_object_object_add(*out, "server_id", json_object_get(v));
    if (json_object_object_get_ex(res, "phases_completed", &v))
        json_object_object_add(*out, "phases_completed", json_object_get(v));
    json_object_put(res);
    return 0;
}

/* The gate run as POST /api/v1/gates/{name}/run answers it (stored, audited). */
static int run_quality_gate(struct mcp_call *mc, struct json_object *args, struct json_object **out,
                            char *err, size_t n)
{
    const char *gate = js_str(args, "gate");

    if (gate == NULL || gates_find(gate) == NULL) {
        gw_snprintf(err, n, "arguments.gate must be pre_deployment, post_deployment or security_validation");
        return -1;
    }
    return gates_run(mc->app, mc->who, gate, out, err, n);
}

static const struct builtin_tool builtins[] = {
    { "gateway__health_check", "Gateway health",
      "Check every component of the gateway now (PostgreSQL, Redis, both planes, the identity "
      "provider) and report each one's status and latency.",
      ROLE_OPERATOR, true, "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
      "{\"type\":\"object\",\"required\":[\"overall_status\",\"components\"],\"properties\":{"
      "\"overall_status\":{\"type\":\"string\",\"enum\":[\"healthy\",\"degraded\",\"unhealthy\"]},"
      "\"components\":{\"type\":\"object\"},"
      "\"degraded_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"failed_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"timestamp\":{\"type\":\"string\"}}}",
      run_health_check },
    { "gateway__list_servers", "Upstream servers",
      "The upstream MCP servers you may use through this gateway: name, description, status, "
      "maintenance, how many tools, prompts and resources each offers, and tags.",
      ROLE_USER, true, "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
      "{\"type\":\"object\",\"required\":[\"servers\"],\"properties\":{\"servers\":{\"type\":\"array\","
      "\"items\":{\"type\":\"object\",\"required\":[\"name\",\"description\",\"status\",\"tools\",\"tags\"],"
      "\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
      "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"unhealthy\",\"unreachable\"]},"
      "\"maintenance\":{\"type\":\"boolean\"},\"shared\":{\"type\":\"boolean\"},"
      "\"tools\":{\"type\":\"integer\"},\"prompts\":{\"type\":\"integer\"},"
      "\"resources\":{\"type\":\"integer\"},"
      "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}}}",
      run_list_servers },
    { "gateway__register_server", "Register an upstream server",
      "Register an upstream MCP server, as POST /api/v1/servers does: the URL is checked and the "
      "server discovered with its own credentials before anything is stored. Admins only; an "
      "admin registers into its own tenant.",
      ROLE_ADMIN, false,
      "{\"type\":\"object\",\"required\":[\"name\",\"url\"],\"properties\":{"
      "\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9][a-z0-9-]{0,47}$\"},"
      "\"url\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
      "\"tenant_id\":{\"type\":[\"string\",\"null\"]},"
      "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"agent_roles\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"required_roles\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"max_concurrency\":{\"type\":\"integer\"},\"timeout_ms\":{\"type\":\"integer\"},"
      "\"transport\":{\"type\":\"string\"},\"auth\":{\"type\":\"object\"}}}",
      "{\"type\":\"object\",\"required\":[\"server_id\",\"phases_completed\"],\"properties\":{"
      "\"server_id\":{\"type\":\"string\"},"
      "\"phases_completed\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
      run_register_server },
    { "gateway__run_quality_gate", "Run a quality gate",
      "Run a quality gate now (pre_deployment, post_deployment or security_validation): each check "
      "probes the running gateway, the run stops at the first critical failure, and it is stored as "
      "GET /api/v1/gates/runs/{id} shows it. Operators only.",
      ROLE_OPERATOR, false,
      "{\"type\":\"object\",\"required\":[\"gate\"],\"properties\":{\"gate\":{\"type\":\"string\","
      "\"enum\":[\"pre_deployment\",\"post_deployment\",\"security_validation\"]}},"
      "\"additionalProperties\":false}",
      "{\"type\":\"object\",\"required\":[\"id\",\"gate\",\"status\",\"results\"],\"properties\":{"
      "\"id\":{\"type\":\"string\"},\"gate\":{\"type\":\"string\"},"
      "\"status\":{\"type\":\"string\",\"enum\":[\"passed\",\"failed\",\"error\"]},"
      "\"failed_check\":{\"type\":[\"string\",\"null\"]},"
      "\"results\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}",
      run_quality_gate },
};

struct json_object *mcp_initialize_result(const char *version)
{
    struct json_object *r = json_object_new_object(), *caps = json_object_new_object(),
                       *info = json_object_new_object();

    /* Lists change with the registry: clients are told on their stream. */
    static const char *const kinds[] = { "tools", "prompts", "resources" };

    for (size_t i = 0; i < GW_ARRAY_LEN(kinds); i++) {
        struct json_object *k = json_object_new_object();

        json_object_object_add(k, "listChanged", json_object_new_boolean(1));
        json_object_object_add(caps, kinds[i], k);
    }
    json_object_object_add(r, "protocolVersion", json_object_new_string(version));
    json_object_object_add(r, "capabilities", caps);
    json_object_object_add(info, "name", json_object_new_string(PACKAGE_NAME));
    json_object_object_add(info, "title", json_object_new_string("MCP registry gateway"));
    json_object_object_add(info, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(r, "serverInfo", info);
    json_object_object_add(r, "instructions",
                           json_object_new_string("Tools and prompts of every upstream MCP server you "
                                                  "may use, named {server}__{name}, their resources by "
                                                  "URI, plus gateway__* tools."));
    return r;
}

static struct json_object *tool_json(const struct builtin_tool *t)
{
    struct json_object *o = json_object_new_object(), *ann = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(t->name));
    json_object_object_add(o, "title", json_object_new_string(t->title));
    json_object_object_add(o, "description", json_object_new_string(t->description));
    json_object_object_add(o, "inputSchema", json_tokener_parse(t->input_schema));
    json_object_object_add(o, "outputSchema", json_tokener_parse(t->output_schema));
    json_object_object_add(ann, "readOnlyHint", json_object_new_boolean(t->read_only));
    json_object_object_add(o, "annotations", ann);
    return o;
}

/* ---- aggregated lists ---------------------------------------------------------- */

enum list_kind { LK_TOOLS, LK_PROMPTS, LK_RESOURCES, LK_TEMPLATES };

static const struct {
    const char *method, *field, *key;   /* result array, item key */
    char cursor;                        /* cat_cursor kind */
    bool prefixed;                      /* {server}__{name}; else by key (URI) */
} kinds[] = {
    [LK_TOOLS] = { "tools/list", "tools", "name", 't', true },
    [LK_PROMPTS] = { "prompts/list", "prompts", "name", 'p', true },
    [LK_RESOURCES] = { "resources/list", "resources", "uri", 'r', false },
    [LK_TEMPLATES] = { "resources/templates/list", "resourceTemplates", "uriTemplate", 'T', false },
};

struct item {
    char *key;                          /* as listed (owned) */
    const struct cat_server *sv;        /* NULL for a built-in */
    struct json_object *obj;            /* borrowed upstream item, or built-in index */
    size_t builtin;
    size_t seq;                         /* collection order: servers by name */
};

/* By key; equal keys (one URI on two servers) keep the servers' order, so
 * the first of them is the first visible server's. */
static int by_key(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static struct json_object *items_of(const struct cat_server *sv, enum list_kind k)
{
    switch (k) {
    case LK_TOOLS: return sv->tools;
    case LK_PROMPTS: return sv->prompts;
    case LK_RESOURCES: return sv->resources;
    default: return sv->resource_templates;
    }
}

/* The upstream item as the caller sees it: its own fields, nulls dropped
 * (the catalog keeps absent fields as null), the name prefixed. */
static struct json_object *item_json(const struct item *it, enum list_kind k)
{
    struct json_object *o = json_object_new_object();

    json_object_object_foreach(it->obj, key, val) {
        if (val == NULL)
            continue;
        if (kinds[k].prefixed && strcmp(key, "name") == 0)
            json_object_object_add(o, key, json_object_new_string(it->key));
        else
            json_object_object_add(o, key, json_object_get(val));
    }
    return o;
}

/* A URI listed by two visible servers: the first (name order) keeps it. Told
 * once per catalog version in each responder, not on every list. */
static void collision(uint64_t version, const char *key, const struct cat_server *kept,
                      const struct cat_server *dropped)
{
    static uint64_t logged_version;
    static unsigned logged;

    if (logged_version != version) {
        logged_version = version;
        logged = 0;
    }
    if (logged++ < 32)
        log_warn("catalog_uri_collision", "%s is listed by %s and %s: %s is kept", key, kept->name,
                 dropped->name, kept->name);
}

/* Everything of kind k the caller may use, sorted by key; NULL with *n = 0 on
 * no memory. */
static struct item *collect(struct mcp_call *mc, const struct cat_snapshot *c, enum list_kind k,
                            size_t *n)
{
    size_t cap = 0, count = 0;
    struct item *v;

    if (k == LK_TOOLS)
        cap += GW_ARRAY_LEN(builtins);
    for (size_t i = 0; i < c->n; i++)
        cap += json_object_array_length(items_of(&c->servers[i], k));
    *n = 0;
    if ((v = calloc(cap + 1, sizeof(*v))) == NULL)
        return NULL;
    for (size_t i = 0; k == LK_TOOLS && i < GW_ARRAY_LEN(builtins); i++)
        if (auth_has_role(mc->who, builtins[i].role)) {
            v[count].key = strdup(builtins[i].name);
            v[count].builtin = i;
            count++;
        }
    for (size_t i = 0; i < c->n; i++) {
        const struct cat_server *sv = &c->servers[i];
        struct json_object *a = items_of(sv, k);

        /* Built-ins own the gateway__ names. */
        if (sv->maintenance || !cat_visible(sv, mc->who) ||
            (kinds[k].prefixed && strcmp(sv->name, "gateway") == 0))
            continue;
        for (size_t j = 0; j < json_object_array_length(a); j++) {
            struct json_object *o = json_object_array_get_idx(a, j);
            const char *name = js_str(o, kinds[k].key);
            size_t l;

            if (name == NULL)
                continue;
            l = strlen(sv->name) + 2 + strlen(name) + 1;
            if ((v[count].key = malloc(l)) == NULL)
                continue;
            if (kinds[k].prefixed)
                snprintf(v[count].key, l, "%s__%s", sv->name, name);
            else
                memcpy(v[count].key, name, strlen(name) + 1);
            v[count].sv = sv;
            v[count].obj = o;
            count++;
        }
    }
    for (size_t i = 0; i < count; i++)
        v[i].seq = i;
    qsort(v, count, sizeof(*v), by_key);
    *n = count;
    return v;
}

static void items_free(struct item *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].key);
    free(v);
}

static struct json_object *list(struct mcp_call *mc, enum list_kind k)
{
    const char *cursor = js_str(mc->msg->params, "cursor");
    struct json_object *arr, *r;
    const struct cat_snapshot *c;
    struct item *v;
    char why[256], after[CURSOR_MAX] = "", next[CURSOR_MAX * 2];
    size_t n, start = 0, shown = 0, last = 0, limit = (size_t)mc->app->cfg.mcp_page_size;
    bool more = false;

    if (cursor != NULL && cat_cursor_decode(cursor, kinds[k].cursor, after, sizeof(after)) != 0)
        return jr_error(mc->msg->id, JR_INVALID_PARAMS, "Invalid cursor", NULL);
    if (cat_current(mc->app, &c, why, sizeof(why)) != CAT_OK) {
        log_warn("catalog_unavailable", "%s: %s", kinds[k].method, why);
        return jr_error(mc->msg->id, JR_INTERNAL_ERROR, "The catalog is not available now", NULL);
    }
    if ((v = collect(mc, c, k, &n)) == NULL)
        return jr_error(mc->msg->id, JR_INTERNAL_ERROR, "Out of memory", NULL);
    if (cursor != NULL)
        while (start < n && strcmp(v[start].key, after) <= 0)
            start++;
    arr = json_object_new_array();
    for (size_t i = start; i < n; i++) {
        /* Equal keys: the first server's item only (sorted, so adjacent). */
        if (i > 0 && strcmp(v[i].key, v[i - 1].key) == 0) {
            if (v[i].sv != NULL && v[i - 1].sv != NULL)
                collision(c->version, v[i].key, v[i - 1].sv, v[i].sv);
            continue;
        }
        if (shown == limit) {
            more = true;
            break;
        }
        json_object_array_add(arr, v[i].sv == NULL ? tool_json(&builtins[v[i].builtin])
                                                   : item_json(&v[i], k));
        shown++;
        last = i;
    }
    r = json_object_new_object();
    json_object_object_add(r, kinds[k].field, arr);
    /* The cursor names the last item shown: the next page starts after it
     * even when the catalog changed in between. */
    if (more && cat_cursor_encode(kinds[k].cursor, v[last].key, next, sizeof(next)) == 0)
        json_object_object_add(r, "nextCursor", json_object_new_string(next));
    items_free(v, n);
    return jr_result(mc->msg->id, r);
}

static struct json_object *builtin_call(struct mcp_call *mc)
{
    const char *name = js_str(mc->msg->params, "name");
    struct json_object *args = js_get(mc->msg->params, "arguments", json_type_object), *out = NULL, *r,
                       *content, *text;
    char err[256];

    if (name == NULL)
        return jr_error(mc->msg->id, JR_INVALID_PARAMS, "tools/call needs params.name", NULL);
    for (size_t i = 0; i < GW_ARRAY_LEN(builtins); i++) {
        const struct builtin_tool *t = &builtins[i];

        /* A tool the caller may not use does not exist for it. */
        if (strcmp(t->name, name) != 0 || !auth_has_role(mc->who, t->role))
            continue;
        r = json_object_new_object();
        content = json_object_new_array();
        text = json_object_new_object();
        json_object_object_add(text, "type", json_object_new_string("text"));
        if (t->run(mc, args, &out, err, sizeof(err)) != 0) {
            json_object_object_add(text, "text", json_object_new_string(err));
            json_object_array_add(content, text);
            json_object_object_add(r, "content", content);
            json_object_object_add(r, "isError", json_object_new_boolean(1));
            return jr_result(mc->msg->id, r);
        }
        json_object_object_add(text, "text",
                               json_object_new_string(json_object_to_json_string_ext(
                                   out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
        json_object_array_add(content, text);
        json_object_object_add(r, "content", content);
        json_object_object_add(r, "structuredContent", out);
        json_object_object_add(r, "isError", json_object_new_boolean(0));
        return jr_result(mc->msg->id, r);
    }
    return jr_error(mc->msg->id, JR_INVALID_PARAMS, "Unknown tool", json_object_new_string(name));
}

/* Every tools/call is audited, whatever its answer: one spool record. */
static void audit_call(struct mcp_call *mc, struct json_object *answer, int64_t started_ms)
{
    struct json_object *error = js_get(answer, "error", json_type_object),
                       *result = js_get(answer, "result", json_type_object), *is_error;
    struct audit_tool_call rec = {
        .user_id = mc->who->user_id,
        .tenant_id = mc->who->tenant_id,
        .session_id = mc->session != NULL ? mc->session->id : NULL,
        .server_name = "gateway",
        .server_id = "gateway",
        .tool = js_str(mc->msg->params, "name"),
        .outcome = AUDIT_CALL_OK,
        .duration_ms = gw_monotonic_ms() - started_ms,
        .request_id = mc->request_id,
        .jsonrpc_id = mc->msg->id,
        .arguments = js_get(mc->msg->params, "arguments", json_type_object),
    };

    if (error != NULL) {
        struct json_object *code = js_get(error, "code", json_type_int);

        rec.outcome = AUDIT_CALL_ERROR;
        rec.error_code = code != NULL ? json_object_get_int(code) : JR_INTERNAL_ERROR;
    } else if (result != NULL && json_object_object_get_ex(result, "isError", &is_error) &&
               json_object_get_boolean(is_error)) {
        rec.outcome = AUDIT_CALL_TOOL_ERROR;
    }
    audit_spool_tool_call(mc->app, &rec);
}

static struct json_object *tools_call(struct mcp_call *mc)
{
    int64_t started = gw_monotonic_ms();
    struct json_object *r = builtin_call(mc);

    audit_call(mc, r, started);
    return r;
}

struct json_object *mcp_dispatch(struct mcp_call *mc)
{
    const char *m = mc->msg->method;

    if (strcmp(m, "ping") == 0)
        return jr_result(mc->msg->id, json_object_new_object());
    for (size_t k = 0; k < GW_ARRAY_LEN(kinds); k++)
        if (strcmp(m, kinds[k].method) == 0)
            return list(mc, (enum list_kind)k);
    if (strcmp(m, "tools/call") == 0)
        return tools_call(mc);
    /* Upstream prompts and resources were routed before this (mcp/proxy.c):
     * what reaches here is known to no server the caller may use. */
    if (strcmp(m, "prompts/get") == 0)
        return jr_error(mc->msg->id, JR_INVALID_PARAMS, "Unknown prompt",
                        json_object_new_string(js_str(mc->msg->params, "name") ?: ""));
    if (strcmp(m, "resources/read") == 0)
        return jr_error(mc->msg->id, -32002, "Resource not found",
                        json_object_new_string(js_str(mc->msg->params, "uri") ?: ""));
    return jr_error(mc->msg->id, JR_METHOD_NOT_FOUND, "Method not found", json_object_new_string(m));
}
