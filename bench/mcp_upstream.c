/* A minimal, fast MCP server (Streamable HTTP, JSON answers, one tool `echo`)
 * for the tools/call benchmark: loopback only, HTTP/1.1 keep-alive, one epoll loop.
 *
 * usage: mcp_upstream --port N [--pid-file FILE]
 * POST /mcp: initialize (issues Mcp-Session-Id), notifications and responses
 * (202), ping, tools/list, tools/call echo; DELETE /mcp ends a session; GET is
 * 405 (no server-initiated stream). Anything malformed gets a 4xx, never a crash.
 * At exit it prints how many connections, requests and sessions it served. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#define HEAD_MAX (16 * 1024)   /* request line and headers */
#define BODY_MAX (1024 * 1024) /* a tools/call body */
#define SESSIONS (1 << 16)     /* open sessions at most (power of two) */
#define CONNS_MAX 4096

struct conn {
    int fd;
    size_t slot;       /* index in conns[] */
    char *in;          /* received, not yet handled */
    size_t in_len, in_cap;
    char *out;         /* answers the socket did not take yet */
    size_t out_len, out_off, out_cap;
    bool closing;      /* close once out is written */
};

/* One request as parsed from the head. */
struct req {
    char method[8];
    char path[64];
    char session[33];  /* Mcp-Session-Id, "" if none or malformed */
    size_t body_len;
    bool keep_alive;
};

static volatile sig_atomic_t stop;
static char sessions[SESSIONS][33]; /* open addressing; "" free, "-" removed */
static size_t n_sessions;
static struct conn *conns[CONNS_MAX]; /* open connections, freed at exit */
static size_t n_conns;
/* Reported at exit: does the caller keep its connections alive? */
static unsigned long long total_conns, total_requests, total_sessions;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* --- sessions ---------------------------------------------------------------- */

static size_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return (size_t)h & (SESSIONS - 1);
}

static char *session_find(const char *id)
{
    size_t i = hash_id(id);

    for (size_t n = 0; n < SESSIONS; n++, i = (i + 1) & (SESSIONS - 1)) {
        if (sessions[i][0] == '\0')
            return NULL;
        if (strcmp(sessions[i], id) == 0)
            return sessions[i];
    }
    return NULL;
}

/* A new random session id into id (33 bytes); -1 when the table is full. */
static int session_new(char *id)
{
    unsigned char rnd[16];
    size_t i;

    /* Keep a quarter free so that probes stay short. */
    if (n_sessions >= SESSIONS / 4 * 3 || getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    for (size_t k = 0; k < sizeof(rnd); k++)
        snprintf(id + 2 * k, 3, "%02x", rnd[k]);
    i = hash_id(id);
    while (sessions[i][0] != '\0' && strcmp(sessions[i], "-") != 0)
        i = (i + 1) & (SESSIONS - 1);
    memcpy(sessions[i], id, 33);
    n_sessions++;
    total_sessions++;
    return 0;
}

static void session_end(char *slot)
{
    memcpy(slot, "-", 2);
    n_sessions--;
}

/* --- output ------------------------------------------------------------------ */

static int out_append(struct conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *q;

        while (cap < c->out_len + n)
            cap *= 2;
        if ((q = realloc(c->out, cap)) == NULL)
            return -1;
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Service Unavailable";
    }
}

/* One whole answer; body may be NULL. A 4xx of the transport closes the
 * connection when the request could not be read to its end. */
static int respond(struct conn *c, const struct req *r, int status, const char *session,
                   const char *body)
{
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    bool close_it = r == NULL || !r->keep_alive;
    int n;

    n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s\r\n",
                 status, reason(status), blen, body ? "Content-Type: application/json\r\n" : "",
                 session ? "Mcp-Session-Id: " : "", session ? session : "", session ? "\r\n" : "",
                 status == 405 ? "Allow: POST, DELETE\r\n" : "",
                 close_it ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    if (close_it)
        c->closing = true;
    if (out_append(c, head, (size_t)n) != 0 || (blen && out_append(c, body, blen) != 0))
        return -1;
    return 0;
}

static int rpc_answer(struct conn *c, const struct req *r, int status, const char *session,
                      struct json_object *msg)
{
    int rc = respond(c, r, status, session,
                     json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(msg);
    return rc;
}

static struct json_object *rpc_error(struct json_object *id, int code, const char *message)
{
    struct json_object *m = json_object_new_object(), *e = json_object_new_object();

    json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(m, "id", id ? json_object_get(id) : NULL);
    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    json_object_object_add(m, "error", e);
    return m;
}

static struct json_object *rpc_result(struct json_object *id, struct json_object *result)
{
    struct json_object *m = json_object_new_object();

