/* Structured logging: one JSON object per line on stderr (or a file).
 * Every line carries the current request id so that a request can be followed. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_init(const char *component, enum log_level min);
int log_open_file(const char *path);            /* 0, or -1 with errno set */
void log_close_file(void);                      /* back to stderr */
int log_level_parse(const char *s, enum log_level *out);
void log_set_component(const char *component);
void log_set_request_id(const char *request_id); /* NULL clears it */
const char *log_request_id(void);
/* Whether a line of this level would be written (skip building fields). */
int log_enabled(enum log_level lvl);

/* event is a short machine-readable name ("request", "redis_connect");
 * the formatted message is human text. Never log secrets or tokens. */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One extra key of a line: a string (NULL or "" leaves the key out), an
 * integer, or a number of milliseconds with three decimals. */
enum log_field_type { LOG_STR, LOG_INT, LOG_MS };
struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    double ms;
};
/* As log_msg, with fields as top-level keys of the line (the line's own keys
 * win), for lines that tools read field by field. */
void log_fields(enum log_level lvl, const char *event, const struct log_field *fields, size_t n,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_LVL_ERROR, ev, __VA_ARGS__)

#endif
