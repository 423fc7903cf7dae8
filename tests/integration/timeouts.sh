#!/usr/bin/env bash
# Timeouts are named as timeouts, with the host and port that did not answer:
# Redis, PostgreSQL and the JWKS fetch each pointed at a listener that accepts
# connections and never says a word. The gateway runs as CGI (one request each).
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

SILENT=$(free_port)
# The kernel completes the handshakes (backlog); nobody ever reads or answers.
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(120)' "$SILENT" &
SILENT_PID=$!
it_cleanup_add kill "$SILENT_PID"
wait_until 5 port_in_use "$SILENT" || it_fatal "silent listener on $SILENT"

# cgi NAME URI [ENV...]: one CGI request; its log in $IT_DIR/NAME.log, its answer in $IT_DIR/NAME.out.
cgi() {
	local name=$1 uri=$2
	shift 2
	env GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET REQUEST_URI="$uri" MCPGW_PLANE=api \
		MCPGW_CONFIG="$CONF" MCPGW_SERVER_LOG_FILE="$IT_DIR/$name.log" MCPGW_FASTCGI_ALLOW_ROOT=1 "$@" \
		"$GATEWAY" </dev/null >"$IT_DIR/$name.out" 2>>"$IT_DIR/cgi-stderr.log"
}

# logged NAME TEXT: a line of NAME.log contains TEXT.
logged() { grep -qF "$2" "$IT_DIR/$1.log" 2>/dev/null; }

cgi redis /health/ready MCPGW_REDIS_URL="redis://127.0.0.1:$SILENT/0" MCPGW_REDIS_TIMEOUT_MS=300
check "Redis: /health/ready answers 503 when Redis does not answer" grep -q '^Status: 503' "$IT_DIR/redis.out"
check "Redis: the log line says timeout and names 127.0.0.1:$SILENT" \
	logged redis "timeout: no answer from Redis at 127.0.0.1:$SILENT within "

cgi pg /health/ready MCPGW_POSTGRES_DSN="host=127.0.0.1 port=$SILENT dbname=mcpgw user=postgres" \
	MCPGW_POSTGRES_CONNECT_TIMEOUT=2
check "PostgreSQL: /health/ready answers 503 when PostgreSQL does not answer" grep -q '^Status: 503' "$IT_DIR/pg.out"
check "PostgreSQL: the log line says timeout and names 127.0.0.1:$SILENT" \
	logged pg "timeout: no answer from PostgreSQL at 127.0.0.1:$SILENT within "

cgi jwks /api/v1/me HTTP_AUTHORIZATION="Bearer $TOKEN" \
	MCPGW_AUTH_JWKS_URI="http://127.0.0.1:$SILENT/jwks.json" MCPGW_AUTH_JWKS_TIMEOUT_MS=300
check "JWKS: /api/v1/me answers 503 when the issuer does not answer" grep -q '^Status: 503' "$IT_DIR/jwks.out"
check "JWKS: the log line says timeout and names 127.0.0.1:$SILENT" \
	logged jwks "JWKS fetch timeout: no answer from 127.0.0.1:$SILENT within 300 ms"
for name in redis pg jwks; do
	[ -s "$IT_DIR/$name.log" ] || continue
	check "$name: the token never reaches the log" eval '! grep -qF "$TOKEN" "$IT_DIR/$name.log"'
done
