#!/usr/bin/env bash
# What one tools/call on a warm session costs the stores: Redis commands seen
# by MONITOR (a script run by EVALSHA is one round trip, its inner commands
# are not counted) and PostgreSQL statements in the statement log, for a
# proxied upstream tool ({server}__echo on bench/mcp_upstream) through
# lighttpd and one responder. Targets: at most 5 Redis round trips, no SQL.
# The count is asserted exactly: 3 (the session script, which also reads the
# catalog version; the take of a slot of the upstream's concurrency pool; the
# script that gives the slot back and spools the audit record with XADD), and
# what the call writes (the session script's keys, the server's slot keys, the
# spool); a ping on the same session, the floor of any request, makes 1 (the
# session script).
. "$(dirname "$0")/lib.sh"
# The fleet leader's periodic jobs run statements of their own: none while
# this test counts them (an idle event stream costs none).
export MCPGW_LEADER_HEALTH_PERIOD_MS=86400000 MCPGW_LEADER_CATALOG_PERIOD_MS=86400000
export MCPGW_LEADER_CLEANUP_PERIOD_MS=86400000
# The last calls come one after another from curl, which a loaded machine
# spaces past the default 200 ms batch window: a window of 2 s lets the test
# see them share a batch.
export MCPGW_AUDIT_BATCH_WAIT_MS=2000

REDIS_MAX=${REDIS_MAX:-5}
CALL_REDIS=3 PING_REDIS=1
UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
UPSTREAM_BIN=$top_builddir/bench/mcp_upstream
[ -x "$UPSTREAM_BIN" ] || it_fatal "bench/mcp_upstream is built (make check builds it)"

it_start_stores
# Every statement of every connection goes to the log, including the
# responders' (set before they connect).
it_psql "ALTER SYSTEM SET log_statement = 'all'" >/dev/null && it_psql "SELECT pg_reload_conf()" >/dev/null ||
	it_fatal "PostgreSQL logs every statement"
PG_LOG=$(cat "$IT_DIR/pg/pg.datadir")/postgres.log
it_setup_gateway
# Where a record refused by Redis goes (the last check below).
SPOOL_DIR=$IT_DIR/spool
mkdir -p "$SPOOL_DIR" && chown "$GW_SERVICE_USER" "$SPOOL_DIR"
export MCPGW_AUDIT_SPOOL_FALLBACK=$SPOOL_DIR/fallback.jsonl
# One responder: the warm-up warms the very process that is measured.
it_start_serve 1
it_start_lighttpd "$FCGI_SOCKET"

UP_PORT=$(free_port)
setsid "$UPSTREAM_BIN" --port "$UP_PORT" --pid-file "$IT_DIR/mcp-upstream.pid" </dev/null \
	>"$IT_DIR/mcp-upstream.log" 2>&1 &
it_cleanup_add stop_by_pidfile "$IT_DIR/mcp-upstream.pid" 5
wait_until 10 port_listening "$UP_PORT" || it_fatal "bench/mcp_upstream listens on $UP_PORT"

ADMIN=$(it_mint --sub rt-admin --tenant rt --roles admin)
USER=$(it_mint --sub rt-user --tenant rt --roles user)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"rt\",\"url\":\"http://127.0.0.1:$UP_PORT/mcp\"}"
check "the C upstream registers as server rt with its one tool" \
	eval '[ "$HTTP_CODE" = 201 ] && [ "$(it_json server.tool_count)" = 1 ]'
SRV_ID=$(it_json server.id)
# The audit monitor's backend (the one that records applied spool ids)
# writes tool-call records in batches, apart from any request: counted
# apart, per transaction.
monitor_backends() { grep 'audit_spool_applied' "$PG_LOG" | sed -n 's/.*UTC \[\([0-9]*\)\] LOG: .*/\1/p' | sort -u; }
# pg_lines [FROM [TO]]: the statements logged in lines FROM to TO of the log
# (all by default), without the monitor's backends as known now: one counted
# before its first applied-ids statement would otherwise drop out later.
pg_lines() {
	local skip
	skip=$(monitor_backends | sed 's/.*/UTC [&] LOG:/' | paste -sd'|')
	awk -v a="${1:-1}" -v b="${2:-}" 'NR >= a && (b == "" || NR <= b)' "$PG_LOG" | grep 'LOG:  \(statement\|execute\)' |
		{ if [ -n "$skip" ]; then grep -vF -e "${skip//|/$'\n'}"; else cat; fi; }
}
pg_count() { pg_lines "$@" | wc -l; }
monitor_lines() {
	local keep
	keep=$(monitor_backends | sed 's/.*/UTC [&] LOG:/')
	[ -n "$keep" ] && grep 'LOG:  \(statement\|execute\)' "$PG_LOG" | grep -F -e "$keep"
}
# A zero below means something only if the log does count the gateway's statements.
check "the statement log holds the registration's statements ($(pg_count))" eval '[ "$(pg_count)" -gt 0 ]'

# mcp BODY [CURL-ARGS...]: POST one message to /mcp as the user, on the session.
mcp() { it_mcp "$MCP/mcp" "$USER" "$1" -H "Mcp-Session-Id: $SID" "${@:2}"; }
it_mcp_open "$MCP/mcp" "$USER"
mcp '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
check "tools/list on /mcp names the upstream's tool rt__echo" body_has '"name":"rt__echo"'

CALL='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rt__echo","arguments":{"text":"round trip"}}}'
echo_ok() { [ "$HTTP_CODE" = 200 ] && body_has '"echo":"round trip"' && ! body_has '"isError":true'; }
# Warm: the upstream session opens on the first call, caches fill.
for i in 1 2 3; do mcp "$CALL"; done
check "tools/call rt__echo answers the upstream's result" echo_ok

