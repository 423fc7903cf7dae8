#!/usr/bin/env bash
# A responder pool that grows with long requests: `serve --workers 4
# --max-workers 256` answers 200 concurrent tool calls that each hold a
# responder for 2 s within 5 s, through lighttpd and through Apache
# mod_proxy_fcgi (two hosts' pools); it grows past 100 responders, shrinks
# back near 4 once idle, and never kills a responder in a request. The same
# burst against a fixed pool of 4 cannot finish in time (what growth buys).
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
BURST=${BURST:-200}
HOLD_MS=2000
# Seconds the whole burst may take (2 s of work each, 200 at once). A machine
# much busier than the test itself can set POOL_BOUND; the default is the goal.
BOUND=${POOL_BOUND:-5}
it_start_stores
it_setup_gateway
LOG=$IT_DIR/gateway.log

# The long request: a tools/call of an upstream tool that answers after
# HOLD_MS (the relay fixture's `wait`, JSON answers), on one MCP session that
# both pools serve (sessions live in Redis).
SLOW=$(it_start_upstream relay --json) || it_fatal "the relay fixture starts"
LONG_PATH=/mcp
LONG_BODY="{\"jsonrpc\":\"2.0\",\"id\":{n},\"method\":\"tools/call\",\"params\":{\"name\":\"slow__wait\",\"arguments\":{\"ms\":$HOLD_MS}}}"
LONG_HEADERS=()
# long_request_ok STATUS BODY: the proper answer to one long request.
long_request_ok() { [ "$1" = 200 ] && jq -e '.result.content[0].text == "waited"' <<<"$2" >/dev/null 2>&1; }

# burst BASE LABEL COUNT: COUNT long requests at once from one client
# process (tests/node/burst.mjs), each cut at MAX_TIME s; sets ELAPSED (s,
# wall clock) and GOOD (proper answers); answers in $IT_DIR/LABEL.out.
burst() {
	local start n code ms body
	start=$(date +%s.%N)
	timeout $((MAX_TIME + 20)) "$IT_NODE" "$top_srcdir/tests/node/burst.mjs" --url "$1$LONG_PATH" \
		--count "$3" --timeout-ms $((MAX_TIME * 1000)) --ca "$CA" --method POST \
		--header "Authorization: Bearer $TOKEN" --header 'Content-Type: application/json' \
		"${LONG_HEADERS[@]}" --body "$LONG_BODY" >"$IT_DIR/$2.out" 2>"$IT_DIR/$2.err"
	ELAPSED=$(echo "$(date +%s.%N) - $start" | bc)
	GOOD=0
	while read -r n code ms body; do
		long_request_ok "$code" "$body" && GOOD=$((GOOD + 1))
	done <"$IT_DIR/$2.out"
}

# pool PIDFILE: responders of that supervisor now.
pool() { pgrep -x mcp-gateway -P "$(head -n1 "$1")" | wc -l; }
# watch_pool PIDFILE FILE: the largest pool seen goes to FILE, until killed.
watch_pool() {
	local max=0 n
	while :; do
		n=$(pool "$1")
		[ "$n" -gt "$max" ] && max=$n && echo "$max" >"$2"
		sleep 0.1
	done
}
# measure PIDFILE BASE LABEL [COUNT]: a burst while the pool is watched; sets PEAK.
measure() {
	local w
	echo 0 >"$IT_DIR/$3.peak"
	watch_pool "$1" "$IT_DIR/$3.peak" &
	w=$!
	burst "$2" "$3" "${4:-$BURST}"
	kill "$w" && wait "$w" 2>/dev/null
	PEAK=$(cat "$IT_DIR/$3.peak")
}

# --- pool A: lighttpd -----------------------------------------------------------
it_cleanup_add serve_stop "$IT_DIR/serve-a.pid"
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-a.pid" "$LOG" 4 256 ||
	it_fatal "pool A (4 to 256 responders) starts"
