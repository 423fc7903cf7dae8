#!/usr/bin/env bash
# The audit of tool calls: a call spools one record and runs no PostgreSQL
# statement of its own; the monitor process writes each record exactly once
# into the hash-chained audit_log when it could not acknowledge it, while
# responders and the monitor itself are SIGKILLed (a second host's monitor
# draining too), while PostgreSQL is down, and when Redis refuses the spool
# (the fallback file); a forged spool record is refused without stopping the
# drain.
. "$(dirname "$0")/lib.sh"

# Records left by a killed monitor are taken over quickly.
export MCPGW_AUDIT_CLAIM_IDLE_MS=1500
it_start_stores
SPOOL_DIR=$IT_DIR/spool
it_setup_gateway
mkdir -p "$SPOOL_DIR" && chown "$GW_SERVICE_USER" "$SPOOL_DIR"
export MCPGW_AUDIT_SPOOL_FALLBACK=$SPOOL_DIR/fallback.jsonl
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

OPERATOR=$(it_mint --sub olga --tenant tenant-a --roles operator --ttl 3600)
PLATFORM=$(it_mint --sub pat --tenant tenant-p --roles platform_admin --ttl 3600)
SPOOL=mreg:audit:spool
ACCEPT='application/json, text/event-stream'
monitor_pid() { pgrep -P "$SERVE_PID" -x mcpgw-monitor | head -n1; }
responder_pids() { pgrep -P "$SERVE_PID" | grep -vx "$(monitor_pid)"; }
rows() { it_psql "SELECT count(*) FROM audit_log WHERE action = 'tool_call' AND request_id LIKE '$1%'"; }

# One session for every call.
http POST "$MCP/mcp" -H "Authorization: Bearer $OPERATOR" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
	--data-binary '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
SID=$(header Mcp-Session-Id)
[ -n "$SID" ] || it_fatal "an operator's session starts"
check "the monitor runs next to the responders" eval '[ -n "$(monitor_pid)" ]'
check "the monitor dropped to the responders' user" \
	eval '[ "$(ps -o user= -p "$(monitor_pid)")" = "$GW_SERVICE_USER" ]'

# call REQUEST_ID TOOL [ARGUMENTS]: one tools/call; prints the HTTP status.
call() {
	curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 10 -o "$IT_DIR/call.$1.body" -w '%{http_code}' \
		-X POST "$MCP/mcp" -H "Authorization: Bearer $OPERATOR" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID" -H "X-Request-Id: $1" \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":\"$1\",\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":${3:-{\}}}}" \
		2>/dev/null
}
# client PREFIX COUNT: COUNT calls of gateway__health_check; a call whose
# answer is lost (its responder was killed) is made again under a new id.
# Prints the request ids that were answered 200.
client() {
	local i try code
	for ((i = 0; i < $2; i++)); do
		for ((try = 0; try < 5; try++)); do
			code=$(call "$1-$i-$try" gateway__health_check)
			[ "$code" = 200 ] && { echo "$1-$i-$try"; break; }
		done
	done
}
# settled PREFIX N: the spool is empty and N rows of PREFIX are in audit_log.
settled() { [ "$(rcli XLEN "$SPOOL")" = 0 ] && [ "$(rows "$1")" = "$2" ]; }

