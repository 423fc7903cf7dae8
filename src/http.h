/* The HTTP request and response as the gateway sees them, independent of how
 * they arrived (FastCGI, CGI): headers, bounded body, problem+json errors. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdbool.h>
#include <json-c/json.h>

enum gw_plane { PLANE_NONE = 0, PLANE_API = 1, PLANE_MCP = 2, PLANE_BOTH = 3 };

/* I/O supplied by the process layer (fcgi/). */
struct http_io {
    const char *(*param)(void *ctx, const char *name); /* CGI-style variable */
    long (*read)(void *ctx, char *buf, size_t n);      /* request body; <0 error */
    int (*write)(void *ctx, const char *buf, size_t n); /* 0 or -1 (client gone) */
    int (*flush)(void *ctx);                           /* 0 or -1 (client gone) */
    void *ctx;
};

/* What read returns when the request's read deadline passed first. */
#define HTTP_IO_TIMEOUT (-2)

/* Room for the response headers a handler adds (not counting Status and
 * Content-Type); a header that does not fit is refused. */
#define HTTP_HEAD_MAX 4096

struct http_request {
    struct http_io *io;
    const char *method;        /* REQUEST_METHOD */
    char path[2048];           /* REQUEST_URI up to '?', percent-decoding not applied */
    const char *query;         /* after '?', or "" */
    const char *content_type;  /* "" when absent */
    const char *accept;
    const char *authorization;
    const char *origin;
    const char *host;
    const char *remote_addr;
    const char *server_port;
    long content_length;       /* -1 when absent */
    enum gw_plane plane;       /* which public plane this request arrived on */
    char request_id[65];
    char *body;                /* NUL-terminated, owned; NULL until read */
    size_t body_len;
    long long start_ms;
};

struct http_response {
    struct http_io *io;
    int status;
    size_t head_len;
    char head[HTTP_HEAD_MAX];  /* "Name: value\r\n" lines, in order */
    bool head_sent;
    bool head_only;            /* HEAD: status and headers, the body dropped */
    bool client_gone;
    size_t bytes;
};

const char *http_param(const struct http_request *r, const char *name);
/* Fill the request from the CGI variables. Returns 0, or an HTTP status
 * (400, 414, 431) for a request that cannot be represented. */
int http_request_init(struct http_request *r, struct http_io *io, long header_max);
void http_request_free(struct http_request *r);
/* Read the whole body, at most max bytes: 0, 413 (too large), 400 (short),
 * 408 (not all there by the read deadline). */
int http_read_body(struct http_request *r, long max);
/* Iterate the query string's name=value pairs, percent-decoded ('+' is a
 * space); *cursor starts NULL. 1 with a pair, 0 at the end, -1 when a name or
 * value does not fit, has a bad escape or decodes to a NUL. */
int http_query_next(const struct http_request *r, const char **cursor, char *name, size_t nn,
                    char *value, size_t vn);
/* "sane" request ids: 1..64 of [A-Za-z0-9._-]. */
bool http_request_id_valid(const char *s);
/* The header as a CGI variable name: "X-Request-Id" -> "HTTP_X_REQUEST_ID". */
const char *http_header(const struct http_request *r, const char *name);

void http_response_init(struct http_response *w, struct http_io *io);
int http_add_header(struct http_response *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends status and headers (once); then http_write appends body bytes. */
int http_send_head(struct http_response *w, int status, const char *content_type);
int http_write(struct http_response *w, const char *buf, size_t n);
int http_flush(struct http_response *w);
int http_send_json(struct http_response *w, int status, struct json_object *body);
int http_send_text(struct http_response *w, int status, const char *ctype, const char *text);
/* RFC 9457 problem+json with request_id; detail may be NULL. */
int http_send_problem(struct http_response *w, const struct http_request *r,
                      int status, const char *detail);
/* problem+json with extension members copied from ext (may be NULL). */
int http_send_problem_ext(struct http_response *w, const struct http_request *r,
                          int status, const char *detail, struct json_object *ext);
const char *http_status_text(int status);

#endif
