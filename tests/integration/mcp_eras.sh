#!/usr/bin/env bash
# Clients and upstreams of both MCP eras through one gateway (lighttpd, TLS,
# three responders): the era of each upstream learnt at registration
# (server/discover, else initialize) and kept in the catalog; a 2025-11-25
# session calling an upstream of 2026-07-28 (stateless requests, envelope and
# headers); an upstream's input-required results completed by a 2025 client
# through requests on the call's stream, answered on any responder; a
# 2026-07-28 client completing input-required results of both kinds of
# upstream in follow-up requests (sealed requestState: tampered, foreign,
# replayed ones refused; a 2025 upstream's request on its stream turned into
# one); the official v2 client package (tests/node/v2_client.mjs) in both eras
# against upstreams of both eras.
. "$(dirname "$0")/lib.sh"

[ -x "$IT_NODE" ] || it_fatal "Node 22 is installed at $IT_NODE (run scripts/check: ensure_node)"
[ -d "$top_srcdir/tests/node/node_modules/@modelcontextprotocol/client" ] ||
	it_fatal "the v2 client package is installed under tests/node (run scripts/check: ensure_node)"

UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
it_start_stores
it_setup_gateway
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"
export NODE_EXTRA_CA_CERTS=$CA

ADMIN=$(it_mint --sub era-admin --tenant era --roles admin)
USER=$(it_mint --sub era-user --tenant era --roles user)
V2=$(it_start_upstream v2server) || it_fatal "the v2 (2026-07-28 only) fixture starts"
OLD=$(it_start_upstream relay) || it_fatal "the 2025-11-25 relay fixture starts"
V2REC=$(it_upstream_file "$V2" rec)

register() {
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data "$1"
	[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register $1"; }
}

# --- the era of each upstream, learnt at registration --------------------------------
register "{\"name\":\"v2\",\"url\":\"$V2\",\"timeout_ms\":8000}"
V2_ID=$(it_json server_id)
check "an upstream that answers server/discover is kept as 2026-07-28" \
	eval '[ "$(it_json server.protocol_version)" = 2026-07-28 ] && [ "$(it_json server.tool_count)" = 4 ]'
check "its discovery used no initialize and sent the envelope and headers" \
	eval '! grep -q "\"rpc\":\"initialize\"" "$V2REC" &&
		grep "\"rpc\":\"tools/list\"" "$V2REC" | grep "\"mcp_method\":\"tools/list\"" | grep -q "\"meta_version\":\"2026-07-28\""'
register "{\"name\":\"old\",\"url\":\"$OLD\"}"
check "an upstream that does not know server/discover falls back to initialize (2025-11-25)" \
	eval '[ "$(it_json server.protocol_version)" = 2025-11-25 ] && [ "$(it_json server.tool_count)" -ge 5 ]'
check "the catalog row keeps both eras" \
	eval '[ "$(it_psql "SELECT name || '"'"'='"'"' || protocol_version FROM servers ORDER BY name" | tr "\n" " ")" = "old=2025-11-25 v2=2026-07-28 " ]'

# --- a 2025-11-25 session calls the 2026-07-28 upstream ---------------------------------
mcp() { it_mcp "$MCP/mcp" "$USER" "$@"; }
it_mcp_open "$MCP/mcp" "$USER" '{"elicitation":{}}'
answer() { it_mcp_answer; }
cp "$V2REC" "$V2REC.before"
mcp '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"v2__echo","arguments":{"text":"across eras"}}}' \
	-H "Mcp-Session-Id: $SID"
check "a 2025 session's tools/call reaches the 2026 upstream and its result comes back" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "echo: across eras" ]'
NEW=$(diff "$V2REC.before" "$V2REC" | sed -n 's/^> //p')
check "the upstream got one stateless request: no session, version and capabilities in _meta, Mcp-Method and Mcp-Name" \
	eval 'echo "$NEW" | grep "\"rpc\":\"tools/call\"" | grep "\"session\":null" | grep "\"mcp_name\":\"echo\"" |
		grep -q "\"meta_version\":\"2026-07-28\"" && ! echo "$NEW" | grep -q initialize'

