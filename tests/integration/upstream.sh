#!/usr/bin/env bash
# The upstream MCP client (src/upstream.c) against real MCP servers written
# with the official TypeScript SDK (tests/node), on loopback: discovery with
# pagination, credentials, timeouts, servers that are not MCP, refused ports.
. "$(dirname "$0")/lib.sh"

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"it","version":"1"}}}'
mcp_post() { # URL [CURL-ARGS...]: an initialize request
	local url=$1
	shift
	HTTP_MAX_TIME=10 http POST "$url" -H 'Content-Type: application/json' \
		-H 'Accept: application/json, text/event-stream' --data "$INIT" "$@"
}

# --- the fixtures themselves -----------------------------------------------------
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
mcp_post "$PLAIN"
check "fixture plain: initialize answers SSE with an Mcp-Session-Id" \
	eval '[ "$HTTP_CODE" = 200 ] && [ -n "$(header Mcp-Session-Id)" ] && body_has "\"protocolVersion\":\"2025-11-25\""'

BEARER_TOKEN=upstream-secret-$RANDOM$RANDOM
AUTH_LOG=$IT_DIR/bearer-auth.log
BEARER=$(it_start_upstream bearer --token "$BEARER_TOKEN" --auth-log "$AUTH_LOG") ||
	it_fatal "the bearer fixture starts"
mcp_post "$BEARER" -H "Authorization: Bearer not-the-token"
check "fixture bearer: a wrong token is 401 and recorded" \
	eval '[ "$HTTP_CODE" = 401 ] && grep -qx "Bearer not-the-token" "$AUTH_LOG"'
mcp_post "$BEARER" -H "Authorization: Bearer $BEARER_TOKEN"
check "fixture bearer: its token is accepted" eval '[ "$HTTP_CODE" = 200 ]'

# --- the client --------------------------------------------------------------------
DRIVER=$top_builddir/tests/integration/up_driver
[ -x "$DRIVER" ] || it_fatal "test driver built ($DRIVER)"
REDIS_PORT=$(free_port)
redis_start "$IT_DIR/redis" "$REDIS_PORT" || it_fatal "start redis on $REDIS_PORT"
it_cleanup_add redis_stop "$IT_DIR/redis"
# The private Redis wants its password: from the URL for the driver, from the environment for redis-cli.
REDISCLI_AUTH=$(cat "$IT_DIR/redis/redis.secret")
export REDISCLI_AUTH
CONF=$IT_DIR/gateway.conf
(umask 077 && openssl rand -hex 32 >"$IT_DIR/secret.key")
printf '[redis]\nurl = %s\nprefix = "it:"\n\n[upstream]\nallowed_networks = 127.0.0.0/8\ntimeout_ms = 10000\n\n[security]\nsecret_key_file = %s\n' \
	"$(redis_url "$IT_DIR/redis")" "$IT_DIR/secret.key" >"$CONF"
chmod 600 "$CONF"

# drive OP URL [ARGS...]: run the driver; its output in $OUT (key=value lines).
drive() {
	OUT=$("$DRIVER" "$1" "$2" --config "$CONF" "${@:3}" 2>"$IT_DIR/driver.err")
	printf '%s\n' "$OUT" >"$IT_DIR/driver.out"
	cat "$IT_DIR/driver.err" >>"$IT_DIR/driver-all.err"
}
val() { sed -n "s/^$1=//p" <<<"$OUT" | head -n1; }
# out_is KEY VALUE
out_is() { [ "$(val "$1")" = "$2" ] || { diag <"$IT_DIR/driver.out"; diag <"$IT_DIR/driver.err"; return 1; }; }
rec() { it_upstream_file "$1" rec; }

R=$(rec "$PLAIN")
seen=$(wc -l <"$R")
drive discover "$PLAIN"
check "discover: status ok against the SDK server (SSE answers)" out_is status ok
check "discover: protocol 2025-11-25 and the server's name" \
	eval 'out_is protocol_version 2025-11-25 && out_is server_name plain-fixture'
check "discover: all five tools across three pages" out_is tools tool_1,tool_2,tool_3,tool_4,tool_5
check "discover: prompts and resources across their pages" \
	eval 'out_is prompts prompt_1,prompt_2,prompt_3 && out_is resources test://resource/1,test://resource/2,test://resource/3'
check "discover: a tool keeps its input and output schema and annotations" \
	eval 'val tool_1_schema | grep -q "\"inputSchema\":{\"type\":\"object\"" && val tool_1_schema | grep -q "\"outputSchema\"" && val tool_1_schema | grep -q "\"readOnlyHint\":true"'
