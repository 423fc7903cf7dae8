/* Streamable HTTP rules of MCP that hold before any message is read: protocol
 * versions, Accept and Content-Type, and the Origin of browser requests. */
#ifndef GW_MCP_TRANSPORT_H
#define GW_MCP_TRANSPORT_H

#include <stdbool.h>

struct gw_config;

#define MCP_VERSION_LATEST "2025-11-25"
/* Assumed when a request names no version and no session says otherwise. */
#define MCP_VERSION_DEFAULT "2025-03-26"

bool mt_version_supported(const char *v);
/* The version to answer an initialize that asked for requested: the same
 * when we speak it, else our latest. */
const char *mt_negotiate(const char *requested);
/* The versions we speak, comma-separated, for error messages. */
const char *mt_versions_list(void);
/* Does the Accept header admit type ("application/json")? A missing header
 * admits nothing; wildcards and q-values are honoured (q=0 refuses). */
bool mt_accepts(const char *accept, const char *type);
/* Content-Type application/json, parameters allowed. */
bool mt_is_json(const char *content_type);
/* A browser's Origin: absent is fine (not a browser); present must be the
 * MCP plane's own origin or listed in security.allowed_origins. */
bool mt_origin_allowed(const struct gw_config *cfg, const char *origin);
/* DNS rebinding: the Host header must name the MCP plane (server.mcp_url's
 * host, a loopback name, or one in security.allowed_hosts); any port. */
bool mt_host_allowed(const struct gw_config *cfg, const char *host);

#endif
