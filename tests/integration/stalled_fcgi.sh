#!/usr/bin/env bash
# Stalled requests on the FastCGI socket cannot pin the responders: with as many
# stalled bodies (then stalled parameter phases) as there are responders,
# /health through lighttpd still answers within a second; a stalled body gets
# 408 at fastcgi.read_timeout_ms, a stalled parameter phase is closed then.
. "$(dirname "$0")/lib.sh"

CLIENT=$top_builddir/tests/integration/fcgi_client
[ -x "$CLIENT" ] || it_fatal "test client built ($CLIENT)"
N=2
DEADLINE_MS=600
# Reaches every responder through the environment (MCPGW_<SECTION>_<KEY>).
export MCPGW_FASTCGI_READ_TIMEOUT_MS=$DEADLINE_MS
it_start_stores
it_setup_gateway
it_start_serve "$N"
it_start_lighttpd "$FCGI_SOCKET"
VARS=(REQUEST_METHOD=POST REQUEST_URI=/health MCPGW_PLANE=api CONTENT_LENGTH=2000
	CONTENT_TYPE=application/json)

status_of() { sed -n 's/^Status: \([0-9]*\).*/\1/p' "$1" | head -n1; }
elapsed_of() { sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p' "$1" | tail -n1; }
# below VALUE LIMIT: VALUE (seconds or ms, decimal) is under LIMIT
below() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v != "" && v < l) }'; }

# stall KIND: N clients that stop halfway (KIND body or params) and hold their
# connection for 4 s whatever the answer; then /health through lighttpd, timed.
stall() {
	local kind=$1 i pids=() flag= label="stalled bodies"
	[ "$kind" = params ] && flag=-p label="stalled parameter phases"
	for ((i = 0; i < N; i++)); do
		"$CLIENT" $flag "unix:$FCGI_SOCKET" 4000 2000 "${VARS[@]}" >"$IT_DIR/$kind.$i.out" 2>&1 &
		pids+=($!)
	done
	# Each responder has taken one stalled connection before /health is sent.
	sleep 0.2
	HTTP_MAX_TIME=5 http GET "$API/health"
	check "$N $label on $N responders: /health answers 200 within 1 s (${HTTP_TIME}s)" \
		eval '[ "$HTTP_CODE" = 200 ] && below "$HTTP_TIME" 1'
	for i in "${pids[@]}"; do wait "$i"; done
}

stall body
for ((i = 0; i < N; i++)); do
	out=$IT_DIR/body.$i.out
	check "stalled body $i: answered 408 problem+json after the ${DEADLINE_MS} ms deadline ($(elapsed_of "$out") ms)" \
		eval '[ "$(status_of "$out")" = 408 ] && grep -q "application/problem+json" "$out" &&
			[ "$(elapsed_of "$out")" -ge $((DEADLINE_MS - 50)) ] && below "$(elapsed_of "$out")" $((DEADLINE_MS + 2000))' ||
		diag <"$out"
done

stall params
for ((i = 0; i < N; i++)); do
	out=$IT_DIR/params.$i.out
	check "stalled parameters $i: connection closed at the ${DEADLINE_MS} ms deadline ($(elapsed_of "$out") ms)" \
		eval 'grep -q "closed before END_REQUEST" "$out" &&
			[ "$(elapsed_of "$out")" -ge $((DEADLINE_MS - 50)) ] && below "$(elapsed_of "$out")" $((DEADLINE_MS + 2000))' ||
		diag <"$out"
done
check "the gateway logged the closed parameter phase" grep -q '"fcgi_read_timeout"' "$IT_DIR/gateway.log"

# A body that pauses for less than the deadline is still read whole.
"$CLIENT" "unix:$FCGI_SOCKET" $((DEADLINE_MS / 3)) 2000 "${VARS[@]}" >"$IT_DIR/short.out" 2>&1
check "a body pausing ${DEADLINE_MS}/3 ms is read whole (405, not 408)" \
	eval '[ "$(status_of "$IT_DIR/short.out")" = 405 ]' || diag <"$IT_DIR/short.out"
http GET "$API/health"
check "the responders serve normally afterwards" eval '[ "$HTTP_CODE" = 200 ]'
it_check_sanitizer_logs
