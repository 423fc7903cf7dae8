#!/usr/bin/env bash
# The fleet leader with two `serve` processes (each its own responders and
# monitor, sharing Redis and PostgreSQL): exactly one monitor holds the lease
# and runs the periodic jobs; a leader that hangs loses the lease to the other
# and steps down when it wakes; SIGKILLing the leader's `serve` with all its
# children hands the lease to the other within its TTL; no job ever runs
# twice in one period (job runs counted per period in leader_job_runs, and the
# health probes the upstream saw counted against them).
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
TTL=3000
export MCPGW_LEADER_LEASE_TTL_MS=$TTL
export MCPGW_LEADER_HEALTH_PERIOD_MS=1000
export MCPGW_LEADER_CATALOG_PERIOD_MS=2000
export MCPGW_LEADER_EVENTS_PERIOD_MS=500
export MCPGW_LEADER_CLEANUP_PERIOD_MS=1000
# The event raised below stays undelivered (its agents have no server) for the
# whole test: the delivery job has work in every period.
export MCPGW_EVENTS_MAX_ATTEMPTS=100
export MCPGW_EVENTS_RETRY_MS=0
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"
SERVE_A=$SERVE_PID
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$IT_DIR/gw-b.sock" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway-b.log" 2 ||
	it_fatal "the second serve starts"
SERVE_B=$(head -n1 "$IT_DIR/serve-b.pid")
LEASE=mreg:leader:lease

PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
TOOLS_FILE=$IT_DIR/tools.json
tools_json() { # SCHEMA-TYPE-OF-text
	printf '[{"name":"echo","description":"echo","inputSchema":{"type":"object","properties":{"text":{"type":"%s"}}}},{"name":"stay","inputSchema":{"type":"object"}}]' "$1"
}
tools_json string >"$TOOLS_FILE"
PLAIN=$(it_start_upstream plain --tools-file "$TOOLS_FILE") || it_fatal "the plain fixture starts"
http POST "$API/api/v1/servers" -H "Authorization: Bearer $PLATFORM" -H 'Content-Type: application/json' \
	--data "{\"name\":\"plain\",\"url\":\"$PLAIN\",\"tenant_id\":null,\"timeout_ms\":5000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the upstream the leader probes"; }

ADMIN=$(it_mint --sub admin --tenant ta --roles admin)
http POST "$API/api/v1/events" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data '{"type":"deployment_status","data":{}}'
[ "$HTTP_CODE" = 202 ] || { show_response; it_fatal "raise an event for the delivery job"; }
EVENT=$(it_json id)

monitor_of() { pgrep -P "$1" -x mcpgw-monitor | head -n1; }
holder() { rcli GET "$LEASE"; }
holder_pid() { holder | sed -n 's/^[^:]*:\([0-9]*\):.*/\1/p'; }
holder_token() { holder | sed -n 's/.*|\([0-9]*\)$/\1/p'; }
acquired() { cat "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" 2>/dev/null | grep -c '"event":"leader_acquired"'; }
dup_periods() { it_psql "SELECT count(*) FROM (SELECT job, period FROM leader_job_runs GROUP BY 1, 2 HAVING count(*) > 1) d"; }
now_ms() { date +%s%3N; }

check "both serves run a monitor" eval '[ -n "$(monitor_of "$SERVE_A")" ] && [ -n "$(monitor_of "$SERVE_B")" ]'
check "one monitor takes the lease" wait_until 10 eval '[ -n "$(holder_pid)" ]'
FIRST=$(holder_pid)
check "the leader is one of the two monitors" \
	eval '[ "$FIRST" = "$(monitor_of "$SERVE_A")" ] || [ "$FIRST" = "$(monitor_of "$SERVE_B")" ]'
check "every job runs" wait_until 10 eval '[ "$(it_psql "SELECT count(DISTINCT job) FROM leader_job_runs")" = 4 ]'
sleep 2
check "exactly one leader: one lease taken, every job run by the same monitor" \
	eval '[ "$(acquired)" = 1 ] && [ "$(it_psql "SELECT count(DISTINCT holder) FROM leader_job_runs")" = 1 ]'