    json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(m, "id", json_object_get(id));
    json_object_object_add(m, "result", result);
    return m;
}

/* --- MCP --------------------------------------------------------------------- */

static const char *known_version(const char *v)
{
    static const char *versions[] = { "2025-11-25", "2025-06-18", "2025-03-26" };

    for (size_t i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++)
        if (strcmp(v, versions[i]) == 0)
            return versions[i];
    return versions[0];
}

static struct json_object *initialize(struct json_object *params)
{
    struct json_object *r = json_object_new_object(), *caps = json_object_new_object(),
                       *info = json_object_new_object(), *v = NULL;

    if (json_object_is_type(params, json_type_object))
        json_object_object_get_ex(params, "protocolVersion", &v);
    json_object_object_add(r, "protocolVersion",
                           json_object_new_string(known_version(
                               json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                        : NULL)));
    json_object_object_add(caps, "tools", json_object_new_object());
    json_object_object_add(r, "capabilities", caps);
    json_object_object_add(info, "name", json_object_new_string("bench-upstream"));
    json_object_object_add(info, "version", json_object_new_string("1.0.0"));
    json_object_object_add(r, "serverInfo", info);
    return r;
}

static struct json_object *tools_list(void)
{
    static const char *tools =
        "{\"tools\":[{\"name\":\"echo\",\"description\":\"Returns its text argument\","
        "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
        "\"required\":[\"text\"]},"
        "\"outputSchema\":{\"type\":\"object\",\"properties\":{\"echo\":{\"type\":\"string\"}},"
        "\"required\":[\"echo\"]},\"annotations\":{\"readOnlyHint\":true}}]}";

    return json_tokener_parse(tools);
}

/* tools/call: a result, or NULL with *code and *why set (an RPC error). */
static struct json_object *tools_call(struct json_object *params, int *code, const char **why)
{
    struct json_object *name = NULL, *args = NULL, *text = NULL, *r, *content, *item, *sc;

    if (json_object_is_type(params, json_type_object)) {
        json_object_object_get_ex(params, "name", &name);
        json_object_object_get_ex(params, "arguments", &args);
    }
    if (!json_object_is_type(name, json_type_string) ||
        strcmp(json_object_get_string(name), "echo") != 0) {
        *code = -32602;
        *why = "Unknown tool";
        return NULL;
    }
    if (json_object_is_type(args, json_type_object))
        json_object_object_get_ex(args, "text", &text);
    if (!json_object_is_type(text, json_type_string)) {
        *code = -32602;
        *why = "echo needs arguments.text (a string)";
        return NULL;
    }
    r = json_object_new_object();
    content = json_object_new_array();
    item = json_object_new_object();
    sc = json_object_new_object();
    json_object_object_add(item, "type", json_object_new_string("text"));
    json_object_object_add(item, "text", json_object_get(text));
    json_object_array_add(content, item);
    json_object_object_add(r, "content", content);
    json_object_object_add(sc, "echo", json_object_get(text));
    json_object_object_add(r, "structuredContent", sc);
    json_object_object_add(r, "isError", json_object_new_boolean(0));
    return r;
}

static int handle_post(struct conn *c, const struct req *r, const char *body)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *msg, *id = NULL, *method = NULL, *params = NULL, *res;
    const char *m, *why = NULL;
    char sid[33];
    int code = 0, rc;

