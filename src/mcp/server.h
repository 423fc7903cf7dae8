/* The MCP methods the gateway answers itself on /mcp: initialize results,
 * ping, and the built-in gateway__* tools. */
#ifndef GW_MCP_SERVER_H
#define GW_MCP_SERVER_H

#include <json-c/json.h>

#include "auth.h"
#include "mcp/jsonrpc.h"
#include "mcp/session.h"

struct gw_app;

struct mcp_call {
    struct gw_app *app;
    const struct gw_identity *who;
    const struct ms_session *session;   /* NULL for initialize */
    const struct jr_msg *msg;
    const char *request_id;             /* the HTTP request's id, for the audit */
};

/* The InitializeResult for a negotiated version (caller puts it). */
struct json_object *mcp_initialize_result(const char *version);
/* Answer one request (not initialize): a JSON-RPC response envelope, result
 * or error, never NULL. */
struct json_object *mcp_dispatch(struct mcp_call *mc);

#endif
