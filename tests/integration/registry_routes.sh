#!/usr/bin/env bash
# The registry routes through lighttpd: list filters and cursor pages in a
# stable order, get with ETag, PATCH with If-Match, maintenance, refresh diff,
# health probes, tool search; every route walked by two tenants and both
# roles (another tenant's servers are 404, shared ones read-only below
# platform_admin); and one SQL statement per list request, counted.
. "$(dirname "$0")/lib.sh"
# The fleet leader's periodic jobs run statements of their own: none while
# this test counts them (an idle event stream costs none).
export MCPGW_LEADER_HEALTH_PERIOD_MS=86400000 MCPGW_LEADER_CATALOG_PERIOD_MS=86400000
export MCPGW_LEADER_CLEANUP_PERIOD_MS=86400000

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
WORKERS=1
it_start_stores
it_setup_gateway
it_start_serve 1
it_start_lighttpd "$FCGI_SOCKET"

it_cast

TOOLS_FILE=$IT_DIR/tools.json
printf '%s' '[{"name":"alpha","description":"first","inputSchema":{"type":"object"}},{"name":"beta","description":"second","inputSchema":{"type":"object"}},{"name":"gamma","description":"third","inputSchema":{"type":"object"}}]' >"$TOOLS_FILE"
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
CHANGING=$(it_start_upstream plain --tools-file "$TOOLS_FILE") || it_fatal "the second plain fixture starts"

as() { local tok=$1 m=$2 path=$3; shift 3; http "$m" "$API$path" -H "Authorization: Bearer $tok" "$@"; }
field() { it_json "$1"; }
names() { /usr/bin/python3 -c 'import json,sys; print(",".join(s["name"] for s in json.load(open(sys.argv[1]))[sys.argv[2]]))' "$IT_DIR/last.body" "${1:-servers}" 2>/dev/null; }
register() { # TOKEN NAME URL [EXTRA-JSON]
	as "$1" POST /api/v1/servers -H 'Content-Type: application/json' \
		--data "{\"name\":\"$2\",\"url\":\"$3\"${4:+,$4}}"
	[ "$HTTP_CODE" = 201 ] || { not_ok "register $2 (HTTP $HTTP_CODE)"; show_response; return 1; }
	field server_id
}

A1=$(register "$ADMIN_A" a-one "$PLAIN" '"tags":["red","blue"],"agent_roles":["analyst"],"description":"first of tenant a"')
A2=$(register "$ADMIN_A" a-two "$CHANGING" '"tags":["blue"]')
B1=$(register "$ADMIN_B" b-one "$PLAIN" '"tags":["red"]')
S1=$(register "$PLATFORM" shared-one "$PLAIN" '"tenant_id":null,"tags":["red"]')
check "setup: four servers registered in two tenants and shared" \
	eval '[ -n "$A1" ] && [ -n "$A2" ] && [ -n "$B1" ] && [ -n "$S1" ]'

# --- list, filters, cursor ----------------------------------------------------------
as "$USER_A" GET /api/v1/servers
check "list: tenant a sees its own and the shared servers, in name order" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(names)" = a-one,a-two,shared-one ]'
as "$USER_B" GET /api/v1/servers
check "list: tenant b sees b-one and the shared server, nothing of a" eval '[ "$(names)" = b-one,shared-one ]'
as "$PLATFORM" GET /api/v1/servers
check "list: platform_admin sees all four" eval '[ "$(names)" = a-one,a-two,b-one,shared-one ]'
as "$USER_A" GET "/api/v1/servers?tag=red"
check "list: tag=red" eval '[ "$(names)" = a-one,shared-one ]'
as "$USER_A" GET "/api/v1/servers?agent_role=analyst"
check "list: agent_role=analyst" eval '[ "$(names)" = a-one ]'
as "$USER_A" GET "/api/v1/servers?q=FIRST%20of"
check "list: q searches name and description, case-insensitively" eval '[ "$(names)" = a-one ]'
as "$USER_A" GET "/api/v1/servers?status=active"
check "list: status=active" eval '[ "$(names)" = a-one,a-two,shared-one ]'

pages= cursor= n=0
while :; do
	as "$PLATFORM" GET "/api/v1/servers?limit=1${cursor:+&cursor=$cursor}"
	[ "$HTTP_CODE" = 200 ] || break
	pages=$pages$(names),
	cursor=$(field next_cursor)
	n=$((n + 1))
	[ "$cursor" != null ] && [ -n "$cursor" ] && [ $n -lt 10 ] || break
