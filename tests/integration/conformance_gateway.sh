#!/usr/bin/env bash
# The MCP conformance suite (server scenarios of 2025-11-25) against the
# gateway through lighttpd: the SDK conformance fixture registered as server
# `conformance` and reached through its virtual endpoint
# /servers/conformance/mcp (every scenario passes but those of the baseline,
# each with the reason a proxy cannot pass it), and the gateway's own /mcp for
# the scenarios it answers itself. The suite sends no Authorization header:
# tests/node/authproxy.mjs adds a user's token.
. "$(dirname "$0")/lib.sh"

# Scenarios hold GET streams open while they call tools: room for both.
it_conformance_gateway conformance 6

CONFORMANCE_TIMEOUT=240 CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-virtual.txt \
	it_conformance gateway-virtual "$VIRTUAL"
CONFORMANCE_SCENARIOS="server-initialize ping tools-list dns-rebinding-protection" \
	it_conformance gateway-mcp "$OWN"
http POST "$MCP/mcp" -H "Authorization: Bearer $(cat "$TOKEN_FILE")" -H 'Accept: application/json, text/event-stream' \
	-H 'Content-Type: application/json' -H 'Host: evil.example.com' \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
check "a foreign Host on /mcp: 403, whatever the token" eval '[ "$HTTP_CODE" = 403 ]'
it_check_sanitizer_logs
