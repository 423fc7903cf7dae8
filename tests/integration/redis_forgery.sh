#!/usr/bin/env bash
# What whoever can write to Redis (or a bad day) does to the orchestration's
# keys, and what the gateway makes of it: a fleet leader's counter that is no
# number, or a lease that never expires or is not `holder|token`, leaves the
# fleet with a leader (a new token above the fence) rather than none for
# ever; an upstream pool's counter written by hand (above capacity with no
# holder, below 0, or no number) neither shuts the pool for ever nor lets it
# take more than its max_concurrency. And from the caller's side of a
# delegation: an agent that never answers initialize still gets the caller
# its 202 after wait_ms, and credentials named in other spellings (camelCase,
# X-Api-Key, db_password) never reach the agent.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_LEADER_LEASE_TTL_MS=3000
it_start_stores
it_setup_gateway
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
api() {
	local m=$1 p=$2
	shift 2
	http "$m" "$API$p" -H "Authorization: Bearer $PLATFORM" -H 'Content-Type: application/json' "$@"
}
acquired() { grep -c '"event":"leader_acquired"' "$IT_DIR/gateway.log"; }
lease() { rcli GET mreg:leader:lease; }

# --- the fleet leader's lease and counter ------------------------------------------
wait_until 10 eval '[ "$(acquired)" -ge 1 ]' || it_fatal "a monitor leads"
rcli SET mreg:leader:token not-a-number >/dev/null
rcli DEL mreg:leader:lease >/dev/null
check "a leader counter that is no number: a monitor leads, the counter counts again" \
	wait_until 10 eval 'lease | grep -Eq "^vm:.*\|[1-9][0-9]*\$" && rcli GET mreg:leader:token | grep -Eq "^[1-9][0-9]*\$"'
check "a leader counter that is no number: the lease script never failed" \
	eval '! grep -q leader_lease_error "$IT_DIR/gateway.log"'
n1=$(acquired)
rcli SET mreg:leader:lease 'intruder|999999' >/dev/null
check "a lease that never expires holds nobody: a monitor takes it over" \
	wait_until 10 eval '[ "$(acquired)" -gt "$n1" ] && ! lease | grep -q intruder'
n2=$(acquired)
rcli SET mreg:leader:lease 'no token here' PX 600000 >/dev/null
check "a lease that is not holder|token holds nobody: a monitor takes it over" \
	wait_until 10 eval '[ "$(acquired)" -gt "$n2" ] && lease | grep -Eq "\|[0-9]+\$"'
n3=$(acquired)
rcli SET mreg:leader:lease 'intruder|5' PX 1500 >/dev/null
check "a well-formed lease of another holder is still respected until it lapses" \
	eval 'sleep 0.6; lease | grep -q intruder'
check "... and taken after it lapses" wait_until 10 eval '[ "$(acquired)" -gt "$n3" ] && ! lease | grep -q intruder'

# --- an upstream pool's counter -------------------------------------------------------
AG=$(it_start_upstream agent --name forged --tasks dual_server_debugging) || it_fatal "agent fixture starts"
REC=$(it_upstream_file "$AG" rec)
api POST /api/v1/servers --data "{\"name\":\"forged\",\"url\":\"$AG\",\"agent_roles\":[\"mcp-debugger\"],\"tenant_id\":null,\"max_concurrency\":2,\"timeout_ms\":8000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the agent server"; }
SID=$(it_json server_id)
N="mreg:{pools}:n:upstream:$SID"
task() { api POST /api/v1/tasks --data "$1"; }

rcli SET "$N" 1000 >/dev/null
task '{"type":"dual_server_debugging","context":{}}'
check "a pool counter above capacity with no holder: the delegation goes through (got $HTTP_CODE)" \
	eval '[ "$HTTP_CODE" = 200 ]'
rcli --scan --pattern 'mreg:{pools}*' | diag
check "... and the counter is 0 again" wait_until 5 eval '[ "$(rcli GET "$N")" = "" ] || [ "$(rcli GET "$N")" = 0 ]'
rcli SET "$N" many >/dev/null
task '{"type":"dual_server_debugging","context":{}}'
check "a pool counter that is no number: the delegation goes through (got $HTTP_CODE)" \
	eval '[ "$HTTP_CODE" = 200 ]'

