#!/usr/bin/env bash
# Forwarding to upstream MCP servers (official SDK fixtures) through two
# responder pools, lighttpd (A) and Apache (B): tools/call by prefix, answers
# in JSON or relayed event by event, results unchanged, elicitation answered
# through the other pool, cancellation forwarded, deadlines, upstream sessions
# kept and re-opened, kept-alive connections, the virtual server endpoint,
# sessions of one endpoint refused on the other, the client's token never
# forwarded.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_two_pools
MCP_A=$MCP
MCP_B=https://127.0.0.1:$MCP_PORT

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
ADMIN_B=$(it_mint --sub admin-b --tenant tb --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
OTHER_A=$(it_mint --sub user-a2 --tenant ta --roles user)
# Every token of this issuer starts with the same JOSE header: an upstream that
# sees it has been handed a client's token, and refuses (the calls then fail).
JOSE=${USER_A%%.*}
RELAY=$(it_start_upstream relay --forbid-token "$JOSE") || it_fatal "the relay fixture starts"
RELAYJ=$(it_start_upstream relay --json --forbid-token "$JOSE") || it_fatal "the relay fixture (JSON) starts"
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
BEARER_TOKEN=upstream-secret-$RANDOM$RANDOM
BEARER=$(it_start_upstream bearer --token "$BEARER_TOKEN" --auth-log "$IT_DIR/bearer-auth.log") ||
	it_fatal "the bearer fixture starts"
CLIENT_SECRET=oauth-secret-$RANDOM$RANDOM
OAUTH=$(it_start_upstream oauth --client-id it-client --client-secret "$CLIENT_SECRET") ||
	it_fatal "the oauth fixture starts"
REC=$(it_upstream_file "$RELAY" rec)
RECJ=$(it_upstream_file "$RELAYJ" rec)

register() {
	http POST "$API_A/api/v1/servers" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$2"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register $2"; }
	it_json server_id
}
RELAY_ID=$(register "$ADMIN_A" "{\"name\":\"relay\",\"url\":\"$RELAY\",\"timeout_ms\":2500}")
register "$ADMIN_A" "{\"name\":\"relayj\",\"url\":\"$RELAYJ\",\"timeout_ms\":2500}" >/dev/null
register "$ADMIN_B" "{\"name\":\"secret\",\"url\":\"$PLAIN\"}" >/dev/null
register "$ADMIN_A" "{\"name\":\"secured\",\"url\":\"$BEARER\",\"auth\":{\"type\":\"bearer\",\"token\":\"$BEARER_TOKEN\"}}" >/dev/null
register "$ADMIN_A" "{\"name\":\"oauth\",\"url\":\"$OAUTH\",\"auth\":{\"type\":\"oauth_client_credentials\",\"token_url\":\"${OAUTH%/mcp}/token\",\"client_id\":\"it-client\",\"client_secret\":\"$CLIENT_SECRET\"}}" >/dev/null

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"it-client","version":"1.0"}}}'
# mcp URL TOKEN BODY [CURL-ARGS...]: POST one message.
mcp() { it_mcp "$@"; }
# init URL TOKEN: a new session on that endpoint; sets SID.
init() { it_mcp_open "$1" "$2" '{"elicitation":{}}'; }
answer() { it_mcp_answer; }
ans() { answer | jq -c -r "$1"; }
call() { # call URL SID ID TOOL [ARGS-JSON]
	mcp "$1" "$USER_A" "{\"jsonrpc\":\"2.0\",\"id\":$3,\"method\":\"tools/call\",\"params\":{\"name\":\"$4\",\"arguments\":${5:-{\}}}}" \
		-H "Mcp-Session-Id: $2"
}
inits() { grep -c '"rpc":"initialize"' "$1" 2>/dev/null || true; }

# Registration's discovery opened (and closed) sessions of its own.
BASE_R=$(inits "$REC") BASE_J=$(inits "$RECJ")
init "$MCP_A/mcp" "$USER_A"
SID_A=$SID

# --- tools/call by prefix, JSON and SSE answers ------------------------------------
call "$MCP_A/mcp" "$SID_A" '"c-1"' relay__echo '{"text":"hi"}'
check "tools/call relay__echo: the upstream streams, so our answer is SSE" \
	eval '[ "$HTTP_CODE" = 200 ] && header Content-Type | grep -q text/event-stream'
check "tools/call relay__echo: the result, under the client's own (string) id" \
	eval '[ "$(ans .id)" = c-1 ] && [ "$(ans .result.content[0].text)" = hi ] && [ "$(ans .result.structuredContent.echo)" = hi ]'
