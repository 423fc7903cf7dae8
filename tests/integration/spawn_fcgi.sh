#!/usr/bin/env bash
# `spawn-fcgi -F 2 -- mcp-gateway fcgi` (socket on fd 0) behind lighttpd over real
# HTTPS, as the unprivileged user with a socket only the web server's group can use.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_shared_log
it_setup_gateway
FCGI_SOCKET=$IT_DIR/spawn.sock

# Started as root without a user, the responder refuses to run.
spawn-fcgi -s "$IT_DIR/root.sock" -M 0660 -F 1 -P "$IT_DIR/root.pid" -- \
	/usr/bin/env MCPGW_CONFIG="$CONF" MCPGW_SERVER_LOG_FILE= "$GATEWAY" fcgi >"$IT_DIR/root.out" 2>&1
sleep 0.3
root_left=
for pid in $(grep -Eo '^[0-9]+' "$IT_DIR/root.pid" 2>/dev/null); do pid_alive "$pid" && root_left="$root_left $pid"; done
[ -n "$root_left" ] && kill $root_left
check "mcp-gateway fcgi started as root exits at once (no responder as root)" eval '[ -z "$root_left" ]'

it_cleanup_add stop_by_pidfile "$IT_DIR/spawn.pid"
if spawn-fcgi -s "$FCGI_SOCKET" -u "$GW_SERVICE_USER" -g "$GW_SERVICE_USER" -U "$GW_WEB_USER" -G "$GW_WEB_GROUP" \
	-M 0660 -F 2 -P "$IT_DIR/spawn.pid" -- \
	/usr/bin/env MCPGW_CONFIG="$CONF" "$GATEWAY" fcgi >"$IT_DIR/spawn.out" 2>&1; then
	ok "spawn-fcgi -F 2 starts two responders"
else
	diag <"$IT_DIR/spawn.out"
	it_fatal "spawn-fcgi -F 2 starts two responders"
fi
sleep 0.3
n=$(grep -Ec '^[0-9]+' "$IT_DIR/spawn.pid")
alive=0
for pid in $(grep -Eo '^[0-9]+' "$IT_DIR/spawn.pid"); do pid_alive "$pid" && alive=$((alive + 1)); done
check "both spawn-fcgi responders stay up" eval '[ "$n" = 2 ] && [ "$alive" = 2 ]'
it_start_lighttpd "$FCGI_SOCKET"

it_check_http_contract "spawn-fcgi+lighttpd"
it_check_planes "spawn-fcgi+lighttpd"
it_check_sanitizer_logs
