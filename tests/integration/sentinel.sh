#!/usr/bin/env bash
# Redis high availability through Sentinel: the gateway asks the sentinels for
# the primary (redis.url points at the replica, so nothing works without them),
# writes reach it, and after a failover (SENTINEL FAILOVER, then the primary
# killed) the responders and the health check follow the new primary.
. "$(dirname "$0")/lib.sh"

NAME=gwprimary
it_start_stores                                # PostgreSQL, and Redis: the first primary
PRIMARY_PORT=$REDIS_PORT
REPLICA_PORT=$(free_port)
redis_replica_start "$IT_DIR/replica" "$REPLICA_PORT" "$IT_DIR/redis" || it_fatal "start a replica on $REPLICA_PORT"
it_cleanup_add redis_stop "$IT_DIR/replica"
wait_until 15 eval 'redis-cli -p "$REPLICA_PORT" INFO replication | grep -q "master_link_status:up"' ||
	it_fatal "the replica syncs with the primary"
SENTINEL_PORTS=()
for i in 1 2; do
	p=$(free_port)
	sentinel_start "$IT_DIR/sentinel$i" "$p" "$NAME" "$IT_DIR/redis" 1000 || it_fatal "start sentinel $i on $p"
	it_cleanup_add redis_stop "$IT_DIR/sentinel$i"
	SENTINEL_PORTS+=("$p")
done
# The first sentinel listed is down: the gateway must try the next one.
REDIS_SENTINELS=127.0.0.1:$(free_port),127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]}
REDIS_MASTER_NAME=$NAME
REDIS_URL=$(redis_url "$IT_DIR/replica")
REDIS_TIMEOUT_MS=500
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

# Each MCP initialize writes a session to Redis (a Lua script), which only a
# primary accepts: a 200 with a session id means the write reached a primary.
writes_on() { # PORT: MCP sessions held by the Redis on PORT
	redis-cli -p "$1" --scan --pattern 'mreg:session:*' 2>/dev/null | wc -l
}
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
SESSION_FAILS=0
forged_requests() {
	local i
	for i in 1 2 3; do
		http POST "$MCP/mcp" "${AUTH[@]}" -H 'Accept: application/json, text/event-stream' \
			-H 'Content-Type: application/json' --data-binary "$INIT"
		[ "$HTTP_CODE" = 200 ] && [ -n "$(header Mcp-Session-Id)" ] || SESSION_FAILS=$((SESSION_FAILS + 1))
	done
}
redis_healthy() {
	http GET "$API/health/components" "${AUTH[@]}"
	[ "$HTTP_CODE" = 200 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["components"]["redis"]["status"]=="healthy" else 1)' "$IT_DIR/last.body"
}

# follows LABEL PORT MAX_REFUSED: requests write to the primary on PORT and health is healthy.
follows() {
	local label=$1 port=$2 max=$3 before after
	before=$(writes_on "$port")
	forged_requests
	after=$(writes_on "$port")
	# A responder whose connection the failover broke (a demoted primary drops
	# its clients; a killed one is gone) answers its next request 503 and
	# reconnects through the sentinels: at most one refusal per responder. A
	# demoted primary's READONLY answer is retried at once. Which responder
	# takes which request is up to accept(): the refused one may be the last.
	check "$label: writes reach the primary on $port ($before -> $after sessions, $SESSION_FAILS of 3 refused)" \
		eval '[ "$after" -gt "$before" ] && [ "$SESSION_FAILS" -le "$max" ]'
	SESSION_FAILS=0
	check "$label: /health/components says redis healthy" wait_until 10 redis_healthy
}

check "redis.url names the replica: Redis refuses writes there" \
	eval 'redis-cli -p "$REPLICA_PORT" SET x 1 | grep -q READONLY'
follows "through sentinel" "$PRIMARY_PORT" 0

# A planned failover: the old primary becomes a replica (writes there say READONLY).
env -u REDISCLI_AUTH redis-cli -p "${SENTINEL_PORTS[0]}" SENTINEL failover "$NAME" >/dev/null
wait_until 30 eval '[ "$(sentinel_primary_port "${SENTINEL_PORTS[0]}" "$NAME")" = "$REPLICA_PORT" ] &&
	redis-cli -p "$REPLICA_PORT" ROLE | head -n1 | grep -q master' ||
	it_fatal "SENTINEL FAILOVER promotes the replica on $REPLICA_PORT"
wait_until 15 eval 'redis-cli -p "$PRIMARY_PORT" ROLE | head -n1 | grep -q slave'
follows "after SENTINEL FAILOVER" "$REPLICA_PORT" 2

# An unplanned one: the primary dies; the sentinels promote the other server.
wait_until 15 eval 'redis-cli -p "$PRIMARY_PORT" INFO replication | grep -q "master_link_status:up"'
t0=$(date +%s%N)
redis_stop "$IT_DIR/replica"
wait_until 30 eval '[ "$(sentinel_primary_port "${SENTINEL_PORTS[0]}" "$NAME")" = "$PRIMARY_PORT" ] &&
	redis-cli -p "$PRIMARY_PORT" ROLE | head -n1 | grep -q master' ||
	it_fatal "after the primary is killed, the sentinels promote $PRIMARY_PORT"
echo "# sentinels promoted a new primary $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
follows "after the primary was killed" "$PRIMARY_PORT" 2
echo "# the gateway's writes and health were back on the new primary $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"

it_check_sanitizer_logs
