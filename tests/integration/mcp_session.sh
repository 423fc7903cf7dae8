#!/usr/bin/env bash
# The MCP plane's transport (2025-11-25 Streamable HTTP) and its sessions in
# Redis, through lighttpd and, for a second responder pool sharing the stores,
# Apache: every header and message rule, session life (create, slide, end,
# revoke, foreign identity), and the management plane's view of sessions.
. "$(dirname "$0")/lib.sh"

# Short GET streams so that their bounds can be seen.
export MCPGW_SESSION_STREAM_SECONDS=4 MCPGW_SESSION_KEEPALIVE_SECONDS=1
it_start_stores
it_setup_gateway
# Streams may hold half of the responders: two at once for the takeover below.
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

mint() { "$GATEWAY" token --config "$CONF" "$@" 2>>"$IT_DIR/token.err"; }
USER_A=$(mint --sub alice --tenant tenant-a --roles user --ttl 3600)
OP_A=$(mint --sub olga --tenant tenant-a --roles operator --ttl 3600)
OTHER_A=$(mint --sub bob --tenant tenant-a --roles user --ttl 3600)
ADMIN_B=$(mint --sub bea --tenant tenant-b --roles admin --ttl 3600)
ADMIN_A=$(mint --sub ann --tenant tenant-a --roles admin --ttl 3600)
PLATFORM=$(mint --sub pat --tenant tenant-p --roles platform_admin --ttl 3600)
SHORT=$(mint --sub sam --tenant tenant-a --roles user --ttl 60)

ACCEPT='application/json, text/event-stream'
# mcp TOKEN BODY [CURL-ARGS...]: POST one message to $MCP/mcp.
mcp() {
	local tok=$1 body=$2
	shift 2
	http POST "${MCP_BASE:-$MCP}/mcp" -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@"
}
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"it-client","version":"1.0"}}}'
PING='{"jsonrpc":"2.0","id":2,"method":"ping"}'
# init TOKEN [VERSION]: a new session; sets SID.
init() {
	mcp "$1" "${INIT/2025-11-25/${2:-2025-11-25}}"
	SID=$(header Mcp-Session-Id)
}
rpc_code() { sed -n 's/.*"code":\(-\{0,1\}[0-9]*\).*/\1/p' "$IT_DIR/last.body" | head -n1; }

# --- handshake ------------------------------------------------------------------
init "$USER_A"
check "initialize: 200 with a 128-bit session id" eval '[ "$HTTP_CODE" = 200 ] && [[ "$SID" =~ ^[0-9a-f]{32}$ ]]'
check "initialize: JSON answer with protocolVersion 2025-11-25 and serverInfo" \
	eval 'header Content-Type | grep -q application/json && body_has "\"protocolVersion\":\"2025-11-25\"" && body_has "\"serverInfo\""'
SID_A=$SID
init "$USER_A" 2025-06-18
check "initialize: a 2025-06-18 client is answered in 2025-06-18" eval 'body_has "\"protocolVersion\":\"2025-06-18\""'
init "$USER_A" 2025-03-26
check "initialize: a 2025-03-26 client is answered in 2025-03-26" eval 'body_has "\"protocolVersion\":\"2025-03-26\""'
init "$USER_A" 2024-11-05
check "initialize: an unknown version is answered with our latest" eval 'body_has "\"protocolVersion\":\"2025-11-25\""'

mcp "$USER_A" '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $SID_A"
check "notification: 202 with no body" eval '[ "$HTTP_CODE" = 202 ] && [ ! -s "$IT_DIR/last.body" ]'
mcp "$USER_A" '{"jsonrpc":"2.0","id":"srv-1","result":{}}' -H "Mcp-Session-Id: $SID_A"
check "response from the client: 202" eval '[ "$HTTP_CODE" = 202 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 2025-11-25'
check "ping: answered by the gateway with an empty result" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"id\":2" && body_has "\"result\":\\{\\}"'

# --- transport errors ---------------------------------------------------------------
http POST "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H 'Accept: text/html' \
	-H 'Content-Type: application/json' --data-binary "$PING" -H "Mcp-Session-Id: $SID_A"