tail -n +$((seen + 1)) "$R" >"$IT_DIR/plain-all.rec"
# The era is asked first (server/discover, MCP 2026-07-28); this 2025-11-25
# server refuses it without a session, and initialize follows.
check "discover: server/discover first, then initialize when the server does not know it" \
	eval '[ "$(grep -o "\"rpc\":\"[a-z/]*\"" "$IT_DIR/plain-all.rec" | head -n2 | tr "\n" " ")" = "\"rpc\":\"server/discover\" \"rpc\":\"initialize\" " ]'
grep -v '"rpc":"server/discover"' "$IT_DIR/plain-all.rec" >"$IT_DIR/plain.rec"
R=$IT_DIR/plain.rec
check "discover: the session id of initialize is sent on every later request" \
	eval '[ "$(grep -c "\"session\":null" "$R")" = 1 ] && ! grep -v "\"rpc\":\"initialize\"" "$R" | grep -v "\"closed\"" | grep -q "\"session\":null"'
check "discover: MCP-Protocol-Version on every request after initialize" \
	eval '! grep -v "\"rpc\":\"initialize\"" "$R" | grep -v "\"closed\"" | grep -qv "\"protocol_version\":\"2025-11-25\""'
check "discover: Accept names JSON and SSE" \
	eval 'grep "\"http\":\"POST\"" "$R" | grep -q . && ! grep "\"http\":\"POST\"" "$R" | grep -qv "\"accept\":\"application/json, text/event-stream\""'
check "discover: the session is deleted at the end" \
	eval 'grep -q "\"http\":\"DELETE\"" "$R" && grep -q "\"closed\"" "$R"'
check "discover: one kept-alive connection for the whole exchange" \
	eval '[ "$(grep -o "\"peer\":[0-9]*" "$R" | sort -u | wc -l)" = 1 ]'

JSONUP=$(it_start_upstream plain --json --no-prompts --tools 1) || it_fatal "the plain fixture (JSON answers) starts"
drive discover "$JSONUP"
check "discover: JSON answers; capabilities not offered are not listed" \
	eval 'out_is status ok && out_is tools tool_1 && out_is prompts "" && ! grep -q "prompts/list" "$(rec "$JSONUP")"'

drive probe "$PLAIN"
check "probe: ok with a latency" eval 'out_is status ok && [ "$(val latency_ms)" -ge 0 ]'

# Credentials: a static bearer token.
drive discover "$BEARER" --auth bearer --token "$BEARER_TOKEN"
check "bearer: the right token discovers the tool" eval 'out_is status ok && out_is tools whoami'
drive discover "$BEARER" --auth bearer --token "wrong-$BEARER_TOKEN"
check "bearer: a wrong token is auth_refused" out_is status auth_refused
check "bearer: the reason does not repeat the token" eval '! grep -q "wrong-$BEARER_TOKEN" "$IT_DIR/driver.out" "$IT_DIR/driver.err"'
drive discover "$BEARER"
check "bearer: no credentials is auth_refused" out_is status auth_refused
drive discover "$BEARER" --auth header --header-name Authorization --header-value "Bearer $BEARER_TOKEN"
check "header: a custom header carries the credential" eval 'out_is status ok'
drive discover "$BEARER" --auth header --header-name "X-Evil" --header-value $'a\r\nAuthorization: Bearer x'
check "header: a value with a line break is refused before sending" \
	eval 'out_is status auth_refused && ! grep -q "Bearer x" "$AUTH_LOG"'

drive discover "$BEARER?api_key=query-secret-$RANDOM" --auth bearer --token "wrong-$BEARER_TOKEN"
check "a key in the URL's query string is not logged" \
	eval 'out_is status auth_refused && grep -q "discover http://127.0.0.1:[0-9]*/mcp: auth_refused" "$IT_DIR/driver.err" && ! grep -q "query-secret" "$IT_DIR/driver.err"'

# DNS answers that change: rebind.so (LD_PRELOAD) answers a public address for
# rebind.test the first time and 127.0.0.1 after, and both a public and a
# private address for mixed.test. (An ASan build must allow the preload.)
REBIND=$top_builddir/tests/integration/rebind.so
[ -f "$REBIND" ] || it_fatal "rebind.so built"
rebind_drive() {
	LD_PRELOAD=$REBIND ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$@"
}

# TLS: certificates are verified; upstream.ca_file names a private CA.
make_certs "$IT_DIR/certs" || it_fatal "make certificates"
TLSUP=$(it_start_upstream plain --tls-cert "$IT_DIR/certs/tls.crt" --tls-key "$IT_DIR/certs/tls.key") ||
	it_fatal "the plain fixture starts with TLS"
