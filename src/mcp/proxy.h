/* Requests the gateway passes to upstream servers: routing by prefix or URI
 * on /mcp, the virtual server of /servers/{name}/mcp, upstream answers relayed
 * as JSON or event by event, and the client's answers to upstream requests. */
#ifndef GW_MCP_PROXY_H
#define GW_MCP_PROXY_H

#include <stdbool.h>
#include <json-c/json.h>

#include "auth.h"
#include "http.h"
#include "mcp/catalog.h"
#include "mcp/jsonrpc.h"
#include "mcp/session.h"
#include "pools.h"

struct gw_app;

/* Errors of an upstream call (JSON-RPC server error range). */
#define MPX_UNAVAILABLE -32010     /* unreachable, refused address */
#define MPX_TIMEOUT -32011
#define MPX_AUTH_REFUSED -32012
#define MPX_NOT_MCP -32013
#define MPX_TOO_LARGE -32014
#define MPX_PROTOCOL_ERROR -32015
#define MPX_MAINTENANCE -32016
#define MPX_CATALOG_UNAVAILABLE -32017
#define MPX_BUSY -32018           /* the upstream's max_concurrency calls are all in flight */

struct mpx_call {
    struct gw_app *app;
    struct http_response *res;
    const struct gw_identity *who;
    const struct ms_session *session;
    const struct jr_msg *msg;
    const char *request_id;          /* the HTTP request's id, for the audit */
    int error_code;                  /* set when the answer is a JSON-RPC error */
    /* Stateless requests (session->identity): the capabilities of the
     * request's _meta, declared to an upstream session opened for it
     * (borrowed, may be NULL); and shape, called on the upstream's answer
     * before it is sent, returning the HTTP status of a JSON answer. */
    struct json_object *client_caps;
    int (*shape)(void *arg, struct json_object *answer);
    void *shape_arg;
    bool drop_log_messages;          /* the upstream's notifications/message stay here */
    /* The catalog the caller read for this request, or NULL: read here. */
    const struct cat_snapshot *snap;
    /* A tools/call's audit record (proxy.c), spooled in the round trip that
     * gives the upstream's call slot back. */
    struct mpx_tool_record *tool_record;
    /* A slot of server_id's pool taken (or refused) ahead of forward, in a
     * round trip the caller makes anyway (mpx_slot_take_after). */
    struct {
        const char *server_id;          /* NULL: none */
        enum pools_code code;
        struct pools_slot slot;
        struct pools_busy busy;
    } pre;
};

/* pc zeroed, then for msg (may be NULL) of who on session, answered on res. */
void mpx_call_init(struct mpx_call *pc, struct gw_app *app, struct http_response *res,
                   const struct gw_identity *who, const struct ms_session *session, const struct jr_msg *msg,
                   const char *request_id);
/* /mcp: a request that belongs to an upstream (tools/call {server}__{tool},
 * prompts/get {server}__{prompt}, resources/read|subscribe|unsubscribe by
 * URI) is forwarded and answered here: 1. 0 when it is the gateway's own
 * (built-ins, unknown names: the caller answers them). */
int mpx_route(struct mpx_call *pc);
/* /servers/{name}/mcp: forward the request with the upstream's own names. */
void mpx_forward(struct mpx_call *pc, const struct cat_server *srv);
/* A notification or response from the client: responses to relayed upstream
 * requests go to their upstream session, notifications to the session's
 * upstream sessions (only_server_id non-NULL: only that server's; a copy, as
 * this reads the catalog again). The caller answers 202. */
void mpx_client_message(struct mpx_call *pc, const char *only_server_id);
/* Take a slot of srv's pool for the request pc is about to forward to srv,
 * with the command cmd (cmdc arguments, cmd[1] its key) run first in the
 * same Redis round trip: its reply (NULL when Redis is unavailable). forward
 * uses the slot, or answers its refusal; pair with mpx_slot_after, which
 * gives it back when forward did not reach srv. */
redisReply *mpx_slot_take_after(struct mpx_call *pc, const struct cat_server *srv, int cmdc, const char **cmd);
void mpx_slot_after(struct mpx_call *pc);
/* The session ends: end its upstream sessions too (best effort, briefly). */
void mpx_end_upstreams(struct mpx_call *pc);
/* The virtual server's InitializeResult for a negotiated version. */
struct json_object *mpx_initialize_result(const struct cat_server *srv, const char *version);

#endif
