#!/usr/bin/env bash
# The transport rules of the per-server endpoint /servers/{name}/mcp, case by
# case as for /mcp: Accept, Content-Type, JSON and JSON-RPC errors, session
# ids, protocol versions, Origin, the RFC 9728 challenge, notifications and
# responses, ping, the GET stream, DELETE; and the endpoint of a server the
# caller may not see does not exist for it.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_SESSION_STREAM_SECONDS=2 MCPGW_SESSION_KEEPALIVE_SECONDS=1
it_start_stores
it_setup_gateway
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

USER_A=$(it_mint --sub vt-user --tenant ta --roles user)
ADMIN_A=$(it_mint --sub vt-admin --tenant ta --roles admin)
ADMIN_B=$(it_mint --sub vt-admin-b --tenant tb --roles admin)
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
OTHER=$(it_start_upstream plain) || it_fatal "a second plain fixture starts"
for reg in "$ADMIN_A files $PLAIN" "$ADMIN_B hidden $OTHER"; do
	set -- $reg
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		--data "{\"name\":\"$2\",\"url\":\"$3\"}"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register $2"; }
done

EP=$MCP/servers/files/mcp
ACCEPT='application/json, text/event-stream'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it-client","version":"1.0"}}}'
PING='{"jsonrpc":"2.0","id":2,"method":"ping"}'
# post URL BODY [CURL-ARGS...]: one message as USER_A.
post() {
	local url=$1 body=$2
	shift 2
	http POST "$url" -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		--data-binary "$body" "$@"
}
rpc_code() { jq -r '.error.code // empty' "$IT_DIR/last.body" 2>/dev/null; }

# --- handshake -------------------------------------------------------------------------
post "$EP" "$INIT"
SID=$(header Mcp-Session-Id)
check "initialize: 200, a 128-bit session id, the upstream's serverInfo" \
	eval '[ "$HTTP_CODE" = 200 ] && [[ "$SID" =~ ^[0-9a-f]{32}$ ]] && [ "$(jq -r .result.protocolVersion "$IT_DIR/last.body")" = 2025-11-25 ] && jq -e ".result.serverInfo.name" "$IT_DIR/last.body" >/dev/null'
post "$EP" "${INIT/2025-11-25/2025-06-18}"
check "initialize: a 2025-06-18 client is answered in 2025-06-18" \
	eval '[ "$(jq -r .result.protocolVersion "$IT_DIR/last.body")" = 2025-06-18 ]'
post "$EP" "${INIT/2025-11-25/2025-03-26}"
check "initialize: a 2025-03-26 client is answered in 2025-03-26" \
	eval '[ "$(jq -r .result.protocolVersion "$IT_DIR/last.body")" = 2025-03-26 ]'
post "$EP" '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $SID"
check "notification: 202 with no body" eval '[ "$HTTP_CODE" = 202 ] && [ ! -s "$IT_DIR/last.body" ]'
post "$EP" '{"jsonrpc":"2.0","id":"gw:00000000000000000000000000000000","result":{}}' -H "Mcp-Session-Id: $SID"
check "a response from the client: 202" eval '[ "$HTTP_CODE" = 202 ]'
post "$EP" "$PING" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25'
check "ping: the gateway's empty result" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -c .result "$IT_DIR/last.body")" = "{}" ]'
post "$EP" '{"jsonrpc":"2.0","id":3,"method":"tools/list"}' -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25'
# The answer as JSON, or the last data line of an event stream.
answer() { if grep -q '^data: ' "$IT_DIR/last.body"; then sed -n 's/^data: //p' "$IT_DIR/last.body" | tail -n1; else cat "$IT_DIR/last.body"; fi; }
check "tools/list: the upstream's own names (no prefix)" \
	eval '[ "$HTTP_CODE" = 200 ] && answer | jq -e "[.result.tools[].name] | index(\"tool_1\") != null and all(test(\"__\") | not)" >/dev/null'

# --- transport errors --------------------------------------------------------------------
http POST "$EP" -H "Authorization: Bearer $USER_A" -H 'Accept: text/html' -H 'Content-Type: application/json' \
	--data-binary "$PING" -H "Mcp-Session-Id: $SID"
check "Accept without JSON and SSE: 406" eval '[ "$HTTP_CODE" = 406 ]'
http POST "$EP" -H "Authorization: Bearer $USER_A" -H 'Accept: application/json' -H 'Content-Type: application/json' \
	--data-binary "$PING" -H "Mcp-Session-Id: $SID"
