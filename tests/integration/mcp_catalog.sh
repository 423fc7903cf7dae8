#!/usr/bin/env bash
# The MCP plane's catalog and aggregation on /mcp, through lighttpd against
# real upstreams (SDK fixtures): the catalog in Redis (MAC'd, rebuilt from
# PostgreSQL when missing or tampered with), lists per tenant and roles,
# pagination, collisions, maintenance, built-in tools, list_changed
# notifications on a session's stream, and the catalog refresh.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_SESSION_STREAM_SECONDS=8 MCPGW_SESSION_KEEPALIVE_SECONDS=1
it_start_stores
it_setup_gateway
export MCPGW_UPSTREAM_TIMEOUT_MS=3000
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"

register() {
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' --data "$2"
}

register "$ADMIN_A" "{\"name\":\"alpha\",\"url\":\"$PLAIN\",\"timeout_ms\":5000}"
check "register alpha" eval '[ "$HTTP_CODE" = 201 ]'
ALPHA_ID=$(it_json server_id)
entry_of() { rcli GET "mreg:cat:server:$1" | tail -n +2; }
check "the catalog in Redis: version, a sealed index and a sealed entry" \
	eval '[ -n "$(rcli GET mreg:cat:version)" ] && rcli GET mreg:cat:index | grep -q "^cat1 [0-9a-f]\{64\}\$" && [ "$(entry_of "$ALPHA_ID" | jq -r .name)" = alpha ]'
