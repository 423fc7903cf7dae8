/* Operator commands over the management API: an HTTPS client with the caller's
 * token (MCPGW_API_URL, MCPGW_TOKEN, MCPGW_CA_FILE), tables or --json out. */
#include "cli_api.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "js.h"
#include "util.h"

#define API_BODY_MAX (16L * 1024 * 1024)

/* Secrets read from files do not linger in freed memory. */
static void wipe(char *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, strlen(s));
}

struct api_env {
    const char *url;      /* base URL of the management plane, no trailing '/' */
    const char *token;
    const char *ca_file;  /* NULL: the system's CAs */
};

struct api_answer {
    long status;
    char *body;
    size_t len;
};

static int api_env_load(struct api_env *e)
{
    e->url = getenv("MCPGW_API_URL");
    e->token = getenv("MCPGW_TOKEN");
    if (e->token == NULL || e->token[0] == '\0')
        e->token = getenv("MCPGW_ADMIN_TOKEN");
    e->ca_file = getenv("MCPGW_CA_FILE");
    if (e->ca_file != NULL && e->ca_file[0] == '\0')
        e->ca_file = NULL;
    if (e->url == NULL || e->url[0] == '\0') {
        fprintf(stderr, "error: MCPGW_API_URL is not set (the management plane, e.g. "
                        "https://127.0.0.1:8000; `. var/env` sets it for the local stack)\n");
        return -1;
    }
    if (e->token == NULL || e->token[0] == '\0') {
        fprintf(stderr, "error: MCPGW_TOKEN is not set (a bearer token with the role the "
                        "command needs; `mcp-gateway token` mints one for the development issuer)\n");
        return -1;
    }
    return 0;
}

/* What to do about a certificate the CLI could not verify: curl's own words
 * name the problem, not the variable that fixes it. */
static const char *tls_hint(CURLcode rc, const char *ca_file)
{
    if (rc == CURLE_SSL_CACERT_BADFILE)
        return " (MCPGW_CA_FILE cannot be read as a PEM CA bundle)";
    if (rc != CURLE_PEER_FAILED_VERIFICATION)
        return "";
    if (ca_file == NULL)
        return " (the management plane's certificate is not from a system CA: set MCPGW_CA_FILE to its CA,"
               " var/certs/ca.pem in the local stack; `. var/env` sets it)";
    return " (MCPGW_CA_FILE does not verify the management plane's certificate: is it that certificate's CA?)";
}

/* One request; the answer's body is NUL-terminated (may be empty). 0, or -1
 * when no HTTP answer came (printed). */
static int api_call(const struct api_env *e, const char *method, const char *path,
                    const char *body, const char *if_match, struct api_answer *a)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char url[4096], auth[16384], im[256], errbuf[CURL_ERROR_SIZE] = "";
    size_t ulen = strlen(e->url);
    struct gw_sink sink = { .max = API_BODY_MAX };
    CURLcode rc;

    memset(a, 0, sizeof(*a));
    if (h == NULL)
        return -1;
    while (ulen > 0 && e->url[ulen - 1] == '/')
        ulen--;
    if (gw_snprintf(url, sizeof(url), "%.*s%s", (int)ulen, e->url, path) != 0 ||
        gw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", e->token) != 0) {
        fprintf(stderr, "error: URL or token too long\n");
        curl_easy_cleanup(h);
        return -1;
    }
    hdr = curl_slist_append(hdr, auth);
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (body != NULL)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (if_match != NULL && gw_snprintf(im, sizeof(im), "If-Match: %s", if_match) == 0)
        hdr = curl_slist_append(hdr, im);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gw_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* Registration and refresh talk to an upstream first: leave them time. */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    if (e->ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    a->body = sink.buf;
    a->len = sink.len;
    if (sink.too_big) {
        fprintf(stderr, "error: the answer from %s is larger than %ld bytes\n", e->url, API_BODY_MAX);
        return -1;
    }
    if (rc != CURLE_OK) {
        fprintf(stderr, "error: %s %s: %s%s\n", method, url, errbuf[0] ? errbuf : curl_easy_strerror(rc),
                tls_hint(rc, e->ca_file));
        return -1;
    }
    if (a->body == NULL) {
        a->body = strdup("");
        if (a->body == NULL)
            return -1;
    }
    return 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
        return NULL;
    return json_object_get_string(v);
}

/* A problem answer as one line on stderr: status, title, detail, and the
 * phase, reason and field where the gateway names them. */
static void print_problem(const struct api_answer *a)
{
    struct json_object *p = json_tokener_parse(a->body);
    const char *detail = jstr(p, "detail"), *title = jstr(p, "title"), *rid = jstr(p, "request_id");
    const char *phase = jstr(p, "phase"), *reason = jstr(p, "reason"), *field = jstr(p, "field");

    fprintf(stderr, "error: %ld %s", a->status, title != NULL ? title : "");
    if (detail != NULL)
        fprintf(stderr, ": %s", detail);
    if (phase != NULL)
        fprintf(stderr, " [phase %s]", phase);
    if (reason != NULL)
        fprintf(stderr, " [reason %s]", reason);
    if (field != NULL)
        fprintf(stderr, " [field %s]", field);
    if (rid != NULL)
        fprintf(stderr, " (request id %s)", rid);
    fputc('\n', stderr);
    json_object_put(p);
}

/* api_call that succeeded with a 2xx answer; otherwise the problem is
 * printed, the answer freed, and -1 returned. */
static int api_call_ok(const struct api_env *e, const char *method, const char *path,
                       const char *body, struct api_answer *a)
{
    if (api_call(e, method, path, body, NULL, a) != 0)
        return -1;
    if (a->status >= 300) {
        print_problem(a);
        free(a->body);
        return -1;
    }
    return 0;
}

