/* Methods of the aggregated MCP endpoint that the gateway answers itself:
 * the handshake result, ping, and the built-in tools in one table. */
#include "mcp/server.h"

#include <string.h>

#include "app.h"
#include "audit_spool.h"
#include "build-config.h"
#include "health.h"
#include "js.h"
#include "log.h"
#include "util.h"

struct builtin_tool {
    const char *name;
    const char *title;
    const char *description;
    unsigned role;             /* gateway role needed to see and call it */
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

static const struct builtin_tool builtins[] = {
    { "gateway__health_check", "Gateway health",
      "Check every component of the gateway now (PostgreSQL, Redis, both planes, the identity "
      "provider) and report each one's status and latency.",
      ROLE_OPERATOR, "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
      "{\"type\":\"object\",\"required\":[\"overall_status\",\"components\"],\"properties\":{"
      "\"overall_status\":{\"type\":\"string\",\"enum\":[\"healthy\",\"degraded\",\"unhealthy\"]},"
      "\"components\":{\"type\":\"object\"},"
      "\"degraded_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"failed_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"timestamp\":{\"type\":\"string\"}}}",
      run_health_check },
};

struct json_object *mcp_initialize_result(const char *version)
{
    struct json_object *r = json_object_new_object(), *caps = json_object_new_object(),
                       *info = json_object_new_object();

    json_object_object_add(caps, "tools", json_object_new_object());
    json_object_object_add(r, "protocolVersion", json_object_new_string(version));
    json_object_object_add(r, "capabilities", caps);
    json_object_object_add(info, "name", json_object_new_string(PACKAGE_NAME));
    json_object_object_add(info, "title", json_object_new_string("MCP registry gateway"));
    json_object_object_add(info, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(r, "serverInfo", info);
    json_object_object_add(r, "instructions",
                           json_object_new_string("Tools of every upstream MCP server you may use, "
                                                  "named {server}__{tool}, plus gateway__* tools."));
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
    json_object_object_add(ann, "readOnlyHint", json_object_new_boolean(1));
    json_object_object_add(o, "annotations", ann);
    return o;
}

static struct json_object *tools_list(struct mcp_call *mc)
{
    struct json_object *tools = json_object_new_array(), *r = json_object_new_object();

    for (size_t i = 0; i < GW_ARRAY_LEN(builtins); i++)
        if (auth_has_role(mc->who, builtins[i].role))
            json_object_array_add(tools, tool_json(&builtins[i]));
    json_object_object_add(r, "tools", tools);
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
    if (strcmp(m, "tools/list") == 0)
        return tools_list(mc);
    if (strcmp(m, "tools/call") == 0)
        return tools_call(mc);
    /* We declare no prompts or resources capability, so these are not
     * methods of ours (a client should not ask). */
    return jr_error(mc->msg->id, JR_METHOD_NOT_FOUND, "Method not found", json_object_new_string(m));
}
