/* The catalog in Redis and in each responder.
 *
 * Redis holds, under the key prefix:
 *   cat:version      the version, a decimal counter (bumped on every change)
 *   cat:index        "cat1 " MAC "\n" {"version": V, "servers": [{"id", "mac"}]}
 *   cat:server:{id}  "cat1 " MAC "\n" the entry (JSON written from PostgreSQL)
 *   cat:lock         held while one responder rewrites the catalog
 * Every MAC is HMAC-SHA256 under the fleet key (src/fleet_key.c); the index
 * lists each entry's MAC, so an entry only counts when the index names it
 * with exactly that content: a Redis writer can neither add a server, nor
 * alter or re-point one, nor bring back an older copy of it. Anything that
 * does not check out is logged and the catalog is rebuilt from PostgreSQL.
 * Without a fleet key nothing in Redis is trusted: only the version is kept
 * there (it can only cause a reload) and entries are read from PostgreSQL.
 *
 * A responder keeps the last snapshot it loaded with its version, so a warm
 * read is one GET of cat:version. */
#include "mcp/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "auth_jwt.h"
#include "fleet_key.h"
#include "js.h"
#include "log.h"
#include "metrics.h"
#include "mcp/session.h"
#include "mcp/stream.h"
#include "registry.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

#define KEY_MAX 256
#define MAGIC "cat1 "
#define LOCK_MS 15000            /* a rebuild that takes longer loses the lock */
#define LOCK_WAIT_MS 3000        /* how long a reader waits for another's rebuild */
#define ENTRY_MAX (8 * 1024 * 1024)
#define ENTRY_DEPTH 256          /* upstream schemas nest; bounded by limits.json_depth at discovery */
#define NOTIFY_SESSIONS_MAX 10000
#define NOTIFY_BATCH 200         /* session look-ups per round trip */

static const char entry_label[] = "mcp-registry-gateway catalog entry v1";
static const char index_label[] = "mcp-registry-gateway catalog index v1";

struct cat_state {
    pid_t pid;
    bool have;                   /* snap holds a loaded catalog */
    bool uncached;               /* snap came from PostgreSQL with Redis down: reload next time */
    uint64_t max_seen;           /* highest version trusted: an older one is a replay */
    struct cat_snapshot snap;
    /* The version read with the session in this request (cat_version_seen):
     * valid while app->requests is hint_request and hint_set. */
    bool hint_set;
    unsigned long hint_request;
    uint64_t hint;
};

/* ---- entries ------------------------------------------------------------- */

void cat_server_clear(struct cat_server *s)
{
    json_object_put(s->entry);
    if (s->auth_obj != NULL)
        json_object_put(s->auth_obj);
    memset(s, 0, sizeof(*s));
}

static int copy_str(struct json_object *o, const char *key, bool nullable, char *dst, size_t n,
                    char *why, size_t wn)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || v == NULL) {
        if (nullable) {
            dst[0] = '\0';
            return 0;
        }
        gw_snprintf(why, wn, "entry has no %s", key);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string) || gw_strlcpy(dst, json_object_get_string(v), n) != 0) {
        gw_snprintf(why, wn, "entry %s is not a string of at most %zu bytes", key, n - 1);
        return -1;
    }
    return 0;
}

static int want_type(struct json_object *o, const char *key, json_type t, struct json_object **out,
                     char *why, size_t n)
{
    if (!json_object_object_get_ex(o, key, out) || !json_object_is_type(*out, t)) {
        gw_snprintf(why, n, "entry %s is not %s", key, t == json_type_array ? "an array" : "an object");
        return -1;
    }
    return 0;
}

static int want_int(struct json_object *o, const char *key, int *out, char *why, size_t n)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) <= 0 || json_object_get_int64(v) > 86400000) {
        gw_snprintf(why, n, "entry %s is not a positive integer", key);
        return -1;
    }
    *out = (int)json_object_get_int64(v);
    return 0;
}

/* Every element an object with a string key (name or uri). */
static int items_ok(struct json_object *a, const char *key, const char *what, char *why, size_t n)
{
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *it = json_object_array_get_idx(a, i), *k;

        if (!json_object_is_type(it, json_type_object) || !json_object_object_get_ex(it, key, &k) ||
            !json_object_is_type(k, json_type_string)) {
            gw_snprintf(why, n, "entry %s[%zu] has no string %s", what, i, key);
            return -1;
        }
    }
    return 0;
}

static int strings_ok(struct json_object *a, const char *what, char *why, size_t n)
{
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string)) {
            gw_snprintf(why, n, "entry %s[%zu] is not a string", what, i);
            return -1;
        }
    return 0;
}

int cat_entry_parse(const char *json, size_t len, struct cat_server *out, char *why, size_t n)
{
    struct json_tokener *tok;
    struct json_object *o, *v;
    char auth_type[32];

    memset(out, 0, sizeof(*out));
    if (len > ENTRY_MAX || (tok = json_tokener_new_ex(ENTRY_DEPTH)) == NULL) {
        gw_snprintf(why, n, "entry too large");
        return -1;
    }
    o = json_tokener_parse_ex(tok, json, (int)len);
    if (o != NULL && json_tokener_get_parse_end(tok) != len) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        gw_snprintf(why, n, "entry is not a JSON object");
        return -1;
    }
    out->entry = o;
    if (copy_str(o, "id", false, out->id, sizeof(out->id), why, n) != 0 ||
        copy_str(o, "name", false, out->name, sizeof(out->name), why, n) != 0 ||
        copy_str(o, "tenant_id", true, out->tenant_id, sizeof(out->tenant_id), why, n) != 0 ||
        copy_str(o, "url", false, out->url, sizeof(out->url), why, n) != 0 ||
        copy_str(o, "status", false, out->status, sizeof(out->status), why, n) != 0 ||
        copy_str(o, "protocol_version", true, out->protocol_version, sizeof(out->protocol_version),
                 why, n) != 0 ||
        copy_str(o, "auth_type", false, auth_type, sizeof(auth_type), why, n) != 0 ||
        want_int(o, "timeout_ms", &out->timeout_ms, why, n) != 0 ||
        want_int(o, "max_concurrency", &out->max_concurrency, why, n) != 0 ||
        want_type(o, "required_roles", json_type_array, &out->required_roles, why, n) != 0 ||
        want_type(o, "tags", json_type_array, &out->tags, why, n) != 0 ||
        want_type(o, "server_info", json_type_object, &out->server_info, why, n) != 0 ||
        want_type(o, "capabilities", json_type_object, &out->capabilities, why, n) != 0 ||
        want_type(o, "tools", json_type_array, &out->tools, why, n) != 0 ||
        want_type(o, "prompts", json_type_array, &out->prompts, why, n) != 0 ||
        want_type(o, "resources", json_type_array, &out->resources, why, n) != 0 ||
        want_type(o, "resource_templates", json_type_array, &out->resource_templates, why, n) != 0 ||
        strings_ok(out->required_roles, "required_roles", why, n) != 0 ||
        strings_ok(out->tags, "tags", why, n) != 0 ||
        items_ok(out->tools, "name", "tools", why, n) != 0 ||
        items_ok(out->prompts, "name", "prompts", why, n) != 0 ||
        items_ok(out->resources, "uri", "resources", why, n) != 0 ||
        items_ok(out->resource_templates, "uriTemplate", "resource_templates", why, n) != 0)
        goto bad;
    if (!reg_uuid_valid(out->id) || !reg_name_valid(out->name)) {
        gw_snprintf(why, n, "entry id or name is malformed");
        goto bad;
    }
    if (strcmp(out->status, "active") != 0 && strcmp(out->status, "unhealthy") != 0 &&
        strcmp(out->status, "unreachable") != 0) {
        gw_snprintf(why, n, "entry status is not active, unhealthy or unreachable");
        goto bad;
    }
    if (!json_object_object_get_ex(o, "maintenance", &v) || !json_object_is_type(v, json_type_boolean)) {
        gw_snprintf(why, n, "entry maintenance is not a boolean");
        goto bad;
    }
    out->maintenance = json_object_get_boolean(v);
    out->description = js_str(o, "description");
    if (out->description == NULL)
        out->description = "";
    /* The type string lives in the entry; the secrets are opened later. */
    out->auth.type = js_str(o, "auth_type");
    return 0;