check "the fence holds the leader's token" eval '[ "$(it_psql "SELECT token FROM leader_fence")" = "$(holder_token)" ]'
# --- catalog refresh with schema-change detection ----------------------------------------
changes_seen() {
	it_psql "SELECT count(*) FROM leader_job_runs WHERE job = 'catalog_refresh' AND detail->'schema_changes' @> '[{\"name\":\"plain\",\"tools\":{\"changed\":[\"echo\"],\"added\":[\"new_tool\"]}}]'"
}
check "no schema change is reported while the upstream's tools stay the same" eval '[ "$(changes_seen)" = 0 ]'
tools_json number | sed 's/}]$/},{"name":"new_tool","inputSchema":{"type":"object"}}]/' >"$TOOLS_FILE"
check "the leader's catalog refresh finds the changed schema and the added tool, once" \
	wait_until 10 eval '[ "$(changes_seen)" = 1 ]'
check "... logged as catalog_schema_changed, and the stored catalog follows" \
	eval 'cat "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" | grep -q "\"event\":\"catalog_schema_changed\"" && [ "$(it_psql "SELECT count(*) FROM server_tools WHERE name = '"'new_tool'"'")" = 1 ]'
sleep 2.5
check "... and not again on the next refresh (the stored catalog is the new one)" eval '[ "$(changes_seen)" = 1 ]'
check "health probes are stored on the server's row" \
	eval '[ "$(it_psql "SELECT last_health_status FROM servers WHERE name = '"'plain'"'")" = healthy ]'

# --- a newer token has written: the leader is fenced out ---------------------------------
# As when Redis lost the lease's writes (a failover to a replica that missed
# them) and a successor wrote with a higher token: the fence moves past the
# leader's token. Its next claim fails; it takes the lease again above it.
lost_lines() { cat "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" | grep '"event":"leader_lost"' | grep -c "monitor [^ ]*:$1:"; }
it_psql "UPDATE leader_fence SET token = token + 10" >/dev/null
FENCED_AT=$(it_psql "SELECT clock_timestamp()")
FENCE=$(it_psql "SELECT token FROM leader_fence")
check "a leader whose token is below the fence is fenced out at its next claim" \
	wait_until 10 eval 'cat "$IT_DIR/gateway.log" "$IT_DIR/gateway-b.log" | grep "\"event\":\"leader_lost\"" | grep -q "fenced out"'
check "... and leads again with a token above the fence, its jobs claimed under it" \
	wait_until 10 eval '[ "$(holder_token)" -gt "$FENCE" ] && [ "$(it_psql "SELECT count(*) FROM leader_job_runs WHERE token > $FENCE")" -gt 0 ]'
check "no job run was claimed with the fenced-out token" \
	eval '[ "$(it_psql "SELECT count(*) FROM leader_job_runs WHERE token < $FENCE AND started_at > '"'$FENCED_AT'"'")" = 0 ]'
FIRST=$(holder_pid)

# taken_over LABEL SERVE TOKEN: right after the leader stopped or died, the
# monitor of SERVE takes the lease within its TTL, with a token above TOKEN.
# The lease lapses LEFT ms after that moment; a monitor asks for it every
# 200 ms between the reads of its audit drain (up to 200 ms each), and this
# test looks every 100 ms (each look a redis-cli and a pgrep): 1 s of slack.
taken_over() {
	local t0 t1 left serve=$2 before=$3
	t0=$(now_ms)
	left=$(rcli PTTL "$LEASE")
	check "$1, the other serve's monitor takes the lease" \
		wait_until 10 eval '[ "$(holder_pid)" = "$(monitor_of "$serve")" ]'
	t1=$(now_ms)
	check "... within the lease TTL (${TTL} ms): the lease had $left ms left, taken over after $((t1 - t0)) ms" \
		eval '[ "$left" -le "$TTL" ] && [ $((t1 - t0)) -le $((left + 1000)) ]'
	check "... with a higher fencing token" eval '[ "$(holder_token)" -gt "$before" ]'
}

