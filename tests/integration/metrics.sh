#!/usr/bin/env bash
# Per-host metrics and access logs on two hosts' worth of gateway (lighttpd
# with one responder pool, Apache with another, one Redis and PostgreSQL):
# each /metrics reports its own host, parses as Prometheus text, keeps
# answering with Redis down, counts restarts and reloads; access lines carry
# fields and both web servers keep access logs.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

# Host A: lighttpd, three responders.
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"
API_A=$API MCP_A=$MCP

# Host B: Apache, two responders of its own.
it_start_host_b "$IT_DIR/gateway-b.log"

# prom_ok: the last answer parses as Prometheus text (the reference parser),
# and every family has HELP and a TYPE.
prom_ok() {
	/usr/bin/python3 - "$IT_DIR/last.body" <<'EOF' >"$IT_DIR/prom.out" 2>&1
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
bad = [f.name for f in fams if not f.documentation or f.type not in ("counter", "gauge", "histogram")]
samples = sum(len(f.samples) for f in fams)
print("families without HELP/TYPE:", bad, "samples:", samples)
sys.exit(1 if bad or samples < 10 else 0)
EOF
	local rc=$?
	[ "$rc" = 0 ] || diag <"$IT_DIR/prom.out"
	return "$rc"
}
# val SERIES: the value of that exact series in the last answer (empty if absent).
val() { awk -v s="$1" 'index($0, s " ") == 1 { print $NF }' "$IT_DIR/last.body"; }
req() { printf 'mcpgw_http_requests_total{plane="%s",route="%s",status="%s"}' "$1" "$2" "$3"; }
scrape() { http GET "$1/metrics" "${@:2}"; }

for i in 1 2 3 4 5; do http GET "$API_A/health"; done
for i in 1 2; do http GET "$API_A/no/such/$i"; done
http GET "$API_A/api/v1/me"
http GET "$API_A/api/v1/me" "${AUTH[@]}" -H "X-Request-Id: it-metrics-rid-1" -A "it-agent/2.0"
check "the authenticated request succeeds" eval '[ "$HTTP_CODE" = 200 ]'
http GET "$MCP_A/.well-known/oauth-protected-resource/servers/weather-xyz/mcp"
for i in 1 2 3; do http GET "$API_B/health"; done

scrape "$API_A"
check "host A: /metrics is 200 text/plain" \
	eval '[ "$HTTP_CODE" = 200 ] && header Content-Type | grep -q "^text/plain; version=0.0.4"'
check "host A: the text parses and every family has HELP and TYPE" prom_ok
check "host A: its 5 GET /health counted by route and status" \
	eval '[ "$(val "$(req api /health 200)")" = 5 ]'
check "host A: unknown paths count as route unmatched, 404" \
	eval '[ "$(val "$(req api unmatched 404)")" = 2 ]'
check "host A: /api/v1/me counted once 401 and once 200" \
	eval '[ "$(val "$(req api /api/v1/me 401)")" = 1 ] && [ "$(val "$(req api /api/v1/me 200)")" = 1 ]'
check "host A: the route label is the pattern, not the raw path" \
	eval '[ "$(val "$(req mcp "/.well-known/oauth-protected-resource/servers/{name}/mcp" 200)")" = 1 ] && ! body_has weather-xyz'
