#!/usr/bin/env bash
# Resource pools through two responder pools, lighttpd (A) and Apache (B),
# sharing Redis and PostgreSQL: the seed's pools from [resources], allocations
# computed as the seed does, 200 concurrent allocations never over capacity,
# nothing left after the leases end; an upstream's max_concurrency honoured by
# tools/call (busy error with Retry-After), its slot given back after the call,
# after a client left, and by lease after a responder was killed.
. "$(dirname "$0")/lib.sh"

# Leases longer than a burst takes here, short enough to watch them end; every process started below
# (both pools) reads them from the environment.
export MCPGW_RESOURCES_LEASE_SECONDS=10
UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
WORKERS=4
it_start_two_pools
MCP_A=$MCP
PK='mreg:{pools}'

it_cast
JSONH=(-H 'Content-Type: application/json')

pool() { # pool NAME FIELD: from the last GET /api/v1/resources
	jq -r --arg n "$1" --arg f "$2" '.pools[] | select(.name == $n) | .[$f]' "$IT_DIR/last.body"
}
allocate() { # allocate BASE TOKEN BODY
	http POST "$1/api/v1/resources/allocations" -H "Authorization: Bearer $2" "${JSONH[@]}" --data "$3"
}

# --- the seed's pools --------------------------------------------------------------
http GET "$API_A/api/v1/resources" -H "Authorization: Bearer $OPER_A"
check "resources: an operator reads the pools" eval '[ "$HTTP_CODE" = 200 ]'
check "resources: database_connections allocates its shared part, 20 - 8 api - 8 mcp = 4" \
	eval '[ "$(pool database_connections capacity)" = 4 ] && [ "$(jq -r ".pools[0].partition.max_pool_size" "$IT_DIR/last.body")" = 20 ]'
check "resources: redis_connections 10 and oauth_tokens 50, nothing in use" \
	eval '[ "$(pool redis_connections capacity)" = 10 ] && [ "$(pool oauth_tokens capacity)" = 50 ] && [ "$(pool oauth_tokens in_use)" = 0 ]'
http GET "$API_A/api/v1/resources" -H "Authorization: Bearer $USER_A"
check "resources: a user may not read the pools (403)" eval '[ "$HTTP_CODE" = 403 ]'

# --- one allocation, as the seed computes it -------------------------------------------
allocate "$API_A" "$ADMIN_A" '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":12,"admin_count":3}}'
ALLOC=$(it_json id)
check "allocate: 201 with min(12 // 5, 4) = 2 database connections, 2 Redis connections, 3 token validations" \
	eval '[ "$HTTP_CODE" = 201 ] && [ "$(it_json allocation.database_connections)" = 2 ] && [ "$(it_json allocation.redis_connections)" = 2 ] && [ "$(it_json allocation.oauth_tokens)" = 3 ]'
check "allocate: Location names the allocation" eval '[ "$(header Location)" = "/api/v1/resources/allocations/$ALLOC" ]'
http GET "$API_B/api/v1/resources" -H "Authorization: Bearer $ADMIN_A"
check "allocate: the other pool sees the units in use" \
	eval '[ "$(pool database_connections in_use)" = 2 ] && [ "$(pool redis_connections in_use)" = 2 ] && [ "$(pool oauth_tokens in_use)" = 3 ]'
http GET "$API_B/api/v1/resources/allocations/$ALLOC" -H "Authorization: Bearer $ADMIN_B"
check "allocate: another tenant's admin does not see it (404)" eval '[ "$HTTP_CODE" = 404 ]'
http DELETE "$API_B/api/v1/resources/allocations/$ALLOC" -H "Authorization: Bearer $ADMIN_B"
check "allocate: nor release it (404)" eval '[ "$HTTP_CODE" = 404 ]'
http GET "$API_B/api/v1/resources/allocations/$ALLOC" -H "Authorization: Bearer $PLATFORM"
check "allocate: a platform_admin sees it, with its tenant" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json tenant_id)" = ta ]'
http DELETE "$API_B/api/v1/resources/allocations/$ALLOC" -H "Authorization: Bearer $ADMIN_A"
check "release: 204" eval '[ "$HTTP_CODE" = 204 ]'
http GET "$API_A/api/v1/resources" -H "Authorization: Bearer $ADMIN_A"
check "release: every unit is back" \
	eval '[ "$(pool database_connections in_use)" = 0 ] && [ "$(pool redis_connections in_use)" = 0 ] && [ "$(pool oauth_tokens in_use)" = 0 ]'