bad:
    cat_server_clear(out);
    return -1;
}

/* Open the sealed credentials the entry carries (as PostgreSQL stores them). */
static void open_creds(struct gw_app *app, struct cat_server *s)
{
    const char *type = s->auth.type;
    enum reg_creds_failure why;

    if (reg_creds_open(app, s->id, type, js_str(s->entry, "auth_secret"),
                       js_str(s->entry, "auth_key_id"), &s->auth_obj, &s->auth, &why) != 0) {
        memset(&s->auth, 0, sizeof(s->auth));
        s->auth.type = type;
        s->auth_unavailable = true;
    }
}

/* ---- sealed values ---------------------------------------------------------- */

static void parts_for(struct fleet_part p[3], const char *label, const char *id, const char *json,
                      size_t len)
{
    p[0] = (struct fleet_part){ label, strlen(label) };
    p[1] = (struct fleet_part){ id, strlen(id) };
    p[2] = (struct fleet_part){ json, len };
}

/* MAGIC MAC "\n" json, malloc'd; mac_hex (65 bytes) receives the MAC. */
static char *seal(const struct gw_app *app, const char *label, const char *id, const char *json,
                  size_t len, char mac_hex[65])
{
    struct fleet_part p[3];
    unsigned char mac[FLEET_MAC_LEN];
    size_t ml = strlen(MAGIC);
    char *out;

    parts_for(p, label, id, json, len);
    if (fleet_mac(app->cfg.fleet_key, app->cfg.fleet_key_len, p, 3, mac) != 0 ||
        (out = malloc(ml + 2 * FLEET_MAC_LEN + 1 + len + 1)) == NULL)
        return NULL;
    gw_hex(mac, FLEET_MAC_LEN, mac_hex);
    memcpy(out, MAGIC, ml);
    memcpy(out + ml, mac_hex, 2 * FLEET_MAC_LEN);
    out[ml + 2 * FLEET_MAC_LEN] = '\n';
    memcpy(out + ml + 2 * FLEET_MAC_LEN + 1, json, len);
    out[ml + 2 * FLEET_MAC_LEN + 1 + len] = '\0';
    return out;
}

/* Check a sealed value: 0 with *json (into value) and the MAC's hex, or -1 with why. */
static int unseal(const struct gw_app *app, const char *label, const char *id, const char *value,
                  size_t len, const char **json, size_t *jlen, char mac_hex[65], char *why, size_t n)
{
    size_t ml = strlen(MAGIC);
    unsigned char mac[FLEET_MAC_LEN];
    struct fleet_part p[3];

    if (len < ml + 2 * FLEET_MAC_LEN + 1 || memcmp(value, MAGIC, ml) != 0 ||
        value[ml + 2 * FLEET_MAC_LEN] != '\n') {
        gw_snprintf(why, n, "not a sealed catalog value");
        return -1;
    }
    if (gw_unhex(value + ml, FLEET_MAC_LEN, mac) != 0) {
        gw_snprintf(why, n, "malformed MAC");
        return -1;
    }
    memcpy(mac_hex, value + ml, 2 * FLEET_MAC_LEN);
    mac_hex[2 * FLEET_MAC_LEN] = '\0';
    *json = value + ml + 2 * FLEET_MAC_LEN + 1;
    *jlen = len - (ml + 2 * FLEET_MAC_LEN + 1);
    parts_for(p, label, id, *json, *jlen);
    if (!fleet_mac_ok(app->cfg.fleet_key, app->cfg.fleet_key_len, p, 3, mac)) {
        gw_snprintf(why, n, "MAC does not match (not written by this fleet)");
        return -1;
    }
    return 0;
}

/* ---- the index -------------------------------------------------------------- */

struct idx_item {
    char id[37];
    char mac[65];
};

struct cat_index {
    uint64_t version;
    size_t n;
    struct idx_item *items;
};

static void index_free(struct cat_index *x)
{
    free(x->items);
    memset(x, 0, sizeof(*x));
}

static int index_parse(const char *json, size_t len, struct cat_index *out, char *why, size_t n)
{
    struct json_object *o = NULL, *v, *a;
    struct json_tokener *tok = json_tokener_new();
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (tok != NULL) {
        o = json_tokener_parse_ex(tok, json, (int)len);
        json_tokener_free(tok);
    }
    if (o == NULL || !json_object_object_get_ex(o, "version", &v) ||
        !json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
        !json_object_object_get_ex(o, "servers", &a) || !json_object_is_type(a, json_type_array)) {
        gw_snprintf(why, n, "malformed");
        goto out;
    }
    out->version = (uint64_t)json_object_get_int64(v);
    out->n = json_object_array_length(a);
    if (out->n > 0 && (out->items = calloc(out->n, sizeof(*out->items))) == NULL)
        goto out;
    for (size_t i = 0; i < out->n; i++) {
        struct json_object *it = json_object_array_get_idx(a, i);
        const char *id = js_str(it, "id"), *mac = js_str(it, "mac");

        if (id == NULL || mac == NULL || !reg_uuid_valid(id) || strlen(mac) != 2 * FLEET_MAC_LEN) {
            gw_snprintf(why, n, "server %zu is malformed", i);
            goto out;
        }
        gw_strlcpy(out->items[i].id, id, sizeof(out->items[i].id));
        gw_strlcpy(out->items[i].mac, mac, sizeof(out->items[i].mac));
    }
    rc = 0;
out:
    json_object_put(o);
    if (rc != 0)
        index_free(out);
    return rc;
}

