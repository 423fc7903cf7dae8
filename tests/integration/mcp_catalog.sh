#!/usr/bin/env bash
# The MCP plane's catalog and aggregation on /mcp, through lighttpd against
# real upstreams (SDK fixtures): the catalog in Redis (MAC'd, rebuilt from
# PostgreSQL when missing or tampered with), lists per tenant and roles,
# pagination, URI collisions, maintenance, built-in tools, list_changed
# notifications on a session's stream, no PostgreSQL on a warm list, and the
# catalog refresh with a hanging upstream next to a fast one.
. "$(dirname "$0")/lib.sh"
# The fleet leader's periodic jobs run statements of their own: none while
# this test counts them (an idle event stream costs none).
export MCPGW_LEADER_HEALTH_PERIOD_MS=86400000 MCPGW_LEADER_CATALOG_PERIOD_MS=86400000
export MCPGW_LEADER_CLEANUP_PERIOD_MS=86400000

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_SESSION_STREAM_SECONDS=6 MCPGW_SESSION_KEEPALIVE_SECONDS=1
# Small pages, so that a handful of tools spans several.
export MCPGW_MCP_PAGE_SIZE=4
export MCPGW_UPSTREAM_TIMEOUT_MS=3000
it_start_stores
it_setup_gateway
# Two GET streams at once: half of the responders may hold streams.
it_start_serve 4
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
OPS_FIN_A=$(it_mint --sub ops-fin --tenant ta --roles operator,finance)
OPS_A=$(it_mint --sub ops --tenant ta --roles operator)
USER_B=$(it_mint --sub user-b --tenant tb --roles user)
ADMIN_B=$(it_mint --sub admin-b --tenant tb --roles admin)
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
GW_LOG=$IT_DIR/gateway.log

PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
PLAIN3=$(it_start_upstream plain --tools 3 --no-prompts --no-resources) || it_fatal "a second plain fixture starts"
PLAIN_T=$(it_start_upstream plain --tools 1 --no-prompts --templates 3) || it_fatal "a plain fixture with resource templates starts"
HANG=$(it_start_upstream hang) || it_fatal "the hang fixture starts"

register() {
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' --data "$2"
}
ACCEPT='application/json, text/event-stream'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it-client","version":"1.0"}}}'
# session TOKEN: a new /mcp session; prints its id.
session() {
	http POST "$MCP/mcp" -H "Authorization: Bearer $1" -H "Accept: $ACCEPT" \
		-H 'Content-Type: application/json' --data-binary "$INIT"
	header Mcp-Session-Id
}
# rpc TOKEN SID METHOD [PARAMS]: one request on the session.
rpc() {
	http POST "$MCP/mcp" -H "Authorization: Bearer $1" -H "Accept: $ACCEPT" -H "Mcp-Session-Id: $2" \
		-H 'Content-Type: application/json' -H 'MCP-Protocol-Version: 2025-11-25' \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"$3\",\"params\":${4:-{\}}}"
}
# all_names TOKEN SID METHOD FIELD KEY: every page of a list, one key a line
# into $IT_DIR/names (pages counted in PAGES); fails on an error answer.
all_names() {
	local tok=$1 sid=$2 method=$3 field=$4 key=$5 cursor= params
	PAGES=0
	: >"$IT_DIR/names"
	while :; do
		params='{}'
		[ -n "$cursor" ] && params="{\"cursor\":\"$cursor\"}"
		rpc "$tok" "$sid" "$method" "$params"
		[ "$HTTP_CODE" = 200 ] && body_has '"result"' || return 1
		PAGES=$((PAGES + 1))
		jq -r ".result.$field[].$key" "$IT_DIR/last.body" >>"$IT_DIR/names"
		cursor=$(jq -r '.result.nextCursor // empty' "$IT_DIR/last.body")
		[ -n "$cursor" ] || break
		[ "$PAGES" -lt 50 ] || return 1
	done
}
names() { sort "$IT_DIR/names" | tr '\n' ' ' | sed 's/ $//'; }
entry_of() { rcli GET "mreg:cat:server:$1" | tail -n +2; }