call "$MCP_A/mcp" "$SID_A" 7 relayj__echo '{"text":"json"}'
check "tools/call relayj__echo: the upstream answers JSON, so do we, with id 7" \
	eval 'header Content-Type | grep -q application/json && [ "$(ans .id)" = 7 ] && [ "$(ans .result.content[0].text)" = json ]'
check "the upstream session is opened once per gateway session (one initialize each)" \
	eval '[ "$(inits "$REC")" = $((BASE_R + 1)) ] && [ "$(inits "$RECJ")" = $((BASE_J + 1)) ]'
call "$MCP_B/mcp" "$SID_A" 8 relay__echo '{"text":"again"}'
check "a second call, through the other pool, reuses the upstream session (no new initialize)" \
	eval '[ "$(ans .result.content[0].text)" = again ] && [ "$(inits "$REC")" = $((BASE_R + 1)) ]'
check "the gateway session records its upstream sessions (up:<server id>)" \
	eval 'rcli --raw HKEYS "mreg:session:{$SID_A}" | grep -qx "up:$RELAY_ID"'

# --- the server's own credentials go up, never the client's -------------------------
call "$MCP_A/mcp" "$SID_A" 11 secured__whoami
check "a bearer upstream gets its registered token (and only that)" \
	eval '[ "$(ans .result.content[0].text)" = authorized ] && ! grep -q . "$IT_DIR/bearer-auth.log" 2>/dev/null'
call "$MCP_A/mcp" "$SID_A" 12 oauth__secure_echo
check "an OAuth upstream gets an access token fetched with the client credentials" eval '[ "$(ans .result.content[0].text)" = ok ]'
curl -sS -X POST "${OAUTH%/mcp}/revoke" >/dev/null
call "$MCP_B/mcp" "$SID_A" 13 oauth__secure_echo
check "a revoked access token: fetched again and the call retried once" \
	eval '[ "$(ans .result.content[0].text)" = ok ] && [ "$(grep -c "\"token\":\"issued\"" "$(it_upstream_file "$OAUTH" rec)")" -ge 2 ]'

# --- results pass unchanged --------------------------------------------------------
# The fixture's own answer, asked directly.
direct() {
	local url=$1 sid
	curl -sS --max-time 5 -D "$IT_DIR/direct.h" -o /dev/null -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		--data-binary "$INIT" "$url"
	sid=$(grep -i '^mcp-session-id:' "$IT_DIR/direct.h" | sed 's/^[^:]*: *//' | tr -d '\r')
	curl -sS --max-time 5 -o /dev/null -H "Accept: $ACCEPT" -H 'Content-Type: application/json' -H "Mcp-Session-Id: $sid" \
		-H 'MCP-Protocol-Version: 2025-11-25' --data-binary '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
	curl -sS --max-time 5 -H "Accept: $ACCEPT" -H 'Content-Type: application/json' -H "Mcp-Session-Id: $sid" \
		-H 'MCP-Protocol-Version: 2025-11-25' \
		--data-binary '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"mixed","arguments":{}}}' "$url" |
		sed 's/^data: //' | jq -S -c 'select(type == "object" and has("result")) | .result'
}
DIRECT=$(direct "$RELAYJ")
call "$MCP_A/mcp" "$SID_A" 9 relayj__mixed
check "content, structuredContent, isError and _meta arrive as the upstream sent them (JSON)" \
	eval '[ -n "$DIRECT" ] && [ "$(answer | jq -S -c .result)" = "$DIRECT" ] && [ "$(ans .result.isError)" = true ]'
call "$MCP_B/mcp" "$SID_A" 10 relay__mixed
check "content, structuredContent, isError and _meta arrive as the upstream sent them (SSE)" \
	eval '[ "$(answer | jq -S -c .result)" = "$DIRECT" ]'