redis_count() { wc -l <"$IT_DIR/$1.redis"; }
redis_verbs() { awk '{ gsub(/"/, "", $4); print $4 }' "$IT_DIR/$1.redis" | paste -sd' '; }

# --- the floor: ping on the warm session --------------------------------------
it_redis_monitored ping mcp '{"jsonrpc":"2.0","id":3,"method":"ping"}'
n=$(redis_count ping)
check "ping on a warm session: answered, $n Redis round trips (exactly $PING_REDIS: the session script)" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$n" -eq "$PING_REDIS" ] && [ "$(redis_verbs ping)" = EVALSHA ]'
sed 's/^[0-9.]* //' "$IT_DIR/ping.redis" | cut -c1-160 | diag

# --- one proxied tools/call -------------------------------------------------------
pg_mark=$(($(wc -l <"$PG_LOG") + 1))
pg_before=0
it_redis_monitored call mcp "$CALL"
call_ok=0
echo_ok && call_ok=1
n=$(redis_count call)
if [ "$call_ok" = 1 ]; then
	check "tools/call rt__echo on a warm session: $n Redis round trips (exactly $CALL_REDIS: session script with the catalog version, the upstream's call slot taken, the slot given back with the audit record spooled; target at most $REDIS_MAX)" \
		eval '[ "$n" -eq "$CALL_REDIS" ] && [ "$n" -le "$REDIS_MAX" ] && [ "$(redis_verbs call)" = "EVALSHA EVALSHA EVALSHA" ]'
	# What the session script writes on a ping (its slide), and besides that
	# only the server's pool keys and the audit spool.
	pool="mreg:{pools}:%s:upstream:$SRV_ID"
	want=$(printf '%s\n' $(it_redis_written ping) mreg:audit:spool 'mreg:{pools}:index' \
		"$(printf "$pool" n)" "$(printf "$pool" r)" "$(printf "$pool" u)" | sort -u | paste -sd' ')
	check "tools/call rt__echo on a warm session writes only the session script's keys, the server's call slot keys and the audit spool" \
		eval '[ "$(it_redis_written call)" = "$want" ]'
	echo "written: $(it_redis_written call)" | diag
	check "the third round trip both gives the slot back (HDEL of its holder) and spools the record (XADD), in one script" \
		eval '[ "$(awk "{ gsub(/\"/, \"\", \$4); print \$4 }" "$IT_DIR/call.lua" | grep -E "^(HDEL|XADD)$" | paste -sd" ")" = "HDEL XADD" ]'
	check "after the call no slot of the server is held" \
		eval '[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ZCARD "$(printf "$pool" r)")" = 0 ]'
else
	not_ok "tools/call rt__echo on a warm session: at most $REDIS_MAX Redis round trips (the call itself failed)"
	show_response
fi
sed 's/^[0-9.]* //' "$IT_DIR/call.redis" | cut -c1-160 | diag
for i in 1 2 3 4; do mcp "$CALL"; echo_ok || call_ok=0; done
# Counted once the monitor has written the calls' records (its backend is
# known, and left out, only from its first batch on), up to where the calls
# ended: the test's own polling below is not theirs.
pg_end=$(wc -l <"$PG_LOG")
wait_until 5 eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'tool_call'"'"'")" -ge 8 ]' || true
pg_after=$(pg_lines "$pg_mark" "$pg_end" | wc -l)
if [ "$call_ok" = 1 ]; then
	check "tools/call rt__echo on a warm session: no PostgreSQL statement (5 calls made $((pg_after - pg_before)))" \
		eval '[ "$pg_after" -eq "$pg_before" ]'
else
	not_ok "tools/call rt__echo on a warm session: no PostgreSQL statement (the calls failed)"
fi
[ "$pg_after" -eq "$pg_before" ] || pg_lines "$pg_mark" "$pg_end" | cut -c1-200 | diag
# The monitor's transactions cost the same few statements whatever their
# number of records: one chain lock and one insert per batch, not per row.
mon_tx=$(monitor_lines | grep -c 'statement: COMMIT' || true)
mon_st=$(monitor_lines | wc -l)
mon_rows=$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'tool_call'")
check "the monitor wrote $mon_rows tool-call rows in $mon_tx transactions of at most 7 statements ($mon_st)" \
	eval '[ "$mon_tx" -ge 1 ] && [ "$mon_st" -le $((7 * mon_tx)) ] && [ "$mon_rows" -gt "$mon_tx" ]'

# --- the spool refused: the slot is given back all the same ----------------------------
# XADD refused (ACL), inside the script that gives the slot back: the
# release stands, the record goes to the fallback file and on to audit_log.
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ACL SETUSER default -xadd >/dev/null
mcp "$CALL" -H 'X-Request-Id: rt-fallback-1'
fb_ok=0
echo_ok && fb_ok=1
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ACL SETUSER default +xadd >/dev/null
check "with XADD refused by Redis: the call is answered, its slot given back, its record in the fallback file" \
	eval '[ "$fb_ok" = 1 ] && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ZCARD "$(printf "$pool" r)")" = 0 ] &&
	grep -q "audit_spool_fallback.*fallback.jsonl" "$IT_DIR/gateway.log"'
check "the monitor writes that record to audit_log from the fallback file" \
	wait_until 15 eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'tool_call'"'"' AND request_id = '"'"'rt-fallback-1'"'"'")" = 1 ]'

it_psql "ALTER SYSTEM RESET log_statement" >/dev/null
it_check_sanitizer_logs
