#!/usr/bin/env bash
# The upstream's call slot (max_concurrency) while a 2025-11-25 client
# completes a 2026-07-28 upstream's input-required results on the call's
# stream: the slot is held through every round, so its lease must last as
# long as the rounds do; otherwise the lease ends mid-call, the pool forgets
# the call, and a second call gets in beyond max_concurrency.
. "$(dirname "$0")/lib.sh"

[ -x "$IT_NODE" ] || it_fatal "Node 22 is installed at $IT_NODE (run scripts/check: ensure_node)"

UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
it_start_stores
it_setup_gateway
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"

ADMIN=$(it_mint --sub slot-admin --tenant slot --roles admin)
USER=$(it_mint --sub slot-user --tenant slot --roles user)
# Each call of "ask" takes 9 s; two input rounds: three upstream calls in all,
# about 27 s, beyond the slot's first lease (2 x timeout_ms + 5 s = 25 s).
SLOW=$(it_start_upstream slowinput --delay 9000 --rounds 2) || it_fatal "the slow 2026-07-28 fixture starts"
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"slow\",\"url\":\"$SLOW\",\"timeout_ms\":10000,\"max_concurrency\":1}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the slow upstream"; }
check "the fixture is kept as a 2026-07-28 upstream" eval '[ "$(it_json server.protocol_version)" = 2026-07-28 ]'

mcp() { it_mcp "$MCP/mcp" "$USER" "$@"; }
it_mcp_open "$MCP/mcp" "$USER" '{"elicitation":{}}'

OUT=$IT_DIR/ask.out
T0=$(date +%s)
curl -sS -N --cacert "$CA" -H "Authorization: Bearer $USER" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
	-H 'MCP-Protocol-Version: 2025-11-25' -H "Mcp-Session-Id: $SID" --max-time 60 \
	--data-binary '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow__ask","arguments":{}}}' \
	"$MCP/mcp" >"$OUT" 2>&1 &
CURL_PID=$!
it_cleanup_add kill "$CURL_PID"
# Each input request answered as soon as it shows.
for n in 1 2; do
	wait_until 25 eval '[ "$(grep -c elicitation/create "$OUT")" -ge '"$n"' ]' || it_fatal "input request $n reaches the client"
	EID=$(sed -n 's/^data: //p' "$OUT" | jq -r 'select(.method == "elicitation/create") | .id' | sed -n "${n}p")
	mcp "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"accept\",\"content\":{}}}" -H "Mcp-Session-Id: $SID"
	check "input request $n is answered" eval '[ "$HTTP_CODE" = 202 ]'
done
# Past the first lease, the call still in flight (its last upstream call).
while [ $(($(date +%s) - T0)) -lt 26 ]; do sleep 0.2; done
IN_FLIGHT=0
grep -q '"id":2,"result"' "$OUT" || IN_FLIGHT=1
mcp '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"slow__echo","arguments":{}}}' -H "Mcp-Session-Id: $SID"
check "with the input rounds' call still in flight past its first lease, a second call is busy (max_concurrency 1)" \
	eval '[ "$IN_FLIGHT" = 1 ] && [ "$(jq -r .error.code "$IT_DIR/last.body")" = -32018 ]'
wait "$CURL_PID" 2>/dev/null
check "the call with input rounds ends with the upstream's result" \
	eval 'sed -n "s/^data: //p" "$OUT" | jq -r "select(.id == 2) | .result.content[0].text" | grep -qx "done after 2 rounds"'
mcp '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"slow__echo","arguments":{}}}' -H "Mcp-Session-Id: $SID"
check "once it has ended, the slot is free again" eval '[ "$(jq -r ".result.content[0].text" "$IT_DIR/last.body")" = echo ]'

it_check_sanitizer_logs