it_start_lighttpd "$FCGI_SOCKET"
API_A=$API
MCP_A=$MCP
# --- pool B: its own supervisor behind Apache mod_proxy_fcgi --------------------
API_PORT=$(free_port) MCP_PORT=$(free_port)
API_B=https://127.0.0.1:$API_PORT
FCGI_SOCKET=$IT_DIR/gw-b.sock
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$LOG" 4 256 ||
	it_fatal "pool B (4 to 256 responders) starts"
it_start_apache proxy_fcgi "$IT_DIR/apache-b"
MCP_B=https://127.0.0.1:$MCP_PORT

# The slow upstream (max_concurrency above the 200 calls in flight: its own
# pool must not be what limits them), and one MCP session (its upstream
# session opened by a first call) for every long request of both pools.
http POST "$API_A/api/v1/servers" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"slow\",\"url\":\"$SLOW\",\"timeout_ms\":10000,\"max_concurrency\":1000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the slow upstream"; }
MCP_HEADERS=(-H "Authorization: Bearer $TOKEN" -H 'Accept: application/json, text/event-stream'
	-H 'Content-Type: application/json' -H 'MCP-Protocol-Version: 2025-11-25')
http POST "$MCP_A/mcp" "${MCP_HEADERS[@]}" --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pool","version":"1"}}}'
SID=$(header Mcp-Session-Id)
[ -n "$SID" ] || { show_response; it_fatal "an MCP session"; }
http POST "$MCP_A/mcp" "${MCP_HEADERS[@]}" -H "Mcp-Session-Id: $SID" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
http POST "$MCP_A/mcp" "${MCP_HEADERS[@]}" -H "Mcp-Session-Id: $SID" \
	--data '{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"slow__wait","arguments":{"ms":1}}}'
long_request_ok "$HTTP_CODE" "$(cat "$IT_DIR/last.body")" || { show_response; it_fatal "a first call of slow__wait"; }
LONG_HEADERS=(--header 'Accept: application/json, text/event-stream' --header 'MCP-Protocol-Version: 2025-11-25'
	--header "Mcp-Session-Id: $SID")

check "pool A starts with 4 responders" eval '[ "$(pool "$IT_DIR/serve-a.pid")" = 4 ]'
http GET "$API_A/metrics"
check "/metrics: mcpgw_responders_max is 256" grep -qx 'mcpgw_responders_max 256' "$IT_DIR/last.body"

# One alone: the request holds its responder for HOLD_MS and stores nothing.
MAX_TIME=15
measure "$IT_DIR/serve-a.pid" "$MCP_A" single 1
read -r n code ms body <"$IT_DIR/single.out"
check "one long request: $code after $ms ms (about $HOLD_MS), the proper answer" \
	eval 'long_request_ok "$code" "$body" && [ "$ms" -ge $HOLD_MS ] && [ "$ms" -lt $((HOLD_MS + 1500)) ]'

# cpu BASE: CPU seconds the responders of that host have used so far.
cpu() {
	http GET "$1/metrics"
	sed -n 's/^mcpgw_process_cpu_seconds_total{role="responder"} //p' "$IT_DIR/last.body"
}
# spread LABEL: answer times (ms) at the 0th, 50th, 90th and 100th percentile.
spread() { awk '{print $3}' "$IT_DIR/$1.out" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int(NR/2)], a[int(NR*0.9)], a[NR]}'; }

