#!/usr/bin/env bash
# Orchestration through lighttpd with specialist agents that are real MCP
# servers (official SDK, tests/node/agent.mjs): the seeded agents and routing
# matrix, delegation to the least-loaded server with the delegation context,
# tasks recorded and tenant-scoped, synchronous answers or 202, distinct
# refusals, load that rises and falls around every call, a responder SIGKILLed
# mid-delegation whose lease expires and is reaped, gateway__delegate_task on
# the MCP plane, coordination plans, and every change audited.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
# The leases this test lets expire are reaped by `mcp-gateway tasks reap`, not
# by the fleet leader's cleanup job racing it.
export MCPGW_LEADER_CLEANUP_PERIOD_MS=86400000
# Two responder pools as two hosts: lighttpd ($API) and Apache mod_proxy_fcgi ($API_B).
WORKERS=${WORKERS:-5}
it_start_two_pools

PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
USER_B=$(it_mint --sub user-b --tenant tb --roles user)
OPER_B=$(it_mint --sub oper-b --tenant tb --roles operator)
JOSE=${USER_A%%.*}

# api METHOD PATH TOKEN [CURL-ARGS...]
api() {
	local m=$1 p=$2 tok=$3
	shift 3
	http "$m" "$API$p" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@"
}
task() { api POST /api/v1/tasks "$1" --data "$2"; }
reason() { it_json reason; }
# load AGENT [SERVER-NAME]: live load of the agent (or of one of its servers).
load() {
	api GET "/api/v1/agents/$1" "$PLATFORM"
	if [ $# -eq 1 ]; then it_json load; else jq -r --arg n "$2" '.servers[] | select(.name == $n) | .load' "$IT_DIR/last.body"; fi
}
# bg_task NAME TOKEN BODY: POST /api/v1/tasks in the background; answer in $IT_DIR/NAME.{code,body}.
bg_task() {
	(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 30 -o "$IT_DIR/$1.body" -w '%{http_code}' \
		-X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data "$3" \
		"$API/api/v1/tasks" >"$IT_DIR/$1.code" 2>/dev/null) &
	BG_PIDS+=("$!")
}
# bg_task_on BASE NAME TOKEN BODY: the same through another web server.
bg_task_on() {
	(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 30 -o "$IT_DIR/$2.body" -w '%{http_code}' \
		-X POST -H "Authorization: Bearer $3" -H 'Content-Type: application/json' --data "$4" \
		"$1/api/v1/tasks" >"$IT_DIR/$2.code" 2>/dev/null) &
	BG_PIDS+=("$!")
}
# bg_wait: the background tasks started so far have answered.
bg_wait() {
	local p
	for p in "${BG_PIDS[@]}"; do wait "$p"; done
	BG_PIDS=()
}
BG_PIDS=()

D1=$(it_start_upstream agent --name d1 --tasks dual_server_debugging) || it_fatal "agent fixture d1 starts"
D2=$(it_start_upstream agent --name d2 --tasks dual_server_debugging) || it_fatal "agent fixture d2 starts"
REC1=$(it_upstream_file "$D1" rec) REC2=$(it_upstream_file "$D2" rec)
for n in 1 2; do
	url=D$n
	api POST /api/v1/servers "$ADMIN_A" --data "{\"name\":\"debug-$n\",\"url\":\"${!url}\",\"agent_roles\":[\"mcp-debugger\"],\"timeout_ms\":15000}"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register agent server debug-$n"; }
	[ $n = 1 ] && REG_PHASES=$(it_json phases_completed)
done

# --- the seeded agents and routing matrix --------------------------------------------
api GET /api/v1/agents "$PLATFORM"
check "GET /api/v1/agents lists the seed's six specialists, all active" eval \
	'[ "$HTTP_CODE" = 200 ] && [ "$(jq "[.agents[] | select(.status == \"active\")] | length" "$IT_DIR/last.body")" = 6 ] &&
	 [ "$(jq -r "[.agents[].name] | sort | join(\",\")" "$IT_DIR/last.body")" = "fastmcp-specialist,mcp-debugger,mcp-deployment-specialist,mcp-performance-optimizer,mcp-protocol-expert,mcp-security-auditor" ]'
check "mcp-debugger is served by both registered agent servers, load 0" eval \
	'[ "$(jq -r ".agents[] | select(.name == \"mcp-debugger\") | [.load, (.servers | length), (.servers | map(.load) | add)] | join(\",\")" "$IT_DIR/last.body")" = 0,2,0 ]'
api GET /api/v1/routing "$PLATFORM"
check "GET /api/v1/routing: the seed's 24 task types and 5 quality-check routes" eval \
	'[ "$(jq "[.rules[] | select(.kind == \"task\")] | length" "$IT_DIR/last.body")" = 24 ] &&
	 [ "$(jq "[.rules[] | select(.kind == \"quality_check\")] | length" "$IT_DIR/last.body")" = 5 ] &&
	 [ "$(jq -r ".rules[] | select(.task_type == \"capability_negotiation\") | .agent" "$IT_DIR/last.body")" = mcp-protocol-expert ]'
api GET /api/v1/agents/mcp-debugger "$OPER_B"
check "another tenant's operator sees the agent but none of tenant ta's servers" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq ".servers | length" "$IT_DIR/last.body")" = 0 ] && ! body_has debug-1'
api GET /api/v1/agents/no-such-agent "$PLATFORM"
check "an unknown agent: 404" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'
api GET /api/v1/agents "$USER_A"
check "a user may not list agents (operator and up): 403" test "$HTTP_CODE" = 403

# --- synchronous delegation with the delegation context --------------------------------
task "$USER_A" '{"type":"dual_server_debugging","context":{"issue":"handshake","session_id":"sess-1","redis_keys":["mreg:x"],"auth_context":{"token":"SECRET-TOKEN-1"},"password":"SECRET-PW-1"}}'
T1=$(it_json id)
check "POST /api/v1/tasks routes dual_server_debugging to mcp-debugger and answers the completed task" eval \
	'[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = completed ] && [ "$(it_json agent)" = mcp-debugger ] &&
	 [ "$(it_json url)" = "/api/v1/tasks/$T1" ] && [ -n "$(it_json finished_at)" ]'
check "the agent's tool named after the task type ran" test "$(it_json result.structuredContent.tool)" = dual_server_debugging
R=result.structuredContent.received
check "delegation context: task id, requesting and target agent, type, timestamp, context" eval \
	'[ "$(it_json $R.task_id)" = "$T1" ] && [ "$(it_json $R.requesting_agent)" = mcp-orchestrator ] &&
	 [ "$(it_json $R.target_agent)" = mcp-debugger ] && [ "$(it_json $R.task_type)" = dual_server_debugging ] &&
	 [[ "$(it_json $R.timestamp)" == 20*T*Z ]] && [ "$(it_json $R.context.issue)" = handshake ]'
check "session preservation: session id, redis keys, the caller's identity (tenant, roles), no token" eval \
	'[ "$(it_json $R.session_preservation.session_id)" = sess-1 ] &&
	 [ "$(it_json $R.session_preservation.redis_keys.0)" = mreg:x ] &&
	 [ "$(it_json $R.session_preservation.auth_context.tenant_id)" = ta ] &&
	 [ "$(it_json $R.session_preservation.auth_context.roles.0)" = user ] &&
	 [ "$(it_json $R.session_preservation.auth_context.token)" = null ]'
check "no secret of the context and no client token reaches an agent" eval \
	'! grep -q -e SECRET- -e "$JOSE" "$REC1" "$REC2"'
ROW=$(it_psql "SELECT concat_ws(',', status, agent, (started_at <= finished_at)::text, (result ? 'structuredContent')::text, (context::text LIKE '%SECRET%')::text) FROM tasks WHERE id = '$T1'")
check "the task is recorded: status, agent, timings, result, context without secrets" \
	test "$ROW" = "completed,mcp-debugger,true,true,false"

task "$USER_A" '{"type":"dual_server_debugging","context":{"github_token":"SECRET-GH","apiKey":"SECRET-AK","db":{"DB_PASSWORD":"SECRET-DB","X-Api-Key":"SECRET-XK","clientSecret":"SECRET-CS"},"max_tokens":7}}'
T2=$(it_json id)
check "members named like credentials in other spellings (github_token, apiKey, DB_PASSWORD, X-Api-Key, clientSecret) reach no agent nor the record" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json $R.context.max_tokens)" = 7 ] && ! grep -q SECRET- "$REC1" "$REC2" &&
	 [ "$(it_psql "SELECT (context::text LIKE '"'"'%SECRET%'"'"')::text FROM tasks WHERE id = '"'"'$T2'"'"'")" = false ]'

task "$USER_A" '{"type":"middleware_issues","context":{}}'
check "a type without its own tool goes to the agent's handle_task" eval \
	'[ "$HTTP_CODE" = 200 ] && [ "$(it_json result.structuredContent.tool)" = handle_task ] && [ "$(it_json agent)" = mcp-debugger ]'

api GET "/api/v1/tasks/$T1" "$USER_A"
check "GET /api/v1/tasks/{id}: the requester sees the task" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = completed ]'
api GET "/api/v1/tasks/$T1" "$USER_B"
check "another tenant's user gets 404 for it" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'
api GET "/api/v1/tasks/$T1" "$PLATFORM"
check "platform_admin sees it" test "$HTTP_CODE" = 200

# --- distinct refusals ------------------------------------------------------------
task "$USER_A" '{"type":"no_such_type"}'
check "unknown task type: 422 unknown_task_type" eval '[ "$HTTP_CODE" = 422 ] && [ "$(reason)" = unknown_task_type ] && is_problem_json'
task "$USER_A" '{"type":"dual_server_debugging","agent":"nobody"}'
check "unknown agent: 422 unknown_agent" eval '[ "$HTTP_CODE" = 422 ] && [ "$(reason)" = unknown_agent ]'
task "$USER_A" '{"type":"azure_oauth_setup"}'
check "an agent with no server: 503 no_healthy_server, Retry-After" eval \
	'[ "$HTTP_CODE" = 503 ] && [ "$(reason)" = no_healthy_server ] && [ -n "$(header Retry-After)" ] && body_has mcp-security-auditor'
task "$USER_B" '{"type":"dual_server_debugging"}'
check "another tenant's servers do not serve a delegation: 503 no_healthy_server" eval \
	'[ "$HTTP_CODE" = 503 ] && [ "$(reason)" = no_healthy_server ]'
task "$USER_A" '{"type":"dual_server_debugging","context":[]}'
check "a context that is not an object: 400 naming the field" eval '[ "$HTTP_CODE" = 400 ] && [ "$(it_json field)" = context ]'
api PUT /api/v1/agents/mcp-debugger "$ADMIN_A" --data '{"status":"inactive"}'
check "an admin may not change a fleet-wide agent: 403" test "$HTTP_CODE" = 403
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"inactive"}'
check "PUT /api/v1/agents/{name} sets inactive" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = inactive ]'
task "$USER_A" '{"type":"dual_server_debugging"}'
check "inactive agent: 409 agent_inactive" eval '[ "$HTTP_CODE" = 409 ] && [ "$(reason)" = agent_inactive ]'
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"draining"}'
task "$USER_A" '{"type":"dual_server_debugging"}'
check "draining agent: 409 agent_draining" eval '[ "$HTTP_CODE" = 409 ] && [ "$(reason)" = agent_draining ]'
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"sleepy"}'
check "an unknown status: 400 naming status" eval '[ "$HTTP_CODE" = 400 ] && [ "$(it_json field)" = status ]'
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"active"}'
check "back to active" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = active ]'

