/* The sealed requestState of multi-round-trip input: HMAC-SHA256 under
 * security.input_state_key_file over a small JSON payload bound to the caller. */
#include "mcp/mrtr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "auth_jwt.h"
#include "fleet_key.h"
#include "js.h"
#include "util.h"

#define PREFIX "g1."
#define PAYLOAD_MAX 6000        /* bytes of the JSON inside a handle */
#define DOMAIN "mcp-gateway input state v1" /* keeps these MACs apart from any other use of the key */

const char *mrtr_status_text(enum mrtr_status st)
{
    switch (st) {
    case MRTR_OK: return "is valid";
    case MRTR_NO_KEY: return "cannot be used: the gateway has no input state key";
    case MRTR_MALFORMED: return "is not one the gateway issued";
    case MRTR_TAMPERED: return "was altered";
    case MRTR_EXPIRED: return "has expired";
    case MRTR_FOREIGN: return "belongs to another caller";
    case MRTR_MISMATCH: return "was issued for another request";
    }
    return "is invalid";
}

static int mac_of(const unsigned char *key, size_t keylen, const void *payload, size_t len,
                  unsigned char out[FLEET_MAC_LEN])
{
    struct fleet_part parts[] = { { DOMAIN, sizeof(DOMAIN) - 1 }, { payload, len } };

    return fleet_mac(key, keylen, parts, GW_ARRAY_LEN(parts), out);
}

int mrtr_seal(const unsigned char *key, size_t keylen, const struct gw_identity *who,
              const struct mrtr_state *s, char *out, size_t n)
{
    struct json_object *o;
    const char *payload;
    unsigned char mac[FLEET_MAC_LEN];
    size_t plen, used;
    long w;
    int rc = -1;

    if (keylen == 0 || n < sizeof(PREFIX))
        return -1;
    o = json_object_new_object();
    json_object_object_add(o, "u", json_object_new_string(who->user_id));
    json_object_object_add(o, "t", json_object_new_string(who->tenant_id));
    json_object_object_add(o, "s", json_object_new_string(s->server_id));
    json_object_object_add(o, "m", json_object_new_string(s->method));
    json_object_object_add(o, "n", json_object_new_string(s->target));
    json_object_object_add(o, "r", json_object_new_string(s->upstream_state));
    json_object_object_add(o, "p", json_object_new_string(s->pending));
    json_object_object_add(o, "e", json_object_new_int64(s->exp));
    payload = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    plen = strlen(payload);
    if (plen > PAYLOAD_MAX || mac_of(key, keylen, payload, plen, mac) != 0)
        goto out;
    memcpy(out, PREFIX, sizeof(PREFIX) - 1);
    used = sizeof(PREFIX) - 1;
    w = authjwt_b64url_encode((const unsigned char *)payload, plen, out + used, n - used);
    if (w < 0 || used + (size_t)w + 2 >= n)
        goto out;
    used += (size_t)w;
    out[used++] = '.';
    w = authjwt_b64url_encode(mac, sizeof(mac), out + used, n - used);
    if (w < 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        out[0] = '\0';
    json_object_put(o);
    return rc;
}

/* A string member of at most n - 1 bytes into dst; false otherwise. */
static bool take(struct json_object *o, const char *k, char *dst, size_t n)
{
    struct json_object *v = js_get(o, k, json_type_string);

    if (v == NULL || (size_t)json_object_get_string_len(v) >= n)
        return false;
    memcpy(dst, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
    return strlen(dst) == (size_t)json_object_get_string_len(v); /* no NUL inside */
}

enum mrtr_status mrtr_open(const unsigned char *key, size_t keylen, const struct gw_identity *who,
                           const char *handle, int64_t now, const char *method, const char *target,
                           struct mrtr_state *out)
{
    unsigned char payload[PAYLOAD_MAX], mac[FLEET_MAC_LEN + 4];
    struct fleet_part parts[2];
    const char *body, *dot;
    char user[sizeof(who->user_id)], tenant[sizeof(who->tenant_id)];
    struct json_object *o = NULL, *e;
    enum js_parse_error perr;
    enum mrtr_status st = MRTR_MALFORMED;
    long plen, mlen;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    if (keylen == 0)
        return MRTR_NO_KEY;
    if (handle == NULL || (hlen = strlen(handle)) > MRTR_HANDLE_MAX ||
        strncmp(handle, PREFIX, sizeof(PREFIX) - 1) != 0)
        return MRTR_MALFORMED;
    body = handle + sizeof(PREFIX) - 1;
    if ((dot = strchr(body, '.')) == NULL || strchr(dot + 1, '.') != NULL)
        return MRTR_MALFORMED;
    plen = authjwt_b64url_decode(body, (size_t)(dot - body), payload, PAYLOAD_MAX);
    mlen = authjwt_b64url_decode(dot + 1, strlen(dot + 1), mac, sizeof(mac));
    if (plen <= 0 || mlen != FLEET_MAC_LEN)
        return MRTR_MALFORMED;
    parts[0] = (struct fleet_part){ DOMAIN, sizeof(DOMAIN) - 1 };
    parts[1] = (struct fleet_part){ payload, (size_t)plen };
    if (!fleet_mac_ok(key, keylen, parts, GW_ARRAY_LEN(parts), mac))
        return MRTR_TAMPERED;
    /* Ours from here on; still read as strictly as anything from outside. */
    o = js_parse((const char *)payload, (size_t)plen, 2, &perr);
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !take(o, "u", user, sizeof(user)) || !take(o, "t", tenant, sizeof(tenant)) ||
        !take(o, "s", out->server_id, sizeof(out->server_id)) ||
        !take(o, "m", out->method, sizeof(out->method)) ||
        !take(o, "n", out->target, sizeof(out->target)) ||
        !take(o, "r", out->upstream_state, sizeof(out->upstream_state)) ||
        !take(o, "p", out->pending, sizeof(out->pending)) ||
        (e = js_get(o, "e", json_type_int)) == NULL)
        goto out;
    out->exp = json_object_get_int64(e);
    if (out->exp <= now)
        st = MRTR_EXPIRED;
    else if (strcmp(user, who->user_id) != 0 || strcmp(tenant, who->tenant_id) != 0)
        st = MRTR_FOREIGN;
    else if ((method != NULL && strcmp(method, out->method) != 0) ||
             (target != NULL && strcmp(target, out->target) != 0))
        st = MRTR_MISMATCH;
    else
        st = MRTR_OK;
out:
    if (st != MRTR_OK)
        OPENSSL_cleanse(out, sizeof(*out));
    json_object_put(o);
    OPENSSL_cleanse(payload, sizeof(payload));
    return st;
}