# --- registry -> catalog ---------------------------------------------------------
register "$ADMIN_A" "{\"name\":\"alpha\",\"url\":\"$PLAIN\",\"timeout_ms\":5000,\"tags\":[\"t1\"],\"description\":\"Alpha tools\"}"
check "register alpha (tenant ta)" eval '[ "$HTTP_CODE" = 201 ]'
ALPHA_ID=$(it_json server_id)
register "$ADMIN_B" "{\"name\":\"beta\",\"url\":\"$PLAIN3\",\"timeout_ms\":5000}"
check "register beta (tenant tb)" eval '[ "$HTTP_CODE" = 201 ]'
BETA_ID=$(it_json server_id)
register "$PLATFORM" "{\"name\":\"common\",\"url\":\"$PLAIN\",\"tenant_id\":null,\"timeout_ms\":5000}"
check "register common (shared, same resources as alpha)" eval '[ "$HTTP_CODE" = 201 ]'
COMMON_ID=$(it_json server_id)
register "$ADMIN_A" "{\"name\":\"secret\",\"url\":\"$PLAIN3\",\"timeout_ms\":5000,\"required_roles\":[\"operator\",\"finance\"]}"
check "register secret (tenant ta, required_roles operator and finance)" eval '[ "$HTTP_CODE" = 201 ]'
SECRET_ID=$(it_json server_id)

check "the catalog in Redis: version, a sealed index and sealed entries" \
	eval '[ -n "$(rcli GET mreg:cat:version)" ] && rcli GET mreg:cat:index | head -n1 | grep -qx "cat1 [0-9a-f]\{64\}" && [ "$(entry_of "$ALPHA_ID" | jq -r .name)" = alpha ] && [ "$(entry_of "$COMMON_ID" | jq -r .tenant_id)" = null ]'

# --- initialize and lists ------------------------------------------------------------
SID_A=$(session "$USER_A")
check "initialize declares tools, prompts and resources with listChanged" \
	eval '[ "$(it_json result.capabilities.tools.listChanged)" = true ] && [ "$(it_json result.capabilities.prompts.listChanged)" = true ] && [ "$(it_json result.capabilities.resources.listChanged)" = true ]'

EXPECT_TOOLS_A="alpha__tool_1 alpha__tool_2 alpha__tool_3 alpha__tool_4 alpha__tool_5 common__tool_1 common__tool_2 common__tool_3 common__tool_4 common__tool_5 gateway__delegate_task gateway__list_servers"
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(names)
check "tools/list (user, tenant ta): own and shared servers' tools as {server}__{tool} plus the user's built-ins, over $PAGES pages of 4" \
	eval '[ "$got" = "$EXPECT_TOOLS_A" ] && [ "$PAGES" = 3 ]'
check "tools/list pages come in name order without repeats" \
	eval '[ "$(cat "$IT_DIR/names")" = "$(sort "$IT_DIR/names")" ] && [ "$(sort -u "$IT_DIR/names" | wc -l)" = 12 ]'
rpc "$USER_A" "$SID_A" tools/list
check "an upstream tool keeps its schema, title and annotations" \
	eval 'jq -e ".result.tools[] | select(.name == \"alpha__tool_1\") | .inputSchema.required == [\"text\"] and .title == \"Tool 1\" and .annotations.readOnlyHint == true and (has(\"outputSchema\"))" "$IT_DIR/last.body" >/dev/null'
rpc "$USER_A" "$SID_A" tools/list '{"cursor":"bm90LWEtY3Vyc29y"}'
check "tools/list with a bad cursor: -32602" eval '[ "$(it_json error.code)" = -32602 ]'
rpc "$USER_A" "$SID_A" prompts/list '{"cursor":"'"$(printf 'c1t:alpha__tool_1' | base64 | tr '+/' '-_' | tr -d '=')"'"}'
check "prompts/list with a tools cursor: -32602" eval '[ "$(it_json error.code)" = -32602 ]'