for n in 1 2; do
	api GET "/api/v1/servers?agent_role=mcp-debugger" "$ADMIN_A"
	id=$(jq -r --arg n "debug-$n" '.servers[] | select(.name == $n) | .id' "$IT_DIR/last.body")
	api POST "/api/v1/servers/$id/maintenance" "$ADMIN_A" --data ''
	[ "$HTTP_CODE" = 200 ] || { show_response; not_ok "maintenance on for debug-$n"; }
done
task "$USER_A" '{"type":"dual_server_debugging"}'
check "every server of the agent in maintenance: 503 no_healthy_server" eval \
	'[ "$HTTP_CODE" = 503 ] && [ "$(reason)" = no_healthy_server ]'
api GET "/api/v1/servers?agent_role=mcp-debugger" "$ADMIN_A"
for id in $(jq -r '.servers[].id' "$IT_DIR/last.body"); do api DELETE "/api/v1/servers/$id/maintenance" "$ADMIN_A"; done
task "$USER_A" '{"type":"dual_server_debugging"}'
check "out of maintenance they serve again" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = completed ]'

# --- load rises and falls; the least-loaded server is picked ---------------------------
bg_task slow1 "$USER_A" '{"type":"dual_server_debugging","context":{"wait_ms":3000}}'
wait_until 5 eval '[ "$(load mcp-debugger)" = 1 ]'
check "load rises during a delegation: agent 1, one server 1, the other 0" eval \
	'[ "$(load mcp-debugger)" = 1 ] && [ "$(($(load mcp-debugger debug-1) + $(load mcp-debugger debug-2)))" = 1 ]'