done
check "list: limit=1 walks four pages in the same stable order, then no cursor" \
	eval '[ "$pages" = a-one,a-two,b-one,shared-one, ] && [ "$cursor" = null ]'
as "$PLATFORM" GET "/api/v1/servers?cursor=not-a-cursor"
check "list: a cursor the gateway did not give is 400 naming cursor" \
	eval '[ "$HTTP_CODE" = 400 ] && is_problem_json && [ "$(field field)" = cursor ]'
as "$PLATFORM" GET "/api/v1/servers?limit=0"
check "list: limit=0 is 400" eval '[ "$HTTP_CODE" = 400 ] && [ "$(field field)" = limit ]'
as "$PLATFORM" GET "/api/v1/servers?status=activ"
check "list: an unknown status is 400 naming the field, not an empty list" \
	eval '[ "$HTTP_CODE" = 400 ] && [ "$(field field)" = status ] && [ "$(field reason)" = invalid_query ]'

# --- get, patch, maintenance -------------------------------------------------------------
as "$USER_A" GET "/api/v1/servers/$A1"
check "get: 200 with ETag \"1\"" eval '[ "$HTTP_CODE" = 200 ] && [ "$(header ETag)" = "\"1\"" ] && [ "$(field name)" = a-one ]'
as "$ADMIN_A" PATCH "/api/v1/servers/$A1" -H 'Content-Type: application/json' --data '{"description":"changed"}'
check "patch: without If-Match is 428 Precondition Required" \
	eval '[ "$HTTP_CODE" = 428 ] && is_problem_json && [ "$(field title)" = "Precondition Required" ]'
as "$ADMIN_A" PATCH "/api/v1/servers/$A1" -H 'If-Match: "1"' -H 'Content-Type: application/json' \
	--data '{"description":"changed","tags":["green"],"max_concurrency":4}'
check "patch: with the current version is 200, version 2, fields changed" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(header ETag)" = "\"2\"" ] && [ "$(field description)" = changed ] && [ "$(field tags)" = "[\"green\"]" ] && [ "$(field max_concurrency)" = 4 ]'
as "$ADMIN_A" PATCH "/api/v1/servers/$A1" -H 'If-Match: "1"' -H 'Content-Type: application/json' --data '{"description":"stale"}'
check "patch: a stale If-Match is 412 and changes nothing" \
	eval '[ "$HTTP_CODE" = 412 ] && [ "$(it_psql "SELECT description FROM servers WHERE id = '"'"'$A1'"'"'")" = changed ]'
check "patch: the 412 problem is titled Precondition Failed" eval '[ "$(field title)" = "Precondition Failed" ]'
as "$ADMIN_A" PATCH "/api/v1/servers/$A1" -H 'If-Match: "2"' -H 'Content-Type: application/json' --data '{"url":"https://elsewhere/mcp"}'
check "patch: the url cannot be patched (400 naming url)" eval '[ "$HTTP_CODE" = 400 ] && [ "$(field field)" = url ]'
as "$ADMIN_A" POST "/api/v1/servers/$A1/maintenance" --data ''
check "maintenance on: 200, maintenance true" eval '[ "$HTTP_CODE" = 200 ] && [ "$(field maintenance)" = true ]'
as "$USER_A" GET "/api/v1/servers?status=maintenance"
check "list: status=maintenance finds it" eval '[ "$(names)" = a-one ]'
as "$ADMIN_A" DELETE "/api/v1/servers/$A1/maintenance"
check "maintenance off: 200, maintenance false" eval '[ "$HTTP_CODE" = 200 ] && [ "$(field maintenance)" = false ]'
check "maintenance: both changes audited" \
	eval '[ "$(it_psql "SELECT string_agg(action, '"'"','"'"' ORDER BY id) FROM audit_log WHERE target_id = '"'"'$A1'"'"' AND action LIKE '"'"'server.maintenance%'"'"'")" = server.maintenance_on,server.maintenance_off ]'

# --- tools, search, refresh, health ------------------------------------------------------------
as "$USER_A" GET "/api/v1/servers/$A2/tools"
check "tools: the catalog of a-two (alpha, beta, gamma) with schema hashes" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(names tools)" = alpha,beta,gamma ] && [ "$(field tools.0.schema_hash | wc -c)" = 65 ]'
as "$USER_A" GET "/api/v1/tools?q=beta"
check "tool search: q=beta finds a-two's tool" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(names tools)" = beta ] && [ "$(field tools.0.server_name)" = a-two ]'
as "$USER_B" GET "/api/v1/tools?q=beta"
check "tool search: tenant b does not find tenant a's tools" eval '[ "$HTTP_CODE" = 200 ] && [ -z "$(names tools)" ]'
as "$USER_A" GET "/api/v1/tools?q=tool_&limit=2"
check "tool search: pages with a cursor" eval '[ "$(names tools)" = tool_1,tool_2 ] && [ "$(field next_cursor)" != null ]'

