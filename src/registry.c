/* The registry: servers and their catalog in PostgreSQL, registration in
 * phases, tenant-scoped reads in one statement each, writes audited in their transaction. */
#include "registry.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <openssl/evp.h>

#include "app.h"
#include "audit.h"
#include "auth.h"
#include "log.h"
#include "mcp/catalog.h"
#include "orch.h"
#include "secrets.h"
#include "store_pg.h"
#include "upstream.h"
#include "util.h"

#define SEALED_MAX 8192          /* hex digits of one sealed credential blob */
#define LIST_LIMIT_MAX 200

/* Every read names the caller's scope as $1 (tenant, NULL for none) and $2
 * (platform: sees all). Another tenant's row is simply not there. */
#define VISIBLE "($2::bool OR s.tenant_id IS NULL OR s.tenant_id = $1::text)"
#define WRITABLE "($2::bool OR s.tenant_id = $1::text)"

/* The server as every route shows it: no credential, only its type. */
#define SERVER_JSON \
    "json_build_object('id', s.id, 'name', s.name, 'tenant_id', s.tenant_id, 'url', s.url," \
    " 'transport', s.transport, 'description', s.description, 'tags', s.tags," \
    " 'agent_roles', s.agent_roles, 'required_roles', s.required_roles," \
    " 'max_concurrency', s.max_concurrency, 'timeout_ms', s.timeout_ms," \
    " 'auth', json_build_object('type', s.auth_type), 'status', s.status," \
    " 'maintenance', s.maintenance, 'version', s.version, 'protocol_version', s.protocol_version," \
    " 'server_info', s.server_info, 'capabilities', s.capabilities," \
    " 'tool_count', (SELECT count(*) FROM server_tools t WHERE t.server_id = s.id)," \
    " 'health', json_build_object('status', s.last_health_status, 'latency_ms', s.last_latency_ms," \
    "   'checked_at', s.last_health_at)," \
    " 'refreshed_at', s.last_refreshed_at, 'created_at', s.created_at, 'updated_at', s.updated_at)"

/* One statement brings a catalog kind in line with what the upstream listed
 * ($2, a JSON array) and answers what changed, by schema hash (SHA-256 of the
 * canonical jsonb text of everything but the name). */
#define SYNC_SQL(SRC, TABLE, KEY, COLS, SET) \
    "WITH src AS (" SRC "), " \
    "old AS (SELECT " KEY " AS k, schema_hash FROM " TABLE " WHERE server_id = $1::uuid), " \
    "del AS (DELETE FROM " TABLE " d WHERE d.server_id = $1::uuid AND d." KEY \
    "  NOT IN (SELECT k FROM src) RETURNING d." KEY " AS k), " \
    "ins AS (INSERT INTO " TABLE " AS x (server_id, " COLS ", schema_hash) SELECT $1::uuid, " COLS \
    ", schema_hash FROM src ON CONFLICT (server_id, " KEY ") DO UPDATE SET " SET \
    ", schema_hash = EXCLUDED.schema_hash, last_seen = now() RETURNING 1) " \
    "SELECT json_build_object(" \
    "'added', (SELECT coalesce(json_agg(s.k ORDER BY s.k), '[]') FROM src s" \
    "  WHERE NOT EXISTS (SELECT 1 FROM old o WHERE o.k = s.k))," \
    "'removed', (SELECT coalesce(json_agg(k ORDER BY k), '[]') FROM del)," \
    "'changed', (SELECT coalesce(json_agg(s.k ORDER BY s.k), '[]') FROM src s JOIN old o" \
    "  ON o.k = s.k WHERE o.schema_hash <> s.schema_hash)," \
    "'unchanged', (SELECT count(*) FROM src s JOIN old o ON o.k = s.k AND o.schema_hash = s.schema_hash)," \
    "'count', (SELECT count(*) FROM ins))"

#define HASH_OF(OBJ) "encode(sha256(convert_to((" OBJ ")::text, 'UTF8')), 'hex')"
#define ITEMS "jsonb_array_elements($2::jsonb) t WHERE jsonb_typeof(t) = 'object'"

static const char sync_tools_sql[] = SYNC_SQL(
    "SELECT DISTINCT ON (t->>'name') t->>'name' AS k, t->>'name' AS name, t->>'title' AS title,"
    " coalesce(t->>'description', '') AS description,"
    " coalesce(t->'inputSchema', '{}'::jsonb) AS input_schema, t->'outputSchema' AS output_schema,"
    " t->'annotations' AS annotations, "
    HASH_OF("jsonb_build_object('title', t->'title', 'description', t->'description',"
            " 'inputSchema', t->'inputSchema', 'outputSchema', t->'outputSchema',"
            " 'annotations', t->'annotations')") " AS schema_hash"
    " FROM " ITEMS " AND t->>'name' IS NOT NULL ORDER BY t->>'name'",
    "server_tools", "name", "name, title, description, input_schema, output_schema, annotations",
    "title = EXCLUDED.title, description = EXCLUDED.description, input_schema = EXCLUDED.input_schema,"
    " output_schema = EXCLUDED.output_schema, annotations = EXCLUDED.annotations, updated_at = now()");

static const char sync_prompts_sql[] = SYNC_SQL(
    "SELECT DISTINCT ON (t->>'name') t->>'name' AS k, t->>'name' AS name, t->>'title' AS title,"
    " coalesce(t->>'description', '') AS description,"
    " coalesce(t->'arguments', '[]'::jsonb) AS arguments, "
    HASH_OF("jsonb_build_object('title', t->'title', 'description', t->'description',"
            " 'arguments', t->'arguments')") " AS schema_hash"
    " FROM " ITEMS " AND t->>'name' IS NOT NULL ORDER BY t->>'name'",
    "server_prompts", "name", "name, title, description, arguments",
    "title = EXCLUDED.title, description = EXCLUDED.description, arguments = EXCLUDED.arguments");

static const char sync_templates_sql[] = SYNC_SQL(
    "SELECT DISTINCT ON (t->>'uriTemplate') t->>'uriTemplate' AS k, t->>'uriTemplate' AS uri_template,"
    " coalesce(t->>'name', '') AS name, t->>'title' AS title,"
    " coalesce(t->>'description', '') AS description, t->>'mimeType' AS mime_type, "
    HASH_OF("jsonb_build_object('name', t->'name', 'title', t->'title',"
            " 'description', t->'description', 'mimeType', t->'mimeType')") " AS schema_hash"
    " FROM " ITEMS " AND t->>'uriTemplate' IS NOT NULL ORDER BY t->>'uriTemplate'",
    "server_resource_templates", "uri_template", "uri_template, name, title, description, mime_type",
    "name = EXCLUDED.name, title = EXCLUDED.title, description = EXCLUDED.description,"
    " mime_type = EXCLUDED.mime_type");

static const char sync_resources_sql[] = SYNC_SQL(
    "SELECT DISTINCT ON (t->>'uri') t->>'uri' AS k, t->>'uri' AS uri, coalesce(t->>'name', '') AS name,"
    " t->>'title' AS title, coalesce(t->>'description', '') AS description, t->>'mimeType' AS mime_type, "
    HASH_OF("jsonb_build_object('name', t->'name', 'title', t->'title',"
            " 'description', t->'description', 'mimeType', t->'mimeType')") " AS schema_hash"
    " FROM " ITEMS " AND t->>'uri' IS NOT NULL ORDER BY t->>'uri'",
    "server_resources", "uri", "uri, name, title, description, mime_type",
    "name = EXCLUDED.name, title = EXCLUDED.title, description = EXCLUDED.description,"
    " mime_type = EXCLUDED.mime_type");

/* --- small helpers ---------------------------------------------------------- */

