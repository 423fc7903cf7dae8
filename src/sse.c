/* Server-sent events parser after the WHATWG "event stream interpretation":
 * fields data/event/id/retry, comments, one optional space after the colon. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(struct sse_parser *p, size_t max_event, sse_event_fn fn, void *arg)
{
    memset(p, 0, sizeof(*p));
    p->on_event = fn;
    p->arg = arg;
    p->max_event = max_event;
    p->retry_ms = -1;
}

void sse_free(struct sse_parser *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

/* Grow *buf to hold need bytes (plus a NUL), never past max + 1. */
static int reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    size_t ncap;
    char *nb;

    if (need > max)
        return SSE_TOO_LARGE;
    if (need + 1 <= *cap)
        return 0;
    ncap = *cap ? *cap : 256;
    while (ncap < need + 1)
        ncap *= 2;
    if (ncap > max + 1)
        ncap = max + 1;
    nb = realloc(*buf, ncap);
    if (nb == NULL)
        return SSE_NO_MEMORY;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int dispatch(struct sse_parser *p)
{
    struct sse_event ev;
    int rc = 0;

    if (p->has_data) {
        /* The data buffer holds "line\n" per data line: drop the last '\n'. */
        p->data_len--;
        p->data[p->data_len] = '\0';
        ev.type = p->type[0] ? p->type : "message";
        ev.data = p->data;
        ev.data_len = p->data_len;
        ev.id = p->id;
        ev.retry_ms = p->retry_ms;
        rc = p->on_event(&ev, p->arg);
    }
    /* An event without data is dropped, but its type and retry still reset. */
    p->data_len = 0;
    p->has_data = false;
    p->type[0] = '\0';
    p->retry_ms = -1;
    return rc;
}

static int field(struct sse_parser *p, const char *name, size_t nlen, const char *val, size_t vlen)
{
    int rc;

    if (nlen == 4 && memcmp(name, "data", 4) == 0) {
        rc = reserve(&p->data, &p->data_cap, p->data_len + vlen + 1, p->max_event);
        if (rc != 0)
            return rc;
        memcpy(p->data + p->data_len, val, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
        p->data[p->data_len] = '\0';
        p->has_data = true;
    } else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
        /* Event names are short words; a longer one cannot be one we act on. */
        if (vlen >= sizeof(p->type))
            vlen = sizeof(p->type) - 1;
        memcpy(p->type, val, vlen);
        p->type[vlen] = '\0';
    } else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
        /* An id holding NUL is ignored (spec); one too long to resume with, too. */
        if (memchr(val, '\0', vlen) == NULL && vlen < sizeof(p->id)) {
            memcpy(p->id, val, vlen);
            p->id[vlen] = '\0';
        }
    } else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
        long v = 0;
        size_t i;

        for (i = 0; i < vlen && val[i] >= '0' && val[i] <= '9' && v < 100000000L; i++)
            v = v * 10 + (val[i] - '0');
        if (vlen > 0 && i == vlen)
            p->retry_ms = v;
    }
    return 0;
}

static int line_end(struct sse_parser *p)
{
    const char *l = p->line, *colon;
    size_t n = p->line_len;

    p->line_len = 0;
    if (n == 0)
        return dispatch(p);
    if (l[0] == ':')
        return 0; /* comment (keep-alive) */
    colon = memchr(l, ':', n);
    if (colon == NULL)
        return field(p, l, n, "", 0);
    {
        size_t nlen = (size_t)(colon - l);
        const char *v = colon + 1;
        size_t vlen = n - nlen - 1;

        if (vlen > 0 && v[0] == ' ') {
            v++;
            vlen--;
        }
        return field(p, l, nlen, v, vlen);
    }
}

int sse_feed(struct sse_parser *p, const char *buf, size_t n)
{
    static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };
    size_t i = 0;
    int rc;

    if (p->stopped)
        return p->stopped;
    /* One UTF-8 byte order mark at the very start of the stream is skipped,
     * even when it arrives split across chunks. */
    while (!p->started && i < n) {
        if ((unsigned char)buf[i] == bom[p->bom_seen]) {
            i++;
            if (++p->bom_seen == sizeof(bom))
                p->started = true;
            continue;
        }
        p->started = true;
        if (p->bom_seen > 0) {
            /* A partial BOM was data after all. */
            rc = reserve(&p->line, &p->line_cap, p->bom_seen, p->max_event);
            if (rc != 0)
                return p->stopped = rc;
            memcpy(p->line, bom, p->bom_seen);
            p->line_len = p->bom_seen;
        }
    }
    while (i < n) {
        char c = buf[i];

        if (c == '\n' && p->after_cr) {
            p->after_cr = false;
            i++;
            continue;
        }
        p->after_cr = false;
        if (c == '\r' || c == '\n') {
            p->after_cr = (c == '\r');
            i++;
            if ((rc = line_end(p)) != 0)
                return p->stopped = rc;
            continue;
        }
        {
            /* Copy the run up to the next line end in one go. */
            size_t j = i;

            while (j < n && buf[j] != '\r' && buf[j] != '\n')
                j++;
            rc = reserve(&p->line, &p->line_cap, p->line_len + (j - i), p->max_event);
            if (rc != 0)
                return p->stopped = rc;
            memcpy(p->line + p->line_len, buf + i, j - i);
            p->line_len += j - i;
            i = j;
        }
    }
    return 0;
}
