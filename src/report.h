/* The system report of GET /api/v1/report: security status, performance
 * metrics, system health, deployment status and protocol compliance from
 * the running system's own records, with recommendations drawn from them. */
#ifndef GW_REPORT_H
#define GW_REPORT_H

#include <json-c/json.h>

struct gw_app;
struct gw_identity;

/* The report for who (platform_admin: the whole fleet; else who's tenant
 * and the shared servers). Never NULL; sections that cannot be read say so. */
struct json_object *report_build(struct gw_app *app, const struct gw_identity *who);

#endif