mcp '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"v2__region","arguments":{"region":"Zürich"}}}' \
	-H "Mcp-Session-Id: $SID"
check "an argument the tool marks x-mcp-header goes up in Mcp-Param-* as well (non-ASCII as =?base64?...?=)" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "region=Zürich" ] &&
		grep -q "\"mcp_param_region\":\"=?base64?WsO8cmljaA==?=\"" "$V2REC"'
LONG=$(head -c 1500 /dev/zero | tr '\0' a)
cp "$V2REC" "$V2REC.before"
mcp "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"v2__region\",\"arguments\":{\"region\":\"$LONG\"}}}" \
	-H "Mcp-Session-Id: $SID"
check "an x-mcp-header argument too long for its header: -32602 naming the argument and header, nothing sent up" \
	eval '[ "$(answer | jq -r ".error.code")" = -32602 ] && answer | jq -r ".error.message" | grep -q "region.*Mcp-Param-Region" &&
		cmp -s "$V2REC.before" "$V2REC"'
http GET "$API/api/v1/servers/$V2_ID/health" -H "Authorization: Bearer $ADMIN"
check "the health probe of a 2026-07-28 upstream asks server/discover (it knows no initialize)" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json status)" = healthy ]'

# --- input-required results completed by a 2025 client -----------------------------------
# The call's stream carries the upstream's input requests one round at a time;
# each answer is POSTed separately (any responder), and the call goes on.
# confirm_in_background ID OUT: v2__confirm on the session, its event stream
# read into OUT while the test answers; sets CURL_PID.
confirm_in_background() {
	curl -sS -N --cacert "$CA" -H "Authorization: Bearer $USER" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2025-11-25' -H "Mcp-Session-Id: $SID" \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"v2__confirm\",\"arguments\":{}}}" \
		"$MCP/mcp" >"$2" 2>&1 &
	CURL_PID=$!
	it_cleanup_add kill "$CURL_PID"
}
confirm_in_background 3 "$IT_DIR/confirm.out"
reply() { # reply N CONTENT-JSON: answer the Nth elicitation on the stream
	local eid
	wait_until 10 eval '[ "$(grep -c elicitation/create "$IT_DIR/confirm.out")" -ge '"$1"' ]' || return 1
	eid=$(sed -n 's/^data: //p' "$IT_DIR/confirm.out" | jq -r 'select(.method == "elicitation/create") | .id' | sed -n "$1p")
	case $eid in gw:*) ;; *) return 1 ;; esac
	mcp "{\"jsonrpc\":\"2.0\",\"id\":\"$eid\",\"result\":{\"action\":\"accept\",\"content\":$2}}" -H "Mcp-Session-Id: $SID"
	[ "$HTTP_CODE" = 202 ]
}
check "the first input request reaches the client as an elicitation under a gateway id, and its answer is taken" \
	reply 1 '{"name":"Ada"}'
check "the second round's input request follows on the same stream, and its answer is taken" \
	reply 2 '{"ok":true}'
wait "$CURL_PID" 2>/dev/null
check "the call ends with the upstream's final result" \
	eval 'sed -n "s/^data: //p" "$IT_DIR/confirm.out" | jq -r "select(.id == 3) | .result.content[0].text" | grep -qx "confirmed for Ada"'
check "the upstream got the answers as inputResponses, and its own requestState back" \
	eval 'grep "\"tool\":\"confirm\"" "$V2REC" | grep "\"requestState\":\"name=Ada\"" | grep -q "\"ok\":{\"action\":\"accept\",\"content\":{\"ok\":true}}"'
check "the input requests' ids are spent" eval '[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "*relay:{$SID}*" | wc -l)" = 0 ]'

