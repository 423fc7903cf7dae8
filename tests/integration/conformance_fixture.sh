#!/usr/bin/env bash
# The MCP conformance suite (server scenarios of 2025-11-25) against the SDK
# fixture tests/node/conformance.mjs, directly and through tests/node/authproxy.mjs.
. "$(dirname "$0")/lib.sh"

[ -f "$CONFORMANCE_CLI" ] || it_fatal "the conformance suite is installed ($CONFORMANCE_CLI; run scripts/check)"
make_certs "$IT_DIR/certs" || it_fatal "make certificates"

# --- the fixture alone: the baseline every later run is compared with -----------
FIXTURE=$(it_start_upstream conformance) || it_fatal "the conformance fixture starts"
it_conformance fixture "$FIXTURE"

# --- through the proxy, to the fixture over TLS requiring a bearer token --------
TOKEN_FILE=$IT_DIR/proxy.token
(umask 077 && echo "conformance-$RANDOM$RANDOM" >"$TOKEN_FILE")
SECURED=$(FIXTURE_TOKEN=$(cat "$TOKEN_FILE") it_start_upstream conformance --watch-interval 300 \
	--tls-cert "$IT_DIR/certs/tls.crt" --tls-key "$IT_DIR/certs/tls.key") ||
	it_fatal "the conformance fixture starts with TLS and a required token"
SECURED_BASE=${SECURED%/mcp}
PROXY=$(it_start_upstream authproxy --target "$SECURED_BASE" --ca-file "$IT_DIR/certs/ca.pem" \
	--token-file "$TOKEN_FILE") || it_fatal "authproxy starts"

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
MCP_HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
it_conformance authproxy-https "$PROXY"

FIXTURE_REC=$(it_upstream_file "$SECURED" rec)
check "authproxy: the fixture saw the suite's foreign Host as sent" \
	eval 'grep -q "\"refused\":\"host\",\"host\":\"evil.example.com\"" "$FIXTURE_REC"'
check "authproxy: every request the suite sent carried the token (none refused 401)" \
	eval '! grep -Eq "\"refused\":\"(missing|wrong)\"" "$FIXTURE_REC" && grep -q "\"rpc\":\"tools/call\"" "$FIXTURE_REC"'
check "authproxy: the token never reaches its log" eval '! grep -qF "$(cat "$TOKEN_FILE")" "$(it_upstream_file "$PROXY" log)"'

# An SSE stream that never ends must still deliver each event as it is sent:
# subscribe to the watched resource (it changes every 300 ms) and hold the GET
# stream open for 3 s through the proxy.
http POST "$PROXY" "${MCP_HEADERS[@]}" --data "$INIT"
SID=$(header Mcp-Session-Id)
check "authproxy: initialize through the proxy opens a session" eval '[ "$HTTP_CODE" = 200 ] && [ -n "$SID" ]'
SESSION=(-H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25')
http POST "$PROXY" "${MCP_HEADERS[@]}" "${SESSION[@]}" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
http POST "$PROXY" "${MCP_HEADERS[@]}" "${SESSION[@]}" \
	--data '{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}}'
check "authproxy: resources/subscribe is answered" eval '[ "$HTTP_CODE" = 200 ] && body_has "\"result\":\\{\\}"'
HTTP_MAX_TIME=3 http GET "$PROXY" -H 'Accept: text/event-stream' "${SESSION[@]}"
check "authproxy: a held-open SSE stream relays events as they come (updates within 3 s)" \
	eval '[ "$(header Content-Type)" = text/event-stream ] && [ "$(grep -c "notifications/resources/updated" "$IT_DIR/last.body")" -ge 2 ]'

# The fixture itself refuses what the proxy added or passed on.
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

# Certificates are verified against the target even though Host is passed through.
NOCA=$(it_start_upstream authproxy --target "$SECURED_BASE" --token-file "$TOKEN_FILE") ||
	it_fatal "authproxy without a CA starts"
http POST "$NOCA" "${MCP_HEADERS[@]}" --data "$INIT"
check "authproxy: a target signed by an unknown CA is refused 502" eval '[ "$HTTP_CODE" = 502 ]'
