#!/usr/bin/env bash
# Redis is no trust anchor: the private Redis admits only clients with its
# password, and a JWKS written straight into Redis (unsealed, or sealed with a
# MAC not made with the fleet key) lets no token signed by a foreign key in
# through lighttpd; each rejected copy is logged by its key name and counted,
# and the issuer's own tokens keep working. A bad fleet key file is a
# configuration error that names the file.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

out=$(env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET anything 2>&1)
check "Redis refuses a client without the password (NOAUTH)" eval 'grep -q NOAUTH <<<"$out"'
check "the Redis password is in a file only root can read" \
	eval '[ "$(stat -c %a "$IT_DIR/redis/redis.secret")" = 600 ] && [ "$(stat -c %a "$IT_DIR/redis/redis.conf")" = 600 ]'
check "the Redis password is not on the server's command line" \
	eval '! grep -qF "$(cat "$IT_DIR/redis/redis.secret")" "/proc/$(cat "$IT_DIR/redis/redis.pid")/cmdline"'

# A key pair that is not the issuer's, and a platform_admin token signed with it.
FOREIGN_KEY=$IT_DIR/foreign-issuer.pem
make_dev_issuer_key "$FOREIGN_KEY" || it_fatal "make a foreign signing key"
sed "s|^dev_issuer_key = .*|dev_issuer_key = $FOREIGN_KEY|" "$CONF" >"$IT_DIR/foreign.conf"
"$GATEWAY" jwks --config "$IT_DIR/foreign.conf" | tr -d '\n' >"$IT_DIR/foreign-jwks.json"
FOREIGN_TOKEN=$("$GATEWAY" token --config "$IT_DIR/foreign.conf" --sub intruder --tenant it-tenant \
	--roles platform_admin --aud "$AUDIENCE" 2>"$IT_DIR/token.err")
[ -n "$FOREIGN_TOKEN" ] && grep -q '"keys"' "$IT_DIR/foreign-jwks.json" || it_fatal "mint a foreign token"
FOREIGN_N=$(grep -o '"n" *: *"[^"]*"' "$IT_DIR/foreign-jwks.json" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')

HASH=$(printf '%s' "file://$JWKS_FILE" | sha256sum | cut -c1-64)
COPY=mreg:jwks:$HASH
metric() { http GET "$API/metrics"; sed -n "s/^mcpgw_$1 //p" "$IT_DIR/last.body"; }
# foreign_refused LABEL: the foreign token is refused 401 invalid_token by both responders.
foreign_refused() {
	local i codes=
	for i in 1 2 3 4; do
		http GET "$API/api/v1/me" -H "Authorization: Bearer $FOREIGN_TOKEN"
		codes="$codes$HTTP_CODE "
		[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q 'error="invalid_token"' || break
	done
	check "$1: a token signed by the foreign key is refused 401 invalid_token (got $codes)" \
		eval '[ "$codes" = "401 401 401 401 " ]'
}

# 1. Before any responder has loaded keys, the foreign JWKS is written as the
#    fleet copy, unsealed.
redis_cli "$IT_DIR/redis" SET "$COPY" "$(cat "$IT_DIR/foreign-jwks.json")" >/dev/null
foreign_refused "unsealed copy in Redis"
http GET "$API/api/v1/me" "${AUTH[@]}"
check "unsealed copy in Redis: the issuer's own token still works" eval '[ "$HTTP_CODE" = 200 ]'
rejected1=$(metric jwks_cache_rejected_total)
check "unsealed copy in Redis: counted in jwks_cache_rejected_total (${rejected1:-0})" \
	eval '[ "${rejected1:-0}" -ge 1 ]'
check "unsealed copy in Redis: logged with its key name, never its content" \
	eval 'grep "jwks_cache_rejected" "$IT_DIR/gateway.log" | grep -qF "$COPY" && ! grep -qF "$FOREIGN_N" "$IT_DIR/gateway.log"'
sealed=$(redis_cli "$IT_DIR/redis" GET "$COPY" | head -c 6)
check "the responder that fetched from the issuer replaced it with a sealed copy" eval '[ "$sealed" = "jwks1 " ]'

# 2. Keys loaded: a copy with a made-up MAC, and the refresh lock held so that a
#    responder meeting an unknown kid re-reads the copy instead of the issuer.
redis_cli "$IT_DIR/redis" SET "mreg:jwks:refresh:$HASH" elsewhere EX 300 >/dev/null
redis_cli "$IT_DIR/redis" SET "$COPY" "jwks1 $(date +%s)000 $(printf '%064d' 0)
$(cat "$IT_DIR/foreign-jwks.json")" >/dev/null
sleep 1.1 # past each responder's own re-read guard
foreign_refused "copy with a forged MAC, refresh lock held"
rejected2=$(metric jwks_cache_rejected_total)
check "copy with a forged MAC: counted too (${rejected1:-0} -> ${rejected2:-0})" \
	eval '[ "${rejected2:-0}" -gt "${rejected1:-0}" ]'
http GET "$API/api/v1/me" "${AUTH[@]}"
check "copy with a forged MAC: the issuer's own token still works" eval '[ "$HTTP_CODE" = 200 ]'

# 3. The fleet key file is part of the configuration.
validate_out() { env "$@" "$GATEWAY" validate --config "$CONF" 2>&1; }
out=$(validate_out MCPGW_SECURITY_FLEET_KEY_FILE="$IT_DIR/missing.key")
check "validate: a missing fleet key file is an error naming it" \
	eval 'grep -q "security.fleet_key_file: $IT_DIR/missing.key: No such file" <<<"$out"'
printf 'too-short\n' >"$IT_DIR/short.key"
out=$(validate_out MCPGW_SECURITY_FLEET_KEY_FILE="$IT_DIR/short.key")
check "validate: a short fleet key file is an error naming it, without its content" \
	eval 'grep -q "security.fleet_key_file: $IT_DIR/short.key: holds 9 bytes" <<<"$out" && ! grep -q too-short <<<"$out"'
out=$(validate_out)
check "validate: the test setup (fleet key, Redis password) is valid" \
	eval '! grep -q "^error" <<<"$out" && ! grep -q fleet_key <<<"$out"'
it_check_sanitizer_logs