SID_B=$(session "$USER_B")
all_names "$USER_B" "$SID_B" tools/list tools name; got=$(names)
check "tools/list (user, tenant tb): beta and common only" \
	eval '[ "$got" = "beta__tool_1 beta__tool_2 beta__tool_3 common__tool_1 common__tool_2 common__tool_3 common__tool_4 common__tool_5 gateway__delegate_task gateway__list_servers" ]'

all_names "$USER_A" "$SID_A" prompts/list prompts name; got=$(names)
check "prompts/list: {server}__{prompt} of alpha and common" \
	eval '[ "$got" = "alpha__prompt_1 alpha__prompt_2 alpha__prompt_3 common__prompt_1 common__prompt_2 common__prompt_3" ]'
MARK=$(($(wc -l <"$GW_LOG") + 1))
all_names "$USER_A" "$SID_A" resources/list resources uri; got=$(names)
check "resources/list: by URI, a URI listed by two servers once" \
	eval '[ "$got" = "test://resource/1 test://resource/2 test://resource/3" ]'
check "the URI collision is logged, alpha (first by name) kept" \
	eval 'tail -n +$MARK "$GW_LOG" | grep "catalog_uri_collision" | grep -q "alpha is kept"'
rpc "$USER_A" "$SID_A" resources/templates/list
check "resources/templates/list: none yet (plain lists none, resources/templates/list unknown to it)" \
	eval '[ "$(it_json result.resourceTemplates)" = "[]" ]'
register "$ADMIN_B" "{\"name\":\"tmpl\",\"url\":\"$PLAIN_T\",\"timeout_ms\":5000}"
check "register tmpl (tenant tb): its resource templates are stored" \
	eval '[ "$HTTP_CODE" = 201 ] && [ "$(it_psql "SELECT count(*) FROM server_resource_templates")" = 3 ]'
all_names "$USER_B" "$SID_B" resources/templates/list resourceTemplates uriTemplate; got=$(names)
check "resources/templates/list (tenant tb): tmpl's templates by URI template" \
	eval '[ "$got" = "test://template/1/{id} test://template/2/{id} test://template/3/{id}" ] && [ "$PAGES" = 1 ]'
all_names "$USER_A" "$SID_A" resources/templates/list resourceTemplates uriTemplate
check "resources/templates/list (tenant ta): not tenant tb's" eval '[ ! -s "$IT_DIR/names" ]'

# required_roles: every listed role, as a gateway role or a roles claim entry.
SID_OF=$(session "$OPS_FIN_A")
all_names "$OPS_FIN_A" "$SID_OF" tools/list tools name; got=$(grep -c '^secret__' "$IT_DIR/names" || true)
check "required_roles: a caller holding operator and finance sees secret's tools" eval '[ "$got" = 3 ]'
SID_O=$(session "$OPS_A")
all_names "$OPS_A" "$SID_O" tools/list tools name; got=$(grep -c '^secret__' "$IT_DIR/names" || true)
check "required_roles: operator without finance does not" eval '[ "$got" = 0 ]'
all_names "$ADMIN_A" "$(session "$ADMIN_A")" tools/list tools name; got=$(grep -c '^secret__' "$IT_DIR/names" || true)
check "required_roles: admin (implies operator) without finance does not" eval '[ "$got" = 0 ]'

# --- built-in tools ----------------------------------------------------------------------
rpc "$USER_A" "$SID_A" tools/call '{"name":"gateway__list_servers","arguments":{}}'
check "gateway__list_servers: the servers the caller sees, with counts and tags, no URL" \
	eval '[ "$(jq -c "[.result.structuredContent.servers[].name]" "$IT_DIR/last.body")" = "[\"alpha\",\"common\"]" ] && [ "$(jq -r ".result.structuredContent.servers[0].tools" "$IT_DIR/last.body")" = 5 ] && [ "$(jq -c ".result.structuredContent.servers[0].tags" "$IT_DIR/last.body")" = "[\"t1\"]" ] && ! body_has "127.0.0.1" && [ "$(it_json result.isError)" = false ]'