BUSY=debug-1
[ "$(load mcp-debugger debug-2)" = 1 ] && BUSY=debug-2
bg_task slow2 "$USER_A" '{"type":"dual_server_debugging","context":{"wait_ms":2000}}'
wait_until 5 eval '[ "$(load mcp-debugger)" = 2 ]'
check "the next delegation goes to the least-loaded server: each server 1" eval \
	'[ "$(load mcp-debugger)" = 2 ] && [ "$(load mcp-debugger debug-1)" = 1 ] && [ "$(load mcp-debugger debug-2)" = 1 ]'
bg_wait
check "both slow delegations completed" eval \
	'[ "$(cat "$IT_DIR/slow1.code")" = 200 ] && [ "$(cat "$IT_DIR/slow2.code")" = 200 ] &&
	 [ "$(jq -r .server_id "$IT_DIR/slow1.body")" != "$(jq -r .server_id "$IT_DIR/slow2.body")" ]'
check "load falls back to 0 on the agent and each server when the calls end" eval \
	'[ "$(load mcp-debugger)" = 0 ] && [ "$(load mcp-debugger debug-1)" = 0 ] && [ "$(load mcp-debugger debug-2)" = 0 ]'

# Eight at once through both pools: one Lua script picks and leases, so the
# two hosts never pick on a stale count and the eight spread four and four.
for i in 1 2 3 4; do
	bg_task_on "$API" "fleet-a$i" "$USER_A" '{"type":"dual_server_debugging","context":{"wait_ms":2500}}'
	bg_task_on "$API_B" "fleet-b$i" "$USER_A" '{"type":"dual_server_debugging","context":{"wait_ms":2500}}'
