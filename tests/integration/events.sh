#!/usr/bin/env bash
# Events through lighttpd to real agents (official SDK fixtures): POST
# /api/v1/events records one delivery per agent of the event routing table,
# audited; the fleet leader delivers each through the Redis stream by calling
# the agent's handle_{type} tool, at least once: an agent that fails the first
# delivery gets it again, one that always fails ends failed after
# events.max_attempts, an entry left pending by a dead leader is taken over by
# the next. Delivery status per agent is in GET /api/v1/events/{id}; tenants
# see only their own events and their events reach only servers they may use.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_LEADER_LEASE_TTL_MS=2000
export MCPGW_LEADER_EVENTS_PERIOD_MS=300
export MCPGW_LEADER_HEALTH_PERIOD_MS=600000
export MCPGW_LEADER_CATALOG_PERIOD_MS=600000
export MCPGW_EVENTS_RETRY_MS=400
export MCPGW_EVENTS_MAX_ATTEMPTS=3
export MCPGW_LEADER_CLEANUP_PERIOD_MS=500
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

it_cast
STREAM=mreg:events:stream

# agent NAME ARGS...: an agent fixture whose calls go to $IT_DIR/NAME.calls.
agent() { local name=$1; shift; it_start_upstream event_agent --name "$name" --calls "$IT_DIR/$name.calls" "$@"; }
SEC=$(agent sec --tools handle_authentication_failure) || it_fatal "the security agent starts"
DBG=$(agent dbg --tools handle_authentication_failure,handle_performance_degradation,handle_protocol_violation \
	--fail-first 1) || it_fatal "the debugger agent (failing its first call) starts"
PROTO=$(agent proto --tools handle_protocol_violation --fail-all) || it_fatal "the broken protocol agent starts"
SECB=$(agent secb --tools handle_authentication_failure) || it_fatal "tenant tb's own security agent starts"

register() { # TOKEN NAME URL ROLE [TENANT-JSON]
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		--data "{\"name\":\"$2\",\"url\":\"$3\",\"agent_roles\":[\"$4\"]${5:+,\"tenant_id\":$5},\"timeout_ms\":5000}"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register $2"; }
}
register "$PLATFORM" sec "$SEC" mcp-security-auditor null
register "$PLATFORM" dbg "$DBG" mcp-debugger null
register "$PLATFORM" proto "$PROTO" mcp-protocol-expert null
register "$ADMIN_B" secb "$SECB" mcp-security-auditor

raise() { # TOKEN BODY
	http POST "$API/api/v1/events" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$2"
}
get_event() { http GET "$API/api/v1/events/$1" -H "Authorization: Bearer ${2:-$OPER_A}"; }
status_is() { get_event "$1" "${3:-}" && [ "$(it_json status)" = "$2" ]; }
agent_field() { jq -r --arg a "$1" ".deliveries[] | select(.agent == \$a) | .$2" "$IT_DIR/last.body"; }
calls_for() { cat "$IT_DIR/$1.calls" 2>/dev/null | grep -c "\"event_id\":\"$2\""; }
ok_calls_for() { cat "$IT_DIR/$1.calls" 2>/dev/null | grep "\"event_id\":\"$2\"" | grep -c '"outcome":"ok"'; }

check "the event routing table is seeded from the seed (4 types, 8 routes)" \
	eval '[ "$(it_psql "SELECT count(DISTINCT event_type) || '"'/'"' || count(*) FROM event_routes")" = 4/8 ]'

# --- raised, delivered, redelivered after a failure ---------------------------------
raise "$ADMIN_A" '{"type":"authentication_failure","data":{"user":"mallory","reason":"bad signature"}}'
EV1=$(it_json id)
check "POST /api/v1/events: 202 with the event, Location and one pending delivery per routed agent" \
	eval '[ "$HTTP_CODE" = 202 ] && [ -n "$EV1" ] && header Location | grep -q "/api/v1/events/$EV1" && [ "$(jq -c "[.deliveries[].agent]" "$IT_DIR/last.body")" = "[\"mcp-debugger\",\"mcp-security-auditor\"]" ] && [ "$(it_json tenant_id)" = ta ]'
check "the event is audited as event.create in the admin's tenant" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'event.create'"' AND target_id = '"'$EV1'"' AND tenant_id = '"'ta'"' AND actor_user LIKE '"'%admin-a'"'")" = 1 ]'
check "both agents get the event: status delivered" wait_until 20 status_is "$EV1" delivered
check "the security agent got it once, through handle_authentication_failure, with the event's data" \
	eval '[ "$(calls_for sec "$EV1")" = 1 ] && grep "\"event_id\":\"$EV1\"" "$IT_DIR/sec.calls" | jq -e ".tool == \"handle_authentication_failure\" and .arguments.data.user == \"mallory\" and .arguments.target_agent == \"mcp-security-auditor\" and .arguments.tenant_id == \"ta\"" >/dev/null'