for pool_name in A:lighttpd B:apache; do
	p=${pool_name%%:*} web=${pool_name#*:}
	base=MCP_$p api=API_$p
	MAX_TIME=15
	cpu0=$(cpu "${!api}")
	measure "$IT_DIR/serve-${p,,}.pid" "${!base}" "burst-$web"
	echo "$web: answers after (ms, min/median/90%/max) $(spread "burst-$web"); responders used $(echo "$(cpu "${!api}") - $cpu0" | bc) CPU s; load $(cut -d' ' -f1-3 /proc/loadavg)" | diag
	check "$web: $BURST concurrent long requests all answered properly ($GOOD/$BURST)" \
		eval '[ "$GOOD" = "$BURST" ]'
	check "$web: ... within $BOUND s wall clock (${ELAPSED} s)" eval '[ "$(echo "$ELAPSED < $BOUND" | bc)" = 1 ]'
	check "$web: the pool grew past 100 responders (peak $PEAK)" eval '[ "$PEAK" -gt 100 ]'
	check "$web: no more than 256 responders (peak $PEAK)" eval '[ "$PEAK" -le 256 ]'
	[ "$p" = A ] || continue
	# From now on pool A has light steady traffic, 30 requests a second, each
	# to whichever responder waits in accept(): it must neither keep the grown
	# pool alive nor lose a request while responders retire.
	curl -sS --cacert "$CA" --rate 30/s --max-time 60 -w '\n%{http_code}\n' "$API_A/health?n=[1-3000]" \
		>"$IT_DIR/trickle.out" 2>"$IT_DIR/trickle.err" &
	trickle=$!
done
check "every long call was audited (2 x $BURST + 2, spooled and written by the monitors)" \
	wait_until 30 eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'tool_call'"'"' AND target_id = '"'"'slow/wait'"'"' AND outcome = '"'"'success'"'"'")" = $((2 * BURST + 2)) ]'
check "the pool growth was logged" grep -q '"event":"pool_grew"' "$LOG"

# Idle: both pools retire their extras, gradually, never below --workers;
# pool A under light steady traffic since its burst (see above).
wait_until 40 eval '[ "$(pool "$IT_DIR/serve-a.pid")" -le 8 ] && [ "$(pool "$IT_DIR/serve-b.pid")" -le 8 ]'
a=$(pool "$IT_DIR/serve-a.pid") b=$(pool "$IT_DIR/serve-b.pid")
kill "$trickle" 2>/dev/null
wait "$trickle" 2>/dev/null
sent=$(grep -Ec '^[0-9]{3}$' "$IT_DIR/trickle.out")
good=$(grep -c '^200$' "$IT_DIR/trickle.out")
check "idle: both pools back to at most 8 responders within 40 s (A $a under light traffic, B $b)" \
	eval '[ "$a" -le 8 ] && [ "$b" -le 8 ] && [ "$a" -ge 4 ] && [ "$b" -ge 4 ]'
check "light traffic while the pool shrank: every answer 200 ($good of $sent)" \
	eval '[ "$sent" -gt 100 ] && [ "$good" = "$sent" ]'
check "the shrinking was logged" grep -q '"event":"pool_shrank"' "$LOG"
check "no responder died: retired ones left between requests" \
	eval '! grep -Eq "\"event\":\"(responder_died|responder_exited|supervisor_kill)\"" "$LOG"'
http GET "$API_A/metrics"
check "/metrics: no responder restarts" grep -qx 'mcpgw_responder_restarts_total 0' "$IT_DIR/last.body"
# The shrunk pool still answers and grows again.
MAX_TIME=15
measure "$IT_DIR/serve-a.pid" "$MCP_A" "again-lighttpd"
check "lighttpd: after shrinking, a second burst is answered in time too ($GOOD/$BURST, ${ELAPSED} s, peak $PEAK)" \
	eval '[ "$GOOD" = "$BURST" ] && [ "$(echo "$ELAPSED < $BOUND" | bc)" = 1 ]'

# --- pool C: fixed at 4 (--max-workers = --workers): the same burst -------------
serve_stop "$IT_DIR/serve-b.pid"
API_PORT=$(free_port) MCP_PORT=$(free_port)
API_C=https://127.0.0.1:$API_PORT
FCGI_SOCKET=$IT_DIR/gw-c.sock
it_cleanup_add serve_stop "$IT_DIR/serve-c.pid" 5
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-c.pid" "$IT_DIR/gateway-c.log" 4 4 ||
	it_fatal "pool C (4 responders, fixed) starts"
it_start_lighttpd "$FCGI_SOCKET" "$IT_DIR/lighttpd-c"
MAX_TIME=$BOUND
measure "$IT_DIR/serve-c.pid" "https://127.0.0.1:$MCP_PORT" "fixed-lighttpd"
check "fixed pool of 4: the same burst is far from done in $BOUND s ($GOOD/$BURST answered, peak $PEAK)" \
	eval '[ "$GOOD" -lt $((BURST / 4)) ] && [ "$PEAK" = 4 ]'
it_check_sanitizer_logs