    if (tok == NULL)
        return -1;
    msg = json_tokener_parse_ex(tok, body, (int)r->body_len);
    /* Trailing bytes after the value are as bad as a truncated value. */
    if (msg != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
                        (size_t)json_tokener_get_parse_end(tok) != r->body_len)) {
        json_object_put(msg);
        msg = NULL;
    }
    json_tokener_free(tok);
    if (msg == NULL)
        return rpc_answer(c, r, 400, NULL, rpc_error(NULL, -32700, "Parse error"));
    if (!json_object_is_type(msg, json_type_object)) {
        json_object_put(msg);
        return rpc_answer(c, r, 400, NULL, rpc_error(NULL, -32600, "Invalid Request (no batches)"));
    }
    json_object_object_get_ex(msg, "id", &id);
    json_object_object_get_ex(msg, "params", &params);
    if (!json_object_object_get_ex(msg, "method", &method) ||
        !json_object_is_type(method, json_type_string)) {
        /* A response from the client (result or error) or nonsense. */
        bool reply = json_object_object_get_ex(msg, "result", NULL) ||
                     json_object_object_get_ex(msg, "error", NULL);
        json_object_put(msg);
        if (reply)
            return respond(c, r, 202, NULL, NULL);
        return rpc_answer(c, r, 400, NULL, rpc_error(NULL, -32600, "Invalid Request"));
    }
    m = json_object_get_string(method);
    if (strcmp(m, "initialize") == 0) {
        if (id == NULL) {
            json_object_put(msg);
            return rpc_answer(c, r, 400, NULL, rpc_error(NULL, -32600, "initialize needs an id"));
        }
        if (session_new(sid) != 0) {
            rc = rpc_answer(c, r, 503, NULL, rpc_error(id, -32000, "Too many sessions"));
        } else {
            rc = rpc_answer(c, r, 200, sid, rpc_result(id, initialize(params)));
        }
        json_object_put(msg);
        return rc;
    }
    if (r->session[0] == '\0' || session_find(r->session) == NULL) {
        int st = r->session[0] == '\0' ? 400 : 404;

        rc = rpc_answer(c, r, st, NULL,
                        rpc_error(id, -32000, st == 400 ? "Mcp-Session-Id required" : "Session not found"));
        json_object_put(msg);
        return rc;
    }
    if (id == NULL) { /* notifications/initialized, cancelled, progress... */
        json_object_put(msg);
        return respond(c, r, 202, NULL, NULL);
    }
    res = NULL;
    if (strcmp(m, "ping") == 0)
        res = json_object_new_object();
    else if (strcmp(m, "tools/list") == 0)
        res = tools_list();
    else if (strcmp(m, "tools/call") == 0)
        res = tools_call(params, &code, &why);
    else
        code = -32601, why = "Method not found";
    rc = rpc_answer(c, r, 200, NULL, res ? rpc_result(id, res) : rpc_error(id, code, why));
    json_object_put(msg);
    return rc;
}

/* --- HTTP -------------------------------------------------------------------- */

/* The value of header name in the head [p, end), trimmed, into out (n bytes);
 * false when absent or too long. */
static bool header_value(const char *p, const char *end, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *v, *ve;

        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            v = p + nl + 1;
            ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if ((size_t)(ve - v) >= n)
                return false;
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = '\0';
            return true;
        }
        p = eol + 1;
    }
    return false;
}

/* Parse the head ending at hend (the blank line excluded). 0, or an HTTP status. */
static int parse_head(const char *buf, const char *hend, struct req *r)
{
    const char *sp1, *sp2, *eol = memchr(buf, '\n', (size_t)(hend - buf));
    char v[64];
    bool http11;

    memset(r, 0, sizeof(*r));
    if (eol == NULL)
        eol = hend;
    sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - buf) >= sizeof(r->method) ||
        (size_t)(sp2 - sp1 - 1) >= sizeof(r->path))
        return 400;
    memcpy(r->method, buf, (size_t)(sp1 - buf));
    memcpy(r->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    http11 = eol - sp2 - 1 >= 8 && strncmp(sp2 + 1, "HTTP/1.1", 8) == 0;
    if (!http11 && !(eol - sp2 - 1 >= 8 && strncmp(sp2 + 1, "HTTP/1.0", 8) == 0))
        return 400;
    r->keep_alive = http11;
    if (header_value(eol, hend, "Connection", v, sizeof(v)))
        r->keep_alive = strcasecmp(v, "close") != 0 && (http11 || strcasecmp(v, "keep-alive") == 0);
    if (header_value(eol, hend, "Transfer-Encoding", v, sizeof(v)))
        return 411; /* no chunked request bodies: libcurl sends a length */
    if (header_value(eol, hend, "Content-Length", v, sizeof(v))) {
        char *e;
        unsigned long long n;

        errno = 0;
        n = strtoull(v, &e, 10);
        if (v[0] < '0' || v[0] > '9' || *e != '\0' || errno != 0)
            return 400;
        if (n > BODY_MAX)
            return 413;
        r->body_len = (size_t)n;
    }
    if (header_value(eol, hend, "Mcp-Session-Id", v, sizeof(v)) && strlen(v) == 32 &&
        strspn(v, "0123456789abcdef") == 32)
        memcpy(r->session, v, 33);
    else if (header_value(eol, hend, "Mcp-Session-Id", v, sizeof(v)))
        memcpy(r->session, "x", 2); /* present but not one of ours: unknown */
    return 0;
}

