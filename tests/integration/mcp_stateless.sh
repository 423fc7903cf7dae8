#!/usr/bin/env bash
# MCP 2026-07-28 on the same endpoints, chosen per request, through lighttpd:
# the era rules (MCP-Protocol-Version with _meta, Mcp-Method and Mcp-Name
# against the body: -32020; unknown versions: -32022 listing ours; no _meta:
# -32602), server/discover on /mcp and /servers/{name}/mcp, resultType and
# cache hints, each request authorised on its own, no session issued, and the
# upstream session (2025-11-25 upstream) kept per caller in Redis.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_MCP_LIST_TTL_MS=12345
# The fleet leader's health probes and catalog refresh initialize upstreams
# too: none while this test counts the initializes it causes.
export MCPGW_LEADER_HEALTH_PERIOD_MS=86400000 MCPGW_LEADER_CATALOG_PERIOD_MS=86400000
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
ADMIN_B=$(it_mint --sub admin-b --tenant tb --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
OTHER_A=$(it_mint --sub user-a2 --tenant ta --roles user)
USER_B=$(it_mint --sub user-b --tenant tb --roles user)
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
REC=$(it_upstream_file "$PLAIN" rec)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN_A" -H 'Content-Type: application/json' \
	--data "{\"name\":\"plain\",\"url\":\"$PLAIN\"}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register plain"; }
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN_B" -H 'Content-Type: application/json' \
	--data "{\"name\":\"other\",\"url\":\"$PLAIN\"}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register other"; }
# A tool whose arguments are mirrored in Mcp-Param-* headers (x-mcp-header).
cat >"$IT_DIR/hdr-tools.json" <<'JSON'
[{"name":"query","description":"Echoes text","inputSchema":{"type":"object","properties":{
 "text":{"type":"string"},"region":{"type":"string","x-mcp-header":"Region"},
 "count":{"type":"integer","x-mcp-header":"Count"}},"required":["region"]}}]
JSON
HDR=$(it_start_upstream plain --tools-file "$IT_DIR/hdr-tools.json") || it_fatal "the x-mcp-header fixture starts"
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN_A" -H 'Content-Type: application/json' \
	--data "{\"name\":\"hdr\",\"url\":\"$HDR\"}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register hdr"; }

V=2026-07-28
META="\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"$V\",\"io.modelcontextprotocol/clientCapabilities\":{},\"io.modelcontextprotocol/clientInfo\":{\"name\":\"it\",\"version\":\"1\"}}"
# req ID METHOD [PARAMS-WITHOUT-BRACES]: a stateless request body.
req() { echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"$2\",\"params\":{${3:+$3,}$META}}"; }
# post URL TOKEN BODY [CURL-ARGS...]: POST without era headers.
post() {
	local url=$1 tok=$2 body=$3
	shift 3
	http POST "$url" -H "Authorization: Bearer $tok" -H 'Accept: application/json, text/event-stream' \
		-H 'Content-Type: application/json' --data-binary "$body" "$@"
}
# sl URL TOKEN BODY METHOD [NAME]: a stateless request with its headers. An
# answer on an event stream is kept as its last message (the response).
sl() {
	local url=$1 tok=$2 body=$3 method=$4
	shift 4
	post "$url" "$tok" "$body" -H "MCP-Protocol-Version: $V" -H "Mcp-Method: $method" ${1:+-H "Mcp-Name: $1"}
	if header Content-Type | grep -q text/event-stream; then
		cp "$IT_DIR/last.body" "$IT_DIR/last.sse"
		sed -n 's/^data: //p' "$IT_DIR/last.sse" | tail -n1 >"$IT_DIR/last.body"
	fi
}
code() { it_json error.code; }
refused() { [ "$HTTP_CODE" = "$1" ] && [ "$(code)" = "$2" ] && [ "$(it_json id)" = "$3" ]; }
no_session() { [ -z "$(header Mcp-Session-Id)" ] && [ -z "$(rcli --scan --pattern 'mreg:session:*')" ]; }

# --- server/discover ---------------------------------------------------------------
sl "$MCP/mcp" "$USER_A" "$(req 1 server/discover)" server/discover
check "server/discover on /mcp: 200, resultType complete, both eras' versions" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json result.resultType)" = complete ] &&
	[ "$(jq -c .result.supportedVersions "$IT_DIR/last.body")" = "[\"2026-07-28\",\"2025-11-25\",\"2025-06-18\",\"2025-03-26\"]" ]'