static void print_json(struct json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* --- tables ------------------------------------------------------------------- */

struct column {
    const char *title;
    const char *key;
    int max;  /* cut longer cells to this width */
};

/* The cell of a row: a string as is, an array as "a,b", null as "-". */
static void cell(struct json_object *row, const char *key, char *out, size_t n)
{
    struct json_object *v = NULL;

    out[0] = '\0';
    if (!json_object_object_get_ex(row, key, &v) || v == NULL) {
        gw_strlcpy(out, "-", n);
        return;
    }
    if (json_object_is_type(v, json_type_array)) {
        size_t off = 0;

        for (size_t i = 0; i < json_object_array_length(v) && off + 1 < n; i++) {
            int w = snprintf(out + off, n - off, "%s%s", i ? "," : "",
                             json_object_get_string(json_object_array_get_idx(v, i)));
            if (w < 0)
                break;
            off += (size_t)w;
        }
        if (off == 0)
            gw_strlcpy(out, "-", n);
        return;
    }
    gw_strlcpy(out, json_object_get_string(v), n);
}

static void print_table(struct json_object *rows, const struct column *cols, size_t ncols)
{
    int width[16] = { 0 };
    char buf[512];

    for (size_t c = 0; c < ncols && c < 16; c++)
        width[c] = (int)strlen(cols[c].title);
    for (size_t r = 0; r < json_object_array_length(rows); r++)
        for (size_t c = 0; c < ncols && c < 16; c++) {
            int w;

            cell(json_object_array_get_idx(rows, r), cols[c].key, buf, sizeof(buf));
            w = (int)strlen(buf);
            if (w > cols[c].max)
                w = cols[c].max;
            if (w > width[c])
                width[c] = w;
        }
    for (size_t c = 0; c < ncols && c < 16; c++)
        printf("%-*s%s", width[c], cols[c].title, c + 1 < ncols ? "  " : "\n");
    for (size_t r = 0; r < json_object_array_length(rows); r++)
        for (size_t c = 0; c < ncols && c < 16; c++) {
            cell(json_object_array_get_idx(rows, r), cols[c].key, buf, sizeof(buf));
            if ((int)strlen(buf) > cols[c].max && cols[c].max > 3)
                memcpy(buf + cols[c].max - 3, "...", 4);
            printf("%-*s%s", width[c], buf, c + 1 < ncols ? "  " : "\n");
        }
}

static const struct column server_cols[] = {
    { "ID", "id", 36 },         { "NAME", "name", 48 },     { "TENANT", "tenant_id", 24 },
    { "STATUS", "status", 12 }, { "TOOLS", "tool_count", 6 }, { "URL", "url", 60 },
};

/* --- servers ------------------------------------------------------------------ */

static const char servers_usage[] =
    "usage: mcp-gateway servers list [--tag T] [--status S] [--agent-role R] [--q TEXT]\n"
    "                               [--limit N] [--json]\n"
    "       mcp-gateway servers get ID [--json]\n"
    "       mcp-gateway servers register --name NAME --url URL [--description TEXT]\n"
    "                               [--tag T]... [--agent-role R]... [--required-role R]...\n"
    "                               [--tenant ID | --shared] [--timeout-ms N]\n"
    "                               [--max-concurrency N] [--bearer-file FILE]\n"
    "                               [--header NAME --header-value-file FILE]\n"
    "                               [--body FILE] [--json]\n"
    "       mcp-gateway servers remove ID\n"
    "       mcp-gateway servers refresh ID\n"
    "\n"
    "Talks to the management API at $MCPGW_API_URL with the bearer token in\n"
    "$MCPGW_TOKEN (else $MCPGW_ADMIN_TOKEN), trusting $MCPGW_CA_FILE when set.\n"
    "ID is the server's id (the first column of list), not its name. --limit N\n"
    "stops after N servers (list follows the cursor to the end otherwise);\n"
    "refresh prints the catalog diff as JSON. Upstream secrets are read from\n"
    "files, never from the command line, where every local user could see them.\n"
    "--body FILE sends a registration body as written (the JSON that\n"
    "POST /api/v1/servers takes: name, url, auth, ...). Exit status: 0 done,\n"
    "1 refused or failed, 2 usage.\n";

/* Path segment: ids and names never need escaping, anything else is refused. */
static int safe_segment(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 128)
        return 0;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static int url_escape_append(char *out, size_t n, const char *key, const char *value)
{
    CURL *h = curl_easy_init();
    char *v = h != NULL ? curl_easy_escape(h, value, 0) : NULL;
    size_t len = strlen(out);
    int rc = -1;

    if (v != NULL)
        rc = gw_snprintf(out + len, n - len, "%s%s=%s", strchr(out, '?') ? "&" : "?", key, v);
    curl_free(v);
    curl_easy_cleanup(h);
    return rc;
}

static int servers_list(const struct api_env *e, int argc, char **argv)
{
    static const struct option opts[] = {
        { "tag", required_argument, NULL, 't' },   { "status", required_argument, NULL, 's' },
        { "agent-role", required_argument, NULL, 'a' }, { "q", required_argument, NULL, 'q' },
        { "limit", required_argument, NULL, 'l' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
    };
    char base[2048] = "/api/v1/servers", path[4096];
    const char *cursor = NULL;
    struct json_object *all = json_object_new_array(), *page = NULL;
    int json = 0, opt, rc = 1;
    long limit = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = opt == 't' ? "tag" : opt == 's' ? "status" : opt == 'a' ? "agent_role" : "q";

        switch (opt) {
        case 't': case 's': case 'a': case 'q':
            if (url_escape_append(base, sizeof(base), key, optarg) != 0)
                goto usage;
            break;
        case 'l':
            limit = strtol(optarg, NULL, 10);
            if (limit <= 0)
                goto usage;
            break;
        case 'j': json = 1; break;
        case 'h': fputs(servers_usage, stdout); json_object_put(all); return 0;
        default: goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    /* Follow the cursor until the last page, or until --limit rows. */
    for (int pages = 0; pages < 10000; pages++) {
        struct api_answer a;
        struct json_object *rows;

        gw_strlcpy(path, base, sizeof(path));
        if (cursor != NULL && url_escape_append(path, sizeof(path), "cursor", cursor) != 0)
            break;
        if (api_call(e, "GET", path, NULL, NULL, &a) != 0)
            goto out;
        if (a.status != 200) {
            print_problem(&a);
            free(a.body);
            goto out;
        }
        json_object_put(page);
        page = json_tokener_parse(a.body);
        free(a.body);
        if (page == NULL || !json_object_object_get_ex(page, "servers", &rows) ||
            !json_object_is_type(rows, json_type_array)) {
            fprintf(stderr, "error: the answer to GET %s is not a server list\n", path);
            goto out;
        }
        for (size_t i = 0; i < json_object_array_length(rows); i++)
            if (limit == 0 || (long)json_object_array_length(all) < limit)
                json_object_array_add(all, json_object_get(json_object_array_get_idx(rows, i)));
        cursor = jstr(page, "next_cursor");
        if (cursor == NULL || cursor[0] == '\0' ||
            (limit > 0 && (long)json_object_array_length(all) >= limit))
            break;
    }
    if (json)
        print_json(all);
    else
        print_table(all, server_cols, GW_ARRAY_LEN(server_cols));
    rc = 0;
out:
    json_object_put(page);
    json_object_put(all);
    return rc;
usage:
    fputs(servers_usage, stderr);
    json_object_put(all);
    return 2;
}

static void print_server(struct json_object *s)
{
    static const char *const keys[] = { "id", "name", "url", "description", "tenant_id", "status",
                                        "maintenance", "tags", "agent_roles", "required_roles",
                                        "max_concurrency", "timeout_ms", "auth", "protocol_version",
                                        "tool_count", "health", "version", "created_at", "updated_at",
                                        "refreshed_at" };
    struct json_object *o;
    char buf[1024];

    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        if (!json_object_object_get_ex(s, keys[i], &o))
            continue;
        if (strcmp(keys[i], "auth") == 0) {
            /* The credential's type only: the answer never holds more. */
            printf("%-16s %s\n", "auth", js_str(o, "type") != NULL ? js_str(o, "type") : "-");
        } else if (strcmp(keys[i], "health") == 0) {
            if (o == NULL || js_str(o, "status") == NULL)
                printf("%-16s -\n", "health");
            else
                printf("%-16s %s (checked %s)\n", "health", js_str(o, "status"),
                       js_str(o, "checked_at") != NULL ? js_str(o, "checked_at") : "-");
        } else {
            cell(s, keys[i], buf, sizeof(buf));
            printf("%-16s %s\n", keys[i], buf);
        }
    }
}

/* GET, DELETE or POST on one server's path; prints the result. */
static int servers_one(const struct api_env *e, const char *method, const char *id,
                       const char *suffix, int json)
{
    char path[512];
    struct api_answer a;
    struct json_object *o;
    int rc = 1;

    if (!safe_segment(id)) {
        fprintf(stderr, "error: '%s' is not a server id\n", id);
        return 2;
    }
    gw_snprintf(path, sizeof(path), "/api/v1/servers/%s%s", id, suffix);
    if (api_call_ok(e, method, path, NULL, &a) != 0)
        return 1;
    o = json_tokener_parse(a.body);
    if (strcmp(method, "DELETE") == 0) {
        printf("removed %s\n", id);
        rc = 0;
    } else if (o == NULL) {
        fprintf(stderr, "error: the answer to %s %s is not JSON\n", method, path);
    } else if (json || suffix[0] != '\0') {
        /* The refresh answer (added, removed, changed) reads best as JSON. */
        print_json(o);
        rc = 0;
    } else {
        print_server(o);
        rc = 0;
    }
    json_object_put(o);
    free(a.body);
    return rc;
}

/* The whole of a small file, trailing newline removed (caller frees). */
static char *read_small_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "error: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = malloc(max + 1);
    n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > max) {
        fprintf(stderr, "error: %s is larger than %zu bytes\n", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

/* A JSON document from a file (--body, import), or NULL after an error that
 * says whether the file could not be read or is not JSON, and where. */
#define JSON_FILE_MAX (16 * 1024 * 1024)
static struct json_object *read_json_file(const char *path)
{
    char *text = read_small_file(path, JSON_FILE_MAX);
    struct json_tokener *tok;
    struct json_object *o;
    enum json_tokener_error je;

    if (text == NULL)
        return NULL;
    tok = json_tokener_new();
    if (tok == NULL) {
        free(text);
        return NULL;
    }
    o = json_tokener_parse_ex(tok, text, (int)strlen(text));
    je = json_tokener_get_error(tok);
    if (o == NULL || je != json_tokener_success || text[tok->char_offset + strspn(text + tok->char_offset, " \t\r\n")] != '\0') {
        fprintf(stderr, "error: %s is not valid JSON: %s at byte %d\n", path,
                je == json_tokener_continue ? "unexpected end of file"
                : je != json_tokener_success ? json_tokener_error_desc(je) : "text after the document",
                (int)tok->char_offset);
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    free(text);
    return o;
}

static void add_to_array(struct json_object *body, const char *key, const char *value)
{
    struct json_object *arr;

    if (!json_object_object_get_ex(body, key, &arr)) {
        arr = json_object_new_array();
        json_object_object_add(body, key, arr);
    }
    json_object_array_add(arr, json_object_new_string(value));
}

/* POST a registration body; prints the new id and phases, or the problem. */
/* POST a registration. With out != NULL nothing is printed: *out is the
 * answer (the created server, or the problem with "status") for the caller to
 * report; otherwise success goes to stdout (JSON with json) and a problem to
 * stderr, prefixed by label. 0 when the server was registered. */
static int register_body(const struct api_env *e, struct json_object *body, int json,
                         const char *label, struct json_object **out)
{
    struct api_answer a;
    struct json_object *o;
    int rc = 1;

    if (out != NULL)
        *out = NULL;
    if (api_call(e, "POST", "/api/v1/servers",
                 json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), NULL, &a) != 0)
        return 1;
    if (out != NULL) {
        o = json_tokener_parse(a.body);
        if (!json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = json_object_new_object();
        }
        if (a.status != 201)
            json_object_object_add(o, "status", json_object_new_int((int)a.status));
        *out = o;
        free(a.body);
        return a.status == 201 ? 0 : 1;
    }
    if (a.status != 201) {
        if (label != NULL)
            fprintf(stderr, "%s: ", label);
        print_problem(&a);
        free(a.body);
        return 1;
    }
    o = json_tokener_parse(a.body);
    if (json) {
        print_json(o);
    } else {
        struct json_object *ph = NULL;
        char phases[256];

        phases[0] = '\0';
        if (json_object_object_get_ex(o, "phases_completed", &ph))
            cell(o, "phases_completed", phases, sizeof(phases));
        printf("%s%sregistered %s (phases: %s)\n", label ? label : "", label ? ": " : "",
               jstr(o, "server_id") ? jstr(o, "server_id") : "?", phases[0] ? phases : "-");
    }
    rc = 0;
    json_object_put(o);
    free(a.body);
    return rc;
}

static int servers_register(const struct api_env *e, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, 'n' },
        { "url", required_argument, NULL, 'u' },
        { "description", required_argument, NULL, 'd' },
        { "tag", required_argument, NULL, 't' },
        { "agent-role", required_argument, NULL, 'a' },
        { "required-role", required_argument, NULL, 'r' },
        { "tenant", required_argument, NULL, 'T' },
        { "shared", no_argument, NULL, 'S' },
        { "timeout-ms", required_argument, NULL, 'o' },
        { "max-concurrency", required_argument, NULL, 'c' },
        { "bearer-file", required_argument, NULL, 'b' },
        { "header", required_argument, NULL, 'H' },
        { "header-value-file", required_argument, NULL, 'V' },
        { "body", required_argument, NULL, 'B' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct json_object *body = json_object_new_object(), *auth = NULL;
    const char *bearer_file = NULL, *header = NULL, *header_file = NULL, *body_file = NULL;
    int json = 0, opt, rc = 2;
    char *secret = NULL;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': json_object_object_add(body, "name", json_object_new_string(optarg)); break;
        case 'u': json_object_object_add(body, "url", json_object_new_string(optarg)); break;
        case 'd': json_object_object_add(body, "description", json_object_new_string(optarg)); break;
        case 't': add_to_array(body, "tags", optarg); break;
        case 'a': add_to_array(body, "agent_roles", optarg); break;
        case 'r': add_to_array(body, "required_roles", optarg); break;
        case 'T': json_object_object_add(body, "tenant_id", json_object_new_string(optarg)); break;
        case 'S': json_object_object_add(body, "tenant_id", NULL); break;
        case 'o': json_object_object_add(body, "timeout_ms", json_object_new_int64(strtol(optarg, NULL, 10))); break;
        case 'c': json_object_object_add(body, "max_concurrency", json_object_new_int64(strtol(optarg, NULL, 10))); break;
        case 'b': bearer_file = optarg; break;
        case 'H': header = optarg; break;
        case 'V': header_file = optarg; break;
        case 'B': body_file = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(servers_usage, stdout); rc = 0; goto out;
        default: goto usage;
        }
    }
    if (optind != argc || (header != NULL) != (header_file != NULL) ||
        (bearer_file != NULL && header != NULL))
        goto usage;
    if (body_file != NULL) {
        struct json_object *from = read_json_file(body_file);

        if (from == NULL || !json_object_is_type(from, json_type_object)) {
            if (from != NULL)
                fprintf(stderr, "error: %s holds JSON but not an object (a registration body is {\"name\": ...})\n",
                        body_file);
            json_object_put(from);
            rc = 1;
            goto out;
        }
        /* Flags given beside --body win over the file. */
        json_object_object_foreach(body, k, v) json_object_object_add(from, k, json_object_get(v));
        json_object_put(body);
        body = from;
    }
    if (!json_object_object_get_ex(body, "name", NULL) || !json_object_object_get_ex(body, "url", NULL)) {
        fprintf(stderr, "error: a registration needs a name and a URL (--name and --url, or \"name\" and \"url\" in --body)\n\n");
        goto usage;
    }
    if (bearer_file != NULL || header != NULL) {
        secret = read_small_file(bearer_file != NULL ? bearer_file : header_file, 8192);
        if (secret == NULL) {
            rc = 1;
            goto out;
        }
        auth = json_object_new_object();
        if (bearer_file != NULL) {
            json_object_object_add(auth, "type", json_object_new_string("bearer"));
            json_object_object_add(auth, "token", json_object_new_string(secret));
        } else {
            json_object_object_add(auth, "type", json_object_new_string("header"));
            json_object_object_add(auth, "header_name", json_object_new_string(header));
            json_object_object_add(auth, "header_value", json_object_new_string(secret));
        }
        json_object_object_add(body, "auth", auth);
    }
    if (!json_object_object_get_ex(body, "transport", NULL))
        json_object_object_add(body, "transport", json_object_new_string("streamable-http"));
    rc = register_body(e, body, json, NULL, NULL);
    goto out;
usage:
    fputs(servers_usage, stderr);
out:
    if (secret != NULL) {
        wipe(secret);
        free(secret);
    }
    json_object_put(body);
    return rc;
}

int cli_servers(int argc, char **argv)
{
    struct api_env e;
    const char *sub = argc > 1 ? argv[1] : NULL;
    int json = 0;

    if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        fputs(servers_usage, sub == NULL ? stderr : stdout);
        return sub == NULL ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(servers_usage, stdout);
            return 0;
        }
    if (api_env_load(&e) != 0)
        return 1;
    if (strcmp(sub, "list") == 0)
        return servers_list(&e, argc - 1, argv + 1);
    if (strcmp(sub, "register") == 0)
        return servers_register(&e, argc - 1, argv + 1);
    if (strcmp(sub, "get") == 0 || strcmp(sub, "remove") == 0 || strcmp(sub, "refresh") == 0) {
        const char *id = NULL;

        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0)
                json = 1;
            else if (id == NULL && argv[i][0] != '-')
                id = argv[i];
            else
                id = NULL, i = argc; /* anything else is a usage error */
        }
        if (id == NULL) {
            fputs(servers_usage, stderr);
            return 2;
        }
        if (strcmp(sub, "get") == 0)
            return servers_one(&e, "GET", id, "", json);
        if (strcmp(sub, "remove") == 0)
            return servers_one(&e, "DELETE", id, "", json);
        return servers_one(&e, "POST", id, "/refresh", 1);
    }
    fprintf(stderr, "error: unknown servers command '%s'\n\n%s", sub, servers_usage);
    return 2;
}