done
bg_wait
PER_SERVER=$(cat "$IT_DIR"/fleet-*.body | jq -r .server_id | sort | uniq -c | awk '{print $1}' | sort | paste -sd, -)
check "8 concurrent delegations through two responder pools: all completed, 4 on each server" eval \
	'[ "$(cat "$IT_DIR"/fleet-*.code | tr -d "\n")" = 200200200200200200200200 ] && [ "$PER_SERVER" = 4,4 ]'
check "and the load is 0 again everywhere" eval \
	'[ "$(load mcp-debugger)" = 0 ] && [ "$(load mcp-debugger debug-1)" = 0 ] && [ "$(load mcp-debugger debug-2)" = 0 ]'

task "$USER_A" '{"type":"dual_server_debugging","context":{"fail":"the probe broke"}}'
check "a tool error: 502 task_failed with the recorded task and the agent's message" eval \
	'[ "$HTTP_CODE" = 502 ] && [ "$(reason)" = task_failed ] && [ "$(it_json task.status)" = failed ] &&
	 body_has "the probe broke" && [ "$(load mcp-debugger)" = 0 ]'

task "$USER_A" '{"type":"dual_server_debugging","context":{"nul":true}}'
TN=$(it_json task_id)
ROW=$(it_psql "SELECT status || ',' || (result IS NULL)::text || ',' || (error LIKE '%could not be stored%')::text FROM tasks WHERE id = '$TN'")
check "a result jsonb cannot hold is recorded failed (not left running), without it" \
	eval '[ "$HTTP_CODE" = 502 ] && [ "$(reason)" = task_failed ] && [ "$ROW" = "failed,true,true" ]'
