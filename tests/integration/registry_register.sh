#!/usr/bin/env bash
# Registration in phases through lighttpd against real MCP upstreams (official
# SDK fixtures): success answers every phase; each phase failed in turn answers
# its phase and reason and leaves nothing written; credentials are sealed, never
# shown, and `rekey` re-seals them all or none.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway
# Discovery gives up after 3 s whatever a registration asks for.
export MCPGW_UPSTREAM_TIMEOUT_MS=3000
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
USER_A=$(it_mint --sub user-a --tenant ta --roles user)
PLATFORM=$(it_mint --sub root --tenant tp --roles platform_admin)

BEARER_TOKEN=upstream-secret-$RANDOM$RANDOM$RANDOM
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
BEARER=$(it_start_upstream bearer --token "$BEARER_TOKEN" --auth-log "$IT_DIR/bearer-auth.log") ||
	it_fatal "the bearer fixture starts"
HANG=$(it_start_upstream hang) || it_fatal "the hang fixture starts"
NOTMCP=$(it_start_upstream notmcp) || it_fatal "the notmcp fixture starts"
CLIENT_SECRET=oauth-secret-$RANDOM$RANDOM$RANDOM
OAUTH=$(it_start_upstream oauth --client-id it-client --client-secret "$CLIENT_SECRET") ||
	it_fatal "the oauth fixture starts"
CLOSED=http://127.0.0.1:$(free_port)/mcp

# register TOKEN JSON: POST /api/v1/servers; every answer is kept for the secret grep.
register() {
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' --data "$2"
	cat "$IT_DIR/last.headers" "$IT_DIR/last.body" >>"$IT_DIR/all-answers"
}
field() { it_json "$1"; }
counts() { it_psql "SELECT concat_ws('/', (SELECT count(*) FROM servers), (SELECT count(*) FROM server_tools), (SELECT count(*) FROM server_prompts), (SELECT count(*) FROM server_resources))"; }

# --- success ---------------------------------------------------------------------
register "$ADMIN_A" "{\"name\":\"plain\",\"url\":\"$PLAIN\",\"tags\":[\"demo\"],\"timeout_ms\":5000}"
check "register: 201 with server_id and all four phases completed" \
	eval '[ "$HTTP_CODE" = 201 ] && [ "$(field phases_completed)" = "[\"auth\",\"validation\",\"registration\",\"audit\"]" ] && [ -n "$(field server_id)" ]'
PLAIN_ID=$(field server_id)
check "register: the server lands in the admin's tenant with the upstream's catalog counted" \
	eval '[ "$(field server.tenant_id)" = ta ] && [ "$(field server.tool_count)" = 5 ] && [ "$(field server.server_info.name)" = plain-fixture ]'
check "register: Location names the new server" eval 'header Location | grep -q "/api/v1/servers/$PLAIN_ID"'
check "register: the whole catalog is stored (5 tools over pages, 3 prompts, 3 resources)" \
	eval '[ "$(it_psql "SELECT concat_ws('"'"'/'"'"', (SELECT count(*) FROM server_tools WHERE server_id = '"'"'$PLAIN_ID'"'"'), (SELECT count(*) FROM server_prompts), (SELECT count(*) FROM server_resources))")" = 5/3/3 ]'
check "register: tools keep title, output schema, annotations and a schema hash" \
	eval '[ "$(it_psql "SELECT count(*) FROM server_tools WHERE title IS NOT NULL AND output_schema IS NOT NULL AND annotations ? '"'"'readOnlyHint'"'"' AND length(schema_hash) = 64")" = 5 ]'
BASE=$(counts)

# expect_fail LABEL STATUS PHASE REASON [FIELD]: the last answer, and nothing written.
expect_fail() {
	local label=$1 st=$2 phase=$3 reason=$4 fld=${5:-}
	check "$label: $st problem+json, phase $phase, reason $reason${fld:+, field $fld}" \
		eval '[ "$HTTP_CODE" = "$st" ] && is_problem_json && [ "$(field phase)" = "$phase" ] && [ "$(field reason)" = "$reason" ] && { [ -z "$fld" ] || [ "$(field field)" = "$fld" ]; }'
	check "$label: nothing written (servers/tools/prompts/resources still $BASE)" eval '[ "$(counts)" = "$BASE" ]'
}

# --- auth phase -------------------------------------------------------------------
register "$USER_A" "{\"name\":\"u1\",\"url\":\"$PLAIN\"}"
check "auth: a user may not register (403 insufficient_scope)" \
	eval '[ "$HTTP_CODE" = 403 ] && header WWW-Authenticate | grep -q insufficient_scope'