SID_AA=$(session "$ADMIN_A")
PLAIN3_B=$(it_start_upstream plain --tools 2 --no-prompts --no-resources) || it_fatal "a third plain fixture starts"
rpc "$ADMIN_A" "$SID_AA" tools/call "{\"name\":\"gateway__register_server\",\"arguments\":{\"name\":\"gamma\",\"url\":\"$PLAIN3_B\",\"timeout_ms\":5000}}"
check "gateway__register_server (admin): server_id and the four phases" \
	eval '[ "$(it_json result.isError)" = false ] && [ -n "$(it_json result.structuredContent.server_id)" ] && [ "$(it_json result.structuredContent.phases_completed)" = "[\"auth\",\"validation\",\"registration\",\"audit\"]" ]'
GAMMA_ID=$(it_json result.structuredContent.server_id)
check "gateway__register_server: the server is in the registry, in the admin's tenant" \
	eval '[ "$(it_psql "SELECT tenant_id FROM servers WHERE id = '"'"'$GAMMA_ID'"'"'")" = ta ]'
rpc "$ADMIN_A" "$SID_AA" tools/call "{\"name\":\"gateway__register_server\",\"arguments\":{\"name\":\"gamma\",\"url\":\"$PLAIN3_B\"}}"
check "gateway__register_server: a failure is a tool result with isError and the reason" \
	eval '[ "$(it_json result.isError)" = true ] && jq -r ".result.content[0].text" "$IT_DIR/last.body" | grep -q duplicate_name'
rpc "$ADMIN_A" "$SID_AA" tools/call "{\"name\":\"gateway__register_server\",\"arguments\":{\"name\":\"delta\",\"url\":\"http://169.254.169.254/mcp\"}}"
check "gateway__register_server: a refused URL is a tool error naming url_refused" \
	eval '[ "$(it_json result.isError)" = true ] && jq -r ".result.content[0].text" "$IT_DIR/last.body" | grep -q url_refused'
rpc "$USER_A" "$SID_A" tools/call "{\"name\":\"gateway__register_server\",\"arguments\":{\"name\":\"delta\",\"url\":\"$PLAIN3_B\"}}"
check "gateway__register_server (user): refused as an unknown tool, nothing registered" \
	eval '[ "$(it_json error.code)" = -32602 ] && [ "$(it_psql "SELECT count(*) FROM servers WHERE name = '"'"'delta'"'"'")" = 0 ]'
rpc "$USER_A" "$SID_A" tools/list
check "gateway__register_server is not listed for a user" eval '! body_has gateway__register_server'
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(grep -c '^gamma__' "$IT_DIR/names" || true)
check "the registered server's tools are listed at once" eval '[ "$got" = 2 ]'

# --- maintenance -----------------------------------------------------------------------------
http POST "$API/api/v1/servers/$COMMON_ID/maintenance" -H "Authorization: Bearer $PLATFORM" --data ''
check "maintenance on for common" eval '[ "$HTTP_CODE" = 200 ]'
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(grep -c '^common__' "$IT_DIR/names" || true)
check "tools/list leaves out a server in maintenance" eval '[ "$got" = 0 ] && grep -q "^alpha__tool_1$" "$IT_DIR/names"'
all_names "$USER_A" "$SID_A" prompts/list prompts name; got=$(grep -c '^common__' "$IT_DIR/names" || true)
check "prompts/list too" eval '[ "$got" = 0 ]'
http DELETE "$API/api/v1/servers/$COMMON_ID/maintenance" -H "Authorization: Bearer $PLATFORM"
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(grep -c '^common__' "$IT_DIR/names" || true)
check "maintenance off: its tools are back" eval '[ "$got" = 5 ]'

