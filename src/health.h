/* Health of the gateway and what it depends on: checks run in parallel, each
 * with its own timeout, summarised as healthy | degraded | unhealthy. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <json-c/json.h>

struct gw_app;
struct gw_config;

/* Whose upstreams a report shows: tenant's and the shared ones, or every
 * tenant's when tenant is NULL. */
struct health_scope {
    const char *tenant;
};

/* Run every component check in parallel; returns the report object
 * (overall_status, components, degraded_services, failed_services, timestamp).
 * With scope, the "upstreams" component too: the registry's health of the
 * servers in scope (degraded when one is unhealthy or unreachable, with
 * total, not_active and servers). *unhealthy is set when a critical
 * component failed. Caller owns the result. */
struct json_object *health_components(const struct gw_config *cfg, const struct health_scope *scope,
                                      int *unhealthy);
/* Readiness on the responder's own connections: 0 ready, -1 with why. */
int health_ready(struct gw_app *app, char *why, size_t n);

#endif
