#!/usr/bin/env bash
# Readiness never blocks: with Redis and PostgreSQL pointing at a listener that
# accepts connections and never answers, /health and /health/ready (503) are
# answered within 100 ms through lighttpd, far under the stores' timeouts, and
# the responders back off instead of connecting again on every probe.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
REAL_REDIS_URL=$REDIS_URL REAL_PG_DSN=$PG_DSN

# A listener that accepts every connection, holds it and never sends a byte;
# it writes how many it accepted to $IT_DIR/silent.count.
SILENT_PORT=$(free_port)
/usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    with open(sys.argv[2], "w") as f:
        f.write(str(len(held)))
' "$SILENT_PORT" "$IT_DIR/silent.count" &
it_cleanup_add kill "$!"
wait_until 10 port_in_use "$SILENT_PORT" || it_fatal "silent listener on $SILENT_PORT"
SILENT_REDIS_URL=redis://127.0.0.1:$SILENT_PORT/0
SILENT_PG_DSN="host=127.0.0.1 port=$SILENT_PORT dbname=mcpgw user=postgres"
accepted() { cat "$IT_DIR/silent.count" 2>/dev/null || echo 0; }

# serve_with REDIS_URL PG_DSN: (re)start the responders on that configuration.
serve_with() {
	REDIS_URL=$1 PG_DSN=$2
	it_write_conf
	[ -n "${SERVE_PIDFILE:-}" ] && serve_stop "$SERVE_PIDFILE"
	it_start_serve 2
}

# timed PATH COUNT: COUNT GETs; sets CODES (distinct statuses), MEDIAN and MAX
# (seconds, curl's time_total).
timed() {
	local path=$1 count=$2 i times=()
	CODES=
	for ((i = 0; i < count; i++)); do
		http GET "$API$path"
		times+=("$HTTP_TIME")
		case " $CODES " in *" $HTTP_CODE "*) ;; *) CODES="${CODES:+$CODES }$HTTP_CODE" ;; esac
	done
	MEDIAN=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	MAX=$(printf '%s\n' "${times[@]}" | sort -g | tail -n1)
}
below() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v != "" && v < l) }'; }
# Within 100 ms (the median of the probes, each through TLS), and no probe
# anywhere near the 3 s Redis or 5 s PostgreSQL timeout even on a busy machine.
fast() { below "$MEDIAN" 0.1 && below "$MAX" 0.5; }

serve_with "$SILENT_REDIS_URL" "$SILENT_PG_DSN"
it_start_lighttpd "$FCGI_SOCKET"

timed /health 10
check "silent stores: /health is 200 within 100 ms (median ${MEDIAN}s, max ${MAX}s)" \
	eval '[ "$CODES" = 200 ] && fast'
timed /health/ready 10
check "silent stores: /health/ready is 503 within 100 ms (median ${MEDIAN}s, max ${MAX}s)" \
	eval '[ "$CODES" = 503 ] && fast'
check "silent stores: the 503 is problem+json with Retry-After, naming Redis" \
	eval 'is_problem_json && [ -n "$(header Retry-After)" ] && body_has Redis'
n=$(accepted)
check "silent stores: 10 probes on 2 responders made at most 4 connection attempts ($n)" \
	eval '[ "$n" -ge 1 ] && [ "$n" -le 4 ]'

serve_with "$REAL_REDIS_URL" "$SILENT_PG_DSN"
before=$(accepted)
timed /health/ready 10
check "silent PostgreSQL: /health/ready is 503 within 100 ms (median ${MEDIAN}s, max ${MAX}s)" \
	eval '[ "$CODES" = 503 ] && fast && body_has PostgreSQL'
n=$(($(accepted) - before))
check "silent PostgreSQL: at most 4 connection attempts for 10 probes ($n)" \
	eval '[ "$n" -ge 1 ] && [ "$n" -le 4 ]'
timed /health 5
check "silent PostgreSQL: /health is 200 within 100 ms (median ${MEDIAN}s)" \
	eval '[ "$CODES" = 200 ] && fast'

serve_with "$REAL_REDIS_URL" "$REAL_PG_DSN"
check "real stores: /health/ready is 200" \
	wait_until 10 eval 'http GET "$API/health/ready"; [ "$HTTP_CODE" = 200 ]'
timed /health/ready 10
check "real stores: /health/ready stays 200 within 100 ms (median ${MEDIAN}s, max ${MAX}s)" \
	eval '[ "$CODES" = 200 ] && fast'
it_check_sanitizer_logs
