#!/usr/bin/env bash
# The MCP conformance suite (server scenarios of 2025-11-25) against the SDK
# fixture tests/node/conformance.mjs; its own Host/Origin and token checks.
. "$(dirname "$0")/lib.sh"

[ -f "$CONFORMANCE_CLI" ] || it_fatal "the conformance suite is installed ($CONFORMANCE_CLI; run scripts/check)"
make_certs "$IT_DIR/certs" || it_fatal "make certificates"

# --- the fixture alone: the baseline every later run is compared with -----------
FIXTURE=$(it_start_upstream conformance) || it_fatal "the conformance fixture starts"
it_conformance fixture "$FIXTURE"

# --- the fixture's own refusals ------------------------------------------------
TOKEN_FILE=$IT_DIR/fixture.token
(umask 077 && echo "conformance-$RANDOM$RANDOM" >"$TOKEN_FILE")
SECURED=$(FIXTURE_TOKEN=$(cat "$TOKEN_FILE") it_start_upstream conformance \
	--tls-cert "$IT_DIR/certs/tls.crt" --tls-key "$IT_DIR/certs/tls.key") ||
	it_fatal "the conformance fixture starts with TLS and a required token"

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
MCP_HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
http POST "$SECURED" "${MCP_HEADERS[@]}" --data "$INIT"
check "fixture with a token: initialize without Authorization is 401" eval '[ "$HTTP_CODE" = 401 ]'
http POST "$SECURED" "${MCP_HEADERS[@]}" --data "$INIT" -H "Host: evil.example.com" \
	-H "Authorization: Bearer $(cat "$TOKEN_FILE")"
check "fixture: a foreign Host is refused 403 (DNS rebinding protection)" eval '[ "$HTTP_CODE" = 403 ]'
http POST "$SECURED" "${MCP_HEADERS[@]}" --data "$INIT" -H "Origin: http://evil.example.com" \
	-H "Authorization: Bearer $(cat "$TOKEN_FILE")"
check "fixture: a foreign Origin is refused 403" eval '[ "$HTTP_CODE" = 403 ]'

http POST "$SECURED" "${MCP_HEADERS[@]}" --data "$INIT" -H "Origin: http://localhost:3000" \
	-H "Authorization: Bearer $(cat "$TOKEN_FILE")"
check "fixture: its token and a loopback Origin are accepted" \
	eval '[ "$HTTP_CODE" = 200 ] && [ -n "$(header Mcp-Session-Id)" ]'