register "$ADMIN_A" "{\"name\":\"other\",\"url\":\"$PLAIN\",\"tenant_id\":\"tb\"}"
expect_fail "auth: an admin registering into another tenant" 403 auth forbidden tenant_id
register "$ADMIN_A" "{\"name\":\"shared\",\"url\":\"$PLAIN\",\"tenant_id\":null}"
expect_fail "auth: an admin registering a shared server" 403 auth forbidden tenant_id

# --- validation: body ----------------------------------------------------------------
register "$ADMIN_A" "{\"name\":\"Bad_Name\",\"url\":\"$PLAIN\"}"
expect_fail "validation: a name outside [a-z0-9-]" 400 validation invalid_body name
register "$ADMIN_A" "{\"name\":\"gateway\",\"url\":\"$PLAIN\"}"
expect_fail "validation: the reserved name gateway" 400 validation invalid_body name
register "$ADMIN_A" '{"name":"nourl"}'
expect_fail "validation: no url" 400 validation invalid_body url
register "$ADMIN_A" "{\"name\":\"x1\",\"url\":\"$PLAIN\",\"colour\":\"red\"}"
expect_fail "validation: an unknown field" 400 validation invalid_body colour
register "$ADMIN_A" "{\"name\":\"x2\",\"url\":\"$PLAIN\",\"max_concurrency\":0}"
expect_fail "validation: max_concurrency 0" 400 validation invalid_body max_concurrency
register "$ADMIN_A" "{\"name\":\"x3\",\"url\":\"$PLAIN\",\"auth\":{\"type\":\"bearer\"}}"
expect_fail "validation: bearer auth without a token" 400 validation invalid_body
register "$ADMIN_A" '{"name":'
expect_fail "validation: a body that is not JSON" 400 validation invalid_body

# --- validation: URL policy and discovery ------------------------------------------------
register "$ADMIN_A" '{"name":"meta","url":"http://169.254.169.254/mcp"}'
expect_fail "validation: the cloud metadata address" 400 validation url_refused url
register "$ADMIN_A" '{"name":"private","url":"http://10.1.2.3/mcp"}'
expect_fail "validation: a private address not in allowed_networks" 400 validation url_refused url
register "$ADMIN_A" "{\"name\":\"userinfo\",\"url\":\"http://user:$BEARER_TOKEN@${PLAIN#http://}\"}"
expect_fail "validation: credentials inside the URL (never echoed)" 400 validation url_refused url
register "$ADMIN_A" '{"name":"ftp","url":"ftp://example.org/mcp"}'
expect_fail "validation: a scheme other than http(s)" 400 validation url_refused url
register "$ADMIN_A" "{\"name\":\"closed\",\"url\":\"$CLOSED\"}"
expect_fail "validation: an upstream that is not listening" 502 validation unreachable
register "$ADMIN_A" "{\"name\":\"hang\",\"url\":\"$HANG\",\"timeout_ms\":1500}"
expect_fail "validation: an upstream that never answers (timeout_ms 1500)" 504 validation timed_out
check "validation: the hanging upstream was given up on in time (${HTTP_TIME}s)" \
	eval 'awk -v t="$HTTP_TIME" "BEGIN { exit !(t < 8) }"'
# A registration's own timeout_ms never stretches discovery past the
# operator's upstream.timeout_ms (3 s here): else each request of a tenant
# admin could hold a responder for up to ten minutes.
register "$ADMIN_A" "{\"name\":\"hang-long\",\"url\":\"$HANG\",\"timeout_ms\":600000}"
expect_fail "validation: timeout_ms 600000 against a hanging upstream" 504 validation timed_out
check "validation: discovery ends at upstream.timeout_ms, not the registration's timeout_ms (${HTTP_TIME}s)" \
	eval 'awk -v t="$HTTP_TIME" "BEGIN { exit !(t < 6) }"'
register "$ADMIN_A" "{\"name\":\"notmcp\",\"url\":\"$NOTMCP\"}"
expect_fail "validation: an upstream that is not MCP" 502 validation not_mcp
register "$ADMIN_A" "{\"name\":\"wrongtoken\",\"url\":\"$BEARER\",\"auth\":{\"type\":\"bearer\",\"token\":\"not-$BEARER_TOKEN\"}}"
expect_fail "validation: the upstream refuses the credentials" 502 validation auth_refused

# --- registration phase --------------------------------------------------------------------
register "$ADMIN_A" "{\"name\":\"plain\",\"url\":\"$PLAIN\"}"
check "registration: a duplicate name in the tenant is 409" \
	eval '[ "$HTTP_CODE" = 409 ] && [ "$(field reason)" = duplicate_name ] && [ "$(field field)" = name ]'