http DELETE "$API_A/api/v1/resources/allocations/$ALLOC" -H "Authorization: Bearer $ADMIN_A"
check "release: a second release is 404" eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'
alloc_audited() {
	[ "$(it_psql "SELECT count(*) FROM audit_log WHERE target_id = '$ALLOC' AND tenant_id = 'ta'
		AND action IN ('resources.allocate', 'resources.release')")" = 2 ]
}
check "audit: the allocation and its release are in the audit log, with the tenant" alloc_audited

allocate "$API_A" "$ADMIN_A" '{"operation_type":"bulk_delete_everything","estimated_load":{}}'
check "allocate: an unknown operation_type is 422 naming the known ones" \
	eval '[ "$HTTP_CODE" = 422 ] && body_has bulk_server_registration'
allocate "$API_A" "$ADMIN_A" '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":"many","admin_count":1}}'
check "allocate: a load that is not an integer is 422 naming the field" eval '[ "$HTTP_CODE" = 422 ] && body_has server_count'
allocate "$API_A" "$ADMIN_A" '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":5,"admin_count":51}}'
check "allocate: more than a pool holds in all is 422, not a wait" eval '[ "$HTTP_CODE" = 422 ] && body_has oauth_tokens'
allocate "$API_A" "$ADMIN_A" '{"operation_type":"bulk_server_registration"'
check "allocate: malformed JSON is 400" eval '[ "$HTTP_CODE" = 400 ]'
allocate "$API_A" "$OPER_A" '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":5,"admin_count":1}}'
check "allocate: an operator may not allocate (403)" eval '[ "$HTTP_CODE" = 403 ]'