# --- progress relayed as it arrives ------------------------------------------------
# stamp URL SID ID: tools/call relay__progress, each SSE line with its arrival time (ms).
stamp() {
	curl -sSN --cacert "$CA" --max-time 10 -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' -H "Mcp-Session-Id: $2" -H 'MCP-Protocol-Version: 2025-11-25' \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":$3,\"method\":\"tools/call\",\"params\":{\"name\":\"relay__progress\",\"arguments\":{},\"_meta\":{\"progressToken\":\"p-$3\"}}}" \
		"$1" | while IFS= read -r line; do [ -n "$line" ] && printf '%s %s\n' "$(date +%s%3N)" "$line"; done
}
for pool in A B; do
	url=$MCP_A/mcp
	[ $pool = B ] && url=$MCP_B/mcp
	stamp "$url" "$SID_A" 20 >"$IT_DIR/progress-$pool"
	times=$(grep '"notifications/progress"' "$IT_DIR/progress-$pool" | cut -d' ' -f1)
	gaps=$(echo "$times" | awk 'NR > 1 { printf "%d ", $1 - prev } { prev = $1 }')
	check "pool $pool: three progress notifications with the client's token, then the answer" \
		eval '[ "$(echo "$times" | grep -c .)" = 3 ] && grep -q "\"progressToken\":\"p-20\"" "$IT_DIR/progress-$pool" && grep "\"id\":20" "$IT_DIR/progress-$pool" | grep -q "three steps done"'
	check "pool $pool: log messages pass through (notifications/message)" \
		eval '[ "$(grep -c "\"notifications/message\"" "$IT_DIR/progress-$pool")" = 3 ]'
	check "pool $pool: each progress event arrives as sent, ~300 ms apart (gaps: $gaps ms)" \
		eval 'set -- $gaps; [ $# = 2 ] && [ "$1" -ge 200 ] && [ "$2" -ge 200 ]'
done

# --- elicitation answered through the other pool ---------------------------------------
curl -sSN --cacert "$CA" --max-time 10 -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 2025-11-25' \
	--data-binary '{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"relay__ask","arguments":{}}}' \
	"$MCP_A/mcp" >"$IT_DIR/ask.out" 2>&1 &
ASK_PID=$!
wait_until 5 grep -q elicitation/create "$IT_DIR/ask.out"
EID=$(sed -n 's/^data: //p' "$IT_DIR/ask.out" | jq -r 'select(.method == "elicitation/create") | .id' | head -n1)
check "elicitation/create reaches the client (pool A) under an id of the gateway's" eval '[[ "$EID" =~ ^gw:[0-9a-f]{32}$ ]]'
check "the relayed request is remembered in Redis with the session's hash tag" \
	eval '[ "$(rcli EXISTS "mreg:relay:{$SID_A}:${EID#gw:}")" = 1 ]'
mcp "$MCP_B/mcp" "$USER_A" "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"accept\",\"content\":{\"name\":\"Ada\"}}}" \
	-H "Mcp-Session-Id: $SID_A"
check "the client's answer, posted to pool B: 202" eval '[ "$HTTP_CODE" = 202 ]'
wait "$ASK_PID"
check "the upstream got the answer through pool B and the call ends on pool A's stream" \
	eval 'grep "\"id\":30" "$IT_DIR/ask.out" | grep -q "hello Ada" && grep -q "\"elicited\":{\"action\":\"accept\"" "$REC"'
check "an answered relay id is forgotten" eval '[ "$(rcli EXISTS "mreg:relay:{$SID_A}:${EID#gw:}")" = 0 ]'

# Another session cannot answer for this one: the relay id is looked up
# under the answering session only.
init "$MCP_A/mcp" "$USER_A"
SID_OTHER=$SID
curl -sSN --cacert "$CA" --max-time 10 -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 2025-11-25' \
	--data-binary '{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"relay__ask","arguments":{}}}' \
	"$MCP_A/mcp" >"$IT_DIR/ask2.out" 2>&1 &
ASK_PID=$!
wait_until 5 grep -q elicitation/create "$IT_DIR/ask2.out"
EID=$(sed -n 's/^data: //p' "$IT_DIR/ask2.out" | jq -r 'select(.method == "elicitation/create") | .id' | head -n1)
mcp "$MCP_B/mcp" "$USER_A" "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"accept\",\"content\":{\"name\":\"Mallory\"}}}" \
	-H "Mcp-Session-Id: $SID_OTHER"
sleep 0.3
check "an answer from another session: 202, and the upstream does not get it" \
	eval '[ "$HTTP_CODE" = 202 ] && ! grep -q Mallory "$REC" && [ "$(rcli EXISTS "mreg:relay:{$SID_A}:${EID#gw:}")" = 1 ]'
mcp "$MCP_B/mcp" "$USER_A" "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"decline\"}}" -H "Mcp-Session-Id: $SID_A"
wait "$ASK_PID"
check "the session's own answer still completes the call" eval 'grep "\"id\":31" "$IT_DIR/ask2.out" | grep -q "hello (declined)"'

# A relay record written into Redis by someone else (no MAC under the
# gateway's input state key) is not acted on: the answer goes nowhere.
FORGED=0123456789abcdef0123456789abcdef
rcli SET "mreg:relay:{$SID_A}:$FORGED" '{"w":"mreg:forged-list","k":"input"}' PX 60000 >/dev/null
mcp "$MCP_B/mcp" "$USER_A" "{\"jsonrpc\":\"2.0\",\"id\":\"gw:$FORGED\",\"result\":{\"action\":\"accept\",\"content\":{\"name\":\"Mallory\"}}}" \
	-H "Mcp-Session-Id: $SID_A"
