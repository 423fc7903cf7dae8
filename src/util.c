/* Small helpers shared by every module: bounded strings, hex, randomness, time.
 * Kept free of gateway state so that tests and tools can use them alone. */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

int gw_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n;

    if (size == 0)
        return -1;
    if (src == NULL)
        src = "";
    n = strlen(src);
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int gw_snprintf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

void gw_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int gw_unhex(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(in[2 * i]), lo = hi < 0 ? -1 : hex_digit(in[2 * i + 1]);

        if (lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int gw_random_bytes(unsigned char *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int gw_random_hex(char *out, size_t nbytes)
{
    unsigned char buf[64];

    if (nbytes > sizeof(buf) || gw_random_bytes(buf, nbytes) != 0)
        return -1;
    gw_hex(buf, nbytes, out);
    return 0;
}

static unsigned char id_pool[4096];
static size_t id_pool_used = sizeof(id_pool);
static int id_pool_atfork;

static void id_pool_discard(void)
{
    /* A child must never hand out ids its parent already used or will use. */
    OPENSSL_cleanse(id_pool, sizeof(id_pool));
    id_pool_used = sizeof(id_pool);
}

int gw_random_id(char out[33])
{
    if (!id_pool_atfork) {
        if (pthread_atfork(NULL, NULL, id_pool_discard) != 0)
            return gw_random_hex(out, 16);
        id_pool_atfork = 1;
    }
    if (id_pool_used + 16 > sizeof(id_pool)) {
        if (gw_random_bytes(id_pool, sizeof(id_pool)) != 0)
            return -1;
        id_pool_used = 0;
    }
    gw_hex(id_pool + id_pool_used, 16, out);
    OPENSSL_cleanse(id_pool + id_pool_used, 16);
    id_pool_used += 16;
    return 0;
}

void gw_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
        out[0] = '\0';
        return;
    }
    gw_hex(md, 32, out);
}

int64_t gw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int g_pid_cached, g_pid_atfork;

static void pid_forget(void)
{
    g_pid_cached = 0;   /* the child asks again: its parent's id is not its own */
}

int gw_pid(void)
{
    if (g_pid_cached != 0)
        return g_pid_cached;
    if (!g_pid_atfork) {
        if (pthread_atfork(NULL, NULL, pid_forget) != 0)
            return (int)getpid();
        g_pid_atfork = 1;
    }
    return g_pid_cached = (int)getpid();
}

int64_t gw_monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_iso8601(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms % 1000));
}

bool gw_str_eq_ci(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

bool gw_has_prefix(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

char *gw_trim(char *s)
{
    char *end;

    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

bool gw_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (host == NULL)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Append one character to a bounded output; the caller terminates. */
static void put_ch(char *out, size_t n, size_t *o, char ch)
{
    if (*o + 1 < n)
        out[(*o)++] = ch;
}

static void put_str(char *out, size_t n, size_t *o, const char *s)
{
    while (*s != '\0')
        put_ch(out, n, o, *s++);
}

/* Where a URL's userinfo ends: the last '@' of the authority (a password may
 * hold '@'), or NULL when the authority has none. */
static const char *userinfo_end(const char *p)
{
    const char *at = NULL;

    for (; *p != '\0' && *p != '/' && *p != '?' && *p != '#' && *p != '\'' && *p != '"' &&
           !isspace((unsigned char)*p);
         p++)
        if (*p == '@')
            at = p;
    return at;
}

/* A libpq or query-string "password" key starts at p (after a separator). */
static bool password_key(const char *p, const char **value)
{
    const char *q;

    if (strncasecmp(p, "password", 8) != 0)
        return false;
    q = p + 8;
    while (*q == ' ' || *q == '\t')
        q++;
    if (*q != '=')
        return false;
    q++;
    while (*q == ' ' || *q == '\t')
        q++;
    *value = q;
    return true;
}

void gw_mask_secrets(const char *in, char *out, size_t n)
{
    const char *p = in, *value;
    size_t o = 0;

    if (n == 0)
        return;
    while (*p != '\0') {
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            const char *auth = p + 3, *at = userinfo_end(auth), *colon;

            put_str(out, n, &o, "://");
            p = auth;
            if (at != NULL) {
                colon = memchr(auth, ':', (size_t)(at - auth));
                /* user:password@ keeps the user; a lone token@ is a password (redis://secret@). */
                for (const char *u = auth; colon != NULL && u < colon + 1; u++)
                    put_ch(out, n, &o, *u);
                put_str(out, n, &o, "***@");
                p = at + 1;
            }
            continue;
        }
        if ((p == in || isspace((unsigned char)p[-1]) || p[-1] == '?' || p[-1] == '&' ||
             p[-1] == ';' || p[-1] == '"' || p[-1] == '\'') && password_key(p, &value)) {
            put_str(out, n, &o, "password=***");
            if (*value == '\'' || *value == '"') {
                char quote = *value++;

                while (*value != '\0' && *value != quote)
                    value += (*value == '\\' && value[1] != '\0') ? 2 : 1;
                if (*value == quote)
                    value++;
            } else {
                while (*value != '\0' && !isspace((unsigned char)*value) && *value != '&' &&
                       *value != ';' && *value != '"')
                    value++;
            }
            p = value;
            continue;
        }
        put_ch(out, n, &o, *p++);
    }
    out[o] = '\0';
}

int gw_uuid(char out[37])
{
    unsigned char b[16];
    char h[33];

    if (gw_random_bytes(b, sizeof(b)) != 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    gw_hex(b, sizeof(b), h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return 0;
}

size_t gw_sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct gw_sink *s = arg;
    size_t n = size * nmemb;
    char *p;

    if (n > s->max - s->len) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    p = realloc(s->buf, s->len + n + 1);
    if (p == NULL)
        return 0;
    s->buf = p;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}