# An answer from another session cannot complete this session's input request.
confirm_in_background 4 "$IT_DIR/foreign.out"
wait_until 10 grep -q elicitation/create "$IT_DIR/foreign.out"
EID=$(sed -n 's/^data: //p' "$IT_DIR/foreign.out" | jq -r 'select(.method == "elicitation/create") | .id' | head -n1)
mcp '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"other","version":"1"}}}'
SID2=$(header Mcp-Session-Id)
mcp "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"accept\",\"content\":{\"name\":\"Mallory\"}}}" -H "Mcp-Session-Id: $SID2"
mcp "{\"jsonrpc\":\"2.0\",\"id\":\"$EID\",\"result\":{\"action\":\"decline\"}}" -H "Mcp-Session-Id: $SID"
wait "$CURL_PID" 2>/dev/null
check "another session's answer is not taken; the session's own decline ends the call" \
	eval 'sed -n "s/^data: //p" "$IT_DIR/foreign.out" | jq -r "select(.id == 4) | .result.content[0].text" | grep -qx declined &&
		! grep -q Mallory "$V2REC"'

# --- the official v2 client package, 2025 era, through TLS ---------------------------------
v2_client() { # v2_client LABEL ARGS...: one ok/not ok per check it reports
	local label=$1 out=$IT_DIR/v2-$1.out line n=0
	shift
	timeout 60 "$IT_NODE" "$top_srcdir/tests/node/v2_client.mjs" --url "$MCP/mcp" --token-file "$TF" "$@" \
		>"$out" 2>"$out.err"
	while IFS= read -r line; do
		n=$((n + 1))
		if [ "$(jq -r .ok <<<"$line")" = true ]; then ok "$label: $(jq -r .check <<<"$line")"; else
			not_ok "$label: $(jq -r .check <<<"$line")"
			jq -r .detail <<<"$line" | diag
		fi
	done < <(grep '^{' "$out")
	[ "$n" -ge 3 ] || { not_ok "$label: the v2 client ran its checks ($n reported)"; tail -n 15 "$out.err" | diag; }
}
TF=$IT_DIR/user.token
(umask 077 && printf '%s\n' "$USER" >"$TF")
v2_client "v2 client, 2025 era, 2026 upstream" --era legacy --tool v2__confirm \
	--answers '[{"name":"Grace"},{"ok":true}]' --expect "confirmed for Grace" --expect-elicitations 2
v2_client "v2 client, 2025 era, 2026 upstream, sampling" --era legacy --tool v2__sample --expect "sampled: a summary"
v2_client "v2 client, 2025 era, 2025 upstream" --era legacy --tool old__ask \
	--answers '[{"name":"Linus"}]' --expect "hello Linus" --expect-elicitations 1


# --- 2026-07-28 clients: input-required results on any responder ------------------------
# modern TOKEN ID NAME [EXTRA-PARAMS]: a stateless tools/call (headers, _meta).
modern() {
	local tok=$1 id=$2 name=$3 extra=${4:-}
	http POST "$MCP/mcp" -H "Authorization: Bearer $tok" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H "Mcp-Name: $name" \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"tools/call\",\"params\":{\"name\":\"$name\",\"arguments\":{}${extra:+,$extra},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}}}"
}
modern "$USER" 10 v2__confirm
check "a 2026 upstream's input-required result reaches a 2026 client with its input requests" \
	eval '[ "$(answer | jq -r ".result.resultType")" = input_required ] && [ "$(answer | jq -r ".result.inputRequests.name.method")" = elicitation/create ]'
modern "$USER" 11 v2__confirm '"inputResponses":{"name":{"action":"accept","content":{"name":"Hedy"}}}'
STATE=$(answer | jq -r .result.requestState)
check "the upstream's requestState is sealed in the gateway's own (g1.), not shown as it is" \
	eval 'case "$STATE" in g1.*) ! grep -q "name=Hedy" "$IT_DIR/last.body" ;; *) false ;; esac'