check "an answer under a relay record forged in Redis: 202, pushed nowhere" \
	eval '[ "$HTTP_CODE" = 202 ] && [ "$(rcli LLEN mreg:forged-list)" = 0 ] && [ "$(rcli EXISTS "mreg:relay:{$SID_A}:$FORGED")" = 0 ]'

# An upstream reporting progress on a token that is not its call's is not relayed.
mcp "$MCP_A/mcp" "$USER_A" '{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"relay__spoof","arguments":{},"_meta":{"progressToken":"mine"}}}' \
	-H "Mcp-Session-Id: $SID_A"
check "progress on another token is dropped; the call's own progress and answer arrive" \
	eval '! grep -q not-yours "$IT_DIR/last.body" && grep -q "\"progressToken\":\"mine\"" "$IT_DIR/last.body" && [ "$(ans .result.content[0].text)" = "spoof done" ]'

# --- cancellation and deadlines ------------------------------------------------------
START=$(date +%s%3N)
call "$MCP_A/mcp" "$SID_A" 40 relay__slow
ELAPSED=$(($(date +%s%3N) - START))
check "a call past the server's timeout_ms (2500): -32011 naming the server, within the deadline + 1 s ($ELAPSED ms)" \
	eval '[ "$(ans .error.code)" = -32011 ] && [ "$(ans .error.data.server)" = relay ] && [ "$(ans .error.data.reason)" = timed_out ] && [ "$ELAPSED" -lt 3500 ] && [ "$ELAPSED" -ge 2400 ]'
check "the timeout message names the server and its deadline" eval 'ans .error.message | grep -q "'"'"relay"'"'.*(2500 ms)"'
# An upstream that takes requests and never answers, from the handshake on.
curl -sS -X POST "${RELAY%/mcp}/mode/hang" >/dev/null
init "$MCP_B/mcp" "$USER_A"
START=$(date +%s%3N)
call "$MCP_B/mcp" "$SID" 42 relay__echo '{"text":"never"}'
ELAPSED=$(($(date +%s%3N) - START))
curl -sS -X POST "${RELAY%/mcp}/mode/normal" >/dev/null
check "a hanging upstream (its initialize unanswered): -32011 within the deadline + 1 s ($ELAPSED ms)" \
	eval '[ "$(ans .error.code)" = -32011 ] && [ "$(ans .error.data.reason)" = timed_out ] && [ "$ELAPSED" -lt 3500 ] && grep -q "\"hung\":true" "$REC"'
curl -sSN --cacert "$CA" --max-time 10 -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 2025-11-25' \
	--data-binary '{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"relay__slow","arguments":{}}}' \
	"$MCP_A/mcp" >"$IT_DIR/slow.out" 2>&1 &
SLOW_PID=$!
sleep 0.5
mcp "$MCP_B/mcp" "$USER_A" '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":41,"reason":"user"}}' \
	-H "Mcp-Session-Id: $SID_A"
check "notifications/cancelled: 202" eval '[ "$HTTP_CODE" = 202 ]'
check "the upstream sees the cancellation of the client's request 41" \
	eval 'wait_until 3 grep -q "\"cancelled\":41" "$REC"'
wait "$SLOW_PID"

# Each way an upstream fails has its own error, naming the server.
for failure in refuse:-32012:auth_refused html:-32013:not_mcp big:-32014:too_large stray:-32015:protocol_error; do
	IFS=: read -r mode code reason <<<"$failure"
	curl -sS -X POST "${RELAY%/mcp}/mode/$mode" >/dev/null
	call "$MCP_A/mcp" "$SID_A" 43 relay__echo '{"text":"x"}'
	check "an upstream answering $mode: $code, reason $reason, naming the server" \
		eval '[ "$(ans .error.code)" = "$code" ] && [ "$(ans .error.data.reason)" = "$reason" ] && [ "$(ans .error.data.server)" = relay ] && ans .error.message | grep -q "'"'"'relay'"'"'"'
done
# An upstream that keeps its stream open after the answer: the answer goes
# to the client at once, and the gateway does not wait for the stream's end.
curl -sS -X POST "${RELAY%/mcp}/mode/linger" >/dev/null
START=$(date +%s%3N)
curl -sSN --cacert "$CA" --max-time 10 -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID_A" -H 'MCP-Protocol-Version: 2025-11-25' \
	--data-binary '{"jsonrpc":"2.0","id":44,"method":"tools/call","params":{"name":"relay__echo","arguments":{}}}' \
	"$MCP_A/mcp" | while IFS= read -r line; do [ -n "$line" ] && printf '%s %s\n' "$(date +%s%3N)" "$line"; done >"$IT_DIR/linger.out"
