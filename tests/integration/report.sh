#!/usr/bin/env bash
# Health orchestration and the system report: /health/components covers the
# upstreams (from the registry's health) and the identity provider;
# GET /api/v1/report aggregates security, performance, health, deployment and
# protocol compliance from real data, scoped to the caller's tenant, with
# recommendations that follow what the data shows.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"

it_cast
JSONH=(-H 'Content-Type: application/json')

ALPHA=$(it_start_upstream plain) || it_fatal "the plain fixture (alpha) starts"
BETA=$(it_start_upstream plain) || it_fatal "the plain fixture (beta) starts"
register() { # register TOKEN BODY: the server id
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" "${JSONH[@]}" --data "$2"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register $2"; }
	it_json server_id
}
ALPHA_ID=$(register "$ADMIN_A" "{\"name\":\"alpha\",\"url\":\"$ALPHA\",\"timeout_ms\":2000}")
register "$ADMIN_B" "{\"name\":\"beta\",\"url\":\"$BETA\"}" >/dev/null

# --- /health/components ---------------------------------------------------------------
comp() { jq -r "$1" "$IT_DIR/last.body"; }
http GET "$API/health/components" -H "Authorization: Bearer $OPER_A"
check "components: upstreams healthy, the caller's tenant only (alpha, not beta)" \
	eval '[ "$(comp .components.upstreams.status)" = healthy ] && [ "$(comp ".components.upstreams.servers | map(.name) | join(\",\")")" = alpha ]'
check "components: the identity provider is checked with the 15 s budget" \
	eval '[ "$(comp .components.identity_provider.status)" = healthy ] && [ "$(comp .components.identity_provider.timeout_ms)" = 15000 ]'
check "components: overall healthy" eval '[ "$(comp .overall_status)" = healthy ] && [ "$HTTP_CODE" = 200 ]'
http GET "$API/health/components" -H "Authorization: Bearer $PLATFORM"
check "components: a platform_admin sees every tenant's upstreams" \
	eval '[ "$(comp ".components.upstreams.servers | map(.name) | join(\",\")")" = alpha,beta ]'

# A few calls that succeed, for the performance figures.
mcp() { it_mcp "$MCP/mcp" "$USER_A" "$@"; }
it_mcp_open "$MCP/mcp" "$USER_A"
CALL='{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"alpha__tool_1","arguments":{"text":"hi"}}}'
for i in 1 2 3 4 5; do mcp "$CALL" -H "Mcp-Session-Id: $SID"; done
check "calls: alpha answers through the gateway" eval 'body_has "\"echo\" *: *\"hi\""'

# alpha goes away; its health probe marks it in the registry.
stop_by_pidfile "$(it_upstream_file "$ALPHA" pid)" 5
http GET "$API/api/v1/servers/$ALPHA_ID/health" -H "Authorization: Bearer $OPER_A"
http GET "$API/health/components" -H "Authorization: Bearer $OPER_A"
check "components: an unreachable upstream makes upstreams degraded, named in degraded_services" \
	eval '[ "$(comp .components.upstreams.status)" = degraded ] && [ "$(comp .components.upstreams.not_active)" = 1 ] && [ "$(comp ".degraded_services | index(\"upstreams\")")" != null ]'
check "components: with its registry status and probe time" \
	eval '[ "$(comp .components.upstreams.servers[0].status)" = unreachable ] && [ "$(comp .components.upstreams.servers[0].checked_at)" != null ]'
check "components: a degraded upstream makes the whole degraded, still 200" \
	eval '[ "$(comp .overall_status)" = degraded ] && [ "$HTTP_CODE" = 200 ]'
http GET "$API/health/components" -H "Authorization: Bearer $ADMIN_B"
check "components: another tenant's view is not degraded by alpha" eval '[ "$(comp .components.upstreams.status)" = healthy ]'

