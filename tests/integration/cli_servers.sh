#!/usr/bin/env bash
# `mcp-gateway servers` and `import` against a running gateway, as the README
# shows them (MCPGW_API_URL, MCPGW_TOKEN, MCPGW_CA_FILE): register, list, get,
# refresh, remove, and an import whose --json output is one JSON document.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
WORKERS=1
it_start_stores
it_setup_gateway
it_start_serve 1
it_start_lighttpd "$FCGI_SOCKET"
PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"

cli() { env -u MCPGW_CONFIG -u MCPGW_ADMIN_TOKEN MCPGW_API_URL="$API" MCPGW_TOKEN="$TOKEN" MCPGW_CA_FILE="$CA" \
	"$GATEWAY" "$@" >"$IT_DIR/cli.out" 2>"$IT_DIR/cli.err"; }
out() { cat "$IT_DIR/cli.out" "$IT_DIR/cli.err" | diag; }

cli servers register --name one --url "$PLAIN" --tag demo
check "servers register: exit 0, names the new id" eval 'grep -q "^registered [0-9a-f-]\{36\}" "$IT_DIR/cli.out" || { out; false; }'
id=$(sed -n 's/^registered \([0-9a-f-]*\).*/\1/p' "$IT_DIR/cli.out")
cli servers list --tag demo
check "servers list --tag: the server in the table" eval 'grep -q "^$id  one " "$IT_DIR/cli.out" || { out; false; }'
cli servers get "$id" --json
check "servers get --json: the server as JSON" eval '[ "$(jq -r .name "$IT_DIR/cli.out")" = one ] || { out; false; }'
cli servers get "$id"
check "servers get: the table names the credential type and the protocol version (never a secret)" \
	eval 'grep -Eq "^auth +none$" "$IT_DIR/cli.out" && grep -Eq "^protocol_version +20[0-9]{2}-" "$IT_DIR/cli.out" || { out; false; }'
cli servers refresh "$id" --json
check "servers refresh --json: the diff" eval '[ "$(jq -r .tools.unchanged "$IT_DIR/cli.out")" -ge 1 ] || { out; false; }'

cat >"$IT_DIR/server.json" <<JSON
[{"name": "io.github.example/two", "description": "two", "version": "1.0.0",
  "remotes": [{"type": "streamable-http", "url": "$PLAIN"}]},
 {"name": "io.github.example/local", "version": "1.0.0",
  "packages": [{"registryType": "npm", "identifier": "x", "transport": {"type": "stdio"}}]},
 {"name": "io.github.example/one", "version": "1.0.0",
  "remotes": [{"type": "streamable-http", "url": "$PLAIN"}]}]
JSON
cli import "$IT_DIR/server.json" --json
rc=$?
check "import --json: exit 1 when one is refused" eval '[ "$rc" = 1 ] || { out; false; }'
check "import --json: stdout is one JSON document, an entry per server" \
	eval '[ "$(jq -c "[.[]|[.name,.imported]]" "$IT_DIR/cli.out")" = "[[\"io.github.example/two\",true],[\"io.github.example/local\",false],[\"io.github.example/one\",false]]" ] || { out; false; }'
check "import --json: the registration, the reason and the gateway's problem" \
	eval '[ -n "$(jq -r ".[0].answer.server_id" "$IT_DIR/cli.out")" ] && [ -n "$(jq -r ".[1].refused" "$IT_DIR/cli.out")" ] &&
		[ "$(jq -r ".[2].problem.status" "$IT_DIR/cli.out")" = 409 ] || { out; false; }'
check "import --json: the count on stderr" eval 'grep -q "^1 imported, 2 refused" "$IT_DIR/cli.err" || { out; false; }'

cli servers remove "$id"
rc=$?
check "servers remove: exit 0" eval '[ "$rc" = 0 ] && grep -q "^removed $id" "$IT_DIR/cli.out" || { out; false; }'
cli servers get "$id"
rc=$?
check "servers get after remove: exit 1, 404 on stderr" eval '[ "$rc" = 1 ] && grep -q "404" "$IT_DIR/cli.err" || { out; false; }'

# Files that are missing or not JSON: the error says which, and where.
cli import "$IT_DIR/no-such.json"
rc=$?
check "import of a missing file: exit 1, 'cannot read' with the system's reason" \
	eval '[ "$rc" = 1 ] && grep -q "cannot read .*no-such.json: No such file or directory" "$IT_DIR/cli.err" || { out; false; }'
printf '{"name": "x", "url": ' >"$IT_DIR/cut.json"
cli servers register --body "$IT_DIR/cut.json"
rc=$?
check "register --body with cut JSON: exit 1, not valid JSON, end of file" \
	eval '[ "$rc" = 1 ] && grep -q "cut.json is not valid JSON: unexpected end of file" "$IT_DIR/cli.err" || { out; false; }'
cli servers register --body "$IT_DIR/no-such.json"
rc=$?
check "register --body with a missing file: exit 1, 'cannot read', not 'not a JSON object'" \
	eval '[ "$rc" = 1 ] && grep -q "cannot read .*no-such.json" "$IT_DIR/cli.err" && ! grep -q "not a JSON object" "$IT_DIR/cli.err" || { out; false; }'
printf '{"name": "x"}\n' >"$IT_DIR/nourl.json"
cli servers register --body "$IT_DIR/nourl.json"
rc=$?
check "register --body without a URL: exit 2, says a URL is needed" \
	eval '[ "$rc" = 2 ] && grep -q "needs a name and a URL" "$IT_DIR/cli.err" || { out; false; }'

# A certificate the CLI cannot verify: the error says which variable fixes it.
nocli() { env -u MCPGW_CONFIG -u MCPGW_ADMIN_TOKEN MCPGW_API_URL="$API" MCPGW_TOKEN="$TOKEN" "$@" \
	"$GATEWAY" servers list >"$IT_DIR/cli.out" 2>"$IT_DIR/cli.err"; }
nocli env -u MCPGW_CA_FILE
rc=$?
check "no MCPGW_CA_FILE for a private CA: exit 1, the error names MCPGW_CA_FILE" \
	eval '[ "$rc" = 1 ] && grep -q "certificate.*set MCPGW_CA_FILE to its CA" "$IT_DIR/cli.err" || { out; false; }'
nocli env MCPGW_CA_FILE=/etc/ssl/certs/ca-certificates.crt
rc=$?
check "an MCPGW_CA_FILE that is not the planes' CA: exit 1, said so" \
	eval '[ "$rc" = 1 ] && grep -q "MCPGW_CA_FILE does not verify" "$IT_DIR/cli.err" || { out; false; }'
nocli env MCPGW_CA_FILE="$IT_DIR/no-such-ca.pem"
rc=$?
check "an MCPGW_CA_FILE that cannot be read: exit 1, said so" \
	eval '[ "$rc" = 1 ] && grep -q "MCPGW_CA_FILE cannot be read" "$IT_DIR/cli.err" || { out; false; }'

it_check_sanitizer_logs
