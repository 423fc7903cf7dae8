/* Route handlers of both planes, registered in the table in router.c. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "router.h"

/* routes_api.c: health and metrics */
void route_health(struct gw_call *c);
void route_health_ready(struct gw_call *c);
void route_health_components(struct gw_call *c);
void route_metrics(struct gw_call *c);

/* routes_auth.c: identity */
void route_oauth_metadata(struct gw_call *c);
void route_me(struct gw_call *c);

/* routes_mcp.c: the MCP plane */
void route_mcp_post(struct gw_call *c);
void route_mcp_delete(struct gw_call *c);
void route_mcp_get(struct gw_call *c);

/* routes_sessions.c: MCP sessions on the management plane */
void route_sessions_list(struct gw_call *c);
void route_sessions_get(struct gw_call *c);
void route_sessions_delete(struct gw_call *c);

#endif
