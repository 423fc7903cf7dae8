#!/usr/bin/env bash
# GET /mcp streams hold their responder for up to stream_seconds: one user
# with a few sessions must not take every responder of the host. Streams get
# at most half of them; a stream over that is 503 with Retry-After at once,
# and the management plane keeps answering while the streams are open.
. "$(dirname "$0")/lib.sh"

export MCPGW_SESSION_STREAM_SECONDS=20 MCPGW_SESSION_KEEPALIVE_SECONDS=1
it_start_stores
it_setup_gateway
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

USER_A=$("$GATEWAY" token --config "$CONF" --sub alice --tenant tenant-a --roles user --ttl 3600)
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it-client","version":"1.0"}}}'
sids=()
for i in 1 2 3 4 5 6; do
	http POST "$MCP/mcp" -H "Authorization: Bearer $USER_A" -H 'Accept: application/json, text/event-stream' \
		-H 'Content-Type: application/json' --data-binary "$INIT"
	sids+=("$(header Mcp-Session-Id)")
done
check "one user opens six sessions" eval '[ "${#sids[@]}" = 6 ] && [ -n "${sids[5]}" ]'

# Six GET streams at once, one per session, each bounded by curl's own timeout.
pids=()
for i in 0 1 2 3 4 5; do
	curl -sS -N --cacert "$IT_DIR/certs/ca.pem" --max-time 25 -o "$IT_DIR/s$i.body" -D "$IT_DIR/s$i.head" \
		-w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream' \
		-H "Mcp-Session-Id: ${sids[$i]}" "$MCP/mcp" >"$IT_DIR/s$i.res" 2>/dev/null &
	pids+=($!)
done
sleep 3
t0=$(date +%s.%N)
http GET "$API/health"
t1=$(date +%s.%N)
check "GET /health answers 200 within 2 s while the streams are open ($(awk "BEGIN{print $t1 - $t0}")s)" \
	eval '[ "$HTTP_CODE" = 200 ] && awk "BEGIN{exit !($t1 - $t0 < 2)}"'
http GET "$API/api/v1/me" "${AUTH[@]}"
check "an authenticated request is served too" eval '[ "$HTTP_CODE" = 200 ]'
refused=0
for i in 0 1 2 3 4 5; do
	[ -s "$IT_DIR/s$i.res" ] && grep -q '^503 ' "$IT_DIR/s$i.res" && refused=$((refused + 1))
done
check "the streams over half of the 4 responders are refused at once ($refused of 6)" eval '[ "$refused" = 4 ]'
check "a refused stream says when to retry (Retry-After)" \
	eval 'grep -qi "^Retry-After:" $(grep -l "^HTTP/[0-9.]* 503" "$IT_DIR"/s*.head | head -n1)'
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait "${pids[@]}" 2>/dev/null

# The places come back when the streams end (here: their clients went away).
sleep 2
curl -sS -N --cacert "$IT_DIR/certs/ca.pem" --max-time 3 -o /dev/null -w '%{http_code}' \
	-H "Authorization: Bearer $USER_A" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: ${sids[0]}" \
	"$MCP/mcp" >"$IT_DIR/again.res" 2>/dev/null
check "after the clients left, a new stream is served (200)" eval '[ "$(cat "$IT_DIR/again.res")" = 200 ]'
it_check_sanitizer_logs