static int fail(struct reg_error *e, enum reg_code code, const char *phase, const char *reason,
                const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(struct reg_error *e, enum reg_code code, const char *phase, const char *reason,
                const char *field, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    e->phase = phase;
    e->reason = reason;
    gw_strlcpy(e->field, field != NULL ? field : "", sizeof(e->field));
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    return -1;
}

static const char *tenant_param(const struct reg_actor *a)
{
    return a->tenant_id != NULL && a->tenant_id[0] != '\0' ? a->tenant_id : NULL;
}

static PGconn *db(struct gw_app *app, struct reg_error *e, const char *phase)
{
    PGconn *c = pg_conn(app);

    if (c == NULL)
        fail(e, REG_UNAVAILABLE, phase, "database_unavailable", NULL,
             "the registry database is not reachable");
    return c;
}

static PGresult *run(PGconn *c, const char *sql, int n, const char *const *p)
{
    return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

/* Reads run as statements prepared once per connection: planning the list
 * query costs more than running it. A connection that was reset has lost them
 * (SQLSTATE 26000): prepare again and retry. Only outside a transaction. */
static PGresult *run_prepared(PGconn *c, const char *name, const char *sql, int n,
                              const char *const *p)
{
    PGresult *r = PQexecPrepared(c, name, n, p, NULL, NULL, 0);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (PQresultStatus(r) != PGRES_FATAL_ERROR || state == NULL || strcmp(state, "26000") != 0)
        return r;
    PQclear(r);
    r = PQprepare(c, name, sql, n, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return r;
    PQclear(r);
    return PQexecPrepared(c, name, n, p, NULL, NULL, 0);
}

static bool result_ok(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);

    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* A failed statement: log it (the server message holds no secrets: every
 * credential reaches SQL sealed), answer the client without it. */
static int db_fail(struct reg_error *e, PGresult *r, const char *phase, const char *what)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    log_error("registry_db", "%s failed: %s", what,
              r != NULL ? PQresultErrorMessage(r) : "no result");
    if (state != NULL && strcmp(state, "23505") == 0)
        return fail(e, REG_CONFLICT, phase, "duplicate_name", "name",
                    "a server of that name is already visible in this scope");
    return fail(e, REG_UNAVAILABLE, phase, "database_error", NULL, "%s failed in the database", what);
}

static int exec_cmd(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

    if (rc != 0)
        log_error("registry_db", "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static void rollback(PGconn *c)
{
    PGresult *r = PQexec(c, "ROLLBACK");

    PQclear(r);
}

static struct json_object *parse_json(const char *text)
{
    return text != NULL ? json_tokener_parse(text) : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static const char *to_json_text(struct json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

bool reg_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n < 1 || n > 48 || !(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '-'))
            return false;
    return true;
}

bool reg_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* --- cursors ------------------------------------------------------------------ */

int reg_cursor_encode(const char *name, const char *id, char *out, size_t n)
{
    char raw[600];
    unsigned char enc[820];
    int len;

    if (gw_snprintf(raw, sizeof(raw), "%s\n%s", name, id) != 0)
        return -1;
    len = EVP_EncodeBlock(enc, (const unsigned char *)raw, (int)strlen(raw));
    while (len > 0 && enc[len - 1] == '=')
        len--;
    if ((size_t)len >= n)
        return -1;
    for (int i = 0; i < len; i++)
        out[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : (char)enc[i];
    out[len] = '\0';
    return 0;
}

int reg_cursor_decode(const char *cursor, char *name, size_t nn, char *id, size_t idn)
{
    unsigned char in[820], dec[620];
    size_t len = strlen(cursor), pad = 0;
    int dl;
    char *nl;

    if (len == 0 || len > 800 || len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = cursor[i];

        if (!(isalnum((unsigned char)ch) || ch == '-' || ch == '_'))
            return -1;
        in[i] = (unsigned char)(ch == '-' ? '+' : ch == '_' ? '/' : ch);
    }
    while ((len + pad) % 4 != 0)
        in[len + pad++] = '=';
    dl = EVP_DecodeBlock(dec, in, (int)(len + pad));
    if (dl < 0)
        return -1;
    dl -= (int)pad;
    if (dl <= 0)
        return -1;
    dec[dl] = '\0';
    if (memchr(dec, '\0', (size_t)dl) != NULL || (nl = strchr((char *)dec, '\n')) == NULL)
        return -1;
    *nl = '\0';
    if (gw_strlcpy(name, (char *)dec, nn) != 0 || gw_strlcpy(id, nl + 1, idn) != 0)
        return -1;
    return 0;
}

/* --- credentials ---------------------------------------------------------------- */

/* The secret fields of an auth object, as the JSON that gets sealed. */
static const char *const secret_fields[] = { "token", "header_name", "header_value", "token_url",
                                             "client_id", "client_secret", "scope" };

static void auth_from_json(struct json_object *o, const char *type, struct up_auth *au)
{
    memset(au, 0, sizeof(*au));
    au->type = type;
    au->token = jstr(o, "token");
    au->header_name = jstr(o, "header_name");
    au->header_value = jstr(o, "header_value");
    au->token_url = jstr(o, "token_url");
    au->client_id = jstr(o, "client_id");
    au->client_secret = jstr(o, "client_secret");
    au->scope = jstr(o, "scope");
}

static void aad_for(const char *server_id, char *out, size_t n)
{
    snprintf(out, n, "mcpgw:server:%s:auth", server_id);
}

/* Seal the credentials of auth (a validated body object) for server_id, as hex. */
static int seal_auth(const struct sec_key *key, const char *server_id, struct json_object *auth,
                     char **hex_out)
{
    struct json_object *o = json_object_new_object();
    unsigned char *sealed = NULL;
    size_t sl = 0;
    const char *pt;
    char aad[96];
    int rc = -1;

    *hex_out = NULL;
    for (size_t i = 0; i < GW_ARRAY_LEN(secret_fields); i++) {
        const char *v = jstr(auth, secret_fields[i]);

        if (v != NULL)
            json_object_object_add(o, secret_fields[i], json_object_new_string(v));
    }
    pt = to_json_text(o);
    aad_for(server_id, aad, sizeof(aad));
    if (sec_seal(key, aad, (const unsigned char *)pt, strlen(pt), &sealed, &sl) == 0 &&
        2 * sl < SEALED_MAX && (*hex_out = malloc(2 * sl + 1)) != NULL) {
        gw_hex(sealed, sl, *hex_out);
        rc = 0;
    }
    free(sealed);
    json_object_put(o);
    return rc;
}

static int unhex(const char *hex, unsigned char **out, size_t *out_len)
{
    size_t n = strlen(hex);
    unsigned char *b;

    if (n % 2 != 0 || (b = malloc(n / 2 + 1)) == NULL)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(b);
            return -1;
        }
        b[i] = (unsigned char)v;
    }
    *out = b;
    *out_len = n / 2;
    return 0;
}

/* Opened credentials of a stored server: the plaintext JSON lives in obj. */
struct creds {
    struct json_object *obj;
    struct up_auth auth;
};

static void creds_free(struct creds *c)
{
    json_object_put(c->obj);
    c->obj = NULL;
}

static int open_sealed(const struct sec_key *key, const char *server_id, const char *hex,
                       unsigned char **pt, size_t *pt_len)
{
    unsigned char *blob = NULL;
    size_t bl;
    char aad[96];
    int rc;

    if (unhex(hex, &blob, &bl) != 0)
        return -1;
    aad_for(server_id, aad, sizeof(aad));
    rc = sec_open(key, aad, blob, bl, pt, pt_len);
    free(blob);
    return rc;
}

int reg_creds_open(struct gw_app *app, const char *server_id, const char *type, const char *hex,
                   const char *key_id, struct json_object **obj, struct up_auth *au,
                   enum reg_creds_failure *why)
{
    const struct sec_key *key;
    unsigned char *pt = NULL;
    size_t pl = 0;
    char err[256];

    *obj = NULL;
    *why = REG_CREDS_NONE;
    if (strcmp(type, "none") == 0 || hex == NULL || hex[0] == '\0') {
        auth_from_json(NULL, "none", au);
        return 0;
    }
    key = sec_key_for(&app->cfg, err, sizeof(err));
    if (key == NULL) {
        log_error("secret_key_unavailable", "%s", err);
        *why = REG_CREDS_NO_KEY;
        return -1;
    }
    if (key_id == NULL || strcmp(key_id, key->id) != 0 ||
        open_sealed(key, server_id, hex, &pt, &pl) != 0) {
        log_error("secret_open_failed", "server %s: credentials sealed under key %s do not open "
                  "with key %s", server_id, key_id ? key_id : "-", key->id);
        *why = REG_CREDS_KEY_MISMATCH;
        return -1;
    }
    *obj = json_tokener_parse((const char *)pt);
    sec_free(pt, pl);
    if (*obj == NULL) {
        *why = REG_CREDS_CORRUPT;
        return -1;
    }
    auth_from_json(*obj, type, au);
    return 0;
}

static int creds_open(struct gw_app *app, const char *server_id, const char *type,
                      const char *hex, const char *key_id, struct creds *c, struct reg_error *e)
{
    enum reg_creds_failure why;

    memset(c, 0, sizeof(*c));
    if (reg_creds_open(app, server_id, type, hex, key_id, &c->obj, &c->auth, &why) == 0)
        return 0;
    switch (why) {
    case REG_CREDS_NO_KEY:
        return fail(e, REG_UNAVAILABLE, NULL, "secret_key_unavailable", NULL,
                    "the key that seals upstream credentials is not available");
    case REG_CREDS_KEY_MISMATCH:
        return fail(e, REG_UNAVAILABLE, NULL, "secret_key_mismatch", NULL,
                    "the stored credentials of this server cannot be opened with the configured key");
    default:
        return fail(e, REG_INTERNAL, NULL, "secret_corrupt", NULL, "stored credentials are unreadable");
    }
}

/* --- body validation ---------------------------------------------------------- */

static int want_string(struct json_object *body, const char *key, bool required, size_t max,
                       const char **out, struct reg_error *e)
{
    struct json_object *v;

    *out = NULL;
    if (!json_object_object_get_ex(body, key, &v) || v == NULL) {
        if (required)
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                        "'%s' is required", key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                    "'%s' must be a string", key);
    if ((size_t)json_object_get_string_len(v) > max)
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                    "'%s' is longer than %zu characters", key, max);
    *out = json_object_get_string(v);
    return 0;
}

static bool claim_role_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr("._-:/", *s) == NULL)
            return false;
    return true;
}