check "host A: the latency histogram counted the 5 /health requests" \
	eval '[ "$(val "mcpgw_http_request_duration_seconds_count{plane=\"api\",route=\"/health\"}")" = 5 ] &&
		[ "$(val "mcpgw_http_request_duration_seconds_bucket{plane=\"api\",route=\"/health\",le=\"+Inf\"}")" = 5 ]'
check "host A: the missing token counted as an auth failure, reason missing" \
	eval '[ "$(val "mcpgw_auth_failures_total{reason=\"missing\"}")" = 1 ]'
check "host A: 3 responders alive, 1 busy (the one answering this scrape)" \
	eval '[ "$(val mcpgw_responders_alive)" = 3 ] && [ "$(val mcpgw_responders_busy)" = 1 ]'
check "host A: scope host, CPU and memory of supervisor and responders" \
	eval 'body_has "^mcpgw_metrics_scope\{scope=\"host\"\} 1" &&
		[ -n "$(val "mcpgw_process_cpu_seconds_total{role=\"supervisor\"}")" ] &&
		[ "$(val "mcpgw_process_resident_memory_bytes{role=\"responder\"}")" -gt 1000000 ]'

scrape "$API_B"
check "host B: reports only its own 3 GET /health" eval '[ "$(val "$(req api /health 200)")" = 3 ]'
check "host B: none of host A's requests" eval '[ -z "$(val "$(req api unmatched 404)")" ] && [ -z "$(val "$(req api /api/v1/me 200)")" ]'
check "host B: 2 responders alive" eval '[ "$(val mcpgw_responders_alive)" = 2 ]'

# Without a supervisor (CGI here; spawn-fcgi and mod_fcgid alike) a process reports itself.
env GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI=/metrics MCPGW_PLANE=api \
	MCPGW_CONFIG="$CONF" MCPGW_SERVER_LOG_FILE="$IT_DIR/cgi.log" MCPGW_FASTCGI_ALLOW_ROOT=1 "$GATEWAY" </dev/null >"$IT_DIR/last.body"
check "CGI: /metrics says scope process and counts one responder, itself" \
	eval 'body_has "^mcpgw_metrics_scope\{scope=\"process\"\} 1" && [ "$(val mcpgw_responders_alive)" = 1 ] &&
		[ -z "$(val "$(req api /health 200)")" ]'

# --- access lines ---------------------------------------------------------------
/usr/bin/python3 - "$IT_DIR/gateway.log" >"$IT_DIR/access.out" 2>&1 <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("event") == "request" and o.get("request_id") == "it-metrics-rid-1":
        want = {"method": "GET", "path": "/api/v1/me", "route": "/api/v1/me", "status": 200,
                "plane": "api", "remote_addr": "127.0.0.1", "tenant": "it-tenant",
                "user_agent": "it-agent/2.0"}
        wrong = {k: o.get(k) for k in want if o.get(k) != want[k]}
        ok = not wrong and o.get("bytes", 0) > 0 and isinstance(o.get("duration_ms"), (int, float)) \
            and "it-admin" in o.get("user", "")
        print(line.strip(), "wrong:", wrong)
        sys.exit(0 if ok else 1)
print("no access line for it-metrics-rid-1")
sys.exit(1)
EOF
access_rc=$?
check "the gateway's access line carries its fields (user, tenant, remote address, agent, duration, bytes)" \
	eval '[ "$access_rc" = 0 ]'
[ "$access_rc" = 0 ] || diag <"$IT_DIR/access.out"
# lighttpd writes its access log in batches, at least once a second.
check "lighttpd keeps an access log with the gateway's request id" \
	wait_until 5 grep -q 'GET /api/v1/me HTTP/1.1" 200 .*it-agent/2.0" it-metrics-rid-1' "$IT_DIR/lighttpd/lighttpd-access.log"
check "Apache keeps an access log" \
	eval '[ "$(grep -c "GET /health HTTP/1.1\" 200" "$IT_DIR/apache-b/apache-access.log")" = 3 ]'

# --- busy, restarts, reload -----------------------------------------------------
redis-cli -p "$REDIS_PORT" CLIENT PAUSE 2500 >/dev/null
(HTTP_MAX_TIME=15 http GET "$API_A/health/components" "${AUTH[@]}") &
slow=$!
sleep 0.7
scrape "$API_A"
check "host A: a request held up by Redis shows as a second busy responder" \
	eval '[ "$(val mcpgw_responders_busy)" = 2 ]'
wait "$slow"

# /health/components also asked each plane's /health through the web server.
scrape "$API_A"
health_before=$(val "$(req api /health 200)")
victim=$(pgrep -x mcp-gateway -P "$SERVE_PID" | head -n1)
kill -KILL "$victim"
wait_until 5 eval 'scrape "$API_A"; [ "$(val mcpgw_responder_restarts_total)" = 1 ]'
check "host A: killing a responder counts one restart" eval '[ "$(val mcpgw_responder_restarts_total)" = 1 ]'
check "host A: the replacement is alive" wait_until 5 eval 'scrape "$API_A"; [ "$(val mcpgw_responders_alive)" = 3 ]'
check "host A: counts survive the responder's death ($health_before GET /health)" \
	eval '[ "$health_before" -ge 5 ] && [ "$(val "$(req api /health 200)")" = "$health_before" ]'
check "host A: reload generation 1 before SIGHUP" eval '[ "$(val mcpgw_reload_generation)" = 1 ]'

printf '\n[metrics]\naccess = role:operator\n' >>"$CONF"
kill -HUP "$SERVE_PID"
wait_until 10 eval 'scrape "$API_A" "${AUTH[@]}"; [ "$(val mcpgw_reload_generation)" = 2 ]'
check "host A: SIGHUP moves the reload generation to 2" eval '[ "$(val mcpgw_reload_generation)" = 2 ]'
check "host A: a reload is not a restart" eval '[ "$(val mcpgw_responder_restarts_total)" = 1 ]'
scrape "$API_A"
check "metrics.access = role:operator: /metrics without a token is 401" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "^Bearer"'
scrape "$API_A" "${AUTH[@]}"
check "metrics.access = role:operator: an admin (includes operator) reads it" eval '[ "$HTTP_CODE" = 200 ]'

# --- Redis down ----------------------------------------------------------------
redis_stop "$IT_DIR/redis"
scrape "$API_A" "${AUTH[@]}"
check "Redis down: /metrics still answers 200 with the host's counts" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(val "$(req api /health 200)")" = "$health_before" ] && prom_ok'

it_check_sanitizer_logs