check "Accept without JSON and SSE: 406" eval '[ "$HTTP_CODE" = 406 ]'
http POST "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H 'Accept: application/json' \
	-H 'Content-Type: application/json' --data-binary "$PING" -H "Mcp-Session-Id: $SID_A"
check "Accept with JSON only: 406" eval '[ "$HTTP_CODE" = 406 ]'
http POST "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
	-H 'Content-Type: text/plain' --data-binary "$PING" -H "Mcp-Session-Id: $SID_A"
check "Content-Type text/plain: 415" eval '[ "$HTTP_CODE" = 415 ]'
mcp "$USER_A" '{"jsonrpc":"2.0","id":3,' -H "Mcp-Session-Id: $SID_A"
check "unparsable JSON: 400 with -32700" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32700 ]'
mcp "$USER_A" "[$PING]" -H "Mcp-Session-Id: $SID_A"
check "batch: 400 with -32600" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32600 ]'
mcp "$USER_A" '{"id":4,"method":"ping"}' -H "Mcp-Session-Id: $SID_A"
check "message without jsonrpc: 400 with -32600" eval '[ "$HTTP_CODE" = 400 ] && [ "$(rpc_code)" = -32600 ]'
mcp "$USER_A" "$PING"
check "no session id: 400" eval '[ "$HTTP_CODE" = 400 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: 0123456789abcdef0123456789abcdef"
check "unknown session id: 404" eval '[ "$HTTP_CODE" = 404 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: ../../etc"
check "malformed session id: 404" eval '[ "$HTTP_CODE" = 404 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 1999-01-01'
check "unsupported MCP-Protocol-Version: 400 naming the versions we speak" \
	eval '[ "$HTTP_CODE" = 400 ] && body_has "2025-11-25"'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A" -H 'Origin: https://evil.example'
check "disallowed Origin: 403" eval '[ "$HTTP_CODE" = 403 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A" -H "Origin: $MCP"
check "the MCP plane's own Origin: allowed" eval '[ "$HTTP_CODE" = 200 ]'
http POST "$MCP/mcp" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' --data-binary "$INIT"
check "no token: 401 with the /mcp resource metadata" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "resource_metadata=\"$MCP/.well-known/oauth-protected-resource/mcp\""'
mcp "$USER_A" '{"jsonrpc":"2.0","id":5,"method":"no/such"}' -H "Mcp-Session-Id: $SID_A"
check "unknown method: -32601" eval '[ "$HTTP_CODE" = 200 ] && [ "$(rpc_code)" = -32601 ]'
http GET "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H 'Accept: application/json' -H "Mcp-Session-Id: $SID_A"
check "GET stream without text/event-stream in Accept: 406" eval '[ "$HTTP_CODE" = 406 ]'
http GET "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream'
check "GET stream without a session id: 400" eval '[ "$HTTP_CODE" = 400 ]'

# --- built-in tools -------------------------------------------------------------------
mcp "$USER_A" '{"jsonrpc":"2.0","id":6,"method":"tools/list"}' -H "Mcp-Session-Id: $SID_A"
check "tools/list: a user does not see the operator's gateway__health_check" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"tools\"" && ! body_has gateway__health_check'
init "$OP_A"
SID_OP=$SID
mcp "$OP_A" '{"jsonrpc":"2.0","id":7,"method":"tools/list"}' -H "Mcp-Session-Id: $SID_OP"
check "tools/list: an operator sees gateway__health_check with its outputSchema" \
	eval 'body_has "\"name\":\"gateway__health_check\"" && body_has "\"outputSchema\""'
HTTP_MAX_TIME=30 mcp "$OP_A" '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"gateway__health_check","arguments":{}}}' \
	-H "Mcp-Session-Id: $SID_OP"
check "tools/call gateway__health_check: structuredContent with overall_status" \
	eval 'body_has "\"structuredContent\":\\{[^}]*\"overall_status\"" || body_has "\"structuredContent\":\\{.*\"overall_status\""'
mcp "$USER_A" '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"gateway__health_check","arguments":{}}}' \
	-H "Mcp-Session-Id: $SID_A"
check "tools/call of a tool the caller may not use: unknown tool (-32602)" eval '[ "$(rpc_code)" = -32602 ]'

