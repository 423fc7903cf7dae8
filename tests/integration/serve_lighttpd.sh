#!/usr/bin/env bash
# `mcp-gateway serve` behind lighttpd over real HTTPS: the HTTP contract, and the
# supervisor's promises (SIGKILL'd responder replaced, SIGHUP reload, SIGTERM drain).
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

it_check_http_contract "serve+lighttpd"

# --- SIGKILL of a responder: replaced within one second -------------------------
before=$(children "$SERVE_PID")
n_before=$(echo "$before" | wc -w)
victim=$(pgrep -x mcp-gateway -P "$SERVE_PID" | head -n1)
if [ -z "$victim" ]; then
	not_ok "supervisor has responder children"
else
	kill -KILL "$victim"
	t0=$(date +%s%N)
	replaced=
	while [ $(( ($(date +%s%N) - t0) / 1000000 )) -le 1000 ]; do
		now=$(children "$SERVE_PID")
		if [ "$(echo "$now" | wc -w)" -ge "$n_before" ] && ! echo " $now " | grep -q " $victim "; then
			replaced=$(( ($(date +%s%N) - t0) / 1000000 ))
			break
		fi
		sleep 0.05
	done
	if [ -n "$replaced" ]; then
		ok "a responder killed with SIGKILL is replaced within 1 s (${replaced} ms)"
	else
		not_ok "a responder killed with SIGKILL is replaced within 1 s"
		echo "# children before: $before; 1 s after killing $victim: $(children "$SERVE_PID")"
	fi
fi
http GET "$API/health"
check "GET /health answered after the kill" eval '[ "$HTTP_CODE" = 200 ]'

# --- SIGHUP: reload while requests run, none fails, new limit applies ------------
mid=$IT_DIR/body.mid
head -c 8000 /dev/zero | tr '\0' x >"$mid"
http POST "$API/health" --data-binary "@$mid"
check "before reload: an 8000-byte body is not 413 (body_max $BODY_MAX)" eval '[ "$HTTP_CODE" != 413 ] && [ "$HTTP_CODE" != 000 ]'

old_children=$(children "$SERVE_PID")
codes=$IT_DIR/reload.codes
: >"$codes"
load() {
	local i
	for i in $(seq 1 60); do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 --cacert "$CA" "$API/health" >>"$codes"
	done
}
load & l1=$!
load & l2=$!
sleep 0.5
BODY_MAX=4096
LOG_LEVEL=warn
it_write_conf
kill -HUP "$SERVE_PID"
wait "$l1" "$l2"
total=$(wc -l <"$codes")
bad=$(grep -vc '^200$' "$codes")
if [ "$total" -eq 120 ] && [ "$bad" -eq 0 ]; then
	ok "SIGHUP reload under load: $total requests, none failed"
else
	not_ok "SIGHUP reload under load: $total requests, none failed"
	sort "$codes" | uniq -c | diag
fi
wait_until 10 eval 'http POST "$API/health" --data-binary "@$mid"; [ "$HTTP_CODE" = 413 ]'
http POST "$API/health" --data-binary "@$mid"
check "after reload: limits.body_max 4096 applies (8000-byte body is 413)" \
	eval '[ "$HTTP_CODE" = 413 ] && is_problem_json'
new_children=$(children "$SERVE_PID")
check "after reload: the responders were replaced" eval '[ "$new_children" != "$old_children" ]'
lines_before=$(grep -c '"event":"request"' "$IT_DIR/gateway.log")
http GET "$API/health"
check "after reload: server.log_level warn applies (no info request line)" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(grep -c "\"event\":\"request\"" "$IT_DIR/gateway.log")" = "$lines_before" ]'
check "after reload: supervisor still running" pid_alive "$SERVE_PID"

# --- SIGTERM: an in-flight request finishes --------------------------------------
redis-cli -p "$REDIS_PORT" CLIENT PAUSE 2500 >/dev/null
(http GET "$API/health/components" "${AUTH[@]}"; echo "$HTTP_CODE $HTTP_TIME" >"$IT_DIR/inflight.result"; cp "$IT_DIR/last.body" "$IT_DIR/inflight.body") &
inflight=$!
sleep 0.5
kill -TERM "$SERVE_PID"
wait "$inflight"
read -r code took <"$IT_DIR/inflight.result"
if { [ "$code" = 200 ] || [ "$code" = 503 ]; } && grep -q '"overall_status"' "$IT_DIR/inflight.body" &&
	[ "$(echo "$took > 0.5" | awk '{print ($1 > $3)}')" = 1 ]; then
	ok "SIGTERM: the in-flight /health/components request got a complete answer ($code after ${took}s)"
else
	not_ok "SIGTERM: the in-flight /health/components request got a complete answer"
	{ echo "status $code after ${took}s"; head -c 400 "$IT_DIR/inflight.body"; echo; } | diag
fi
if wait_until $((DRAIN_TIMEOUT + 5)) eval '! pid_alive "$SERVE_PID"'; then
	ok "SIGTERM: the supervisor exits"
else
	not_ok "SIGTERM: the supervisor exits"
fi
left=$(pgrep -f "$CONF" | tr '\n' ' ')
check "SIGTERM: no responder left behind" eval '[ -z "$left" ]'

it_check_sanitizer_logs
