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
redis_replica_start "$IT_DIR/replica" "$REPLICA_PORT" "$PRIMARY_PORT" || it_fatal "start a replica on $REPLICA_PORT"
it_cleanup_add redis_stop "$IT_DIR/replica"
wait_until 15 eval 'redis-cli -p "$REPLICA_PORT" INFO replication | grep -q "master_link_status:up"' ||
	it_fatal "the replica syncs with the primary"
SENTINEL_PORTS=()
for i in 1 2; do
	p=$(free_port)
	sentinel_start "$IT_DIR/sentinel$i" "$p" "$NAME" "$PRIMARY_PORT" 1000 || it_fatal "start sentinel $i on $p"
	it_cleanup_add redis_stop "$IT_DIR/sentinel$i"
	SENTINEL_PORTS+=("$p")
done
# The first sentinel listed is down: the gateway must try the next one.
REDIS_SENTINELS=127.0.0.1:$(free_port),127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]}
REDIS_MASTER_NAME=$NAME
REDIS_URL=redis://127.0.0.1:$REPLICA_PORT/0
REDIS_TIMEOUT_MS=500
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

# A token signed by a key the issuer never published: each request writes a
# JWKS refresh counter to Redis (HINCRBY), which only a primary accepts.
KEY3=$IT_DIR/dev-issuer-3.pem
make_dev_issuer_key "$KEY3"
sed "s|^dev_issuer_key = .*|dev_issuer_key = $KEY3|" "$CONF" >"$IT_DIR/gateway-3.conf"
FORGED=$("$GATEWAY" token --config "$IT_DIR/gateway-3.conf" --sub forged --tenant it-tenant --roles admin)
writes_on() { # PORT: refresh counters written to the Redis on PORT
	local a b
	a=$(redis-cli -p "$1" HGET mreg:metrics jwks_refresh_total 2>/dev/null)
	b=$(redis-cli -p "$1" HGET mreg:metrics jwks_refresh_limited_total 2>/dev/null)
	echo $(( ${a:-0} + ${b:-0} ))
}
forged_requests() { local i; for i in 1 2 3 4 5 6; do http GET "$API/health/components" -H "Authorization: Bearer $FORGED"; done; }
redis_healthy() {
	http GET "$API/health/components" "${AUTH[@]}"
	[ "$HTTP_CODE" = 200 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["components"]["redis"]["status"]=="healthy" else 1)' "$IT_DIR/last.body"
}

# follows LABEL PORT: requests write to the primary on PORT and health is healthy.
follows() {
	local label=$1 port=$2 before after
	before=$(writes_on "$port")
	forged_requests
	after=$(writes_on "$port")
	check "$label: writes reach the primary on $port ($before -> $after)" eval '[ "$after" -gt "$before" ]'
	check "$label: /health/components says redis healthy" wait_until 10 redis_healthy
}

check "redis.url names the replica: Redis refuses writes there" \
	eval 'redis-cli -p "$REPLICA_PORT" SET x 1 | grep -q READONLY'
follows "through sentinel" "$PRIMARY_PORT"

# A planned failover: the old primary becomes a replica (writes there say READONLY).
redis-cli -p "${SENTINEL_PORTS[0]}" SENTINEL failover "$NAME" >/dev/null
wait_until 30 eval '[ "$(sentinel_primary_port "${SENTINEL_PORTS[0]}" "$NAME")" = "$REPLICA_PORT" ] &&
	redis-cli -p "$REPLICA_PORT" ROLE | head -n1 | grep -q master' ||
	it_fatal "SENTINEL FAILOVER promotes the replica on $REPLICA_PORT"
wait_until 15 eval 'redis-cli -p "$PRIMARY_PORT" ROLE | head -n1 | grep -q slave'
follows "after SENTINEL FAILOVER" "$REPLICA_PORT"

# An unplanned one: the primary dies; the sentinels promote the other server.
wait_until 15 eval 'redis-cli -p "$PRIMARY_PORT" INFO replication | grep -q "master_link_status:up"'
t0=$(date +%s%N)
redis_stop "$IT_DIR/replica"
wait_until 30 eval '[ "$(sentinel_primary_port "${SENTINEL_PORTS[0]}" "$NAME")" = "$PRIMARY_PORT" ] &&
	redis-cli -p "$PRIMARY_PORT" ROLE | head -n1 | grep -q master' ||
	it_fatal "after the primary is killed, the sentinels promote $PRIMARY_PORT"
echo "# sentinels promoted a new primary $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
follows "after the primary was killed" "$PRIMARY_PORT"
echo "# the gateway's writes and health were back on the new primary $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"

it_check_sanitizer_logs
