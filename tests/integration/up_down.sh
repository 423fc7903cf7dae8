#!/usr/bin/env bash
# scripts/up and scripts/down on free ports (MCPGW_SERVER_API_PORT/MCP_PORT) with
# a private var directory: the stack answers, var/env is complete, a second
# run is harmless, --web apache switches web server, down stops every process.
. "$(dirname "$0")/lib.sh"

it_up_private
# Any MCPGW_<SECTION>_<KEY> exported before scripts/up reaches what it starts.
MCPGW_LIMITS_BODY_MAX=4096
export MCPGW_LIMITS_BODY_MAX

if "${UP[@]}" >"$IT_DIR/up1.log" 2>&1; then ok "scripts/up starts the stack"; else
	not_ok "scripts/up starts the stack"; tail -n 30 "$IT_DIR/up1.log" | diag; exit 1
fi
check "scripts/up prints the URLs and the admin token" \
	eval 'grep -q "https://127.0.0.1:$MCPGW_SERVER_API_PORT" "$IT_DIR/up1.log" && grep -q "^eyJ" "$IT_DIR/up1.log"'
for v in MCPGW_API_URL MCPGW_MCP_URL MCPGW_CONFIG MCPGW_CA_FILE MCPGW_ADMIN_TOKEN; do
	check "var/env sets $v" eval '(. "$VAR/env" && [ -n "${'"$v"':-}" ])'
done
(. "$VAR/env" && echo "$MCPGW_API_URL $MCPGW_MCP_URL $MCPGW_CA_FILE $MCPGW_ADMIN_TOKEN") >"$IT_DIR/env.vals"
read -r API MCP CA_FILE ADMIN <"$IT_DIR/env.vals"
cp "$CA_FILE" "$IT_DIR/ca.pem.tmp"; mkdir -p "$IT_DIR/certs"; mv "$IT_DIR/ca.pem.tmp" "$IT_DIR/certs/ca.pem"
check "the management URL uses the overridden port" eval '[ "$API" = "https://127.0.0.1:$MCPGW_SERVER_API_PORT" ]'

http GET "$API/health"
check "lighttpd: GET \$MCPGW_API_URL/health is 200 (CA from var/env)" eval '[ "$HTTP_CODE" = 200 ]'
http GET "$MCP/health"
check "lighttpd: GET \$MCPGW_MCP_URL/health is 404" eval '[ "$HTTP_CODE" = 404 ]'
http GET "$API/health/components" -H "Authorization: Bearer $ADMIN"
check "the admin token from var/env opens /health/components, healthy" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"overall_status\" *: *\"healthy\""'

check "scripts/up made the credential sealing key var/secret.key (root and the service group only), named in the configuration" \
	eval '[ "$(stat -c "%a %U %G" "$VAR/secret.key")" = "640 root $GW_SERVICE_USER" ] && grep -q "^secret_key_file = $VAR/secret.key" "$VAR/gateway.conf"'
http GET "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN"
check "the admin token lists the registry (200, servers)" eval '[ "$HTTP_CODE" = 200 ] && body_has "\"servers\""'

head -c 5000 /dev/zero | tr '\0' x >"$IT_DIR/body"
http POST "$API/health" --data-binary "@$IT_DIR/body"
check "an exported MCPGW_LIMITS_BODY_MAX=4096 reaches the responders (5000-byte body is 413)" \
	eval '[ "$HTTP_CODE" = 413 ]'

