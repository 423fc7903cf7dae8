#!/usr/bin/env bash
# Quality gates against a real stack (lighttpd, responders, Redis, PostgreSQL):
# each gate passes on a correct deployment through `mcp-gateway gate`, the API
# and the MCP tool; runs are stored, audited and tenant-scoped; each gate fails
# on a deliberately broken deployment; with Redis stopped, pre_deployment stops
# at the Redis check, and the stack passes post_deployment once Redis is back.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
# A gate run on the API holds one responder while its probes need others.
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

OP_A=$(it_mint --sub gate-op --tenant tenant-a --roles operator --ttl 3600)
OP_B=$(it_mint --sub gate-op-b --tenant tenant-b --roles operator --ttl 3600)
USER_A=$(it_mint --sub gate-user --tenant tenant-a --roles user --ttl 3600)
PLATFORM=$(it_mint --sub gate-root --tenant tenant-p --roles platform_admin --ttl 3600)
bearer() { printf 'Authorization: Bearer %s' "$1"; }
jbody() { jq -r "$1" "$IT_DIR/last.body" 2>/dev/null; }
# gate NAME: mcp-gateway gate NAME --json into $IT_DIR/gate-NAME.json; sets GATE_RC.
gate() {
	GATE_RC=0
	"$GATEWAY" gate "$1" --json --config "$CONF" >"$IT_DIR/gate-$1.json" 2>"$IT_DIR/gate-$1.err" || GATE_RC=$?
}
gj() { jq -r "$2" "$IT_DIR/gate-$1.json" 2>/dev/null; }
show_gate() { { cat "$IT_DIR/gate-$1.json" "$IT_DIR/gate-$1.err"; } | head -c 3000 | diag; }
# check_status GATE CHECK STATUS: the named check's status in the last run of GATE.
check_status() { [ "$(gj "$1" ".results[]|select(.check==\"$2\")|.status")" = "$3" ]; }
# gcheck NAME GATE COMMAND...: a case about the last run of GATE, shown on failure.
gcheck() {
	local name=$1 g=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name"; show_gate "$g"; fi
}
reload() { serve_reload "$SERVE_PIDFILE" "$IT_DIR/gateway.log" && sleep 1; }

# --- a correct deployment passes every gate ----------------------------------------
for g in pre_deployment post_deployment security_validation; do
	gate "$g"
	if [ "$GATE_RC" = 0 ] && [ "$(gj "$g" .status)" = passed ] && [ "$(gj "$g" '[.results[]|select(.status=="passed")]|length')" = 5 ]; then
		ok "mcp-gateway gate $g: exit 0, all 5 checks passed"
	else
		not_ok "mcp-gateway gate $g: exit 0, all 5 checks passed (exit $GATE_RC)"; show_gate "$g"
	fi
	check "the $g run is stored ($(gj "$g" .id))" \
		eval '[ "$(it_psql "SELECT status||jsonb_array_length(results) FROM gate_runs WHERE id = '"'"'$(gj "$g" .id)'"'"'")" = passed5 ]'
done
check "every result names check, severity, status, detail, duration_ms and delegated_to" \
	eval 'gj security_validation "[.results[]|select(has(\"check\") and has(\"severity\") and has(\"status\") and has(\"detail\") and has(\"duration_ms\") and has(\"delegated_to\"))]|length" | grep -qx 5'
check "the JWT check presented six tokens and only the valid one got through" \
	eval 'gj security_validation ".results[]|select(.check==\"jwt_token_validation_test\")|.detail" | grep -q "valid 200, expired 401, tampered 401, alg_none 401, hs256_public_key 401, wrong_audience 401"'
check "the probes went through the web server: the audit log has the 401 of post_deployment's probe" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE request_id = '"'"'gate-$(gj post_deployment .id)-denied'"'"'")" = 1 ]'
rc=0; "$GATEWAY" gate --config "$CONF" no_such_gate >/dev/null 2>&1 || rc=$?
check "mcp-gateway gate with an unknown gate exits 2" eval '[ "$rc" = 2 ]'

# --- the management API ---------------------------------------------------------------
# The responders run as the service user: the development key (root only) is
# not theirs, so a run through the API cannot sign probe tokens, and says so.
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
check "API run without a probe key the responders can read: failed, the JWT check an error naming the key" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .status)" = failed ] && [ "$(jbody ".results[0].status")" = error ] && jbody ".results[0].detail" | grep -q "dev-issuer.pem: Permission denied"'
# gates.probe_key: a key of the trusted issuer that the responders' group reads.
cp "$DEV_KEY" "$IT_DIR/probe.pem" && secure_file "$IT_DIR/probe.pem" "$GW_SERVICE_USER"
printf '\n[gates]\nprobe_key = %s\n' "$IT_DIR/probe.pem" >>"$CONF"
chmod 644 "$IT_DIR/probe.pem"
rc=0; "$GATEWAY" validate --config "$CONF" >"$IT_DIR/validate.out" 2>&1 || rc=$?
check "validate refuses a probe key open to every local user (it signs trusted tokens)" \
	eval '[ "$rc" = 1 ] && grep -q "gates.probe_key: .*probe.pem is open to every local user" "$IT_DIR/validate.out"'
