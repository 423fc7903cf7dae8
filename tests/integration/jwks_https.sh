#!/usr/bin/env bash
# The issuer's JWKS over https:// (libcurl): served by `openssl s_server -WWW`
# on loopback with our test CA. With auth.ca_file naming that CA, tokens
# verify; with another CA the keys cannot be had and the answer is 503, never
# an accepted token; the identity provider shows up in /health/components.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

# The JWKS document behind TLS on a free loopback port.
WWW=$IT_DIR/www
mkdir -p "$WWW"
cp "$JWKS_FILE" "$WWW/jwks.json"
JWKS_PORT=$(free_port)
(cd "$WWW" && exec openssl s_server -quiet -accept "127.0.0.1:$JWKS_PORT" -WWW \
	-cert "$IT_DIR/certs/tls.crt" -key "$IT_DIR/certs/tls.key") >"$IT_DIR/s_server.log" 2>&1 &
echo $! >"$IT_DIR/s_server.pid"
it_cleanup_add stop_by_pidfile "$IT_DIR/s_server.pid"
wait_until 10 port_in_use "$JWKS_PORT" || it_fatal "openssl s_server listens on $JWKS_PORT"
curl -sf --cacert "$IT_DIR/certs/ca.pem" "https://127.0.0.1:$JWKS_PORT/jwks.json" | grep -q '"keys"' ||
	it_fatal "the JWKS is served over https"

# Another CA, which did not sign the server's certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=unrelated test CA" -keyout "$IT_DIR/other-ca.key" -out "$IT_DIR/other-ca.pem" 2>/dev/null
chmod 644 "$IT_DIR/other-ca.pem"

export MCPGW_AUTH_JWKS_URI="https://127.0.0.1:$JWKS_PORT/jwks.json"
export MCPGW_AUTH_CA_FILE="$IT_DIR/certs/ca.pem"
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

http GET "$API/api/v1/me" "${AUTH[@]}"
check "https JWKS with the right CA: the token verifies (200)" eval '[ "$HTTP_CODE" = 200 ]'
http GET "$API/health/components" "${AUTH[@]}"
check "https JWKS: identity_provider is healthy in /health/components" \
	eval 'body_has "\"identity_provider\" *: *\\{ *\"status\" *: *\"healthy\""'

# A second pool that trusts the wrong CA, with its own Redis prefix so that it
# cannot borrow the fleet copy the first pool fetched.
serve_stop "$SERVE_PIDFILE"
stop_by_pidfile "$IT_DIR/lighttpd/lighttpd.pid"
export MCPGW_AUTH_CA_FILE="$IT_DIR/other-ca.pem" MCPGW_REDIS_PREFIX="other:"
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"
http GET "$API/api/v1/me" "${AUTH[@]}"
check "https JWKS with a CA that did not sign the server: 503, token not accepted" \
	eval '[ "$HTTP_CODE" = 503 ] && is_problem_json && [ -n "$(header Retry-After)" ]'
check "https JWKS failure is logged with the reason" \
	eval 'grep -q "certificate\|SSL\|TLS\|peer" "$IT_DIR/gateway.log"'
# The operator's own token cannot be verified now either, so ask the CLI,
# which runs the same component checks directly.
"$GATEWAY" health --config "$CONF" >"$IT_DIR/health.json" 2>&1
check "https JWKS with the wrong CA: mcp-gateway health shows identity_provider degraded" \
	eval 'tr -d " \n" <"$IT_DIR/health.json" | grep -q "\"degraded_services\":\[[^]]*identity_provider"'
it_check_sanitizer_logs
