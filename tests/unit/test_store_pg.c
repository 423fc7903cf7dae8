/* PostgreSQL access under faults: a server that never answers (before or after
 * the login) must not hold a responder or a health-check thread for good, and
 * a failed attempt is not repeated by every request. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "silent_listener.h"
#include "store_pg.h"
#include "util.h"

static pid_t server;

static void stop_server(void)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
    }
}

TestSuite(store_pg, .fini = stop_server);

static int read_n(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);

        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* A fake server: answers one startup with AuthenticationOk and ReadyForQuery,
 * then reads and ignores everything. Returns its port. */
static int start_stalling_server(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    server = fork();
    cr_assert_geq(server, 0);
    if (server == 0) {
        static const unsigned char auth_ok[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0 };
        static const unsigned char ready[] = { 'Z', 0, 0, 0, 5, 'I' };
        unsigned char hdr[4], buf[4096];
        int fd = accept(lfd, NULL, NULL);
        size_t plen;

        if (fd < 0 || read_n(fd, hdr, 4) != 0)
            _exit(1);
        plen = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
        if (plen < 8 || plen - 4 > sizeof(buf) || read_n(fd, buf, plen - 4) != 0)
            _exit(1);
        if (write(fd, auth_ok, sizeof(auth_ok)) < 0 || write(fd, ready, sizeof(ready)) < 0)
            _exit(1);
        while (read(fd, buf, sizeof(buf)) > 0)
            ; /* the query is never answered */
        _exit(0);
    }
    close(lfd);
    return ntohs(a.sin_port);
}

Test(store_pg, ping_gives_up_on_a_server_that_stalls_after_login)
{
    char dsn[256], err[256];
    PGconn *c;
    int64_t t0;

    snprintf(dsn, sizeof(dsn),
             "host=127.0.0.1 port=%d dbname=x user=x sslmode=disable gssencmode=disable",
             start_stalling_server());
    c = pg_connect_dsn(dsn, 5, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    t0 = gw_monotonic_ms();
    cr_assert_eq(pg_ping(c, 300, err, sizeof(err)), -1);
    cr_assert_lt(gw_monotonic_ms() - t0, 2000, "pg_ping waited %lld ms",
                 (long long)(gw_monotonic_ms() - t0));
    cr_assert(strstr(err, "no answer") != NULL, "%s", err);
    PQfinish(c);
}

Test(store_pg, connect_names_the_problem_when_nothing_listens)
{
    char err[256];

    cr_assert_null(pg_connect_dsn("host=127.0.0.1 port=1 dbname=x user=x", 2, err, sizeof(err)));
    cr_assert(strstr(err, "cannot connect to PostgreSQL") != NULL, "%s", err);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
}

static long long since(int64_t t0)
{
    return (long long)(gw_monotonic_ms() - t0);
}

Test(store_pg, connect_gives_up_on_a_listener_that_never_answers_at_its_deadline)
{
    char dsn[256], err[256];
    int port = 0, lfd = silent_listener(&port);
    int64_t t0;

    cr_assert_geq(lfd, 0);
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=x user=x", port);
    /* libpq's own connect_timeout would make 1 s into 2 s. */
    t0 = gw_monotonic_ms();
    cr_assert_null(pg_connect_dsn(dsn, 1, err, sizeof(err)));
    cr_assert_lt(since(t0), 1500, "pg_connect_dsn(1 s) took %lld ms", since(t0));
    cr_assert(strstr(err, "timeout: no answer from PostgreSQL at 127.0.0.1:") != NULL &&
              strstr(err, "within 1000 ms") != NULL, "%s", err);
    t0 = gw_monotonic_ms();
    cr_assert_null(pg_connect_within(dsn, 100, err, sizeof(err)));
    cr_assert_lt(since(t0), 600, "pg_connect_within(100 ms) took %lld ms", since(t0));
    close(lfd);
}

/* A responder's state whose PostgreSQL is a silent listener (returned fd). */
static int silent_app(struct gw_app *app, int connect_timeout)
{
    struct gw_config cfg;
    int port = 0, lfd = silent_listener(&port);

    cr_assert_geq(lfd, 0);
    cfg_defaults(&cfg);
    snprintf(cfg.pg_dsn, sizeof(cfg.pg_dsn), "host=127.0.0.1 port=%d dbname=x user=x", port);
    cfg.pg_connect_timeout = connect_timeout;
    app_init(app, &cfg, PLANE_BOTH);
    return lfd;
}

Test(store_pg, a_failed_connect_is_backed_off_from_its_end)
{
    struct gw_app app;
    char err[256];
    int lfd = silent_app(&app, 1);
    int64_t t0;

    cr_assert_null(pg_conn(&app));
    /* The attempt took a whole second, longer than the first wait: the next
     * request must still not pay for another one. */
    t0 = gw_monotonic_ms();
    cr_assert_null(pg_conn(&app));
    cr_assert_lt(since(t0), 100, "second pg_conn took %lld ms", since(t0));
    cr_assert_eq(pg_ping_within(&app, 50, err, sizeof(err)), -1);
    cr_assert(strstr(err, "next attempt in") != NULL, "%s", err);
    cr_assert_lt(since(t0), 100);
    app_free(&app);
    close(lfd);
}

Test(store_pg, readiness_ping_stays_within_its_budget)
{
    struct gw_app app;
    char err[256];
    int lfd = silent_app(&app, 5);
    int64_t t0;

    t0 = gw_monotonic_ms();
    cr_assert_eq(pg_ping_within(&app, 50, err, sizeof(err)), -1);
    cr_assert_lt(since(t0), 300, "took %lld ms", since(t0));
    app_free(&app);
    close(lfd);
}

Test(store_pg, backoff_doubles_up_to_its_ceiling)
{
    int failures = 0;
    int64_t at, waits[8];

    for (int i = 0; i < 8; i++) {
        int64_t before = gw_monotonic_ms();

        app_store_failed(&failures, &at);
        waits[i] = at - before;
    }
    cr_assert_geq(waits[0], APP_RETRY_MIN_MS);
    cr_assert_lt(waits[0], APP_RETRY_MIN_MS + 50);
    cr_assert_geq(waits[1], 2 * APP_RETRY_MIN_MS);
    cr_assert_geq(waits[7], APP_RETRY_MAX_MS);
    cr_assert_lt(waits[7], APP_RETRY_MAX_MS + 50);
    cr_assert_eq(failures, 8);
}
