/* Load client for MCP tools/call: N keep-alive connections (plain HTTP or TLS),
 * each with its own MCP session, calling one tool for a duration or a count;
 * prints per-call latency percentiles and calls per second on one line.
 *
 * usage: mcp_load --url URL [-c CONNS] [-d SECONDS | -n CALLS] [--tool NAME]
 *                 [--args JSON] [--cacert FILE] [--token-file FILE]
 *                 [--session ID] [--warmup CALLS]
 * The token is read from a file (or $MCP_LOAD_TOKEN): a command line is
 * readable by every local user. Any failed call ends the run with status 1. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define IO_TIMEOUT_S 10
#define BODY_MAX (8 * 1024 * 1024)

static struct {
    char host[256], port[8], path[1024];
    bool tls;
    const char *cacert, *tool, *args, *session;
    bool stateless;          /* --stateless: MCP 2026-07-28, no session, headers mirror the call */
    char token[16384];
    int conns, seconds, warmup;
    long calls;                  /* total, when -n is given */
} opt = { .conns = 1, .seconds = 5, .warmup = 20, .tool = "echo", .args = "{\"text\":\"hello\"}" };

static SSL_CTX *tls_ctx;
static atomic_bool stop_flag;
static atomic_long calls_left;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[1024];
static pthread_barrier_t start_line;

struct io {
    int fd;
    SSL *ssl;
    char buf[65536];
    size_t off, len;
};

struct response {
    int status;
    char session[256];
    char content_type[128];
    bool close;
    char *body;
    size_t body_len, body_cap;
};

struct worker {
    pthread_t th;
    int index;
    double *lat;       /* µs of each measured call */
    size_t n_lat, cap_lat;
    long errors;
};

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *fmt, const char *a, const char *b)
{
    pthread_mutex_lock(&err_lock);
    if (first_error[0] == '\0')
        snprintf(first_error, sizeof(first_error), fmt, a, b);
    pthread_mutex_unlock(&err_lock);
}

/* --- connection ------------------------------------------------------------------ */

