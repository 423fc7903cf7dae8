/* Fuzz target: the whole request pipeline on public routes. The input is CGI
 * variables as NAME=VALUE lines, a blank line, then the request body. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fuzz.h"
#include "util.h"
#include "log.h"
#include "router.h"

#define MAX_VARS 64

struct fz {
    char *vars[MAX_VARS * 2 + 1];
    const char *body;
    size_t body_len, body_off;
};

static const char *fz_param(void *ctx, const char *name)
{
    struct fz *f = ctx;

    for (size_t i = 0; f->vars[i] != NULL; i += 2)
        if (strcmp(f->vars[i], name) == 0)
            return f->vars[i + 1];
    return NULL;
}

static long fz_read(void *ctx, char *buf, size_t n)
{
    struct fz *f = ctx;
    size_t left = f->body_len - f->body_off;

    if (n > left)
        n = left;
    memcpy(buf, f->body + f->body_off, n);
    f->body_off += n;
    return (long)n;
}

static int fz_write(void *ctx, const char *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return 0;
}

static int fz_flush(void *ctx)
{
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_app app;
    static int ready;
    struct fz f;
    struct http_io io = { fz_param, fz_read, fz_write, fz_flush, &f };
    char *text = malloc(size + 1), *p, *line;
    size_t nv = 0;

    if (text == NULL)
        return 0;
    if (!ready) {
        struct gw_config cfg;

        cfg_defaults(&cfg);
        cfg.body_max = 4096;
        /* No store is reachable: handlers see Redis and PostgreSQL down. */
        gw_strlcpy(cfg.redis_url, "redis://127.0.0.1:1/0", sizeof(cfg.redis_url));
        gw_strlcpy(cfg.pg_dsn, "host=127.0.0.1 port=1 dbname=x", sizeof(cfg.pg_dsn));
        log_init("fuzz", LOG_LVL_ERROR + 1);
        app_init(&app, &cfg, PLANE_BOTH);
        ready = 1;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&f, 0, sizeof(f));
    f.body = "";
    for (p = text; (line = strsep(&p, "\n")) != NULL;) {
        char *eq;

        if (line[0] == '\0') {
            if (p != NULL) {
                f.body = p;
                f.body_len = size - (size_t)(p - text);
            }
            break;
        }
        eq = strchr(line, '=');
        if (eq == NULL || nv >= MAX_VARS)
            continue;
        *eq = '\0';
        f.vars[2 * nv] = line;
        f.vars[2 * nv + 1] = eq + 1;
        nv++;
    }
    f.vars[2 * nv] = NULL;
    gw_handle(&app, &io);
    free(text);
    return 0;
}