# --- list_changed on an open stream ---------------------------------------------------------
# sse TOKEN SID OUT: a GET /mcp stream into OUT (ends after session.stream_seconds).
sse() {
	curl -sS -N --cacert "$IT_DIR/certs/ca.pem" --max-time 15 -o "$3" \
		-H "Authorization: Bearer $1" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $2" "$MCP/mcp"
}
wait_for() { local i; for i in $(seq 1 60); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
PLAIN_D=$(it_start_upstream plain --tools 1 --no-resources) || it_fatal "a fourth plain fixture starts"
SID_N=$(session "$USER_A")
SID_NB=$(session "$USER_B")
sse "$USER_A" "$SID_N" "$IT_DIR/sse-a" &
SSE_A=$!
sse "$USER_B" "$SID_NB" "$IT_DIR/sse-b" &
SSE_B=$!
wait_for "$IT_DIR/sse-a" '^id: ' && wait_for "$IT_DIR/sse-b" '^id: '
register "$ADMIN_A" "{\"name\":\"delta\",\"url\":\"$PLAIN_D\",\"timeout_ms\":5000}"
DELTA_ID=$(it_json server_id)
check "a registration in tenant ta: its open stream gets tools and prompts list_changed" \
	eval 'wait_for "$IT_DIR/sse-a" "notifications/tools/list_changed" && wait_for "$IT_DIR/sse-a" "notifications/prompts/list_changed"'
check "  but no resources list_changed (delta lists none)" eval '! grep -q "notifications/resources/list_changed" "$IT_DIR/sse-a"'
wait "$SSE_A" "$SSE_B"
check "tenant tb's stream gets nothing for tenant ta's server" eval '! grep -q list_changed "$IT_DIR/sse-b"'
sse "$USER_B" "$SID_NB" "$IT_DIR/sse-b2" &
SSE_B=$!
wait_for "$IT_DIR/sse-b2" '^id: '
http POST "$API/api/v1/servers/$COMMON_ID/maintenance" -H "Authorization: Bearer $PLATFORM" --data ''
check "maintenance of a shared server: tenant tb's stream gets list_changed for tools, prompts and resources" \
	eval 'wait_for "$IT_DIR/sse-b2" "notifications/tools/list_changed" && wait_for "$IT_DIR/sse-b2" "notifications/prompts/list_changed" && wait_for "$IT_DIR/sse-b2" "notifications/resources/list_changed"'
wait "$SSE_B"
http DELETE "$API/api/v1/servers/$COMMON_ID/maintenance" -H "Authorization: Bearer $PLATFORM"
SID_OS=$(session "$OPS_A")
http PATCH "$API/api/v1/servers/$SECRET_ID" -H "Authorization: Bearer $ADMIN_A" -H 'If-Match: "1"' \
	-H 'Content-Type: application/json' --data '{"description":"still secret"}'
check "patching secret (required_roles operator, finance)" eval '[ "$HTTP_CODE" = 200 ]'
check "  queues nothing for a session that cannot see it" eval '[ "$(rcli XLEN "mreg:stream:{$SID_OS}")" = 0 ]'

# --- catalog refresh: a hanging upstream next to fast ones ---------------------------------
register "$ADMIN_A" "{\"name\":\"slow\",\"url\":\"$PLAIN3\",\"timeout_ms\":2000}"
SLOW_ID=$(it_json server_id)
# The upstream behind slow now hangs (a server that stopped answering).
it_psql "UPDATE servers SET url = '$HANG' WHERE id = '$SLOW_ID'" >/dev/null
http POST "$API/api/v1/catalog/refresh" -H "Authorization: Bearer $USER_A" --data ''
check "catalog refresh: 403 for a user" eval '[ "$HTTP_CODE" = 403 ]'
HTTP_MAX_TIME=20 http POST "$API/api/v1/catalog/refresh" -H "Authorization: Bearer $ADMIN_A" --data ''
check "catalog refresh (admin, tenant ta): answered within slow's 2 s deadline and a margin (${HTTP_TIME}s)" \
	eval '[ "$HTTP_CODE" = 200 ] && awk "BEGIN{exit !($HTTP_TIME >= 1.8 && $HTTP_TIME < 4.5)}"'
check "  the fast servers of tenant ta refreshed, nothing of another tenant or shared" \
	eval '[ "$(jq -c "[.refreshed[].name] | sort" "$IT_DIR/last.body")" = "[\"alpha\",\"delta\",\"gamma\",\"secret\"]" ]'
check "  slow unavailable: timed out, marked unreachable" \
	eval '[ "$(jq -c "[.unavailable[] | [.name, .reason, .status]]" "$IT_DIR/last.body")" = "[[\"slow\",\"timed_out\",\"unreachable\"]]" ] && [ "$(it_psql "SELECT status FROM servers WHERE id = '"'"'$SLOW_ID'"'"'")" = unreachable ]'
check "  a refresh is audited per server refreshed" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = '"'"'server.refresh'"'"' AND target_id = '"'"'$ALPHA_ID'"'"'")" -ge 1 ]'
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(grep -c '^slow__' "$IT_DIR/names" || true)
check "  slow keeps its last catalog" eval '[ "$got" = 3 ]'
rpc "$USER_A" "$SID_A" tools/call '{"name":"gateway__list_servers","arguments":{}}'
check "  and gateway__list_servers shows it unreachable" \
	eval '[ "$(jq -r ".result.structuredContent.servers[] | select(.name == \"slow\") | .status" "$IT_DIR/last.body")" = unreachable ]'
