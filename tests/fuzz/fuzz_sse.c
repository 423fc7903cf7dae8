/* Fuzz target: the SSE parser. Any bytes, fed whole and again in small chunks
 * cut at every CR/LF boundary: both runs must yield the same events. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sse.h"

struct digest {
    unsigned long h;
    unsigned long events;
};

static void mix(struct digest *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ (unsigned char)s[i]) * 1099511628211UL;
    d->h = (d->h ^ 0xff) * 1099511628211UL;
}

static int on_event(const struct sse_event *ev, void *arg)
{
    struct digest *d = arg;

    if (ev->data_len != 0 && ev->data[ev->data_len] != '\0')
        abort(); /* data is NUL-terminated for the JSON parser after it */
    mix(d, ev->type, strlen(ev->type));
    mix(d, ev->data, ev->data_len);
    mix(d, ev->id, strlen(ev->id));
    d->h ^= (unsigned long)ev->retry_ms;
    d->events++;
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t chunk, struct digest *d)
{
    struct sse_parser p;
    int rc = 0;

    sse_init(&p, 4096, on_event, d);
    for (size_t off = 0; off < size && rc == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = sse_feed(&p, (const char *)data + off, n);
    }
    sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole = { 14695981039346656037UL, 0 }, split = whole;
    int a, b;

    a = run(data, size, size ? size : 1, &whole);
    for (size_t chunk = 1; chunk <= 3; chunk++) {
        split = (struct digest){ 14695981039346656037UL, 0 };
        b = run(data, size, chunk, &split);
        /* A size error may surface at another event boundary only when the
         * outcome is an error at all; clean runs must agree exactly. */
        if (a == 0 && b == 0 && (whole.h != split.h || whole.events != split.events))
            abort();
        if ((a == 0) != (b == 0))
            abort();
    }
    return 0;
}