static char *index_text(const struct cat_index *x)
{
    struct json_object *o = json_object_new_object(), *a = json_object_new_array();
    char *s;

    json_object_object_add(o, "version", json_object_new_int64((int64_t)x->version));
    for (size_t i = 0; i < x->n; i++) {
        struct json_object *it = json_object_new_object();

        json_object_object_add(it, "id", json_object_new_string(x->items[i].id));
        json_object_object_add(it, "mac", json_object_new_string(x->items[i].mac));
        json_object_array_add(a, it);
    }
    json_object_object_add(o, "servers", a);
    s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* ---- PostgreSQL -------------------------------------------------------------- */

#define ITEMS_OF(TABLE, OBJ, ORDER) \
    "(SELECT coalesce(json_agg(" OBJ " ORDER BY " ORDER "), '[]') FROM " TABLE \
    " x WHERE x.server_id = s.id)"

static const char entries_sql[] =
    "SELECT s.id::text, json_build_object('id', s.id, 'name', s.name, 'tenant_id', s.tenant_id,"
    " 'url', s.url, 'description', s.description, 'tags', s.tags, 'status', s.status,"
    " 'maintenance', s.maintenance, 'timeout_ms', s.timeout_ms,"
    " 'max_concurrency', s.max_concurrency, 'protocol_version', s.protocol_version,"
    " 'required_roles', s.required_roles, 'server_info', s.server_info,"
    " 'capabilities', s.capabilities, 'auth_type', s.auth_type,"
    " 'auth_secret', encode(s.auth_secret, 'hex'), 'auth_key_id', s.auth_key_id,"
    " 'tools', " ITEMS_OF("server_tools", "json_build_object('name', x.name, 'title', x.title,"
                          " 'description', x.description, 'inputSchema', x.input_schema,"
                          " 'outputSchema', x.output_schema, 'annotations', x.annotations)", "x.name") ","
    " 'prompts', " ITEMS_OF("server_prompts", "json_build_object('name', x.name, 'title', x.title,"
                            " 'description', x.description, 'arguments', x.arguments)", "x.name") ","
    " 'resources', " ITEMS_OF("server_resources", "json_build_object('uri', x.uri, 'name', x.name,"
                              " 'title', x.title, 'description', x.description,"
                              " 'mimeType', x.mime_type)", "x.uri") ","
    " 'resource_templates', " ITEMS_OF("server_resource_templates",
                                       "json_build_object('uriTemplate', x.uri_template,"
                                       " 'name', x.name, 'title', x.title,"
                                       " 'description', x.description, 'mimeType', x.mime_type)",
                                       "x.uri_template") ")::text"
    " FROM servers s WHERE ($1::uuid IS NULL OR s.id = $1::uuid) ORDER BY s.name, s.id";

struct entries {
    size_t n;
    char **id, **text;
};

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->id[i]);
        free(e->text[i]);
    }
    free(e->id);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

/* Entries of every server (id NULL) or one, from PostgreSQL. */
static int pg_entries(struct gw_app *app, const char *id, struct entries *out, char *why, size_t n)
{
    PGconn *c = pg_conn(app);
    const char *p[1] = { id };
    PGresult *r;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        gw_snprintf(why, n, "the registry database is not reachable");
        return -1;
    }
    r = PQexecParams(c, entries_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        gw_snprintf(why, n, "reading the catalog failed: %s", PQresultErrorMessage(r));
        goto out;
    }
    out->n = (size_t)PQntuples(r);
    if (out->n > 0 && ((out->id = calloc(out->n, sizeof(char *))) == NULL ||
                       (out->text = calloc(out->n, sizeof(char *))) == NULL))
        goto nomem;
    for (size_t i = 0; i < out->n; i++)
        if ((out->id[i] = strdup(PQgetvalue(r, (int)i, 0))) == NULL ||
            (out->text[i] = strdup(PQgetvalue(r, (int)i, 1))) == NULL)
            goto nomem;
    rc = 0;
    goto out;
nomem:
    gw_snprintf(why, n, "out of memory");
    entries_free(out);
out:
    PQclear(r);
    return rc;
}

/* ---- snapshots ------------------------------------------------------------- */

static void snap_free(struct cat_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        cat_server_clear(&s->servers[i]);
    free(s->servers);
    memset(s, 0, sizeof(*s));
}

static int by_name(const void *a, const void *b)
{
    const struct cat_server *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : strcmp(x->id, y->id);
}