check "server/discover on /mcp: the gateway's identity, capabilities and extensions" \
	eval '[ "$(jq -r ".result._meta[\"io.modelcontextprotocol/serverInfo\"].name" "$IT_DIR/last.body")" = mcp-registry-gateway ] &&
	[ "$(jq -c ".result.capabilities | keys" "$IT_DIR/last.body")" = "[\"extensions\",\"prompts\",\"resources\",\"tools\"]" ]'
check "server/discover on /mcp: ttlMs from mcp.list_ttl_ms, public (the same for every caller)" \
	eval '[ "$(it_json result.ttlMs)" = 12345 ] && [ "$(it_json result.cacheScope)" = public ]'
check "server/discover: no session issued, none in Redis" no_session
sl "$MCP/servers/plain/mcp" "$USER_A" "$(req 2 server/discover)" server/discover
check "server/discover on /servers/plain/mcp: the upstream's serverInfo and capabilities, private" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -r ".result._meta[\"io.modelcontextprotocol/serverInfo\"].name" "$IT_DIR/last.body")" = plain-fixture ] &&
	[ "$(it_json result.capabilities.tools)" != "" ] && [ "$(it_json result.cacheScope)" = private ] && [ "$(it_json result.resultType)" = complete ]'
# Its capabilities are a copy: the catalog's (listChanged: false for tools)
# still reach session-era clients of every responder afterwards.
for i in 1 2 3 4 5 6; do sl "$MCP/servers/plain/mcp" "$USER_A" "$(req 2 server/discover)" server/discover; done
kept=0
for i in 1 2 3 4; do
	post "$MCP/servers/plain/mcp" "$USER_A" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
	[ "$(jq -c .result.capabilities.tools "$IT_DIR/last.body" 2>/dev/null)" = '{"listChanged":false}' ] && kept=$((kept + 1))
	http DELETE "$MCP/servers/plain/mcp" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $(header Mcp-Session-Id)"
done
check "server/discover leaves the catalog's capabilities as they were (session-era initialize)" eval '[ "$kept" = 4 ]'
sl "$MCP/servers/plain/mcp" "$USER_B" "$(req 3 server/discover)" server/discover
check "server/discover on another tenant's server: 404 as for none" eval '[ "$HTTP_CODE" = 404 ]'
sl "$MCP/mcp" "" "$(req 4 server/discover)" server/discover
check "no token: 401 as in the session era" eval '[ "$HTTP_CODE" = 401 ]'

