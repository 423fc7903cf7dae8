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

/* routes_audit.c: the audit log */
void route_audit_list(struct gw_call *c);
void route_audit_verify(struct gw_call *c);
/* routes_servers.c: the registry */
void route_servers_register(struct gw_call *c);
void route_servers_list(struct gw_call *c);
void route_servers_get(struct gw_call *c);
void route_servers_patch(struct gw_call *c);
void route_servers_delete(struct gw_call *c);
void route_servers_tools(struct gw_call *c);
void route_servers_refresh(struct gw_call *c);
void route_catalog_refresh(struct gw_call *c);
void route_servers_health(struct gw_call *c);
void route_servers_maintenance_on(struct gw_call *c);
void route_servers_maintenance_off(struct gw_call *c);
void route_tools_search(struct gw_call *c);
/* routes_mcp.c: the MCP plane */
void route_mcp_post(struct gw_call *c);
void route_mcp_delete(struct gw_call *c);
void route_mcp_get(struct gw_call *c);
/* the virtual server of one upstream */
void route_servers_mcp_post(struct gw_call *c);
void route_servers_mcp_delete(struct gw_call *c);
void route_servers_mcp_get(struct gw_call *c);

/* routes_sessions.c: MCP sessions on the management plane */
void route_sessions_list(struct gw_call *c);
void route_sessions_get(struct gw_call *c);
void route_sessions_delete(struct gw_call *c);

/* routes_gates.c: quality gates */
void route_gates_list(struct gw_call *c);
void route_gates_run(struct gw_call *c);
void route_gates_runs(struct gw_call *c);
void route_gates_run_get(struct gw_call *c);

#endif