register "$PLATFORM" "{\"name\":\"plain\",\"url\":\"$PLAIN\",\"tenant_id\":null}"
check "registration: a shared server may not take a name a tenant uses (409)" eval '[ "$HTTP_CODE" = 409 ]'

it_psql "CREATE FUNCTION it_fail() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'it: injected failure'; END \$\$"
it_psql "CREATE TRIGGER it_fail_prompts BEFORE INSERT ON server_prompts FOR EACH ROW EXECUTE FUNCTION it_fail()"
register "$ADMIN_A" "{\"name\":\"pgfail\",\"url\":\"$PLAIN\"}"
expect_fail "registration: PostgreSQL fails while the catalog is stored" 503 registration database_error
it_psql "DROP TRIGGER it_fail_prompts ON server_prompts"

audit_table=$(it_psql "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','p') AND c.relname IN ('audit_log','audit_events','audit') ORDER BY c.relname LIMIT 1")
it_psql "CREATE TRIGGER it_fail_audit BEFORE INSERT ON $audit_table FOR EACH ROW EXECUTE FUNCTION it_fail()"
register "$ADMIN_A" "{\"name\":\"auditfail\",\"url\":\"$PLAIN\"}"
expect_fail "audit: the audit row cannot be written" 503 audit audit_failed
it_psql "DROP TRIGGER it_fail_audit ON $audit_table"

# --- credentials -----------------------------------------------------------------------------
register "$ADMIN_A" "{\"name\":\"secured\",\"url\":\"$BEARER\",\"auth\":{\"type\":\"bearer\",\"token\":\"$BEARER_TOKEN\"}}"
check "credentials: a bearer upstream registers with its own token (201)" eval '[ "$HTTP_CODE" = 201 ]'
SECURED_ID=$(field server_id)
check "credentials: the answer shows the auth type only" \
	eval '[ "$(field server.auth)" = "{\"type\":\"bearer\"}" ]'
check "credentials: the upstream never saw another Authorization than its token (or ours)" \
	eval '! grep -v -x "Bearer not-$BEARER_TOKEN" "$IT_DIR/bearer-auth.log" 2>/dev/null | grep -q .'
check "credentials: stored sealed (no plaintext in the row, a key id beside it)" \
	eval '[ "$(it_psql "SELECT count(*) FROM servers WHERE id = '"'"'$SECURED_ID'"'"' AND position(convert_to('"'"'$BEARER_TOKEN'"'"', '"'"'UTF8'"'"') in auth_secret) = 0 AND length(auth_key_id) = 16")" = 1 ]'
register "$ADMIN_A" "{\"name\":\"secured2\",\"url\":\"$BEARER\",\"auth\":{\"type\":\"header\",\"header_name\":\"Authorization\",\"header_value\":\"Bearer $BEARER_TOKEN\"}}"
check "credentials: a static header upstream registers too (201)" eval '[ "$HTTP_CODE" = 201 ]'
BASE=$(counts)
register "$ADMIN_A" "{\"name\":\"oauth\",\"url\":\"$OAUTH\",\"auth\":{\"type\":\"oauth_client_credentials\",\"token_url\":\"${OAUTH%/mcp}/token\",\"client_id\":\"it-client\",\"client_secret\":\"not-$CLIENT_SECRET\"}}"
expect_fail "validation: the token endpoint refuses the client secret" 502 validation auth_refused
register "$ADMIN_A" "{\"name\":\"oauth\",\"url\":\"$OAUTH\",\"auth\":{\"type\":\"oauth_client_credentials\",\"token_url\":\"${OAUTH%/mcp}/token\",\"client_id\":\"it-client\",\"client_secret\":\"$CLIENT_SECRET\"}}"
check "credentials: an OAuth client credentials upstream registers with a token it fetched (201)" \
	eval '[ "$HTTP_CODE" = 201 ] && [ "$(field server.auth)" = "{\"type\":\"oauth_client_credentials\"}" ]'
OAUTH_ID=$(field server_id)
http GET "$API/api/v1/servers/$OAUTH_ID/health" -H "Authorization: Bearer $ADMIN_A"
check "credentials: the OAuth upstream's health probe opens the sealed client secret (healthy)" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(field status)" = healthy ]'
for path in "/api/v1/servers" "/api/v1/servers/$SECURED_ID" "/api/v1/servers/$SECURED_ID/tools" \
	"/api/v1/servers/$SECURED_ID/health" "/api/v1/tools?q=whoami"; do
	http GET "$API$path" -H "Authorization: Bearer $ADMIN_A"
	cat "$IT_DIR/last.headers" "$IT_DIR/last.body" >>"$IT_DIR/all-answers"