/* --- catalog -------------------------------------------------------------------- */

static const char catalog_usage[] =
    "usage: mcp-gateway catalog refresh [--json]\n"
    "\n"
    "Discovers every upstream server in the caller's scope again, in parallel\n"
    "(POST /api/v1/catalog/refresh: platform_admin refreshes all, admin its\n"
    "tenant's), each within its timeout_ms capped by upstream.timeout_ms, and\n"
    "prints one line per server: refreshed, or unavailable with why (an\n"
    "unavailable server is marked and keeps its last catalog). Talks to\n"
    "$MCPGW_API_URL with $MCPGW_TOKEN (else $MCPGW_ADMIN_TOKEN). Exit status:\n"
    "0 every server refreshed, 1 refused, failed or some server unavailable,\n"
    "2 usage.\n";

static size_t arr_len(struct json_object *o, const char *key)
{
    struct json_object *a = js_get(o, key, json_type_array);

    return a != NULL ? json_object_array_length(a) : 0;
}

static void print_refresh(struct json_object *o)
{
    struct json_object *done = js_get(o, "refreshed", json_type_array),
                       *bad = js_get(o, "unavailable", json_type_array);

    for (size_t i = 0; done != NULL && i < json_object_array_length(done); i++) {
        struct json_object *it = json_object_array_get_idx(done, i), *d;

        printf("refreshed    %-24s %s", js_str(it, "name") ?: "?", js_str(it, "server_id") ?: "?");
        if (json_object_object_get_ex(it, "duration_ms", &d))
            printf(" (%lld ms)", (long long)json_object_get_int64(d));
        putchar('\n');
    }
    for (size_t i = 0; bad != NULL && i < json_object_array_length(bad); i++) {
        struct json_object *it = json_object_array_get_idx(bad, i);

        printf("unavailable  %-24s %s: %s: %s\n", js_str(it, "name") ?: "?",
               js_str(it, "server_id") ?: "?", js_str(it, "reason") ?: "?", js_str(it, "detail") ?: "");
    }
}