MCPGW_API_URL=$API MCPGW_TOKEN=$PLATFORM MCPGW_CA_FILE=$IT_DIR/certs/ca.pem \
	timeout 20 "$GATEWAY" catalog refresh >"$IT_DIR/cli.out" 2>&1
rc=$?
check "mcp-gateway catalog refresh (platform_admin): every server, slow unavailable, exit 1" \
	eval '[ $rc = 1 ] && grep -q "^refreshed  *common " "$IT_DIR/cli.out" && grep -q "^refreshed  *beta " "$IT_DIR/cli.out" && grep -q "^unavailable  *slow .*timed_out" "$IT_DIR/cli.out"'
[ $rc = 1 ] || diag <"$IT_DIR/cli.out"
it_psql "UPDATE servers SET url = '$PLAIN3' WHERE id = '$SLOW_ID'" >/dev/null
MCPGW_API_URL=$API MCPGW_TOKEN=$ADMIN_B MCPGW_CA_FILE=$IT_DIR/certs/ca.pem \
	timeout 20 "$GATEWAY" catalog refresh --json >"$IT_DIR/cli.json" 2>&1
rc=$?
check "mcp-gateway catalog refresh --json (admin of tenant tb): its servers only, exit 0" \
	eval '[ $rc = 0 ] && [ "$(jq -c "[.refreshed[].name]" "$IT_DIR/cli.json")" = "[\"beta\",\"tmpl\"]" ]'

# --- concurrent writers --------------------------------------------------------------------
MARK=$(($(wc -l <"$GW_LOG") + 1))
writers=()
for i in 1 2 3 4; do
	curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 20 -o /dev/null -X POST "$API/api/v1/servers" \
		-H "Authorization: Bearer $ADMIN_A" -H 'Content-Type: application/json' \
		--data "{\"name\":\"many-$i\",\"url\":\"$PLAIN3\",\"timeout_ms\":5000}" &
	writers+=($!)
done
for i in 1 2 3 4 5 6; do rpc "$USER_A" "$SID_A" tools/list; done
wait "${writers[@]}"
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(grep -c '^many-[1-4]__' "$IT_DIR/names" || true)
check "4 registrations at once: every one in the catalog" eval '[ "$got" = 12 ]'
check "  and no reader took the writers for an attacker" eval '! tail -n +$MARK "$GW_LOG" | grep -q catalog_untrusted'

# --- trust: Redis is not a trust anchor ----------------------------------------------------
ALPHA_URL=$(entry_of "$ALPHA_ID" | jq -r .url)
MARK=$(($(wc -l <"$GW_LOG") + 1))
# Re-point alpha: same entry, another URL, the old MAC line.
{ rcli GET "mreg:cat:server:$ALPHA_ID" | head -n1; entry_of "$ALPHA_ID" | jq -c '.url = "http://attacker.example/mcp"'; } >"$IT_DIR/forged"
rcli -x SET "mreg:cat:server:$ALPHA_ID" <"$IT_DIR/forged" >/dev/null
rcli SET mreg:cat:version 1 >/dev/null   # make every responder read the catalog again
all_names "$USER_A" "$SID_A" tools/list tools name
check "an altered entry: lists still answer from the registry" eval 'grep -q "^alpha__tool_1$" "$IT_DIR/names"'
check "  the entry is logged as untrusted and rewritten from PostgreSQL" \
	eval 'tail -n +$MARK "$GW_LOG" | grep catalog_untrusted | grep -q "$ALPHA_ID" && [ "$(entry_of "$ALPHA_ID" | jq -r .url)" = "$ALPHA_URL" ]'
