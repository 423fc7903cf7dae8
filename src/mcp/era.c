/* The era of each MCP POST and the 2026-07-28 request-metadata rules: the
 * headers a load balancer may route on must say what the body says. */
#include "mcp/era.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth_jwt.h"
#include "js.h"
#include "mcp/transport.h"
#include "util.h"

#define NAME_MAX_LEN 2048

static const char *const all_versions[] = { MCP_VERSION_STATELESS, "2025-11-25", "2025-06-18",
                                            "2025-03-26" };

const char *const *mce_versions(size_t *n)
{
    *n = GW_ARRAY_LEN(all_versions);
    return all_versions;
}

bool mce_version_stateless(const char *v)
{
    return v != NULL && strcmp(v, MCP_VERSION_STATELESS) == 0;
}

static void refuse(struct mce_verdict *v, int status, int code, const char *fmt, const char *arg)
{
    v->era = MCE_REFUSED;
    v->status = status;
    v->code = code;
    snprintf(v->message, sizeof(v->message), fmt, arg != NULL ? arg : "");
}

static void unsupported(struct mce_verdict *v, const char *requested)
{
    refuse(v, 400, MCE_UNSUPPORTED_VERSION, "Unsupported protocol version: %.80s", requested);
    gw_strlcpy(v->requested, requested, sizeof(v->requested));
}

/* Visible ASCII and spaces only (RFC 9110 field values, no tabs kept). */
static bool header_safe(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

int mce_header_value(const char *raw, char *out, size_t n)
{
    char buf[NAME_MAX_LEN * 2], *v;
    size_t len;

    for (const char *p = raw; *p != '\0'; p++)
        if (*p == '\t')
            return -1;
    if (!header_safe(raw) || gw_strlcpy(buf, raw, sizeof(buf)) != 0)
        return -1;
    v = gw_trim(buf);
    len = strlen(v);
    if (len >= 11 && strncmp(v, "=?base64?", 9) == 0 && strcmp(v + len - 2, "?=") == 0) {
        char url[NAME_MAX_LEN * 2];
        size_t b = 0, in = len - 11, pad = 0;
        long dl;

        /* Standard base64 with its padding, read as the strict base64url
         * decoder reads it. */
        while (pad < 2 && in > 0 && v[9 + in - 1] == '=') {
            in--;
            pad++;
        }
        if ((in + pad) % 4 != 0)
            return -1;
        for (size_t i = 0; i < in; i++) {
            char ch = v[9 + i];

            if (ch == '-' || ch == '_')
                return -1;
            url[b++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
        }
        url[b] = '\0';
        dl = authjwt_b64url_decode(url, b, (unsigned char *)out, n - 1);
        if (dl < 0 || (pad > 0 && (b + pad) % 4 != 0) || memchr(out, '\0', (size_t)dl) != NULL)
            return -1;
        out[dl] = '\0';
        return 0;
    }
    return gw_strlcpy(out, v, n);
}

/* The body value Mcp-Name mirrors, for the methods that need one. */
static const char *name_source(const struct jr_msg *m, bool *needed)
{
    static const struct {
        const char *method, *field;
    } named[] = {
        { "tools/call", "name" }, { "prompts/get", "name" }, { "resources/read", "uri" },
    };

    *needed = false;
    for (size_t i = 0; m->method != NULL && i < GW_ARRAY_LEN(named); i++)
        if (strcmp(m->method, named[i].method) == 0) {
            *needed = true;
            return js_str(m->params, named[i].field);
        }
    return NULL;
}

static void check_stateless(const struct mce_headers *h, const struct jr_msg *m, struct json_object *meta,
                            struct mce_verdict *v)
{
    struct json_object *mv = NULL;
    const char *body_name;
    char name[NAME_MAX_LEN];
    bool needed;

    if (m->kind == JR_RESPONSE) {
        refuse(v, 400, JR_INVALID_REQUEST, "Bad Request: a client sends no JSON-RPC responses in %s",
               MCP_VERSION_STATELESS);
        return;
    }
    if (h->version == NULL) {
        refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: MCP-Protocol-Version header is required%s", NULL);
        return;
    }
    if (meta != NULL)
        json_object_object_get_ex(meta, MCE_META_VERSION, &mv);
    if (m->kind == JR_REQUEST && (meta == NULL || mv == NULL)) {
        refuse(v, 400, JR_INVALID_PARAMS, "Invalid params: _meta must carry %s", MCE_META_VERSION);
        return;
    }
    if (mv != NULL && (!json_object_is_type(mv, json_type_string) ||
                       strcmp(json_object_get_string(mv), h->version) != 0)) {
        refuse(v, 400, MCE_HEADER_MISMATCH,
               "Header mismatch: MCP-Protocol-Version header value '%.80s' does not match _meta", h->version);
        return;
    }
    if (!mce_version_stateless(h->version)) {
        unsupported(v, h->version);
        return;
    }
    if (m->kind == JR_REQUEST && !json_object_is_type(js_get(meta, MCE_META_CAPS, json_type_object),
                                                      json_type_object)) {
        refuse(v, 400, JR_INVALID_PARAMS, "Invalid params: _meta must carry %s (an object)", MCE_META_CAPS);
        return;
    }
    if (h->method == NULL) {
        refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: Mcp-Method header is required%s", NULL);
        return;
    }
    if (mce_header_value(h->method, name, sizeof(name)) != 0 || strcmp(name, m->method) != 0) {
        refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: Mcp-Method header does not match body method "
               "'%.80s'", m->method);
        return;
    }
    body_name = name_source(m, &needed);
    if (needed && body_name != NULL) {
        if (h->name == NULL) {
            refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: Mcp-Name header is required for %s",
                   m->method);
            return;
        }
        if (mce_header_value(h->name, name, sizeof(name)) != 0 || strcmp(name, body_name) != 0) {
            refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: Mcp-Name header does not match body "
                   "value '%.80s'", body_name);
            return;
        }
    }
    v->era = MCE_STATELESS;
}