static int io_connect(struct io *io)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
    struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
    int one = 1;

    memset(io, 0, sizeof(*io));
    io->fd = -1;
    if (getaddrinfo(opt.host, opt.port, &hints, &ai) != 0 || ai == NULL) {
        fail("cannot resolve %s%s", opt.host, "");
        return -1;
    }
    io->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (io->fd < 0 || connect(io->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fail("cannot connect to %s: %s", opt.host, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    setsockopt(io->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(io->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(io->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!opt.tls)
        return 0;
    io->ssl = SSL_new(tls_ctx);
    if (io->ssl == NULL || SSL_set_fd(io->ssl, io->fd) != 1)
        return -1;
    /* The certificate must name the host we asked for (an IP or a DNS name). */
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), opt.host) != 1) {
        SSL_set_tlsext_host_name(io->ssl, opt.host);
        SSL_set1_host(io->ssl, opt.host);
    }
    if (SSL_connect(io->ssl) != 1) {
        unsigned long code = ERR_get_error();
        char e[256];

        if (code != 0)
            ERR_error_string_n(code, e, sizeof(e));
        else
            snprintf(e, sizeof(e), "the server closed the connection or does not speak TLS");
        fail("TLS handshake with %s failed: %s", opt.host, e);
        return -1;
    }
    return 0;
}

static void io_close(struct io *io)
{
    if (io->ssl) {
        SSL_shutdown(io->ssl);
        SSL_free(io->ssl);
    }
    if (io->fd >= 0)
        close(io->fd);
    io->ssl = NULL;
    io->fd = -1;
}

static int io_write(struct io *io, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = io->ssl ? SSL_write(io->ssl, p, (int)n) : send(io->fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && !io->ssl && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Refill the buffer: >0 bytes, 0 at end of stream, -1 on error or timeout. */
static ssize_t io_fill(struct io *io)
{
    ssize_t r;

    io->off = io->len = 0;
    do
        r = io->ssl ? SSL_read(io->ssl, io->buf, sizeof(io->buf)) : recv(io->fd, io->buf, sizeof(io->buf), 0);
    while (r < 0 && !io->ssl && errno == EINTR);
    if (r < 0 && io->ssl && SSL_get_error(io->ssl, (int)r) == SSL_ERROR_ZERO_RETURN)
        r = 0;
    if (r > 0)
        io->len = (size_t)r;
    return r < 0 ? -1 : r;
}

/* A line without its CRLF into line (n bytes). -1 on error, end or overlength. */
static int io_line(struct io *io, char *line, size_t n)
{
    size_t k = 0;

    for (;;) {
        if (io->off == io->len && io_fill(io) <= 0)
            return -1;
        while (io->off < io->len) {
            char ch = io->buf[io->off++];

            if (ch == '\n') {
                if (k > 0 && line[k - 1] == '\r')
                    k--;
                line[k] = '\0';
                return 0;
            }
            if (k + 1 >= n)
                return -1;
            line[k++] = ch;
        }
    }
}

static int body_append(struct response *r, const char *p, size_t n)
{
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        char *q;

        while (cap < r->body_len + n + 1)
            cap *= 2;
        if (cap > BODY_MAX || (q = realloc(r->body, cap)) == NULL)
            return -1;
        r->body = q;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

/* n bytes of body (n < 0: until the peer closes). */
static int io_body(struct io *io, struct response *r, long long n)
{
    while (n != 0) {
        size_t take;

        if (io->off == io->len) {
            ssize_t got = io_fill(io);

            if (got == 0 && n < 0)
                return 0;
            if (got <= 0)
                return -1;
        }
        take = io->len - io->off;
        if (n >= 0 && (long long)take > n)
            take = (size_t)n;
        if (body_append(r, io->buf + io->off, take) != 0)
            return -1;
        io->off += take;
        if (n > 0)
            n -= (long long)take;
    }
    return 0;
}

/* One whole HTTP response (Content-Length, chunked or close-delimited). */
static int read_response(struct io *io, struct response *r)
{
    char line[8192];
    long long length = -1;
    bool chunked = false;

    r->status = 0;
    r->session[0] = r->content_type[0] = '\0';
    r->close = false;
    r->body_len = 0;
    if (r->body)
        r->body[0] = '\0';
    if (io_line(io, line, sizeof(line)) != 0 || sscanf(line, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    for (;;) {
        char *v;

        if (io_line(io, line, sizeof(line)) != 0)
            return -1;
        if (line[0] == '\0')
            break;
        if ((v = strchr(line, ':')) == NULL)
            continue;
        *v++ = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Length") == 0)
            length = atoll(v);
        else if (strcasecmp(line, "Transfer-Encoding") == 0)
            chunked = strcasestr(v, "chunked") != NULL;
        else if (strcasecmp(line, "Connection") == 0)
            r->close = strcasecmp(v, "close") == 0;
        else if (strcasecmp(line, "Mcp-Session-Id") == 0)
            snprintf(r->session, sizeof(r->session), "%s", v);
        else if (strcasecmp(line, "Content-Type") == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%s", v);
    }
    if (r->status == 204 || r->status == 304)
        return 0;
    if (chunked) {
        for (;;) {
            long long size;

            if (io_line(io, line, sizeof(line)) != 0)
                return -1;
            size = strtoll(line, NULL, 16);
            if (size < 0 || size > BODY_MAX)
                return -1;
            if (size == 0)
                break;
            if (io_body(io, r, size) != 0 || io_line(io, line, sizeof(line)) != 0)
                return -1;
        }
        /* Trailers, then the blank line. */
        do
            if (io_line(io, line, sizeof(line)) != 0)
                return -1;
        while (line[0] != '\0');
        return 0;
    }
    if (length < 0)
        r->close = true;
    return io_body(io, r, length);
}

/* --- MCP ------------------------------------------------------------------------- */

/* --stateless: the 2026-07-28 request headers of every tools/call. */
static char era_headers[512] = "MCP-Protocol-Version: 2025-11-25\r\n";

static int send_request(struct io *io, const char *method, const char *session, const char *body)
{
    char head[20480];
    int n;

    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s%s"
                 "Accept: application/json, text/event-stream\r\n"
                 "%s%s%s%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, opt.path, opt.host, opt.port, opt.token[0] ? "Authorization: Bearer " : "",
                 opt.token, opt.token[0] ? "\r\n" : "", era_headers, session ? "Mcp-Session-Id: " : "",
                 session ? session : "", session ? "\r\n" : "", body ? strlen(body) : 0);
    if (n < 0 || (size_t)n >= sizeof(head))
        return -1;
    if (io_write(io, head, (size_t)n) != 0)
        return -1;
    return body ? io_write(io, body, strlen(body)) : 0;
}

/* Does body hold "id": id (any spacing, any key order)? */
static bool has_id(const char *body, long id)
{
    for (const char *p = body; (p = strstr(p, "\"id\"")) != NULL;) {
        char *end;
        long v;

        p += 4;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':')
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        v = strtol(p, &end, 10);
        if (end != p && v == id && (*end == ',' || *end == '}' || *end == ' ' || *end == '\r' || *end == '\n'))
            return true;
    }
    return false;
}

/* The answer to request id: HTTP 200, a JSON-RPC result for that id (in JSON
 * or in an SSE event), not a tool error. */
static bool call_ok(const struct response *r, long id)
{
    if (r->status != 200 || r->body == NULL)
        return false;
    return has_id(r->body, id) && strstr(r->body, "\"result\"") != NULL &&
           strstr(r->body, "\"isError\":true") == NULL && strstr(r->body, "\"isError\": true") == NULL;
}

static int mcp_initialize(struct io *io, struct response *r, char *sid, size_t n)
{
    static const char *init =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
        "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
        "\"clientInfo\":{\"name\":\"mcp_load\",\"version\":\"1.0\"}}}";
    char st[16];

    if (send_request(io, "POST", NULL, init) != 0 || read_response(io, r) != 0) {
        fail("initialize: no answer from %s%s", opt.host, "");
        return -1;
    }
    if (r->status != 200 || r->session[0] == '\0') {
        snprintf(st, sizeof(st), "%d", r->status);
        fail("initialize: HTTP %s without a session id: %.600s", st, r->body ? r->body : "");
        return -1;
    }
    snprintf(sid, n, "%s", r->session);
    if (send_request(io, "POST", sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}") != 0 ||
        read_response(io, r) != 0 || r->status != 202) {
        snprintf(st, sizeof(st), "%d", r->status);
        fail("notifications/initialized: HTTP %s, not 202 %.600s", st, r->body ? r->body : "");
        return -1;
    }
    return 0;
}

#define STATELESS_META ",\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"," \
                       "\"io.modelcontextprotocol/clientCapabilities\":{}," \
                       "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"mcp_load\",\"version\":\"1.0\"}}"

static bool more_calls(bool measured)
{
    if (!measured)
        return true;
    if (opt.calls > 0)
        return atomic_fetch_sub(&calls_left, 1) > 0;
    return !atomic_load(&stop_flag);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct io *io = calloc(1, sizeof(*io));
    struct response r = { 0 };
    char sid[256], *body = NULL, st[16];
    size_t body_cap = strlen(opt.tool) + strlen(opt.args) + 128 + sizeof(STATELESS_META);
    long id = 1;
    bool own = opt.session == NULL && !opt.stateless, ok = true;

    body = malloc(body_cap);
    if (io == NULL || body == NULL || io_connect(io) != 0) {
        w->errors++;
        ok = false;
        goto wait;
    }
    if (own)
        ok = mcp_initialize(io, &r, sid, sizeof(sid)) == 0;
    else
        snprintf(sid, sizeof(sid), "%s", opt.session ? opt.session : "");
    if (!ok)
        w->errors++;
wait:
    /* Everyone starts measuring together, after its own warm-up calls. */
    for (int phase = 0; phase < 2; phase++) {
        long warm = 0;

        if (phase == 1)
            pthread_barrier_wait(&start_line);
        while (ok && (phase == 1 ? more_calls(true) : warm++ < opt.warmup)) {
            double t0, t1;

            snprintf(body, body_cap,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                     "\"arguments\":%s%s}}",
                     id, opt.tool, opt.args, opt.stateless ? STATELESS_META : "");
            t0 = now_us();
            if (send_request(io, "POST", opt.stateless ? NULL : sid, body) != 0 || read_response(io, &r) != 0) {
                fail("tools/call %s: the connection failed mid-call%s", opt.tool, "");
                w->errors++;
                ok = false;
                break;
            }
            t1 = now_us();
            if (!call_ok(&r, id)) {
                snprintf(st, sizeof(st), "%d", r.status);
                fail("tools/call: HTTP %s, answer: %.700s", st, r.body ? r.body : "");
                w->errors++;
                ok = false;
                break;
            }
            id++;
            if (phase == 1) {
                if (w->n_lat == w->cap_lat) {
                    size_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
                    double *q = realloc(w->lat, cap * sizeof(*q));

                    if (q == NULL) {
                        ok = false;
                        break;
                    }
                    w->lat = q;
                    w->cap_lat = cap;
                }
                w->lat[w->n_lat++] = t1 - t0;
            }
            if (r.close) {
                io_close(io);
                if (io_connect(io) != 0) {
                    w->errors++;
                    ok = false;
                }
            }
        }
    }
    /* End the sessions we opened, as a client should. */
    if (own && io != NULL && io->fd >= 0 && ok && send_request(io, "DELETE", sid, NULL) == 0)
        read_response(io, &r);
    if (io != NULL)
        io_close(io);
    free(io);
    free(body);
    free(r.body);
    return NULL;
}

/* --- main ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int parse_url(const char *url)
{
    const char *p, *h, *slash, *colon;

    if (strncmp(url, "https://", 8) == 0)
        opt.tls = true, p = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return -1;
    h = p;
    slash = strchr(h, '/');
    if (slash == NULL)
        slash = h + strlen(h);
    colon = memchr(h, ':', (size_t)(slash - h));
    if (colon == NULL || (size_t)(colon - h) >= sizeof(opt.host) ||
        (size_t)(slash - colon - 1) >= sizeof(opt.port) || slash == colon + 1)
        return -1;
    memcpy(opt.host, h, (size_t)(colon - h));
    memcpy(opt.port, colon + 1, (size_t)(slash - colon - 1));
    snprintf(opt.path, sizeof(opt.path), "%s", *slash ? slash : "/");
    return 0;
}

static int read_token(const char *file)
{
    FILE *f = fopen(file, "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(opt.token, 1, sizeof(opt.token) - 1, f);
    fclose(f);
    opt.token[n] = '\0';
    opt.token[strcspn(opt.token, "\r\n")] = '\0';
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: mcp_load --url URL [-c CONNS] [-d SECONDS | -n CALLS] [--tool NAME] "
                    "[--args JSON] [--cacert FILE] [--token-file FILE] [--session ID] [--warmup CALLS] "
                    "[--stateless 1]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct worker *ws;
    const char *url = NULL, *env;
    double t0, elapsed, *all, p50, p90, p99, max;
    size_t total = 0, k = 0;
    long errors = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "-c") == 0)
            opt.conns = atoi(v);
        else if (strcmp(a, "-d") == 0)
            opt.seconds = atoi(v);
        else if (strcmp(a, "-n") == 0)
            opt.calls = atol(v);
        else if (strcmp(a, "--tool") == 0)
            opt.tool = v;
        else if (strcmp(a, "--args") == 0)
            opt.args = v;
        else if (strcmp(a, "--cacert") == 0)
            opt.cacert = v;
        else if (strcmp(a, "--token-file") == 0) {
            if (read_token(v) != 0) {
                fprintf(stderr, "mcp_load: cannot read %s: %s\n", v, strerror(errno));
                return 2;
            }
        } else if (strcmp(a, "--session") == 0)
            opt.session = v;
        else if (strcmp(a, "--stateless") == 0)
            opt.stateless = strcmp(v, "1") == 0;
        else if (strcmp(a, "--warmup") == 0)
            opt.warmup = atoi(v);
        else
            usage();
    }
    if (url == NULL || parse_url(url) != 0) {
        fprintf(stderr, "mcp_load: --url http(s)://HOST:PORT/PATH is required\n");
        return 2;
    }
    if (opt.conns < 1 || opt.conns > 1024 || opt.seconds < 1 || opt.calls < 0 || opt.warmup < 0 ||
        strchr(opt.tool, '"') || strchr(opt.tool, '\\')) {
        fprintf(stderr, "mcp_load: -c 1..1024, -d >= 1, -n >= 0, --warmup >= 0, a plain tool name\n");
        return 2;
    }
    if (opt.stateless)
        snprintf(era_headers, sizeof(era_headers),
                 "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: %s\r\n", opt.tool);
    if (opt.token[0] == '\0' && (env = getenv("MCP_LOAD_TOKEN")) != NULL)
        snprintf(opt.token, sizeof(opt.token), "%s", env);
    if (opt.tls) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (tls_ctx == NULL || (opt.cacert ? SSL_CTX_load_verify_locations(tls_ctx, opt.cacert, NULL)
                                           : SSL_CTX_set_default_verify_paths(tls_ctx)) != 1) {
            fprintf(stderr, "mcp_load: cannot load the CA %s\n", opt.cacert ? opt.cacert : "(system)");
            return 2;
        }
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    }
    atomic_store(&calls_left, opt.calls);
    ws = calloc((size_t)opt.conns, sizeof(*ws));
    if (ws == NULL || pthread_barrier_init(&start_line, NULL, (unsigned)opt.conns + 1) != 0)
        return 1;
    for (int i = 0; i < opt.conns; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].th, NULL, worker_run, &ws[i]) != 0) {
            fprintf(stderr, "mcp_load: cannot start thread %d\n", i);
            return 1;
        }
    }
    pthread_barrier_wait(&start_line);
    t0 = now_us();
    if (opt.calls == 0) {
        struct timespec d = { .tv_sec = opt.seconds };

        while (nanosleep(&d, &d) != 0 && errno == EINTR)
            ;
        atomic_store(&stop_flag, true);
    }
    for (int i = 0; i < opt.conns; i++)
        pthread_join(ws[i].th, NULL);
    elapsed = (now_us() - t0) / 1e6;
    for (int i = 0; i < opt.conns; i++) {
        total += ws[i].n_lat;
        errors += ws[i].errors;
    }
    all = malloc((total ? total : 1) * sizeof(*all));
    for (int i = 0; i < opt.conns && all; i++) {
        if (ws[i].n_lat)
            memcpy(all + k, ws[i].lat, ws[i].n_lat * sizeof(*all));
        k += ws[i].n_lat;
        free(ws[i].lat);
    }
    if (all != NULL && total > 0)
        qsort(all, total, sizeof(*all), cmp_double);
    p50 = total ? all[(size_t)(0.50 * (double)(total - 1))] : 0;
    p90 = total ? all[(size_t)(0.90 * (double)(total - 1))] : 0;
    p99 = total ? all[(size_t)(0.99 * (double)(total - 1))] : 0;
    max = total ? all[total - 1] : 0;
    printf("calls=%zu errors=%ld conns=%d seconds=%.2f calls_per_s=%.0f p50_us=%.0f p90_us=%.0f "
           "p99_us=%.0f max_us=%.0f\n",
           total, errors, opt.conns, elapsed, elapsed > 0 ? (double)total / elapsed : 0, p50, p90, p99,
           max);
    free(all);
    free(ws);
    pthread_barrier_destroy(&start_line);
    SSL_CTX_free(tls_ctx);
    if (errors > 0 || total == 0) {
        fprintf(stderr, "mcp_load: %ld failed (first: %s)\n", errors,
                first_error[0] ? first_error : "no call was made");
        return 1;
    }
    return 0;
}