printf '%s' '[{"name":"alpha","description":"first","inputSchema":{"type":"object"}},{"name":"beta","description":"second, now with a new argument","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}}},{"name":"delta","description":"new","inputSchema":{"type":"object"}}]' >"$TOOLS_FILE"
first_seen_alpha=$(it_psql "SELECT first_seen FROM server_tools WHERE server_id = '$A2' AND name = 'alpha'")
as "$ADMIN_A" POST "/api/v1/servers/$A2/refresh" --data ''
check "refresh: delta added, gamma removed, beta changed, alpha unchanged" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(field tools.added)" = "[\"delta\"]" ] && [ "$(field tools.removed)" = "[\"gamma\"]" ] && [ "$(field tools.changed)" = "[\"beta\"]" ] && [ "$(field tools.unchanged)" = 1 ]'
check "refresh: the stored catalog follows, first_seen of alpha kept" \
	eval '[ "$(it_psql "SELECT string_agg(name, '"'"','"'"' ORDER BY name) FROM server_tools WHERE server_id = '"'"'$A2'"'"'")" = alpha,beta,delta ] && [ "$(it_psql "SELECT first_seen FROM server_tools WHERE server_id = '"'"'$A2'"'"' AND name = '"'"'alpha'"'"'")" = "$first_seen_alpha" ]'
check "refresh: audited with its diff" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'server.refresh'"'"' AND target_id = '"'"'$A2'"'"' AND detail->'"'"'tools'"'"'->'"'"'added'"'"' ? '"'"'delta'"'"'")" = 1 ]'
as "$OPER_A" GET "/api/v1/servers/$A1/health"
check "health: an operator probes now: healthy with a latency, stored" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(field status)" = healthy ] && [ "$(field latency_ms)" -ge 0 ] && [ "$(it_psql "SELECT last_health_status FROM servers WHERE id = '"'"'$A1'"'"'")" = healthy ]'
check "health: checked_at is an RFC 3339 time, as in the server's own JSON" \
	eval '[[ "$(field checked_at)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$ ]] || { show_response; false; }'
stop_by_pidfile "$(it_upstream_file "$PLAIN" pid)" 5
as "$OPER_A" GET "/api/v1/servers/$A1/health"
check "health: a stopped upstream is unhealthy (unreachable), and the row says so" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(field status)" = unhealthy ] && [ "$(field reason)" = unreachable ] && [ "$(it_psql "SELECT status FROM servers WHERE id = '"'"'$A1'"'"'")" = unreachable ]'

# --- every route, two tenants, both roles -----------------------------------------------------
# route_walk TOKEN ID: the status of every route on one server id, in order.
route_walk() {
	local tok=$1 id=$2 out=
	as "$tok" GET "/api/v1/servers/$id"; out+="get=$HTTP_CODE "
	as "$tok" GET "/api/v1/servers/$id/tools"; out+="tools=$HTTP_CODE "
	as "$tok" GET "/api/v1/servers/$id/health"; out+="health=$HTTP_CODE "
	as "$tok" PATCH "/api/v1/servers/$id" -H 'If-Match: "1"' -H 'Content-Type: application/json' --data '{"description":"walk"}'
	out+="patch=$HTTP_CODE "
	as "$tok" POST "/api/v1/servers/$id/maintenance" --data ''; out+="mon=$HTTP_CODE "
	as "$tok" DELETE "/api/v1/servers/$id/maintenance"; out+="moff=$HTTP_CODE "
	as "$tok" POST "/api/v1/servers/$id/refresh" --data ''; out+="refresh=$HTTP_CODE "
	as "$tok" DELETE "/api/v1/servers/$id" -H 'If-Match: "999"'; out+="delete=$HTTP_CODE"
	echo "$out"
}
walk=$(route_walk "$ADMIN_A" "$B1")
check "isolation: admin of a on b's server: 404 on every route ($walk)" \
	eval '[ "$walk" = "get=404 tools=404 health=404 patch=404 mon=404 moff=404 refresh=404 delete=404" ]'
