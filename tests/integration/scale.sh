#!/usr/bin/env bash
# Scale-out: two hosts' worth of gateway — lighttpd with one responder pool,
# Apache with another — sharing one Redis and one PostgreSQL. Either serves any
# request; a signing-key rotation is picked up by the whole fleet with exactly
# one JWKS refresh, and a forged kid causes none.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

# Pool A: lighttpd on the ports of the configuration.
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"
API_A=$API MCP_A=$MCP

# Pool B: its own supervisor and socket behind Apache on two other ports, with
# the same configuration (in a real fleet both sit behind one public name).
it_start_host_b "$IT_DIR/gateway.log"

# all_ok TOKEN N: N requests to /api/v1/me on each pool; counts failures in FAILS.
all_ok() {
	FAILS=0
	local i base
	for i in $(seq 1 "$2"); do
		for base in "$API_A" "$API_B"; do
			http GET "$base/api/v1/me" -H "Authorization: Bearer $1"
			[ "$HTTP_CODE" = 200 ] || FAILS=$((FAILS + 1))
		done
	done
}

for base in "$API_A" "$API_B"; do
	http GET "$base/health"
	check "fleet: $base/health answers 200" eval '[ "$HTTP_CODE" = 200 ]'
done
http GET "$MCP_B/health"
check "fleet: management routes stay off the second pool's MCP port" eval '[ "$HTTP_CODE" = 404 ]'

all_ok "$TOKEN" 8
check "fleet: the same token is accepted by every responder of both pools" eval '[ "$FAILS" = 0 ]'

# Rotate: publish a second key next to the first, sign with the new one.
KEY2=$IT_DIR/dev-issuer-2.pem
make_dev_issuer_key "$KEY2" && chmod 644 "$KEY2"
sed "s|^dev_issuer_key = .*|dev_issuer_key = $KEY2|" "$CONF" >"$IT_DIR/gateway-2.conf"
"$GATEWAY" jwks --config "$IT_DIR/gateway-2.conf" >"$IT_DIR/jwks-2.json"
TOKEN2=$("$GATEWAY" token --config "$IT_DIR/gateway-2.conf" --sub rotated --tenant it-tenant --roles user)
# {"keys":[A]} + {"keys":[B]} -> {"keys":[A,B]}
{ sed 's/ *\] *} *$//' "$JWKS_FILE"; printf ','; sed 's/^ *{ *"keys" *: *\[ *//' "$IT_DIR/jwks-2.json"; } \
	| tr -d '\n' >"$JWKS_FILE.new" && chmod 644 "$JWKS_FILE.new" && mv "$JWKS_FILE.new" "$JWKS_FILE"

refresh_before=$(it_fleet_metric jwks_refresh_total)
all_ok "$TOKEN2" 6
refresh_after=$(it_fleet_metric jwks_refresh_total)
check "rotation: a token signed with the new key is accepted by both pools" eval '[ "$FAILS" = 0 ]'
check "rotation: exactly one JWKS refresh for the whole fleet (${refresh_before:-0} -> ${refresh_after:-0})" \
	eval '[ $(( ${refresh_after:-0} - ${refresh_before:-0} )) = 1 ]'
all_ok "$TOKEN" 2
check "rotation: tokens of the old key still work" eval '[ "$FAILS" = 0 ]'

# A kid nobody published: rejected everywhere, and no refresh within the period.
KEY3=$IT_DIR/dev-issuer-3.pem
make_dev_issuer_key "$KEY3" && chmod 644 "$KEY3"
sed "s|^dev_issuer_key = .*|dev_issuer_key = $KEY3|" "$CONF" >"$IT_DIR/gateway-3.conf"
TOKEN3=$("$GATEWAY" token --config "$IT_DIR/gateway-3.conf" --sub forged --tenant it-tenant --roles admin)
sleep 1.1 # past the per-responder re-read guard, so only the fleet lock can hold it back
all_ok "$TOKEN3" 4
check "forged kid: rejected by every responder" eval '[ "$FAILS" = 8 ]'
check "forged kid: no further JWKS refresh within the period ($(it_fleet_metric jwks_refresh_total))" \
	eval '[ "$(it_fleet_metric jwks_refresh_total)" = "${refresh_after:-0}" ]'
it_check_sanitizer_logs
