#!/usr/bin/env bash
# The MCP plane's catalog and aggregation on /mcp, through lighttpd against
# real upstreams (SDK fixtures): the catalog in Redis (MAC'd, rebuilt from
# PostgreSQL when missing or tampered with), lists per tenant and roles,
# pagination, URI collisions, maintenance, built-in tools, list_changed
# notifications on a session's stream, no PostgreSQL on a warm list, and the
# catalog refresh with a hanging upstream next to a fast one.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
export MCPGW_SESSION_STREAM_SECONDS=6 MCPGW_SESSION_KEEPALIVE_SECONDS=1
# Small pages, so that a handful of tools spans several.
export MCPGW_MCP_PAGE_SIZE=4
export MCPGW_UPSTREAM_TIMEOUT_MS=3000
it_start_stores
it_setup_gateway
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
OPS_FIN_A=$(it_mint --sub ops-fin --tenant ta --roles operator,finance)
OPS_A=$(it_mint --sub ops --tenant ta --roles operator)
USER_B=$(it_mint --sub user-b --tenant tb --roles user)
ADMIN_B=$(it_mint --sub admin-b --tenant tb --roles admin)
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
GW_LOG=$IT_DIR/gateway.log

PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
PLAIN3=$(it_start_upstream plain --tools 3 --no-prompts --no-resources) || it_fatal "a second plain fixture starts"
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

EXPECT_TOOLS_A="alpha__tool_1 alpha__tool_2 alpha__tool_3 alpha__tool_4 alpha__tool_5 common__tool_1 common__tool_2 common__tool_3 common__tool_4 common__tool_5 gateway__list_servers"
all_names "$USER_A" "$SID_A" tools/list tools name; got=$(names)
check "tools/list (user, tenant ta): own and shared servers' tools as {server}__{tool} plus the user's built-ins, over $PAGES pages of 4" \
	eval '[ "$got" = "$EXPECT_TOOLS_A" ] && [ "$PAGES" = 3 ]'
check "tools/list pages come in name order without repeats" \
	eval '[ "$(cat "$IT_DIR/names")" = "$(sort "$IT_DIR/names")" ] && [ "$(sort -u "$IT_DIR/names" | wc -l)" = 11 ]'
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
	eval '[ "$got" = "beta__tool_1 beta__tool_2 beta__tool_3 common__tool_1 common__tool_2 common__tool_3 common__tool_4 common__tool_5 gateway__list_servers" ]'

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
check "resources/templates/list answers a (here empty) list" eval '[ "$(it_json result.resourceTemplates)" = "[]" ]'

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