drive discover "$TLSUP"
check "https upstream signed by an unknown CA: unreachable, naming the certificate" \
	eval 'out_is status unreachable && val why | grep -qi "certificate"'
MCPGW_UPSTREAM_CA_FILE=$IT_DIR/certs/ca.pem drive discover "$TLSUP"
check "https upstream with upstream.ca_file naming its CA: ok" eval 'out_is status ok && out_is tools tool_1,tool_2,tool_3,tool_4,tool_5'
# rebind.test reaches the same server (public at the check, then 127.0.0.1, which
# is listed), whose certificate names only 127.0.0.1 and localhost.
MCPGW_UPSTREAM_CA_FILE=$IT_DIR/certs/ca.pem rebind_drive drive discover "https://rebind.test:${TLSUP#https://127.0.0.1:}"
check "https upstream whose certificate does not name the host: unreachable" \
	eval 'out_is status unreachable && val why | grep -qi "certificate\|subject\|name"'

# Failures.
HANG=$(it_start_upstream hang) || it_fatal "the hang fixture starts"
drive discover "$HANG" --timeout-ms 1500
ms=$(val elapsed_ms)
check "hang: timed_out within timeout_ms + 1 s (took ${ms} ms of 1500)" \
	eval 'out_is status timed_out && [ "$ms" -ge 1400 ] && [ "$ms" -lt 2500 ]'
HANG2=$(it_start_upstream hang --after-headers) || it_fatal "the hang fixture (SSE headers) starts"
drive probe "$HANG2" --timeout-ms 1000
ms=$(val elapsed_ms)
check "hang after SSE headers: timed_out within timeout_ms + 1 s (took ${ms} ms of 1000)" \
	eval 'out_is status timed_out && [ "$ms" -lt 2000 ]'
for mode in html json sse; do
	NOTMCP=$(it_start_upstream notmcp --mode "$mode") || it_fatal "the notmcp fixture ($mode) starts"
	drive discover "$NOTMCP"
	check "not MCP ($mode answer): not_mcp" out_is status not_mcp
done
RPCERR=$(it_start_upstream notmcp --mode rpc-error) || it_fatal "the notmcp fixture (rpc-error) starts"
drive discover "$RPCERR"
check "a JSON-RPC error answering initialize: protocol_error with its message" \
	eval 'out_is status protocol_error && val why | grep -q "initialization refused by policy"'
BIG=$(it_start_upstream notmcp --mode big) || it_fatal "the notmcp fixture (big) starts"
drive discover "$BIG"
check "an answer over 8 MiB is refused (too_large), not buffered" \
	eval 'out_is status too_large && val why | grep -q "larger than"'
DEAD=http://127.0.0.1:$(free_port)/mcp
drive discover "$DEAD"
check "refused port: unreachable" out_is status unreachable
drive discover "${PLAIN%/mcp}/elsewhere"
check "no MCP endpoint at the path (404): not_mcp" out_is status not_mcp

# The URL policy applies before anything is sent.
MCPGW_UPSTREAM_ALLOWED_NETWORKS= drive discover "$PLAIN"
check "policy: loopback not listed is url_refused" \
	eval 'out_is status url_refused && val why | grep -q "loopback"'
drive discover "http://[::1]:${PLAIN##*:}"
check "policy: ::1 is not in 127.0.0.0/8 and is url_refused" out_is status url_refused
drive discover "http://[::ffff:127.0.0.1]:${PLAIN#http://127.0.0.1:}"
check "policy: IPv4-mapped ::ffff:127.0.0.1 is judged as 127.0.0.1 (listed: let through)" \
	eval '[ "$(val status)" != url_refused ] && [ -n "$(val status)" ]'
drive discover "http://169.254.169.254/latest/meta-data/"
check "policy: the cloud metadata address is url_refused" \
	eval 'out_is status url_refused && val why | grep -q metadata'
seen=$(wc -l <"$(rec "$PLAIN")")
MCPGW_UPSTREAM_ALLOWED_NETWORKS= rebind_drive drive discover "https://rebind.test:${PLAIN#http://127.0.0.1:}"
check "policy: a name that resolves to loopback only at connect time is url_refused there" \
	eval 'out_is status url_refused && val why | grep -q "at connect time"'
check "policy: nothing reached the upstream behind the swapped address" \
	eval '[ "$(wc -l <"$(rec "$PLAIN")")" = "$seen" ]'
rebind_drive drive discover "https://mixed.test:${PLAIN#http://127.0.0.1:}"
check "policy: every resolved address is checked (public + private is url_refused)" \
	eval 'out_is status url_refused && val why | grep -q "10.0.0.1"'
rebind_drive drive discover "https://nxdomain.test/mcp"
check "a host name that does not resolve: unreachable" \
	eval 'out_is status unreachable && val why | grep -q "cannot resolve nxdomain.test"'