# --- no PostgreSQL statement on the request path ----------------------------------
kill -STOP "$(monitor_pid)"
it_psql "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
it_psql "ALTER SYSTEM SET log_line_prefix = '[%a] '" >/dev/null
it_psql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
PGLOG=$(cat "$IT_DIR/pg/pg.datadir")/postgres.log
before=$(wc -l <"$PGLOG")
for i in $(seq 1 10); do call "it-nopg-unknown-$i" nosuch__tool >/dev/null; done
sleep 0.3
unknown_lines=$(tail -n +"$((before + 1))" "$PGLOG" | grep -v '^\[psql\]' | grep -c 'statement:')
for i in $(seq 1 10); do call "it-nopg-health-$i" gateway__health_check >/dev/null; done
sleep 0.3
tail -n +"$((before + 1))" "$PGLOG" | grep -v '^\[psql\]' | grep 'statement:' >"$IT_DIR/nopg.statements"
it_psql "ALTER SYSTEM RESET log_statement" >/dev/null
it_psql "ALTER SYSTEM RESET log_line_prefix" >/dev/null
it_psql "SELECT pg_reload_conf()" >/dev/null
check "a tool call that fails (unknown tool) runs no PostgreSQL statement" eval '[ "$unknown_lines" = 0 ]'
check "gateway__health_check runs only its own SELECT 1 probe: no audit statement" \
	eval '[ -s "$IT_DIR/nopg.statements" ] && ! grep -v "statement: SELECT 1$" "$IT_DIR/nopg.statements"'
check "with the monitor paused the 20 calls wait in the spool" eval '[ "$(rcli XLEN "$SPOOL")" = 20 ]'
check "and none is in audit_log yet" eval '[ "$(rows it-nopg)" = 0 ]'
kill -CONT "$(monitor_pid)"
check "the monitor resumed writes the 20 rows" wait_until 15 settled it-nopg 20
check "an unknown tool is audited as an error with its JSON-RPC code" \
	eval '[ "$(it_psql "SELECT outcome || (detail->>'"'"'outcome'"'"') || (detail->>'"'"'error_code'"'"') FROM audit_log WHERE request_id = '"'"'it-nopg-unknown-1'"'"'")" = "failureerror-32602" ]'
check "a health check row names the caller, the tenant, the session, the server and the tool" \
	eval '[ "$(it_psql "SELECT actor_tenant || '"'"' '"'"' || target_id || '"'"' '"'"' || (detail->>'"'"'session_id'"'"') || '"'"' '"'"' || (detail->'"'"'server'"'"'->>'"'"'name'"'"') || '"'"' '"'"' || outcome || '"'"' '"'"' || (actor_user LIKE '"'"'%olga%'"'"') FROM audit_log WHERE request_id = '"'"'it-nopg-health-1'"'"'")" = "tenant-a gateway/gateway__health_check $SID gateway success true" ]'

# --- arguments are kept only as their hash ------------------------------------------
call it-args-1 nosuch__tool '{"zeta":1,"secret":"it-canary-7f3a"}' >/dev/null
want=$(printf '%s' '{"secret":"it-canary-7f3a","zeta":1}' | sha256sum | cut -d' ' -f1)
check "the arguments' record arrives" wait_until 10 settled it-args 1
check "the row holds the SHA-256 of the canonical arguments" \
	eval '[ "$(it_psql "SELECT detail->>'"'"'arguments_sha256'"'"' FROM audit_log WHERE request_id = '"'"'it-args-1'"'"'")" = "$want" ]'
check "and never the arguments themselves" \
	eval '! it_psql "SELECT * FROM audit_log" | grep -q it-canary-7f3a'

# --- written but never acknowledged: claimed again, not written twice ---------------
kill -STOP "$(monitor_pid)"
for i in 1 2 3 4 5; do call "it-noack-$i" nosuch__tool >/dev/null; done
# The acknowledgement is a script: refused, the records stay pending after COMMIT.
rcli ACL SETUSER default -evalsha -eval >/dev/null
kill -CONT "$(monitor_pid)"
check "records written but not acknowledged stay pending" \
	wait_until 10 eval '[ "$(rows it-noack)" = 5 ] && grep -q audit_spool_ack "$IT_DIR/gateway.log"'
check "claimed again after audit.claim_idle_ms, they are found already written" \
	wait_until 10 eval 'grep -q "0 tool calls from the spool written to audit_log (5 already there" "$IT_DIR/gateway.log"'
rcli ACL SETUSER default +evalsha +eval >/dev/null
check "acknowledged at last, each is one row" wait_until 10 settled it-noack 5