# --- the era rules ---------------------------------------------------------------------
post "$MCP/mcp" "$USER_A" "$(req 10 tools/list)" -H "MCP-Protocol-Version: $V"
check "no Mcp-Method: 400 with -32020 and the request's id" refused 400 -32020 10
sl "$MCP/mcp" "$USER_A" "$(req 11 tools/list)" prompts/list
check "Mcp-Method other than the body's: 400 -32020" refused 400 -32020 11
sl "$MCP/mcp" "$USER_A" "$(req 12 tools/list)" TOOLS/LIST
check "Mcp-Method values are case-sensitive: 400 -32020" refused 400 -32020 12
post "$MCP/mcp" "$USER_A" "$(req 13 tools/list)" -H "MCP-Protocol-Version: $V" -H 'mcp-method: tools/list'
check "header names are case-insensitive: mcp-method accepted" eval '[ "$HTTP_CODE" = 200 ]'
CALL=$(req 14 tools/call '"name":"plain__tool_1","arguments":{"text":"hi"}')
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call
check "tools/call without Mcp-Name: 400 -32020" refused 400 -32020 14
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call plain__tool_2
check "tools/call with another tool in Mcp-Name: 400 -32020" refused 400 -32020 14
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call "=?base64?$(printf plain__tool_2 | base64)?="
check "Mcp-Name in base64 naming another tool: 400 -32020" refused 400 -32020 14
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call '=?base64?!!!?='
check "Mcp-Name in malformed base64: 400 -32020" refused 400 -32020 14
post "$MCP/mcp" "$USER_A" "$(req 15 tools/list)" -H 'MCP-Protocol-Version: 2025-11-25' -H 'Mcp-Method: tools/list'
check "_meta naming 2026-07-28 under a 2025-11-25 header: 400 -32020" refused 400 -32020 15
post "$MCP/mcp" "$USER_A" "$(req 16 tools/list)" -H 'Mcp-Method: tools/list'
check "_meta naming 2026-07-28 without the header: 400 -32020" refused 400 -32020 16
sl "$MCP/mcp" "$USER_A" "$(req 17 tools/list | sed "s/protocolVersion\":\"$V/protocolVersion\":\"2025-11-25/")" tools/list
check "header 2026-07-28, _meta 2025-11-25: 400 -32020" refused 400 -32020 17
sl "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":18,"method":"tools/list","params":{}}' tools/list
check "header 2026-07-28 without _meta: 400 -32602" refused 400 -32602 18
sl "$MCP/mcp" "$USER_A" "$(req 19 tools/list | sed 's/,"io.modelcontextprotocol\/clientCapabilities":{}//')" tools/list
check "_meta without clientCapabilities: 400 -32602" refused 400 -32602 19
post "$MCP/mcp" "$USER_A" "$(req 20 tools/list | sed "s/$V/1999-01-01/")" -H 'MCP-Protocol-Version: 1999-01-01' -H 'Mcp-Method: tools/list'
check "an unknown version: 400 -32022 listing the versions we speak and echoing the request's" \
	eval 'refused 400 -32022 20 && [ "$(jq -c .error.data.supported "$IT_DIR/last.body")" = "[\"2026-07-28\",\"2025-11-25\",\"2025-06-18\",\"2025-03-26\"]" ] &&
	[ "$(it_json error.data.requested)" = 1999-01-01 ]'
post "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":21,"method":"ping"}' -H 'MCP-Protocol-Version: 1999-01-01'
check "an unknown version in a session-era request: the same error" \
	eval 'refused 400 -32022 21 && body_has 2025-11-25'
sl "$MCP/mcp" "$USER_A" "$(req 22 ping)" ping
check "ping is gone in 2026-07-28: 404 -32601" refused 404 -32601 22
sl "$MCP/mcp" "$USER_A" "$(req 23 logging/setLevel '"level":"info"')" logging/setLevel
check "logging/setLevel is gone: 404 -32601" refused 404 -32601 23
sl "$MCP/mcp" "$USER_A" "$(req 24 resources/subscribe '"uri":"test://resource/1"')" resources/subscribe
check "resources/subscribe is gone: 404 -32601" refused 404 -32601 24
sl "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}' notifications/cancelled
check "a notification: 202" eval '[ "$HTTP_CODE" = 202 ]'
sl "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":"x","result":{}}' ""
check "a response from the client: 400 -32600" eval '[ "$HTTP_CODE" = 400 ] && [ "$(code)" = -32600 ]'

for ep in /mcp /servers/plain/mcp; do
	http GET "$MCP$ep" -H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream' -H "MCP-Protocol-Version: $V"
	check "GET $ep in 2026-07-28: 405, POST allowed" eval '[ "$HTTP_CODE" = 405 ] && header Allow | grep -q POST'
	http DELETE "$MCP$ep" -H "Authorization: Bearer $USER_A" -H "MCP-Protocol-Version: $V"
	check "DELETE $ep in 2026-07-28: 405" eval '[ "$HTTP_CODE" = 405 ]'
done

# --- the session era, unchanged beside it -------------------------------------------------
post "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
SID=$(header Mcp-Session-Id)
check "initialize still opens a 2025-11-25 session" eval '[ "$HTTP_CODE" = 200 ] && [[ "$SID" =~ ^[0-9a-f]{32}$ ]]'
post "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":2,"method":"ping"}' -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25'
check "a session request: ping answers as before" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -c .result "$IT_DIR/last.body")" = "{}" ]'
post "$MCP/mcp" "$USER_A" '{"jsonrpc":"2.0","id":3,"method":"tools/list"}' -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25'
check "a session-era result carries no resultType" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq ".result | has(\"resultType\")" "$IT_DIR/last.body")" = false ]'
http DELETE "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $SID"
check "the session ends with DELETE as before" eval '[ "$HTTP_CODE" = 204 ]'