# One call in flight (3 s); the counter set below 0 must not let two more in
# beside it (max_concurrency 2): of two more at once, one is busy.
bg() {
	(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 20 -o "$IT_DIR/$1.body" -w '%{http_code}' \
		-X POST -H "Authorization: Bearer $PLATFORM" -H 'Content-Type: application/json' --data "$2" \
		"$API/api/v1/tasks" >"$IT_DIR/$1.code" 2>/dev/null) &
	BG+=("$!")
}
BG=()
bg long '{"type":"dual_server_debugging","context":{"wait_ms":3000}}'
wait_until 5 eval '[ "$(rcli ZCARD "mreg:{pools}:r:upstream:$SID")" = 1 ]' ||
	{ rcli --scan --pattern 'mreg:{pools}*' | diag; it_fatal "the long call holds its slot"; }
rcli SET "$N" -50 >/dev/null
bg two '{"type":"dual_server_debugging","context":{"wait_ms":1500}}'
bg three '{"type":"dual_server_debugging","context":{"wait_ms":1500}}'
for p in "${BG[@]}"; do wait "$p"; done
codes="$(cat "$IT_DIR/long.code") $({ cat "$IT_DIR/two.code"; echo; cat "$IT_DIR/three.code"; echo; } | sort | tr '\n' ' ')"
check "a pool counter below 0 lets no more in than max_concurrency (got $codes)" \
	eval '[ "$codes" = "200 200 503 " ]'
check "... and everything is given back after" \
	wait_until 5 eval '[ "$(rcli ZCARD "mreg:{pools}:r:upstream:$SID")" = 0 ] && { [ "$(rcli GET "$N")" = "" ] || [ "$(rcli GET "$N")" = 0 ]; }'

# --- credentials in other spellings ---------------------------------------------------
task '{"type":"dual_server_debugging","context":{"accessToken":"SECRET-A","X-Api-Key":"SECRET-B","db_password":"SECRET-C","nested":[{"aws_secret_access_key":"SECRET-D","Bearer":"SECRET-E"}],"max_tokens":5}}'
T1=$(it_json id)
check "credentials named in other spellings reach neither the agent nor the task row" \
	eval '[ "$HTTP_CODE" = 200 ] && ! grep -q SECRET- "$REC" && [ "$(it_psql "SELECT (context::text LIKE '"'%SECRET%'"')::text FROM tasks WHERE id = '"'$T1'"'")" = false ]'
check "... while a member that only looks alike (max_tokens) is kept" \
	eval '[ "$(it_psql "SELECT context->>'"'max_tokens'"' FROM tasks WHERE id = '"'$T1'"'")" = 5 ]'

# --- an agent that never answers initialize --------------------------------------------
ST=$(it_start_upstream agent --name stalled) || it_fatal "stalled agent fixture starts"
api POST /api/v1/servers --data "{\"name\":\"stalled\",\"url\":\"$ST\",\"agent_roles\":[\"mcp-protocol-expert\"],\"tenant_id\":null,\"timeout_ms\":8000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the stalled agent server"; }
SPID=$(cat "$(it_upstream_file "$ST" pid)")
kill -STOP "$SPID"
it_cleanup_add kill -CONT "$SPID"
t0=$(date +%s%N)
task '{"type":"capability_negotiation","context":{},"timeout_ms":8000,"wait_ms":500}'
ms=$((($(date +%s%N) - t0) / 1000000))
check "an agent that never answers initialize: 202 after wait_ms, not the whole timeout (${ms} ms, $HTTP_CODE)" \
	eval '[ "$HTTP_CODE" = 202 ] && [ "$ms" -lt 4000 ]'
T2=$(it_json id)
check "... and the task ends timed_out within its timeout" \
	wait_until 15 eval 'api GET "/api/v1/tasks/$T2"; [ "$(it_json status)" = timed_out ]'
kill -CONT "$SPID"

it_check_sanitizer_logs
