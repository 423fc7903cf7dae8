#!/usr/bin/env bash
# Real MCP clients end to end over TLS with the test's own CA: the official
# TypeScript SDK client (tests/node/e2e_client.mjs: connect, list, call with
# progress, DELETE) and the MCP Inspector CLI (tools/list, tools/call), both
# through lighttpd to the gateway's /mcp with a bearer token. The SDK client
# first runs against the SDK's own server (same TLS, a required token, a tool
# that reports progress), so that what it checks is known to hold there.
. "$(dirname "$0")/lib.sh"

INSPECTOR=$top_srcdir/tests/node/node_modules/@modelcontextprotocol/inspector-cli/build/cli.js
[ -x "$IT_NODE" ] || it_fatal "Node 22 is installed at $IT_NODE (run scripts/check: ensure_node)"
[ -f "$INSPECTOR" ] || it_fatal "the MCP Inspector CLI is installed at $INSPECTOR (run scripts/check: ensure_node)"

UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"
# Node trusts the test's CA for every TLS connection, and nothing else changes.
export NODE_EXTRA_CA_CERTS=$CA
# The Inspector launcher starts `node` from PATH: the Node 22 installed here.
NODE_PATH_DIR=$(dirname "$IT_NODE")

# token_file NAME TOKEN: TOKEN in $IT_DIR/NAME.token (0600); prints the path.
token_file() {
	(umask 077 && printf '%s\n' "$2" >"$IT_DIR/$1.token") && echo "$IT_DIR/$1.token"
}

# sdk_client LABEL URL TOKEN-FILE E2E-ARGS...: tests/node/e2e_client.mjs, one
# ok/not ok per check it reports (bounded to 60 s).
sdk_client() {
	local label=$1 url=$2 tf=$3 out=$IT_DIR/sdk-$1.out line n=0
	shift 3
	timeout 60 "$IT_NODE" "$top_srcdir/tests/node/e2e_client.mjs" --url "$url" ${tf:+--token-file "$tf"} "$@" \
		>"$out" 2>"$out.err"
	while IFS= read -r line; do
		n=$((n + 1))
		if [ "$(jq -r .ok <<<"$line")" = true ]; then
			ok "$label: $(jq -r .check <<<"$line")"
		else
			not_ok "$label: $(jq -r .check <<<"$line")"
			jq -r .detail <<<"$line" | diag
		fi
	done < <(grep '^{' "$out")
	if [ "$n" -lt 6 ]; then
		not_ok "$label: the SDK client ran all its checks ($n reported)"
		tail -n 15 "$out.err" | diag
	fi
}

# --- the SDK client against the SDK's own server (TLS, a required token) ----------
FIXTURE_TF=$(token_file fixture "e2e-$RANDOM$RANDOM$RANDOM")
FIXTURE=$(it_start_upstream conformance --token "$(cat "$FIXTURE_TF")" \
	--tls-cert "$IT_DIR/certs/tls.crt" --tls-key "$IT_DIR/certs/tls.key") || it_fatal "the conformance fixture starts with TLS"
sdk_client "SDK server over TLS" "$FIXTURE" "$FIXTURE_TF" --tool test_tool_with_progress \
	--expect "Progress reported" --min-progress 3

# --- what the clients call on the gateway -----------------------------------------
# use_builtin_tool: gateway__health_check on /mcp (operator token); it reports
# no progress, so none is required.
use_builtin_tool() {
	TARGET_URL=$MCP/mcp
	TARGET_TF=$(token_file operator "$(it_mint --sub e2e-op --tenant e2e --roles operator)")
	TOOL=gateway__health_check EXPECT=overall_status MIN_PROGRESS=0
}
# register_conf: the conformance fixture registered as server `conf` (once).
register_conf() {
	local admin up
	[ -n "${CONF_REGISTERED:-}" ] && return 0
	admin=$(it_mint --sub e2e-admin --tenant e2e --roles admin)
	up=$(it_start_upstream conformance) || it_fatal "the conformance fixture starts as an upstream"
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
		--data "{\"name\":\"conf\",\"url\":\"$up\"}"
	check "the conformance fixture registers as server conf" eval '[ "$HTTP_CODE" = 201 ]'
	CONF_REGISTERED=1
}
# use_upstream_tool: conf's tool that reports progress 0, 50, 100, called on
# /mcp as conf__test_tool_with_progress (a user token); the gateway must pass
# the progress notifications through.
use_upstream_tool() {
	register_conf
	TARGET_URL=$MCP/mcp
	TARGET_TF=$(token_file user "$(it_mint --sub e2e-user --tenant e2e --roles user)")
	TOOL=conf__test_tool_with_progress EXPECT="Progress reported" MIN_PROGRESS=3
}
# use_virtual_server: the same tool by its own name on /servers/conf/mcp.
use_virtual_server() {
	use_upstream_tool
	TARGET_URL=$MCP/servers/conf/mcp TOOL=test_tool_with_progress
}