done
check "credentials: the health probe opened the sealed token (healthy)" body_has '"healthy"|"tools"|"servers"'
http POST "$API/api/v1/servers/$SECURED_ID/refresh" -H "Authorization: Bearer $ADMIN_A" --data ''
cat "$IT_DIR/last.headers" "$IT_DIR/last.body" >>"$IT_DIR/all-answers"
check "credentials: refresh discovers again with the sealed token (200)" eval '[ "$HTTP_CODE" = 200 ]'
http GET "$API/metrics"
cat "$IT_DIR/last.body" >>"$IT_DIR/all-answers"
check "credentials: no answer, metric or error ever held the upstream token or client secret" \
	eval '! grep -qF -e "$BEARER_TOKEN" -e "$CLIENT_SECRET" "$IT_DIR/all-answers"'
check "credentials: the gateway log never held the upstream token or client secret" \
	eval '[ -s "$IT_DIR/gateway.log" ] && ! grep -qF -e "$BEARER_TOKEN" -e "$CLIENT_SECRET" "$IT_DIR/gateway.log"'
check "credentials: no audit row held them either" \
	eval 'it_psql "SELECT * FROM audit_log" >"$IT_DIR/audit.dump" && [ -s "$IT_DIR/audit.dump" ] && ! grep -qF -e "$BEARER_TOKEN" -e "$CLIENT_SECRET" "$IT_DIR/audit.dump"'

# --- rekey ---------------------------------------------------------------------------------------
sealed_before=$(it_psql "SELECT string_agg(encode(auth_secret, 'hex'), ',' ORDER BY id) FROM servers WHERE auth_secret IS NOT NULL")
NEW_KEY=$IT_DIR/secret-2.key
make_secret "$NEW_KEY" 32 && secure_file "$NEW_KEY" "$GW_SERVICE_USER"
# A row that does not open stops the whole rekey: nothing changes.
it_psql "INSERT INTO servers (name, tenant_id, url, auth_type, auth_secret, auth_key_id) SELECT 'broken', 'ta', url, auth_type, auth_secret, auth_key_id FROM servers WHERE id = '$SECURED_ID'"
OUT=$("$GATEWAY" rekey --config "$CONF" --new-key "$NEW_KEY" 2>&1)
RC=$?
check "rekey: a row that does not open fails the whole rekey (exit 1, naming the row)" \
	eval '[ "$RC" = 1 ] && grep -q "do not open" <<<"$OUT"'
check "rekey: after the failure every other row is exactly as before" \
	eval '[ "$(it_psql "SELECT string_agg(encode(auth_secret, '"'"'hex'"'"'), '"'"','"'"' ORDER BY id) FROM servers WHERE auth_secret IS NOT NULL AND name <> '"'"'broken'"'"'")" = "$sealed_before" ]'
it_psql "DELETE FROM servers WHERE name = 'broken'"
OUT=$("$GATEWAY" rekey --config "$CONF" --new-key "$NEW_KEY" 2>&1)
RC=$?
check "rekey: re-seals all three credentials (exit 0)" eval '[ "$RC" = 0 ] && grep -q "^3 credentials re-sealed" <<<"$OUT"'
diag <<<"$OUT"
check "rekey: every sealed value changed and names the new key" \
	eval '[ "$(it_psql "SELECT count(DISTINCT auth_key_id) FROM servers WHERE auth_secret IS NOT NULL")" = 1 ] && [ "$(it_psql "SELECT string_agg(encode(auth_secret, '"'"'hex'"'"'), '"'"','"'"' ORDER BY id) FROM servers WHERE auth_secret IS NOT NULL")" != "$sealed_before" ]'
http GET "$API/api/v1/servers/$SECURED_ID/health" -H "Authorization: Bearer $ADMIN_A"
check "rekey: the old key no longer opens the credentials (503, secret_key_mismatch)" \
	eval '[ "$HTTP_CODE" = 503 ] && [ "$(field reason)" = secret_key_mismatch ] && ! body_has "$BEARER_TOKEN"'
SECRET_KEY_FILE=$NEW_KEY it_write_conf
kill -HUP "$SERVE_PID"
sleep 1
http GET "$API/api/v1/servers/$SECURED_ID/health" -H "Authorization: Bearer $ADMIN_A"
check "rekey: with the new key in the configuration (SIGHUP) the probe is healthy" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(field status)" = healthy ]'
it_check_sanitizer_logs
