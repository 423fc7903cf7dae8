/* A minimal FastCGI client for tests: sends one request whose body arrives in
 * two parts with a pause between them, and prints the responder's stdout.
 * usage: fcgi_client unix:PATH|tcp:HOST:PORT PAUSE_MS BODY_BYTES NAME=VALUE... */
#include <arpa/inet.h>
#include <netinet/in.h>
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

int main(int argc, char **argv)
{
    static unsigned char params[16384];
    unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 }, h[8];
    size_t plen = 0, body_len;
    long pause_ms;
    char *body;
    int fd;

    if (argc < 4) {
        fprintf(stderr, "usage: fcgi_client unix:PATH|tcp:HOST:PORT PAUSE_MS BODY_BYTES NAME=VALUE...\n");
        return 2;
    }
    pause_ms = atol(argv[2]);
    body_len = (size_t)atol(argv[3]);
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
    if (record(fd, BEGIN_REQUEST, begin, 8) || record(fd, PARAMS, params, plen) ||
        record(fd, PARAMS, NULL, 0) || record(fd, STDIN, body, body_len / 2))
        return 1;
    {
        struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
    }
    if (record(fd, STDIN, body + body_len / 2, body_len - body_len / 2) || record(fd, STDIN, NULL, 0))
        return 1;
    /* Print STDOUT records until END_REQUEST. */
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
            break;
    }
    free(body);
    close(fd);
    return 0;
}