/* An array of short strings; roles must be role names. Its JSON text in *out. */
static int want_strings(struct json_object *body, const char *key, bool roles,
                        const char **out, struct reg_error *e)
{
    struct json_object *v;
    size_t n;

    *out = NULL;
    if (!json_object_object_get_ex(body, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_array) || (n = json_object_array_length(v)) > 32)
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                    "'%s' must be an array of at most 32 strings", key);
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(v, i);
        const char *s = json_object_get_string(it);

        if (!json_object_is_type(it, json_type_string) || json_object_get_string_len(it) < 1 ||
            json_object_get_string_len(it) > 64)
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                        "'%s' must hold strings of 1 to 64 characters", key);
        /* A required role is a gateway role or an entry of the token's roles
         * claim (any name the identity provider issues), never a list. */
        if (roles && auth_role_parse(s) == 0 && !claim_role_ok(s))
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                        "'%s': '%s' is neither a gateway role nor a role name (letters, digits, "
                        "'.', '_', '-', ':', '/')", key, s);
    }
    *out = to_json_text(v);
    return 0;
}

static int want_int(struct json_object *body, const char *key, int lo, int hi, int *out,
                    struct reg_error *e)
{
    struct json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(body, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_int) || (x = json_object_get_int64(v)) < lo || x > hi)
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", key,
                    "'%s' must be an integer from %d to %d", key, lo, hi);
    *out = (int)x;
    return 0;
}

static bool in_list(const char *key, const char *const *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, allowed[i]) == 0)
            return true;
    return false;
}

static int only_fields(struct json_object *o, const char *const *allowed, size_t n,
                       const char *prefix, struct reg_error *e)
{
    json_object_object_foreach(o, key, val) {
        (void)val;
        if (!in_list(key, allowed, n)) {
            char f[64];

            snprintf(f, sizeof(f), "%s%s", prefix, key);
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", f,
                        "unknown field '%s'", f);
        }
    }
    return 0;
}

static bool header_name_ok(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";

    if (s == NULL || *s == '\0' || strlen(s) > 128 || gw_str_eq_ci(s, "host") ||
        gw_str_eq_ci(s, "content-length") || gw_str_eq_ci(s, "mcp-session-id"))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && strchr(tchar, *s) == NULL)
            return false;
    return true;
}

static bool header_value_ok(const char *s)
{
    for (; s != NULL && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return s != NULL;
}

/* The auth object: type and exactly the fields that type needs. */
static int check_auth(struct json_object *auth, const char **type, struct reg_error *e)
{
    static const char *const fields[] = { "type", "token", "header_name", "header_value",
                                          "token_url", "client_id", "client_secret", "scope" };
    static const struct {
        const char *type;
        const char *required[3];
    } types[] = {
        { "none", { NULL } },
        { "bearer", { "token", NULL } },
        { "header", { "header_name", "header_value", NULL } },
        { "oauth_client_credentials", { "token_url", "client_id", "client_secret" } },
    };
    const char *s;

    *type = "none";
    if (auth == NULL)
        return 0;
    if (!json_object_is_type(auth, json_type_object))
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "auth", "'auth' must be an object");
    if (only_fields(auth, fields, GW_ARRAY_LEN(fields), "auth.", e) != 0)
        return -1;
    for (size_t i = 1; i < GW_ARRAY_LEN(fields); i++)
        if (want_string(auth, fields[i], false, 4096, &s, e) != 0) {
            snprintf(e->field, sizeof(e->field), "auth.%s", fields[i]);
            return -1;
        }
    if (want_string(auth, "type", true, 32, type, e) != 0) {
        gw_strlcpy(e->field, "auth.type", sizeof(e->field));
        return -1;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(types); i++) {
        if (strcmp(*type, types[i].type) != 0)
            continue;
        for (size_t j = 0; j < 3 && types[i].required[j] != NULL; j++) {
            s = jstr(auth, types[i].required[j]);
            if (s == NULL || s[0] == '\0')
                return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "",
                            "auth type '%s' needs 'auth.%s'", *type, types[i].required[j]);
        }
        if (strcmp(*type, "header") == 0 && !header_name_ok(jstr(auth, "header_name")))
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "auth.header_name",
                        "'auth.header_name' is not a header name the gateway may send");
        if (!header_value_ok(jstr(auth, "header_value") ? jstr(auth, "header_value") : "") ||
            !header_value_ok(jstr(auth, "token") ? jstr(auth, "token") : ""))
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "auth",
                        "credentials may not hold control characters");
        if (strcmp(*type, "oauth_client_credentials") == 0 &&
            !gw_has_prefix(jstr(auth, "token_url"), "https://") &&
            !gw_has_prefix(jstr(auth, "token_url"), "http://"))
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "auth.token_url",
                        "'auth.token_url' must be an http(s) URL");
        return 0;
    }
    return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "auth.type",
                "'auth.type' must be none, bearer, header or oauth_client_credentials");
}

struct server_body {
    const char *name, *url, *transport, *description;
    const char *tags, *agent_roles, *required_roles; /* JSON array text or NULL */
    int max_concurrency, timeout_ms;
    struct json_object *auth;
    const char *auth_type;
};

static int check_meta(struct json_object *body, struct server_body *b, struct reg_error *e)
{
    return want_string(body, "description", false, 2000, &b->description, e) != 0 ||
                   want_strings(body, "tags", false, &b->tags, e) != 0 ||
                   want_strings(body, "agent_roles", false, &b->agent_roles, e) != 0 ||
                   want_strings(body, "required_roles", true, &b->required_roles, e) != 0 ||
                   want_int(body, "max_concurrency", 1, 10000, &b->max_concurrency, e) != 0 ||
                   want_int(body, "timeout_ms", 100, 600000, &b->timeout_ms, e) != 0
               ? -1
               : 0;
}

static int check_body(struct json_object *body, struct server_body *b, struct reg_error *e)
{
    static const char *const fields[] = { "name", "url", "transport", "description", "tags",
                                          "agent_roles", "required_roles", "max_concurrency",
                                          "timeout_ms", "tenant_id", "auth" };

    memset(b, 0, sizeof(*b));
    b->max_concurrency = 16;
    b->timeout_ms = 30000;
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "",
                    "the body must be a JSON object");
    if (only_fields(body, fields, GW_ARRAY_LEN(fields), "", e) != 0 ||
        want_string(body, "name", true, 48, &b->name, e) != 0)
        return -1;
    if (!reg_name_valid(b->name))
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "name",
                    "'name' must match [a-z0-9][a-z0-9-]{0,47}");
    /* gateway__* are the built-in tools: a server of that name would have
     * its tools hidden from /mcp while its prompts and resources showed. */
    if (strcmp(b->name, "gateway") == 0)
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "name",
                    "'gateway' is reserved for the gateway's own tools");
    if (want_string(body, "url", true, 2048, &b->url, e) != 0 ||
        want_string(body, "transport", false, 32, &b->transport, e) != 0 ||
        check_meta(body, b, e) != 0)
        return -1;
    if (b->transport != NULL && strcmp(b->transport, "streamable-http") != 0)
        return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "transport",
                    "'transport' must be streamable-http");
    json_object_object_get_ex(body, "auth", &b->auth);
    return check_auth(b->auth, &b->auth_type, e);
}

/* Auth phase: the tenant the new server goes to. An admin writes its own
 * tenant only; shared servers (null) and other tenants are platform_admin's. */
static int target_tenant(const struct reg_actor *a, struct json_object *body, const char **tenant,
                         struct reg_error *e)
{
    struct json_object *v;
    const char *own = tenant_param(a);

    *tenant = own;
    if (!a->admin && !a->platform)
        return fail(e, REG_FORBIDDEN, "auth", "forbidden", NULL, "registering needs the admin role");
    if (body != NULL && json_object_is_type(body, json_type_object) &&
        json_object_object_get_ex(body, "tenant_id", &v)) {
        if (v != NULL && (!json_object_is_type(v, json_type_string) ||
                          json_object_get_string_len(v) < 1 || json_object_get_string_len(v) > 127))
            return fail(e, REG_BAD_REQUEST, "validation", "invalid_body", "tenant_id",
                        "'tenant_id' must be a tenant id or null");
        *tenant = v != NULL ? json_object_get_string(v) : NULL;
    }
    if (a->platform)
        return 0;
    if (*tenant == NULL)
        return fail(e, REG_FORBIDDEN, "auth", "forbidden", "tenant_id",
                    "only platform_admin registers shared servers");
    if (own == NULL || strcmp(*tenant, own) != 0)
        return fail(e, REG_FORBIDDEN, "auth", "forbidden", "tenant_id",
                    "an admin registers into its own tenant only");
    return 0;
}

static int upstream_fail(struct reg_error *e, enum up_status st, const char *phase, const char *why)
{
    switch (st) {
    case UP_URL_REFUSED:
        return fail(e, REG_BAD_REQUEST, phase, "url_refused", "url", "the URL is refused: %s", why);
    case UP_TIMEOUT:
        return fail(e, REG_UPSTREAM_TIMEOUT, phase, up_status_name(st), NULL,
                    "the upstream did not answer in time: %s", why);
    case UP_UNREACHABLE:
        return fail(e, REG_UPSTREAM_FAILED, phase, up_status_name(st), NULL,
                    "the upstream cannot be reached: %s", why);
    case UP_NOT_MCP:
        return fail(e, REG_UPSTREAM_FAILED, phase, up_status_name(st), NULL,
                    "the upstream does not speak MCP: %s", why);
    case UP_AUTH_REFUSED:
        return fail(e, REG_UPSTREAM_FAILED, phase, up_status_name(st), NULL,
                    "the upstream refused the credentials: %s", why);
    default:
        return fail(e, REG_UPSTREAM_FAILED, phase, up_status_name(st), NULL,
                    "the upstream broke the protocol: %s", why);
    }
}

