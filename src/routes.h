/* Route handlers of both planes, registered in the table in router.c. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "router.h"

/* routes_api.c: health and metrics */
void route_health(struct gw_call *c);
void route_health_ready(struct gw_call *c);
void route_health_components(struct gw_call *c);
void route_metrics(struct gw_call *c);
void route_openapi(struct gw_call *c);
void route_docs(struct gw_call *c);

/* routes_auth.c: identity */
void route_oauth_metadata(struct gw_call *c);
void route_me(struct gw_call *c);

#endif
