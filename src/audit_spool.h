/* The audit of MCP tool calls: one Redis round trip on the request path (a
 * spool stream, or a local fallback file), drained by the monitor process into
 * the hash-chained audit_log in batches, at least once and never twice. */
#ifndef GW_AUDIT_SPOOL_H
#define GW_AUDIT_SPOOL_H

#include <signal.h>
#include <stdint.h>
#include <json-c/json.h>

struct gw_app;
struct gw_config;

enum audit_call_outcome {
    AUDIT_CALL_OK,             /* a result with isError false */
    AUDIT_CALL_TOOL_ERROR,     /* a result with isError true */
    AUDIT_CALL_ERROR,          /* a JSON-RPC error: error_code says which */
    AUDIT_CALL_CANCELLED,
    AUDIT_CALL_TIMEOUT,
};

struct audit_tool_call {
    const char *user_id, *tenant_id;   /* the caller; tenant "" or NULL without one */
    const char *session_id;            /* Mcp-Session-Id */
    const char *server_name;           /* "gateway" for built-in tools */
    const char *server_id;             /* registry id; "gateway" for built-ins */
    const char *tool;                  /* the name as the upstream knows it */
    enum audit_call_outcome outcome;
    int error_code;                    /* JSON-RPC error code with AUDIT_CALL_ERROR */
    int64_t duration_ms;
    const char *request_id;            /* the HTTP request id */
    struct json_object *jsonrpc_id;    /* the call's JSON-RPC id (borrowed; may be NULL) */
    struct json_object *arguments;     /* only its SHA-256 is kept (borrowed; NULL = {}) */
};

/* Where a record went. */
enum audit_spooled {
    AUDIT_SPOOLED_REDIS = 0,           /* XADD to the spool stream */
    AUDIT_SPOOLED_FILE = 1,            /* Redis failed: appended to audit.spool_fallback */
    AUDIT_SPOOLED_LOG = -1,            /* neither: every field is in a warn log line */
};
/* Record one tool call; never touches PostgreSQL. Called once per tools/call,
 * at its single exit point, whatever the outcome. */
enum audit_spooled audit_spool_tool_call(struct gw_app *app, const struct audit_tool_call *rec);
/* The same, and the upstream call's slot (pools.h) given back in the same
 * Redis round trip: released whatever becomes of the record (a lease that
 * ended first releases nothing), the record spooled whatever the release
 * finds, and to the fallback file when Redis refuses. */
struct pools_slot;
enum audit_spooled audit_spool_tool_call_give(struct gw_app *app, const struct audit_tool_call *rec,
                                              struct pools_slot *slot);
const char *audit_call_outcome_name(enum audit_call_outcome o);

/* The monitor process: drains the spool (stream and fallback file) into
 * audit_log until *stop is set. Returns its exit status. */
int audit_spool_monitor(const struct gw_config *cfg, volatile sig_atomic_t *stop);

#endif
