#!/usr/bin/env bash
# GET /health through lighttpd (HTTPS, the shipped config): `mcp-gateway serve`
# against the bare libfcgi responder of bench/hello.c, in the same run.
# Prints both throughputs and their ratio (target: gateway >= 0.8 x bare).
#
# usage: bench/health.sh   (env: DURATION=10 ROUNDS=3 CONNS=32 WORKERS=2 LOG_LEVEL=info BIN=./mcp-gateway)
# wrk runs on CPU 0, lighttpd, the responders and the stores on CPU 1.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-$GW_ROOT/mcp-gateway}
LOG_LEVEL=${LOG_LEVEL:-info}
. "$GW_ROOT/bench/lib.sh"
bench_init
cleanup() {
	stop_by_pidfile "$T/hello.pid"
	bench_cleanup
}
trap cleanup EXIT

cc -O2 -o "$T/hello" "$GW_ROOT/bench/hello.c" -lfcgi
bench_stack

URL=https://127.0.0.1:$API_PORT/health
WRK=(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$URL")

# measure SOCKET LABEL: lighttpd in front of SOCKET; prints req/s, keeps wrk's output.
measure() {
	local sock=$1 label=$2 conf
	conf=$(lighttpd_render "$T/lighttpd" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
		CERT_PEM="$T/certs/tls.pem" FCGI_SOCKET="$sock" BODY_MAX_KB=1024)
	"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; lighttpd_start '$conf'"
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$URL")" = 200 ] ||
		gw_die "$label: $URL is not 200"
	"${CLIENT[@]}" wrk -t1 -c"$CONNS" -d2s "$URL" >/dev/null # warm-up
	"${CLIENT[@]}" "${WRK[@]}" >"$T/wrk-$label.txt"
	stop_by_pidfile "$T/lighttpd/lighttpd.pid"
	grep -q 'Non-2xx' "$T/wrk-$label.txt" && { cat "$T/wrk-$label.txt" >&2; gw_die "$label: non-2xx answers"; }
	awk '/^Requests\/sec:/ {print $2}' "$T/wrk-$label.txt"
}
latency() { awk -v p="$2" '$1 == p {print $2}' "$T/wrk-$1.txt"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Both backends stay up; rounds alternate so that drift in the machine's
# speed (a shared VM) falls on both sides alike. The medians are compared.
"${SERVER[@]}" spawn-fcgi -s "$T/hello.sock" -M 0666 -F "$WORKERS" -P "$T/hello.pid" -- "$T/hello" >/dev/null
"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; serve_start '$BIN' '$CONF' '$FCGI_SOCKET' '$T/serve.pid' '$T/gateway.log' $WORKERS"
hello=() gateway=()
for ((r = 1; r <= ROUNDS; r++)); do
	hello+=("$(measure "$T/hello.sock" hello-$r)")
	gateway+=("$(measure "$FCGI_SOCKET" gateway-$r)")
	echo "round $r: bare ${hello[-1]} req/s, gateway ${gateway[-1]} req/s" >&2
done

hello_rps=$(median "${hello[@]}")
gw_rps=$(median "${gateway[@]}")
ratio=$(awk -v a="$gw_rps" -v b="$hello_rps" 'BEGIN { printf "%.2f", a / b }')
cat <<EOF
GET /health through lighttpd $(lighttpd -v 2>/dev/null | head -n1 | awk '{print $1}') (HTTPS, conf/lighttpd/lighttpd.conf.in), $WORKERS responders each
client:  taskset -c 0 ${WRK[*]}   ($PINNING)
rounds:  $ROUNDS, alternating; bare ${hello[*]}; gateway ${gateway[*]}
bare libfcgi hello (spawn-fcgi -F $WORKERS): median $hello_rps req/s  (last round p50 $(latency hello-$ROUNDS 50%), p99 $(latency hello-$ROUNDS 99%))
mcp-gateway serve --workers $WORKERS:        median $gw_rps req/s  (last round p50 $(latency gateway-$ROUNDS 50%), p99 $(latency gateway-$ROUNDS 99%))
ratio gateway / bare (medians): $ratio  (target >= 0.8; log_level=$LOG_LEVEL)
EOF