# Failing calls (20 or more make an error rate worth reporting) and a denied request.
for i in $(seq 1 20); do mcp "$CALL" -H "Mcp-Session-Id: $SID"; done
http POST "$API/api/v1/servers" -H "Authorization: Bearer $USER_A" "${JSONH[@]}" --data '{}'
tool_calls() { it_psql "SELECT count(*) FROM audit_log WHERE action = 'tool_call' AND tenant_id = 'ta'"; }
wait_until 15 eval '[ "$(tool_calls)" -ge 25 ]'
check "audit: the 25 tool calls reached the audit log ($(tool_calls))" eval '[ "$(tool_calls)" -ge 25 ]'
# Most of the oauth_tokens pool taken (45 of 50).
http POST "$API/api/v1/resources/allocations" -H "Authorization: Bearer $ADMIN_A" "${JSONH[@]}" \
	--data '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":5,"admin_count":45}}'
check "allocation: 45 of the 50 token validations taken" eval '[ "$HTTP_CODE" = 201 ]'

# --- GET /api/v1/report ----------------------------------------------------------------
http GET "$API/api/v1/report" -H "Authorization: Bearer $OPER_A"
check "report: an operator may not read it (403)" eval '[ "$HTTP_CODE" = 403 ]'
http GET "$API/api/v1/report" -H "Authorization: Bearer $ADMIN_A"
cp "$IT_DIR/last.body" "$IT_DIR/report-a.json"
r() { jq -r "$1" "$IT_DIR/report-a.json"; }
rec() { jq -e --arg a "$1" --arg s "$2" --arg m "$3" \
	'.recommendations | any(.area == $a and .severity == $s and (.message | test($m)))' "$IT_DIR/report-a.json" >/dev/null; }
check "report: 200 with the five sections, scoped to the tenant" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(r ".reports | keys | join(\",\")")" = deployment_status,performance_metrics,protocol_compliance,security_status,system_health ] && [ "$(r .scope)" = ta ]'
check "report: overall health is the components' (degraded by alpha)" eval '[ "$(r .overall_system_health)" = degraded ]'
check "report: performance counts the tenant's tool calls and failures" \
	eval '[ "$(r .reports.performance_metrics.tool_calls_last_hour.count)" -ge 25 ] && [ "$(r .reports.performance_metrics.tool_calls_last_hour.failed)" -ge 20 ] && [ "$(r .reports.performance_metrics.tool_calls_last_hour.p95_ms)" != null ]'
check "report: recommends looking at alpha's failing calls" rec performance warning "tool calls to server 'alpha' failed"
check "report: recommends checking the unreachable alpha" rec health warning "server 'alpha' is unreachable"
check "report: warns of the nearly full oauth_tokens pool" rec performance warning "pool oauth_tokens has 45 of 50"
check "report: security counts the tenant's denied request" \
	eval '[ "$(r .reports.security_status.forbidden_24h)" -ge 1 ]'
check "report: warns that the development issuer is trusted and that any tenant may sign in" \
	eval 'rec security warning "development token issuer" && rec security warning "allowed_tenants"'
check "report: the audit chain is walked only for a platform_admin" eval '[ "$(r .reports.security_status.audit_chain)" = null ]'
check "report: protocol compliance lists the tenant's servers only, with their negotiated version" \
	eval '[ "$(r ".reports.protocol_compliance.servers | map(.server) | join(\",\")")" = alpha ] && [ "$(r .reports.protocol_compliance.servers[0].protocol_version)" != "" ]'
check "report: before any gate run the deployment says so" \
	eval '[ "$(r .reports.deployment_status.last_gate_runs)" = "[]" ] && rec deployment info "no quality gate has run yet" && [ "$(r .reports.deployment_status.schema_version)" -ge 8 ]'

# Gate runs as the quality gates record them (migration 008): the latest run of each gate.
it_psql "INSERT INTO gate_runs VALUES
	('00000000-0000-4000-8000-000000000001', 'pre_deployment', 'failed', now() - interval '2 hours', now() - interval '2 hours', 'x', 'ta', '[]'),
	('00000000-0000-4000-8000-000000000002', 'pre_deployment', 'passed', now() - interval '1 hour', now() - interval '1 hour', 'x', 'ta', '[]'),
	('00000000-0000-4000-8000-000000000003', 'security_validation', 'failed', now(), now(), 'x', 'ta', '[]'),
	('00000000-0000-4000-8000-000000000004', 'post_deployment', 'failed', now(), now(), 'x', 'tb', '[]')" >/dev/null