# Plant a server: an entry of our own making and an index that names it.
MARK=$(($(wc -l <"$GW_LOG") + 1))
FAKE_ID=00000000-0000-4000-8000-000000000001
printf 'cat1 %064d\n{"id":"%s","name":"evil","tenant_id":null,"url":"http://attacker.example/mcp","description":"","tags":[],"status":"active","maintenance":false,"timeout_ms":1000,"max_concurrency":1,"protocol_version":"","required_roles":[],"server_info":{},"capabilities":{},"auth_type":"none","auth_secret":null,"auth_key_id":null,"tools":[{"name":"steal"}],"prompts":[],"resources":[],"resource_templates":[]}' 0 "$FAKE_ID" >"$IT_DIR/planted"
rcli -x SET "mreg:cat:server:$FAKE_ID" <"$IT_DIR/planted" >/dev/null
{ rcli GET mreg:cat:index | head -n1; rcli GET mreg:cat:index | tail -n +2 | jq -c --arg id "$FAKE_ID" '.servers += [{"id": $id, "mac": ("0" * 64)}] | .version += 1000000'; } >"$IT_DIR/index"
rcli -x SET mreg:cat:index <"$IT_DIR/index" >/dev/null
rcli INCRBY mreg:cat:version 1000000 >/dev/null
all_names "$USER_A" "$SID_A" tools/list tools name
check "a planted server is not listed" eval '! grep -q "^evil__" "$IT_DIR/names" && grep -q "^alpha__tool_1$" "$IT_DIR/names"'
check "  the index is logged as untrusted and the catalog rebuilt without it" \
	eval 'tail -n +$MARK "$GW_LOG" | grep -q "catalog_untrusted.*index" && ! rcli GET mreg:cat:index | grep -q "$FAKE_ID"'

# --- the catalog gone from Redis --------------------------------------------------------------
rcli --scan --pattern 'mreg:cat:*' | xargs rcli DEL >/dev/null
all_names "$USER_A" "$SID_A" tools/list tools name
check "Redis lost the catalog: lists answer, rebuilt from PostgreSQL" \
	eval 'grep -q "^alpha__tool_1$" "$IT_DIR/names" && [ -n "$(rcli GET mreg:cat:version)" ] && [ "$(entry_of "$ALPHA_ID" | jq -r .name)" = alpha ]'

# --- a warm tools/list costs no SQL ---------------------------------------------------------
it_psql "ALTER DATABASE mcpgw SET log_statement = 'all'" >/dev/null
PG_LOG=$(cat "$IT_DIR/pg/pg.datadir")/postgres.log
kill -HUP "$SERVE_PID"   # new responders: empty caches, connections with the setting
sleep 1
SID_W=$(session "$USER_A")
for i in 1 2 3 4 5 6; do rpc "$USER_A" "$SID_W" tools/list; done   # every responder warm
before=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
for i in $(seq 1 10); do rpc "$USER_A" "$SID_W" tools/list; done
after=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
check "10 warm tools/list cost $((after - before)) SQL statements (none)" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has alpha__tool_1 && [ $((after - before)) -eq 0 ]'
rcli DEL mreg:cat:version >/dev/null
before=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
rpc "$USER_A" "$SID_W" tools/list
after=$(grep -c 'LOG:  \(statement\|execute\)' "$PG_LOG")
check "a cold catalog is read from PostgreSQL once ($((after - before)) statement)" \
	eval 'body_has alpha__tool_1 && [ $((after - before)) -eq 1 ]'
it_psql "ALTER DATABASE mcpgw RESET log_statement" >/dev/null
# Responders report leaks when they exit: stop them before reading the log.
serve_stop "$SERVE_PIDFILE"
it_check_sanitizer_logs
