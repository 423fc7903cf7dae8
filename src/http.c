/* HTTP request and response over the CGI variable interface: bounded header and
 * body reads, request ids, and RFC 9457 problem+json for every error. */
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

const char *http_param(const struct http_request *r, const char *name)
{
    return r->io->param(r->io->ctx, name);
}

const char *http_header(const struct http_request *r, const char *name)
{
    char var[128];
    size_t i = 5;

    memcpy(var, "HTTP_", 5);
    for (; *name != '\0' && i < sizeof(var) - 1; name++, i++)
        var[i] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    var[i] = '\0';
    return http_param(r, var);
}

bool http_request_id_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];

        if (n >= 64 || !(isalnum(ch) || ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return n > 0;
}

int http_request_init(struct http_request *r, struct http_io *io, long header_max)
{
    const char *uri, *q, *cl, *rid;
    size_t plen;
    /* Authorization is not bounded here: bearer tokens may be larger than
     * other headers (Entra tokens with many groups), and the token check
     * answers an oversized one with 401 invalid_token (limits.token_max). */
    const char *const checked[] = { "HTTP_ACCEPT", "CONTENT_TYPE",
                                    "HTTP_ORIGIN", "HTTP_HOST", "HTTP_COOKIE",
                                    "HTTP_MCP_SESSION_ID", "HTTP_MCP_PROTOCOL_VERSION" };

    memset(r, 0, sizeof(*r));
    r->io = io;
    r->start_ms = gw_monotonic_ms();
    r->content_length = -1;

    rid = http_param(r, "HTTP_X_REQUEST_ID");
    if (http_request_id_valid(rid))
        gw_strlcpy(r->request_id, rid, sizeof(r->request_id));
    else if (gw_random_id(r->request_id) != 0)
        gw_strlcpy(r->request_id, "unavailable", sizeof(r->request_id));

    r->method = nz(http_param(r, "REQUEST_METHOD"));
    uri = http_param(r, "REQUEST_URI");
    if (uri == NULL || uri[0] == '\0') {
        /* Plain CGI under some servers gives SCRIPT_NAME + PATH_INFO only. */
        const char *sn = nz(http_param(r, "SCRIPT_NAME")), *pi = nz(http_param(r, "PATH_INFO"));

        if (gw_snprintf(r->path, sizeof(r->path), "%s%s", sn, pi) != 0)
            return 414;
        r->query = nz(http_param(r, "QUERY_STRING"));
    } else {
        q = strchr(uri, '?');
        plen = q ? (size_t)(q - uri) : strlen(uri);
        if (plen >= sizeof(r->path))
            return 414;
        memcpy(r->path, uri, plen);
        r->path[plen] = '\0';
        r->query = q ? q + 1 : "";
    }
    if (r->method[0] == '\0' || r->path[0] != '/')
        return 400;

    for (size_t i = 0; i < GW_ARRAY_LEN(checked); i++) {
        const char *v = http_param(r, checked[i]);

        if (v != NULL && (long)strlen(v) > header_max)
            return 431;
    }
    r->content_type = nz(http_param(r, "CONTENT_TYPE"));
    r->accept = nz(http_param(r, "HTTP_ACCEPT"));
    r->authorization = nz(http_param(r, "HTTP_AUTHORIZATION"));
    r->origin = nz(http_param(r, "HTTP_ORIGIN"));
    r->host = nz(http_param(r, "HTTP_HOST"));
    r->remote_addr = nz(http_param(r, "REMOTE_ADDR"));
    r->server_port = nz(http_param(r, "SERVER_PORT"));

    cl = http_param(r, "CONTENT_LENGTH");
    if (cl != NULL && cl[0] != '\0') {
        char *end;
        long v = strtol(cl, &end, 10);

        if (*end != '\0' || v < 0)
            return 400;
        r->content_length = v;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) into out; -1 when it does not fit or is bad. */
static int query_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)s[i];

        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return -1;
            ch = hexval(s[i + 1]) << 4 | hexval(s[i + 2]);
            i += 2;
            if (ch == 0)
                return -1;
        }
        if (o + 1 >= n)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

int http_query_next(const struct http_request *r, const char **cursor, char *name, size_t nn,
                    char *value, size_t vn)
{
    const char *p = *cursor != NULL ? *cursor : (r->query != NULL ? r->query : "");
    const char *end, *eq;

    while (*p == '&')
        p++;
    if (*p == '\0') {
        *cursor = p;
        return 0;
    }
    end = p + strcspn(p, "&");
    eq = memchr(p, '=', (size_t)(end - p));
    *cursor = end;
    if (query_decode(p, (size_t)((eq != NULL ? eq : end) - p), name, nn) != 0)
        return -1;
    if (query_decode(eq != NULL ? eq + 1 : end, eq != NULL ? (size_t)(end - eq - 1) : 0, value, vn) != 0)
        return -1;
    return 1;
}

