#!/usr/bin/env bash
# The headers of requests to an upstream of the 2026-07-28 era (Mcp-Method,
# Mcp-Name, Mcp-Param-*) come from what a client sent: none of it may end a
# header line and start another (header injection, or a second request
# smuggled onto the connection under the upstream's own credentials).
. "$(dirname "$0")/lib.sh"

[ -x "$IT_NODE" ] || it_fatal "Node 22 is installed at $IT_NODE (run scripts/check: ensure_node)"

UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

ADMIN=$(it_mint --sub hd-admin --tenant hd --roles admin)
USER=$(it_mint --sub hd-user --tenant hd --roles user)
UP=$(it_start_upstream slowinput --delay 0 --rounds 0) || it_fatal "the 2026-07-28 fixture starts"
REC=$(it_upstream_file "$UP" rec)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"up\",\"url\":\"$UP\",\"auth\":{\"type\":\"bearer\",\"token\":\"upstream-secret\"}}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the fixture"; }
check "the fixture is kept as a 2026-07-28 upstream" eval '[ "$(it_json server.protocol_version)" = 2026-07-28 ]'

vmcp() { it_mcp "$MCP/servers/up/mcp" "$USER" "$@"; }
it_mcp_open "$MCP/servers/up/mcp" "$USER"

vmcp '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}' -H "Mcp-Session-Id: $SID"
check "a plain call reaches the upstream with its credentials and Mcp-Method" \
	eval '[ "$(jq -r ".result.content[0].text" "$IT_DIR/last.body")" = echo ] &&
		tail -n1 "$REC" | jq -e ".headers[\"mcp-method\"] == \"tools/call\" and .headers.authorization == \"Bearer upstream-secret\"" >/dev/null'

# A method name that carries CR LF: another header, then a whole second
# request (which would carry the upstream's credentials to a path of the
# client's choosing).
LINES=$(wc -l <"$REC")
vmcp '{"jsonrpc":"2.0","id":3,"method":"x\r\nX-Injected: yes","params":{}}' -H "Mcp-Session-Id: $SID"
check "a method name that cannot be a header line is refused with an error" \
	eval '[ "$(jq -r .id "$IT_DIR/last.body")" = 3 ] && jq -e .error.code "$IT_DIR/last.body" >/dev/null'
vmcp '{"jsonrpc":"2.0","id":4,"method":"x\r\n\r\nGET /smuggled HTTP/1.1\r\nX-A: ","params":{}}' -H "Mcp-Session-Id: $SID"
vmcp '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{}}}' -H "Mcp-Session-Id: $SID"
check "a call after them is answered as before" eval '[ "$(jq -r ".result.content[0].text" "$IT_DIR/last.body")" = echo ]'
check "no header and no request smuggled in by a method name reached the upstream" \
	eval '! tail -n +$((LINES + 1)) "$REC" | grep -q -e "x-injected" -e "smuggled" -e "\"rpc\":null"'

# A name that is not visible ASCII goes in Mcp-Name base64-encoded, as the
# revision has it (raw UTF-8 would not match the body at the upstream).
vmcp '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"café","arguments":{}}}' -H "Mcp-Session-Id: $SID"
check "a non-ASCII tool name reaches the upstream in Mcp-Name as =?base64?...?=" \
	eval '[ "$(jq -r ".result.content[0].text" "$IT_DIR/last.body")" = café ] &&
		tail -n1 "$REC" | jq -e ".headers[\"mcp-name\"] == \"=?base64?$(printf café | base64)?=\"" >/dev/null'

it_check_sanitizer_logs