/* Handle every complete request in c->in. 0, or -1 to drop the connection. */
static int serve_input(struct conn *c)
{
    size_t off = 0;

    while (!c->closing) {
        char *buf = c->in + off, *hend;
        size_t avail = c->in_len - off;
        struct req r;
        int st;

        hend = avail >= 4 ? memmem(buf, avail, "\r\n\r\n", 4) : NULL;
        if (hend == NULL) {
            if (avail > HEAD_MAX)
                return respond(c, NULL, 431, NULL, NULL);
            break;
        }
        if ((size_t)(hend - buf) > HEAD_MAX)
            return respond(c, NULL, 431, NULL, NULL);
        if ((st = parse_head(buf, hend, &r)) != 0)
            return respond(c, NULL, st, NULL, NULL);
        if (avail < (size_t)(hend + 4 - buf) + r.body_len)
            break; /* the body is still coming */
        if (strcmp(r.path, "/mcp") != 0)
            st = respond(c, &r, 404, NULL, NULL);
        else if (strcmp(r.method, "POST") == 0)
            st = handle_post(c, &r, hend + 4);
        else if (strcmp(r.method, "DELETE") == 0) {
            char *slot = r.session[0] ? session_find(r.session) : NULL;

            if (slot)
                session_end(slot);
            st = respond(c, &r, slot ? 200 : r.session[0] ? 404 : 400, NULL, NULL);
        } else if (strcmp(r.method, "GET") == 0)
            st = respond(c, &r, 405, NULL, NULL);
        else
            st = respond(c, &r, 501, NULL, NULL);
        if (st != 0)
            return -1;
        total_requests++;
        off += (size_t)(hend + 4 - buf) + r.body_len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static int flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n <= 0)
            return -1;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void conn_free(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    /* The last connection takes the freed slot. */
    conns[c->slot] = conns[--n_conns];
    conns[c->slot]->slot = c->slot;
    free(c->in);
    free(c->out);
    free(c);
}

/* Readable (or writable again): read what there is, answer, write. -1: drop. */
static int conn_event(int ep, struct conn *c, uint32_t events)
{
    struct epoll_event ev = { .data.ptr = c };
    int fl;

    if (events & EPOLLIN) {
        for (;;) {
            ssize_t n;

            if (c->in_cap - c->in_len < 4096) {
                size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
                char *q;

                if (cap > HEAD_MAX + BODY_MAX + 8192)
                    return -1;
                if ((q = realloc(c->in, cap)) == NULL)
                    return -1;
                c->in = q;
                c->in_cap = cap;
            }
            n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0)
                return -1;
            c->in_len += (size_t)n;
        }
        if (!c->closing && serve_input(c) != 0)
            return -1;
    } else if (events & (EPOLLHUP | EPOLLERR)) {
        return -1;
    }
    if ((fl = flush_out(c)) < 0)
        return -1;
    if (fl == 0 && c->closing)
        return -1;
    ev.events = EPOLLIN | (fl == 1 ? EPOLLOUT : 0);
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int listen_on(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 512) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        struct conn *c;
        struct epoll_event ev = { .events = EPOLLIN };

        if (fd < 0)
            return;
        if (n_conns >= CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->slot = n_conns;
        conns[n_conns++] = c;
        total_conns++;
    }
}

int main(int argc, char **argv)
{
    int port = 0, lfd, ep;
    const char *pidfile = NULL;
    struct epoll_event evs[64], lev = { .events = EPOLLIN, .data.ptr = NULL };
    struct sigaction sa = { .sa_handler = on_signal };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc)
            pidfile = argv[++i];
        else {
            fprintf(stderr, "usage: %s --port N [--pid-file FILE]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "mcp_upstream: --port N (1-65535) is required\n");
        return 2;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((lfd = listen_on(port)) < 0) {
        fprintf(stderr, "mcp_upstream: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        fprintf(stderr, "mcp_upstream: epoll: %s\n", strerror(errno));
        return 1;
    }
    if (pidfile) {
        FILE *f = fopen(pidfile, "w");

        if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
            fprintf(stderr, "mcp_upstream: cannot write %s\n", pidfile);
            return 1;
        }
    }
    fprintf(stderr, "mcp_upstream: listening on 127.0.0.1:%d\n", port);
    while (!stop) {
        int n = epoll_wait(ep, evs, 64, 1000);

        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c == NULL) {
                accept_all(ep, lfd);
            } else if (conn_event(ep, c, evs[i].events) != 0) {
                conn_free(ep, c);
            }
        }
    }
    while (n_conns > 0)
        conn_free(ep, conns[n_conns - 1]);
    fprintf(stderr, "mcp_upstream: connections=%llu requests=%llu sessions=%llu\n", total_conns,
            total_requests, total_sessions);
    close(lfd);
    close(ep);
    return 0;
}
