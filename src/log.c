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
#include <json-c/json.h>

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

static void vlog(enum log_level lvl, const char *event, struct json_object *fields,
                 const char *fmt, va_list ap)
{
    char raw[2048], msg[2048], ts[32];
    struct json_object *o;
    const char *line;
    size_t len;
    int saved = errno;

    if (lvl < g_min)
        return;
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* Errors from libpq, hiredis and curl may quote a DSN or URL with its password. */
    gw_mask_secrets(raw, msg, sizeof(msg));
    gw_iso8601(gw_now_ms(), ts);

    o = json_object_new_object();
    json_object_object_add(o, "ts", json_object_new_string(ts));
    json_object_object_add(o, "level", json_object_new_string(level_names[lvl]));
    json_object_object_add(o, "component", json_object_new_string(g_component));
    json_object_object_add(o, "pid", json_object_new_int(g_pid ? g_pid : (int)getpid()));
    if (g_request_id[0] != '\0')
        json_object_object_add(o, "request_id", json_object_new_string(g_request_id));
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object_object_add(o, "msg", json_object_new_string(msg));
    if (fields != NULL) {
        /* The line's own keys win: a field cannot forge ts, level or event. */
        json_object_object_foreach(fields, k, v) {
            if (!json_object_object_get_ex(o, k, NULL))
                json_object_object_add(o, k, json_object_get(v));
        }
    }
    line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    len = strlen(line);
    {
        char *buf = malloc(len + 1);

        if (buf != NULL) {
            memcpy(buf, line, len);
            buf[len] = '\n';
            if (write(g_fd, buf, len + 1) < 0) {
                /* Nowhere left to report a logging failure. */
            }
            free(buf);
        }
    }
    json_object_put(o);
    errno = saved;
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, event, NULL, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level lvl, const char *event, struct json_object *fields,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(lvl, event, fields, fmt, ap);
    va_end(ap);
}