task "$USER_A" '{"type":"dual_server_debugging","context":{"x":"a\u0000b"}}'
check "a context with a NUL character: 400 naming context" eval '[ "$HTTP_CODE" = 400 ] && [ "$(it_json field)" = context ]'

task "$USER_A" '{"type":"dual_server_debugging","timeout_ms":1000,"context":{"wait_ms":4000}}'
check "an agent slower than timeout_ms: 504 task_timed_out, recorded timed_out, load given back" eval \
	'[ "$HTTP_CODE" = 504 ] && [ "$(reason)" = task_timed_out ] && [ "$(it_json task.status)" = timed_out ] &&
	 [ "$(load mcp-debugger)" = 0 ]'
task "$USER_A" '{"type":"capability_negotiation","agent":"mcp-debugger","requesting_agent":"mcp-security-auditor"}'
check "a named agent overrides the routing matrix; the requesting agent is carried" eval \
	'[ "$HTTP_CODE" = 200 ] && [ "$(it_json agent)" = mcp-debugger ] &&
	 [ "$(it_json result.structuredContent.received.requesting_agent)" = mcp-security-auditor ] &&
	 [ "$(it_json result.structuredContent.tool)" = handle_task ]'

# --- 202 with the task's URL ------------------------------------------------------------
task "$USER_A" '{"type":"dual_server_debugging","wait_ms":0,"context":{"wait_ms":3500}}'
T202=$(it_json id)
check "wait_ms: 202 with Location before the agent is done" eval \
	'[ "$HTTP_CODE" = 202 ] && [ "$(header Location)" = "/api/v1/tasks/$T202" ] && [ "$(it_json status)" = running ] &&
	 awk "BEGIN { exit !($HTTP_TIME < 3.0) }"'
api GET "/api/v1/tasks/$T202" "$USER_A"
check "the task reads running meanwhile" test "$(it_json status)" = running
wait_until 8 eval 'api GET "/api/v1/tasks/$T202" "$USER_A"; [ "$(it_json status)" = completed ]'
check "and completed once the agent answered, with its result" eval \
	'[ "$(it_json status)" = completed ] && [ "$(it_json result.structuredContent.task_id)" = "$T202" ]'

# --- a responder SIGKILLed mid-delegation ------------------------------------------------
bg_task killed "$USER_A" '{"type":"dual_server_debugging","timeout_ms":4000,"context":{"wait_ms":15000}}'
wait_until 5 eval '[ -n "$(rcli --scan --pattern "*orch:lease:*" | head -n1)" ]'
LEASE=$(rcli --scan --pattern '*orch:lease:*' | head -n1)
TK=${LEASE##*:}
RPID=$(rcli HGET "$LEASE" pid)
check "the lease names the responder running the delegation" eval '[ -n "$RPID" ] && kill -0 "$RPID"'
kill -KILL "$RPID"
bg_wait
check "right after the kill the load is still counted (the lease holds)" test "$(load mcp-debugger)" = 1
"$GATEWAY" tasks reap --config "$CONF" >"$IT_DIR/reap1.out" 2>&1
check "tasks reap before expiry reclaims nothing" grep -q '^reaped 0 ' "$IT_DIR/reap1.out"
api GET "/api/v1/tasks/$TK" "$PLATFORM"
check "the killed delegation's task reads running" test "$(it_json status)" = running
wait_until 10 eval '[ "$(load mcp-debugger)" = 0 ]'
check "once the lease expires the load is 0 again, on the agent and on the server" eval \
	'[ "$(load mcp-debugger)" = 0 ] && [ "$(load mcp-debugger debug-1)" = 0 ] && [ "$(load mcp-debugger debug-2)" = 0 ]'
"$GATEWAY" tasks reap --config "$CONF" >"$IT_DIR/reap2.out" 2>&1
check "mcp-gateway tasks reap reclaims the expired lease" grep -q '^reaped 1 ' "$IT_DIR/reap2.out"
ROW=$(it_psql "SELECT status || ',' || (error LIKE '%lease expired%')::text FROM tasks WHERE id = '$TK'")
check "and the task is marked failed: lease expired" test "$ROW" = "failed,true"
"$GATEWAY" tasks reap --config "$CONF" >"$IT_DIR/reap3.out" 2>&1
check "a second reap finds nothing" grep -q '^reaped 0 ' "$IT_DIR/reap3.out"
task "$USER_A" '{"type":"dual_server_debugging"}'
check "delegation works on after the kill (a new responder)" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = completed ]'

