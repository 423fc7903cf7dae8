#!/usr/bin/env bash
# The management API as operators and tools see it: /openapi.json validated
# by a real OpenAPI 3.1 validator from npm and checked against live answers,
# /docs without external assets, and the operator CLI (servers list, get,
# register, refresh, remove; import of an MCP registry server.json) talking to
# the API through lighttpd with a token.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"

# --- OpenAPI ---------------------------------------------------------------------
VALIDATOR=$top_srcdir/tests/node/node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js
http GET "$API/openapi.json"
cp "$IT_DIR/last.body" "$IT_DIR/openapi.json"
check "/openapi.json: public, JSON, OpenAPI 3.1.0" eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json openapi)" = 3.1.0 ]'
if "$IT_NODE" "$VALIDATOR" "$IT_DIR/openapi.json" >"$IT_DIR/validate.out" 2>&1 && grep -q '"valid": true' "$IT_DIR/validate.out"; then
	ok "/openapi.json passes the OpenAPI 3.1 schema validator"
else
	not_ok "/openapi.json passes the OpenAPI 3.1 schema validator"
	diag <"$IT_DIR/validate.out"
fi
# A broken document is refused by the same validator: the check can fail.
jq '.paths["/health"].get.responses["200"].description = 3' "$IT_DIR/openapi.json" >"$IT_DIR/broken.json"
check "the validator refuses a broken document" eval '! "$IT_NODE" "$VALIDATOR" "$IT_DIR/broken.json" >/dev/null 2>&1'
check "every management route is described with its role" \
	eval '[ "$(jq -r ".paths[\"/api/v1/servers\"].post[\"x-required-role\"]" "$IT_DIR/openapi.json")" = admin ] &&
	[ "$(jq -r ".paths[\"/api/v1/audit/verify\"].get[\"x-required-role\"]" "$IT_DIR/openapi.json")" = platform_admin ] &&
	[ "$(jq -r ".paths[\"/api/v1/sessions/{id}\"].delete[\"x-required-role\"]" "$IT_DIR/openapi.json")" = admin ]'
check "the MCP plane's own routes are not in the management document" \
	eval '[ "$(jq -r ".paths[\"/mcp\"]" "$IT_DIR/openapi.json")" = null ]'
http GET "$API/docs"
check "/docs: HTML naming the routes, with no script and no external asset" \
	eval '[ "$HTTP_CODE" = 200 ] && header Content-Type | grep -q text/html && body_has "/api/v1/servers" &&
	! body_has "<script" && ! body_has " src=" && ! body_has "<link" && ! body_has "https?://" &&
	header Content-Security-Policy | grep -q "default-src .none."'

# --- the CLI -----------------------------------------------------------------------
export MCPGW_API_URL=$API MCPGW_CA_FILE=$CA
export MCPGW_TOKEN=$TOKEN   # the setup's tenant admin
cli() { "$GATEWAY" "$@" >"$IT_DIR/cli.out" 2>"$IT_DIR/cli.err"; CLI_RC=$?; }
out_has() { grep -Eq -- "$1" "$IT_DIR/cli.out"; }
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
BEARER_TOKEN=upstream-secret-$RANDOM$RANDOM
BEARER=$(it_start_upstream bearer --token "$BEARER_TOKEN") || it_fatal "the bearer fixture starts"

cli servers register --name cli-one --url "$PLAIN" --tag blue --description "registered by the CLI"
check "servers register: 0 and the new id with the phases" eval '[ "$CLI_RC" = 0 ] && out_has "registered [0-9a-f-]{36} \(phases: auth,validation,registration,audit\)"'
ID=$(grep -Eo '[0-9a-f-]{36}' "$IT_DIR/cli.out" | head -n1)
printf '%s\n' "$BEARER_TOKEN" >"$IT_DIR/bearer.token"
cli servers register --name cli-two --url "$BEARER" --bearer-file "$IT_DIR/bearer.token" --json
check "servers register --bearer-file --json: the answer as JSON, without the secret" \
	eval '[ "$CLI_RC" = 0 ] && jq -e .server_id "$IT_DIR/cli.out" >/dev/null && ! grep -qF "$BEARER_TOKEN" "$IT_DIR/cli.out"'
cli servers register --name cli-one --url "$PLAIN"
check "servers register of a taken name: exit 1 naming 409 and the reason" \
	eval '[ "$CLI_RC" = 1 ] && grep -q "409" "$IT_DIR/cli.err" && grep -q "duplicate_name" "$IT_DIR/cli.err"'
cli servers register --name cli-bad --url "http://169.254.169.254/mcp"
check "servers register of a refused URL: exit 1 naming the phase" \
	eval '[ "$CLI_RC" = 1 ] && grep -q "phase validation" "$IT_DIR/cli.err"'
cli servers list
check "servers list: a table with both servers" \
	eval '[ "$CLI_RC" = 0 ] && out_has "^ID +NAME +TENANT +STATUS +TOOLS +URL" && out_has "cli-one" && out_has "cli-two"'
cli servers list --tag blue --json
check "servers list --tag --json: only the tagged one" \
	eval '[ "$CLI_RC" = 0 ] && [ "$(jq -r "map(.name) | join(\",\")" "$IT_DIR/cli.out")" = cli-one ]'
cli servers list --limit 1
check "servers list --limit 1: one row" eval '[ "$CLI_RC" = 0 ] && [ "$(grep -c "cli-" "$IT_DIR/cli.out")" = 1 ]'
cli servers get "$ID"
check "servers get: its fields" eval '[ "$CLI_RC" = 0 ] && out_has "^name +cli-one" && out_has "^tags +blue"'
cli servers refresh "$ID"
check "servers refresh: the diff as JSON" eval '[ "$CLI_RC" = 0 ] && jq -e ".tools.unchanged" "$IT_DIR/cli.out" >/dev/null'
cli servers get 00000000-0000-0000-0000-000000000000
check "servers get of an unknown id: exit 1 with 404" eval '[ "$CLI_RC" = 1 ] && grep -q 404 "$IT_DIR/cli.err"'
MCPGW_TOKEN=$(it_mint --sub someone --tenant it-tenant --roles user) cli servers register --name cli-x --url "$PLAIN"
check "a user token cannot register: exit 1 with 403" eval '[ "$CLI_RC" = 1 ] && grep -q 403 "$IT_DIR/cli.err"'
MCPGW_TOKEN= MCPGW_ADMIN_TOKEN= cli servers list
check "no token: exit 1 naming MCPGW_TOKEN" eval '[ "$CLI_RC" = 1 ] && grep -q MCPGW_TOKEN "$IT_DIR/cli.err"'
cli servers remove "$ID"
check "servers remove: 0, and the server is gone" eval '[ "$CLI_RC" = 0 ] && out_has "removed $ID"'
cli servers get "$ID"
check "a removed server is 404" eval '[ "$CLI_RC" = 1 ]'
cli servers frobnicate
check "an unknown servers command: exit 2 with the usage" eval '[ "$CLI_RC" = 2 ] && grep -q "usage:" "$IT_DIR/cli.err"'

# --- import ------------------------------------------------------------------------
cat >"$IT_DIR/server.json" <<JSON
{"servers": [
 {"server": {"name": "io.github.example/Import-Plain", "description": "from the registry", "version": "1.0.0",
   "remotes": [{"type": "sse", "url": "$PLAIN"}, {"type": "streamable-http", "url": "$PLAIN"}]}},
 {"server": {"name": "io.github.example/keyed", "version": "1.0.0",
   "remotes": [{"type": "streamable-http", "url": "$BEARER",
     "headers": [{"name": "Authorization", "isRequired": true, "isSecret": true}]}]}},
 {"server": {"name": "io.github.example/packaged", "version": "1.0.0",
   "packages": [{"registryType": "npm", "identifier": "@example/x"}]}},
 {"server": {"name": "io.github.example/sse-only", "version": "1.0.0",
   "remotes": [{"type": "sse", "url": "$PLAIN"}]}}
]}
JSON
cli import "$IT_DIR/server.json"
check "import: the streamable-http server is registered under its last name part" \
	eval 'out_has "io.github.example/Import-Plain: registered" && "$GATEWAY" servers list --json | jq -e "map(select(.name == \"import-plain\")) | length == 1" >/dev/null'
check "import: a required header without a value is refused, naming it" eval 'out_has "io.github.example/keyed: refused: .*Authorization"'
check "import: package-only and SSE-only servers are refused with their reason" \
	eval 'out_has "packaged: refused: no remotes" && out_has "sse-only: refused: no remote of type streamable-http"'
check "import: a summary line, exit 1 when any was refused" eval '[ "$CLI_RC" = 1 ] && out_has "^1 imported, 3 refused$"'
printf 'Bearer %s\n' "$BEARER_TOKEN" >"$IT_DIR/auth.value"
jq '{servers: [.servers[1]]}' "$IT_DIR/server.json" >"$IT_DIR/keyed.json"
cli import "$IT_DIR/keyed.json" --header "Authorization=$IT_DIR/auth.value"
check "import --header NAME=FILE: the credential is used (the upstream accepts it), exit 0" \
	eval '[ "$CLI_RC" = 0 ] && out_has "keyed: registered" && ! grep -qF "$BEARER_TOKEN" "$IT_DIR/cli.out" "$IT_DIR/cli.err"'
check "no secret reached the gateway's log" eval '! grep -qF "$BEARER_TOKEN" "$IT_DIR/gateway.log"'
it_check_sanitizer_logs
