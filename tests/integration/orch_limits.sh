#!/usr/bin/env bash
# Limits and leases of orchestration. A delegated task is a tools/call on its
# agent's server, so it takes a slot of that server's max_concurrency pool,
# and a full pool refuses the task as busy (503, Retry-After) instead of
# piling calls on the server; an event delivery takes a slot too, and one
# refused busy is made again at its retry. Load leases run on Redis's clock: a host whose
# wall clock runs ahead neither reaps nor discounts a delegation in flight.
# A backlog of events for a slow agent does not hold the fleet leader's other
# jobs back: each delivery run stops after one lease's length.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
# A short leader lease (a delivery takes a third of it at most), frequent cleanup.
export MCPGW_LEADER_LEASE_TTL_MS=3000
export MCPGW_LEADER_EVENTS_PERIOD_MS=300
export MCPGW_LEADER_CLEANUP_PERIOD_MS=500
export MCPGW_LEADER_HEALTH_PERIOD_MS=600000
export MCPGW_LEADER_CATALOG_PERIOD_MS=600000
WORKERS=${WORKERS:-4}
it_start_stores
it_setup_gateway
it_start_serve
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)

api() {
	local m=$1 p=$2 tok=$3
	shift 3
	http "$m" "$API$p" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"
}
task() { api POST /api/v1/tasks "$1" --data "$2"; }

D1=$(it_start_upstream agent --name d1 --tasks dual_server_debugging) || it_fatal "agent fixture d1 starts"
REC1=$(it_upstream_file "$D1" rec)
api POST /api/v1/servers "$ADMIN_A" --data "{\"name\":\"debug-1\",\"url\":\"$D1\",\"agent_roles\":[\"mcp-debugger\"],\"max_concurrency\":1,\"timeout_ms\":15000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register agent server debug-1 (max_concurrency 1)"; }

# --- a delegation holds a slot of its server's pool -----------------------------------
task "$USER_A" '{"type":"dual_server_debugging","wait_ms":0,"context":{"wait_ms":4000}}'
check "a slow delegation is accepted (202)" test "$HTTP_CODE" = 202
wait_until 5 eval 'grep -q "\"call\":\"dual_server_debugging\"" "$REC1"'
task "$USER_A" '{"type":"dual_server_debugging","context":{"wait_ms":10}}'
CALLS=$(grep -c '"call":"dual_server_debugging"' "$REC1")
check "a second delegation to a server with max_concurrency 1 already busy: 503 busy with Retry-After" eval \
	'[ "$HTTP_CODE" = 503 ] && [ "$(it_json reason)" = busy ] && [ -n "$(header Retry-After)" ]'
check "and the server saw one call only" test "$CALLS" = 1
wait_until 10 eval 'task "$USER_A" "{\"type\":\"dual_server_debugging\"}"; [ "$HTTP_CODE" = 200 ]'
check "once the first call is over the slot is free again: 200" test "$HTTP_CODE" = 200
api GET /api/v1/agents/mcp-debugger "$ADMIN_A"
check "and the agent's load is 0 again" test "$(it_json load)" = 0

# --- load leases run on Redis's clock, not on one host's -------------------------------
SKEW=$top_builddir/tests/integration/clockskew.so
[ -f "$SKEW" ] || it_fatal "clockskew.so built"
task "$USER_A" '{"type":"dual_server_debugging","wait_ms":0,"context":{"wait_ms":4000}}'
TS=$(it_json id)
wait_until 5 eval 'api GET /api/v1/agents/mcp-debugger "$ADMIN_A"; [ "$(it_json load)" = 1 ]'
LD_PRELOAD=$SKEW CLOCK_SKEW_MS=120000 "$GATEWAY" tasks reap --config "$CONF" >"$IT_DIR/reap-skew.out" 2>&1
check "a host whose clock runs two minutes ahead reaps no lease of a delegation in flight" \
	grep -q '^reaped 0 ' "$IT_DIR/reap-skew.out" || diag <"$IT_DIR/reap-skew.out"
api GET "/api/v1/tasks/$TS" "$USER_A"
check "the task still reads running" test "$(it_json status)" = running
api GET /api/v1/agents/mcp-debugger "$ADMIN_A"
check "and its load is still counted" test "$(it_json load)" = 1
wait_until 10 eval 'api GET "/api/v1/tasks/$TS" "$USER_A"; [ "$(it_json status)" = completed ]'
check "the delegation completes and is recorded completed" test "$(it_json status)" = completed

# --- a slow task insert does not let the lease lapse mid-call ---------------------------
# The tasks table is locked for 3 s, longer than the lease's margin: the
# delegation's deadline (4 s) still counts from when it was taken, so its call
# ends before its lease does and the leader's cleanup (every 0.5 s) never
# takes it for one whose responder died.
it_psql "BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
wait_until 5 eval '[ "$(it_psql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '"'"'tasks'"'"' AND l.mode = '"'"'AccessExclusiveLock'"'"' AND l.granted")" = 1 ]'
task "$USER_A" '{"type":"dual_server_debugging","timeout_ms":4000,"context":{"wait_ms":8000}}'
wait "$LOCKER"
TL=$(it_json task_id)
sleep 1
api GET "/api/v1/tasks/$TL" "$USER_A"
check "a delegation whose insert waited 3 s times out by its own deadline, not reaped as a dead responder's" \
	eval '[ -n "$TL" ] && [ "$(it_json status)" = timed_out ] && ! it_json error | grep -q lease' ||
	diag <"$IT_DIR/last.body"