/* Bring the three catalog kinds in line with a discovery, inside the caller's
 * transaction; the tool diff lands in *tools_diff (owned by the caller). */
static int sync_catalog(PGconn *c, const char *id, const struct up_catalog *cat,
                        struct json_object **diff, struct reg_error *e, const char *phase)
{
    const char *sql[4] = { sync_tools_sql, sync_prompts_sql, sync_resources_sql, sync_templates_sql };
    const char *names[4] = { "tools", "prompts", "resources", "resource_templates" };
    struct json_object *lists[4] = { cat->tools, cat->prompts, cat->resources, cat->resource_templates };

    *diff = json_object_new_object();
    for (int i = 0; i < 4; i++) {
        const char *p[2] = { id, lists[i] != NULL ? to_json_text(lists[i]) : "[]" };
        PGresult *r = run(c, sql[i], 2, p);

        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            db_fail(e, r, phase, "storing the catalog");
            PQclear(r);
            json_object_put(*diff);
            *diff = NULL;
            return -1;
        }
        json_object_object_add(*diff, names[i], parse_json(PQgetvalue(r, 0, 0)));
        PQclear(r);
    }
    return 0;
}

/* A success row in the caller's transaction; the target is a server unless
 * id is NULL (a change to every server's secrets). */
static int audit(PGconn *c, const struct reg_actor *a, const char *action, const char *id,
                 const char *tenant, struct json_object *detail, struct reg_error *e)
{
    struct audit_entry ae = {
        .action = action, .outcome = "success", .actor_user = a->user_id,
        .actor_tenant = tenant_param(a), .target_type = id != NULL ? "server" : "secrets",
        .target_id = id,
        .tenant_id = tenant, .request_id = a->request_id, .detail = detail,
    };
    char err[256];

    if (audit_append(c, &ae, err, sizeof(err)) != 0) {
        log_error("audit_append_failed", "%s %s: %s", action, id, err);
        return fail(e, REG_UNAVAILABLE, "audit", "audit_failed", NULL,
                    "the audit record could not be written; nothing was changed");
    }
    return 0;
}

/* --- registration --------------------------------------------------------------- */

static const char insert_sql[] =
    "INSERT INTO servers (id, tenant_id, name, url, transport, description, tags, agent_roles,"
    " required_roles, max_concurrency, timeout_ms, auth_type, auth_secret, auth_key_id,"
    " protocol_version, server_info, capabilities, last_refreshed_at)"
    " VALUES ($1::uuid, $2, $3, $4, 'streamable-http', coalesce($5, ''),"
    " ARRAY(SELECT jsonb_array_elements_text(coalesce($6, '[]')::jsonb)),"
    " ARRAY(SELECT jsonb_array_elements_text(coalesce($7, '[]')::jsonb)),"
    " ARRAY(SELECT jsonb_array_elements_text(coalesce($8, '[]')::jsonb)),"
    " $9::int, $10::int, $11, decode($12, 'hex'), $13, $14, $15::jsonb, $16::jsonb, now())";

static const char select_one_sql[] =
    "SELECT " SERVER_JSON " FROM servers s WHERE s.id = $3::uuid AND " VISIBLE;

static int store_new(PGconn *c, const struct reg_actor *a, const char *id, const char *tenant,
                     const struct server_body *b, const char *sealed, const char *key_id,
                     const struct up_catalog *cat, struct json_object **server,
                     struct reg_error *e)
{
    char mc[16], to[16];
    const char *p[16];
    struct json_object *diff = NULL, *detail;
    PGresult *r;
    const char *vis[3] = { NULL, "t", id };

    snprintf(mc, sizeof(mc), "%d", b->max_concurrency);
    snprintf(to, sizeof(to), "%d", b->timeout_ms);
    p[0] = id; p[1] = tenant; p[2] = b->name; p[3] = b->url; p[4] = b->description;
    p[5] = b->tags; p[6] = b->agent_roles; p[7] = b->required_roles; p[8] = mc; p[9] = to;
    p[10] = b->auth_type; p[11] = sealed; p[12] = key_id; p[13] = cat->protocol_version;
    p[14] = cat->server_info ? to_json_text(cat->server_info) : "{}";
    p[15] = cat->capabilities ? to_json_text(cat->capabilities) : "{}";
    if (exec_cmd(c, "BEGIN") != 0)
        return fail(e, REG_UNAVAILABLE, "registration", "database_error", NULL,
                    "the registration could not start");
    r = run(c, insert_sql, 16, p);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_fail(e, r, "registration", "storing the server");
        PQclear(r);
        goto rollback;
    }
    PQclear(r);
    if (sync_catalog(c, id, cat, &diff, e, "registration") != 0)
        goto rollback;
    detail = json_object_new_object();
    json_object_object_add(detail, "name", json_object_new_string(b->name));
    json_object_object_add(detail, "url", json_object_new_string(b->url));
    json_object_object_add(detail, "auth_type", json_object_new_string(b->auth_type));
    json_object_object_add(detail, "catalog", diff);
    if (audit(c, a, "server.register", id, tenant, detail, e) != 0) {
        json_object_put(detail);
        goto rollback;
    }
    json_object_put(detail);
    r = run(c, select_one_sql, 3, vis);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        db_fail(e, r, "registration", "reading the new server");
        PQclear(r);
        goto rollback;
    }
    *server = parse_json(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (exec_cmd(c, "COMMIT") != 0) {
        json_object_put(*server);
        *server = NULL;
        return fail(e, REG_UNAVAILABLE, "registration", "database_error", NULL,
                    "the registration could not be committed; nothing was changed");
    }
    return 0;
rollback:
    rollback(c);
    return -1;
}

/* Cheap early answer for a taken name, before the upstream is contacted; the
 * trigger of migration 002 stays the authority under concurrency. */
static int name_taken(PGconn *c, const char *name, const char *tenant, struct reg_error *e)
{
    const char *p[2] = { name, tenant };
    PGresult *r = run(c, "SELECT 1 FROM servers WHERE name = $1 AND (tenant_id IS NULL OR"
                         " $2::text IS NULL OR tenant_id = $2)", 2, p);
    int rc = 0;

    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = db_fail(e, r, "validation", "checking the name");
    else if (PQntuples(r) > 0)
        rc = fail(e, REG_CONFLICT, "validation", "duplicate_name", "name",
                  "a server named '%s' is already visible in this scope", name);
    PQclear(r);
    return rc;
}

int reg_register(struct gw_app *app, const struct reg_actor *a, struct json_object *body,
                 struct json_object **out, struct reg_error *e)
{
    struct server_body b;
    struct up_auth au;
    struct up_target t;
    struct up_catalog cat;
    const struct sec_key *key = NULL;
    const char *tenant;
    struct json_object *server = NULL, *phases;
    char id[37], why[512], *sealed = NULL;
    enum up_status st;
    PGconn *c;
    int rc = -1;

    *out = NULL;
    memset(&cat, 0, sizeof(cat));
    if (target_tenant(a, body, &tenant, e) != 0 || check_body(body, &b, e) != 0)
        return -1;
    if (up_url_check(&app->cfg, b.url, why, sizeof(why)) != 0)
        return fail(e, REG_BAD_REQUEST, "validation", "url_refused", "url",
                    "the URL is refused: %s", why);
    if ((c = db(app, e, "validation")) == NULL || name_taken(c, b.name, tenant, e) != 0)
        return -1;
    if (strcmp(b.auth_type, "none") != 0 && (key = sec_key_for(&app->cfg, why, sizeof(why))) == NULL) {
        log_error("secret_key_unavailable", "%s", why);
        return fail(e, REG_UNAVAILABLE, "validation", "secret_key_unavailable", NULL,
                    "credentials cannot be stored: the sealing key is not available");
    }
    if (gw_uuid(id) != 0)
        return fail(e, REG_INTERNAL, "validation", "no_randomness", NULL, "no server id could be made");
    auth_from_json(b.auth, b.auth_type, &au);
    t.url = b.url;
    t.auth = &au;
    t.timeout_ms = b.timeout_ms;
    t.cache_id = id;
    st = up_discover(app, &t, &cat, why, sizeof(why));
    if (st != UP_OK) {
        log_warn("registration_refused", "server %s: %s (%s)", b.name, up_status_name(st), why);
        return upstream_fail(e, st, "validation", why);
    }
    if (key != NULL && seal_auth(key, id, b.auth, &sealed) != 0) {
        fail(e, REG_INTERNAL, "registration", "seal_failed", NULL, "credentials could not be sealed");
        goto out;
    }
    if (store_new(c, a, id, tenant, &b, sealed, key ? key->id : NULL, &cat, &server, e) != 0)
        goto out;
    *out = json_object_new_object();
    json_object_object_add(*out, "server_id", json_object_new_string(id));
    /* The phases run are those of the registration's coordination plan. */
    phases = orch_plan_phases(ORCH_PLAN_REGISTRATION);
    json_object_object_add(*out, "phases_completed", phases);
    json_object_object_add(*out, "server", server);
    log_info("server_registered", "server %s (%s) tenant %s, %zu tools", b.name, id,
             tenant ? tenant : "(shared)",
             cat.tools ? json_object_array_length(cat.tools) : (size_t)0);
    cat_server_changed(app, id);
    rc = 0;
out:
    free(sealed);
    up_catalog_free(&cat);
    return rc;
}