void mce_classify(const struct mce_headers *h, const struct jr_msg *m, struct mce_verdict *v)
{
    struct json_object *meta = js_get(m->params, "_meta", json_type_object), *mv = NULL;

    memset(v, 0, sizeof(*v));
    /* An initialize of the session era names the new era nowhere; one that
     * does is a stateless request for a method that revision removed. */
    if (meta != NULL)
        json_object_object_get_ex(meta, MCE_META_VERSION, &mv);
    if (mv != NULL || mce_version_stateless(h->version)) {
        check_stateless(h, m, meta, v);
        return;
    }
    if (h->version != NULL && !mt_version_supported(h->version)) {
        unsupported(v, h->version);
        return;
    }
    v->era = MCE_SESSION;
}

#define PARAM_DEPTH 8        /* nesting of "properties" followed, at most */
#define PARAM_NAME_MAX 64    /* an x-mcp-header name, at most */
#define PARAM_VALUE_MAX 1024 /* an Mcp-Param-* value we send, encoded, at most (with its NUL) */

/* RFC 9110 tchar. */
static bool token_name(const char *s)
{
    if (*s == '\0' || strlen(s) > PARAM_NAME_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              strchr("!#$%&'*+-.^_`|~", *s) != NULL))
            return false;
    return true;
}

/* Does the decoded header say what the argument says? */
static bool same_value(const char *h, struct json_object *val)
{
    char *end;
    double d;

    switch (json_object_get_type(val)) {
    case json_type_string:
        return strcmp(h, json_object_get_string(val)) == 0;
    case json_type_boolean:
        return strcmp(h, json_object_get_boolean(val) ? "true" : "false") == 0;
    case json_type_int:
    case json_type_double:
        d = strtod(h, &end);
        return end != h && *end == '\0' && isfinite(d) && d == json_object_get_double(val);
    default:
        return false;
    }
}

/* The Mcp-Param-{Name} header property sub (argument key) asks for, into
 * name: 1, 0 when it asks for none, -1 refused with code when its name is
 * not a header name. */
static int param_name(struct json_object *sub, const char *key, int code, char *name, size_t n,
                      struct mce_verdict *v)
{
    struct json_object *hn;

    if (!json_object_object_get_ex(sub, "x-mcp-header", &hn))
        return 0;
    if (!json_object_is_type(hn, json_type_string) || !token_name(json_object_get_string(hn))) {
        refuse(v, 400, code, "%s", NULL);
        snprintf(v->message, sizeof(v->message), "%s: the tool's x-mcp-header for '%.60s' is not a valid "
                 "header name", code == MCE_HEADER_MISMATCH ? "Header mismatch" : "Invalid params", key);
        return -1;
    }
    snprintf(name, n, "Mcp-Param-%s", json_object_get_string(hn));
    return 1;
}

