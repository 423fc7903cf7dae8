/* FastCGI accept loop and CGI runner: maps each request's parameters and streams
 * to struct http_io and hands it to the application; nothing protocol-specific. */
#include "responder.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcgiapp.h>

#include "log.h"
#include "util.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static volatile sig_atomic_t *g_stop;
/* Set while a request is in hand: an orphaned responder finishes it first. */
static volatile sig_atomic_t g_busy;
static int g_read_timeout_ms = RESPONDER_READ_TIMEOUT_MS;

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

void responder_read_timeout(int ms)
{
    g_read_timeout_ms = ms > 0 ? ms : RESPONDER_READ_TIMEOUT_MS;
}

/* --- read deadline -------------------------------------------------------- */

/* libfcgi reads parameters (inside FCGX_Accept_r) and the body with plain
 * blocking read()s on the connection, so a peer that stops sending would hold
 * the responder for good. A per-thread timer signal, armed only around those
 * reads, makes the blocked read() fail with EINTR when the request's deadline
 * passes; it repeats until disarmed, so a signal that lands just before the
 * read() is entered cannot be lost. */
struct fcgi_conn {
    FCGX_Request req;
    int64_t deadline_ms;    /* parameters and body must have arrived by then */
    int timed_out;          /* this request's body did not arrive in time */
    timer_t timer;
    int have_timer;
};

#define DEADLINE_REPEAT_MS 20

static void on_deadline(int sig)
{
    (void)sig; /* its only job is to interrupt the read */
}

static int deadline_init(struct fcgi_conn *c)
{
    struct sigaction sa;
    struct sigevent sev;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_deadline;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted read must fail */
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return -1;
    memset(&sev, 0, sizeof(sev));
    /* This thread only: a health check thread must never see it. */
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev.sigev_notify_thread_id = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &c->timer) != 0)
        return -1;
    c->have_timer = 1;
    return 0;
}