/* Options that may only be --json and --help, from argv[from]: -1 to go on
 * (*json set), else the exit status once the usage was printed. */
static int json_only_options(int argc, char **argv, int from, const char *usage, int *json)
{
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "error: unknown option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
        *json = 1;
    }
    return -1;
}

/* method path with no body; print() shows the answer as text (unless json,
 * when the answer is printed whole) and gives the exit status: 1 when the
 * call failed or the answer is not JSON. */
static int call_and_print(const char *method, const char *path, int json,
                          int (*print)(struct json_object *o, int json))
{
    struct api_env e;
    struct api_answer a;
    struct json_object *o;
    int rc = 1;

    if (api_env_load(&e) != 0 || api_call_ok(&e, method, path, NULL, &a) != 0)
        return 1;
    o = json_tokener_parse(a.body);
    if (o == NULL) {
        fprintf(stderr, "error: the answer to %s %s is not JSON\n", method, path);
    } else {
        rc = print(o, json);
        if (json)
            print_json(o);
    }
    json_object_put(o);
    free(a.body);
    return rc;
}

/* A catalog refresh's answer: 1 when some server could not be refreshed. */
static int print_refresh_status(struct json_object *o, int json)
{
    if (!json)
        print_refresh(o);
    return arr_len(o, "unavailable") > 0 ? 1 : 0;
}

