/* Which revision of MCP a POST speaks, chosen per request: the stateless
 * 2026-07-28 era (version in a header and in _meta, method and name mirrored
 * in headers) or the session era of 2025-11-25 and before. */
#ifndef GW_MCP_ERA_H
#define GW_MCP_ERA_H

#include <stdbool.h>
#include <stddef.h>

#include "mcp/jsonrpc.h"

#define MCP_VERSION_STATELESS "2026-07-28"

/* Error codes the 2026-07-28 revision reserves (-32020 to -32099). */
#define MCE_HEADER_MISMATCH -32020
#define MCE_MISSING_CAPABILITY -32021
#define MCE_UNSUPPORTED_VERSION -32022

/* The _meta keys of a stateless request. */
#define MCE_META_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCE_META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define MCE_META_CLIENT "io.modelcontextprotocol/clientInfo"
#define MCE_META_SERVER "io.modelcontextprotocol/serverInfo"
#define MCE_META_LOG_LEVEL "io.modelcontextprotocol/logLevel"

enum mce_era {
    MCE_SESSION = 0,   /* initialize, or the session era's requests: unchanged path */
    MCE_STATELESS,     /* 2026-07-28: no session needed or issued */
    MCE_REFUSED,       /* answered with the verdict's error */
};

/* The request-metadata headers as they arrived (NULL when absent). */
struct mce_headers {
    const char *version;   /* MCP-Protocol-Version */
    const char *method;    /* Mcp-Method */
    const char *name;      /* Mcp-Name */
};

struct mce_verdict {
    enum mce_era era;
    int status;            /* HTTP status of a refusal */
    int code;              /* JSON-RPC error code of a refusal */
    char message[256];
    char requested[64];    /* MCE_UNSUPPORTED_VERSION: the version asked for */
};

/* Every version we speak, newest first (the stateless one included), for
 * server/discover and the unsupported-version error. */
const char *const *mce_versions(size_t *n);
bool mce_version_stateless(const char *v);

/* Classify one parsed message with its headers. The session era is chosen
 * for requests (initialize among them) that name 2026-07-28 neither in the
 * MCP-Protocol-Version header nor in _meta; a version nobody speaks is refused (-32022, 400); a stateless
 * request whose headers do not mirror its body is refused (-32020, 400);
 * one without the _meta it must carry is refused (-32602, 400). */
void mce_classify(const struct mce_headers *h, const struct jr_msg *m, struct mce_verdict *v);

/* An Mcp-Name (or Mcp-Param-*) value as the client meant it: surrounding
 * whitespace dropped (RFC 9110 5.5), "=?base64?...?=" decoded. 0, or -1 for
 * a value that is not visible ASCII or not valid base64, or too long. */
int mce_header_value(const char *raw, char *out, size_t n);

/* t as a header value into out (n bytes): visible ASCII as it is; anything
 * else (a control character, non-ASCII, white space at an end, empty, or
 * text that would read as encoded) as "=?base64?...?=". 0, or -1 when it
 * does not fit. mce_header_value reads it back. */
int mce_header_encode(const char *t, char *out, size_t n);

/* Mcp-Param-{Name} headers of a tools/call (x-mcp-header in the tool's
 * inputSchema, on properties reached through "properties" alone): each
 * argument present and not null must have its header, equal once decoded
 * (integers compared as numbers, booleans as true/false). lookup returns a
 * header's value or NULL. 0, or -1 with the reason in v (-32020, 400). */
typedef const char *(*mce_header_fn)(void *arg, const char *name);
int mce_check_params(struct json_object *input_schema, struct json_object *arguments, mce_header_fn lookup,
                     void *arg, struct mce_verdict *v);

/* The Mcp-Param-{Name} headers a 2026-07-28 upstream expects with a
 * tools/call (the same x-mcp-header properties mce_check_params reads), as
 * {name: value} into *out, or NULL when none apply. Values go visible ASCII
 * as they are, anything else as =?base64?...?=. 0, or -1 with the reason in
 * v (-32602) when the tool names an invalid header or an argument cannot be
 * sent in its header (not a scalar, or too long): the upstream would refuse
 * the call for the missing header, which would not say why. */
int mce_param_headers(struct json_object *input_schema, struct json_object *arguments, struct json_object **out,
                      struct mce_verdict *v);

#endif
