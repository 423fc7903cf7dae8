#!/usr/bin/env bash
# Request bodies that pause: over a TCP FastCGI listener a 2 s pause is not
# cut short by the responders' accept timeout, and a SIGTERM that arrives
# while a body is still on its way lets the request finish (drain).
. "$(dirname "$0")/lib.sh"

CLIENT=$top_builddir/tests/integration/fcgi_client
[ -x "$CLIENT" ] || it_fatal "test client built ($CLIENT)"
it_start_stores
it_setup_gateway
VARS=(REQUEST_METHOD=POST REQUEST_URI=/health MCPGW_PLANE=api CONTENT_LENGTH=2000
	CONTENT_TYPE=application/json)

# status LINE of the client's output ("Status: 405 ..."), or the failure.
status_of() { sed -n 's/^Status: \([0-9]*\).*/\1/p' "$1" | head -n1; }

PORT=$(free_port)
TCP_PID=$IT_DIR/serve-tcp.pid
it_cleanup_add stop_by_pidfile "$TCP_PID"
setsid "$GATEWAY" serve --config "$CONF" --listen "127.0.0.1:$PORT" --workers 2 \
	--pid-file "$TCP_PID" </dev/null >>"$IT_DIR/gateway.log" 2>&1 &
wait_until 10 port_in_use "$PORT" || it_fatal "serve --listen 127.0.0.1:$PORT"

"$CLIENT" "tcp:127.0.0.1:$PORT" 2000 2000 "${VARS[@]}" >"$IT_DIR/tcp.out" 2>&1
check "TCP listener: a body pausing 2 s is read whole (405, not 400)" \
	eval '[ "$(status_of "$IT_DIR/tcp.out")" = 405 ]' || diag <"$IT_DIR/tcp.out"

it_start_serve 1
"$CLIENT" "unix:$FCGI_SOCKET" 2000 2000 "${VARS[@]}" >"$IT_DIR/drain.out" 2>&1 &
client=$!
sleep 0.5
kill -TERM "$SERVE_PID"
wait "$client"
check "SIGTERM while a body is on its way: the request still gets its answer (405)" \
	eval '[ "$(status_of "$IT_DIR/drain.out")" = 405 ]' || diag <"$IT_DIR/drain.out"
check "SIGTERM: the supervisor exits after the drain" \
	wait_until 10 eval '! pid_alive "$SERVE_PID"'
it_check_sanitizer_logs