int cli_catalog(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    int json = 0, rc;

    if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
        strcmp(sub, "help") == 0) {
        fputs(catalog_usage, sub == NULL ? stderr : stdout);
        return sub == NULL ? 2 : 0;
    }
    if ((rc = json_only_options(argc, argv, 2, catalog_usage, &json)) >= 0)
        return rc;
    if (strcmp(sub, "refresh") != 0) {
        fprintf(stderr, "error: unknown catalog command '%s'\n\n%s", sub, catalog_usage);
        return 2;
    }
    return call_and_print("POST", "/api/v1/catalog/refresh", json, print_refresh_status);
}

/* --- events --------------------------------------------------------------------- */

static const char events_usage[] =
    "usage: mcp-gateway events raise TYPE [--data JSON] [--tenant ID | --platform] [--json]\n"
    "       mcp-gateway events show ID [--json]\n"
    "\n"
    "raise: POST /api/v1/events; the event is delivered by the fleet leader to\n"
    "every agent the event routing table names for TYPE (handle_TYPE tool), and\n"
    "its id is printed. show: GET /api/v1/events/ID, the delivery status per\n"
    "agent. --tenant and --platform (platform_admin) name the event's tenant.\n"
    "Talks to $MCPGW_API_URL with $MCPGW_TOKEN (else $MCPGW_ADMIN_TOKEN).\n"
    "Exit status: 0 done (show: every delivery made), 1 refused, failed or\n"
    "(show) deliveries pending or failed, 2 usage.\n";

static void print_event(struct json_object *o)
{
    struct json_object *ds = js_get(o, "deliveries", json_type_array);

    printf("event %s  %s  %s\n", js_str(o, "id") ?: "?", js_str(o, "type") ?: "?",
           js_str(o, "status") ?: "?");
    for (size_t i = 0; ds != NULL && i < json_object_array_length(ds); i++) {
        struct json_object *d = json_object_array_get_idx(ds, i);
        const char *err = js_str(d, "last_error");

        printf("  %-28s %-10s attempts %d%s%s\n", js_str(d, "agent") ?: "?", js_str(d, "status") ?: "?",
               json_object_get_int(js_get(d, "attempts", json_type_int)), err != NULL ? "  last error: " : "",
               err != NULL ? err : "");
    }
}