/* Parse trusted entry texts (from PostgreSQL, or checked against the index). */
static int snap_build(struct gw_app *app, uint64_t version, size_t n, char *const *texts,
                      const size_t *lens, struct cat_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    out->version = version;
    if (n > 0 && (out->servers = calloc(n, sizeof(*out->servers))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char why[256];

        if (cat_entry_parse(texts[i], lens != NULL ? lens[i] : strlen(texts[i]),
                            &out->servers[out->n], why, sizeof(why)) != 0) {
            log_warn("catalog_entry_unusable", "catalog entry %zu left out: %s", i, why);
            continue;
        }
        open_creds(app, &out->servers[out->n]);
        out->n++;
    }
    if (out->n > 1) /* qsort wants an array, even for none */
        qsort(out->servers, out->n, sizeof(*out->servers), by_name);
    return 0;
}

static struct cat_state *state(struct gw_app *app)
{
    /* A snapshot inherited across fork is the parent's: start afresh. */
    if (app->catalog != NULL && app->catalog->pid != gw_pid())
        cat_state_free(app);
    if (app->catalog == NULL && (app->catalog = calloc(1, sizeof(*app->catalog))) != NULL)
        app->catalog->pid = gw_pid();
    return app->catalog;
}

void cat_state_free(struct gw_app *app)
{
    if (app->catalog == NULL)
        return;
    snap_free(&app->catalog->snap);
    free(app->catalog);
    app->catalog = NULL;
}

static void install(struct cat_state *st, struct cat_snapshot *s, bool uncached)
{
    snap_free(&st->snap);
    st->snap = *s;
    memset(s, 0, sizeof(*s));
    st->have = true;
    st->uncached = uncached;
    if (!uncached && st->snap.version > st->max_seen)
        st->max_seen = st->snap.version;
}

/* ---- Redis ----------------------------------------------------------------------- */

static int key_of(const struct gw_app *app, char *buf, const char *what, const char *id)
{
    return id != NULL ? rds_key(app, buf, KEY_MAX, "cat:%s:%s", what, id)
                      : rds_key(app, buf, KEY_MAX, "cat:%s", what);
}

/* A version as Redis holds it: 1 valid, 0 garbage (counts as no catalog). */
static int version_parse(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long x = strtoull(s, &end, 10);

    *v = (uint64_t)x;
    return *end == '\0' && x > 0 ? 1 : 0;
}

/* The version in Redis: 1 found, 0 absent, -1 Redis unavailable. */
static int redis_version(struct gw_app *app, uint64_t *v)
{
    char k[KEY_MAX];
    redisReply *r;
    int rc = -1;

    if (key_of(app, k, "version", NULL) != 0 || (r = rds_cmd(app, "GET %s", k)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL)
        rc = 0;
    else if (r->type == REDIS_REPLY_STRING)
        rc = version_parse(r->str, v);
    freeReplyObject(r);
    return rc;
}

int cat_version_key(const struct gw_app *app, char *buf, size_t n)
{
    return n < KEY_MAX ? -1 : key_of(app, buf, "version", NULL);
}

void cat_version_seen(struct gw_app *app, const char *value)
{
    struct cat_state *st = state(app);
    uint64_t v;

    if (st == NULL)
        return;
    st->hint_set = value != NULL && version_parse(value, &v) == 1;
    st->hint = st->hint_set ? v : 0;
    st->hint_request = app->requests;
}

/* This responder is about to change the version: what was read before is
 * no longer a reason to keep the cached copy. */
static void hint_drop(struct gw_app *app)
{
    if (app->catalog != NULL)
        app->catalog->hint_set = false;
}

/* Take the catalog lock, waiting up to wait_ms: 1 taken (token filled), 0 not. */
static int lock_take(struct gw_app *app, char token[33], int wait_ms)
{
    char k[KEY_MAX], ms[16];
    int64_t until = gw_monotonic_ms() + wait_ms;

    if (key_of(app, k, "lock", NULL) != 0 || gw_random_id(token) != 0)
        return 0;
    snprintf(ms, sizeof(ms), "%d", LOCK_MS);
    for (;;) {
        redisReply *r = rds_cmd(app, "SET %s %s NX PX %s", k, token, ms);
        bool got = r != NULL && r->type == REDIS_REPLY_STATUS;

        if (r != NULL)
            freeReplyObject(r);
        if (got)
            return 1;
        if (r == NULL || gw_monotonic_ms() >= until)
            return 0;
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
}

static void lock_release(struct gw_app *app, const char *token)
{
    char k[KEY_MAX];

    if (key_of(app, k, "lock", NULL) == 0)
        rds_del_if(app, k, token);
}

/* Wait (bounded) for another responder's lock to go. */
static void lock_wait(struct gw_app *app)
{
    char k[KEY_MAX];
    int64_t until = gw_monotonic_ms() + LOCK_WAIT_MS;

    if (key_of(app, k, "lock", NULL) != 0)
        return;
    while (gw_monotonic_ms() < until) {
        redisReply *r = rds_cmd(app, "EXISTS %s", k);
        bool held = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;

        if (r != NULL)
            freeReplyObject(r);
        if (!held)
            return;
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
}

static uint64_t next_version(uint64_t current)
{
    uint64_t now = (uint64_t)gw_now_ms();

    /* Wall-clock milliseconds keep versions rising across a Redis that lost
     * its data, so no responder's cache can match a fresh catalog. */
    return now > current ? now : current + 1;
}

/* Read and check the index: 1 ok, 0 absent, -1 tampered/malformed (why), -2 Redis down. */
static int index_read(struct gw_app *app, struct cat_index *x, char *why, size_t n)
{
    char k[KEY_MAX], mac[65], w[200];
    const char *json;
    size_t jl;
    redisReply *r;
    int rc;

    memset(x, 0, sizeof(*x));
    if (key_of(app, k, "index", NULL) != 0 || (r = rds_cmd(app, "GET %s", k)) == NULL)
        return -2;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (r->type != REDIS_REPLY_STRING) {
        gw_snprintf(why, n, "index: not a string");
        rc = -1;
    } else if (unseal(app, index_label, "", r->str, r->len, &json, &jl, mac, w, sizeof(w)) != 0 ||
               index_parse(json, jl, x, w, sizeof(w)) != 0) {
        gw_snprintf(why, n, "index: %s", w);
        rc = -1;
    } else {
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}

/* Write entries (sealed), the index and the version in one MSET (atomic),
 * then drop the entries of the old index that are gone. */
static int redis_write_all(struct gw_app *app, const struct entries *e, const struct cat_index *old,
                           uint64_t version, char *why, size_t n)
{
    size_t argc = 1 + 2 * e->n + 4, k = 0;
    const char **argv = calloc(argc, sizeof(char *));
    size_t *lens = calloc(argc, sizeof(size_t));
    char **own = calloc(2 * e->n + 4, sizeof(char *));
    struct cat_index x = { version, e->n, NULL };
    char ik[KEY_MAX], vk[KEY_MAX], ver[24], mac[65];
    char *itext = NULL;
    size_t no = 0;
    redisReply *r = NULL;
    int rc = -1;

    if (argv == NULL || lens == NULL || own == NULL ||
        (e->n > 0 && (x.items = calloc(e->n, sizeof(*x.items))) == NULL))
        goto out;
    argv[k++] = "MSET";
    for (size_t i = 0; i < e->n; i++) {
        char *key = malloc(KEY_MAX), *val;

        own[no++] = key;
        if (key == NULL || key_of(app, key, "server", e->id[i]) != 0)
            goto out;
        val = seal(app, entry_label, e->id[i], e->text[i], strlen(e->text[i]), mac);
        own[no++] = val;
        if (val == NULL)
            goto out;
        gw_strlcpy(x.items[i].id, e->id[i], sizeof(x.items[i].id));
        gw_strlcpy(x.items[i].mac, mac, sizeof(x.items[i].mac));
        argv[k++] = key;
        argv[k++] = val;
    }
    if ((itext = index_text(&x)) == NULL || key_of(app, ik, "index", NULL) != 0 ||
        key_of(app, vk, "version", NULL) != 0)
        goto out;
    own[no] = seal(app, index_label, "", itext, strlen(itext), mac);
    if (own[no] == NULL)
        goto out;
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)version);
    argv[k++] = ik;
    argv[k++] = own[no++];
    argv[k++] = vk;
    argv[k++] = ver;
    for (size_t i = 0; i < k; i++)
        lens[i] = strlen(argv[i]);
    r = rds_cmdargv(app, (int)k, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        gw_snprintf(why, n, "Redis did not take the catalog%s%s", r != NULL && r->str ? ": " : "",
                    r != NULL && r->str ? r->str : "");
        goto out;
    }
    rc = 0;
    for (size_t i = 0; old != NULL && i < old->n; i++) {
        bool kept = false;
        char key[KEY_MAX];

        for (size_t j = 0; j < e->n && !kept; j++)
            kept = strcmp(old->items[i].id, e->id[j]) == 0;
        if (!kept && key_of(app, key, "server", old->items[i].id) == 0) {
            redisReply *d = rds_cmd(app, "DEL %s", key);

            if (d != NULL)
                freeReplyObject(d);
        }
    }
out:
    if (rc != 0 && why[0] == '\0')
        gw_snprintf(why, n, "out of memory");
    if (r != NULL)
        freeReplyObject(r);
    for (size_t i = 0; own != NULL && i < no; i++)
        free(own[i]);
    free(own);
    free(argv);
    free(lens);
    free(itext);
    free(x.items);
    return rc;
}

/* Rebuild with the lock held: PostgreSQL -> Redis; the snapshot of what was
 * written when snap is not NULL. */
static int rebuild_locked(struct gw_app *app, struct cat_snapshot *snap, char *why, size_t n)
{
    struct entries e;
    struct cat_index old;
    uint64_t cur = 0, version;
    int ir;

    hint_drop(app);
    why[0] = '\0';
    if (pg_entries(app, NULL, &e, why, n) != 0)
        return -1;
    ir = index_read(app, &old, why, n);
    why[0] = '\0';
    if (redis_version(app, &cur) != 1)
        cur = 0;
    if (ir == 1 && old.version > cur)
        cur = old.version;
    if (app->catalog != NULL && app->catalog->max_seen > cur)
        cur = app->catalog->max_seen;
    version = next_version(cur);
    if (redis_write_all(app, &e, ir == 1 ? &old : NULL, version, why, n) != 0) {
        index_free(&old);
        entries_free(&e);
        return -1;
    }
    metrics_count_named("catalog_rebuild_total");
    log_info("catalog_rebuilt", "catalog version %llu rebuilt from the registry: %zu servers",
             (unsigned long long)version, e.n);
    if (snap != NULL)
        snap_build(app, version, e.n, e.text, NULL, snap);
    if (app->catalog != NULL && version > app->catalog->max_seen)
        app->catalog->max_seen = version;
    index_free(&old);
    entries_free(&e);
    return 0;
}

int cat_rebuild(struct gw_app *app, char *why, size_t n)
{
    char token[33];
    int rc;

    why[0] = '\0';
    hint_drop(app);
    if (app->cfg.fleet_key_len == 0) {
        uint64_t cur = 0;
        char k[KEY_MAX], ver[24];
        redisReply *r;

        /* Nothing kept in Redis but the version: bumping it is the rebuild. */
        if (redis_version(app, &cur) < 0 || key_of(app, k, "version", NULL) != 0) {
            gw_snprintf(why, n, "Redis is not reachable");
            return -1;
        }
        snprintf(ver, sizeof(ver), "%llu", (unsigned long long)next_version(cur));
        if ((r = rds_cmd(app, "SET %s %s", k, ver)) == NULL) {
            gw_snprintf(why, n, "Redis is not reachable");
            return -1;
        }
        freeReplyObject(r);
        return 0;
    }
    if (!lock_take(app, token, LOCK_WAIT_MS)) {
        gw_snprintf(why, n, "another responder holds the catalog lock, or Redis is not reachable");
        return -1;
    }
    rc = rebuild_locked(app, NULL, why, n);
    lock_release(app, token);
    return rc;
}

/* Load what Redis holds: 1 loaded into snap, 0 absent, -1 untrustworthy (why). */
static int redis_load(struct gw_app *app, struct cat_snapshot *snap, char *why, size_t n)
{
    struct cat_index x;
    const char **argv = NULL;
    char **keys = NULL;
    char **texts = NULL;
    size_t *tl = NULL;
    redisReply *r = NULL;
    int rc, ir = index_read(app, &x, why, n);

    if (ir <= 0)
        return ir == -2 ? -1 : ir;
    if (app->catalog != NULL && x.version < app->catalog->max_seen) {
        gw_snprintf(why, n, "index version %llu is older than version %llu already seen (a replay)",
                    (unsigned long long)x.version, (unsigned long long)app->catalog->max_seen);
        index_free(&x);
        return -1;
    }
    rc = -1;
    if ((argv = calloc(x.n + 1, sizeof(char *))) == NULL ||
        (keys = calloc(x.n + 1, sizeof(char *))) == NULL ||
        (texts = calloc(x.n + 1, sizeof(char *))) == NULL || (tl = calloc(x.n + 1, sizeof(size_t))) == NULL)
        goto out;
    argv[0] = "MGET";
    for (size_t i = 0; i < x.n; i++) {
        if ((keys[i] = malloc(KEY_MAX)) == NULL || key_of(app, keys[i], "server", x.items[i].id) != 0)
            goto out;
        argv[i + 1] = keys[i];
    }
    if (x.n > 0) {
        r = rds_cmdargv(app, (int)x.n + 1, argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != x.n) {
            gw_snprintf(why, n, "Redis did not answer the entries");
            goto out;
        }
    }
    for (size_t i = 0; i < x.n; i++) {
        const redisReply *e = r->element[i];
        char mac[65], w[200];
        const char *json;
        size_t jl;

        if (e->type != REDIS_REPLY_STRING) {
            gw_snprintf(why, n, "entry %s named by the index is missing", x.items[i].id);
            goto out;
        }
        if (unseal(app, entry_label, x.items[i].id, e->str, e->len, &json, &jl, mac, w, sizeof(w)) != 0) {
            gw_snprintf(why, n, "entry %s: %s", x.items[i].id, w);
            goto out;
        }
        if (strcmp(mac, x.items[i].mac) != 0) {
            gw_snprintf(why, n, "entry %s is not the one the index names", x.items[i].id);
            goto out;
        }
        texts[i] = (char *)json;
        tl[i] = jl;
    }
    snap_build(app, x.version, x.n, texts, tl, snap);
    rc = 1;
out:
    if (r != NULL)
        freeReplyObject(r);
    for (size_t i = 0; keys != NULL && i < x.n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    free(texts);
    free(tl);
    index_free(&x);
    return rc;
}

static int pg_load(struct gw_app *app, uint64_t version, struct cat_snapshot *snap, char *why,
                   size_t n)
{
    struct entries e;

    if (pg_entries(app, NULL, &e, why, n) != 0)
        return -1;
    snap_build(app, version, e.n, e.text, NULL, snap);
    entries_free(&e);
    return 0;
}

/* Cold or untrustworthy Redis catalog: one responder rebuilds under the lock;
 * the others wait for it and read what it wrote. */
static int recover(struct gw_app *app, struct cat_snapshot *snap, char *why, size_t n)
{
    char token[33];
    int rc;

    if (lock_take(app, token, 0)) {
        rc = rebuild_locked(app, snap, why, n);
        lock_release(app, token);
        if (rc == 0)
            return 0;
        log_warn("catalog_rebuild_failed", "catalog rebuild failed: %s", why);
    } else {
        lock_wait(app);
        why[0] = '\0';
        if (redis_load(app, snap, why, n) == 1)
            return 0;
    }
    /* Serve from PostgreSQL this once rather than fail. */
    return pg_load(app, 0, snap, why, n) == 0 ? 1 : -1;
}

enum cat_status cat_current(struct gw_app *app, const struct cat_snapshot **out, char *why, size_t n)
{
    struct cat_state *st = state(app);
    struct cat_snapshot snap;
    uint64_t v = 0;
    int vr, lr;

    *out = NULL;
    if (st == NULL) {
        gw_snprintf(why, n, "out of memory");
        return CAT_UNAVAILABLE;
    }
    why[0] = '\0';
    /* The session script of this request read the version already: when it
     * is the cached copy's, that copy is current without another round trip. */
    if (st->hint_set && st->hint_request == app->requests && st->have && !st->uncached &&
        st->hint == st->snap.version) {
        *out = &st->snap;
        return CAT_OK;
    }
    vr = redis_version(app, &v);
    if (vr == 1 && st->have && !st->uncached && v == st->snap.version) {
        *out = &st->snap;
        return CAT_OK;
    }
    if (vr < 0) {
        /* Redis down: PostgreSQL on every read until it is back. */
        if (pg_load(app, 0, &snap, why, n) != 0)
            return CAT_UNAVAILABLE;
        install(st, &snap, true);
        *out = &st->snap;
        return CAT_OK;
    }
    if (app->cfg.fleet_key_len == 0) {
        if (vr == 0) {
            char k[KEY_MAX], ver[24];
            redisReply *r;

            v = next_version(0);
            snprintf(ver, sizeof(ver), "%llu", (unsigned long long)v);
            if (key_of(app, k, "version", NULL) == 0 && (r = rds_cmd(app, "SET %s %s NX", k, ver)) != NULL)
                freeReplyObject(r);
            if (redis_version(app, &v) != 1)
                v = 0;
        }
        if (pg_load(app, v, &snap, why, n) != 0)
            return CAT_UNAVAILABLE;
        install(st, &snap, v == 0);
        *out = &st->snap;
        return CAT_OK;
    }
    lr = vr == 1 ? redis_load(app, &snap, why, n) : 0;
    /* A writer may have replaced an entry between our reads of the index
     * and of the entries: look again before calling anything untrusted. */
    if (lr < 0)
        lr = redis_load(app, &snap, why, n);
    if (lr == 1 && snap.version != v)
        log_debug("catalog_version_moved", "catalog version %llu read, index at %llu",
                  (unsigned long long)v, (unsigned long long)snap.version);
    if (lr != 1) {
        if (lr < 0) {
            metrics_count_named("catalog_tampered_total");
            log_warn("catalog_untrusted", "the catalog in Redis is not trusted (%s): rebuilding "
                     "it from the registry", why);
        } else {
            log_info("catalog_cold", "no catalog in Redis: building it from the registry");
        }
        lr = recover(app, &snap, why, n);
        if (lr < 0)
            return CAT_UNAVAILABLE;
        install(st, &snap, lr == 1);
        *out = &st->snap;
        return CAT_OK;
    }
    install(st, &snap, false);
    *out = &st->snap;
    return CAT_OK;
}

/* ---- visibility ---------------------------------------------------------------- */

static bool in_csv(const char *csv, const char *want)
{
    size_t wl = strlen(want);

    for (const char *p = csv; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t l = end != NULL ? (size_t)(end - p) : strlen(p);

        /* Claims are sent as "a,b" or "a, b": ignore spaces around entries. */
        while (l > 0 && *p == ' ') {
            p++;
            l--;
        }
        while (l > 0 && p[l - 1] == ' ')
            l--;
        if (l == wl && wl > 0 && memcmp(p, want, wl) == 0)
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

static bool holds_role(const struct gw_identity *who, const char *role)
{
    unsigned bit = auth_role_parse(role);

    if (bit != 0 && (auth_roles_effective(who->roles) & bit) != 0)
        return true;
    return in_csv(who->token_roles, role);
}

bool cat_visible(const struct cat_server *s, const struct gw_identity *who)
{
    if (s->tenant_id[0] != '\0' && strcmp(s->tenant_id, who->tenant_id) != 0)
        return false;
    for (size_t i = 0; i < json_object_array_length(s->required_roles); i++) {
        const char *r = json_object_get_string(json_object_array_get_idx(s->required_roles, i));

        if (r == NULL || !holds_role(who, r))
            return false;
    }
    return true;
}

const struct cat_server *cat_find(const struct cat_snapshot *c, const struct gw_identity *who,
                                  const char *name)
{
    /* Names are unique within what one tenant sees (enforced by the
     * registry), so the first visible match is the only one. */
    for (size_t i = 0; c != NULL && i < c->n; i++)
        if (strcmp(c->servers[i].name, name) == 0 && cat_visible(&c->servers[i], who))
            return &c->servers[i];
    return NULL;
}

int cat_split_name(const char *full, char *srv, size_t n, const char **rest)
{
    const char *sep = full != NULL ? strstr(full, "__") : NULL;
    size_t l;

    if (sep == NULL || sep == full)
        return -1;
    l = (size_t)(sep - full);
    if (l >= n)
        return -1;
    memcpy(srv, full, l);
    srv[l] = '\0';
    *rest = sep + 2;
    return 0;
}

/* ---- cursors ------------------------------------------------------------------- */

#define CURSOR_KEY_MAX 4096

int cat_cursor_encode(char kind, const char *after, char *out, size_t n)
{
    size_t al = strlen(after);
    unsigned char raw[CURSOR_KEY_MAX + 8];

    if (al > CURSOR_KEY_MAX)
        return -1;
    memcpy(raw, "c1", 2);
    raw[2] = (unsigned char)kind;
    raw[3] = ':';
    memcpy(raw + 4, after, al);
    return authjwt_b64url_encode(raw, al + 4, out, n) < 0 ? -1 : 0;
}

int cat_cursor_decode(const char *cursor, char kind, char *after, size_t n)
{
    unsigned char raw[CURSOR_KEY_MAX + 8];
    size_t cl = cursor != NULL ? strlen(cursor) : 0;
    long l;

    if (cl == 0 || cl > (CURSOR_KEY_MAX + 8) * 4 / 3 + 4)
        return -1;
    l = authjwt_b64url_decode(cursor, cl, raw, sizeof(raw));
    if (l < 5 || memcmp(raw, "c1", 2) != 0 || raw[2] != (unsigned char)kind || raw[3] != ':' ||
        memchr(raw + 4, '\0', (size_t)l - 4) != NULL || (size_t)l - 4 >= n)
        return -1;
    memcpy(after, raw + 4, (size_t)l - 4);
    after[l - 4] = '\0';
    return 0;
}

/* ---- registry hooks ----------------------------------------------------------------- */

/* Drop the version so that the next read rebuilds (a write we could not
 * apply must not leave an older catalog looking current). */
static void invalidate(struct gw_app *app)
{
    char k[KEY_MAX];
    redisReply *r;

    hint_drop(app);
    if (key_of(app, k, "version", NULL) == 0 && (r = rds_cmd(app, "DEL %s", k)) != NULL)
        freeReplyObject(r);
}

static void cat_notify_change(struct gw_app *app, const struct cat_server *before,
                              const struct cat_server *after);

/* Put (text != NULL) or drop one entry with the lock held; *before receives
 * the entry it replaces when there was a trusted one (cleared otherwise). */
static int apply_one(struct gw_app *app, const char *id, const char *text, struct cat_server *before,
                     char *why, size_t n)
{
    struct cat_index x;
    char ek[KEY_MAX], ik[KEY_MAX], vk[KEY_MAX], mac[65], ver[24];
    char *sealed_entry = NULL, *itext = NULL, *sealed_index = NULL;
    uint64_t cur = 0;
    size_t at;
    redisReply *r;
    int ir, rc = -1;

    memset(before, 0, sizeof(*before));
    ir = index_read(app, &x, why, n);
    if (ir != 1) {
        /* No trusted index to amend: a full rebuild takes this change too. */
        if (ir == -1)
            log_warn("catalog_untrusted", "the catalog index in Redis is not trusted (%s): "
                     "rebuilding it from the registry", why);
        return rebuild_locked(app, NULL, why, n);
    }
    if (key_of(app, ek, "server", id) != 0 || key_of(app, ik, "index", NULL) != 0 ||
        key_of(app, vk, "version", NULL) != 0)
        goto out;
    for (at = 0; at < x.n && strcmp(x.items[at].id, id) != 0; at++)
        ;
    if (at < x.n && (r = rds_cmd(app, "GET %s", ek)) != NULL) {
        const char *json;
        size_t jl;
        char emac[65], w[128];

        if (r->type == REDIS_REPLY_STRING &&
            unseal(app, entry_label, id, r->str, r->len, &json, &jl, emac, w, sizeof(w)) == 0 &&
            strcmp(emac, x.items[at].mac) == 0)
            cat_entry_parse(json, jl, before, w, sizeof(w));
        freeReplyObject(r);
    }
    if (text != NULL) {
        if ((sealed_entry = seal(app, entry_label, id, text, strlen(text), mac)) == NULL)
            goto out;
        if (at == x.n) {
            struct idx_item *more = realloc(x.items, (x.n + 1) * sizeof(*x.items));

            if (more == NULL)
                goto out;
            x.items = more;
            x.n++;
            gw_strlcpy(x.items[at].id, id, sizeof(x.items[at].id));
        }
        gw_strlcpy(x.items[at].mac, mac, sizeof(x.items[at].mac));
    } else if (at < x.n) {
        memmove(&x.items[at], &x.items[at + 1], (x.n - at - 1) * sizeof(*x.items));
        x.n--;
    }
    if (redis_version(app, &cur) != 1 || cur < x.version)
        cur = x.version;
    x.version = next_version(cur);
    if ((itext = index_text(&x)) == NULL ||
        (sealed_index = seal(app, index_label, "", itext, strlen(itext), mac)) == NULL)
        goto out;
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)x.version);
    if (text != NULL)
        r = rds_cmd(app, "MSET %s %s %s %s %s %s", ek, sealed_entry, ik, sealed_index, vk, ver);
    else
        r = rds_cmd(app, "MSET %s %s %s %s", ik, sealed_index, vk, ver);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        gw_snprintf(why, n, "Redis did not take the change");
        if (r != NULL)
            freeReplyObject(r);
        goto out;
    }
    freeReplyObject(r);
    if (text == NULL && (r = rds_cmd(app, "DEL %s", ek)) != NULL)
        freeReplyObject(r);
    rc = 0;
out:
    if (rc != 0 && why[0] == '\0')
        gw_snprintf(why, n, "out of memory");
    free(sealed_entry);
    free(sealed_index);
    free(itext);
    index_free(&x);
    return rc;
}

static int bump_version(struct gw_app *app)
{
    char why[64];

    return cat_rebuild(app, why, sizeof(why));
}

static int change(struct gw_app *app, const char *server_id, bool removed)
{
    struct entries e = { 0 };
    struct cat_server before, after;
    const struct cat_server *old = NULL;
    char why[512] = "", token[33];
    const char *text = NULL;
    int rc = -1;

    hint_drop(app);
    memset(&before, 0, sizeof(before));
    memset(&after, 0, sizeof(after));
    if (server_id == NULL || !reg_uuid_valid(server_id))
        return -1;
    if (!removed) {
        if (pg_entries(app, server_id, &e, why, sizeof(why)) != 0) {
            log_warn("catalog_update_failed", "server %s: %s; the catalog is rebuilt on next read",
                     server_id, why);
            invalidate(app);
            return -1;
        }
        text = e.n == 1 ? e.text[0] : NULL;   /* gone meanwhile: a removal */
        if (text != NULL)
            cat_entry_parse(text, strlen(text), &after, why, sizeof(why));
    }
    if (app->cfg.fleet_key_len == 0) {
        /* Old view from this responder's snapshot, if it has one. */
        if (app->catalog != NULL && app->catalog->have)
            for (size_t i = 0; i < app->catalog->snap.n; i++)
                if (strcmp(app->catalog->snap.servers[i].id, server_id) == 0)
                    old = &app->catalog->snap.servers[i];
        rc = bump_version(app);
    } else if (!lock_take(app, token, LOCK_WAIT_MS)) {
        gw_snprintf(why, sizeof(why), "the catalog lock could not be had");
        invalidate(app);
    } else {
        rc = apply_one(app, server_id, text, &before, why, sizeof(why));
        lock_release(app, token);
        if (before.entry != NULL)
            old = &before;
        if (rc != 0)
            invalidate(app);
    }
    if (rc != 0)
        log_warn("catalog_update_failed", "server %s: %s; the catalog is rebuilt on next read",
                 server_id, why);
    else
        log_info("catalog_updated", "server %s %s in the catalog", server_id,
                 text != NULL ? "updated" : "removed");
    cat_notify_change(app, old, after.entry != NULL ? &after : NULL);
    cat_server_clear(&before);
    cat_server_clear(&after);
    entries_free(&e);
    return rc;
}

int cat_server_changed(struct gw_app *app, const char *server_id)
{
    return change(app, server_id, false);
}

int cat_server_removed(struct gw_app *app, const char *server_id)
{
    return change(app, server_id, true);
}

/* ---- notifications ------------------------------------------------------------- */

static const char *const kind_names[3] = { "tools", "prompts", "resources" };

static bool same_json(struct json_object *a, struct json_object *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
                  json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN)) == 0;
}

/* Kind k of server s (NULL: none) as a list: tools, prompts, or resources
 * with their templates (one notification covers both). */
static bool kind_nonempty(const struct cat_server *s, int k)
{
    if (s == NULL)
        return false;
    if (k == 0)
        return json_object_array_length(s->tools) > 0;
    if (k == 1)
        return json_object_array_length(s->prompts) > 0;
    return json_object_array_length(s->resources) + json_object_array_length(s->resource_templates) > 0;
}

static bool kind_same(const struct cat_server *a, const struct cat_server *b, int k)
{
    if (k == 0)
        return same_json(a->tools, b->tools);
    if (k == 1)
        return same_json(a->prompts, b->prompts);
    return same_json(a->resources, b->resources) &&
           same_json(a->resource_templates, b->resource_templates);
}

/* Which kinds (bits 1 << k) of the lists can look different to anyone. */
static unsigned kinds_changed(const struct cat_server *b, const struct cat_server *a)
{
    bool scope_moved;
    unsigned out = 0;

    if (b == NULL || a == NULL)
        scope_moved = true;
    else
        scope_moved = strcmp(b->name, a->name) != 0 || strcmp(b->tenant_id, a->tenant_id) != 0 ||
                      b->maintenance != a->maintenance || !same_json(b->required_roles, a->required_roles);
    for (int k = 0; k < 3; k++)
        if ((kind_nonempty(b, k) || kind_nonempty(a, k)) && (scope_moved || !kind_same(b, a, k)))
            out |= 1u << k;
    return out;
}

/* The identity and endpoint of sessions ids[0..n), as their hashes hold
 * them, pipelined: one round trip for the lot. ok[i] false when gone. */
static int sessions_who(struct gw_app *app, redisReply *const *ids, size_t n, struct gw_identity *who,
                        char (*endpoint)[64], bool *ok)
{
    redisContext *c = rds_conn(app);
    char ak[KEY_MAX], sk[KEY_MAX];

    if (c == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (rds_key(app, ak, sizeof(ak), "auth:{%s}", ids[i]->str) != 0 ||
            rds_key(app, sk, sizeof(sk), "session:{%s}", ids[i]->str) != 0) {
            if (i > 0)
                rds_close(app);   /* commands appended, never to be read */
            return -1;
        }
        redisAppendCommand(c, "HMGET %s tenant roles troles", ak);
        redisAppendCommand(c, "HGET %s endpoint", sk);
    }
    for (size_t i = 0; i < n; i++) {
        void *v1 = NULL, *v2 = NULL;
        redisReply *a, *e;

        if (redisGetReply(c, &v1) != REDIS_OK || redisGetReply(c, &v2) != REDIS_OK) {
            if (v1 != NULL)
                freeReplyObject(v1);
            rds_close(app);   /* replies left unread: the connection is unusable */
            return -1;
        }
        a = v1;
        e = v2;
        memset(&who[i], 0, sizeof(who[i]));
        ok[i] = a->type == REDIS_REPLY_ARRAY && a->elements == 3 &&
                a->element[0]->type == REDIS_REPLY_STRING && a->element[1]->type == REDIS_REPLY_STRING &&
                e->type == REDIS_REPLY_STRING;
        if (ok[i]) {
            gw_strlcpy(who[i].tenant_id, a->element[0]->str, sizeof(who[i].tenant_id));
            who[i].roles = (unsigned)strtoul(a->element[1]->str, NULL, 10);
            if (a->element[2]->type == REDIS_REPLY_STRING)
                gw_strlcpy(who[i].token_roles, a->element[2]->str, sizeof(who[i].token_roles));
            gw_strlcpy(endpoint[i], e->str, sizeof(endpoint[i]));
        }
        freeReplyObject(a);
        freeReplyObject(e);
    }
    return 0;
}

static bool shows(const struct cat_server *s, const struct gw_identity *who, const char *endpoint)
{
    if (s == NULL || s->maintenance || !cat_visible(s, who))
        return false;
    /* The aggregate (/mcp) and the server's own endpoint list it. */
    return endpoint[0] == '\0' || strcmp(endpoint, s->name) == 0;
}

static void notify_one(struct gw_app *app, const char *id, const struct gw_identity *who,
                       const char *endpoint, const struct cat_server *b, const struct cat_server *a,
                       unsigned kinds, size_t *sent)
{
    bool vb = shows(b, who, endpoint), va = shows(a, who, endpoint);

    for (int k = 0; k < 3; k++) {
        char method[64];
        struct json_object *msg;

        if (!(kinds & (1u << k)) || !((vb && kind_nonempty(b, k)) || (va && kind_nonempty(a, k))))
            continue;
        snprintf(method, sizeof(method), "notifications/%s/list_changed", kind_names[k]);
        msg = json_object_new_object();
        json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
        json_object_object_add(msg, "method", json_object_new_string(method));
        if (mst_publish(app, id, msg) == 0)
            (*sent)++;
        json_object_put(msg);
    }
}

static void notify_sessions_in(struct gw_app *app, const char *index, const struct cat_server *b,
                               const struct cat_server *a, unsigned kinds, size_t *sent)
{
    char now[24], limit[16];
    redisReply *r;

    snprintf(now, sizeof(now), "%lld", (long long)gw_now_ms());
    snprintf(limit, sizeof(limit), "%d", NOTIFY_SESSIONS_MAX);
    r = rds_cmd(app, "ZRANGEBYSCORE %s %s +inf LIMIT 0 %s", index, now, limit);
    if (r == NULL)
        return;
    for (size_t at = 0; r->type == REDIS_REPLY_ARRAY && at < r->elements; at += NOTIFY_BATCH) {
        size_t m = r->elements - at < NOTIFY_BATCH ? r->elements - at : NOTIFY_BATCH, k = 0;
        redisReply **ids = calloc(m, sizeof(*ids));
        struct gw_identity *who = calloc(m, sizeof(*who));
        char (*endpoint)[64] = calloc(m, sizeof(*endpoint));
        bool *ok = calloc(m, sizeof(*ok));
        bool fine = ids != NULL && who != NULL && endpoint != NULL && ok != NULL;

        /* Only ids of ours go into key names; anything else in the index is skipped. */
        for (size_t i = 0; fine && i < m; i++)
            if (r->element[at + i]->type == REDIS_REPLY_STRING && ms_id_valid(r->element[at + i]->str))
                ids[k++] = r->element[at + i];
        if (fine && k > 0 && sessions_who(app, ids, k, who, endpoint, ok) != 0)
            fine = false;
        for (size_t i = 0; fine && i < k; i++)
            if (ok[i])
                notify_one(app, ids[i]->str, &who[i], endpoint[i], b, a, kinds, sent);
        free(ids);
        free(who);
        free(endpoint);
        free(ok);
        if (!fine)
            break;
    }
    freeReplyObject(r);
}

static void cat_notify_change(struct gw_app *app, const struct cat_server *before,
                              const struct cat_server *after)
{
    unsigned kinds = kinds_changed(before, after);
    char key[KEY_MAX];
    size_t sent = 0;

    if (kinds == 0)
        return;
    /* A shared server concerns every tenant's sessions; else its tenants'. */
    if ((before != NULL && before->tenant_id[0] == '\0') || (after != NULL && after->tenant_id[0] == '\0')) {
        if (rds_key(app, key, sizeof(key), "sessions") == 0)
            notify_sessions_in(app, key, before, after, kinds, &sent);
    } else {
        if (before != NULL && rds_key(app, key, sizeof(key), "sessions:tenant:%s", before->tenant_id) == 0)
            notify_sessions_in(app, key, before, after, kinds, &sent);
        if (after != NULL && (before == NULL || strcmp(before->tenant_id, after->tenant_id) != 0) &&
            rds_key(app, key, sizeof(key), "sessions:tenant:%s", after->tenant_id) == 0)
            notify_sessions_in(app, key, before, after, kinds, &sent);
    }
    if (sent > 0)
        log_info("catalog_list_changed", "server %s: %zu list_changed notifications queued",
                 after != NULL ? after->name : before->name, sent);
}
