#!/usr/bin/env bash
# The upstream MCP client (src/upstream.c) against real MCP servers written
# with the official TypeScript SDK (tests/node), on loopback: discovery with
# pagination, credentials, timeouts, servers that are not MCP, refused ports.
. "$(dirname "$0")/lib.sh"

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
mcp_post() { # URL [CURL-ARGS...]: an initialize request
	local url=$1
	shift
	HTTP_MAX_TIME=10 http POST "$url" -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' --data "$INIT" "$@"
}

# --- the fixtures themselves -----------------------------------------------------
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
mcp_post "$PLAIN"
check "fixture plain: initialize answers SSE with an Mcp-Session-Id" \
	eval '[ "$HTTP_CODE" = 200 ] && [ -n "$(header Mcp-Session-Id)" ] && body_has "\"protocolVersion\":\"2025-11-25\""'

BEARER_TOKEN=upstream-secret-$RANDOM$RANDOM
AUTH_LOG=$IT_DIR/bearer-auth.log
BEARER=$(it_start_upstream bearer --token "$BEARER_TOKEN" --auth-log "$AUTH_LOG") ||
	it_fatal "the bearer fixture starts"
mcp_post "$BEARER" -H "Authorization: Bearer not-the-token"
check "fixture bearer: a wrong token is 401 and recorded" \
	eval '[ "$HTTP_CODE" = 401 ] && grep -qx "Bearer not-the-token" "$AUTH_LOG"'
mcp_post "$BEARER" -H "Authorization: Bearer $BEARER_TOKEN"
check "fixture bearer: its token is accepted" eval '[ "$HTTP_CODE" = 200 ]'