int cli_events(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL, *arg = NULL;
    const char *data = NULL, *tenant = NULL, *why = NULL;
    int json = 0, platform = 0, rc = 1;
    struct api_env e;
    struct api_answer a;
    struct json_object *o, *body = NULL;
    char path[256];

    if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(events_usage, sub == NULL ? stderr : stdout);
        return sub == NULL ? 2 : 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(events_usage, stdout);
            return 0;
        } else if (arg == NULL && argv[i][0] != '-') {
            arg = argv[i];   /* TYPE or ID, before or after the options */
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--platform") == 0) {
            platform = 1;
        } else if ((strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--tenant") == 0) && i + 1 < argc) {
            *(strcmp(argv[i], "--data") == 0 ? &data : &tenant) = argv[i + 1];
            i++;
        } else {
            fprintf(stderr, "error: unknown option '%s'\n\n%s", argv[i], events_usage);
            return 2;
        }
    }
    if (strcmp(sub, "raise") != 0 && strcmp(sub, "show") != 0)
        why = "is not an events command (raise or show)";
    else if (arg == NULL)
        why = strcmp(sub, "raise") == 0 ? "needs the event TYPE" : "needs the event ID";
    else if (strcmp(sub, "show") == 0 && (data != NULL || tenant != NULL || platform))
        why = "takes no --data, --tenant or --platform (those are for raise)";
    else if (tenant != NULL && platform)
        why = "takes --tenant or --platform, not both";
    if (why != NULL) {
        fprintf(stderr, "error: events %s %s\n\n%s", sub, why, events_usage);
        return 2;
    }
    if (api_env_load(&e) != 0)
        return 1;
    if (strcmp(sub, "raise") == 0) {
        struct json_object *d = NULL;

        if (data != NULL && ((d = json_tokener_parse(data)) == NULL || !json_object_is_type(d, json_type_object))) {
            fprintf(stderr, "error: --data must be a JSON object\n");
            json_object_put(d);
            return 2;
        }
        body = json_object_new_object();
        json_object_object_add(body, "type", json_object_new_string(arg));
        if (d != NULL)
            json_object_object_add(body, "data", d);
        if (tenant != NULL)
            json_object_object_add(body, "tenant_id", json_object_new_string(tenant));
        else if (platform)
            json_object_object_add(body, "tenant_id", NULL);
        rc = api_call_ok(&e, "POST", "/api/v1/events", json_object_to_json_string(body), &a);
        json_object_put(body);
        if (rc != 0)
            return 1;
    } else {
        if (!safe_segment(arg) || gw_snprintf(path, sizeof(path), "/api/v1/events/%s", arg) != 0) {
            fprintf(stderr, "error: '%s' is not an event id\n", arg);
            return 2;
        }
        if (api_call_ok(&e, "GET", path, NULL, &a) != 0)
            return 1;
    }
    rc = 1;
    o = json_tokener_parse(a.body);
    if (o == NULL) {
        fprintf(stderr, "error: the answer is not JSON\n");
    } else {
        if (json)
            print_json(o);
        else if (strcmp(sub, "raise") == 0)
            printf("%s\n", js_str(o, "id") ?: "?");
        else
            print_event(o);
        rc = strcmp(sub, "raise") == 0 || strcmp(js_str(o, "status") ?: "", "delivered") == 0 ? 0 : 1;
    }
    json_object_put(o);
    free(a.body);
    return rc;
}

/* --- import ------------------------------------------------------------------- */