chmod 640 "$IT_DIR/probe.pem"
reload
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
RUN_A=$(jbody .id)
check "POST /api/v1/gates/security_validation/run as an operator: 200, passed, stored" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .status)" = passed ] && [ "$(jbody .stored)" = true ] && [ "$(jbody .tenant_id)" = tenant-a ]' || show_response
check "the run is audited as gate.run in its tenant, naming the run" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'gate.run'"'"' AND target_type = '"'"'gate_run'"'"' AND target_id = '"'"'$RUN_A'"'"' AND tenant_id = '"'"'tenant-a'"'"'")" = 1 ]'
AUDIT_A=$(jbody '.results[]|select(.check=="audit_trail_completeness")|.status + ": " + .detail')
check "the operator's run gives the audit chain's verdict, not the fleet-wide chain's extent (rows, ids, head hash)" \
	eval '[ "${AUDIT_A%%:*}" = passed ] && ! grep -Eq "[0-9]+ rows|row [0-9]|head [0-9a-f]" <<<"$AUDIT_A"' || diag <<<"$AUDIT_A"
check "which the CLI's run (the platform's) does show" \
	eval 'gj security_validation ".results[]|select(.check==\"audit_trail_completeness\")|.detail" | grep -Eq "^[0-9]+ rows link up to row [0-9]+"'
http GET "$API/api/v1/gates/runs/$RUN_A" -H "$(bearer "$OP_A")"
check "GET /api/v1/gates/runs/{id} shows it with its 5 results" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".results|length")" = 5 ] && [ "$(jbody .gate)" = security_validation ]'
http GET "$API/api/v1/gates/runs/$RUN_A" -H "$(bearer "$OP_B")"
check "an operator of another tenant gets 404 for it" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'
http GET "$API/api/v1/gates/security_validation/runs" -H "$(bearer "$OP_B")"
check "and does not see it in the list" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody "[.runs[]|select(.id==\"$RUN_A\")]|length")" = 0 ]'
http GET "$API/api/v1/gates/security_validation/runs" -H "$(bearer "$PLATFORM")"
check "platform_admin lists the runs of every tenant and the CLI's, newest first" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".runs[0].id")" = "$RUN_A" ] && [ "$(jbody "[.runs[]|select(.triggered_by==\"cli\")]|length")" -ge 1 ]'
# --- one run of a gate at a time per tenant (API, MCP); the CLI is not limited ------
LOCK_A=mreg:gate:running:security_validation:tenant-a
check "a finished run leaves no lock behind" eval '[ "$(rcli EXISTS "$LOCK_A")" = 0 ]'
HELD=00000000-0000-4000-8000-00000000a11d
rcli SET "$LOCK_A" "$HELD" PX 30000 >/dev/null
RUNS_A=$(it_psql "SELECT count(*) FROM gate_runs WHERE tenant_id = 'tenant-a'")
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
check "a run while the tenant's run of that gate is under way: 409 naming it, Retry-After up to the lock's end" \
	eval '[ "$HTTP_CODE" = 409 ] && is_problem_json && body_has "$HELD" && [ "$(header Retry-After)" -ge 1 ] && [ "$(header Retry-After)" -le 30 ]' || show_response