# --- routing rules: put, use, delete -------------------------------------------------------
api PUT /api/v1/routing/incident_triage "$PLATFORM" --data '{"agent":"mcp-debugger"}'
check "PUT /api/v1/routing/{type} routes a new type" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json agent)" = mcp-debugger ]'
task "$USER_A" '{"type":"incident_triage"}'
check "the new type is delegated (handle_task)" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json result.structuredContent.tool)" = handle_task ]'
api PUT /api/v1/routing/incident_triage "$PLATFORM" --data '{"agent":"nobody"}'
check "a rule naming no agent: 422 unknown_agent" eval '[ "$HTTP_CODE" = 422 ] && [ "$(reason)" = unknown_agent ]'
api DELETE /api/v1/routing/incident_triage "$PLATFORM"
check "DELETE /api/v1/routing/{type}: 204" test "$HTTP_CODE" = 204
task "$USER_A" '{"type":"incident_triage"}'
check "the removed type is unknown again" eval '[ "$HTTP_CODE" = 422 ] && [ "$(reason)" = unknown_task_type ]'
api DELETE /api/v1/routing/incident_triage "$PLATFORM"
check "deleting it again: 404" test "$HTTP_CODE" = 404

# --- gateway__delegate_task on the MCP plane ---------------------------------------------
mcp() { it_mcp "$MCP/mcp" "$USER_A" "$@"; }
answer() { it_mcp_answer; }
it_mcp_open "$MCP/mcp" "$USER_A"
mcp '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' -H "Mcp-Session-Id: $SID"
check "tools/list offers gateway__delegate_task" eval 'answer | jq -e ".result.tools[] | select(.name == \"gateway__delegate_task\")" >/dev/null'
mcp '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"gateway__delegate_task","arguments":{"type":"dual_server_debugging","context":{"via":"mcp","session_id":"'"$SID"'"}}}}' -H "Mcp-Session-Id: $SID"
check "gateway__delegate_task runs the task and returns it" eval \
	'[ "$(answer | jq -r ".result.structuredContent.status")" = completed ] &&
	 [ "$(answer | jq -r ".result.structuredContent.result.structuredContent.received.context.via")" = mcp ] &&
	 [ "$(answer | jq -r ".result.structuredContent.result.structuredContent.received.session_preservation.session_id")" = "$SID" ]'
mcp '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"gateway__delegate_task","arguments":{"type":"no_such_type"}}}' -H "Mcp-Session-Id: $SID"
check "gateway__delegate_task: an unknown type is a tool error naming unknown_task_type" eval \
	'[ "$(answer | jq -r ".result.isError")" = true ] && answer | jq -r ".result.content[0].text" | grep -q "^unknown_task_type: "'