END=$(date +%s%3N)
AT=$(grep lingered "$IT_DIR/linger.out" | cut -d' ' -f1)
check "an upstream stream left open after its answer: the answer within 150 ms ($((AT - START)) ms), the call over well before the stream's 3 s ($((END - START)) ms)" \
	eval '[ -n "$AT" ] && [ $((AT - START)) -lt 150 ] && [ $((END - START)) -lt 2000 ] && grep "\"id\":44" "$IT_DIR/linger.out" | grep -q lingered'
curl -sS -X POST "${RELAY%/mcp}/mode/normal" >/dev/null
# An upstream that sends request after request on one call: only so many are
# relayed (each is a Redis key and an event to the client), the call ends.
curl -sS -X POST "${RELAY%/mcp}/mode/flood" >/dev/null
call "$MCP_A/mcp" "$SID_A" 45 relay__echo '{"text":"x"}'
FLOODED=$(grep -c '"method":"ping"' "$IT_DIR/last.body")
RELAY_KEYS=$(rcli --scan --pattern "mreg:relay:{$SID_A}:*" | wc -l)
check "500 upstream requests in one call: at most 32 relayed ($FLOODED) and kept in Redis ($RELAY_KEYS), the answer arrives" \
	eval '[ "$FLOODED" -ge 1 ] && [ "$FLOODED" -le 32 ] && [ "$RELAY_KEYS" -le 32 ] && grep "\"id\":45" "$IT_DIR/last.body" | grep -q flooded'
# A request whose id is 1 MiB would be kept in Redis for the whole call: not relayed.
curl -sS -X POST "${RELAY%/mcp}/mode/bigid" >/dev/null
call "$MCP_A/mcp" "$SID_A" 46 relay__echo '{"text":"x"}'
BIGGEST=$(rcli --scan --pattern "mreg:relay:{$SID_A}:*" | while read -r k; do rcli STRLEN "$k"; done | sort -n | tail -n1)
check "an upstream request with a 1 MiB id: not relayed, nothing that size in Redis (${BIGGEST:-0} bytes), the answer arrives" \
	eval '! grep -q "\"method\":\"ping\"" "$IT_DIR/last.body" && [ "${BIGGEST:-0}" -lt 4096 ] && grep "\"id\":46" "$IT_DIR/last.body" | grep -q "big id"'
# 40 MiB of notifications in one call: relayed up to 32 MiB, then the call
# ends as too large.
curl -sS -X POST "${RELAY%/mcp}/mode/endless" >/dev/null
call "$MCP_A/mcp" "$SID_A" 47 relay__echo '{"text":"x"}'
RELAYED=$(wc -c <"$IT_DIR/last.body")
check "an upstream streaming 40 MiB: at most 33 MiB relayed ($RELAYED bytes), then -32014 too_large" \
	eval '[ "$RELAYED" -le $((33 << 20)) ] && grep "\"id\":47" "$IT_DIR/last.body" | grep -q "\"reason\":\"too_large\"" && ! grep -q endless "$IT_DIR/last.body"'
curl -sS -X POST "${RELAY%/mcp}/mode/normal" >/dev/null

# --- the client's token never reaches an upstream -------------------------------------
check "no upstream ever saw a client's token" eval '! grep -q forbidden_token "$REC" "$RECJ"'

# --- kept-alive connections ----------------------------------------------------------
MARK=$(wc -l <"$RECJ")
TIMES=
for i in 1 2 3 4 5 6 7 8; do
	call "$MCP_A/mcp" "$SID_A" "5$i" relayj__echo '{"text":"k"}'
	TIMES="$TIMES $HTTP_TIME"
done
echo "# tools/call through lighttpd to a JSON upstream, client-side seconds (TLS handshake included):$TIMES"
PEERS=$(tail -n +$((MARK + 1)) "$RECJ" | jq -r 'select(.http) | .peer' | sort -u | wc -l)
check "8 calls through pool A ($WORKERS responders) reuse their connections: $PEERS client ports upstream" \
	eval '[ "$PEERS" -le "$WORKERS" ]'
MARK=$(wc -l <"$REC")
for i in 1 2 3 4 5 6; do call "$MCP_A/mcp" "$SID_A" "6$i" relay__echo '{"text":"k"}'; done
PEERS=$(tail -n +$((MARK + 1)) "$REC" | jq -r 'select(.http) | .peer' | sort -u | wc -l)
check "6 calls answered with SSE reuse their connections too: $PEERS client ports upstream" \
	eval '[ "$PEERS" -le "$WORKERS" ]'

