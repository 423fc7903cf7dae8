/* JSON helpers: strict, depth-limited parsing of what clients and upstreams
 * send, and look-ups that treat a member of the wrong type as absent. */
#include "js.h"

#include <string.h>

static int only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

struct json_object *js_parse(const char *text, size_t len, int depth, enum js_parse_error *err)
{
    struct json_tokener *tok;
    struct json_object *v;
    enum json_tokener_error te;
    size_t end;

    *err = JS_SYNTAX;
    if (text == NULL || len > (size_t)INT32_MAX)
        return NULL;
    tok = json_tokener_new_ex(depth);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    v = json_tokener_parse_ex(tok, text, (int)len);
    te = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (te == json_tokener_continue && v == NULL) {
        /* All of the text was taken and the value may be complete but
         * undelimited (a bare number): a space ends it; an unfinished
         * object stays "continue", a syntax error. */
        v = json_tokener_parse_ex(tok, " ", 1);
        te = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (te == json_tokener_error_depth) {
        json_object_put(v);
        *err = JS_TOO_DEEP;
        return NULL;
    }
    if (te != json_tokener_success) {
        json_object_put(v);
        return NULL;
    }
    if (!only_space(text + end, len - end)) {
        json_object_put(v);
        *err = JS_TRAILING;
        return NULL;
    }
    *err = JS_OK;
    return v;
}

struct json_object *js_get(struct json_object *o, const char *key, enum json_type t)
{
    struct json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) || v == NULL || !json_object_is_type(v, t))
        return NULL;
    return v;
}

const char *js_str(struct json_object *o, const char *key)
{
    struct json_object *v = js_get(o, key, json_type_string);

    return v != NULL ? json_object_get_string(v) : NULL;
}

bool js_has_nul(struct json_object *o)
{
    if (json_object_is_type(o, json_type_string))
        return strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o);
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (js_has_nul(json_object_array_get_idx(o, i)))
                return true;
        return false;
    }
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (js_has_nul(v))
                return true;
        }
    }
    return false;
}
