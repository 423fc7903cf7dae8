/* A minimal FastCGI client for tests: sends one request whose body (or, with
 * -p, whose parameters) arrive in two parts with a pause between them, and
 * prints the responder's stdout. An answer or a close during the pause is
 * read at once, and the time from connect to it goes to stderr (elapsed_ms=N);
 * the connection is still held open, as a stalled web server would, until the
 * pause is over.
 * usage: fcgi_client [-p] unix:PATH|tcp:HOST:PORT PAUSE_MS BODY_BYTES NAME=VALUE... */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { BEGIN_REQUEST = 1, END_REQUEST = 3, PARAMS = 4, STDIN = 5, STDOUT = 6 };

static int send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int record(int fd, int type, const void *content, size_t len)
{
    unsigned char h[8] = { 1, (unsigned char)type, 0, 1, (unsigned char)(len >> 8),
                           (unsigned char)len, 0, 0 };

    return send_all(fd, h, 8) || (len > 0 && send_all(fd, content, len)) ? -1 : 0;
}

static size_t put_len(unsigned char *p, size_t n)
{
    if (n < 128) {
        p[0] = (unsigned char)n;
        return 1;
    }
    p[0] = (unsigned char)((n >> 24) | 0x80);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return 4;
}

static int connect_to(const char *where)
{
    int fd;

    if (strncmp(where, "unix:", 5) == 0) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };

        snprintf(a.sun_path, sizeof(a.sun_path), "%s", where + 5);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        return connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? fd : -1;
    }
    if (strncmp(where, "tcp:", 4) == 0) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        const char *colon = strrchr(where + 4, ':');
        char host[64];

        if (colon == NULL || (size_t)(colon - (where + 4)) >= sizeof(host))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - (where + 4)), where + 4);
        a.sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
            return -1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        return connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? fd : -1;
    }
    return -1;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait PAUSE_MS unless the responder answers (or closes) first: 1 if it did. */
static int pause_for(int fd, long pause_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, (int)pause_ms) > 0;
}

static int read_answer(int fd);

int main(int argc, char **argv)
{
    static unsigned char params[16384];
    unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
    size_t plen = 0, body_len;
    long pause_ms, t0;
    char *body;
    int fd, in_params = 0, rc;

    signal(SIGPIPE, SIG_IGN); /* a closed connection is reported, not fatal */
    if (argc > 1 && strcmp(argv[1], "-p") == 0) {
        in_params = 1;
        argv++;
        argc--;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: fcgi_client [-p] unix:PATH|tcp:HOST:PORT PAUSE_MS BODY_BYTES NAME=VALUE...\n");
        return 2;
    }
    pause_ms = atol(argv[2]);
    body_len = (size_t)atol(argv[3]);
    t0 = now_ms();
    if ((fd = connect_to(argv[1])) < 0) {
        perror("connect");
        return 1;
    }
    for (int i = 4; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        size_t nl, vl;

        if (eq == NULL)
            continue;
        nl = (size_t)(eq - argv[i]);
        vl = strlen(eq + 1);
        if (plen + nl + vl + 8 > sizeof(params))
            return 2;
        plen += put_len(params + plen, nl);
        plen += put_len(params + plen, vl);
        memcpy(params + plen, argv[i], nl);
        memcpy(params + plen + nl, eq + 1, vl);
        plen += nl + vl;
    }
    body = malloc(body_len + 1);
    memset(body, 'x', body_len);
    if (record(fd, BEGIN_REQUEST, begin, 8))
        return 1;
    if (in_params) {
        /* A whole PARAMS record header and half its content, then nothing. */
        unsigned char ph[8] = { 1, PARAMS, 0, 1, (unsigned char)(plen >> 8), (unsigned char)plen, 0, 0 };

        if (send_all(fd, ph, 8) || send_all(fd, params, plen / 2))
            return 1;
        /* A failed write after the pause is not the end: the responder's
         * answer (or its close) is what the caller wants to see. */
        if (!pause_for(fd, pause_ms) && send_all(fd, params + plen / 2, plen - plen / 2) == 0 &&
            record(fd, PARAMS, NULL, 0) == 0 && record(fd, STDIN, body, body_len) == 0)
            record(fd, STDIN, NULL, 0);
    } else {
        if (record(fd, PARAMS, params, plen) || record(fd, PARAMS, NULL, 0) ||
            record(fd, STDIN, body, body_len / 2))
            return 1;
        if (!pause_for(fd, pause_ms) &&
            (record(fd, STDIN, body + body_len / 2, body_len - body_len / 2) == 0))
            record(fd, STDIN, NULL, 0);
    }
    rc = read_answer(fd);
    fflush(stdout);
    fprintf(stderr, "elapsed_ms=%ld\n", now_ms() - t0);
    {
        long left = t0 + pause_ms - now_ms();
        struct timespec ts = { left / 1000, (left % 1000) * 1000000L };

        if (left > 0)
            nanosleep(&ts, NULL);
    }
    free(body);
    close(fd);
    return rc;
}

/* Print STDOUT records until END_REQUEST: 0, or 1 when the connection ends first. */
static int read_answer(int fd)
{
    unsigned char h[8];

    for (;;) {
        size_t len, pad, got = 0;
        unsigned char buf[65536 + 256];

        for (got = 0; got < 8;) {
            ssize_t r = read(fd, h + got, 8 - got);

            if (r <= 0) {
                fprintf(stderr, "connection closed before END_REQUEST\n");
                return 1;
            }
            got += (size_t)r;
        }
        len = (size_t)h[4] << 8 | h[5];
        pad = h[6];
        for (got = 0; got < len + pad;) {
            ssize_t r = read(fd, buf + got, len + pad - got);

            if (r <= 0) {
                fprintf(stderr, "connection closed inside a record\n");
                return 1;
            }
            got += (size_t)r;
        }
        if (h[1] == STDOUT)
            fwrite(buf, 1, len, stdout);
        if (h[1] == END_REQUEST)
            return 0;
    }
}