drive discover "ftp://127.0.0.1/mcp"
check "policy: a scheme other than http(s) is url_refused" out_is status url_refused

# OAuth client credentials: fetch, cache in Redis, renew before expiry, and a
# refused token dropped and fetched again once.
SECRET=client-secret-$RANDOM$RANDOM
OAUTH=$(it_start_upstream oauth --client-id gw --client-secret "$SECRET" --scope mcp.read --expires-in 5) ||
	it_fatal "the oauth fixture starts"
TOKEN_URL=${OAUTH%/mcp}/token
OARGS=(--auth oauth_client_credentials --token-url "$TOKEN_URL" --client-id gw --client-secret "$SECRET" --scope mcp.read --cache-id srv-oauth)
issued() { grep -c '"token":"issued"' "$(rec "$OAUTH")"; }
drive discover "$OAUTH" "${OARGS[@]}"
check "oauth: a token is fetched and the upstream accepts it" \
	eval 'out_is status ok && out_is tools secure_echo && [ "$(issued)" = 1 ]'
TTL=$(redis-cli -p "$REDIS_PORT" TTL it:upstream:oauth:srv-oauth)
check "oauth: the token is cached in Redis for expires_in minus a margin (ttl $TTL of 5)" \
	eval '[ "$TTL" -ge 1 ] && [ "$TTL" -le 4 ]'
drive discover "$OAUTH" "${OARGS[@]}"
check "oauth: a second discovery reuses the cached token" eval 'out_is status ok && [ "$(issued)" = 1 ]'
ACCESS=$(grep -o '"access":"[^"]*"' "$(rec "$OAUTH")" | head -n1 | cut -d'"' -f4)
check "oauth: the cached token is sealed (not in clear in Redis)" \
	eval '[ -n "$ACCESS" ] && [ "$(redis-cli -p "$REDIS_PORT" STRLEN it:upstream:oauth:srv-oauth)" -gt 28 ] && ! redis-cli -p "$REDIS_PORT" GET it:upstream:oauth:srv-oauth | grep -qF "$ACCESS"'
check "oauth: neither the client secret nor the token is in the log" \
	eval '! grep -qF "$SECRET" "$IT_DIR/driver-all.err" && ! grep -qF "$ACCESS" "$IT_DIR/driver-all.err"'
sleep 4.2
drive discover "$OAUTH" "${OARGS[@]}"
check "oauth: after the cache lapses a new token is fetched before the old one expires" \
	eval 'out_is status ok && [ "$(issued)" = 2 ] && ! grep -q "\"refused\":\"expired\"" "$(rec "$OAUTH")"'
MCPGW_SECURITY_SECRET_KEY_FILE= drive discover "$OAUTH" "${OARGS[@]:0:11}" srv-nokey
MCPGW_SECURITY_SECRET_KEY_FILE= drive discover "$OAUTH" "${OARGS[@]:0:11}" srv-nokey
check "oauth: without a secret key the token is used but never cached" \
	eval 'out_is status ok && [ "$(issued)" = 4 ] && [ "$(redis-cli -p "$REDIS_PORT" EXISTS it:upstream:oauth:srv-nokey)" = 0 ]'
curl -s -X POST "${OAUTH%/mcp}/revoke" >/dev/null
drive discover "$OAUTH" "${OARGS[@]}"
check "oauth: a 401 drops the cached token, fetches another and retries once" \
	eval 'out_is status ok && [ "$(issued)" = 5 ] && grep -q "\"refused\":\"unknown\"" "$(rec "$OAUTH")"'
drive discover "$OAUTH" "${OARGS[@]:0:6}" --client-secret wrong --scope mcp.read --cache-id srv-other
check "oauth: a wrong client secret is auth_refused (invalid_client)" \
	eval 'out_is status auth_refused && val why | grep -q invalid_client'
MCPGW_UPSTREAM_ALLOWED_NETWORKS=10.0.0.0/8 drive discover "https://10.1.2.3/mcp" --auth oauth_client_credentials \
	--token-url "$TOKEN_URL" --client-id gw --client-secret "$SECRET" --cache-id srv-x --timeout-ms 1000
check "oauth: the token URL is under the URL policy too" \
	eval 'out_is status url_refused && val why | grep -q "token_url"'

# An ASan/UBSan build reports leaks and errors on the driver's stderr.
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$IT_DIR/driver-all.err"; then
	not_ok "no sanitizer reports from the upstream client"
	grep -E -A15 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$IT_DIR/driver-all.err" | head -n 60 | diag
else
	ok "no sanitizer reports from the upstream client"
fi
