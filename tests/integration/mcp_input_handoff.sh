#!/usr/bin/env bash
# A 2026-07-28 client of a 2025-11-25 upstream that asks for input on its
# call's stream: the client gets an input-required result and may close that
# HTTP stream at once (its request is answered); the upstream call waits in
# the responder for the follow-up, however long the user takes to answer
# (within the upstream's timeout), and is not ended by the stream's
# keep-alives finding the client gone.
. "$(dirname "$0")/lib.sh"

[ -x "$IT_NODE" ] || it_fatal "Node 22 is installed at $IT_NODE (run scripts/check: ensure_node)"

export MCPGW_SESSION_KEEPALIVE_SECONDS=1
UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8
it_start_stores
it_setup_gateway
it_start_serve 3
it_start_lighttpd "$FCGI_SOCKET"

ADMIN=$(it_mint --sub ho-admin --tenant ho --roles admin)
USER=$(it_mint --sub ho-user --tenant ho --roles user)
OLD=$(it_start_upstream relay) || it_fatal "the 2025-11-25 relay fixture starts"
OLDREC=$(it_upstream_file "$OLD" rec)
http POST "$API/api/v1/servers" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data "{\"name\":\"old\",\"url\":\"$OLD\",\"timeout_ms\":15000}"
[ "$HTTP_CODE" = 201 ] || { show_response; it_fatal "register the relay fixture"; }

ACCEPT='application/json, text/event-stream'
# modern ID [EXTRA-PARAMS]: a stateless tools/call of old__ask.
modern() {
	http POST "$MCP/mcp" -H "Authorization: Bearer $USER" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H "Mcp-Name: old__ask" \
		--data-binary "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"old__ask\",\"arguments\":{}${2:+,$2},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}}}}}"
}
answer() { it_mcp_answer; }
# The client leaves the first stream 2 s in, once it has its answer.
HTTP_MAX_TIME=2 modern 1
check "the upstream's request on its stream reaches the client as an input-required result" \
	eval '[ "$(answer | jq -r .result.resultType)" = input_required ]'
STATE=$(answer | jq -r .result.requestState)
# A follow-up without the answer is refused, and the call still waits.
modern 5 "\"inputResponses\":{\"other\":{\"action\":\"accept\",\"content\":{}}},\"requestState\":\"$STATE\""
check "a follow-up that lacks inputResponses.input is refused" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && answer | jq -r .error.message | grep -q inputResponses.input'
# The user takes 5 s to answer (the upstream waits 20 s for it).
sleep 5
modern 2 "\"inputResponses\":{\"input\":{\"action\":\"accept\",\"content\":{\"name\":\"Edsger\"}}},\"requestState\":\"$STATE\""
check "the follow-up, seconds after the client left the first stream (and after a malformed one), completes the waiting upstream call" \
	eval '[ "$(answer | jq -r ".result.content[0].text")" = "hello Edsger" ] &&
		grep -q "\"elicited\":{\"action\":\"accept\",\"content\":{\"name\":\"Edsger\"}}" "$OLDREC"'

# Redis is no trust anchor: a record of a waiting input request rewritten
# in Redis (here to name another list as the call's, which could be another
# caller's) is refused, not followed.
b64url() { local s; s=$(tr '_-' '/+' <<<"$1"); while [ $((${#s} % 4)) != 0 ]; do s="$s="; done; base64 -d <<<"$s"; }
HTTP_MAX_TIME=2 modern 3
STATE=$(answer | jq -r .result.requestState)
RID=$(b64url "$(cut -d. -f2 <<<"$STATE")" | jq -r .p)
RKEY="mreg:mrtr:{$RID}"
REC=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET "$RKEY")
check "the waiting input request has its record in Redis" eval 'jq -e .o <<<"$REC" >/dev/null'
FAKE="mreg:mrtr-out:{00000000000000000000000000000000}"
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" RPUSH "$FAKE" \
	'{"a":{"jsonrpc":"2.0","id":0,"result":{"content":[{"type":"text","text":"planted"}]}}}' >/dev/null
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SET "$RKEY" "$(jq -c --arg o "$FAKE" '.o = $o' <<<"$REC")" PX 20000 >/dev/null
modern 4 "\"inputResponses\":{\"input\":{\"action\":\"accept\",\"content\":{\"name\":\"Tony\"}}},\"requestState\":\"$STATE\""
check "a follow-up whose Redis record was rewritten is refused, and nothing of the planted list reaches the client" \
	eval '[ "$(answer | jq -r .error.code)" = -32602 ] && ! grep -q planted "$IT_DIR/last.body"'

it_check_sanitizer_logs
