/* JSON-RPC 2.0 messages: strict parsing and classification of what a client
 * posts, and the envelopes of results and errors. */
#include "mcp/jsonrpc.h"

#include <string.h>

#include "js.h"
#include "util.h"

static int bad(struct jr_msg *m, int code, char *why, size_t n, const char *reason)
{
    json_object_put(m->root);
    memset(m, 0, sizeof(*m));
    gw_strlcpy(why, reason, n);
    return code;
}

/* An id is a string or an integer; MCP forbids null ids on requests. */
static int id_valid(struct json_object *id)
{
    return id != NULL && (json_object_is_type(id, json_type_string) ||
                          json_object_is_type(id, json_type_int));
}

int jr_parse(const char *body, size_t len, int depth, struct jr_msg *m, char *why, size_t n)
{
    enum js_parse_error pe;
    struct json_object *v, *id = NULL, *method, *params = NULL;
    int has_result, has_error;

    memset(m, 0, sizeof(*m));
    m->root = js_parse(body, len, depth, &pe);
    if (m->root == NULL && pe == JS_OK)
        return bad(m, JR_INVALID_REQUEST, why, n, "a JSON-RPC message is a JSON object");
    if (m->root == NULL)
        return bad(m, JR_PARSE_ERROR, why, n,
                   pe == JS_TOO_DEEP ? "the JSON is nested too deeply" : "the body is not valid JSON");
    if (json_object_is_type(m->root, json_type_array))
        return bad(m, JR_INVALID_REQUEST, why, n,
                   "batches are not supported: send one JSON-RPC message per request");
    if (!json_object_is_type(m->root, json_type_object))
        return bad(m, JR_INVALID_REQUEST, why, n, "a JSON-RPC message is a JSON object");
    v = js_get(m->root, "jsonrpc", json_type_string);
    if (v == NULL || strcmp(json_object_get_string(v), "2.0") != 0)
        return bad(m, JR_INVALID_REQUEST, why, n, "\"jsonrpc\" must be \"2.0\"");
    json_object_object_get_ex(m->root, "id", &id);
    if (json_object_object_get_ex(m->root, "method", &method)) {
        if (method == NULL || !json_object_is_type(method, json_type_string) ||
            json_object_get_string_len(method) == 0)
            return bad(m, JR_INVALID_REQUEST, why, n, "\"method\" must be a non-empty string");
        if (json_object_object_get_ex(m->root, "params", &params) &&
            (params == NULL || !json_object_is_type(params, json_type_object)))
            return bad(m, JR_INVALID_REQUEST, why, n, "\"params\" must be an object");
        if (json_object_object_get_ex(m->root, "result", NULL) ||
            json_object_object_get_ex(m->root, "error", NULL))
            return bad(m, JR_INVALID_REQUEST, why, n, "a request cannot carry a result or an error");
        if (json_object_object_get_ex(m->root, "id", NULL)) {
            if (!id_valid(id))
                return bad(m, JR_INVALID_REQUEST, why, n, "\"id\" must be a string or an integer");
            m->kind = JR_REQUEST;
            m->id = id;
        } else {
            m->kind = JR_NOTIFICATION;
        }
        m->method = json_object_get_string(method);
        m->params = params;
        return 0;
    }
    has_result = json_object_object_get_ex(m->root, "result", NULL);
    has_error = json_object_object_get_ex(m->root, "error", NULL);
    if (has_result == has_error)
        return bad(m, JR_INVALID_REQUEST, why, n,
                   "a message needs a \"method\", or exactly one of \"result\" and \"error\"");
    if (!id_valid(id))
        return bad(m, JR_INVALID_REQUEST, why, n, "a response needs the string or integer id it answers");
    if (has_error) {
        struct json_object *e = js_get(m->root, "error", json_type_object);

        if (e == NULL || js_get(e, "code", json_type_int) == NULL ||
            js_get(e, "message", json_type_string) == NULL)
            return bad(m, JR_INVALID_REQUEST, why, n, "\"error\" needs an integer code and a message");
    }
    m->kind = JR_RESPONSE;
    m->id = id;
    return 0;
}

void jr_msg_free(struct jr_msg *m)
{
    json_object_put(m->root);
    memset(m, 0, sizeof(*m));
}

static struct json_object *envelope(struct json_object *id)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(o, "id", id != NULL ? json_object_get(id) : NULL);
    return o;
}

struct json_object *jr_result(struct json_object *id, struct json_object *result)
{
    struct json_object *o = envelope(id);

    json_object_object_add(o, "result", result != NULL ? result : json_object_new_object());
    return o;
}

struct json_object *jr_error(struct json_object *id, int code, const char *message,
                             struct json_object *data)
{
    struct json_object *o = envelope(id), *e = json_object_new_object();

    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    if (data != NULL)
        json_object_object_add(e, "data", data);
    json_object_object_add(o, "error", e);
    return o;
}

bool jr_id_equal(struct json_object *a, struct json_object *b)
{
    if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int))
        return json_object_get_int64(a) == json_object_get_int64(b);
    return json_object_is_type(a, json_type_string) && json_object_is_type(b, json_type_string) &&
           strcmp(json_object_get_string(a), json_object_get_string(b)) == 0;
}
