/* The route table of both planes and the request pipeline: request id,
 * plane, authentication, role check, handler, access log. */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include "app.h"
#include "auth.h"
#include "http.h"

#define ROUTE_MAX_PARAMS 4

struct gw_call {
    struct gw_app *app;
    struct http_request *req;
    struct http_response *res;
    const struct gw_identity *who;   /* NULL on public routes */
    char params[ROUTE_MAX_PARAMS][256]; /* {name} segments, in order */
    int nparams;
    const struct route *route;       /* NULL until one matched */
    struct gw_identity identity;     /* what authentication found (who points here) */
};

typedef void (*route_fn)(struct gw_call *c);

struct route {
    enum gw_plane plane;
    const char *method;
    const char *pattern;      /* "/api/v1/servers/{id}" */
    route_fn fn;
    unsigned role;            /* 0 = public; else the gateway role needed */
    const char *summary;
};

/* Handle one request end to end; never fails (errors are answered). */
void gw_handle(struct gw_app *app, struct http_io *io);
const struct route *router_table(size_t *n);
/* Authenticate the caller and require role: 0 with c->who set, or -1 when
 * the refusal (401, 403, 503) has been answered and counted. */
int router_authorize(struct gw_call *c, unsigned role);
/* Match method+path on a plane. Returns the route, or NULL with *allow set to
 * the allowed methods ("GET, POST") when the path exists with other methods. */
const struct route *router_match(enum gw_plane plane, const char *method, const char *path,
                                 struct gw_call *c, char *allow, size_t allown);

#endif
