#!/usr/bin/env bash
# Slow clients through the shipped Apache configuration (mod_proxy_fcgi): with
# as many stalled request bodies as there are responders, and then with 200
# slowloris connections, /health still answers within a second; mod_reqtimeout
# closes the slowloris connections and the responders answer the stalled
# bodies 408 at fastcgi.read_timeout_ms.
. "$(dirname "$0")/lib.sh"

N=2
DEADLINE_MS=600
SLOW=$top_srcdir/tests/integration/slowloris.py
export MCPGW_FASTCGI_READ_TIMEOUT_MS=$DEADLINE_MS
it_start_stores
it_setup_gateway
it_start_serve "$N"
it_start_apache proxy_fcgi

below() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v != "" && v < l) }'; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2"; }

# health_during LABEL: three GET /health, each 200 within 1 s.
health_during() {
	local i worst=0 codes=
	for i in 1 2 3; do
		HTTP_MAX_TIME=5 http GET "$API/health"
		codes="$codes$HTTP_CODE "
		below "$worst" "$HTTP_TIME" && worst=$HTTP_TIME
	done
	check "$1: /health answers 200 within 1 s (slowest ${worst}s)" \
		eval '[ "$codes" = "200 200 200 " ] && below "$worst" 1'
}

# Stalled bodies: Apache passes the first half to the responders, which then
# wait. Apache itself goes on waiting for the client (mod_reqtimeout, 20 s),
# so the client sees the 408 only then; the responders are free at once.
/usr/bin/python3 "$SLOW" body "$API_PORT" "$N" 3 "$IT_DIR/body.status" &
body_pid=$!
it_cleanup_add kill "$body_pid"
wait_until 10 test -s "$IT_DIR/body.status" || it_fatal "stalled-body clients connect"
sleep 0.2
health_during "$N stalled bodies on $N responders"
n=$(grep '"event":"request"' "$IT_DIR/gateway.log" | grep '"method":"POST"' | grep -c '"status":408')
check "stalled bodies through Apache: each responder answered 408 at the ${DEADLINE_MS} ms deadline ($n)" \
	eval '[ "$n" = "$N" ]'
wait "$body_pid"

# Slowloris: 200 TLS connections that never finish their headers.
/usr/bin/python3 "$SLOW" headers "$API_PORT" 200 16 "$IT_DIR/loris.status" &
loris_pid=$!
it_cleanup_add kill "$loris_pid"
wait_until 30 test -s "$IT_DIR/loris.status" || it_fatal "slowloris connects"
st=$IT_DIR/loris.status
check "slowloris: 200 connections held open ($(cat "$st"))" eval '[ "$(field opened "$st")" = 200 ]'
health_during "200 slowloris connections"
wait "$loris_pid"
check "slowloris: mod_reqtimeout closed every one within 16 s ($(cat "$st"))" \
	eval '[ "$(field alive "$st")" = 0 ]'
health_during "after the slowloris"
it_check_sanitizer_logs
