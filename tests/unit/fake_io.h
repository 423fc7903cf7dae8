/* An in-memory struct http_io for unit tests: CGI variables from a list,
 * a request body, and the whole response captured for assertions. */
#ifndef GW_TEST_FAKE_IO_H
#define GW_TEST_FAKE_IO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"
#include "router.h"

struct fake_io {
    const char *const *vars;  /* NAME, value, NAME, value, ..., NULL */
    const char *body;
    size_t body_off;
    char out[65536];
    size_t out_len;
    struct http_io io;
};

static inline const char *fake_param(void *ctx, const char *name)
{
    struct fake_io *f = ctx;

    for (size_t i = 0; f->vars[i] != NULL; i += 2)
        if (strcmp(f->vars[i], name) == 0)
            return f->vars[i + 1];
    return NULL;
}

static inline long fake_read(void *ctx, char *buf, size_t n)
{
    struct fake_io *f = ctx;
    size_t left = f->body ? strlen(f->body) - f->body_off : 0;

    if (n > left)
        n = left;
    memcpy(buf, f->body + f->body_off, n);
    f->body_off += n;
    return (long)n;
}

static inline int fake_write(void *ctx, const char *buf, size_t n)
{
    struct fake_io *f = ctx;

    if (f->out_len + n >= sizeof(f->out))
        return -1;
    memcpy(f->out + f->out_len, buf, n);
    f->out_len += n;
    f->out[f->out_len] = '\0';
    return 0;
}

static inline int fake_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

static inline void fake_io_init(struct fake_io *f, const char *const *vars, const char *body)
{
    memset(f, 0, sizeof(*f));
    f->vars = vars;
    f->body = body;
    f->io.param = fake_param;
    f->io.read = fake_read;
    f->io.write = fake_write;
    f->io.flush = fake_flush;
    f->io.ctx = f;
}

/* The response body: what follows the blank line after the headers. */
static inline const char *fake_body(const struct fake_io *f)
{
    const char *p = strstr(f->out, "\r\n\r\n");

    return p ? p + 4 : "";
}

/* Run one request through the whole pipeline; the answer's status, or 0. */
static inline int fake_handle(struct gw_app *app, struct fake_io *f, const char *const *vars,
                              const char *body)
{
    int status = 0;

    fake_io_init(f, vars, body);
    gw_handle(app, &f->io);
    sscanf(f->out, "Status: %d", &status);
    return status;
}

#endif