int cli_import_name(const char *registry_name, char *out, size_t n)
{
    const char *last = strrchr(registry_name, '/');
    size_t o = 0;
    int dash = 0;

    last = last != NULL ? last + 1 : registry_name;
    for (const char *p = last; *p != '\0' && o < 48 && o + 1 < n; p++) {
        unsigned char ch = (unsigned char)*p;

        if (isalnum(ch)) {
            out[o++] = (char)tolower(ch);
            dash = 0;
        } else if (o > 0 && !dash) {
            out[o++] = '-';
            dash = 1;
        }
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    if (o < n)
        out[o] = '\0';
    return o == 0 ? -1 : 0;
}

/* The value given for a declared header ("Name=value" in headers), or NULL. */
static const char *header_value(const char *const *headers, const char *name)
{
    size_t len = strlen(name);

    for (; headers != NULL && *headers != NULL; headers++)
        if (strncasecmp(*headers, name, len) == 0 && (*headers)[len] == '=')
            return *headers + len + 1;
    return NULL;
}

int cli_import_body(struct json_object *server, const char *const *headers,
                    struct json_object **body, char *why, size_t n)
{
    struct json_object *remotes, *remote = NULL, *hdrs, *b, *auth = NULL;
    const char *rname = jstr(server, "name"), *url;
    char name[64];

    *body = NULL;
    if (!json_object_is_type(server, json_type_object) || rname == NULL) {
        gw_snprintf(why, n, "not a server.json object (no \"name\")");
        return -1;
    }
    if (cli_import_name(rname, name, sizeof(name)) != 0) {
        gw_snprintf(why, n, "the name '%s' leaves no usable server name", rname);
        return -1;
    }
    if (!json_object_object_get_ex(server, "remotes", &remotes) ||
        !json_object_is_type(remotes, json_type_array) || json_object_array_length(remotes) == 0) {
        gw_snprintf(why, n, "no remotes: only package-based servers, which the gateway cannot reach");
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(remotes) && remote == NULL; i++) {
        struct json_object *r = json_object_array_get_idx(remotes, i);
        const char *type = jstr(r, "type");

        if (type != NULL && strcmp(type, "streamable-http") == 0)
            remote = r;
    }
    if (remote == NULL) {
        gw_snprintf(why, n, "no remote of type streamable-http (the gateway does not proxy the "
                            "older HTTP+SSE transport)");
        return -1;
    }
    url = jstr(remote, "url");
    if (url == NULL || url[0] == '\0') {
        gw_snprintf(why, n, "the streamable-http remote has no url");
        return -1;
    }
    if (strchr(url, '{') != NULL) {
        gw_snprintf(why, n, "the url %s has template variables, which import cannot fill in", url);
        return -1;
    }
    /* Declared headers: one may be supplied (as the credential), required
     * ones without a value make the server unusable. */
    if (json_object_object_get_ex(remote, "headers", &hdrs) && json_object_is_type(hdrs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(hdrs); i++) {
            struct json_object *h = json_object_array_get_idx(hdrs, i), *req;
            const char *hname = jstr(h, "name"), *value;
            int required = json_object_object_get_ex(h, "isRequired", &req) && json_object_get_boolean(req);

            if (hname == NULL)
                continue;
            value = header_value(headers, hname);
            if (value == NULL && required) {
                gw_snprintf(why, n, "the remote requires the header %s (give it with --header %s=VALUE-FILE)",
                            hname, hname);
                json_object_put(auth);
                return -1;
            }
            if (value == NULL)
                continue;
            if (auth != NULL) {
                gw_snprintf(why, n, "the remote declares more than one header; the gateway sends one credential");
                json_object_put(auth);
                return -1;
            }
            auth = json_object_new_object();
            if (strcasecmp(hname, "Authorization") == 0 && strncasecmp(value, "Bearer ", 7) == 0) {
                json_object_object_add(auth, "type", json_object_new_string("bearer"));
                json_object_object_add(auth, "token", json_object_new_string(value + 7));
            } else {
                json_object_object_add(auth, "type", json_object_new_string("header"));
                json_object_object_add(auth, "header_name", json_object_new_string(hname));
                json_object_object_add(auth, "header_value", json_object_new_string(value));
            }
        }
    }
    b = json_object_new_object();
    json_object_object_add(b, "name", json_object_new_string(name));
    json_object_object_add(b, "url", json_object_new_string(url));
    json_object_object_add(b, "transport", json_object_new_string("streamable-http"));
    if (jstr(server, "description") != NULL)
        json_object_object_add(b, "description", json_object_new_string(jstr(server, "description")));
    {
        struct json_object *tags = json_object_new_array();

        /* Where it came from, so that an operator can find it again. */
        json_object_array_add(tags, json_object_new_string("imported"));
        json_object_object_add(b, "tags", tags);
    }
    if (auth != NULL)
        json_object_object_add(b, "auth", auth);
    *body = b;
    return 0;
}

static const char import_usage[] =
    "usage: mcp-gateway import FILE [--header NAME=VALUE-FILE]... [--tenant ID | --shared] [--json]\n"
    "\n"
    "Registers the servers of an official MCP registry server.json (one server,\n"
    "an array of them, or a registry answer {\"servers\": [...]}) that have a\n"
    "`streamable-http` remote, reporting each one imported or refused and why.\n"
    "A header the remote declares is sent as the server's credential; its value\n"
    "is read from VALUE-FILE. --json prints one JSON array instead, an entry per\n"
    "server: {\"name\", \"imported\", and \"answer\" (the registration),\n"
    "\"problem\" (the gateway's refusal, with \"status\") or \"refused\" (why it\n"
    "was not sent)}; the count then goes to stderr.\n"
    "Several servers are registered under one bulk_server_registration\n"
    "allocation (POST /api/v1/resources/allocations), released at the end; when\n"
    "the gateway has no room for it now, nothing is registered.\n"
    "Exit status: 0 all imported, 1 any refused (or no resources), 2 usage.\n";

/* A bulk registration holds the seed's allocation for it while it registers
 * (released at the end, or by its lease if the import dies): 0 with id set
 * ("" against a gateway without resource pools, which answers 404), or 1
 * when the gateway refused it (the problem printed). */
static int bulk_allocate(const struct api_env *e, size_t servers, char id[33])
{
    struct api_answer a;
    struct json_object *o;
    char body[192];

    id[0] = '\0';
    snprintf(body, sizeof(body), "{\"operation_type\":\"bulk_server_registration\","
             "\"estimated_load\":{\"server_count\":%zu,\"admin_count\":1}}", servers);
    if (api_call(e, "POST", "/api/v1/resources/allocations", body, NULL, &a) != 0)
        return 1;
    if (a.status == 404) {
        free(a.body);
        return 0;
    }
    if (a.status != 201) {
        fprintf(stderr, "error: no resources for a bulk registration of %zu servers now\n", servers);
        print_problem(&a);
        free(a.body);
        return 1;
    }
    o = json_tokener_parse(a.body);
    gw_strlcpy(id, jstr(o, "id") != NULL ? jstr(o, "id") : "", 33);
    json_object_put(o);
    free(a.body);
    return 0;
}

static void bulk_release(const struct api_env *e, const char *id)
{
    struct api_answer a;
    char path[96];

    if (id[0] == '\0')
        return;
    snprintf(path, sizeof(path), "/api/v1/resources/allocations/%s", id);
    if (api_call(e, "DELETE", path, NULL, NULL, &a) == 0)
        free(a.body);
}

int cli_import(int argc, char **argv)
{
    struct api_env e;
    const char *file = NULL, *tenant = NULL, *headers[17] = { NULL };
    char *values[16] = { NULL };
    int nh = 0, shared = 0, json = 0, rc = 2, imported = 0, refused = 0;
    struct json_object *doc = NULL, *list = NULL, *report = NULL;
    char alloc[33] = "";

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(import_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc && nh < 16) {
            const char *eq = strchr(argv[++i], '=');
            char *value, *hv;
            size_t len;

            if (eq == NULL || eq == argv[i] || eq[1] == '\0') {
                fprintf(stderr, "error: --header %s: give NAME=VALUE-FILE, the header's name and "
                                "the file that holds its value\n\n", argv[i]);
                goto usage;
            }
            value = read_small_file(eq + 1, 8192);
            if (value == NULL) {
                rc = 1;
                goto out;
            }
            len = (size_t)(eq - argv[i]) + 1 + strlen(value) + 1;
            hv = malloc(len);
            if (hv == NULL) {
                free(value);
                rc = 1;
                goto out;
            }
            snprintf(hv, len, "%.*s=%s", (int)(eq - argv[i]), argv[i], value);
            wipe(value);
            free(value);
            values[nh] = hv;
            headers[nh++] = hv;
        } else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
            tenant = argv[++i];
        } else if (strcmp(argv[i], "--shared") == 0) {
            shared = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] != '-' && file == NULL) {
            file = argv[i];
        } else {
            goto usage;
        }
    }
    if (file == NULL || (tenant != NULL && shared))
        goto usage;
    rc = 1;
    doc = read_json_file(file);
    if (doc == NULL)
        goto out;
    if (json_object_is_type(doc, json_type_array))
        list = json_object_get(doc);
    else if (json_object_object_get_ex(doc, "servers", &list) && json_object_is_type(list, json_type_array))
        json_object_get(list);
    else {
        list = json_object_new_array();
        json_object_array_add(list, json_object_get(doc));
    }
    if (api_env_load(&e) != 0)
        goto out;
    if (json_object_array_length(list) > 1 && bulk_allocate(&e, json_object_array_length(list), alloc) != 0)
        goto out;
    if (json)
        report = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *s = json_object_array_get_idx(list, i), *body = NULL, *inner;
        char why[512], label[320];
        const char *rname;

        /* Registry answers wrap each entry as {"server": {...}, "_meta": ...}. */
        if (json_object_object_get_ex(s, "server", &inner) && json_object_is_type(inner, json_type_object))
            s = inner;
        rname = jstr(s, "name");
        gw_snprintf(label, sizeof(label), "%s", rname != NULL ? rname : "(unnamed)");
        if (cli_import_body(s, headers, &body, why, sizeof(why)) != 0) {
            if (report != NULL) {
                struct json_object *r = json_object_new_object();

                json_object_object_add(r, "name", json_object_new_string(label));
                json_object_object_add(r, "imported", json_object_new_boolean(0));
                json_object_object_add(r, "refused", json_object_new_string(why));
                json_object_array_add(report, r);
            } else {
                printf("%s: refused: %s\n", label, why);
            }
            refused++;
            continue;
        }
        if (tenant != NULL)
            json_object_object_add(body, "tenant_id", json_object_new_string(tenant));
        else if (shared)
            json_object_object_add(body, "tenant_id", NULL);
        if (report != NULL) {
            /* One JSON document on stdout: the answer of each server, by name. */
            struct json_object *r = json_object_new_object(), *answer = NULL;
            int ok = register_body(&e, body, json, label, &answer) == 0;

            json_object_object_add(r, "name", json_object_new_string(label));
            json_object_object_add(r, "imported", json_object_new_boolean(ok));
            json_object_object_add(r, ok ? "answer" : "problem", answer);
            json_object_array_add(report, r);
            if (ok)
                imported++;
            else
                refused++;
        } else if (register_body(&e, body, json, label, NULL) == 0) {
            imported++;
        } else {
            refused++;
        }
        json_object_put(body);
    }
    if (report != NULL) {
        print_json(report);
        fprintf(stderr, "%d imported, %d refused\n", imported, refused);
    } else {
        printf("%d imported, %d refused\n", imported, refused);
    }
    rc = refused == 0 ? 0 : 1;
    bulk_release(&e, alloc);
    goto out;