void http_request_free(struct http_request *r)
{
    free(r->body);
    r->body = NULL;
}

int http_read_body(struct http_request *r, long max)
{
    size_t want, got = 0;

    if (r->body != NULL)
        return 0;
    if (r->content_length > max)
        return 413;
    want = r->content_length > 0 ? (size_t)r->content_length : 0;
    r->body = malloc(want + 1);
    if (r->body == NULL)
        return 500;
    while (got < want) {
        long n = r->io->read(r->io->ctx, r->body + got, want - got);

        if (n == HTTP_IO_TIMEOUT) {
            r->body[got] = '\0';
            r->body_len = got;
            return 408;
        }
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    r->body[got] = '\0';
    r->body_len = got;
    return got == want ? 0 : 400;
}

void http_response_init(struct http_response *w, struct http_io *io)
{
    /* Not memset: the header buffer is filled by appending, and zeroing it
     * on every request was a measurable part of the cost of /health. */
    w->io = io;
    w->status = 200;
    w->head_len = 0;
    w->head[0] = '\0';
    w->head_sent = false;
    w->head_only = false;
    w->client_gone = false;
    w->bytes = 0;
}

int http_add_header(struct http_response *w, const char *name, const char *fmt, ...)
{
    size_t room = sizeof(w->head) - w->head_len, start = w->head_len;
    char *p = w->head + start;
    va_list ap;
    int n, m;

    if (w->head_sent)
        return -1;
    n = snprintf(p, room, "%s: ", name);
    if (n < 0 || (size_t)n >= room)
        goto full;
    va_start(ap, fmt);
    m = vsnprintf(p + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) + 2 >= room)
        goto full;
    /* A header value never carries a line break: it would split the response. */
    for (char *v = p + n; v < p + n + m; v++)
        if (*v == '\r' || *v == '\n')
            *v = ' ';
    memcpy(p + n + m, "\r\n", 3);
    w->head_len += (size_t)(n + m) + 2;
    return 0;
full:
    w->head[start] = '\0';
    log_error("response_header_dropped", "no room for response header %s", name);
    return -1;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static int io_write(struct http_response *w, const char *buf, size_t n)
{
    if (w->client_gone)
        return -1;
    if (w->io->write(w->io->ctx, buf, n) != 0) {
        w->client_gone = true;
        return -1;
    }
    w->bytes += n;
    return 0;
}

int http_send_head(struct http_response *w, int status, const char *content_type)
{
    char head[HTTP_HEAD_MAX + 512];
    int n;

    if (w->head_sent)
        return -1;
    w->status = status;
    if (content_type != NULL)
        n = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %.200s\r\n%s\r\n",
                     status, http_status_text(status), content_type, w->head);
    else
        n = snprintf(head, sizeof(head), "Status: %d %s\r\n%s\r\n", status,
                     http_status_text(status), w->head);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    w->head_sent = true;
    return io_write(w, head, (size_t)n);
}

int http_write(struct http_response *w, const char *buf, size_t n)
{
    /* Handlers answer HEAD as GET (same headers, Content-Length included);
     * only the body stays here. */
    if (w->head_only)
        return w->client_gone ? -1 : 0;
    return io_write(w, buf, n);
}

int http_flush(struct http_response *w)
{
    if (w->client_gone)
        return -1;
    if (w->io->flush(w->io->ctx) != 0) {
        w->client_gone = true;
        return -1;
    }
    return 0;
}

int http_send_text(struct http_response *w, int status, const char *ctype, const char *text)
{
    size_t n = strlen(text);

    http_add_header(w, "Content-Length", "%zu", n);
    if (http_send_head(w, status, ctype) != 0)
        return -1;
    return http_write(w, text, n);
}

int http_send_json(struct http_response *w, int status, struct json_object *body)
{
    const char *s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);

    return http_send_text(w, status, "application/json", s);
}

int http_send_problem(struct http_response *w, const struct http_request *r, int status,
                      const char *detail)
{
    return http_send_problem_ext(w, r, status, detail, NULL);
}

int http_send_problem_ext(struct http_response *w, const struct http_request *r, int status,
                          const char *detail, struct json_object *ext)
{
    struct json_object *o = json_object_new_object();
    const char *s;
    int rc;

    if (ext != NULL) {
        json_object_object_foreach(ext, key, val)
            json_object_object_add(o, key, json_object_get(val));
    }

    json_object_object_add(o, "type", json_object_new_string("about:blank"));
    json_object_object_add(o, "title", json_object_new_string(http_status_text(status)));
    json_object_object_add(o, "status", json_object_new_int(status));
    if (detail != NULL)
        json_object_object_add(o, "detail", json_object_new_string(detail));
    if (r != NULL) {
        json_object_object_add(o, "instance", json_object_new_string(r->path));
        json_object_object_add(o, "request_id", json_object_new_string(r->request_id));
    }
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = http_send_text(w, status, "application/problem+json", s);
    json_object_put(o);
    return rc;
}
