/* PostgreSQL access under faults: a server that completes the login and then
 * never answers must not hold a responder or a health-check thread for good. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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