static void ms_to_timespec(int64_t ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* Arm the timer for what is left of the deadline; -1 when it has passed. */
static int deadline_arm(struct fcgi_conn *c)
{
    struct itimerspec its;
    int64_t left = c->deadline_ms - gw_monotonic_ms();

    if (left <= 0)
        return -1;
    if (c->have_timer) {
        ms_to_timespec(left, &its.it_value);
        ms_to_timespec(DEADLINE_REPEAT_MS, &its.it_interval);
        timer_settime(c->timer, 0, &its, NULL);
    }
    return 0;
}

static void deadline_disarm(struct fcgi_conn *c)
{
    static const struct itimerspec off;

    if (c->have_timer)
        timer_settime(c->timer, 0, &off, NULL);
}

/* --- FastCGI ------------------------------------------------------------ */

static const char *fcgi_param(void *ctx, const char *name)
{
    return FCGX_GetParam(name, ((struct fcgi_conn *)ctx)->req.envp);
}

static long fcgi_read(void *ctx, char *buf, size_t n)
{
    struct fcgi_conn *c = ctx;
    FCGX_Stream *in = c->req.in;
    long buffered = (long)(in->stop - in->rdNext);
    int want = n > (1u << 30) ? (1 << 30) : (int)n, got;
    int must_wait = buffered <= 0 && !in->isClosed;

    /* What libfcgi already holds is handed out whatever the time. */
    if (buffered > 0 && buffered < want)
        want = (int)buffered;
    if (must_wait && deadline_arm(c) != 0) {
        c->timed_out = 1;
        return HTTP_IO_TIMEOUT;
    }
    got = FCGX_GetStr(buf, want, in);
    if (must_wait)
        deadline_disarm(c);
    if (got == 0 && FCGX_GetError(in) == EINTR) {
        c->timed_out = 1;
        return HTTP_IO_TIMEOUT;
    }
    return got;
}

static int fcgi_write(void *ctx, const char *buf, size_t n)
{
    FCGX_Request *r = &((struct fcgi_conn *)ctx)->req;

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
    return FCGX_FFlush(((struct fcgi_conn *)ctx)->req.out) == 0 ? 0 : -1;
}

/* Accept one connection ourselves, so that its read deadline starts before
 * libfcgi reads the parameters. Returns the fd or -errno. */
static int accept_conn(int listen_fd, int tcp)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (tcp) {
        struct timeval none = { 0, 0 };
        int one = 1;

        /* As libfcgi does: answers go out at once. The listening socket's
         * 1 s receive timeout is inherited by TCP connections (not by unix
         * ones); the read deadline replaces it. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    }
    return fd;
}

int responder_loop(int listen_fd, responder_fn fn, void *arg, volatile sig_atomic_t *stop)
{
    struct fcgi_conn conn;
    FCGX_Request *req = &conn.req;
    struct http_io io = { fcgi_param, fcgi_read, fcgi_write, fcgi_flush, &conn };
    struct timeval tick = { 1, 0 };
    struct sockaddr_storage addr;
    socklen_t alen = sizeof(addr);
    int rc, tcp;

    if (FCGX_Init() != 0)
        return -1;
    memset(&conn, 0, sizeof(conn));
    if (deadline_init(&conn) != 0)
        log_warn("read_deadline", "cannot create the read deadline timer: %s; a stalled "
                 "request can hold this responder", strerror(errno));
    /* Responders block in accept() itself, so the kernel wakes exactly one
     * of them per connection (poll() would wake them all on each one). The
     * receive timeout makes an idle accept() return EAGAIN once a second, so
     * that a stop request that raced with entering accept() is still seen. */
    if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick)) != 0)
        log_warn("accept_timeout", "cannot set an accept timeout: %s", strerror(errno));
    tcp = getsockname(listen_fd, (struct sockaddr *)&addr, &alen) == 0 && addr.ss_family != AF_UNIX;
    /* No listening socket for libfcgi: it is handed connections we accepted
     * (as it is handed a kept connection), and when it drops one, it must
     * come back to us instead of accepting the next without a deadline. */
    if (FCGX_InitRequest(req, -1, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
        return -1;
    while (!*stop) {
        if (req->ipcFd < 0) {
            int fd = accept_conn(listen_fd, tcp);

            if (fd < 0) {
                if (!accept_error_transient(-fd)) {
                    /* Not a listening socket any more (or never was): stop
                     * rather than spin on an fd that keeps failing. */
                    log_error("accept_failed", "FastCGI accept failed: %s; responder exits",
                              strerror(-fd));
                    break;
                }
                if (-fd != EAGAIN && -fd != EWOULDBLOCK && -fd != EINTR)
                    usleep(10000); /* e.g. out of descriptors: do not spin */
                continue;
            }
            req->ipcFd = fd;
            /* FCGX_Accept_r first finishes the previous request and closes
             * its connection unless it is kept: keep this new one. */
            req->keepConnection = 1;
        }
        /* From the connection (or, on a kept one, from the end of the last
         * request): parameters and body must all arrive within the timeout. */
        conn.deadline_ms = gw_monotonic_ms() + g_read_timeout_ms;
        conn.timed_out = 0;
        /* libfcgi closes a connection by shutting down its side and reading
         * until the peer closes, for up to 2 s: with a peer that stopped
         * sending, that is 2 s more of a pinned responder. "Detached" makes
         * it close at once, which is what a connection dropped while its
         * parameters were read, or a timed-out one, deserves. */
        req->detached = 1;
        deadline_arm(&conn);
        rc = FCGX_Accept_r(req);
        deadline_disarm(&conn);
        if (rc < 0) {
            /* libfcgi has closed the connection. */
            if (gw_monotonic_ms() >= conn.deadline_ms)
                log_warn("fcgi_read_timeout", "FastCGI parameters not received within %d ms; "
                         "connection closed", g_read_timeout_ms);
            else
                log_warn("fcgi_bad_request", "FastCGI connection closed before a complete request");
            continue;
        }
        req->detached = 0; /* a whole request: close politely */
        g_busy = 1;
        fn(arg, &io);
        req->detached = conn.timed_out;
        FCGX_Finish_r(req);
        g_busy = 0;
    }
    FCGX_Free(req, 1);
    if (conn.have_timer)
        timer_delete(conn.timer);
    return *stop ? 0 : -1;
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