# --- an outcome that cannot be recorded leaves the task to its lease ---------------------
# PostgreSQL is down when the call ends: the task cannot be recorded finished,
# so its lease is kept, and once it expires the leader's cleanup records the
# task failed instead of it reading running for ever.
task "$USER_A" '{"type":"dual_server_debugging","timeout_ms":5000,"wait_ms":0,"context":{"wait_ms":3000}}'
TP=$(it_json id)
check "a delegation of 3 s is accepted (202)" eval '[ "$HTTP_CODE" = 202 ] && [ -n "$TP" ]'
pg_stop "$IT_DIR/pg"
wait_until 10 eval 'grep -q "\"done\":\"dual_server_debugging\",\"task_id\":\"$TP\"" "$REC1"'
sleep 1
pg_start "$IT_DIR/pg" "$(cat "$IT_DIR/pg/pg.port")" mcpgw >/dev/null 2>&1 || it_fatal "restart postgres"
wait_until 20 eval 'api GET "/api/v1/tasks/$TP" "$USER_A"; [ "$(it_json status)" = failed ]'
check "a delegation whose outcome PostgreSQL could not take is settled failed when its lease expires" \
	eval '[ "$(it_json status)" = failed ] && it_json error | grep -q lease'

# --- an event delivery takes a call slot as a delegation does ----------------------------
P1=$(it_start_upstream agent --name p1 --tasks handle_protocol_violation) || it_fatal "agent fixture p1 starts"
RECP=$(it_upstream_file "$P1" rec)
api POST /api/v1/servers "$ADMIN_A" --data "{\"name\":\"proto-1\",\"url\":\"$P1\",\"agent_roles\":[\"mcp-protocol-expert\"],\"max_concurrency\":1,\"timeout_ms\":15000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register agent server proto-1 (max_concurrency 1)"; }
task "$USER_A" '{"type":"capability_negotiation","wait_ms":0,"context":{"wait_ms":4000}}'
check "a slow delegation to proto-1 is accepted (202)" test "$HTTP_CODE" = 202
wait_until 5 eval 'grep -q "\"call\":\"handle_task\"" "$RECP"'
api POST /api/v1/events "$ADMIN_A" --data '{"type":"protocol_violation"}'
EVP=$(it_json id)
expert() { jq -r ".deliveries[] | select(.agent == \"mcp-protocol-expert\") | .$1" "$IT_DIR/last.body"; }
wait_until 20 eval 'api GET "/api/v1/events/$EVP" "$ADMIN_A"; [ "$(expert status)" = delivered ]'
check "an event for an agent whose only server (max_concurrency 1) is busy waits for a free slot: refused busy, delivered later" \
	eval '[ "$(expert status)" = delivered ] && [ "$(expert attempts)" -ge 2 ] && expert last_error | grep -q "is busy"'

# --- slow event deliveries do not hold the leader's other jobs back ---------------------
SLOW=$(it_start_upstream event_agent --name slow --tools handle_performance_degradation --delay-ms 700 \
	--calls "$IT_DIR/slow.calls") || it_fatal "the slow event agent starts"
api POST /api/v1/servers "$ADMIN_A" --data "{\"name\":\"slow-perf\",\"url\":\"$SLOW\",\"agent_roles\":[\"mcp-performance-optimizer\"],\"timeout_ms\":5000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the slow event agent"; }
T0=$(it_psql "SELECT clock_timestamp()")
for i in $(seq 1 20); do
	api POST /api/v1/events "$ADMIN_A" --data "{\"type\":\"performance_degradation\",\"data\":{\"n\":$i}}"
	[ "$HTTP_CODE" = 202 ] || { show_response; it_fatal "raise event $i"; }
done
wait_until 40 eval '[ "$(grep -c "\"outcome\":\"ok\"" "$IT_DIR/slow.calls")" -ge 20 ]'
check "every one of twenty events reaches an agent that takes 0.7 s for each" \
	eval '[ "$(grep -c "\"outcome\":\"ok\"" "$IT_DIR/slow.calls")" -ge 20 ]'
# The widest gap between two runs of the leader's lease cleanup (every 0.5 s)
# while that backlog was delivered: a delivery run stops after one lease (3 s).
GAP=$(it_psql "SELECT coalesce(max(extract(epoch FROM started_at - prev)), 0)::numeric(6,1) FROM
	(SELECT started_at, lag(started_at) OVER (ORDER BY started_at) AS prev FROM leader_job_runs
	 WHERE job = 'lease_cleanup' AND started_at > '$T0') g WHERE prev IS NOT NULL")
check "meanwhile the leader's other jobs kept running: lease cleanup at most 6 s apart (widest gap $GAP s)" \
	eval 'awk "BEGIN { exit !($GAP > 0 && $GAP <= 6) }"'

it_check_sanitizer_logs