# --- 300 calls while responders and the monitor are SIGKILLed -------------------------
# A second serve on the same stores (another host): two monitors drain at once.
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$IT_DIR/gw-b.sock" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway-b.log" 1 ||
	it_fatal "a second serve starts"
clients=()
for c in 1 2 3 4 5 6; do
	client "it-load-$c" 50 >"$IT_DIR/load.$c" &
	clients+=($!)
done
for round in 1 2 3; do
	sleep 0.7
	kill -KILL "$(responder_pids | head -n1)" 2>/dev/null
	kill -KILL "$(monitor_pid)" 2>/dev/null
done
wait "${clients[@]}"
cat "$IT_DIR"/load.? | sort >"$IT_DIR/answered"
check "300 calls were answered 200" eval '[ "$(wc -l <"$IT_DIR/answered")" = 300 ]'
check "the monitor was restarted after each kill" eval '[ "$(grep -c monitor_died "$IT_DIR/gateway.log")" -ge 3 ] && [ -n "$(monitor_pid)" ]'
settled_load() {
	[ "$(rcli XLEN "$SPOOL")" = 0 ] || return 1
	it_psql "SELECT request_id FROM audit_log WHERE action = 'tool_call' AND request_id LIKE 'it-load-%'" |
		sort -u >"$IT_DIR/audited"
	[ -z "$(comm -23 "$IT_DIR/answered" "$IT_DIR/audited")" ]
}
check "every answered call reaches audit_log (records of killed monitors are claimed)" wait_until 30 settled_load
check "each answered call has exactly one row" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE request_id IN ($(sed "s/.*/'"'"'&'"'"'/" "$IT_DIR/answered" | paste -sd,))")" = 300 ]'
check "no request id has two rows" \
	eval '[ "$(it_psql "SELECT count(*) FROM (SELECT request_id FROM audit_log WHERE action = '"'"'tool_call'"'"' GROUP BY request_id HAVING count(*) > 1) d")" = 0 ]'
check "both monitors wrote batches of the load" eval 'grep -q "audit_batch.*[1-9][0-9]* tool calls from the spool" "$IT_DIR/gateway-b.log"'
check "every spool id was applied once and is one row" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'tool_call'"'"'")" = "$(it_psql "SELECT count(*) FROM audit_spool_applied")" ]'
check "nothing is left pending in the consumer group" eval '[ "$(rcli XPENDING "$SPOOL" audit | head -n1)" = 0 ]'

# --- PostgreSQL down: calls still succeed, the spool grows, rows follow ---------------
pg_stop "$IT_DIR/pg"
ok_calls=0
for i in $(seq 1 30); do [ "$(call "it-pgdown-$i" nosuch__tool)" = 200 ] && ok_calls=$((ok_calls + 1)); done
check "with PostgreSQL down 30 tool calls are answered" eval '[ "$ok_calls" = 30 ]'
check "and wait in the spool" eval '[ "$(rcli XLEN "$SPOOL")" -ge 30 ]'
http GET "$API/metrics"
check "/metrics shows the spool's length and age" \
	wait_until 5 eval 'http GET "$API/metrics"; grep -Eq "^mcpgw_audit_spool_length 3[0-9]$" "$IT_DIR/last.body" && grep -q "^mcpgw_audit_spool_oldest_age_seconds" "$IT_DIR/last.body"'
check "the monitor says it cannot write yet" eval 'grep -q audit_batch_failed "$IT_DIR/gateway.log"'
pg_start "$IT_DIR/pg" "$(cat "$IT_DIR/pg/pg.port")" mcpgw >/dev/null 2>&1 || it_fatal "restart postgres"
check "PostgreSQL back: the 30 rows are written" wait_until 30 settled it-pgdown 30

