#!/usr/bin/env bash
# tools/call through the gateway against the same call made straight to the
# upstream, in one run: the C upstream bench/mcp_upstream called directly
# (`echo`), and a second one registered as server `bench` called through
# lighttpd (HTTPS) and `serve` on /mcp (`bench__echo`, a user token, a
# gateway session, audit on). Prints
# p50/p99 at one connection, calls/s at CONNS, the gateway's added p50 and the
# ratios, against the targets (added p50 <= 0.5 ms, >= 3000 calls/s), and
# the server side's CPU per call during the gateway run at CONNS, by program.
# A stateless column (MCP 2026-07-28, --stateless 1) follows, with its own
# targets (added p50 <= 0.4 ms, >= 4000 calls/s) and CPU per call.
#
# usage: make bench && bench/tools_call.sh   (env: DURATION=10 CONNS=16 WORKERS=4 PIN=none BIN=./mcp-gateway)
# PIN=none (the default here): nothing pinned, the load client, lighttpd,
# the responders, the upstreams and the stores share the machine's CPUs, as
# a deployment with everything local would; both columns are measured so.
# PIN=split: the load client on CPU 0, everything else on CPU 1.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
WORKERS=${WORKERS:-4}
PIN=${PIN:-none}
BIN=${BIN:-$GW_ROOT/mcp-gateway}
UPSTREAM=${UPSTREAM:-$GW_ROOT/bench/mcp_upstream}
LOAD=${LOAD:-$GW_ROOT/bench/mcp_load}
# The upstream listens on loopback: registration must be allowed to reach it.
UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
. "$GW_ROOT/bench/lib.sh"
for p in "$UPSTREAM" "$LOAD"; do
	[ -x "$p" ] || gw_die "$p not built (run: make bench)"
done
bench_init
cleanup() {
	stop_by_pidfile "$T/direct.pid"
	stop_by_pidfile "$T/upstream.pid"
	bench_cleanup
}
trap cleanup EXIT

bench_stack
# upstream NAME: one bench/mcp_upstream on a free port; prints its URL. Two
# alike, one called directly, one behind the gateway, so that each counts
# only its own side's connections.
upstream() {
	local port
	port=$(free_port)
	"${SERVER[@]}" setsid "$UPSTREAM" --port "$port" --pid-file "$T/$1.pid" </dev/null >"$T/$1.log" 2>&1 &
	wait_until 10 port_listening "$port" || gw_die "bench/mcp_upstream did not listen on $port: $(cat "$T/$1.log")"
	echo "http://127.0.0.1:$port/mcp"
}
DIRECT=$(upstream direct)
BEHIND=$(upstream upstream)

"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; serve_start '$BIN' '$CONF' '$FCGI_SOCKET' '$T/serve.pid' '$T/gateway.log' $WORKERS"
conf=$(lighttpd_render "$T/lighttpd" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
	CERT_PEM="$T/certs/tls.pem" FCGI_SOCKET="$FCGI_SOCKET" BODY_MAX_KB=1024)
"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; lighttpd_start '$conf'"
wait_until 10 port_in_use "$MCP_PORT"
GATEWAY=https://127.0.0.1:$MCP_PORT/mcp

ADMIN=$("$BIN" token --config "$CONF" --sub bench-admin --tenant bench --roles admin --aud "$AUDIENCE" --ttl 3600)
# The load client reads its token from a file: command lines are public.
(umask 077 && "$BIN" token --config "$CONF" --sub bench --tenant bench --roles user --aud "$AUDIENCE" --ttl 3600 >"$T/token")
code=$(curl -s -o "$T/register.json" -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data "{\"name\":\"bench\",\"url\":\"$BEHIND\",\"max_concurrency\":1000}" \
	"https://127.0.0.1:$API_PORT/api/v1/servers")
[ "$code" = 201 ] || gw_die "registering the upstream as server bench answered $code: $(head -c 600 "$T/register.json")"

# load LABEL URL TOOL CONNS [ARGS...]: one run of the load client; keeps its line in $T/LABEL.txt.
load() {
	local label=$1 url=$2 tool=$3 conns=$4
	shift 4
	local TIMEFORMAT='%U %S' rc=0
	# The client's own CPU (user, system seconds) goes to $T/LABEL.cpu.
	{ time "${CLIENT[@]}" "$LOAD" --url "$url" --tool "$tool" -c "$conns" -d "$DURATION" "$@" >"$T/$label.txt" 2>&3 || rc=$?; } 3>&2 2>"$T/$label.cpu"
	[ "$rc" = 0 ] || gw_die "$label: the load run failed (see above)"
	echo "$label: $(cat "$T/$label.txt")" >&2
}
# client_cpu LABEL: the load client's CPU per call in that run, µs.
client_cpu() { awk -v n="$(field "$1" calls)" '{ printf "%.0f", ($1 + $2) * 1e6 / n }' "$T/$1.cpu"; }
field() { tr ' ' '\n' <"$T/$1.txt" | sed -n "s/^$2=//p"; }