# --- sessions in Redis -----------------------------------------------------------------
SKEY="mreg:session:{$SID_A}" AKEY="mreg:auth:{$SID_A}"
check "Redis: session and auth hashes exist under the session's hash tag" \
	eval '[ "$(rcli EXISTS "$SKEY")" = 1 ] && [ "$(rcli EXISTS "$AKEY")" = 1 ]'
check "Redis: the auth hash holds the token's SHA-256" \
	eval '[ "$(rcli HGET "$AKEY" token)" = "$(printf %s "$USER_A" | sha256sum | cut -d" " -f1)" ]'
check "Redis: user, tenant and issuer are recorded" \
	eval '[ "$(rcli HGET "$AKEY" tenant)" = tenant-a ] && [ -n "$(rcli HGET "$AKEY" user)" ] && [ -n "$(rcli HGET "$AKEY" iss)" ]'
leaked=0
for k in $(rcli --scan); do
	if [ "$(rcli TYPE "$k")" = hash ] && rcli HGETALL "$k" | grep -qF "${USER_A:0:40}"; then leaked=1; fi
done
check "Redis: no key holds the token itself" eval '[ "$leaked" = 0 ]'
init "$SHORT"
SID_SHORT=$SID
ttl=$(rcli PTTL "mreg:session:{$SID_SHORT}")
check "expiry is min(token expiry, session TTL): a 60 s token gives at most 60 s ($ttl ms)" \
	eval '[ "$ttl" -gt 0 ] && [ "$ttl" -le 60000 ]'
# A token that outlives the session TTL, so that the TTL is what slides.
LONG=$(mint --sub lou --tenant tenant-a --roles user --ttl 7200)
init "$LONG"
SID_LONG=$SID
before=$(rcli PTTL "mreg:session:{$SID_LONG}")
sleep 1.2
mid=$(rcli PTTL "mreg:session:{$SID_LONG}")
mcp "$LONG" "$PING" -H "Mcp-Session-Id: $SID_LONG"
after=$(rcli PTTL "mreg:session:{$SID_LONG}")
check "sliding TTL: a request renews the session's expiry ($before -> $mid -> $after ms)" \
	eval '[ "$mid" -lt "$before" ] && [ "$after" -gt "$mid" ]'

mcp "$OTHER_A" "$PING" -H "Mcp-Session-Id: $SID_A"
check "another user of the same tenant presenting the session id: 404" eval '[ "$HTTP_CODE" = 404 ]'
mcp "$ADMIN_B" "$PING" -H "Mcp-Session-Id: $SID_A"
check "a user of another tenant presenting the session id: 404" eval '[ "$HTTP_CODE" = 404 ]'
t1=$(rcli PTTL "mreg:session:{$SID_LONG}")
mcp "$OTHER_A" "$PING" -H "Mcp-Session-Id: $SID_LONG"
t2=$(rcli PTTL "mreg:session:{$SID_LONG}")
check "a foreign identity does not extend the session ($t1 -> $t2 ms)" eval '[ "$t2" -le "$t1" ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A"
check "the owner still uses the session after those attempts" eval '[ "$HTTP_CODE" = 200 ]'