check "the debugger failed the first delivery and got it again (2 calls, the second ok)" \
	eval '[ "$(calls_for dbg "$EV1")" = 2 ] && [ "$(ok_calls_for dbg "$EV1")" = 1 ]'
get_event "$EV1"
check "GET /api/v1/events/{id}: per agent, attempts and the failure's reason" \
	eval '[ "$(agent_field mcp-debugger attempts)" = 2 ] && [ "$(agent_field mcp-debugger status)" = delivered ] && agent_field mcp-debugger last_error | grep -q "failing on purpose" && [ "$(agent_field mcp-security-auditor attempts)" = 1 ] && [ "$(agent_field mcp-debugger delivered_at)" != null ]'
check "a tenant's event never reaches another tenant's agent server" eval '[ "$(calls_for secb "$EV1")" = 0 ]'
check "delivered entries are acknowledged and removed from the stream" \
	eval '[ "$(rcli XLEN "$STREAM")" = 0 ] && [ "$(rcli XPENDING "$STREAM" delivery | head -n1)" = 0 ]'

# --- an agent that always fails, an agent with no server -----------------------------
raise "$ADMIN_A" '{"type":"protocol_violation","data":{"method":"tools/cal"}}'
EV2=$(it_json id)
check "an always failing agent ends failed after events.max_attempts; the other agent still gets it" \
	wait_until 20 eval 'status_is "$EV2" failed && [ "$(agent_field mcp-protocol-expert attempts)" = 3 ] && [ "$(agent_field mcp-protocol-expert status)" = failed ] && [ "$(agent_field mcp-debugger status)" = delivered ]'
check "the broken agent was called exactly max_attempts times" eval '[ "$(calls_for proto "$EV2")" = 3 ]'
raise "$ADMIN_A" '{"type":"deployment_status","data":{}}'
EV3=$(it_json id)
check "an agent no server serves: retried, then failed, the reason named" \
	wait_until 20 eval 'status_is "$EV3" failed && agent_field mcp-deployment-specialist last_error | grep -q "no active server serves agent mcp-deployment-specialist"'

# --- an entry left pending by a dead leader is delivered by the next ------------------
MON=$(pgrep -P "$SERVE_PID" -x mcpgw-monitor | head -n1)
kill -STOP "$MON"
raise "$ADMIN_A" '{"type":"performance_degradation","data":{"p99_ms":900}}'
EV4=$(it_json id)
# A consumer that reads the entry and dies without acknowledging it.
rcli XREADGROUP GROUP delivery dead-leader COUNT 10 STREAMS "$STREAM" '>' >/dev/null
check "the entry sits pending on the dead consumer" \
	eval '[ "$(rcli XPENDING "$STREAM" delivery - + 10 dead-leader | grep -c -- -)" -ge 1 ]'
kill -KILL "$MON"
check "after the leader's death its pending entry is taken over and delivered" \
	wait_until 20 eval 'get_event "$EV4" && [ "$(agent_field mcp-debugger status)" = delivered ] && [ "$(calls_for dbg "$EV4")" = 1 ]'
check "the next leader holds a higher fencing token than the dead one" \
	eval '[ "$(it_psql "SELECT count(DISTINCT token) > 1 FROM leader_job_runs WHERE job = '"'event_delivery'"'")" = t ]'
check "the taken-over entry is acknowledged once its last agent's deliveries end" \
	wait_until 20 eval 'status_is "$EV4" failed && [ "$(rcli XPENDING "$STREAM" delivery | head -n1)" = 0 ]'

# --- an event recorded but never put on the stream -------------------------------------
# As when a responder dies between the COMMIT and the XADD: the leader's
# cleanup job puts it on the stream once it is 2 s old.
EV5=$(it_psql "INSERT INTO events (id, type, data, tenant_id, created_by, created_at) VALUES (gen_random_uuid(), 'authentication_failure', '{}', 'ta', 'it', now() - interval '3 seconds') RETURNING id" | head -n1)
it_psql "INSERT INTO event_deliveries (event_id, agent) VALUES ('$EV5', 'mcp-security-auditor')" >/dev/null
check "an event the API did not put on the stream is enqueued by the leader and delivered" \
	wait_until 20 eval 'status_is "$EV5" delivered && [ "$(it_json enqueued)" = true ] && [ "$(calls_for sec "$EV5")" = 1 ]'