# --- Redis refuses XADD: the fallback file, drained by the monitor --------------------
rcli ACL SETUSER default -xadd >/dev/null
for i in 1 2 3; do call "it-fallback-$i" nosuch__tool >/dev/null; done
check "the calls are answered and their refused records go to the fallback file" \
	eval '[ "$(grep -c "audit_spool_fallback.*fallback.jsonl" "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" | awk -F: "{n += \$2} END {print n}")" = 3 ]'
rcli ACL SETUSER default +xadd >/dev/null
check "the monitor writes the fallback file's records once" wait_until 15 settled it-fallback 3
check "and removes the drained file" eval '[ ! -e "$SPOOL_DIR/fallback.jsonl.draining" ]'

# --- what a client sends cannot keep its call out of audit_log ----------------------
# A name whose "gateway/<name>" target is cut inside a character, a JSON-RPC
# id longer than a spool field, a name that is not UTF-8: each call is audited
# all the same, and the drain goes on.
raw_call() { # raw_call REQUEST-ID BODY
	curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 10 -o /dev/null -w '%{http_code}' \
		-X POST "$MCP/mcp" -H "Authorization: Bearer $OPERATOR" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID" -H "X-Request-Id: $1" \
		--data-binary @- 2>/dev/null <<<"$2"
}
CUT_NAME="$(printf 'a%.0s' $(seq 1 1190))é"
LONG_ID=$(printf 'i%.0s' $(seq 1 3000))
codes="$(call it-cut-1 "$CUT_NAME")"
codes="$codes $(raw_call it-longid-1 "{\"jsonrpc\":\"2.0\",\"id\":\"$LONG_ID\",\"method\":\"tools/call\",\"params\":{\"name\":\"gateway__health_check\",\"arguments\":{}}}")"
codes="$codes $(raw_call it-notutf8-1 "$(printf '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"bad\xff\xfename","arguments":{}}}')")"
call it-after-client-1 nosuch__tool >/dev/null
check "three calls with awkward names and ids are answered ($codes)" eval '[ "$codes" = "200 200 200" ]'
check "a call after them is written" wait_until 10 settled it-after-client 1
check "the name cut inside a character is audited, its target cut before it" \
	eval '[ "$(rows it-cut)" = 1 ] && [ "$(it_psql "SELECT length(target_id) FROM audit_log WHERE request_id = '"'"'it-cut-1'"'"'")" = 1198 ]'
check "the call with a 3000-byte JSON-RPC id is audited" eval '[ "$(rows it-longid)" = 1 ]'
check "the name that is not UTF-8 is audited, its bad bytes as '?'" \
	eval '[ "$(it_psql "SELECT detail->>'"'"'tool'"'"' FROM audit_log WHERE request_id = '"'"'it-notutf8-1'"'"'")" = "bad??name" ]'

# --- a forged record is refused, the drain goes on -----------------------------------
rcli XADD "$SPOOL" '*' sid nothex tool x outcome ok ts now duration_ms 1 args_sha256 x >/dev/null
call it-after-forged-1 nosuch__tool >/dev/null
check "a record after a forged one is written" wait_until 10 settled it-after-forged 1
check "the forged record is logged as malformed and left out" \
	eval 'cat "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" | grep -q audit_spool_malformed && [ "$(it_psql "SELECT count(*) FROM audit_log WHERE target_id = '"'"'-/x'"'"'")" = 0 ]'

# --- consumers of dead monitors are forgotten ------------------------------------------
consumers() { rcli XINFO CONSUMERS "$SPOOL" audit | grep -cx name; }
check "the group forgets the consumers of killed monitors (two monitors remain)" \
	wait_until 20 eval '[ "$(consumers)" -le 2 ]'

# --- the chain -------------------------------------------------------------------------
http GET "$API/api/v1/audit/verify" -H "Authorization: Bearer $PLATFORM"
check "the audit chain verifies over every row" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json ok)" = true ] && [ "$(it_json rows_checked)" -ge 360 ]'
check "audit_spool_applied is append-only" \
	eval '! it_psql "DELETE FROM audit_spool_applied" 2>/dev/null'

it_check_sanitizer_logs