# --- the upstream forgets the session ---------------------------------------------------
BEFORE=$(inits "$REC")
curl -sS -X POST "${RELAY%/mcp}/forget" >/dev/null
call "$MCP_B/mcp" "$SID_A" 70 relay__echo '{"text":"back"}'
check "after the upstream forgot our session: one new initialize and the call succeeds" \
	eval '[ "$(ans .result.content[0].text)" = back ] && [ "$(inits "$REC")" = $((BEFORE + 1)) ]'
call "$MCP_A/mcp" "$SID_A" 71 relay__echo '{"text":"kept"}'
check "the re-opened upstream session is kept" eval '[ "$(ans .result.content[0].text)" = kept ] && [ "$(inits "$REC")" = $((BEFORE + 1)) ]'

# A session that has used more servers than fit in one read of its hash still
# keeps each upstream session: the seventeenth server's is not opened anew on
# every call, and all are ended with the session.
for i in $(seq 1 17); do register "$ADMIN_A" "{\"name\":\"many$i\",\"url\":\"$RELAY\"}" >/dev/null; done
init "$MCP_A/mcp" "$USER_A"
SID_MANY=$SID
for i in $(seq 1 17); do call "$MCP_A/mcp" "$SID_MANY" "10$i" "many${i}__echo" '{"text":"m"}'; done
BEFORE=$(inits "$REC")
call "$MCP_B/mcp" "$SID_MANY" 120 many17__echo '{"text":"again"}'
call "$MCP_A/mcp" "$SID_MANY" 121 many17__echo '{"text":"again"}'
check "the 17th server of a session: its upstream session is kept ($(($(inits "$REC") - BEFORE)) new initialize)" \
	eval '[ "$(ans .result.content[0].text)" = again ] && [ "$(inits "$REC")" = "$BEFORE" ]'
# A notification goes to each of the session's 17 upstreams: with all of them
# hung, the responder is held a few seconds in all, not two seconds for each.
curl -sS -X POST "${RELAY%/mcp}/mode/hang" >/dev/null
mcp "$MCP_A/mcp" "$USER_A" '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":121}}' \
	-H "Mcp-Session-Id: $SID_MANY"
check "notifications/cancelled to 17 hung upstreams: 202 within 7 s (${HTTP_TIME} s)" \
	eval '[ "$HTTP_CODE" = 202 ] && awk -v t="$HTTP_TIME" "BEGIN { exit !(t < 7) }"'
curl -sS -X POST "${RELAY%/mcp}/mode/normal" >/dev/null
CLOSED=$(grep -c '"closed"' "$REC")
http DELETE "$MCP_A/mcp" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $SID_MANY" -H 'MCP-Protocol-Version: 2025-11-25'
check "ending a session of 17 upstream sessions ends all of them upstream" \
	eval '[ "$HTTP_CODE" = 204 ] && [ "$(grep -c "\"closed\"" "$REC")" -ge $((CLOSED + 17)) ]'

# Two first calls of one session at once, through both pools: both open an
# upstream session, one is kept, the other ends after its call.
init "$MCP_A/mcp" "$USER_A"
SID_RACE=$SID
BEFORE=$(inits "$REC") CLOSED=$(grep -c '"closed"' "$REC")
RACERS=()
for url in "$MCP_A/mcp" "$MCP_B/mcp"; do
	curl -sS --cacert "$CA" --max-time 10 -o /dev/null -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID_RACE" -H 'MCP-Protocol-Version: 2025-11-25' \
		--data-binary '{"jsonrpc":"2.0","id":72,"method":"tools/call","params":{"name":"relay__progress","arguments":{}}}' "$url" &
	RACERS+=($!)
done
wait "${RACERS[@]}"
call "$MCP_A/mcp" "$SID_RACE" 73 relay__echo '{"text":"one"}'
check "two first calls at once: two upstream sessions opened, the one not kept ended, the kept one reused" \
	eval '[ "$(inits "$REC")" = $((BEFORE + 2)) ] && wait_until 2 eval "[ \$(grep -c \"\\\"closed\\\"\" \"$REC\") = $((CLOSED + 1)) ]" && [ "$(ans .result.content[0].text)" = one ]'

# --- prompts and resources on /mcp ------------------------------------------------------
mcp "$MCP_A/mcp" "$USER_A" '{"jsonrpc":"2.0","id":80,"method":"prompts/get","params":{"name":"relay__greet","arguments":{"who":"Bo"}}}' \
	-H "Mcp-Session-Id: $SID_A"