# --- lists and calls, statelessly -----------------------------------------------------------
sl "$MCP/mcp" "$USER_A" "$(req 30 tools/list)" tools/list
check "tools/list: the caller's tenant's tools and built-ins, resultType, ttlMs, private" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"plain__tool_1\"" && ! body_has "other__" && body_has gateway__list_servers &&
	[ "$(it_json result.resultType)" = complete ] && [ "$(it_json result.ttlMs)" = 12345 ] && [ "$(it_json result.cacheScope)" = private ]'
sl "$MCP/mcp" "$USER_B" "$(req 31 tools/list)" tools/list
check "tools/list for tenant tb: its own server only" eval 'body_has "\"other__tool_1\"" && ! body_has plain__'
for m in prompts/list resources/list resources/templates/list; do
	sl "$MCP/mcp" "$USER_A" "$(req 32 $m)" $m
	check "$m: 200 with resultType and cache hints" \
		eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json result.resultType)" = complete ] && [ "$(it_json result.ttlMs)" = 12345 ]'
done
INITS0=$(grep -c '"rpc":"initialize"' "$REC")
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call plain__tool_1
check "tools/call of an upstream tool: its result with resultType complete" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json result.structuredContent.echo)" = hi ] && [ "$(it_json result.resultType)" = complete ]'
check "tools/call: no gateway session issued" no_session
check "the upstream saw none of the new era's _meta keys" \
	eval '! grep "\"rpc\":\"tools/call\"" "$REC" | grep -q "io.modelcontextprotocol"'
UPKEYS=$(rcli --scan --pattern 'mreg:upstreams:*' | wc -l)
check "one upstream session kept in Redis for the caller" eval '[ "$UPKEYS" = 1 ]'
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call "  plain__tool_1  "
check "Mcp-Name with surrounding white space: accepted" eval '[ "$(it_json result.structuredContent.echo)" = hi ]'
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call "=?base64?$(printf plain__tool_1 | base64)?="
check "Mcp-Name in base64: accepted" eval '[ "$(it_json result.structuredContent.echo)" = hi ]'
check "the caller's later calls reuse its upstream session (one initialize upstream)" \
	eval '[ $(( $(grep -c "\"rpc\":\"initialize\"" "$REC") - INITS0 )) = 1 ]'
# A call on a kept upstream session writes to Redis only the slot keys of
# the server's concurrency pool and the audit spool, in 3 round trips.
it_redis_monitored call sl "$MCP/mcp" "$USER_A" "$CALL" tools/call plain__tool_1
CALL_VERBS=$(awk '{ gsub(/"/, "", $4); print toupper($4) }' "$IT_DIR/call.redis" | paste -sd' ')
WRITTEN=$(it_redis_written call)
PLAIN_ID=$(sed -n 's/.*mreg:{pools}:r:upstream:\([0-9a-f-]*\).*/\1/p' <<<"$WRITTEN" | head -1)
P="mreg:{pools}"
WANT="mreg:audit:spool $P:index $P:n:upstream:$PLAIN_ID $P:r:upstream:$PLAIN_ID $P:u:upstream:$PLAIN_ID"
check "a stateless tools/call writes to Redis only its server's call slot keys ({pools}:index, :n:, :r:, :u:) and the audit spool" \
	eval '[ "$(it_json result.structuredContent.echo)" = hi ] && [ -n "$PLAIN_ID" ] && [ "$WRITTEN" = "$WANT" ]'
