#!/usr/bin/env bash
# scripts/up run again: bad options are refused before anything starts; new
# workers are reloaded, new overrides restart serve, new ports restart the web
# server; what is not given again keeps its running value; a run that cannot
# apply its options refuses with a clear message and changes nothing.
. "$(dirname "$0")/lib.sh"

it_need_gateway
VAR=$IT_DIR/var
A=$(free_port) B=$(free_port)
it_cleanup_add bash "$top_srcdir/scripts/down" --var "$VAR"
UP=(bash "$top_srcdir/scripts/up" --var "$VAR" --bin "$GATEWAY" --no-install --no-build)
# up LOG [VAR=VALUE...] [-- OPTION...]: scripts/up with only those MCPGW_
# variables in its environment; sets RC, output in $IT_DIR/LOG.
up() {
	local log=$IT_DIR/$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	env $(compgen -e | grep '^MCPGW_' | sed 's/^/-u /') "${envs[@]}" "${UP[@]}" "$@" >"$log" 2>&1
	RC=$?
}
said() { grep -q -- "$2" "$IT_DIR/$1"; }
nothing_started() { [ ! -e "$VAR/redis" ] && [ ! -e "$VAR/run" ] && ! ls "$VAR"/*/*.pid >/dev/null 2>&1; }

# --- bad options: refused before any process starts ----------------------------
up bad1.log -- --workers abc
check "--workers abc is refused before anything starts" \
	eval '[ "$RC" = 1 ] && said bad1.log "--workers must be a number from 1 to 256" && nothing_started'
up bad2.log -- --workers 0
check "--workers 0 is refused" eval '[ "$RC" = 1 ] && said bad2.log "--workers must be" && nothing_started'
up bad3.log -- --web foo
check "--web foo is refused" eval '[ "$RC" = 1 ] && said bad3.log "lighttpd or apache, not .foo." && nothing_started'
up bad4.log MCPGW_SERVER_API_PORT=70000
check "a port out of range is refused" \
	eval '[ "$RC" = 1 ] && said bad4.log "port .70000. .* not a number from 1 to 65535" && nothing_started'
up bad5.log MCPGW_SERVER_API_PORT="$A" MCPGW_SERVER_MCP_PORT="$A"
check "one port for both planes is refused" eval '[ "$RC" = 1 ] && said bad5.log "cannot share port" && nothing_started'
# Free ports, so that only the bad value can be what is refused.
up bad6.log MCPGW_SERVER_API_PORT="$A" MCPGW_SERVER_MCP_PORT="$B" MCPGW_LIMITS_BODY_MAX=lots
check "a bad MCPGW_ override is refused, naming it" \
	eval '[ "$RC" = 1 ] && said bad6.log "MCPGW_LIMITS_BODY_MAX" && nothing_started'
up bad7.log -- --wokers 2
check "an unknown option is refused" eval '[ "$RC" = 2 ] && said bad7.log "unknown option: --wokers" && nothing_started'
FOREIGN=$(free_port)
# Any program will do; redis-server is installed anyway.
redis-server --port "$FOREIGN" --bind 127.0.0.1 --save '' --appendonly no --dir "$IT_DIR" >/dev/null 2>&1 &
foreign_pid=$!
it_cleanup_add kill "$foreign_pid"
wait_until 10 port_listening "$FOREIGN" || it_fatal "a foreign listener on $FOREIGN"
up bad8.log MCPGW_SERVER_API_PORT="$FOREIGN" MCPGW_SERVER_MCP_PORT="$B"
check "a port held by another program is refused, naming the program" \
	eval '[ "$RC" = 1 ] && said bad8.log "port $FOREIGN is in use by another program (redis-server" && nothing_started'

# --- first run ---------------------------------------------------------------------
up up1.log MCPGW_SERVER_API_PORT="$A" MCPGW_SERVER_MCP_PORT="$B" MCPGW_LIMITS_BODY_MAX=4096 -- --workers 2
[ "$RC" = 0 ] || { diag <"$IT_DIR/up1.log"; it_fatal "scripts/up starts the stack"; }
ok "scripts/up starts the stack on $A/$B"
mkdir -p "$IT_DIR/certs" && cp "$VAR/certs/ca.pem" "$IT_DIR/certs/ca.pem"
serve_pid() { head -n1 "$VAR/run/gateway.pid"; }
web_pid() { head -n1 "$VAR/lighttpd/lighttpd.pid"; }
responders() { pgrep -x mcp-gateway -P "$(serve_pid)" | wc -l; }
SERVE1=$(serve_pid) WEB1=$(web_pid)
head -c 5000 /dev/zero | tr '\0' x >"$IT_DIR/body"

# --- workers: reloaded -------------------------------------------------------------
up up2.log -- --workers 3
wait_until 10 eval '[ "$(responders)" = 3 ]'
check "--workers 3 on a running stack is applied by a reload (same supervisor, 3 responders)" \
	eval '[ "$RC" = 0 ] && [ "$(serve_pid)" = "$SERVE1" ] && [ "$(responders)" = 3 ] && said up2.log "2 -> 3 responders"'

up up2b.log -- --workers 3 --max-workers 2
check "--max-workers below --workers: said, and the pool stays at --workers" \
	eval '[ "$RC" = 0 ] && said up2b.log "max-workers 2 is below --workers 3: the pool is fixed at 3" && [ "$(responders)" = 3 ]'

# --- nothing given again: nothing changes ------------------------------------------
up up3.log
http GET "https://127.0.0.1:$A/health"
check "a run without options keeps ports, workers and overrides (nothing restarted)" \
	eval '[ "$RC" = 0 ] && said up3.log "already running" && [ "$(serve_pid)" = "$SERVE1" ] && [ "$(web_pid)" = "$WEB1" ] && [ "$(responders)" = 3 ] && [ "$HTTP_CODE" = 200 ]'
http POST "https://127.0.0.1:$A/health" --data-binary "@$IT_DIR/body"
check "the recorded MCPGW_LIMITS_BODY_MAX=4096 still applies (5000-byte body is 413)" eval '[ "$HTTP_CODE" = 413 ]'

# --- a new override: serve restarted -----------------------------------------------
up up4.log MCPGW_LIMITS_BODY_MAX=8192 MCPGW_SESSION_TTL=1800
http POST "https://127.0.0.1:$A/health" --data-binary "@$IT_DIR/body"
check "a changed MCPGW_LIMITS_BODY_MAX restarts serve and applies (5000-byte body accepted)" \
	eval '[ "$RC" = 0 ] && [ "$(serve_pid)" != "$SERVE1" ] && said up4.log "serve restarted: its MCPGW_ environment changed" && [ "$HTTP_CODE" != 413 ] && [ "$HTTP_CODE" != 000 ]'
check "the restarted serve keeps the 3 responders" eval '[ "$(responders)" = 3 ]'
# session.ttl is not written to the generated file: only the environment carries it.
check "var/env carries the overrides: mcp-gateway config after . var/env shows session ttl 1800, as serve runs" \
	eval '(env -u MCPGW_SESSION_TTL bash -c ". \"\$1/env\" && \"\$2\" config" _ "$VAR" "$GATEWAY" 2>/dev/null) | grep -q "^ttl = 1800$"'

# --- new ports: web server restarted ------------------------------------------------
C=$(free_port)
up up5.log MCPGW_SERVER_API_PORT="$C"
http GET "https://127.0.0.1:$C/health"
check "a new management port restarts the web server on it, the old port is closed" \
	eval '[ "$RC" = 0 ] && [ "$HTTP_CODE" = 200 ] && ! port_listening "$A" && said up5.log "lighttpd restarted on https://127.0.0.1:$C"'
check "var/env follows the new port" eval 'grep -q "MCPGW_API_URL=https://127.0.0.1:$C" "$VAR/env"'

# --- one store restarted, as the README says ----------------------------------------
REDIS_PORT=$(cat "$VAR/redis/redis.port")
redis_stop "$VAR/redis"
up up6.log
http GET "https://127.0.0.1:$C/health/ready"
check "a stopped Redis is started again by scripts/up on its port; the rest is left alone" \
	eval '[ "$RC" = 0 ] && redis_ping "$VAR/redis" && said up6.log "redis on 127.0.0.1:$REDIS_PORT" && [ "$(grep -c "^  " "$IT_DIR/up6.log")" = 1 ] && [ "$HTTP_CODE" = 200 ]'

# --- refusals on a running stack: nothing changes -------------------------------------
SERVE2=$(serve_pid) WEB2=$(web_pid) CONF_SUM=$(md5sum <"$VAR/gateway.conf")
unchanged() { [ "$(serve_pid)" = "$SERVE2" ] && [ "$(web_pid)" = "$WEB2" ] && [ "$(md5sum <"$VAR/gateway.conf")" = "$CONF_SUM" ]; }
up no1.log MCPGW_SERVER_MCP_PORT="$FOREIGN"
check "moving to a port another program holds is refused; nothing changes" \
	eval '[ "$RC" = 1 ] && said no1.log "port $FOREIGN is in use by another program" && unchanged'
up no2.log MCPGW_SERVER_TLS_CERT="$IT_DIR/missing.crt"
check "an override that makes the configuration invalid is refused; the running one stays" \
	eval '[ "$RC" = 1 ] && said no2.log "server.tls_cert: .*missing.crt" && said no2.log "the running one stays" && unchanged'
up no3.log MCPGW_FASTCGI_WORKERS=5 -- --workers 4
check "--workers against a different MCPGW_FASTCGI_WORKERS is refused" \
	eval '[ "$RC" = 1 ] && said no3.log "conflicts with MCPGW_FASTCGI_WORKERS=5" && unchanged'
http GET "https://127.0.0.1:$C/health"
check "the stack still answers after the refusals" eval '[ "$HTTP_CODE" = 200 ] && [ "$(responders)" = 3 ]'

# --- an MCPGW_ variable that is no key: one warning, not one per command run ----------
up warn.log MCPGW_SERVER_API_PROT=1
check "an unknown MCPGW_ variable is named in one warning" \
	eval '[ "$RC" = 0 ] && [ "$(grep -c "MCPGW_SERVER_API_PROT is not a configuration key" "$IT_DIR/warn.log")" = 1 ] || { diag <"$IT_DIR/warn.log"; false; }'