/* --- reads ------------------------------------------------------------------------ */

static int one_json(struct gw_app *app, const struct reg_actor *a, const char *name,
                    const char *sql, const char *id, struct json_object **out, struct reg_error *e)
{
    const char *p[3] = { tenant_param(a), a->platform ? "t" : "f", id };
    PGconn *c;
    PGresult *r;
    int rc = 0;

    *out = NULL;
    if (!reg_uuid_valid(id))
        return fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
    if ((c = db(app, e, NULL)) == NULL)
        return -1;
    r = run_prepared(c, name, sql, 3, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = db_fail(e, r, NULL, "reading the server");
    else if (PQntuples(r) == 0)
        rc = fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
    else
        *out = parse_json(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

int reg_get(struct gw_app *app, const struct reg_actor *a, const char *id,
            struct json_object **out, struct reg_error *e)
{
    return one_json(app, a, "reg_get", select_one_sql, id, out, e);
}

int reg_tools(struct gw_app *app, const struct reg_actor *a, const char *id,
              struct json_object **out, struct reg_error *e)
{
    static const char sql[] =
        "SELECT json_build_object('server_id', s.id, 'server_name', s.name, 'tools',"
        " (SELECT coalesce(json_agg(json_build_object('name', t.name, 'title', t.title,"
        "   'description', t.description, 'input_schema', t.input_schema,"
        "   'output_schema', t.output_schema, 'annotations', t.annotations,"
        "   'schema_hash', t.schema_hash, 'first_seen', t.first_seen, 'last_seen', t.last_seen)"
        "   ORDER BY t.name), '[]') FROM server_tools t WHERE t.server_id = s.id))"
        " FROM servers s WHERE s.id = $3::uuid AND " VISIBLE;

    return one_json(app, a, "reg_tools", sql, id, out, e);
}

/* Rows of (name, key, json) with limit+1 fetched: the extra row says a next
 * page exists. The rows are JSON already: the page is their text joined, not
 * parsed and printed again. */
static int page_out(PGresult *r, int limit, const char *list_name, char **out)
{
    int n = PQntuples(r);
    size_t len = 64 + strlen(list_name), off = 0;
    char cur[820], *buf;

    for (int i = 0; i < n && i < limit; i++)
        len += (size_t)PQgetlength(r, i, 2) + 1;
    len += sizeof(cur);
    if ((buf = malloc(len)) == NULL)
        return -1;
    off += (size_t)snprintf(buf, len, "{\"%s\":[", list_name);
    for (int i = 0; i < n && i < limit; i++) {
        size_t l = (size_t)PQgetlength(r, i, 2);

        if (i > 0)
            buf[off++] = ',';
        memcpy(buf + off, PQgetvalue(r, i, 2), l);
        off += l;
    }
    if (n > limit && reg_cursor_encode(PQgetvalue(r, limit - 1, 0), PQgetvalue(r, limit - 1, 1),
                                       cur, sizeof(cur)) == 0)
        snprintf(buf + off, len - off, "],\"next_cursor\":\"%s\"}", cur);
    else
        snprintf(buf + off, len - off, "],\"next_cursor\":null}");
    *out = buf;
    return 0;
}

/* A page of a list: p[np - 1] receives limit + 1 (the extra row tells that a
 * next page exists). */
static int run_page(struct gw_app *app, const char *name, const char *sql, int np, const char **p,
                    int limit, const char *list_name, char **out, struct reg_error *e)
{
    char lim[16];
    PGconn *c;
    PGresult *r;
    int rc;

    if ((c = db(app, e, NULL)) == NULL)
        return -1;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    p[np - 1] = lim;
    r = run_prepared(c, name, sql, np, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = db_fail(e, r, NULL, "listing");
    else if ((rc = page_out(r, limit, list_name, out)) != 0)
        fail(e, REG_INTERNAL, NULL, "no_memory", NULL, "out of memory");
    PQclear(r);
    return rc;
}

static int cursor_in(const char *cursor, char *a, size_t an, char *b, size_t bn, bool uuid,
                     struct reg_error *e)
{
    a[0] = b[0] = '\0';
    if (cursor == NULL)
        return 0;
    if (reg_cursor_decode(cursor, a, an, b, bn) != 0 || !reg_name_valid(a) ||
        (uuid && !reg_uuid_valid(b)))
        return fail(e, REG_BAD_REQUEST, NULL, "invalid_cursor", "cursor",
                    "the cursor is not one this gateway gave out");
    return 0;
}

int reg_list(struct gw_app *app, const struct reg_actor *a, const struct reg_list_query *q,
             char **out, struct reg_error *e)
{
    static const char sql[] =
        "SELECT s.name, s.id, " SERVER_JSON " FROM servers s WHERE " VISIBLE
        " AND ($3::text IS NULL OR $3 = ANY (s.tags))"
        " AND ($4::text IS NULL OR ($4 = 'maintenance' AND s.maintenance) OR s.status = $4)"
        " AND ($5::text IS NULL OR $5 = ANY (s.agent_roles))"
        " AND ($6::text IS NULL OR strpos(lower(s.name || ' ' || s.description), lower($6)) > 0)"
        " AND ($7::text IS NULL OR (s.name, s.id) > ($7, $8::uuid))"
        " ORDER BY s.name, s.id LIMIT $9::int";
    char cname[64], cid[64];
    const char *p[9];

    *out = NULL;
    if (cursor_in(q->cursor, cname, sizeof(cname), cid, sizeof(cid), true, e) != 0)
        return -1;
    p[0] = tenant_param(a); p[1] = a->platform ? "t" : "f"; p[2] = q->tag; p[3] = q->status;
    p[4] = q->agent_role; p[5] = q->q; p[6] = cname[0] ? cname : NULL; p[7] = cid[0] ? cid : NULL;
    return run_page(app, "reg_list", sql, 9, p, q->limit, "servers", out, e);
}

int reg_search_tools(struct gw_app *app, const struct reg_actor *a, const char *q,
                     const char *cursor, int limit, char **out, struct reg_error *e)
{
    static const char sql[] =
        "SELECT s.name, t.name, json_build_object('server_id', s.id, 'server_name', s.name,"
        " 'name', t.name, 'title', t.title, 'description', t.description,"
        " 'input_schema', t.input_schema, 'annotations', t.annotations)"
        " FROM server_tools t JOIN servers s ON s.id = t.server_id WHERE " VISIBLE
        " AND ($3::text IS NULL OR strpos(lower(t.name || ' ' || coalesce(t.title, '') || ' ' ||"
        "   t.description), lower($3)) > 0)"
        " AND ($4::text IS NULL OR (s.name, t.name) > ($4, $5))"
        " ORDER BY s.name, t.name LIMIT $6::int";
    char cs[64], ct[512];
    const char *p[6];

    *out = NULL;
    if (cursor_in(cursor, cs, sizeof(cs), ct, sizeof(ct), false, e) != 0)
        return -1;
    p[0] = tenant_param(a); p[1] = a->platform ? "t" : "f"; p[2] = q;
    p[3] = cs[0] ? cs : NULL; p[4] = cs[0] ? ct : NULL;
    return run_page(app, "reg_search_tools", sql, 6, p, limit, "tools", out, e);
}

/* --- writes ----------------------------------------------------------------------- */

/* After a write matched no row: absent or another tenant's (404), visible but
 * shared for an admin (403), or another version (412). */
static int why_not_written(PGconn *c, const struct reg_actor *a, const char *id, int if_match,
                           struct reg_error *e)
{
    const char *p[3] = { tenant_param(a), a->platform ? "t" : "f", id };
    PGresult *r = run(c, "SELECT " WRITABLE ", s.version FROM servers s WHERE s.id = $3::uuid AND "
                         VISIBLE, 3, p);
    int rc;

    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = db_fail(e, r, NULL, "reading the server");
    else if (PQntuples(r) == 0)
        rc = fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
    else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rc = fail(e, REG_FORBIDDEN, NULL, "forbidden", NULL,
                  "shared servers are changed by platform_admin only");
    else
        rc = fail(e, REG_PRECONDITION_FAILED, NULL, "stale_version", NULL,
                  "the server is at version %s, not %d", PQgetvalue(r, 0, 1), if_match);
    PQclear(r);
    return rc;
}

/* Run one write statement (returning tenant_id and a JSON column) and its
 * audit row in one transaction. Without a detail, the returned JSON is it. */
static int write_audited(struct gw_app *app, const struct reg_actor *a, const char *sql, int np,
                         const char *const *p, const char *id, int if_match, const char *action,
                         struct json_object *detail, struct json_object **out, struct reg_error *e)
{
    PGconn *c;
    PGresult *r;
    struct json_object *row = NULL;
    char tenant[128];
    bool shared;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (!reg_uuid_valid(id))
        return fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
    if ((c = db(app, e, NULL)) == NULL)
        return -1;
    if (exec_cmd(c, "BEGIN") != 0)
        return fail(e, REG_UNAVAILABLE, NULL, "database_error", NULL, "the change could not start");
    r = run(c, sql, np, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(e, r, NULL, action);
        PQclear(r);
        goto rollback;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        rollback(c);
        return why_not_written(c, a, id, if_match, e);
    }
    shared = PQgetisnull(r, 0, 0);
    gw_strlcpy(tenant, PQgetvalue(r, 0, 0), sizeof(tenant));
    if (out != NULL)
        *out = parse_json(PQgetvalue(r, 0, 1));
    if (detail == NULL)   /* what the statement returned says what changed */
        detail = row = parse_json(PQgetvalue(r, 0, 1));
    PQclear(r);
    rc = audit(c, a, action, id, shared ? NULL : tenant, detail, e);
    json_object_put(row);
    if (rc != 0)
        goto rollback;
    if (exec_cmd(c, "COMMIT") != 0) {
        fail(e, REG_UNAVAILABLE, NULL, "database_error", NULL, "the change could not be committed");
        goto drop;
    }
    /* Committed: the MCP plane's catalog follows. */
    if (strcmp(action, "server.delete") == 0)
        cat_server_removed(app, id);
    else
        cat_server_changed(app, id);
    return 0;
rollback:
    rollback(c);
drop:
    if (out != NULL) {
        json_object_put(*out);
        *out = NULL;
    }
    return -1;
}

int reg_patch(struct gw_app *app, const struct reg_actor *a, const char *id, int if_match,
              struct json_object *body, struct json_object **out, struct reg_error *e)
{
    static const char *const fields[] = { "description", "tags", "agent_roles", "required_roles",
                                          "max_concurrency", "timeout_ms" };
    static const char sql[] =
        "UPDATE servers s SET description = coalesce($4, s.description),"
        " tags = CASE WHEN $5::jsonb IS NULL THEN s.tags"
        "   ELSE ARRAY(SELECT jsonb_array_elements_text($5::jsonb)) END,"
        " agent_roles = CASE WHEN $6::jsonb IS NULL THEN s.agent_roles"
        "   ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END,"
        " required_roles = CASE WHEN $7::jsonb IS NULL THEN s.required_roles"
        "   ELSE ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) END,"
        " max_concurrency = coalesce($8::int, s.max_concurrency),"
        " timeout_ms = coalesce($9::int, s.timeout_ms),"
        " version = s.version + 1, updated_at = now()"
        " WHERE s.id = $3::uuid AND " WRITABLE " AND s.version = $10::int"
        " RETURNING s.tenant_id, " SERVER_JSON;
    struct server_body b;
    char mc[16], to[16], ver[16];
    const char *p[10];
    struct json_object *v;
    int rc;

    memset(&b, 0, sizeof(b));
    b.max_concurrency = b.timeout_ms = -1;
    if (body == NULL || !json_object_is_type(body, json_type_object))
        return fail(e, REG_BAD_REQUEST, NULL, "invalid_body", "", "the body must be a JSON object");
    json_object_object_foreach(body, key, val) {
        (void)val;
        if (!in_list(key, fields, GW_ARRAY_LEN(fields)))
            return fail(e, REG_BAD_REQUEST, NULL, "invalid_body", key,
                        "'%s' cannot be changed by PATCH (name, url, tenant and credentials are "
                        "fixed at registration)", key);
    }
    if (check_meta(body, &b, e) != 0)
        return -1;
    snprintf(mc, sizeof(mc), "%d", b.max_concurrency);
    snprintf(to, sizeof(to), "%d", b.timeout_ms);
    snprintf(ver, sizeof(ver), "%d", if_match);
    p[0] = tenant_param(a); p[1] = a->platform ? "t" : "f"; p[2] = id; p[3] = b.description;
    p[4] = b.tags; p[5] = b.agent_roles; p[6] = b.required_roles;
    p[7] = b.max_concurrency >= 0 ? mc : NULL; p[8] = b.timeout_ms >= 0 ? to : NULL; p[9] = ver;
    v = json_object_new_object();
    json_object_object_add(v, "changed", json_object_get(body));
    json_object_object_add(v, "from_version", json_object_new_int(if_match));
    rc = write_audited(app, a, sql, 10, p, id, if_match, "server.update", v, out, e);
    json_object_put(v);
    return rc;
}

int reg_delete(struct gw_app *app, const struct reg_actor *a, const char *id, int if_match,
               struct reg_error *e)
{
    static const char sql[] =
        "DELETE FROM servers s WHERE s.id = $3::uuid AND " WRITABLE
        " AND ($4::int IS NULL OR s.version = $4::int)"
        " RETURNING s.tenant_id, json_build_object('name', s.name, 'url', s.url, 'version', s.version)";
    char ver[16];
    const char *p[4];

    snprintf(ver, sizeof(ver), "%d", if_match);
    p[0] = tenant_param(a); p[1] = a->platform ? "t" : "f"; p[2] = id;
    p[3] = if_match >= 0 ? ver : NULL;
    /* No detail given: the audit row names what was deleted, from RETURNING. */
    return write_audited(app, a, sql, 4, p, id, if_match, "server.delete", NULL, NULL, e);
}

int reg_maintenance(struct gw_app *app, const struct reg_actor *a, const char *id, bool on,
                    struct json_object **out, struct reg_error *e)
{
    static const char sql[] =
        "UPDATE servers s SET maintenance = $4::bool, version = s.version + 1, updated_at = now()"
        " WHERE s.id = $3::uuid AND " WRITABLE " RETURNING s.tenant_id, " SERVER_JSON;
    const char *p[4] = { tenant_param(a), a->platform ? "t" : "f", id, on ? "t" : "f" };
    struct json_object *d = json_object_new_object();
    int rc;

    json_object_object_add(d, "maintenance", json_object_new_boolean(on));
    rc = write_audited(app, a, sql, 4, p, id, -1,
                       on ? "server.maintenance_on" : "server.maintenance_off", d, out, e);
    json_object_put(d);
    return rc;
}

/* --- discovery again, and probes --------------------------------------------------- */

struct stored {
    char url[2048];
    char auth_type[32];
    char key_id[32];
    char tenant[128];
    bool shared, writable;
    int timeout_ms;
    char *sealed_hex;
    char protocol_version[32];      /* the era learnt at the last refresh */
};

static int load_stored(PGconn *c, const struct reg_actor *a, const char *id, struct stored *s,
                       struct reg_error *e)
{
    const char *p[3] = { tenant_param(a), a->platform ? "t" : "f", id };
    PGresult *r = run(c, "SELECT s.url, s.auth_type, coalesce(s.auth_key_id, ''), s.tenant_id, "
                         WRITABLE ", s.timeout_ms, coalesce(encode(s.auth_secret, 'hex'), ''),"
                         " coalesce(s.protocol_version, '')"
                         " FROM servers s WHERE s.id = $3::uuid AND " VISIBLE, 3, p);
    int rc = 0;

    memset(s, 0, sizeof(*s));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = db_fail(e, r, NULL, "reading the server");
    } else if (PQntuples(r) == 0) {
        rc = fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
    } else {
        gw_strlcpy(s->url, PQgetvalue(r, 0, 0), sizeof(s->url));
        gw_strlcpy(s->auth_type, PQgetvalue(r, 0, 1), sizeof(s->auth_type));
        gw_strlcpy(s->key_id, PQgetvalue(r, 0, 2), sizeof(s->key_id));
        s->shared = PQgetisnull(r, 0, 3);
        gw_strlcpy(s->tenant, PQgetvalue(r, 0, 3), sizeof(s->tenant));
        s->writable = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
        s->timeout_ms = atoi(PQgetvalue(r, 0, 5));
        s->sealed_hex = strdup(PQgetvalue(r, 0, 6));
        gw_strlcpy(s->protocol_version, PQgetvalue(r, 0, 7), sizeof(s->protocol_version));
        if (s->sealed_hex == NULL)
            rc = fail(e, REG_INTERNAL, NULL, "no_memory", NULL, "out of memory");
    }
    PQclear(r);
    return rc;
}

static void stored_free(struct stored *s)
{
    if (s->sealed_hex != NULL)
        sec_free(s->sealed_hex, strlen(s->sealed_hex));
    s->sealed_hex = NULL;
}

/* What it takes to reach a stored server: its row, opened credentials, a target. */
struct reach {
    struct stored s;
    struct creds cr;
    struct up_target t;
};

static void reach_close(struct reach *x)
{
    creds_free(&x->cr);
    stored_free(&x->s);
}

/* Load the server the actor sees (and must be able to write, when asked) and
 * open its credentials. On failure nothing is left to free. */
static PGconn *reach_open(struct gw_app *app, const struct reg_actor *a, const char *id,
                          bool write, struct reach *x, struct reg_error *e)
{
    PGconn *c;

    memset(x, 0, sizeof(*x));
    if (!reg_uuid_valid(id)) {
        fail(e, REG_NOT_FOUND, NULL, "not_found", NULL, "no such server");
        return NULL;
    }
    if ((c = db(app, e, NULL)) == NULL || load_stored(c, a, id, &x->s, e) != 0)
        return NULL;
    if (write && !x->s.writable) {
        fail(e, REG_FORBIDDEN, NULL, "forbidden", NULL, "shared servers are changed by platform_admin only");
        reach_close(x);
        return NULL;
    }
    if (creds_open(app, id, x->s.auth_type, x->s.sealed_hex, x->s.key_id, &x->cr, e) != 0) {
        reach_close(x);
        return NULL;
    }
    x->t.url = x->s.url;
    x->t.auth = &x->cr.auth;
    x->t.timeout_ms = x->s.timeout_ms;
    x->t.cache_id = id;
    x->t.protocol_version = x->s.protocol_version;
    return c;
}

/* Store a discovery of server id (catalog, discovery fields, status back to
 * active) with its audit row, in one transaction; the diff in *diff. */
static int store_discovery(PGconn *c, const struct reg_actor *a, const char *id, const char *tenant,
                           const struct up_catalog *cat, struct json_object **diff,
                           struct reg_error *e)
{
    static const char update_sql[] =
        "UPDATE servers SET protocol_version = $2, server_info = $3::jsonb, capabilities = $4::jsonb,"
        " last_refreshed_at = now(), status = 'active' WHERE id = $1::uuid";
    const char *p[4] = { id, cat->protocol_version,
                         cat->server_info ? to_json_text(cat->server_info) : "{}",
                         cat->capabilities ? to_json_text(cat->capabilities) : "{}" };
    PGresult *r;

    *diff = NULL;
    if (exec_cmd(c, "BEGIN") != 0)
        return fail(e, REG_UNAVAILABLE, NULL, "database_error", NULL, "the refresh could not start");
    if (sync_catalog(c, id, cat, diff, e, NULL) != 0)
        goto rollback;
    r = run(c, update_sql, 4, p);
    if (!result_ok(r)) {
        db_fail(e, r, NULL, "storing the discovery");
        PQclear(r);
        goto rollback;
    }
    PQclear(r);
    if (audit(c, a, "server.refresh", id, tenant, *diff, e) != 0)
        goto rollback;
    if (exec_cmd(c, "COMMIT") != 0) {
        fail(e, REG_UNAVAILABLE, NULL, "database_error", NULL, "the refresh could not be committed");
        goto drop;
    }
    return 0;
rollback:
    rollback(c);
drop:
    json_object_put(*diff);
    *diff = NULL;
    return -1;
}

int reg_refresh(struct gw_app *app, const struct reg_actor *a, const char *id,
                struct json_object **out, struct reg_error *e)
{
    struct reach x;
    struct up_catalog cat;
    struct json_object *diff = NULL;
    char why[512];
    enum up_status st;
    PGconn *c;
    int rc = -1;

    *out = NULL;
    memset(&cat, 0, sizeof(cat));
    if ((c = reach_open(app, a, id, true, &x, e)) == NULL)
        return -1;
    st = up_discover(app, &x.t, &cat, why, sizeof(why));
    if (st != UP_OK) {
        log_warn("refresh_failed", "server %s: %s (%s)", id, up_status_name(st), why);
        upstream_fail(e, st, NULL, why);
        goto out;
    }
    if (store_discovery(c, a, id, x.s.shared ? NULL : x.s.tenant, &cat, &diff, e) != 0)
        goto out;
    cat_server_changed(app, id);
    json_object_object_add(diff, "server_id", json_object_new_string(id));
    *out = diff;
    diff = NULL;
    rc = 0;
out:
    json_object_put(diff);
    up_catalog_free(&cat);
    reach_close(&x);
    return rc;
}

/* --- catalog refresh: every server in scope, discovered in parallel ------------------ */

struct refresh_job {
    char id[37], name[49], tenant[128];
    bool shared;
    char url[2048];
    int timeout_ms;
    char auth_type[32];
    struct creds cr;
    bool creds_ok;
    /* filled by the worker */
    enum up_status st;
    struct up_catalog cat;
    char why[512];
    long ms;
};

struct refresh_pool {
    const struct gw_config *cfg;
    enum gw_plane plane;
    struct refresh_job *jobs;
    size_t n, next;
    pthread_mutex_t mu;
};

/* One worker: its own gw_app (curl handle, Redis connection for OAuth
 * tokens), since neither is shared between threads. */
static void *refresh_worker(void *arg)
{
    struct refresh_pool *p = arg;
    struct gw_app wapp;

    if (app_init(&wapp, p->cfg, p->plane) != 0)
        return NULL;
    for (;;) {
        struct refresh_job *j;
        struct up_target t;
        int64_t t0;

        pthread_mutex_lock(&p->mu);
        j = p->next < p->n ? &p->jobs[p->next++] : NULL;
        pthread_mutex_unlock(&p->mu);
        if (j == NULL)
            break;
        if (!j->creds_ok)
            continue;
        memset(&t, 0, sizeof(t));
        t.url = j->url;
        t.auth = &j->cr.auth;
        t.timeout_ms = j->timeout_ms;
        t.cache_id = j->id;
        t0 = gw_monotonic_ms();
        j->st = up_discover(&wapp, &t, &j->cat, j->why, sizeof(j->why));
        j->ms = (long)(gw_monotonic_ms() - t0);
    }
    app_free(&wapp);
    return NULL;
}

static int load_scope(struct gw_app *app, PGconn *c, const struct reg_actor *a,
                      struct refresh_job **jobs, size_t *n, struct reg_error *e)
{
    const char *p[2] = { tenant_param(a), a->platform ? "t" : "f" };
    PGresult *r = run(c, "SELECT s.id, s.name, s.tenant_id, s.url, s.timeout_ms, s.auth_type,"
                         " coalesce(s.auth_key_id, ''), coalesce(encode(s.auth_secret, 'hex'), '')"
                         " FROM servers s WHERE " WRITABLE " ORDER BY s.name, s.id", 2, p);

    *jobs = NULL;
    *n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_fail(e, r, NULL, "reading the servers");
        PQclear(r);
        return -1;
    }
    *n = (size_t)PQntuples(r);
    if (*n > 0 && (*jobs = calloc(*n, sizeof(**jobs))) == NULL) {
        PQclear(r);
        *n = 0;
        return fail(e, REG_INTERNAL, NULL, "no_memory", NULL, "out of memory");
    }
    for (size_t i = 0; i < *n; i++) {
        struct refresh_job *j = &(*jobs)[i];

        gw_strlcpy(j->id, PQgetvalue(r, (int)i, 0), sizeof(j->id));
        gw_strlcpy(j->name, PQgetvalue(r, (int)i, 1), sizeof(j->name));
        j->shared = PQgetisnull(r, (int)i, 2);
        gw_strlcpy(j->tenant, PQgetvalue(r, (int)i, 2), sizeof(j->tenant));
        gw_strlcpy(j->url, PQgetvalue(r, (int)i, 3), sizeof(j->url));
        j->timeout_ms = atoi(PQgetvalue(r, (int)i, 4));
        gw_strlcpy(j->auth_type, PQgetvalue(r, (int)i, 5), sizeof(j->auth_type));
        j->st = UP_UNREACHABLE;
        /* Opened here, not in the workers: the key cache is per process. */
        {
            enum reg_creds_failure why;

            j->creds_ok = reg_creds_open(app, j->id, j->auth_type, PQgetvalue(r, (int)i, 7),
                                         PQgetvalue(r, (int)i, 6), &j->cr.obj, &j->cr.auth, &why) == 0;
        }
    }
    PQclear(r);
    return 0;
}

int reg_refresh_all(struct gw_app *app, const struct reg_actor *a, struct json_object **out,
                    struct reg_error *e)
{
    static const char mark_sql[] =
        "WITH o AS (SELECT status FROM servers WHERE id = $1::uuid FOR UPDATE)"
        " UPDATE servers s SET status = $2 FROM o WHERE s.id = $1::uuid"
        " RETURNING o.status IS DISTINCT FROM s.status";
    struct refresh_pool pool;
    struct refresh_job *jobs = NULL;
    struct json_object *done, *unavailable;
    pthread_t th[64];
    size_t n = 0, nth, started = 0;
    int64_t t0 = gw_monotonic_ms();
    PGconn *c;

    *out = NULL;
    if (!a->admin && !a->platform)
        return fail(e, REG_FORBIDDEN, NULL, "forbidden", NULL, "refreshing the catalog needs admin");
    if ((c = db(app, e, NULL)) == NULL || load_scope(app, c, a, &jobs, &n, e) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].creds_ok) {
            jobs[i].timeout_ms = jobs[i].timeout_ms < app->cfg.upstream_timeout_ms
                                     ? jobs[i].timeout_ms : app->cfg.upstream_timeout_ms;
        } else {
            jobs[i].st = UP_AUTH_REFUSED;
            gw_snprintf(jobs[i].why, sizeof(jobs[i].why),
                        "the stored credentials cannot be opened with the configured key");
        }
    memset(&pool, 0, sizeof(pool));
    pool.cfg = &app->cfg;
    pool.plane = app->serve_plane;
    pool.jobs = jobs;
    pool.n = n;
    pthread_mutex_init(&pool.mu, NULL);
    nth = (size_t)app->cfg.upstream_refresh_parallel;
    if (nth > GW_ARRAY_LEN(th))
        nth = GW_ARRAY_LEN(th);
    if (nth > n)
        nth = n;
    for (size_t i = 0; i < nth; i++)
        if (pthread_create(&th[started], NULL, refresh_worker, &pool) == 0)
            started++;
    if (started == 0)
        refresh_worker(&pool);   /* no thread to be had: one at a time, here */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pool.mu);

    done = json_object_new_array();
    unavailable = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct refresh_job *j = &jobs[i];
        struct json_object *o = json_object_new_object(), *diff = NULL;
        struct reg_error se = { 0 };

        json_object_object_add(o, "server_id", json_object_new_string(j->id));
        json_object_object_add(o, "name", json_object_new_string(j->name));
        if (j->st == UP_OK &&
            store_discovery(c, a, j->id, j->shared ? NULL : j->tenant, &j->cat, &diff, &se) == 0) {
            json_object_object_foreach(diff, k, v)
                json_object_object_add(o, k, json_object_get(v));
            json_object_put(diff);
            json_object_object_add(o, "duration_ms", json_object_new_int64(j->ms));
            json_object_array_add(done, o);
            cat_server_changed(app, j->id);
            continue;
        }
        if (j->st == UP_OK) {
            j->st = UP_PROTOCOL_ERROR;
            json_object_object_add(o, "reason", json_object_new_string(se.reason ? se.reason : "database_error"));
            json_object_object_add(o, "detail", json_object_new_string(se.detail));
        } else {
            /* Marked, but its last catalog stays listed. */
            const char *status = j->st == UP_UNREACHABLE || j->st == UP_TIMEOUT ? "unreachable" : "unhealthy";
            const char *p[2] = { j->id, status };
            PGresult *r = run(c, mark_sql, 2, p);

            if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                strcmp(PQgetvalue(r, 0, 0), "t") == 0)
                cat_server_changed(app, j->id);
            PQclear(r);
            log_warn("catalog_refresh_unavailable", "server %s (%s): %s (%s)", j->name, j->id,
                     up_status_name(j->st), j->why);
            json_object_object_add(o, "reason", json_object_new_string(up_status_name(j->st)));
            json_object_object_add(o, "detail", json_object_new_string(j->why));
            json_object_object_add(o, "status", json_object_new_string(status));
        }
        json_object_array_add(unavailable, o);
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "refreshed", done);
    json_object_object_add(*out, "unavailable", unavailable);
    json_object_object_add(*out, "duration_ms", json_object_new_int64(gw_monotonic_ms() - t0));
    log_info("catalog_refreshed", "%zu servers: %zu refreshed, %zu unavailable in %lld ms", n,
             json_object_array_length(done), json_object_array_length(unavailable),
             (long long)(gw_monotonic_ms() - t0));
    for (size_t i = 0; i < n; i++) {
        up_catalog_free(&jobs[i].cat);
        creds_free(&jobs[i].cr);
    }
    free(jobs);
    return 0;
}

