/* Health of the gateway and what it depends on: checks run in parallel, each
 * with its own timeout, summarised as healthy | degraded | unhealthy. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <json-c/json.h>

struct gw_app;
struct gw_config;

/* Run every component check in parallel; returns the report object
 * (overall_status, components, degraded_services, failed_services, timestamp).
 * *unhealthy is set when a critical component failed. Caller owns the result. */
struct json_object *health_components(const struct gw_config *cfg, int *unhealthy);
/* Add the "upstreams" component to a health_components report: the
 * registry's health of every server tenant may see (NULL: every server),
 * degraded when one is unhealthy or unreachable or the registry cannot be
 * read; overall_status and degraded_services follow. */
void health_add_upstreams(struct json_object *report, struct gw_app *app, const char *tenant);
/* Readiness on the responder's own connections: 0 ready, -1 with why. */
int health_ready(struct gw_app *app, char *why, size_t n);

#endif