walk=$(route_walk "$USER_A" "$B1")
check "isolation: user of a on b's server: 404 to read, 403 by role to write ($walk)" \
	eval '[ "$walk" = "get=404 tools=404 health=403 patch=403 mon=403 moff=403 refresh=403 delete=403" ]'
walk=$(route_walk "$ADMIN_B" "$A2")
check "isolation: admin of b on a's server: 404 on every route ($walk)" \
	eval '[ "$walk" = "get=404 tools=404 health=404 patch=404 mon=404 moff=404 refresh=404 delete=404" ]'
walk=$(route_walk "$USER_B" "$A2")
check "isolation: user of b on a's server: 404 to read, 403 by role to write ($walk)" \
	eval '[ "$walk" = "get=404 tools=404 health=403 patch=403 mon=403 moff=403 refresh=403 delete=403" ]'
walk=$(route_walk "$ADMIN_A" "$S1")
check "isolation: admin of a on the shared server: reads, never writes (403) ($walk)" \
	eval '[ "$walk" = "get=200 tools=200 health=200 patch=403 mon=403 moff=403 refresh=403 delete=403" ]'
check "isolation: the shared server's refusals are audited as denied" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE outcome = '"'"'denied'"'"' AND actor_user LIKE '"'"'%admin-a%'"'"'")" -ge 4 ]'
walk=$(route_walk "$USER_B" "$S1")
check "isolation: user of b on the shared server: reads, 403 by role to write ($walk)" \
	eval '[ "$walk" = "get=200 tools=200 health=403 patch=403 mon=403 moff=403 refresh=403 delete=403" ]'
check "isolation: after all that, no server of another tenant changed" \
	eval '[ "$(it_psql "SELECT count(*) FROM servers WHERE description = '"'"'walk'"'"' OR maintenance")" = 0 ]'
as "$PLATFORM" PATCH "/api/v1/servers/$B1" -H 'If-Match: "1"' -H 'Content-Type: application/json' --data '{"description":"by platform"}'
check "platform_admin changes another tenant's server" eval '[ "$HTTP_CODE" = 200 ] && [ "$(field description)" = "by platform" ]'
as "$PLATFORM" DELETE "/api/v1/servers/$S1"
check "platform_admin deletes the shared server (204), catalog with it" \
	eval '[ "$HTTP_CODE" = 204 ] && [ "$(it_psql "SELECT count(*) FROM server_tools WHERE server_id = '"'"'$S1'"'"'")" = 0 ]'
as "$ADMIN_A" DELETE "/api/v1/servers/$A2" -H 'If-Match: "1"'
check "delete: admin deletes its own server with the current If-Match (204), audited with its name" \
	eval '[ "$HTTP_CODE" = 204 ] && [ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'server.delete'"'"' AND target_id = '"'"'$A2'"'"' AND detail->>'"'"'name'"'"' = '"'"'a-two'"'"'")" = 1 ]'
as "$ADMIN_A" GET "/api/v1/servers/not-a-uuid"
check "get: an id that is not a uuid is 404" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'

# --- statements per request ----------------------------------------------------------------------
# Every statement of the responder's connection is logged; a list page must
# cost one, whatever the number of servers (no query per server).
for i in $(seq 1 12); do
	it_psql "INSERT INTO servers (tenant_id, name, url, tags) VALUES ('ta', 'bulk-$i', 'https://example.org/$i', '{bulk}')" >/dev/null
done
it_psql "ALTER DATABASE mcpgw SET log_statement = 'all'" >/dev/null
kill -HUP "$SERVE_PID"   # new responders, new connections with the setting
sleep 1
PG_LOG=$(cat "$IT_DIR/pg/pg.datadir")/postgres.log
as "$USER_A" GET "/api/v1/servers?limit=20"   # warm: the responder connects
before=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
for i in 1 2 3 4 5; do as "$USER_A" GET "/api/v1/servers?limit=20"; done
after=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
check "statements: 5 list pages of 13 servers cost $((after - before)) statements (one each)" \
	eval '[ "$HTTP_CODE" = 200 ] && [ $((after - before)) -eq 5 ]'
before=$after
for i in 1 2 3 4 5; do as "$USER_A" GET "/api/v1/servers/$B1"; as "$USER_A" GET "/api/v1/servers/$B1/tools"; done
after=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
check "statements: get and tools cost one each ($((after - before)) for 10 requests)" eval '[ $((after - before)) -eq 10 ]'
it_psql "ALTER DATABASE mcpgw RESET log_statement" >/dev/null
it_check_sanitizer_logs