# --- the GET stream ---------------------------------------------------------------------------
STREAM="mreg:stream:{$SID_A}"
publish() { rcli XADD "$STREAM" '*' m "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":$1}}"; }
# sse OUT BASE [CURL-ARGS]: a GET stream into OUT; sets SSE_CODE, SSE_TIME.
sse() {
	local out=$1 base=$2 res
	shift 2
	res=$(curl -sS -N --cacert "$IT_DIR/certs/ca.pem" --max-time 15 -o "$out" -w '%{http_code} %{time_total}' \
		-H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $SID_A" "$@" "$base/mcp")
	SSE_CODE=${res%% *} SSE_TIME=${res#* }
}
ID1=$(publish 1)
ID2=$(publish 2)
sse "$IT_DIR/s1" "$MCP"
check "GET stream: 200 text/event-stream delivering queued messages with their stream ids as event ids" \
	eval '[ "$SSE_CODE" = 200 ] && grep -qx "id: $ID1" "$IT_DIR/s1" && grep -qx "id: $ID2" "$IT_DIR/s1" && grep -q "\"n\":2" "$IT_DIR/s1"'
check "GET stream: primed with an event id first" eval '[ "$(head -n1 "$IT_DIR/s1")" = "id: 0-0" ]'
check "GET stream: keep-alive comments while idle" eval 'grep -q "^: keep-alive" "$IT_DIR/s1"'
check "GET stream: ends after stream_seconds with a retry hint (${SSE_TIME}s)" \
	eval 'grep -qx "retry: 2000" "$IT_DIR/s1" && awk "BEGIN{exit !($SSE_TIME >= 3.5 && $SSE_TIME < 7)}"'
sse "$IT_DIR/s2" "$MCP" -H "Last-Event-ID: $ID1"
check "Last-Event-ID resumes after that event (primed with it, then the next)" \
	eval '[ "$(head -n1 "$IT_DIR/s2")" = "id: $ID1" ] && ! grep -q "\"n\":1" "$IT_DIR/s2" && grep -qx "id: $ID2" "$IT_DIR/s2"'
ID3=$(publish 3)
sse "$IT_DIR/s3" "$MCP"
check "a new stream without Last-Event-ID delivers only what earlier streams did not" \
	eval '! grep -q "\"n\":[12]" "$IT_DIR/s3" && grep -qx "id: $ID3" "$IT_DIR/s3"'
# Live delivery: a message published while the stream is open arrives at once.
( sse "$IT_DIR/s4" "$MCP"; echo "$SSE_CODE" >"$IT_DIR/s4.code" ) &
bg=$!
sleep 1
t0=$(date +%s.%N)
ID4=$(publish 4)
arrived=
for _ in $(seq 1 40); do grep -qx "id: $ID4" "$IT_DIR/s4" 2>/dev/null && { arrived=$(date +%s.%N); break; }; sleep 0.05; done
wait "$bg"
check "a message published during a stream reaches the client at once" \
	eval '[ -n "$arrived" ] && awk "BEGIN{exit !($arrived - $t0 < 0.5)}"'
# The newest stream owns the session's messages: an older one ends.
( sse "$IT_DIR/s5" "$MCP"; echo "$SSE_TIME" >"$IT_DIR/s5.time" ) &
bg=$!
sleep 0.5
( sse "$IT_DIR/s6" "$MCP" ) &
bg2=$!
wait "$bg"
check "a newer GET stream takes over: the older one ends early ($(cat "$IT_DIR/s5.time")s)" \
	eval 'awk "BEGIN{exit !($(cat "$IT_DIR/s5.time") < 3.4)}"'
wait "$bg2"

# --- management plane ----------------------------------------------------------------------
http GET "$API/api/v1/sessions" -H "Authorization: Bearer $ADMIN_A"
check "sessions list: tenant-a admin sees tenant-a sessions" eval '[ "$HTTP_CODE" = 200 ] && body_has "$SID_A"'
check "sessions list: never a token or its hash" \
	eval '! body_has "$(printf %s "$USER_A" | sha256sum | cut -d" " -f1)" && ! grep -qF "${USER_A:0:40}" "$IT_DIR/last.body"'
http GET "$API/api/v1/sessions" -H "Authorization: Bearer $ADMIN_B"
check "sessions list: tenant-b admin does not see tenant-a sessions" eval '[ "$HTTP_CODE" = 200 ] && ! body_has "$SID_A"'
http GET "$API/api/v1/sessions/$SID_A" -H "Authorization: Bearer $ADMIN_B"
check "session get across tenants: 404, not 403" eval '[ "$HTTP_CODE" = 404 ]'
http DELETE "$API/api/v1/sessions/$SID_A" -H "Authorization: Bearer $ADMIN_B"
check "session revoke across tenants: 404" eval '[ "$HTTP_CODE" = 404 ]'
http GET "$API/api/v1/sessions" -H "Authorization: Bearer $PLATFORM"
check "sessions list: platform_admin sees every tenant" eval 'body_has "$SID_A" && body_has "tenant-a"'
http GET "$API/api/v1/sessions/$SID_A" -H "Authorization: Bearer $ADMIN_A"
check "session get: protocol version, client info and user" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"protocol_version\":\"2025-11-25\"" && body_has "it-client" && body_has "\"tenant_id\":\"tenant-a\""'
http GET "$API/api/v1/sessions" -H "Authorization: Bearer $USER_A"
check "sessions list: a plain user is refused (403)" eval '[ "$HTTP_CODE" = 403 ]'

# --- a second pool behind Apache serves the same sessions -------------------------------------
API_PORT=$(free_port) MCP_PORT=$(free_port)
MCP_B=https://127.0.0.1:$MCP_PORT
FCGI_SOCKET_A=$FCGI_SOCKET FCGI_SOCKET=$IT_DIR/gw-b.sock
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway-b.log" 2 ||
	it_fatal "second responder pool starts"
it_start_apache proxy_fcgi "$IT_DIR/apache-b"
MCP_BASE=$MCP_B mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A"
check "a session made through lighttpd's pool is served by Apache's pool" eval '[ "$HTTP_CODE" = 200 ] && body_has "\"result\""'
ID5=$(publish 5)
sse "$IT_DIR/s7" "$MCP_B" -H "Last-Event-ID: $ID4"
check "Last-Event-ID resumes on the other pool, through Apache" eval '[ "$SSE_CODE" = 200 ] && grep -qx "id: $ID5" "$IT_DIR/s7" && ! grep -q "\"n\":4" "$IT_DIR/s7"'
MCP_BASE=$MCP_B init "$OP_A"
SID_B=$SID
mcp "$OP_A" "$PING" -H "Mcp-Session-Id: $SID_B"
check "and one made through Apache's pool is served by lighttpd's" eval '[ "$HTTP_CODE" = 200 ]'

# --- ending sessions ---------------------------------------------------------------------------
http DELETE "$API/api/v1/sessions/$SID_B" -H "Authorization: Bearer $ADMIN_A"
check "revoke on the management plane: 204" eval '[ "$HTTP_CODE" = 204 ]'
mcp "$OP_A" "$PING" -H "Mcp-Session-Id: $SID_B"
check "a revoked session is 404 on its next request" eval '[ "$HTTP_CODE" = 404 ]'
REVOKED=$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'session.revoke' AND outcome = 'success'
	AND target_type = 'session' AND target_id = '$SID_B' AND tenant_id = 'tenant-a'
	AND actor_user LIKE '%:ann' AND request_id IS NOT NULL")
check "the revocation is audited: session.revoke by its admin, in the session's tenant" eval '[ "$REVOKED" = 1 ]'
REFUSED=$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'session.revoke' AND target_id = '$SID_A'")
check "a refused revocation (another tenant's session) writes no revocation row" eval '[ "$REFUSED" = 0 ]'
http GET "$API/api/v1/audit?action=session.revoke" -H "Authorization: Bearer $ADMIN_A"
check "the tenant's auditors see the revocation in the audit log" eval '[ "$HTTP_CODE" = 200 ] && body_has "$SID_B"'
http DELETE "$MCP/mcp" -H "Authorization: Bearer $OTHER_A" -H "Mcp-Session-Id: $SID_A"
check "DELETE by another user: 404, the session lives on" eval '[ "$HTTP_CODE" = 404 ] && [ "$(rcli EXISTS "$SKEY")" = 1 ]'
http DELETE "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $SID_A"
check "DELETE by its client: 204 and its keys gone (session, auth, stream)" \
	eval '[ "$HTTP_CODE" = 204 ] && [ "$(rcli EXISTS "$SKEY" "$AKEY" "$STREAM")" = 0 ]'
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_A"
check "an ended session is 404" eval '[ "$HTTP_CODE" = 404 ]'

# --- Redis down ----------------------------------------------------------------------------------
redis_stop "$IT_DIR/redis"
mcp "$USER_A" "$PING" -H "Mcp-Session-Id: $SID_SHORT"
check "Redis down: 503 with Retry-After and a JSON-RPC error" \
	eval '[ "$HTTP_CODE" = 503 ] && [ -n "$(header Retry-After)" ] && body_has "\"jsonrpc\":\"2.0\""'
it_check_sanitizer_logs
