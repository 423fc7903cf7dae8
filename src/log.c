/* Structured logging: one JSON object per line, written with a single write(2)
 * so that lines from many responders sharing one file never interleave. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static char g_component[32] = "gateway";
static char g_request_id[65];
static enum log_level g_min = LOG_LVL_INFO;
static int g_fd = 2;
static int g_pid;   /* cached: getpid() is a system call on every line */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *component, enum log_level min)
{
    log_set_component(component);
    g_min = min;
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    if (fd < 0)
        return -1;
    if (g_fd > 2)
        close(g_fd);
    g_fd = fd;
    return 0;
}

void log_close_file(void)
{
    if (g_fd > 2)
        close(g_fd);
    g_fd = 2;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Called in every new process (log_init, and the supervisor's children set
 * their component after fork), so the cached pid is always this process's. */
void log_set_component(const char *component)
{
    g_pid = (int)getpid();
    gw_strlcpy(g_component, component ? component : "gateway", sizeof(g_component));
}

void log_set_request_id(const char *request_id)
{
    gw_strlcpy(g_request_id, request_id ? request_id : "", sizeof(g_request_id));
}

const char *log_request_id(void)
{
    return g_request_id;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= g_min;
}

/* A line is built in one bounded buffer: no allocation on the request path,
 * and a field that does not fit is cut, never the closing brace. */
struct line {
    char b[6144];
    size_t n;
};

static void put(struct line *l, const char *s, size_t len)
{
    if (len > sizeof(l->b) - 3 - l->n) /* room kept for "}\n" */
        len = sizeof(l->b) - 3 - l->n;
    memcpy(l->b + l->n, s, len);
    l->n += len;
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * other bytes as they are (as json-c writes with NOSLASHESCAPE). */
static void put_json_str(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    put(l, "\"", 1);
    for (; *s != '\0' && l->n < sizeof(l->b) - 10; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[6];

        switch (ch) {
        case '"': put(l, "\\\"", 2); break;
        case '\\': put(l, "\\\\", 2); break;
        case '\n': put(l, "\\n", 2); break;
        case '\r': put(l, "\\r", 2); break;
        case '\t': put(l, "\\t", 2); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[ch >> 4];
                esc[5] = hex[ch & 15];
                put(l, esc, 6);
            } else {
                put(l, (const char *)&ch, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static void put_key(struct line *l, const char *key)
{
    put(l, ",", 1);
    put_json_str(l, key);
    put(l, ":", 1);
}

static void put_str_field(struct line *l, const char *key, const char *v)
{
    put_key(l, key);
    put_json_str(l, v);
}

static int reserved(const char *k)
{
    static const char *const own[] = { "ts", "level", "component", "pid", "request_id", "event", "msg" };

    for (size_t i = 0; i < GW_ARRAY_LEN(own); i++)
        if (strcmp(k, own[i]) == 0)
            return 1;
    return 0;
}

static void vlog(enum log_level lvl, const char *event, const struct log_field *fields, size_t nf,
                 const char *fmt, va_list ap)
{
    char raw[2048], msg[2048], ts[32], num[48];
    struct line l;
    int saved = errno;

    if (lvl < g_min)
        return;
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* Errors from libpq, hiredis and curl may quote a DSN or URL with its password. */
    gw_mask_secrets(raw, msg, sizeof(msg));
    gw_iso8601(gw_now_ms(), ts);

    l.n = 0;
    put(&l, "{\"ts\":", 6);
    put_json_str(&l, ts);
    put_str_field(&l, "level", level_names[lvl]);
    put_str_field(&l, "component", g_component);
    put_key(&l, "pid");
    snprintf(num, sizeof(num), "%d", g_pid ? g_pid : (int)getpid());
    put(&l, num, strlen(num));
    if (g_request_id[0] != '\0')
        put_str_field(&l, "request_id", g_request_id);
    put_str_field(&l, "event", event);
    put_str_field(&l, "msg", msg);
    for (size_t i = 0; i < nf; i++) {
        const struct log_field *f = &fields[i];

        /* The line's own keys win: a field cannot forge ts, level or event. */
        if (reserved(f->key))
            continue;
        switch (f->type) {
        case LOG_STR:
            if (f->s != NULL && f->s[0] != '\0')
                put_str_field(&l, f->key, f->s);
            break;
        case LOG_INT:
            put_key(&l, f->key);
            snprintf(num, sizeof(num), "%lld", f->i);
            put(&l, num, strlen(num));
            break;
        case LOG_MS:
            put_key(&l, f->key);
            snprintf(num, sizeof(num), "%.3f", f->ms);
            put(&l, num, strlen(num));
            break;
        }
    }
    memcpy(l.b + l.n, "}\n", 2);
    l.n += 2;
    if (write(g_fd, l.b, l.n) < 0) {
        /* Nowhere left to report a logging failure. */
    }
    errno = saved;
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, event, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level lvl, const char *event, const struct log_field *fields, size_t n,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, event, fields, n, fmt, ap);
    va_end(ap);
}