# --- refusals ------------------------------------------------------------------------
raise "$ADMIN_A" '{"type":"no_such_event","data":{}}'
check "an event type with no route: 422 problem+json naming it" \
	eval '[ "$HTTP_CODE" = 422 ] && is_problem_json && body_has no_such_event'
raise "$ADMIN_A" '{"type":"Bad Type"}'
check "a malformed type: 400 problem+json" eval '[ "$HTTP_CODE" = 400 ] && is_problem_json && body_has "type must match"'
raise "$ADMIN_A" '{"type":"deployment_status","data":[1]}'
check "data that is not an object: 400" eval '[ "$HTTP_CODE" = 400 ] && body_has "data must be"'
raise "$ADMIN_A" '{"type":"deployment_status","data":{"x":"a\u0000b"}}'
check "data with a NUL character (jsonb holds none): 400 naming data, no database error shown" \
	eval '[ "$HTTP_CODE" = 400 ] && is_problem_json && body_has "data must not contain NUL" && ! body_has "Unicode|jsonb|escape sequence"'
raise "$ADMIN_A" '{"type":"deployment_status","colour":"red"}'
check "an unknown field: 400 naming it" eval '[ "$HTTP_CODE" = 400 ] && body_has colour'
raise "$ADMIN_A" '{"type":"deployment_status","tenant_id":"tb"}'
check "an admin cannot raise an event for another tenant: 403" eval '[ "$HTTP_CODE" = 403 ] && is_problem_json'
raise "$USER_A" '{"type":"deployment_status"}'
check "a user cannot raise events: 403" eval '[ "$HTTP_CODE" = 403 ]'
http POST "$API/api/v1/events" -H "Authorization: Bearer $ADMIN_A" -H 'Content-Type: text/plain' --data 'x'
check "a body that is not JSON: 415" eval '[ "$HTTP_CODE" = 415 ]'
get_event "$EV1" "$ADMIN_B"
check "another tenant's event is 404 (not 403)" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'
get_event "$EV1" "$PLATFORM"
check "a platform_admin reads any tenant's event" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json id)" = "$EV1" ]'
get_event not-a-uuid
check "a malformed id is 404" eval '[ "$HTTP_CODE" = 404 ]'
check "a refused event writes nothing (5 events recorded in all)" eval '[ "$(it_psql "SELECT count(*) FROM events")" = 5 ]'

# A database failure: the client is told what could not be done; PostgreSQL's
# own words (they name tables, they may quote data) stay in the log.
it_psql "ALTER TABLE event_deliveries RENAME TO event_deliveries_away" >/dev/null
get_event "$EV1" "$PLATFORM"
code=$HTTP_CODE
it_psql "ALTER TABLE event_deliveries_away RENAME TO event_deliveries" >/dev/null
check "an event that cannot be read: 503 without PostgreSQL's message" \
	eval '[ "$code" = 503 ] && is_problem_json && ! body_has event_deliveries && ! body_has relation'

# --- the command line ---------------------------------------------------------------
cli() { MCPGW_API_URL=$API MCPGW_TOKEN=$1 MCPGW_CA_FILE=$CA "$GATEWAY" events "${@:2}"; }
CLI_ID=$(cli "$ADMIN_A" raise authentication_failure --data '{"user":"eve"}' 2>"$IT_DIR/cli.err")
check "mcp-gateway events raise prints the new event's id" eval 'reg_uuid() { [[ $1 =~ ^[0-9a-f-]{36}$ ]]; }; reg_uuid "$CLI_ID"'
check "mcp-gateway events show: exit 0 once every delivery is made, one line per agent" \
	wait_until 20 eval 'cli "$ADMIN_A" show "$CLI_ID" >"$IT_DIR/cli.out" 2>&1 && grep -q "mcp-security-auditor *delivered" "$IT_DIR/cli.out"'
check "mcp-gateway events show: exit 1 with a failed delivery, its reason printed" \
	eval '! cli "$ADMIN_A" show "$EV2" >"$IT_DIR/cli2.out" 2>&1 && grep -q "mcp-protocol-expert *failed .*failing on purpose" "$IT_DIR/cli2.out"'
check "mcp-gateway events raise: a refusal is exit 1 with the problem on stderr" \
	eval '! cli "$ADMIN_A" raise no_such_event 2>"$IT_DIR/cli3.err" && grep -q "422" "$IT_DIR/cli3.err"'
check "mcp-gateway events: bad usage is exit 2" eval 'cli "$ADMIN_A" raise; [ $? = 2 ]'
it_check_sanitizer_logs