# --- 200 at once from both pools -----------------------------------------------------
# Each takes 1 database connection, 2 Redis connections and 1 validation: the
# shared database part (4) is the limit, so exactly 4 may be granted while
# none is released.
BODY='{"operation_type":"bulk_server_registration","estimated_load":{"server_count":5,"admin_count":1}}'
mkdir -p "$IT_DIR/burst"
burst() { # burst N MODE: N requests, half to each pool, 100 at a time; MODE churn releases each grant
	seq 1 "$1" | xargs -P 100 -I{} bash -c '
		i=$1; base=$2; [ $((i % 2)) = 0 ] && base=$3
		code=$(curl -sS --cacert "$4" --max-time 30 -o "$5/$i.body" -D "$5/$i.head" -w "%{http_code}" -X POST \
			-H "Authorization: Bearer $6" -H "Content-Type: application/json" --data "$7" "$base/api/v1/resources/allocations")
		echo "$code" >"$5/$i.code"
		if [ "$8" = churn ] && [ "$code" = 201 ]; then
			id=$(jq -r .id "$5/$i.body")
			curl -sS --cacert "$4" --max-time 30 -o /dev/null -w "%{http_code}" -X DELETE \
				-H "Authorization: Bearer $6" "$base/api/v1/resources/allocations/$id" >"$5/$i.del"
		fi' _ {} "$API_A" "$API_B" "$IT_DIR/certs/ca.pem" "$IT_DIR/burst" "$ADMIN_A" "$BODY" "$2"
}
codes() { cat "$IT_DIR"/burst/*.code | grep -c "^$1\$"; }
# Sample the database pool's count in Redis while the burst runs.
sampler() {
	local max=0 v
	while [ ! -e "$IT_DIR/burst.done" ]; do
		v=$(rcli GET "$PK:n:database_connections")
		[ "${v:-0}" -gt "$max" ] && max=$v
		echo "$max" >"$IT_DIR/burst.max"
	done
}
sampler & SAMPLER=$!
T0=$(date +%s)
burst 200 hold
ELAPSED=$(($(date +%s) - T0))
touch "$IT_DIR/burst.done"
wait "$SAMPLER"
GRANTED=$(codes 201) BUSY=$(codes 503)
# A burst slower than the lease (a machine busy with other work) lets leases
# end inside it: then more than 4 may be granted over time, never at once.
if [ "$ELAPSED" -lt 9 ]; then
	check "200 concurrent allocations: exactly 4 granted (${GRANTED}), the other 196 refused as busy (${BUSY})" \
		eval '[ "$GRANTED" = 4 ] && [ "$BUSY" = 196 ]'
else
	check "200 concurrent allocations in ${ELAPSED} s: 4 or more granted over the leases (${GRANTED}), the rest busy (${BUSY})" \
		eval '[ "$GRANTED" -ge 4 ] && [ $((GRANTED + BUSY)) = 200 ]'
fi
check "200 concurrent: the database pool never held more than 4 ($(cat "$IT_DIR/burst.max"))" \
	eval '[ "$(cat "$IT_DIR/burst.max")" -le 4 ]'
check "200 concurrent: both web servers answered (only 201 and 503 from each)" \
	eval '[ "$(cat "$IT_DIR"/burst/*[02468].code | grep -cE "^(201|503)$")" = 100 ] && [ "$(cat "$IT_DIR"/burst/*[13579].code | grep -cE "^(201|503)$")" = 100 ]'
BUSYF=$(grep -l '^503$' "$IT_DIR"/burst/*.code | head -n1)
BUSYF=${BUSYF%.code}
check "busy: problem+json naming the pool, with Retry-After" \
	eval 'grep -qi "^Retry-After: [1-9]" "$BUSYF.head" && jq -e ".pool == \"database_connections\" and .capacity == 4 and .in_use == 4" "$BUSYF.body" >/dev/null'
check "200 concurrent: Redis holds exactly the granted units (4 / 8 / 4)" \
	eval '[ "$(rcli GET "$PK:n:database_connections")" = 4 ] && [ "$(rcli GET "$PK:n:redis_connections")" = 8 ] && [ "$(rcli HLEN "$PK:u:oauth_tokens")" = 4 ]'
GRANT_ID=$(jq -r .id "$(grep -l '^201$' "$IT_DIR"/burst/*.code | head -n1 | sed 's/\.code$/.body/')")

# --- leases end: nothing left ---------------------------------------------------------
sleep 10.5
http GET "$API_B/api/v1/resources" -H "Authorization: Bearer $ADMIN_A"
check "expiry: after the lease every pool is empty again" \
	eval '[ "$(pool database_connections in_use)" = 0 ] && [ "$(pool redis_connections in_use)" = 0 ] && [ "$(pool oauth_tokens in_use)" = 0 ]'
check "expiry: no holder, unit count or index entry is left in Redis" \
	eval '[ -z "$(rcli --scan --pattern "$PK:[run]:*")" ] && [ "$(rcli SCARD "$PK:index")" = 0 ]'
http GET "$API_A/api/v1/resources/allocations/$GRANT_ID" -H "Authorization: Bearer $ADMIN_A"
check "expiry: the expired allocation is gone (404)" eval '[ "$HTTP_CODE" = 404 ]'

# Churn: grants released as they come; the count must never pass 4 and must end at 0.
rm -rf "$IT_DIR/burst" "$IT_DIR/burst.done"
mkdir -p "$IT_DIR/burst"
sampler & SAMPLER=$!
burst 200 churn
touch "$IT_DIR/burst.done"
wait "$SAMPLER"
GRANTED=$(codes 201)
check "churn: allocations released as they come let more through (${GRANTED} granted)" eval '[ "$GRANTED" -gt 4 ]'
DELS=$(for f in "$IT_DIR"/burst/*.del; do cat "$f"; echo; done | sort | uniq -c | tr -s ' \n' ' ')
check "churn: every release answered 204 ($DELS)" eval '[ "$DELS" = " $GRANTED 204 " ]'
check "churn: the database pool never held more than 4 ($(cat "$IT_DIR/burst.max"))" \
	eval '[ "$(cat "$IT_DIR/burst.max")" -le 4 ]'
check "churn: nothing is held afterwards, without waiting for a lease" \
	eval '[ -z "$(rcli --scan --pattern "$PK:n:*")" ]'

# --- an upstream's max_concurrency -------------------------------------------------------
RELAY=$(it_start_upstream relay) || it_fatal "the relay fixture starts"
http POST "$API_A/api/v1/servers" -H "Authorization: Bearer $ADMIN_A" "${JSONH[@]}" \
	--data "{\"name\":\"relay\",\"url\":\"$RELAY\",\"timeout_ms\":3000,\"max_concurrency\":2}"
RELAY_ID=$(it_json server_id)
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the relay"; }
http GET "$API_A/api/v1/resources" -H "Authorization: Bearer $ADMIN_A"
check "upstream pool: one per server, sized by its max_concurrency" \
	eval '[ "$(pool "upstream:$RELAY_ID" capacity)" = 2 ] && [ "$(pool "upstream:$RELAY_ID" server)" = relay ]'
http GET "$API_A/api/v1/resources" -H "Authorization: Bearer $ADMIN_B"
check "upstream pool: another tenant does not see it" eval '[ -z "$(pool "upstream:$RELAY_ID" capacity)" ]'

# --- a bulk import holds the seed's allocation while it registers ----------------------
cat >"$IT_DIR/server.json" <<JSON
{"servers": [
 {"server": {"name": "io.example/imp-one", "version": "1.0.0", "remotes": [{"type": "streamable-http", "url": "$RELAY"}]}},
 {"server": {"name": "io.example/imp-two", "version": "1.0.0", "remotes": [{"type": "streamable-http", "url": "$RELAY"}]}}
]}
JSON
import() { MCPGW_API_URL=$API_A MCPGW_CA_FILE=$CA MCPGW_TOKEN=$ADMIN_A "$GATEWAY" import "$IT_DIR/server.json" \
	>"$IT_DIR/import.out" 2>&1; }
# Fill redis_connections (5 allocations of 2): the import's 2 do not fit.
HELD=()
for i in 1 2 3 4 5; do
	allocate "$API_B" "$ADMIN_A" '{"operation_type":"bulk_server_registration","estimated_load":{"server_count":1,"admin_count":0}}'
	HELD+=("$(it_json id)")
done
import
RC=$?
http GET "$API_A/api/v1/servers?q=imp-" -H "Authorization: Bearer $ADMIN_A"
check "import: without room for its allocation nothing is registered, exit 1 naming the pool" \
	eval '[ "$RC" = 1 ] && grep -q "redis_connections" "$IT_DIR/import.out" && [ "$(jq ".servers | length" "$IT_DIR/last.body")" = 0 ]'
for id in "${HELD[@]}"; do http DELETE "$API_B/api/v1/resources/allocations/$id" -H "Authorization: Bearer $ADMIN_A"; done
import
RC=$?
check "import: with room both servers are registered" eval '[ "$RC" = 0 ] && grep -q "^2 imported, 0 refused" "$IT_DIR/import.out"'
last_released() {
	[ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'resources.release' AND target_id =
		(SELECT target_id FROM audit_log WHERE action = 'resources.allocate' ORDER BY id DESC LIMIT 1)")" = 1 ]
}
check "import: its allocation was taken and released (audited), nothing left in the pools" \
	eval 'last_released && [ -z "$(rcli --scan --pattern "$PK:n:*")" ]'

ACCEPT='application/json, text/event-stream'
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it-client","version":"1.0"}}}'
mcp() { # mcp URL BODY [CURL-ARGS...]
	local url=$1 body=$2
	shift 2
	http POST "$url" -H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2025-11-25' --data-binary "$body" "$@"
}
mcp "$MCP_A/mcp" "$INIT"
SID=$(header Mcp-Session-Id)
mcp "$MCP_A/mcp" '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $SID"
WAIT='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"relay__wait","arguments":{"ms":2000}}}'
bg_call() { # bg_call N [CURL-ARGS...]: the wait call in the background, answer in $IT_DIR/bg-N.body
	local n=$1
	shift
	curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 20 -o "$IT_DIR/bg-$n.body" -X POST \
		-H "Authorization: Bearer $USER_A" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2025-11-25' -H "Mcp-Session-Id: $SID" --data-binary "$WAIT" "$@" \
		"$MCP_A/mcp" 2>/dev/null &
}
in_use() { rcli GET "$PK:n:upstream:$RELAY_ID"; }
bg_call 1; P1=$!
bg_call 2; P2=$!
wait_until 5 eval '[ "$(in_use)" = 2 ]'
check "tools/call: two calls in flight hold both slots" eval '[ "$(in_use)" = 2 ]'
mcp "$MCP_A/mcp" '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"relay__echo","arguments":{"text":"x"}}}' \
	-H "Mcp-Session-Id: $SID"
check "tools/call: a third is refused at once with the busy error -32018 and its data" \
	eval '[ "$(jq -r .error.code "$IT_DIR/last.body")" = -32018 ] && [ "$(jq -r .error.data.reason "$IT_DIR/last.body")" = busy ] && [ "$(jq -r .error.data.max_concurrency "$IT_DIR/last.body")" = 2 ] && [ "$(jq -r .id "$IT_DIR/last.body")" = 9 ]'
check "tools/call: the busy answer carries Retry-After" eval '[ "$(header Retry-After)" = 1 ]'
check "metrics: the refusal is counted per server" \
	eval '[ "$(it_fleet_metric "mcp_upstream_busy_total{server=\"relay\"}")" = 1 ]'
wait "$P1" "$P2"
check "tools/call: the two calls were answered" \
	eval 'grep -q waited "$IT_DIR/bg-1.body" && grep -q waited "$IT_DIR/bg-2.body"'
check "tools/call: their slots were given back" eval '[ -z "$(in_use)" ]'
mcp "$MCP_A/mcp" '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"relay__echo","arguments":{"text":"again"}}}' \
	-H "Mcp-Session-Id: $SID"
check "tools/call: with room again the call goes through" eval 'body_has again'
busy_audited() { [ "$(it_psql "SELECT count(*) FROM audit_log WHERE action = 'tool_call' AND outcome = 'failure' AND detail->>'error_code' = '-32018'")" -ge 1 ]; }
wait_until 10 busy_audited
check "audit: the refused call is recorded as a failed tool call (error -32018)" busy_audited

# A client that leaves mid-call: its slot is back once the upstream call ends.
bg_call 3 --max-time 0.5; P3=$!
wait "$P3"
wait_until 8 eval '[ -z "$(in_use)" ]'
check "tools/call: the slot of a client that left is given back" eval '[ -z "$(in_use)" ]'

# A responder killed mid-call: its slot stays until its lease ends (2 x 3 s + 5 s).
WAIT='{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"relay__wait","arguments":{"ms":2500}}}'
bg_call 4; P4=$!
wait_until 5 eval '[ "$(in_use)" = 1 ]'
RPORT=${RELAY#http://127.0.0.1:}
RPORT=${RPORT%%/*}
VICTIMS=$(ss -Htnp "dst 127.0.0.1:$RPORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
for p in $VICTIMS; do
	# only responders of the two pools (children of a supervisor started here)
	case " $(children "$SERVE_PID") $(children "$(head -n1 "$IT_DIR/serve-b.pid")") " in *" $p "*) kill -KILL "$p" ;; esac
done
wait "$P4"
check "responder killed mid-call: its slot is still counted (no one released it)" eval '[ "$(in_use)" = 1 ]'
sleep 11.5
http GET "$API_B/api/v1/resources" -H "Authorization: Bearer $ADMIN_A"
check "responder killed mid-call: the slot ends with its lease" eval '[ "$(pool "upstream:$RELAY_ID" in_use)" = 0 ]'
it_check_sanitizer_logs