static int check_props(struct json_object *schema, struct json_object *args, int depth, mce_header_fn lookup,
                       void *arg, struct mce_verdict *v)
{
    struct json_object *props = js_get(schema, "properties", json_type_object);
    char name[PARAM_NAME_MAX + 16], value[NAME_MAX_LEN];

    if (props == NULL || depth > PARAM_DEPTH)
        return 0;
    json_object_object_foreach(props, key, sub) {
        struct json_object *val = NULL;
        const char *h;
        int named;

        if (args != NULL)
            json_object_object_get_ex(args, key, &val);
        if ((named = param_name(sub, key, MCE_HEADER_MISMATCH, name, sizeof(name), v)) < 0)
            return -1;
        if (named) {
            h = lookup(arg, name);
            if (h != NULL && mce_header_value(h, value, sizeof(value)) != 0) {
                refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: %.80s holds characters or base64 that "
                       "are not allowed", name);
                return -1;
            }
            if (val != NULL && !json_object_is_type(val, json_type_null)) {
                if (h == NULL) {
                    refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: %.80s header is required", name);
                    return -1;
                }
                if (!same_value(value, val)) {
                    refuse(v, 400, MCE_HEADER_MISMATCH, "Header mismatch: %.80s does not match the argument",
                           name);
                    return -1;
                }
            }
        }
        if (json_object_is_type(val, json_type_object) &&
            check_props(sub, val, depth + 1, lookup, arg, v) != 0)
            return -1;
    }
    return 0;
}

int mce_check_params(struct json_object *input_schema, struct json_object *arguments, mce_header_fn lookup,
                     void *arg, struct mce_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->era = MCE_STATELESS;
    return check_props(input_schema, arguments, 0, lookup, arg, v);
}

int mce_header_encode(const char *t, char *out, size_t n)
{
    size_t len = strlen(t);
    bool plain = len > 0 && t[0] != ' ' && t[len - 1] != ' ' && strncmp(t, "=?base64?", 9) != 0;

    for (size_t i = 0; plain && i < len; i++)
        plain = (unsigned char)t[i] >= 0x20 && (unsigned char)t[i] < 0x7f;
    if (plain)
        return gw_strlcpy(out, t, n);
    if (n < 12 || (len + 2) / 3 * 4 > n - 12)
        return -1;
    memcpy(out, "=?base64?", 9);
    len = (size_t)EVP_EncodeBlock((unsigned char *)out + 9, (const unsigned char *)t, (int)len);
    memcpy(out + 9 + len, "?=", 3);
    return 0;
}

/* The header value of an argument; false when val is not a scalar or its
 * header would not fit n. */
static bool param_value(struct json_object *val, char *out, size_t n)
{
    switch (json_object_get_type(val)) {
    case json_type_boolean:
    case json_type_int:
    case json_type_double:
    case json_type_string:
        return mce_header_encode(json_object_get_string(val), out, n) == 0;
    default:
        return false;
    }
}

static int build_props(struct json_object *schema, struct json_object *args, int depth, struct json_object *out,
                       struct mce_verdict *v)
{
    struct json_object *props = js_get(schema, "properties", json_type_object);
    char name[PARAM_NAME_MAX + 16], value[PARAM_VALUE_MAX];

    if (props == NULL || args == NULL || depth > PARAM_DEPTH)
        return 0;
    json_object_object_foreach(props, key, sub) {
        struct json_object *val = NULL;
        int named;

        if (!json_object_object_get_ex(args, key, &val) || val == NULL)
            continue;
        if ((named = param_name(sub, key, JR_INVALID_PARAMS, name, sizeof(name), v)) < 0)
            return -1;
        if (named) {
            if (!param_value(val, value, sizeof(value))) {
                refuse(v, 400, JR_INVALID_PARAMS, "%s", NULL);
                snprintf(v->message, sizeof(v->message), "Invalid params: argument '%.60s' cannot be sent in "
                         "its %.80s header: not a string, number or boolean, or longer than %d bytes once "
                         "encoded", key, name, PARAM_VALUE_MAX - 1);
                return -1;
            }
            json_object_object_add(out, name, json_object_new_string(value));
        }
        if (json_object_is_type(val, json_type_object) && build_props(sub, val, depth + 1, out, v) != 0)
            return -1;
    }
    return 0;
}

int mce_param_headers(struct json_object *input_schema, struct json_object *arguments, struct json_object **out,
                      struct mce_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->era = MCE_STATELESS;
    *out = json_object_new_object();
    if (build_props(input_schema, arguments, 0, *out, v) != 0 || json_object_object_length(*out) == 0) {
        json_object_put(*out);
        *out = NULL;
    }
    return v->era == MCE_REFUSED ? -1 : 0;
}
