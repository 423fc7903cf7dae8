#!/usr/bin/env bash
# GET /health/components through lighttpd: healthy; Redis stopped -> unhealthy,
# answered within the timeout while /health still serves; Redis back -> healthy
# again without restarting the responders.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

components() { http GET "$API/health/components" "${AUTH[@]}"; }
status_is() { body_has "\"overall_status\" *: *\"$1\""; }

components
check "components: healthy with everything up" eval '[ "$HTTP_CODE" = 200 ] && status_is healthy'
check "components: answer has components, degraded_services, failed_services, timestamp" \
	eval 'body_has "\"components\"" && body_has "\"degraded_services\"" && body_has "\"failed_services\"" && body_has "\"timestamp\""'
pids_before=$(children "$SERVE_PID")

redis_stop "$IT_DIR/redis"
components
check "components: Redis stopped -> unhealthy" eval 'status_is unhealthy && body_has "\"failed_services\" *: *\\[[^]]*redis"'
check "components: Redis stopped -> answered in under 4 s (${HTTP_TIME}s, status $HTTP_CODE)" \
	eval 'awk -v t="$HTTP_TIME" "BEGIN { exit !(t < 4) }"'
http GET "$API/health"
check "Redis stopped: the responder still serves /health" eval '[ "$HTTP_CODE" = 200 ]'

redis_start "$IT_DIR/redis" "$REDIS_PORT" || it_fatal "restart redis on $REDIS_PORT"
healthy_in_a_row=0
for i in $(seq 1 60); do
	components
	if status_is healthy; then
		healthy_in_a_row=$((healthy_in_a_row + 1))
		[ "$healthy_in_a_row" -ge 4 ] && break
	else
		healthy_in_a_row=0
		sleep 0.25
	fi
done
check "components: Redis back on the same port -> healthy again (every responder)" \
	eval '[ "$healthy_in_a_row" -ge 4 ]'
pids_after=$(children "$SERVE_PID")
check "Redis back: the responders were not restarted" eval '[ "$pids_before" = "$pids_after" ]'
it_check_sanitizer_logs