# Secrets: Redis wants its password, which only root can read; so is the
# configuration that carries it, and the fleet key.
out=$(env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$(cat "$VAR/redis/redis.port")" GET x 2>&1)
check "the local Redis refuses clients without its password" eval 'grep -q NOAUTH <<<"$out"'
modes=$(stat -c '%a' "$VAR/redis/redis.secret" "$VAR/redis/redis.conf" "$VAR/fleet.key" | tr '\n' ' ')
check "redis.secret, redis.conf and fleet.key are mode 0600 ($modes)" \
	eval '[ "$modes" = "600 600 600 " ]'
conf_mode=$(stat -c '%a %U:%G' "$VAR/gateway.conf")
check "gateway.conf is 0640 root:mcpgw, for root and the responders only ($conf_mode)" \
	eval '[ "$conf_mode" = "640 root:mcpgw" ]'
check "gateway.conf names the fleet key and a Redis URL with the password" \
	eval 'grep -q "^fleet_key_file = $VAR/fleet.key" "$VAR/gateway.conf" && grep -qF ":$(cat "$VAR/redis/redis.secret")@" "$VAR/gateway.conf"'
secrets() { cat "$VAR/redis/redis.secret" "$VAR/fleet.key" | sha256sum; }
secrets_before=$(secrets)

pids() { cat "$VAR"/run/gateway.pid "$VAR"/redis/redis.pid "$VAR"/lighttpd/lighttpd.pid 2>/dev/null | tr '\n' ' '; }
before=$(pids)
"${UP[@]}" >"$IT_DIR/up2.log" 2>&1
rc=$?
check "a second scripts/up succeeds and starts nothing new" \
	eval '[ "$rc" = 0 ] && [ "$(pids)" = "$before" ] && grep -q "already running" "$IT_DIR/up2.log"'
check "a second scripts/up keeps the Redis password and the fleet key" eval '[ "$(secrets)" = "$secrets_before" ]'

"${UP[@]}" --web apache >"$IT_DIR/up3.log" 2>&1
rc=$?
http GET "$API/health"
check "scripts/up --web apache replaces lighttpd by Apache" \
	eval '[ "$rc" = 0 ] && [ "$HTTP_CODE" = 200 ] && header Server | grep -qi apache && ! pidfile_alive "$VAR/lighttpd/lighttpd.pid"'

all_pids="$(cat "$VAR"/run/gateway.pid "$VAR"/redis/redis.pid "$VAR"/apache/apache.pid 2>/dev/null | grep -Eo '^[0-9]+' | tr '\n' ' ')"
all_pids="$all_pids $(head -n1 "$(cat "$VAR/pg/pg.datadir")/postmaster.pid")"
serve_children=$(pgrep -P "$(head -n1 "$VAR/run/gateway.pid")" | tr '\n' ' ')
bash "$top_srcdir/scripts/down" --var "$VAR" >"$IT_DIR/down.log" 2>&1
rc=$?
alive=
for p in $all_pids $serve_children; do
	pid_alive "$p" && alive="$alive $p"
done
check "scripts/down stops every process it started (pids: $all_pids$serve_children)" eval '[ "$rc" = 0 ] && [ -z "$alive" ]'
check "scripts/down frees both ports" \
	eval '! ss -Hltn "( sport = :$MCPGW_SERVER_API_PORT )" | grep -q . && ! ss -Hltn "( sport = :$MCPGW_SERVER_MCP_PORT )" | grep -q .'

# After scripts/down, scripts/up starts from the defaults: lighttpd, not the
# Apache of the last run, and no MCPGW_ override that is no longer exported.
env -u MCPGW_LIMITS_BODY_MAX bash "$top_srcdir/scripts/up" --var "$VAR" --bin "$GATEWAY" --no-install --no-build \
	>"$IT_DIR/up4.log" 2>&1
rc=$?
http POST "$API/health" --data-binary "@$IT_DIR/body"
check "scripts/down then scripts/up starts from the defaults (lighttpd, no recorded MCPGW_LIMITS_BODY_MAX)" \
	eval '[ "$rc" = 0 ] && pidfile_alive "$VAR/lighttpd/lighttpd.pid" && ! pidfile_alive "$VAR/apache/apache.pid" && [ "$HTTP_CODE" != 413 ] || { diag <"$IT_DIR/up4.log"; false; }'
