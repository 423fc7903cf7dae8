#!/usr/bin/env bash
# The MCP conformance suite (server scenarios of 2025-11-25) against the
# gateway through lighttpd: the SDK conformance fixture registered as server
# `conformance` and reached through its virtual endpoint
# /servers/conformance/mcp (every scenario passes but those of the baseline,
# each with the reason a proxy cannot pass it), and the gateway's own /mcp for
# the scenarios it answers itself. The suite sends no Authorization header:
# tests/node/authproxy.mjs adds a user's token.
. "$(dirname "$0")/lib.sh"

[ -f "$CONFORMANCE_CLI" ] || it_fatal "the conformance suite is installed ($CONFORMANCE_CLI; run scripts/check)"
UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway

TOKEN_FILE=$IT_DIR/proxy.token
(umask 077 && it_mint --sub conf-user --tenant tc --roles user --ttl 3600 >"$TOKEN_FILE")
VIRTUAL=$(it_start_upstream authproxy --target "$MCP/servers/conformance" --ca-file "$CA" \
	--token-file "$TOKEN_FILE") || it_fatal "authproxy to the virtual server starts"
OWN=$(it_start_upstream authproxy --target "$MCP" --ca-file "$CA" --token-file "$TOKEN_FILE") ||
	it_fatal "authproxy to /mcp starts"
# The suite's dns-rebinding scenario sends the Origin of the URL it is given
# (these loopback proxies): an operator lists such origins (an inspector's,
# say) in security.allowed_origins.
export MCPGW_SECURITY_ALLOWED_ORIGINS="${VIRTUAL%/mcp},${OWN%/mcp}"
# Scenarios hold GET streams open while they call tools: room for both.
it_start_serve 6
it_start_lighttpd "$FCGI_SOCKET"

FIXTURE=$(it_start_upstream conformance) || it_fatal "the conformance fixture starts"
ADMIN=$(it_mint --sub conf-admin --tenant tc --roles admin)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"conformance\",\"url\":\"$FIXTURE\",\"timeout_ms\":15000}"
check "the conformance fixture registers as server conformance" eval '[ "$HTTP_CODE" = 201 ]'

CONFORMANCE_TIMEOUT=240 CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-virtual.txt \
	it_conformance gateway-virtual "$VIRTUAL"
CONFORMANCE_SCENARIOS="server-initialize ping tools-list dns-rebinding-protection" \
	it_conformance gateway-mcp "$OWN"
http POST "$MCP/mcp" -H "Authorization: Bearer $(cat "$TOKEN_FILE")" -H 'Accept: application/json, text/event-stream' \
	-H 'Content-Type: application/json' -H 'Host: evil.example.com' \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
check "a foreign Host on /mcp: 403, whatever the token" eval '[ "$HTTP_CODE" = 403 ]'
it_check_sanitizer_logs
