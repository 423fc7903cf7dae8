/* Messages from the gateway to one session's client (notifications, server-to-
 * client requests): a Redis stream per session, served by GET /mcp as SSE. */
#ifndef GW_MCP_STREAM_H
#define GW_MCP_STREAM_H

#include <stdbool.h>

#include <json-c/json.h>

#include "http.h"
#include "mcp/session.h"

struct gw_app;

/* Queue one JSON-RPC message for the session; any responder's GET stream
 * delivers it. 0, or -1 when Redis cannot take it. */
int mst_publish(struct gw_app *app, const char *session_id, struct json_object *msg);
/* A valid Last-Event-ID of ours ("1700000000000-0"). */
int mst_event_id_valid(const char *id);
/* Serve the session's stream as SSE on res until stream_seconds pass, the
 * client leaves, the session ends, or a newer GET stream takes it over; then
 * end with a retry hint. last_event_id may be NULL. 0, or -1 with nothing
 * sent when Redis cannot take the stream over (the caller answers). */
int mst_serve(struct gw_app *app, struct http_response *res, const struct ms_session *s,
              const char *last_event_id);

/* The first entry of the Redis list key (BLPOP, on the blocking connection),
 * waiting at most block_ms: parsed JSON, or NULL when none came (*failed
 * also when Redis failed or the entry was not JSON). */
struct json_object *mst_pop(struct gw_app *app, const char *key, long block_ms, bool *failed);

#endif
