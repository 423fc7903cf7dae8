/* The stateless MCP revision (2026-07-28) on /mcp and /servers/{name}/mcp:
 * every request stands alone, authenticated and authorised on its own; no
 * gateway session is needed or issued. */
#ifndef GW_MCP_STATELESS_H
#define GW_MCP_STATELESS_H

#include <json-c/json.h>

#include "auth.h"
#include "http.h"
#include "mcp/catalog.h"
#include "mcp/jsonrpc.h"

struct gw_app;

struct msl_call {
    struct gw_app *app;
    const struct http_request *req;  /* for the Mcp-Param-* headers */
    struct http_response *res;
    const struct gw_identity *who;
    const struct cat_server *srv;    /* the virtual server; NULL on /mcp */
    const struct jr_msg *msg;        /* classified MCE_STATELESS (mcp/era.h) */
    const char *request_id;          /* the HTTP request's id, for the audit */
};

/* Answer one stateless message: a notification 202, a request its result
 * (resultType, and cache hints where the revision asks for them) or error. */
void msl_post(struct msl_call *sc);

/* Send a JSON-RPC error (data taken, may be NULL) with an HTTP status; 503
 * adds Retry-After. For the answers of both eras that are not results. */
void msl_send_error(struct http_response *res, struct json_object *id, int status, int code,
                    const char *message, struct json_object *data);

/* A result of the new era as the revision wants it, in place: resultType
 * "complete" unless the result names one, and for a cacheable method
 * (server/discover, the lists, resources/read) ttlMs and cacheScope unless
 * given. cache_scope NULL: an upstream's answer, always "private", its own
 * ttlMs kept only within 0..ttl_ms. The HTTP status the answer goes with
 * (404 for an unknown method). */
int msl_shape(const char *method, int ttl_ms, const char *cache_scope, struct json_object *answer);

#endif