check "the refused run was not stored and left the lock alone" \
	eval '[ "$(it_psql "SELECT count(*) FROM gate_runs WHERE tenant_id = '"'"'tenant-a'"'"'")" = "$RUNS_A" ] && [ "$(rcli GET "$LOCK_A")" = "$HELD" ]'
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_B")"
check "another tenant runs the same gate meanwhile (200)" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .tenant_id)" = tenant-b ]' || show_response
gate security_validation
gcheck "and so does the CLI (the platform's tool, not limited)" security_validation eval '[ "$GATE_RC" = 0 ]'
rcli DEL "$LOCK_A" >/dev/null
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
check "once it is gone the tenant runs the gate again, and the run frees its lock" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .status)" = passed ] && [ "$(rcli EXISTS "$LOCK_A")" = 0 ]' || show_response
# Written to Redis by someone else: no expiry (none of ours) or a life longer than a run's.
rcli SET "$LOCK_A" "$HELD" >/dev/null
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
check "a lock key without expiry does not block the tenant for good: the run takes it over and frees it" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .status)" = passed ] && [ "$(rcli EXISTS "$LOCK_A")" = 0 ]' || show_response
rcli SET "$LOCK_A" "$HELD" PX 999999999 >/dev/null
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$OP_A")"
check "one with a life of days: 409 with a Retry-After no longer than a run may last" \
	eval '[ "$HTTP_CODE" = 409 ] && [ "$(header Retry-After)" -le $((5 * 8 * 10)) ]' || show_response
rcli DEL "$LOCK_A" >/dev/null
http POST "$API/api/v1/gates/security_validation/run" -d '' -H "$(bearer "$USER_A")"
check "a user may not run a gate (403)" eval '[ "$HTTP_CODE" = 403 ]'
http POST "$API/api/v1/gates/no_such_gate/run" -d '' -H "$(bearer "$OP_A")"
check "an unknown gate is 404 problem+json naming the gates" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json && body_has pre_deployment'
http GET "$API/api/v1/gates" -H "$(bearer "$OP_A")"
check "GET /api/v1/gates lists the three gates with their checks and severities" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody "[.gates[].checks[]]|length")" = 15 ] && [ "$(jbody ".gates[0].checks[0].severity")" = critical ]'

# --- the MCP tool -------------------------------------------------------------------
ACCEPT='application/json, text/event-stream'
http POST "$MCP/mcp" -H "$(bearer "$OP_A")" -H "Content-Type: application/json" -H "Accept: $ACCEPT" \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
SID=$(header Mcp-Session-Id)
# tool_post_deployment ID: tools/call gateway__run_quality_gate post_deployment as OP_A; its JSON-RPC answer in last.body.
tool_post_deployment() {
	HTTP_MAX_TIME=60 http POST "$MCP/mcp" -H "$(bearer "$OP_A")" -H "Content-Type: application/json" -H "Accept: $ACCEPT" \
		-H "Mcp-Session-Id: $SID" -H "MCP-Protocol-Version: 2025-11-25" \
		--data '{"jsonrpc":"2.0","id":'"$1"',"method":"tools/call","params":{"name":"gateway__run_quality_gate","arguments":{"gate":"post_deployment"}}}'
	sed -n 's/^data: //p' "$IT_DIR/last.body" >"$IT_DIR/sse.json"
	if [ -s "$IT_DIR/sse.json" ]; then cp "$IT_DIR/sse.json" "$IT_DIR/last.body"; fi
}
tool_post_deployment 2
check "tools/call gateway__run_quality_gate runs post_deployment: passed, stored" \
	eval '[ "$(jbody .result.structuredContent.status)" = passed ] && [ "$(jbody .result.structuredContent.stored)" = true ] && [ "$(jbody .result.isError)" = false ]' || show_response
rcli SET mreg:gate:running:post_deployment:tenant-a "$HELD" PX 30000 >/dev/null
tool_post_deployment 3
check "the tool while the tenant's run of that gate is under way: a tool error naming it" \
	eval '[ "$(jbody .result.isError)" = true ] && jbody ".result.content[0].text" | grep -q "under way (run $HELD)"' || show_response
rcli DEL mreg:gate:running:post_deployment:tenant-a >/dev/null

# --- broken deployments fail their gate -----------------------------------------------
cp "$CONF" "$IT_DIR/gateway.conf.good"
# Tenant admins become platform admins: they pass the role checks of the platform.
sed -i 's/^role_map = .*/role_map = platform_admin=platform_admin,admin=platform_admin,operator=operator,auditor=auditor,user=user/' "$CONF"
reload
gate security_validation
gcheck "role_map admin=platform_admin: security_validation exits 1 at role_based_access_test" security_validation \
	eval '[ "$GATE_RC" = 1 ] && [ "$(gj security_validation .failed_check)" = role_based_access_test ] && gj security_validation ".results[1].detail" | grep -q "role admin on GET /api/v1/audit/verify answered 200"'
gcheck "and the checks after it are skipped, not run" security_validation \
	eval 'check_status security_validation tenant_isolation_test skipped && check_status security_validation audit_trail_completeness skipped && check_status security_validation jwt_token_validation_test passed'