echo "written: $WRITTEN" | diag
check "that call's Redis round trips, exactly 3: the catalog version (GET); one script reading the caller's upstream sessions (HGETALL) and taking the slot; one script giving the slot back (HDEL) and spooling the record (XADD)" \
	eval '[ "$CALL_VERBS" = "GET EVALSHA EVALSHA" ] &&
	[ "$(awk "{ gsub(/\"/, \"\", \$4); print toupper(\$4) }" "$IT_DIR/call.lua" | grep -E "^(HGETALL|ZADD|HDEL|XADD)$" | paste -sd" ")" = "HGETALL ZADD HDEL XADD" ] &&
	[ "$(grep -c "127.0.0.1:[0-9]*\] \"EVALSHA\" \"[0-9a-f]*\" \"[0-9]*\" \"mreg:session" "$IT_DIR/call.monitor")" = 0 ]'
echo "verbs: $CALL_VERBS" | diag
check "after that call no slot of the server is held" \
	eval '[ "$(rcli ZCARD "$P:r:upstream:$PLAIN_ID")" = 0 ]'
# The slot taken with the read still keeps max_concurrency: every slot held
# (one holder with all of them, leased for a minute), the call is refused
# busy and reaches no upstream; once they are given back it goes through.
rcli ZADD "$P:r:upstream:$PLAIN_ID" "$(( $(date +%s) * 1000 + 60000 ))" filler >/dev/null
rcli HSET "$P:u:upstream:$PLAIN_ID" filler 100000 >/dev/null
rcli INCRBY "$P:n:upstream:$PLAIN_ID" 100000 >/dev/null
CALLS0=$(grep -c '"rpc":"tools/call"' "$REC")
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call plain__tool_1
check "a stateless tools/call while every slot of the server is held: refused busy (-32018, Retry-After), the upstream not called" \
	eval '[ "$(code)" = -32018 ] && [ "$(it_json error.data.reason)" = busy ] && [ -n "$(header Retry-After)" ] &&
	[ "$(grep -c "\"rpc\":\"tools/call\"" "$REC")" = "$CALLS0" ]'
rcli ZREM "$P:r:upstream:$PLAIN_ID" filler >/dev/null
rcli HDEL "$P:u:upstream:$PLAIN_ID" filler >/dev/null
rcli DECRBY "$P:n:upstream:$PLAIN_ID" 100000 >/dev/null
sl "$MCP/mcp" "$USER_A" "$CALL" tools/call plain__tool_1
check "the slots given back: the call goes through and holds no slot after" \
	eval '[ "$(it_json result.structuredContent.echo)" = hi ] && [ "$(rcli ZCARD "$P:r:upstream:$PLAIN_ID")" = 0 ]'
# A slot taken with the read for a call that never reaches the upstream (the
# server in maintenance) is given back.
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
http POST "$API/api/v1/servers/$PLAIN_ID/maintenance" -H "Authorization: Bearer $PLATFORM" --data ''
MAINT_ON=$HTTP_CODE
sl "$MCP/servers/plain/mcp" "$USER_A" "$(sed 's/plain__tool_1/tool_1/' <<<"$CALL")" tools/call tool_1
check "tools/call on /servers/plain/mcp in maintenance: refused (-32016), its slot given back, the upstream not called" \
	eval '[ "$MAINT_ON" = 200 ] && [ "$(code)" = -32016 ] && [ "$(rcli ZCARD "$P:r:upstream:$PLAIN_ID")" = 0 ] &&
	[ -z "$(rcli GET "$P:n:upstream:$PLAIN_ID")" ] && [ "$(grep -c "\"rpc\":\"tools/call\"" "$REC")" = "$((CALLS0 + 1))" ]'
http DELETE "$API/api/v1/servers/$PLAIN_ID/maintenance" -H "Authorization: Bearer $PLATFORM"
sl "$MCP/mcp" "$OTHER_A" "$CALL" tools/call plain__tool_1
check "another user of the same tenant gets an upstream session of its own" \
	eval '[ "$(it_json result.structuredContent.echo)" = hi ] && [ "$(rcli --scan --pattern "mreg:upstreams:*" | wc -l)" = 2 ] &&
	[ $(( $(grep -c "\"rpc\":\"initialize\"" "$REC") - INITS0 )) = 2 ]'
sl "$MCP/mcp" "$USER_B" "$CALL" tools/call plain__tool_1
check "another tenant cannot call the tool: unknown to it" \
	eval '[ "$HTTP_CODE" = 200 ] && { [ -n "$(code)" ] || [ "$(it_json result.isError)" = true ]; } && ! body_has "\"echo\":\"hi\""'
sl "$MCP/mcp" "$USER_A" "$(req 40 tools/call '"name":"gateway__list_servers","arguments":{}')" tools/call gateway__list_servers
check "a built-in tool, statelessly: the caller's servers" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"plain\"" && ! body_has "\"other\"" && [ "$(it_json result.resultType)" = complete ]'
sl "$MCP/mcp" "$USER_A" "$(req 41 prompts/get '"name":"plain__prompt_1","arguments":{"topic":"x"}')" prompts/get plain__prompt_1
check "prompts/get of an upstream prompt" eval '[ "$HTTP_CODE" = 200 ] && body_has "Talk about x" && [ "$(it_json result.resultType)" = complete ]'
sl "$MCP/mcp" "$USER_A" "$(req 42 resources/read '"uri":"test://resource/1"')" resources/read test://resource/1
check "resources/read: contents, resultType, cache hints" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "contents of test://resource/1" && [ "$(it_json result.cacheScope)" = private ] && [ -n "$(it_json result.ttlMs)" ]'
sl "$MCP/servers/plain/mcp" "$USER_A" "$(req 43 tools/list)" tools/list
check "tools/list on /servers/plain/mcp: the upstream's names, resultType and ttlMs" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"tool_1\"" && [ "$(it_json result.resultType)" = complete ] && [ "$(it_json result.ttlMs)" = 12345 ]'
sl "$MCP/servers/plain/mcp" "$USER_A" "$(req 44 tools/call '"name":"tool_2","arguments":{"text":"yo"}')" tools/call tool_2
check "tools/call on /servers/plain/mcp" eval '[ "$(it_json result.structuredContent.echo)" = yo ] && [ "$(it_json result.resultType)" = complete ]'
# --- Mcp-Param-* headers of x-mcp-header arguments -------------------------------------
Q=$(req 50 tools/call '"name":"hdr__query","arguments":{"text":"q","region":"us-west1","count":42}')
sl "$MCP/mcp" "$USER_A" "$Q" tools/call hdr__query
check "x-mcp-header arguments without their Mcp-Param headers: 400 -32020" refused 400 -32020 50
post "$MCP/mcp" "$USER_A" "$Q" -H "MCP-Protocol-Version: $V" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: hdr__query' \
	-H 'Mcp-Param-Region: us-west1' -H 'Mcp-Param-Count: 42.0'
check "Mcp-Param headers that mirror the arguments (42.0 for 42): the call goes through" \
	eval '[ "$HTTP_CODE" = 200 ] && grep -q "\"echo\":\"q\"" "$IT_DIR/last.body"'
post "$MCP/mcp" "$USER_A" "$Q" -H "MCP-Protocol-Version: $V" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: hdr__query' \
	-H 'Mcp-Param-Region: eu-west1' -H 'Mcp-Param-Count: 42'
check "an Mcp-Param header other than its argument: 400 -32020" refused 400 -32020 50
post "$MCP/mcp" "$USER_A" "$Q" -H "MCP-Protocol-Version: $V" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: hdr__query' \
	-H "Mcp-Param-Region: =?base64?$(printf us-west1 | base64)?=" -H 'Mcp-Param-Count: 42'
check "an Mcp-Param header in base64: accepted" eval '[ "$HTTP_CODE" = 200 ]'
post "$MCP/mcp" "$USER_A" "$Q" -H "MCP-Protocol-Version: $V" -H 'Mcp-Method: tools/call' -H 'Mcp-Name: hdr__query' \
	-H 'Mcp-Param-Region: =?base64?dXMtd2VzdDE?=' -H 'Mcp-Param-Count: 42'
check "an Mcp-Param header in base64 without its padding: 400 -32020" refused 400 -32020 50
sl "$MCP/servers/hdr/mcp" "$USER_A" "$(req 51 tools/call '"name":"query","arguments":{"region":"x"}')" tools/call query
check "the same rule on /servers/hdr/mcp" refused 400 -32020 51

sl "$MCP/servers/plain/mcp" "$USER_A" "$(req 45 ping)" ping
check "ping on /servers/plain/mcp: 404 -32601" refused 404 -32601 45
check "still no gateway session after all this" eval '[ -z "$(rcli --scan --pattern "mreg:session:*")" ]'
AUDITED="SELECT count(*) FROM audit_log WHERE action = 'tool_call' AND NOT detail ? 'session_id' AND actor_user IS NOT NULL"
wait_until 15 eval '[ "$(it_psql "$AUDITED")" -ge 9 ]'
check "every stateless tools/call is audited, with no session id" eval '[ "$(it_psql "$AUDITED")" -ge 9 ]'
it_check_sanitizer_logs