# --- mcp-gateway tasks delegate: orch_delegate as the quality gates call it --------------
# The platform itself has no tenant: it uses shared agent servers only.
P1=$(it_start_upstream agent --name p1) || it_fatal "agent fixture p1 starts"
api POST /api/v1/servers "$PLATFORM" --data "{\"name\":\"protocol-1\",\"url\":\"$P1\",\"agent_roles\":[\"mcp-protocol-expert\"],\"tenant_id\":null}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the shared agent server protocol-1"; }
"$GATEWAY" tasks delegate dual_server_debugging --config "$CONF" >/dev/null 2>"$IT_DIR/cli-task0.err"
check "tasks delegate (no tenant) does not use a tenant's agent servers: no_healthy_server" \
	grep -q "^error: no_healthy_server: " "$IT_DIR/cli-task0.err"
"$GATEWAY" tasks delegate capability_negotiation '{"via":"cli"}' --config "$CONF" >"$IT_DIR/cli-task.json" 2>"$IT_DIR/cli-task.err"
rc=$?
check "tasks delegate prints the agent's structured answer (exit 0)" eval \
	'[ "$rc" = 0 ] && [ "$(jq -r .received.context.via "$IT_DIR/cli-task.json")" = cli ] &&
	 [ "$(jq -r .received.target_agent "$IT_DIR/cli-task.json")" = mcp-protocol-expert ] &&
	 [ "$(jq -r .tool "$IT_DIR/cli-task.json")" = handle_task ]'
"$GATEWAY" tasks delegate no_such_type --config "$CONF" >/dev/null 2>"$IT_DIR/cli-task2.err"
rc=$?
check "tasks delegate of an unknown type: exit 1, the reason on stderr" eval \
	'[ "$rc" = 1 ] && grep -q "^error: unknown_task_type: " "$IT_DIR/cli-task2.err"'

# --- a quality-gate check routed to an active agent is delegated to it -----------------
# dual_server_communication_test is routed to mcp-debugger; a shared server of
# that agent offering the check's tool judges it (its verdict from a file).
VERDICT=$IT_DIR/verdict
echo failed >"$VERDICT"
Q1=$(it_start_upstream agent --name qa --tasks dual_server_communication_test --verdict-file "$VERDICT") ||
	it_fatal "agent fixture qa starts"
api POST /api/v1/servers "$PLATFORM" --data "{\"name\":\"qa-1\",\"url\":\"$Q1\",\"agent_roles\":[\"mcp-debugger\"],\"tenant_id\":null}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the shared agent server qa-1"; }
QA1_ID=$(it_json server_id)
gate_post() {
	rc=0
	"$GATEWAY" gate post_deployment --json --config "$CONF" >"$IT_DIR/gate-$1.json" 2>"$IT_DIR/gate-$1.err" || rc=$?
	DELEGATED=$(jq -r '.results[] | select(.check == "dual_server_communication_test") | [.status, .delegated_to] | join(",")' "$IT_DIR/gate-$1.json")
}
gate_post fail
check "a gate check routed to an active agent runs there: its failed verdict fails the gate at that check (exit 1)" eval \
	'[ "$rc" = 1 ] && [ "$DELEGATED" = failed,mcp-debugger ] &&
	 [ "$(jq -r .failed_check "$IT_DIR/gate-fail.json")" = dual_server_communication_test ]'
echo passed >"$VERDICT"
gate_post pass
check "the agent's passed verdict passes that check, recorded as delegated to the agent" \
	test "$DELEGATED" = passed,mcp-debugger
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"inactive"}'
echo failed >"$VERDICT"
gate_post builtin
check "with the agent inactive the check runs built in (and passes on this stack)" \
	test "$DELEGATED" = passed,
api PUT /api/v1/agents/mcp-debugger "$PLATFORM" --data '{"status":"active"}'
# The agent is active but the only server it has for the platform is in
# maintenance: nothing may take the check, so it is not delegated (an error
# here would fail the gate, and with it scripts/up, for a planned maintenance).
api POST "/api/v1/servers/$QA1_ID/maintenance" "$PLATFORM" --data ''
gate_post maint
check "with the agent's only server in maintenance the check runs built in, not as a failed delegation" \
	eval '[ "$rc" = 0 ] && [ "$DELEGATED" = passed, ]'
