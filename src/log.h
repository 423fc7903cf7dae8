/* Structured logging: one JSON object per line on stderr (or a file).
 * Every line carries the current request id so that a request can be followed. */
#ifndef GW_LOG_H
#define GW_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_init(const char *component, enum log_level min);
int log_open_file(const char *path);            /* 0, or -1 with errno set */
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

struct json_object;
/* As log_msg, with the members of fields (a JSON object, not consumed) as
 * top-level keys of the line, for lines that tools read field by field. */
void log_fields(enum log_level lvl, const char *event, struct json_object *fields,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_LVL_ERROR, ev, __VA_ARGS__)

#endif