http GET "$API/api/v1/report" -H "Authorization: Bearer $ADMIN_A"
cp "$IT_DIR/last.body" "$IT_DIR/report-a.json"
check "report: the last run of each of the tenant's gates (pre_deployment passed, security_validation failed)" \
	eval '[ "$(r ".reports.deployment_status.last_gate_runs | map(.gate + \"=\" + .status) | join(\",\")")" = pre_deployment=passed,security_validation=failed ]'
check "report: a failed last gate run is a critical recommendation; an older failure is not" \
	eval 'rec deployment critical "last security_validation gate run failed" && ! rec deployment critical "pre_deployment"'

cli() { MCPGW_API_URL=$API MCPGW_CA_FILE=$CA MCPGW_TOKEN=$1 "$GATEWAY" "${@:2}"; }
cli "$ADMIN_A" report >"$IT_DIR/cli-report.out" 2>&1
RC=$?
check "cli: mcp-gateway report exits 1 on a critical recommendation and prints it" \
	eval '[ "$RC" = 1 ] && grep -q "^overall system health: degraded (scope ta)" "$IT_DIR/cli-report.out" && grep -q "^critical.*security_validation" "$IT_DIR/cli-report.out"'
cli "$ADMIN_A" report --json >"$IT_DIR/cli-report.json" 2>&1
check "cli: mcp-gateway report --json prints the whole report" \
	eval 'jq -e ".reports.deployment_status.last_gate_runs | length == 2" "$IT_DIR/cli-report.json" >/dev/null'
cli "$ADMIN_B" resources >"$IT_DIR/cli-resources.out" 2>&1
check "cli: mcp-gateway resources prints the pools with their use" \
	eval 'grep -Eq "^oauth_tokens +- +50 +45 +5" "$IT_DIR/cli-resources.out" && grep -q "upstream:.*beta" "$IT_DIR/cli-resources.out" && ! grep -q alpha "$IT_DIR/cli-resources.out"'
cli "$OPER_A" report >"$IT_DIR/cli-report-403.out" 2>&1
RC=$?
check "cli: a refused report prints the problem and exits 1" eval '[ "$RC" = 1 ] && grep -q "^error: 403" "$IT_DIR/cli-report-403.out"'

http GET "$API/api/v1/report" -H "Authorization: Bearer $PLATFORM"
cp "$IT_DIR/last.body" "$IT_DIR/report-a.json"
check "report: a platform_admin gets the fleet, both tenants' servers and the verified audit chain" \
	eval '[ "$(r .scope)" = fleet ] && [ "$(r ".reports.protocol_compliance.servers | length")" = 2 ] && [ "$(r .reports.security_status.audit_chain.ok)" = true ]'
check "report: the fleet sees tb's failed post_deployment run" rec deployment critical "last post_deployment gate run failed"
# PostgreSQL stalls (every process stopped): the registry read gives up with the
# postgres check instead of holding the answer.
PG_MAIN=$(head -n1 "$(cat "$IT_DIR/pg/pg.datadir")/postmaster.pid")
PG_ALL="$PG_MAIN $(pgrep -P "$PG_MAIN" | tr '\n' ' ')"
# shellcheck disable=SC2086
kill -STOP $PG_ALL
HTTP_MAX_TIME=20 http GET "$API/health/components" -H "Authorization: Bearer $OPER_A"
# shellcheck disable=SC2086
kill -CONT $PG_ALL
check "components: a stalled PostgreSQL makes the answer unhealthy within the checks' budget (${HTTP_TIME} s)" \
	eval '[ "$HTTP_CODE" = 503 ] && [ "${HTTP_TIME%.*}" -lt 10 ]'
check "components: the upstreams check says it timed out" \
	eval '[ "$(comp .components.upstreams.status)" = degraded ] && comp .components.upstreams.error | grep -q "timeout"'
http GET "$API/health/components" -H "Authorization: Bearer $OPER_A"
check "components: with PostgreSQL back, the registry is read again" \
	eval '[ "$(comp .components.upstreams.total)" = 1 ] && [ "$(comp .components.upstreams.error)" = "1 of 1 upstream servers are unhealthy or unreachable" ]'
it_check_sanitizer_logs