check "Accept with JSON only: 406" eval '[ "$HTTP_CODE" = 406 ]'
http POST "$EP" -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" -H 'Content-Type: text/plain' \
	--data-binary "$PING" -H "Mcp-Session-Id: $SID"
check "Content-Type text/plain: 415" eval '[ "$HTTP_CODE" = 415 ]'
post "$EP" '{"jsonrpc":"2.0","id":3,' -H "Mcp-Session-Id: $SID"
check "unparsable JSON: 400 with -32700" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32700 ]'
post "$EP" "[$PING]" -H "Mcp-Session-Id: $SID"
check "batch: 400 with -32600" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32600 ]'
post "$EP" '{"id":4,"method":"ping"}' -H "Mcp-Session-Id: $SID"
check "message without jsonrpc: 400 with -32600" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32600 ]'
post "$EP" "$PING"
check "no session id: 400" eval '[ "$HTTP_CODE" = 400 ]'
post "$EP" "$PING" -H "Mcp-Session-Id: 0123456789abcdef0123456789abcdef"
check "unknown session id: 404" eval '[ "$HTTP_CODE" = 404 ]'
post "$EP" "$PING" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 1999-01-01'
check "unsupported MCP-Protocol-Version: 400 naming the versions we speak" \
	eval '[ "$HTTP_CODE" = 400 ] && grep -q 2025-11-25 "$IT_DIR/last.body"'
post "$EP" "$PING" -H "Mcp-Session-Id: $SID" -H 'Origin: https://evil.example'
check "disallowed Origin: 403" eval '[ "$HTTP_CODE" = 403 ]'
http POST "$EP" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' --data-binary "$INIT"
check "no token: 401 naming this endpoint's resource metadata" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "resource_metadata=\"$MCP/.well-known/oauth-protected-resource/servers/files/mcp\""'
http GET "$MCP/.well-known/oauth-protected-resource/servers/files/mcp"
check "that metadata names /servers/files/mcp as the resource" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -r .resource "$IT_DIR/last.body")" = "$EP" ]'

# --- GET stream and DELETE --------------------------------------------------------------
http GET "$EP" -H "Authorization: Bearer $USER_A" -H 'Accept: application/json' -H "Mcp-Session-Id: $SID"
check "GET stream without text/event-stream in Accept: 406" eval '[ "$HTTP_CODE" = 406 ]'
http GET "$EP" -H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream'
check "GET stream without a session id: 400" eval '[ "$HTTP_CODE" = 400 ]'
res=$(curl -sS -N --cacert "$CA" --max-time 10 -o "$IT_DIR/sse" -w '%{http_code} %{content_type}' \
	-H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $SID" "$EP")
check "GET stream: 200 text/event-stream, ended after stream_seconds with a retry hint ($res)" \
	eval '[ "${res%% *}" = 200 ] && [[ "${res#* }" == text/event-stream* ]] && grep -q "^retry: " "$IT_DIR/sse"'
http GET "$API/api/v1/sessions/$SID" -H "Authorization: Bearer $ADMIN_A"
check "the management plane names the session's endpoint by its path" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -r .endpoint "$IT_DIR/last.body")" = /servers/files/mcp ]'
post "$MCP/mcp" "$PING" -H "Mcp-Session-Id: $SID"
check "this endpoint's session on /mcp: 404" eval '[ "$HTTP_CODE" = 404 ]'
http DELETE "$EP" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $SID"
check "DELETE: 204" eval '[ "$HTTP_CODE" = 204 ]'
post "$EP" "$PING" -H "Mcp-Session-Id: $SID"
check "the ended session: 404" eval '[ "$HTTP_CODE" = 404 ]'

# --- servers that do not exist for the caller ----------------------------------------------
post "$MCP/servers/hidden/mcp" "$INIT"
check "another tenant's server: 404, as one that does not exist" eval '[ "$HTTP_CODE" = 404 ]'
H=$(jq -c . "$IT_DIR/last.body")
post "$MCP/servers/nosuch/mcp" "$INIT"
check "an unknown server: 404 with the same body" eval '[ "$HTTP_CODE" = 404 ] && [ "$(jq -c . "$IT_DIR/last.body")" = "$H" ]'
it_check_sanitizer_logs