int reg_health(struct gw_app *app, const struct reg_actor *a, const char *id,
               struct json_object **out, struct reg_error *e)
{
    static const char update_sql[] =
        "UPDATE servers SET last_health_status = $2, last_latency_ms = $3::int, last_health_at = now(),"
        " status = CASE WHEN $2 = 'healthy' THEN 'active' WHEN $4 = 'unreachable' THEN 'unreachable'"
        "   ELSE 'unhealthy' END"
        " FROM (SELECT status AS old FROM servers WHERE id = $1::uuid FOR UPDATE) o"
        " WHERE id = $1::uuid"
        /* RFC 3339, as in the row's JSON; and whether the status moved. */
        " RETURNING to_json(last_health_at) #>> '{}', o.old IS DISTINCT FROM servers.status";
    struct reach x;
    char why[512], lat[24];
    long latency = -1;
    bool moved = false;
    enum up_status st;
    PGconn *c;
    PGresult *r;
    int rc = -1;

    *out = NULL;
    if ((c = reach_open(app, a, id, false, &x, e)) == NULL)
        return -1;
    why[0] = '\0';
    st = up_probe(app, &x.t, &latency, why, sizeof(why));
    snprintf(lat, sizeof(lat), "%ld", latency);
    {
        const char *p[4] = { id, st == UP_OK ? "healthy" : "unhealthy",
                             st == UP_OK && latency >= 0 ? lat : NULL, up_status_name(st) };

        r = run(c, update_sql, 4, p);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            db_fail(e, r, NULL, "storing the probe");
            PQclear(r);
            goto out;
        }
        *out = json_object_new_object();
        json_object_object_add(*out, "server_id", json_object_new_string(id));
        json_object_object_add(*out, "status", json_object_new_string(p[1]));
        json_object_object_add(*out, "reason", st == UP_OK ? NULL : json_object_new_string(up_status_name(st)));
        json_object_object_add(*out, "detail", st == UP_OK ? NULL : json_object_new_string(why));
        json_object_object_add(*out, "latency_ms", st == UP_OK ? json_object_new_int64(latency) : NULL);
        json_object_object_add(*out, "checked_at", json_object_new_string(PQgetvalue(r, 0, 0)));
        moved = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        PQclear(r);
    }
    if (moved)
        cat_server_changed(app, id);
    rc = 0;