check "prompts/get relay__greet: the upstream's prompt" eval '[ "$(ans .result.messages[0].content.text)" = "Greet Bo" ]'
mcp "$MCP_A/mcp" "$USER_A" '{"jsonrpc":"2.0","id":81,"method":"resources/read","params":{"uri":"test://relay/info"}}' \
	-H "Mcp-Session-Id: $SID_A"
check "resources/read by URI: routed to the server that lists it" \
	eval '[ "$(ans .result.contents[0].text)" = "contents of test://relay/info" ]'
mcp "$MCP_A/mcp" "$USER_A" '{"jsonrpc":"2.0","id":82,"method":"resources/read","params":{"uri":"test://nobody/x"}}' \
	-H "Mcp-Session-Id: $SID_A"
check "resources/read of a URI no server lists: -32002" eval '[ "$(ans .error.code)" = -32002 ]'

# --- unknown and invisible servers look alike -----------------------------------------
call "$MCP_A/mcp" "$SID_A" 90 nosuch__tool_1
UNKNOWN=$(answer | jq -c '.error | {code, message}')
call "$MCP_A/mcp" "$SID_A" 90 secret__tool_1
check "another tenant's server: the same error as an unknown tool ($UNKNOWN)" \
	eval '[ -n "$UNKNOWN" ] && [ "$(answer | jq -c ".error | {code, message}")" = "$UNKNOWN" ] && [ "$(ans .error.data)" = secret__tool_1 ]'
call "$MCP_A/mcp" "$SID_A" 91 relay__nosuch
check "a tool the server does not list: the same error" eval '[ "$(answer | jq -c ".error | {code, message}")" = "$UNKNOWN" ]'

# --- maintenance ------------------------------------------------------------------------
http POST "$API_A/api/v1/servers/$RELAY_ID/maintenance" -H "Authorization: Bearer $ADMIN_A" --data ''
call "$MCP_A/mcp" "$SID_A" 92 relay__echo '{"text":"x"}'
check "a server in maintenance: -32016 saying so" \
	eval '[ "$(ans .error.code)" = -32016 ] && ans .error.message | grep -q maintenance && [ "$(ans .error.data.reason)" = maintenance ]'
http DELETE "$API_A/api/v1/servers/$RELAY_ID/maintenance" -H "Authorization: Bearer $ADMIN_A"