# --- a leader that hangs loses the lease, and steps down when it wakes -------------------
if [ "$FIRST" = "$(monitor_of "$SERVE_A")" ]; then OTHER=$SERVE_B; else OTHER=$SERVE_A; fi
TOKEN1=$(holder_token)
LOST_BEFORE=$(lost_lines "$FIRST")
kill -STOP "$FIRST"
taken_over "while the leader hangs" "$OTHER" "$TOKEN1"
sleep 1
kill -CONT "$FIRST"
check "the woken leader sees it lost the lease and steps down" \
	wait_until 10 eval '[ "$(lost_lines "$FIRST")" -gt "$LOST_BEFORE" ]'
sleep 2
check "the woken monitor claimed no job run after the takeover" \
	eval '[ "$(it_psql "SELECT count(*) FROM leader_job_runs WHERE token = $TOKEN1 AND started_at > (SELECT min(started_at) FROM leader_job_runs WHERE token > $TOKEN1)")" = 0 ]'

# --- SIGKILL the leader's host process and all its children --------------------------
LEADER=$(holder_pid)
LEADER_SERVE=$(ps -o ppid= -p "$LEADER" | tr -d ' ')
if [ "$LEADER_SERVE" = "$SERVE_A" ]; then SURVIVOR=$SERVE_B; else SURVIVOR=$SERVE_A; fi
TOKEN2=$(holder_token)
check "the leader's host process is one of the two serves" \
	eval '[ "$LEADER_SERVE" = "$SERVE_A" ] || [ "$LEADER_SERVE" = "$SERVE_B" ]'
# serve runs in a session of its own (setsid): its process group is the host.
kill -KILL -- "-$LEADER_SERVE"
taken_over "after SIGKILL of the leader's serve" "$SURVIVOR" "$TOKEN2"
TOKEN3=$(holder_token)
check "the new leader runs every job" \
	wait_until 10 eval '[ "$(it_psql "SELECT count(DISTINCT job) FROM leader_job_runs WHERE token = $TOKEN3")" = 4 ]'
sleep 2

# --- never twice in one period ----------------------------------------------------------
serve_stop "$IT_DIR/serve.pid"
serve_stop "$IT_DIR/serve-b.pid"
check "no job ran twice in one period, across four leaderships" eval '[ "$(dup_periods)" = 0 ]'
check "the event's deliveries were attempted by every leadership, each attempt recorded once" \
	eval '[ "$(it_psql "SELECT min(attempts) FROM event_deliveries WHERE event_id = '"'$EVENT'"'")" -ge 4 ] && [ "$(it_psql "SELECT count(DISTINCT token) FROM leader_job_runs WHERE job = '"'event_delivery'"'")" -ge 4 ]'
check "job runs of four leaderships were counted" \
	eval '[ "$(it_psql "SELECT count(DISTINCT token) FROM leader_job_runs")" -ge 4 ]'
RUNS=$(it_psql "SELECT count(*) FROM leader_job_runs WHERE job IN ('health_probes', 'catalog_refresh')")
INITS=$(grep -c '"rpc":"initialize"' "$(it_upstream_file "$PLAIN" rec)")
check "the upstream saw no more initializes than registration + claimed probe and refresh runs ($INITS <= 1 + $RUNS)" \
	eval '[ "$INITS" -le $((1 + RUNS)) ] && [ "$INITS" -ge 3 ]'
check "every finished run is recorded with its outcome" \
	eval '[ "$(it_psql "SELECT count(*) FROM leader_job_runs WHERE status = '"'ok'"' AND finished_at IS NOT NULL")" -ge 8 ]'
it_check_sanitizer_logs
check "no sanitizer reports in the second serve's log" \
	eval '! grep -Eq "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$IT_DIR/gateway-b.log"'