out:
    reach_close(&x);
    return rc;
}

/* --- rekey -------------------------------------------------------------------------- */

int reg_rekey(const struct gw_config *cfg, const char *new_key_file, int *count, char *err, size_t n)
{
    struct sec_key old_key, new_key;
    PGconn *c = NULL;
    PGresult *r = NULL;
    char why[512];
    int rc = -1, done = 0;

    *count = 0;
    if (sec_key_load(cfg->secret_key_file, &old_key, why, sizeof(why)) != 0) {
        snprintf(err, n, "current key: %s", why);
        return -1;
    }
    if (sec_key_load(new_key_file, &new_key, why, sizeof(why)) != 0) {
        snprintf(err, n, "new key: %s", why);
        sec_key_wipe(&old_key);
        return -1;
    }
    if ((c = pg_connect_dsn(cfg->pg_dsn, cfg->pg_connect_timeout, err, n)) == NULL)
        goto out;
    if (exec_cmd(c, "BEGIN") != 0) {
        snprintf(err, n, "cannot start the transaction");
        goto out;
    }
    r = PQexec(c, "SELECT id, encode(auth_secret, 'hex'), auth_key_id FROM servers"
                  " WHERE auth_secret IS NOT NULL ORDER BY id FOR UPDATE");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, n, "reading sealed credentials: %s", PQresultErrorMessage(r));
        goto rollback;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *kid = PQgetvalue(r, i, 2);
        unsigned char *pt = NULL, *sealed = NULL;
        size_t pl = 0, sl = 0;
        char aad[96], *hex = NULL;
        PGresult *u;
        int ok;

        if (strcmp(kid, new_key.id) == 0)
            continue;   /* already under the new key: a second run after a crash */
        if (strcmp(kid, old_key.id) != 0 ||
            open_sealed(&old_key, id, PQgetvalue(r, i, 1), &pt, &pl) != 0) {
            snprintf(err, n, "server %s: its credentials do not open with the current key "
                             "(key id %s); nothing was re-sealed", id, kid);
            goto rollback;
        }
        aad_for(id, aad, sizeof(aad));
        ok = sec_seal(&new_key, aad, pt, pl, &sealed, &sl) == 0 && (hex = malloc(2 * sl + 1)) != NULL;
        sec_free(pt, pl);
        if (!ok) {
            free(sealed);
            snprintf(err, n, "server %s: sealing failed; nothing was re-sealed", id);
            goto rollback;
        }
        gw_hex(sealed, sl, hex);
        free(sealed);
        {
            const char *p[3] = { id, hex, new_key.id };

            u = run(c, "UPDATE servers SET auth_secret = decode($2, 'hex'), auth_key_id = $3"
                       " WHERE id = $1::uuid", 3, p);
        }
        free(hex);
        if (PQresultStatus(u) != PGRES_COMMAND_OK) {
            snprintf(err, n, "server %s: %s", id, PQresultErrorMessage(u));
            PQclear(u);
            goto rollback;
        }
        PQclear(u);
        done++;
    }
    {
        struct reg_actor op = { .user_id = "cli:rekey", .request_id = "rekey" };
        struct reg_error e;
        struct json_object *d = json_object_new_object();
        int arc;

        json_object_object_add(d, "from_key_id", json_object_new_string(old_key.id));
        json_object_object_add(d, "to_key_id", json_object_new_string(new_key.id));
        json_object_object_add(d, "resealed", json_object_new_int(done));
        arc = audit(c, &op, "secrets.rekey", NULL, NULL, d, &e);
        json_object_put(d);
        if (arc != 0) {
            snprintf(err, n, "%s", e.detail);
            goto rollback;
        }
    }
    if (exec_cmd(c, "COMMIT") != 0) {
        snprintf(err, n, "the transaction could not be committed; nothing was re-sealed");
        goto out;
    }
    *count = done;
    rc = 0;
    goto out;
rollback:
    rollback(c);
out:
    PQclear(r);
    PQfinish(c);
    sec_key_wipe(&old_key);
    sec_key_wipe(&new_key);
    return rc;
}
