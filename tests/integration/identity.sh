#!/usr/bin/env bash
# Identity through lighttpd with the development issuer: roles from tokens reach
# the route table (401/403 with the right challenges), /api/v1/me shows the
# identity and never the token, RFC 9728 documents on both planes, and the
# steady state verifies tokens without any JWKS cache miss.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

mint() { "$GATEWAY" token --config "$CONF" "$@" 2>>"$IT_DIR/token.err"; }
USER_TOKEN=$(mint --sub it-user --tenant it-tenant --roles user)
OPERATOR_TOKEN=$(mint --sub it-op --tenant it-tenant --roles operator --scopes "openid profile")
OTHER_AUD=$(mint --sub it-user --tenant it-tenant --roles admin --aud someone-else)
metric() { http GET "$API/metrics"; sed -n "s/^mcpgw_$1 //p" "$IT_DIR/last.body"; }

http GET "$API/api/v1/me" "${AUTH[@]}"
check "me: an admin token is answered 200" eval '[ "$HTTP_CODE" = 200 ]'
check "me: user, tenant, roles, issuer and expiry are shown" \
	eval 'body_has "\"tenant_id\" *: *\"it-tenant\"" && body_has "it-admin" && body_has "\"admin\"" && body_has "\"operator\"" && body_has "dev-issuer" && body_has "\"expires_at\""'
check "me: the token itself is never echoed" eval '! grep -qF "$TOKEN" "$IT_DIR/last.body"'

http GET "$API/api/v1/me"
check "no token: 401 with resource_metadata and no error=" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "resource_metadata=\"$API/.well-known/oauth-protected-resource\"" && ! header WWW-Authenticate | grep -q error='

http GET "$API/api/v1/me?access_token=$TOKEN"
check "a token in the query string is ignored (401 without error=)" \
	eval '[ "$HTTP_CODE" = 401 ] && ! header WWW-Authenticate | grep -q error='

# Flip the first character of the signature to another one: always a change.
sig=${TOKEN##*.}
case ${sig:0:1} in A) flip=B ;; *) flip=A ;; esac
TAMPERED=${TOKEN%.*}.$flip${sig:1}
http GET "$API/api/v1/me" -H "Authorization: Bearer $TAMPERED"
check "tampered token: 401 error=\"invalid_token\"" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "error=\"invalid_token\""'

http GET "$API/api/v1/me" -H "Authorization: Bearer $OTHER_AUD"
check "token for another audience: 401 invalid_token" \
	eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "error=\"invalid_token\""'

http GET "$API/health/components" -H "Authorization: Bearer $USER_TOKEN"
check "user role on /health/components: 403 insufficient_scope" \
	eval '[ "$HTTP_CODE" = 403 ] && header WWW-Authenticate | grep -q "error=\"insufficient_scope\"" && is_problem_json'

http GET "$API/health/components" -H "Authorization: Bearer $OPERATOR_TOKEN"
check "operator role on /health/components: answered" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"overall_status\""'

http GET "$API/api/v1/me" -H "Authorization: Bearer $USER_TOKEN"
check "user role on /api/v1/me: 200 with only the user role" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"user\"" && ! body_has "\"admin\""'

http GET "$API/api/v1/me" -H "Authorization: Bearer $OPERATOR_TOKEN"
check "me: scopes of the token are shown" eval 'body_has "openid profile" || body_has "\"openid\""'

for path in /.well-known/oauth-protected-resource /.well-known/oauth-protected-resource/mcp \
	/.well-known/oauth-protected-resource/servers/weather/mcp; do
	http GET "$MCP$path"
	res=$MCP${path#/.well-known/oauth-protected-resource}
	check "RFC 9728 $path: resource $res, header bearer method, authorization_servers" \
		eval '[ "$HTTP_CODE" = 200 ] && body_has "\"resource\" *: *\"${res//\//\\/}\"" && body_has "\"bearer_methods_supported\" *: *\\[ *\"header\" *\\]" && body_has "\"authorization_servers\""'
done

# Steady state: the first requests of each responder may parse the JWKS; after
# that, many verifications cause no cache miss anywhere in the fleet.
for i in 1 2 3 4 5 6; do http GET "$API/api/v1/me" "${AUTH[@]}"; done
misses_before=$(metric jwks_cache_miss_total)
fails=0
for i in $(seq 1 40); do
	http GET "$API/api/v1/me" "${AUTH[@]}"
	[ "$HTTP_CODE" = 200 ] || fails=$((fails + 1))
done
misses_after=$(metric jwks_cache_miss_total)
check "steady state: 40 verified requests, none failed" eval '[ "$fails" = 0 ]'
check "steady state: no JWKS cache miss (${misses_before:-0} before, ${misses_after:-0} after)" \
	eval '[ "${misses_before:-0}" = "${misses_after:-0}" ]'
it_check_sanitizer_logs
