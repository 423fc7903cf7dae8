#!/usr/bin/env bash
# The MCP conformance suite's server scenarios of 2026-07-28 (the stateless
# revision) against the gateway through lighttpd, beside the 2025-11-25 run of
# conformance_gateway.sh: a fixture written with the official v2 server
# package (tests/node/conformance26.mjs, reached by the gateway in 2025-11-25)
# registered as server `conformance` and called through its virtual endpoint
# /servers/conformance/mcp (every scenario passes but those of the baseline,
# each with its reason), and the gateway's own /mcp for the scenarios it
# answers itself. The suite sends no Authorization header: tests/node/authproxy.mjs
# adds a user's token.
. "$(dirname "$0")/lib.sh"

[ -f "$CONFORMANCE_CLI" ] || it_fatal "the conformance suite is installed ($CONFORMANCE_CLI; run scripts/check)"
CONFORMANCE_REQUIREMENTS=2026-07-28
UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway

TOKEN_FILE=$IT_DIR/proxy.token
(umask 077 && it_mint --sub conf-user --tenant tc --roles user --ttl 3600 >"$TOKEN_FILE")
VIRTUAL=$(it_start_upstream authproxy --target "$MCP/servers/conformance" --ca-file "$CA" \
	--token-file "$TOKEN_FILE") || it_fatal "authproxy to the virtual server starts"
OWN=$(it_start_upstream authproxy --target "$MCP" --ca-file "$CA" --token-file "$TOKEN_FILE") ||
	it_fatal "authproxy to /mcp starts"
# The suite's dns-rebinding scenario sends the Origin of the URL it is given.
export MCPGW_SECURITY_ALLOWED_ORIGINS="${VIRTUAL%/mcp},${OWN%/mcp}"
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

FIXTURE=$(it_start_upstream conformance26) || it_fatal "the v2 conformance fixture starts"
ADMIN=$(it_mint --sub conf-admin --tenant tc --roles admin)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"conformance\",\"url\":\"$FIXTURE\",\"timeout_ms\":15000}"
check "the v2 conformance fixture registers as server conformance" eval '[ "$HTTP_CODE" = 201 ]'

CONFORMANCE_TIMEOUT=300 CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-stateless-virtual.txt \
	it_conformance gateway-stateless-virtual "$VIRTUAL"
CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-stateless-mcp.txt \
CONFORMANCE_SCENARIOS="server-stateless tools-list dns-rebinding-protection caching" \
	it_conformance gateway-stateless-mcp "$OWN"
it_check_sanitizer_logs