cp "$IT_DIR/gateway.conf.good" "$CONF"
# Operators become platform operators: every role check still holds, but an
# operator of one tenant now reads another tenant's sessions.
sed -i 's/^role_map = .*/role_map = platform_admin=platform_admin,admin=admin,operator=platform_admin,auditor=auditor,user=user/' "$CONF"
reload
gate security_validation
gcheck "role_map operator=platform_admin: security_validation exits 1 at tenant_isolation_test (cross-tenant read)" security_validation \
	eval '[ "$GATE_RC" = 1 ] && [ "$(gj security_validation .failed_check)" = tenant_isolation_test ] && check_status security_validation role_based_access_test passed && gj security_validation ".results[2].detail" | grep -q "reads tenant gate-probe.s session: GET answered 200"'
cp "$IT_DIR/gateway.conf.good" "$CONF"
# Another resource's tokens (Microsoft Graph) are accepted.
sed -i 's|^audiences = .*|audiences = mcp-registry-gateway,https://graph.microsoft.com|' "$CONF"
reload
gate security_validation
gcheck "audiences accepting another resource: jwt_token_validation_test fails (wrong_audience ACCEPTED)" security_validation \
	eval '[ "$GATE_RC" = 1 ] && [ "$(gj security_validation .failed_check)" = jwt_token_validation_test ] && gj security_validation ".results[0].detail" | grep -q "wrong_audience 200 (ACCEPTED)"'
cp "$IT_DIR/gateway.conf.good" "$CONF"
# Responders trust the issuer, but the body limit is off (web server and gateway disagree).
sed -i 's|^body_max = .*|body_max = 1048576|' "$CONF"
reload
"$GATEWAY" gate post_deployment --json --config "$IT_DIR/gateway.conf.good" >"$IT_DIR/gate-post_deployment.json" 2>&1; GATE_RC=$?
gcheck "responders without the body limit the deployment declares: post_deployment exits 1 (middleware_chain_validation)" post_deployment \
	eval '[ "$GATE_RC" = 1 ] && check_status post_deployment middleware_chain_validation failed && [ "$(gj post_deployment .failed_check)" = null ]'
cp "$IT_DIR/gateway.conf.good" "$CONF"
reload
gate post_deployment
gcheck "restored: post_deployment passes again" post_deployment eval '[ "$GATE_RC" = 0 ]'

# pre_deployment against a web server that is not there.
stop_by_pidfile "$IT_DIR/lighttpd/lighttpd.pid"
gate pre_deployment
gcheck "web server down: pre_deployment exits 1 at fastmcp_server_health" pre_deployment \
	eval '[ "$GATE_RC" = 1 ] && [ "$(gj pre_deployment .failed_check)" = fastmcp_server_health ] && check_status pre_deployment fastapi_server_health skipped'
it_start_lighttpd "$FCGI_SOCKET"

# --- fail fast: Redis stopped ------------------------------------------------------------
redis_stop "$IT_DIR/redis"
gate pre_deployment
gcheck "Redis stopped: pre_deployment exits 1 and stops at redis_connectivity_test" pre_deployment \
	eval '[ "$GATE_RC" = 1 ] && [ "$(gj pre_deployment .failed_check)" = redis_connectivity_test ]'
check "database_health_check passed before it; the three checks after it were not run" \
	eval 'check_status pre_deployment database_health_check passed && check_status pre_deployment redis_connectivity_test failed && [ "$(gj pre_deployment "[.results[]|select(.status==\"skipped\")]|length")" = 3 ] && [ "$(gj pre_deployment "[.results[]|select(.status==\"skipped\")|.duration_ms]|add")" = 0 ]'
check "the failed run is stored with its results" \
	eval '[ "$(it_psql "SELECT status FROM gate_runs WHERE id = '"'"'$(gj pre_deployment .id)'"'"'")" = failed ]'
"$GATEWAY" gate pre_deployment --config "$CONF" >"$IT_DIR/gate-human.out" 2>&1
check "the human report names the stopping check and why" \
	eval 'grep -q "stopped at the critical check redis_connectivity_test" "$IT_DIR/gate-human.out" && grep -q "Redis does not answer" "$IT_DIR/gate-human.out"'
# Responders still hold the connections the stopped Redis closed: each
# replaces its own before use, so no request fails after the restart.
redis_start "$IT_DIR/redis" "$REDIS_PORT" >/dev/null 2>&1
gate post_deployment
gcheck "Redis restarted: post_deployment passes at once (MCP sessions on responders that held closed connections)" \
	post_deployment eval '[ "$GATE_RC" = 0 ]'