# inspector LABEL ARGS...: the Inspector's CLI mode against $TARGET_URL with
# the bearer header (its only way to send one is its command line: the token
# is a short-lived one of the test's own issuer). Output in $IT_DIR/LABEL.json.
inspector() {
	local label=$1
	shift
	# In its build folder: the CLI looks for its package.json relative to the
	# working directory but imports it relative to itself.
	(cd "$(dirname "$INSPECTOR")" && PATH=$NODE_PATH_DIR:$PATH timeout 60 "$IT_NODE" "$INSPECTOR" --cli "$TARGET_URL" \
		--transport http --header "Authorization: Bearer $(cat "$TARGET_TF")" "$@") \
		>"$IT_DIR/$label.json" 2>"$IT_DIR/$label.err"
}

# clients_on LABEL: the SDK client and the Inspector CLI on the current target.
clients_on() {
	local l=$1 start rc good_tf
	sdk_client "$l: SDK client via lighttpd" "$TARGET_URL" "$TARGET_TF" --tool "$TOOL" \
		--expect "$EXPECT" --min-progress "$MIN_PROGRESS"
	start=$(date +%s%N)
	if inspector "$l-list" --method tools/list &&
		jq -e --arg t "$TOOL" '[.tools[].name] | index($t) != null' "$IT_DIR/$l-list.json" >/dev/null; then
		ok "$l: Inspector CLI via lighttpd: tools/list names $TOOL ($((($(date +%s%N) - start) / 1000000)) ms)"
	else
		not_ok "$l: Inspector CLI via lighttpd: tools/list names $TOOL"
		cat "$IT_DIR/$l-list.json" "$IT_DIR/$l-list.err" | tail -n 15 | diag
	fi
	if inspector "$l-call" --method tools/call --tool-name "$TOOL" &&
		jq -e --arg e "$EXPECT" '(.isError != true) and ([.content[]? | select(.type == "text") | .text] | join("\n") | contains($e))' \
			"$IT_DIR/$l-call.json" >/dev/null; then
		ok "$l: Inspector CLI via lighttpd: tools/call $TOOL answers with \"$EXPECT\""
	else
		not_ok "$l: Inspector CLI via lighttpd: tools/call $TOOL answers with \"$EXPECT\""
		cat "$IT_DIR/$l-call.json" "$IT_DIR/$l-call.err" | tail -n 15 | diag
	fi
	# A wrong token must not get through the Inspector either.
	good_tf=$TARGET_TF
	TARGET_TF=$(token_file bogus "not.a.token")
	inspector "$l-bad" --method tools/list
	rc=$?
	TARGET_TF=$good_tf
	if [ "$rc" -ne 0 ] && ! grep -q '"tools"' "$IT_DIR/$l-bad.json" && grep -q '"status":401' "$IT_DIR/$l-bad.err"; then
		ok "$l: Inspector CLI via lighttpd: a bad token is refused with 401 (the CLI fails, no tools listed)"
	else
		not_ok "$l: Inspector CLI via lighttpd: a bad token is refused with 401 (the CLI fails, no tools listed)"
		cat "$IT_DIR/$l-bad.json" "$IT_DIR/$l-bad.err" | tail -n 10 | diag
	fi
}

# E2E_TARGETS: which tools the clients call on the gateway — builtin
# (gateway__health_check on /mcp), upstream (conf__test_tool_with_progress on
# /mcp), virtual (test_tool_with_progress on /servers/conf/mcp). Only builtin
# needs no upstream proxying.
for target in ${E2E_TARGETS:-builtin upstream virtual}; do
	case $target in
	builtin) use_builtin_tool ;;
	upstream) use_upstream_tool ;;
	virtual) use_virtual_server ;;
	*) it_fatal "E2E_TARGETS: unknown target $target (builtin, upstream, virtual)" ;;
	esac
	clients_on "$target"
done

it_check_sanitizer_logs
