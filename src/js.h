/* JSON helpers shared by every module: strict parsing of untrusted text with a
 * depth limit, and typed look-ups that never crash on a missing member. */
#ifndef GW_JS_H
#define GW_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

enum js_parse_error { JS_OK = 0, JS_SYNTAX, JS_TOO_DEEP, JS_TRAILING };

/* Parse exactly one JSON value from text[0..len), strictly (no comments, no
 * single quotes), at most depth levels deep, nothing but white space after it.
 * Returns the value (caller puts it), or NULL with *err set; the literal
 * null is NULL with JS_OK. */
struct json_object *js_parse(const char *text, size_t len, int depth, enum js_parse_error *err);

/* The member as a string, or NULL when absent or not a string. */
const char *js_str(struct json_object *o, const char *key);
/* The member of type t, or NULL. */
struct json_object *js_get(struct json_object *o, const char *key, enum json_type t);
/* Whether a string value anywhere in o holds a NUL character, which
 * PostgreSQL's jsonb cannot store. */
bool js_has_nul(struct json_object *o);

#endif