usage:
    fputs(import_usage, stderr);
out:
    for (int i = 0; i < nh; i++) {
        wipe(values[i]);
        free(values[i]);
    }
    json_object_put(report);
    json_object_put(list);
    json_object_put(doc);
    return rc;
}

/* --- resources and report ------------------------------------------------------ */

static const char resources_usage[] =
    "usage: mcp-gateway resources [--json]\n"
    "\n"
    "Prints the resource pools (GET /api/v1/resources): the seed's pools from\n"
    "[resources] and one per upstream server (its max_concurrency), with the\n"
    "units in use across the fleet. Talks to $MCPGW_API_URL with $MCPGW_TOKEN\n"
    "(else $MCPGW_ADMIN_TOKEN). Exit status: 0, or 1 when the call failed.\n";

static const char report_usage[] =
    "usage: mcp-gateway report [--json]\n"
    "\n"
    "Prints the system report (GET /api/v1/report): overall health and the\n"
    "recommendations drawn from security, performance, health, deployment and\n"
    "protocol data in the caller's scope; --json prints the whole report.\n"
    "Exit status: 0, or 1 when the system is unhealthy, a recommendation is\n"
    "critical, or the call failed.\n";

static const struct column pool_cols[] = {
    { "POOL", "name", 48 }, { "SERVER", "server", 48 }, { "CAPACITY", "capacity", 8 },
    { "IN USE", "in_use", 8 }, { "AVAILABLE", "available", 9 },
};

static int print_pools(struct json_object *o, int json)
{
    struct json_object *pools = js_get(o, "pools", json_type_array);

    if (pools == NULL) {
        fprintf(stderr, "error: the answer has no pools\n");
        return 1;
    }
    if (!json)
        print_table(pools, pool_cols, GW_ARRAY_LEN(pool_cols));
    return 0;
}

static int print_report(struct json_object *o, int json)
{
    struct json_object *recs = js_get(o, "recommendations", json_type_array);
    const char *health = jstr(o, "overall_system_health");
    int critical = 0;

    if (!json)
        printf("overall system health: %s (scope %s)\n", health != NULL ? health : "-",
               jstr(o, "scope") != NULL ? jstr(o, "scope") : "-");
    for (size_t i = 0; recs != NULL && i < json_object_array_length(recs); i++) {
        struct json_object *r = json_object_array_get_idx(recs, i);
        const char *sev = jstr(r, "severity");

        critical |= sev != NULL && strcmp(sev, "critical") == 0;
        if (!json)
            printf("%-8s %-12s %s\n", sev != NULL ? sev : "-", jstr(r, "area") != NULL ? jstr(r, "area") : "-",
                   jstr(r, "message") != NULL ? jstr(r, "message") : "");
    }
    return critical || (health != NULL && strcmp(health, "unhealthy") == 0) ? 1 : 0;
}

/* GET path with only --json (and --help) as options. */
static int get_and_print(int argc, char **argv, const char *usage, const char *path,
                         int (*print)(struct json_object *o, int json))
{
    int json = 0, rc;

    if ((rc = json_only_options(argc, argv, 1, usage, &json)) >= 0)
        return rc;
    return call_and_print("GET", path, json, print);
}

int cli_resources(int argc, char **argv)
{
    return get_and_print(argc, argv, resources_usage, "/api/v1/resources", print_pools);
}

int cli_report(int argc, char **argv)
{
    return get_and_print(argc, argv, report_usage, "/api/v1/report", print_report);
}