# --- the virtual server /servers/{name}/mcp -----------------------------------------------
for pool in A B; do
	base=$MCP_A
	[ $pool = B ] && base=$MCP_B
	V=$base/servers/relay/mcp
	init "$V" "$USER_A"
	SID_V=$SID
	mcp "$V" "$USER_A" "$INIT"
	check "pool $pool: initialize on /servers/relay/mcp: the upstream's serverInfo and capabilities" \
		eval '[ "$(ans .result.serverInfo.name)" = relay-fixture ] && [ "$(ans .result.protocolVersion)" = 2025-11-25 ] && [ "$(ans ".result.capabilities | has(\"tools\") and has(\"prompts\") and has(\"logging\")")" = true ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: tools/list under the upstream's own names" \
		eval '[ "$(ans "[.result.tools[].name] | join(\",\")")" = echo,progress,ask,mixed,slow,wait,spoof ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"v"}}}' \
		-H "Mcp-Session-Id: $SID_V"
	check "pool $pool: tools/call echo on the virtual server" eval '[ "$(ans .result.content[0].text)" = v ] && [ "$(ans .id)" = 3 ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":4,"method":"ping"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: ping answered" eval '[ "$(ans .result)" = "{}" ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":5,"method":"resources/templates/list"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: any other method is forwarded (resources/templates/list)" \
		eval '[ "$(ans .result.resourceTemplates[0].uriTemplate)" = "test://relay/items/{id}" ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":6,"method":"tools/list"}' -H "Mcp-Session-Id: $SID_A"
	check "pool $pool: a session of /mcp on /servers/relay/mcp: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$base/mcp" "$USER_A" '{"jsonrpc":"2.0","id":7,"method":"ping"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: a session of /servers/relay/mcp on /mcp: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$base/servers/relayj/mcp" "$USER_A" '{"jsonrpc":"2.0","id":7,"method":"ping"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: a session of one virtual server on another: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$V" "$OTHER_A" '{"jsonrpc":"2.0","id":8,"method":"ping"}' -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: another user's session: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$V" "$USER_A" '{"jsonrpc":"2.0","id":9,"method":"ping"}' -H "Mcp-Session-Id: 0123456789abcdef0123456789abcdef"
	check "pool $pool: an unknown session on the virtual server: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$base/servers/secret/mcp" "$USER_A" "$INIT"
	check "pool $pool: another tenant's server has no endpoint for us: 404" eval '[ "$HTTP_CODE" = 404 ]'
	mcp "$base/servers/nosuch/mcp" "$USER_A" "$INIT"
	check "pool $pool: an unknown server: 404" eval '[ "$HTTP_CODE" = 404 ]'
	CLOSED=$(grep -c '"closed"' "$REC")
	http DELETE "$V" -H "Authorization: Bearer $USER_A" -H "Mcp-Session-Id: $SID_V"
	check "pool $pool: DELETE ends the virtual server session, and its upstream session" \
		eval '[ "$HTTP_CODE" = 204 ] && [ "$(grep -c "\"closed\"" "$REC")" = $((CLOSED + 1)) ]'
done

# --- expired sessions -----------------------------------------------------------------------
init "$MCP_A/servers/relay/mcp" "$USER_A"
SID_V=$SID
init "$MCP_A/mcp" "$USER_A"
SID_E=$SID
for s in "$SID_V" "$SID_E"; do rcli PEXPIRE "mreg:session:{$s}" 1 >/dev/null; rcli PEXPIRE "mreg:auth:{$s}" 1 >/dev/null; done
sleep 0.1
mcp "$MCP_A/servers/relay/mcp" "$USER_A" '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H "Mcp-Session-Id: $SID_V"
check "an expired session on the virtual server: 404" eval '[ "$HTTP_CODE" = 404 ]'
mcp "$MCP_B/mcp" "$USER_A" '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H "Mcp-Session-Id: $SID_E"
check "an expired session on /mcp: 404" eval '[ "$HTTP_CODE" = 404 ]'

# An upstream that is gone.
kill "$(cat "$(it_upstream_file "$RELAYJ" pid)")"
wait_until 5 eval '! port_in_use "$(sed "s|.*:\([0-9]*\)/mcp|\1|" <<<"$RELAYJ")"'
call "$MCP_A/mcp" "$SID_A" 95 relayj__echo '{"text":"x"}'
check "an upstream that is gone: -32010 unreachable, naming the server" \
	eval '[ "$(ans .error.code)" = -32010 ] && [ "$(ans .error.data.reason)" = unreachable ] && [ "$(ans .error.data.server)" = relayj ]'
check "the host's metrics count tool calls by outcome (ok, timed_out, maintenance)" \
	eval 'M=$(curl -sS --cacert "$CA" "$API_A/metrics"); grep -q "mcpgw_mcp_tool_calls_total{outcome=\"ok\"}" <<<"$M" && grep -q "mcpgw_mcp_tool_calls_total{outcome=\"timed_out\"}" <<<"$M" && grep -q "mcpgw_mcp_tool_calls_total{outcome=\"maintenance\"}" <<<"$M"'
check "still no upstream saw a client's token" eval '! grep -q forbidden_token "$REC" "$RECJ"'
# --- audit of upstream tool calls (spooled, written by the monitors) ----------------
tc() { it_psql "SELECT count(*) FROM audit_log WHERE action = 'tool_call' AND $1"; }
wait_until 15 eval '[ "$(tc "target_id = '"'"'relayj/echo'"'"' AND detail->>'"'"'error_code'"'"' = '"'"'-32010'"'"'")" -ge 1 ]'
check "upstream tool calls are audited: relay's echo calls, as successes, with the server's id" \
	eval '[ "$(tc "target_id = '"'"'relay/echo'"'"' AND outcome = '"'"'success'"'"' AND detail->'"'"'server'"'"'->>'"'"'id'"'"' = '"'"'$RELAY_ID'"'"'")" -ge 2 ]'
check "the call past its deadline is audited as a timeout" \
	eval '[ "$(tc "target_id = '"'"'relay/slow'"'"' AND detail->>'"'"'outcome'"'"' = '"'"'timeout'"'"'")" -ge 1 ]'
check "the call to a vanished upstream is audited with its error code (-32010)" \
	eval '[ "$(tc "target_id = '"'"'relayj/echo'"'"' AND detail->>'"'"'outcome'"'"' = '"'"'error'"'"'")" -ge 1 ]'
check "arguments are audited only as their hash" \
	eval '[ "$(tc "target_id = '"'"'relay/echo'"'"' AND detail->>'"'"'arguments_sha256'"'"' ~ '"'"'^[0-9a-f]{64}$'"'"'")" -ge 1 ] && ! it_psql "SELECT detail::text FROM audit_log WHERE action = '"'"'tool_call'"'"'" | grep -q never'

it_check_sanitizer_logs
