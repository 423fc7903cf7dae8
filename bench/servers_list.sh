#!/usr/bin/env bash
# GET /api/v1/servers (50 servers, one page of 50, with a bearer token) against
# GET /health, both through lighttpd (HTTPS, the shipped config) to the same
# `mcp-gateway serve`, rounds alternating. Prints both rates and their ratio.
#
# usage: bench/servers_list.sh   (env: DURATION=10 ROUNDS=3 CONNS=16 WORKERS=2 SERVERS=50 BIN=./mcp-gateway)
# wrk runs on CPU 0, lighttpd, the responders and the stores on CPU 1.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-50}
BIN=${BIN:-$GW_ROOT/mcp-gateway}
. "$GW_ROOT/bench/lib.sh"
bench_init
trap bench_cleanup EXIT

bench_stack
TOKEN=$("$BIN" token --config "$CONF" --sub bench --tenant bench --roles user --aud "$AUDIENCE" --ttl 3600)
# The servers as registration leaves them, five tools each (the list counts them).
# Through the private socket: the DSN holds the password, and a command line
# is readable by every local user.
"$(pg_bindir)/psql" -X -h "$(cat "$T/pg/pg.datadir")" -p "$(cat "$T/pg/pg.port")" -U postgres -d mcpgw -qtAc "
	INSERT INTO servers (tenant_id, name, url, tags, description)
	SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE 'bench' END, 'server-' || lpad(i::text, 3, '0'),
	       'https://upstream-' || i || '.example/mcp', '{bench}', 'benchmark server ' || i
	FROM generate_series(1, $SERVERS) i;
	INSERT INTO server_tools (server_id, name, input_schema, schema_hash)
	SELECT s.id, 'tool_' || t, '{\"type\":\"object\"}', md5(s.id::text || t)
	FROM servers s, generate_series(1, 5) t;"

"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; serve_start '$BIN' '$CONF' '$FCGI_SOCKET' '$T/serve.pid' '$T/gateway.log' $WORKERS"
conf=$(lighttpd_render "$T/lighttpd" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
	CERT_PEM="$T/certs/tls.pem" FCGI_SOCKET="$FCGI_SOCKET" BODY_MAX_KB=1024)
"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; lighttpd_start '$conf'"
wait_until 10 port_in_use "$API_PORT"

HEALTH=https://127.0.0.1:$API_PORT/health
LIST="https://127.0.0.1:$API_PORT/api/v1/servers?limit=$SERVERS"
got=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$LIST" |
	/usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["servers"]))')
[ "$got" = "$SERVERS" ] || gw_die "the list answered $got servers, not $SERVERS"

# measure LABEL URL [WRK-ARGS...]: prints req/s, keeps wrk's output.
measure() {
	local label=$1 url=$2
	shift 2
	"${CLIENT[@]}" wrk -t1 -c"$CONNS" -d2s "$@" "$url" >/dev/null # warm-up
	"${CLIENT[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$T/wrk-$label.txt"
	grep -q 'Non-2xx' "$T/wrk-$label.txt" && { cat "$T/wrk-$label.txt" >&2; gw_die "$label: non-2xx answers"; }
	awk '/^Requests\/sec:/ {print $2}' "$T/wrk-$label.txt"
}
latency() { awk -v p="$2" '$1 == p {print $2}' "$T/wrk-$1.txt"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

health=() list=()
for ((r = 1; r <= ROUNDS; r++)); do
	health+=("$(measure health-$r "$HEALTH")")
	list+=("$(measure list-$r "$LIST" -H "Authorization: Bearer $TOKEN")")
	echo "round $r: /health ${health[-1]} req/s, /api/v1/servers ${list[-1]} req/s" >&2
done
h=$(median "${health[@]}")
l=$(median "${list[@]}")
bytes=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" -o /dev/null -w '%{size_download}' "$LIST")
cat <<EOF2
GET /api/v1/servers?limit=$SERVERS ($SERVERS servers, $bytes bytes, RS256 token) vs GET /health, lighttpd (HTTPS), serve --workers $WORKERS
client:  taskset -c 0 wrk -t1 -c$CONNS -d${DURATION}s   ($PINNING)
rounds:  $ROUNDS, alternating; /health ${health[*]}; list ${list[*]}
/health:          median $h req/s  (last round p50 $(latency health-$ROUNDS 50%), p99 $(latency health-$ROUNDS 99%))
/api/v1/servers:  median $l req/s  (last round p50 $(latency list-$ROUNDS 50%), p99 $(latency list-$ROUNDS 99%))
ratio list / health (medians): $(awk -v a="$l" -v b="$h" 'BEGIN { printf "%.2f", a / b }')
EOF2