OKRESP='"inputResponses":{"ok":{"action":"accept","content":{"ok":true}}}'
cp "$V2REC" "$V2REC.before"
modern "$USER" 12 v2__confirm "$OKRESP,\"requestState\":\"$STATE\""
check "the follow-up (any responder) resumes the upstream call with the upstream's own requestState" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "confirmed for Hedy" ] && grep -q "\"requestState\":\"name=Hedy\"" "$V2REC"'
# Altered: the first character of the MAC changed (the last one also holds
# padding bits, which a strict decoder refuses as malformed).
MAC=${STATE##*.}
[ "${MAC:0:1}" = A ] && SUB=B || SUB=A
modern "$USER" 13 v2__confirm "$OKRESP,\"requestState\":\"${STATE%.*}.$SUB${MAC:1}\""
check "a tampered requestState is refused (-32602, names the problem) and never reaches the upstream" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && answer | jq -r .error.message | grep -q altered'
OTHER=$(it_mint --sub era-other --tenant era --roles user)
modern "$OTHER" 14 v2__confirm "$OKRESP,\"requestState\":\"$STATE\""
check "another caller's requestState is refused" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && answer | jq -r .error.message | grep -q "another caller"'
modern "$USER" 15 v2__echo "$OKRESP,\"requestState\":\"$STATE\""
check "a requestState replayed on another tool is refused" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && answer | jq -r .error.message | grep -q "another request"'
modern "$USER" 16 v2__confirm "$OKRESP,\"requestState\":\"not-ours\""
check "a requestState the gateway did not issue is refused" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ]'
check "none of the refused follow-ups reached the upstream" \
	eval '[ "$(diff "$V2REC.before" "$V2REC" | grep -c "^> .*\"rpc\":\"tools/call\"")" = 1 ]'

# A 2025-11-25 upstream asks on its stream (elicitation/create): the 2026
# client gets it as an input-required result; the call waits in the responder
# holding that stream, and the follow-up (another responder) completes it.
OLDREC=$(it_upstream_file "$OLD" rec)
modern "$USER" 20 old__ask
check "a 2025 upstream's request on its stream becomes an input-required result" \
	eval '[ "$(answer | jq -r ".result.resultType")" = input_required ] &&
		[ "$(answer | jq -r ".result.inputRequests.input.method")" = elicitation/create ] &&
		answer | jq -r ".result.requestState" | grep -q "^g1\."'
STATE=$(answer | jq -r .result.requestState)
modern "$USER" 21 old__ask "\"inputResponses\":{\"input\":{\"action\":\"accept\",\"content\":{\"name\":\"Barbara\"}}},\"requestState\":\"$STATE\""
check "the follow-up's answer reaches the waiting upstream request and the call's result comes back" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "hello Barbara" ] && [ "$(answer | jq -r .id)" = 21 ] &&
		grep -q "\"elicited\":{\"action\":\"accept\",\"content\":{\"name\":\"Barbara\"}}" "$OLDREC"'
modern "$USER" 22 old__ask "\"inputResponses\":{\"input\":{\"action\":\"accept\",\"content\":{\"name\":\"Again\"}}},\"requestState\":\"$STATE\""
check "the same requestState cannot answer twice" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && ! grep -q Again "$OLDREC"'

# The same on the virtual server: the tool under its own name.
v2_virtual() {
	http POST "$MCP/servers/v2/mcp" -H "Authorization: Bearer $USER" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: confirm' \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"confirm\",\"arguments\":{}${2:+,$2},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}}}"
}
v2_virtual 30 '"inputResponses":{"name":{"action":"accept","content":{"name":"Ida"}}}'
STATE=$(answer | jq -r .result.requestState)
v2_virtual 31 "$OKRESP,\"requestState\":\"$STATE\""
check "on /servers/v2/mcp too, the sealed requestState resumes the call" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "confirmed for Ida" ]'
modern "$USER" 32 v2__confirm "$OKRESP,\"requestState\":\"$STATE\""
check "a requestState issued on /servers/v2/mcp is refused on /mcp (another name)" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ]'

# --- the official v2 client package, 2026-07-28 era, through TLS -----------------------------
v2_client "v2 client, 2026 era, 2026 upstream" --era modern --tool v2__confirm \
	--answers '[{"name":"Katherine"},{"ok":true}]' --expect "confirmed for Katherine" --expect-elicitations 2
v2_client "v2 client, 2026 era, 2026 upstream, sampling" --era modern --tool v2__sample --expect "sampled: a summary"
v2_client "v2 client, 2026 era, 2025 upstream" --era modern --tool old__ask \
	--answers '[{"name":"Dorothy"}]' --expect "hello Dorothy" --expect-elicitations 1
v2_client "v2 client, 2026 era, 2025 upstream, plain tool" --era modern --tool old__echo --args '{"text":"both ways"}' \
	--expect "both ways"

it_check_sanitizer_logs
