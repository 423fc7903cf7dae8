#!/usr/bin/env bash
# `spawn-fcgi -F 2 -- mcp-gateway fcgi` (socket on fd 0) behind lighttpd over real HTTPS.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_shared_log
it_setup_gateway
FCGI_SOCKET=$IT_DIR/spawn.sock
it_cleanup_add stop_by_pidfile "$IT_DIR/spawn.pid"
if spawn-fcgi -s "$FCGI_SOCKET" -M 0666 -F 2 -P "$IT_DIR/spawn.pid" -- \
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
