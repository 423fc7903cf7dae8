/* FastCGI accept loop and CGI runner: maps each request's parameters and streams
 * to struct http_io and hands it to the application; nothing protocol-specific. */
#include "responder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcgiapp.h>

#include "log.h"

static volatile sig_atomic_t *g_stop;
/* Set while a request is in hand: an orphaned responder finishes it first. */
static volatile sig_atomic_t g_busy;

static void on_stop(int sig)
{
    (void)sig;
    if (g_stop != NULL)
        *g_stop = 1;
}

/* The supervisor is gone: nobody would restart, reload or drain this
 * responder any more. An idle one leaves at once (an idle accept() only
 * notices a stop flag after its one-second timeout); a busy one finishes its
 * request first, as on SIGTERM. */
static void on_orphaned(int sig)
{
    (void)sig;
    if (!g_busy)
        _exit(0);
    if (g_stop != NULL)
        *g_stop = 1;
}

int responder_exit_with_parent(pid_t parent)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_orphaned;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(RESPONDER_ORPHAN_SIGNAL, &sa, NULL) != 0 ||
        prctl(PR_SET_PDEATHSIG, RESPONDER_ORPHAN_SIGNAL) != 0)
        return -1;
    /* The parent may have died between fork() and prctl(): then no signal
     * comes, and we have been re-parented already. */
    return getppid() == parent ? 0 : -1;
}

void responder_signals(volatile sig_atomic_t *stop)
{
    struct sigaction sa;

    g_stop = stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: libfcgi does not retry a read or write interrupted by a
     * signal, so without it a stop request would break the request in hand.
     * accept() still wakes up, through the receive timeout on the listening
     * socket (calls with a timeout are never restarted). */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int responder_fd0_is_socket(void)
{
    int listening = 0;
    socklen_t len = sizeof(listening);

    /* Listening, not merely a socket: mod_cgid hands a CGI program a
     * connected socket on fd 0, and that is a CGI request to answer. */
    return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

/* Errors after which accept() can succeed later: another responder won the
 * connection, a signal, a peer that left, a full descriptor table. */
static int accept_error_transient(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return 1;
    default:
        return 0;
    }
}

/* --- FastCGI ------------------------------------------------------------ */

static const char *fcgi_param(void *ctx, const char *name)
{
    return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static long fcgi_read(void *ctx, char *buf, size_t n)
{
    int want = n > (1u << 30) ? (1 << 30) : (int)n;

    return FCGX_GetStr(buf, want, ((FCGX_Request *)ctx)->in);
}

static int fcgi_write(void *ctx, const char *buf, size_t n)
{
    FCGX_Request *r = ctx;

    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;

        if (FCGX_PutStr(buf, chunk, r->out) != chunk)
            return -1;
        buf += chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

static int fcgi_flush(void *ctx)
{
    return FCGX_FFlush(((FCGX_Request *)ctx)->out) == 0 ? 0 : -1;
}

int responder_loop(int listen_fd, responder_fn fn, void *arg, volatile sig_atomic_t *stop)
{
    FCGX_Request req;
    struct http_io io = { fcgi_param, fcgi_read, fcgi_write, fcgi_flush, &req };
    struct timeval tick = { 1, 0 };
    struct sockaddr_storage addr;
    socklen_t alen = sizeof(addr);
    int rc, tcp;

    if (FCGX_Init() != 0)
        return -1;
    /* Responders block in accept() itself, so the kernel wakes exactly one
     * of them per connection (poll() would wake them all on each one). The
     * receive timeout makes an idle accept() return EAGAIN once a second, so
     * that a stop request that raced with entering accept() is still seen. */
    if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) != 0)
        log_warn("accept_timeout", "cannot set an accept timeout: %s", strerror(errno));
    /* Accepted TCP sockets inherit that timeout (unix ones do not); a request
     * body may legitimately pause for longer, so those connections clear it. */
    tcp = getsockname(listen_fd, (struct sockaddr *)&addr, &alen) == 0 && addr.ss_family != AF_UNIX;
    if (FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
        return -1;
    while (!*stop) {
        rc = FCGX_Accept_r(&req);
        if (rc < 0) {
            if (!accept_error_transient(-rc)) {
                /* Not a listening socket any more (or never was): stop
                 * rather than spin on an fd that keeps failing. */
                log_error("accept_failed", "FastCGI accept failed: %s; responder exits",
                          rc == -9999 ? "unknown error" : strerror(-rc));
                FCGX_Free(&req, 1);
                return -1;
            }
            if (-rc != EAGAIN && -rc != EWOULDBLOCK && -rc != EINTR)
                usleep(10000); /* e.g. out of descriptors: do not spin */
            continue;
        }
        if (tcp && req.ipcFd >= 0) {
            struct timeval none = { 0, 0 };

            setsockopt(req.ipcFd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
        }
        g_busy = 1;
        fn(arg, &io);
        FCGX_Finish_r(&req);
        g_busy = 0;
    }
    FCGX_Free(&req, 1);
    return 0;
}

/* --- CGI ---------------------------------------------------------------- */

static const char *cgi_param(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static long cgi_read(void *ctx, char *buf, size_t n)
{
    (void)ctx;
    return (long)fread(buf, 1, n, stdin);
}

static int cgi_write(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

static int cgi_flush(void *ctx)
{
    (void)ctx;
    return fflush(stdout) == 0 ? 0 : -1;
}

/* A CGI program that exits before the web server has written the whole
 * request body makes that write fail, and the server may then reset the
 * connection instead of sending our answer (seen with a 413 under mod_cgid).
 * Read what is left, up to a bound: the web server limits bodies too. */
#define CGI_DRAIN_MAX (64L * 1024 * 1024)

static void cgi_drain_stdin(void)
{
    char buf[16384];
    long total = 0;
    size_t n;

    while (total < CGI_DRAIN_MAX && (n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        total += (long)n;
}

int responder_cgi(responder_fn fn, void *arg)
{
    struct http_io io = { cgi_param, cgi_read, cgi_write, cgi_flush, NULL };
    int rc;

    fn(arg, &io);
    rc = fflush(stdout) == 0 ? 0 : 1;
    cgi_drain_stdin();
    return rc;
}