load direct-1 "$DIRECT" echo 1
load direct-n "$DIRECT" echo "$CONNS"

# The gateway must list the upstream's tool under its prefix; without
# tools/call proxying it does not, and there is nothing to compare.
ACCEPT='application/json, text/event-stream'
curl -s -D "$T/init.h" -o /dev/null --cacert "$CA" -H "Authorization: Bearer $(cat "$T/token")" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' "$GATEWAY" \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
SID=$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *//p' "$T/init.h" | tr -d '\r')
[ -n "$SID" ] || gw_die "the gateway's initialize gave no session: $(head -n1 "$T/init.h")"
curl -s -o "$T/tools.json" --cacert "$CA" -H "Authorization: Bearer $(cat "$T/token")" -H "Accept: $ACCEPT" \
	-H 'Content-Type: application/json' -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25' \
	"$GATEWAY" --data '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
if ! grep -q '"name":"bench__echo"' "$T/tools.json"; then
	listed=$(grep -o '"name":"[^"]*"' "$T/tools.json" | paste -sd' ' || true)
	gw_die "bench__echo is not in the gateway's tools/list on /mcp (is tools/call proxying in this build?); it listed: ${listed:-no tools}"
fi

load gateway-1 "$GATEWAY" bench__echo 1 --cacert "$CA" --token-file "$T/token"
bench_cpu >"$T/cpu.before"
load gateway-n "$GATEWAY" bench__echo "$CONNS" --cacert "$CA" --token-file "$T/token"
bench_cpu >"$T/cpu.after"
cpu=$(bench_cpu_per_call "$T/cpu.before" "$T/cpu.after" "$(field gateway-n calls)")

# The same calls in MCP 2026-07-28: no session, each request authorised on
# its own, the upstream session kept per caller (issue 9's stateless column).
load stateless-1 "$GATEWAY" bench__echo 1 --cacert "$CA" --token-file "$T/token" --stateless 1
bench_cpu >"$T/cpu.before"
load stateless-n "$GATEWAY" bench__echo "$CONNS" --cacert "$CA" --token-file "$T/token" --stateless 1
bench_cpu >"$T/cpu.after"
scpu=$(bench_cpu_per_call "$T/cpu.before" "$T/cpu.after" "$(field stateless-n calls)")
s50=$(field stateless-1 p50_us) s99=$(field stateless-1 p99_us) srate=$(field stateless-n calls_per_s)
sadded=$(awk -v g="$s50" -v d="$(field direct-1 p50_us)" 'BEGIN { printf "%.3f", (g - d) / 1000 }')

# The upstream behind the gateway counts what it served (discovery at
# registration included): were the gateway's connections kept alive?
stop_by_pidfile "$T/upstream.pid"
served=$(sed -n 's/^mcp_upstream: \(connections=\)/\1/p' "$T/upstream.log")
d50=$(field direct-1 p50_us) d99=$(field direct-1 p99_us) drate=$(field direct-n calls_per_s)
g50=$(field gateway-1 p50_us) g99=$(field gateway-1 p99_us) grate=$(field gateway-n calls_per_s)
added=$(awk -v g="$g50" -v d="$d50" 'BEGIN { printf "%.3f", (g - d) / 1000 }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == "<=" ? v <= t : v >= t; print ok ? "met" : "NOT met" }'; }
cat <<EOF
tools/call {"text":"hello"} through lighttpd $(lighttpd -v 2>/dev/null | head -n1 | awk '{print $1}') (HTTPS) and serve --workers $WORKERS vs bench/mcp_upstream directly
client:  bench/mcp_load -d $DURATION   (PIN=$PIN: ${PINNING/wrk/the load client})
                      p50 (c=1)     p99 (c=1)     calls/s (c=$CONNS)
direct  echo          ${d50} µs       ${d99} µs       ${drate}
gateway bench__echo   ${g50} µs       ${g99} µs       ${grate}
added p50: ${added} ms (target <= 0.5 ms: $(verdict "$added" 0.5 "<="))
gateway calls/s at c=$CONNS: ${grate} (target >= 3000: $(verdict "$grate" 3000 ">=")); gateway / direct: $(awk -v a="$grate" -v b="$drate" 'BEGIN { printf "%.2f", a / b }')
upstream behind the gateway served: ${served:-no count} (registration, warm-ups and both runs)
server CPU during the c=$CONNS gateway run: $cpu
load client CPU per call at c=$CONNS: direct $(client_cpu direct-n) µs, gateway $(client_cpu gateway-n) µs (TLS)
stateless bench__echo ${s50} µs       ${s99} µs       ${srate}   (MCP 2026-07-28, no session)
stateless added p50: ${sadded} ms (target <= 0.4 ms: $(verdict "$sadded" 0.4 "<=")); calls/s at c=$CONNS: ${srate} (target >= 4000: $(verdict "$srate" 4000 ">="))
server CPU during the c=$CONNS stateless run: $scpu
EOF