# A general-purpose server of the same agent (handle_task, no tool for the
# check) takes tasks, not quality checks: it has no verdict to give.
G1=$(it_start_upstream agent --name generic) || it_fatal "agent fixture generic starts"
api POST /api/v1/servers "$PLATFORM" --data "{\"name\":\"generic-1\",\"url\":\"$G1\",\"agent_roles\":[\"mcp-debugger\"],\"tenant_id\":null}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the shared agent server generic-1"; }
GEN1_ID=$(it_json server_id)
gate_post generic
check "a shared server of the agent offering only handle_task is not given the check: it runs built in" \
	eval '[ "$rc" = 0 ] && [ "$DELEGATED" = passed, ]'
api DELETE "/api/v1/servers/$GEN1_ID" "$PLATFORM"
api DELETE "/api/v1/servers/$QA1_ID/maintenance" "$PLATFORM"

# --- an agent server of the 2026-07-28 era ----------------------------------------------
V2=$(it_start_upstream v2server) || it_fatal "the v2 (2026-07-28 only) fixture starts"
V2REC=$(it_upstream_file "$V2" rec)
api POST /api/v1/servers "$ADMIN_A" --data "{\"name\":\"proto-v2\",\"url\":\"$V2\",\"agent_roles\":[\"mcp-deployment-specialist\"],\"timeout_ms\":15000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the 2026-07-28 agent server proto-v2"; }
V2_ID=$(it_json server_id)
task "$USER_A" '{"type":"echo","agent":"mcp-deployment-specialist"}'
check "a delegation to a 2026-07-28 agent server is one stateless tools/call (no initialize) and completes" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = completed ] &&
	 grep "\"rpc\":\"tools/call\"" "$V2REC" | grep -q "\"protocol_version\":\"2026-07-28\"" &&
	 ! grep -q "\"rpc\":\"initialize\"" "$V2REC"'
api DELETE "/api/v1/servers/$V2_ID" "$ADMIN_A"

# --- coordination plans ---------------------------------------------------------------
api POST /api/v1/coordination/plan "$USER_A" --data '{"task_type":"server_registration_with_auth","context":{"session_id":"s-9"}}'
check "POST /api/v1/coordination/plan: the seed's registration plan" eval \
	'[ "$HTTP_CODE" = 200 ] && [ "$(it_json session_id)" = s-9 ] &&
	 [ "$(it_json api_tasks)" = "[\"validate_server_config\",\"update_registry\"]" ] &&
	 [ "$(it_json mcp_tasks)" = "[\"authenticate_admin\",\"audit_registration\"]" ] &&
	 jq -e ".dependencies | index(\"authenticate_admin -> validate_server_config\")" "$IT_DIR/last.body" >/dev/null &&
	 [ "$(jq ".rollback_plan | length" "$IT_DIR/last.body")" = 4 ] && [ "$(it_json rollback_plan.0.task)" = audit_registration ]'
check "registration reports the phases of that same plan" test "$(it_json phases)" = "$REG_PHASES"
api POST /api/v1/coordination/plan "$USER_A" --data '{"task_type":"bake_bread"}'
check "a type without a plan: 422 unknown_task_type" eval '[ "$HTTP_CODE" = 422 ] && [ "$(reason)" = unknown_task_type ]'

# --- audit -----------------------------------------------------------------------------
ACTIONS=$(it_psql "SELECT count(DISTINCT action) FROM audit_log WHERE action IN ('task.delegate', 'agent.update', 'routing.put', 'routing.delete')")
OWN=$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'task.delegate' AND target_id = '$T1' AND tenant_id = 'ta'")
check "delegations and changes are audited (task.delegate, agent.update, routing.put, routing.delete)" \
	eval '[ "$ACTIONS" = 4 ] && [ "$OWN" = 1 ]'
api GET /api/v1/audit/verify "$PLATFORM"
check "the audit chain verifies" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json ok)" = true ]'

it_check_sanitizer_logs
