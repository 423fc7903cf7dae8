/* Incremental parser of text/event-stream (WHATWG server-sent events): bytes
 * in arbitrary chunks, whole events out, CRLF / LF / CR line ends, bounded. */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stdbool.h>
#include <stddef.h>

struct sse_event {
    const char *type;     /* "message" when the event named none */
    const char *data;     /* data lines joined with '\n', NUL-terminated */
    size_t data_len;
    const char *id;       /* last event id seen on the stream ("" = none) */
    long retry_ms;        /* retry field of this event, -1 when absent */
};

/* Called for each complete event; a non-zero return stops the parser and is
 * returned by sse_feed. */
typedef int (*sse_event_fn)(const struct sse_event *ev, void *arg);

enum { SSE_TOO_LARGE = -1, SSE_NO_MEMORY = -2 };

struct sse_parser {
    sse_event_fn on_event;
    void *arg;
    size_t max_event;     /* longest line and largest data of one event */
    char *line;
    size_t line_len, line_cap;
    char *data;
    size_t data_len, data_cap;
    bool has_data;
    char type[64];
    char id[256];
    long retry_ms;
    bool after_cr;        /* last byte was CR: a following LF belongs to it */
    size_t bom_seen;      /* bytes of a leading UTF-8 BOM matched so far */
    bool started;
    int stopped;          /* the non-zero result that stopped the parser */
};

void sse_init(struct sse_parser *p, size_t max_event, sse_event_fn fn, void *arg);
/* Feed n bytes. 0, the callback's non-zero result (parsing stops there), or
 * SSE_TOO_LARGE / SSE_NO_MEMORY. After a non-zero result further feeds are
 * refused with the same value. */
int sse_feed(struct sse_parser *p, const char *buf, size_t n);
void sse_free(struct sse_parser *p);

#endif
