/* Events: POST /api/v1/events records an event and one delivery per agent
 * the event routing table names; the fleet leader delivers them from a Redis
 * stream (consumer group) by calling each agent's handle_{type} tool, at
 * least once, again after a failure. */
#ifndef GW_EVENTS_H
#define GW_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

struct gw_app;
struct leader_run;

/* A parsed POST /api/v1/events body. */
struct event_req {
    char type[65];                   /* [a-z][a-z0-9_]{0,63} */
    struct json_object *data;        /* object, owned; {} when absent */
    bool has_tenant;                 /* tenant_id was given (platform_admin only) */
    char tenant_id[128];             /* "" with has_tenant: null, a platform event */
};

/* Parse and check the body {type, data?, tenant_id?}: 0, or -1 with err
 * naming the field at fault (for a 400). Free with event_req_clear. */
int events_parse(const char *body, size_t len, int depth, struct event_req *out, char *err, size_t n);
void event_req_clear(struct event_req *r);
bool events_type_valid(const char *s);
/* The tool an agent handles an event type with: handle_{type}. 0, or -1 when it does not fit. */
int events_tool_name(const char *type, char *out, size_t n);

enum ev_code { EV_OK = 0, EV_BAD_REQUEST, EV_FORBIDDEN, EV_NOT_FOUND, EV_NO_ROUTE, EV_UNAVAILABLE };

struct ev_actor {
    const char *user_id, *tenant_id; /* tenant "" or NULL: none */
    bool platform;
    const char *request_id;
};

/* Record the event, its deliveries and the audit row in one transaction,
 * then put it on the stream. *out: the event as GET shows it (owned). */
enum ev_code events_create(struct gw_app *app, const struct ev_actor *a, const struct event_req *req,
                           struct json_object **out, char *err, size_t n);
/* The event with every agent's delivery status; EV_NOT_FOUND for another
 * tenant's (unless platform). */
enum ev_code events_get(struct gw_app *app, const struct ev_actor *a, const char *id,
                        struct json_object **out, char *err, size_t n);

/* The leader's job: take over entries left pending by a former leader, read
 * new ones, and deliver what is due. */
int events_deliver(const struct leader_run *run, struct json_object *detail, char *err, size_t n);
/* 1 when the stream is empty (nothing to deliver), asked of Redis only. */
int events_idle(struct gw_app *app);
/* Put on the stream the events the API recorded but could not put there
 * (its Redis call failed); how many. */
int events_enqueue_stragglers(const struct leader_run *run);

#endif
