#!/usr/bin/env bash
# 200 concurrent registry mutations through two responder pools (lighttpd and
# Apache) sharing one PostgreSQL: 100 registrations against a real upstream,
# then 100 deletions racing 100 more registrations; every one answered, every
# one audited once, and the audit chain still one unbroken line.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
WORKERS=3
it_start_stores
it_setup_gateway
it_start_serve
it_start_lighttpd "$FCGI_SOCKET"
API_A=$API
API_PORT=$(free_port) MCP_PORT=$(free_port)
API_B=https://127.0.0.1:$API_PORT
FCGI_SOCKET=$IT_DIR/gw-b.sock
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway.log" 3 ||
	it_fatal "second responder pool starts"
it_start_apache proxy_fcgi "$IT_DIR/apache-b"

ADMIN=$("$GATEWAY" token --config "$CONF" --aud "$AUDIENCE" --sub admin-c --tenant tc --roles admin)
PLATFORM=$("$GATEWAY" token --config "$CONF" --aud "$AUDIENCE" --sub root --tenant tp --roles platform_admin)
PLAIN=$(it_start_upstream plain --tools 3) || it_fatal "the plain fixture starts"
export ADMIN PLAIN API_A API_B IT_DIR
mkdir -p "$IT_DIR/out"

# One mutation: "register N" or "delete N", through pool A for even N, B for odd.
mutate() {
	local op=$1 n=$2 api=$API_A id code
	[ $((10#$n % 2)) = 1 ] && api=$API_B
	if [ "$op" = register ]; then
		code=$(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 60 -o "$IT_DIR/out/reg-$n.json" \
			-w '%{http_code}' -X POST "$api/api/v1/servers" -H "Authorization: Bearer $ADMIN" \
			-H 'Content-Type: application/json' \
			--data "{\"name\":\"c-$n\",\"url\":\"$PLAIN\",\"timeout_ms\":30000}")
	else
		id=$(sed -n 's/.*"server_id":"\([^"]*\)".*/\1/p' "$IT_DIR/out/reg-$n.json")
		code=$(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time 60 -o /dev/null -w '%{http_code}' \
			-X DELETE "$api/api/v1/servers/$id" -H "Authorization: Bearer $ADMIN")
	fi
	echo "$op $n $code"
}
export -f mutate

seq -w 1 100 | sed 's/^/register /' | xargs -P 16 -L 1 bash -c 'mutate "$0" "$1"' >"$IT_DIR/phase1.txt"
check "phase 1: 100 concurrent registrations through two pools, all 201" \
	eval '[ "$(grep -c " 201$" "$IT_DIR/phase1.txt")" = 100 ]'
sort -k3 "$IT_DIR/phase1.txt" | awk '$3 != 201' | head -n 5 | diag

{ seq -w 1 100 | sed 's/^/delete /'; seq -w 101 200 | sed 's/^/register /'; } | shuf >"$IT_DIR/phase2.in"
xargs -P 16 -L 1 bash -c 'mutate "$0" "$1"' <"$IT_DIR/phase2.in" >"$IT_DIR/phase2.txt"
check "phase 2: 100 deletions racing 100 registrations, all 204 and 201" \
	eval '[ "$(grep -c "^delete .* 204$" "$IT_DIR/phase2.txt")" = 100 ] && [ "$(grep -c "^register .* 201$" "$IT_DIR/phase2.txt")" = 100 ]'
awk '($1 == "delete" && $3 != 204) || ($1 == "register" && $3 != 201)' "$IT_DIR/phase2.txt" | head -n 5 | diag

check "the registry holds exactly the 100 later servers, with their catalogs" \
	eval '[ "$(it_psql "SELECT count(*) FROM servers WHERE name LIKE '"'"'c-%'"'"'")" = 100 ] && [ "$(it_psql "SELECT count(*) FROM server_tools")" = 300 ] && [ "$(it_psql "SELECT min(name) FROM servers")" = c-101 ]'
check "every mutation wrote exactly one audit row (200 registrations, 100 deletions)" \
	eval '[ "$(it_psql "SELECT count(*) FILTER (WHERE action = '"'"'server.register'"'"') || '"'"'/'"'"' || count(*) FILTER (WHERE action = '"'"'server.delete'"'"') FROM audit_log")" = 200/100 ]'
http GET "$API_B/api/v1/audit/verify" -H "Authorization: Bearer $PLATFORM"
check "the audit chain is one unbroken line (verify ok)" \
	eval '[ "$HTTP_CODE" = 200 ] && body_has "\"ok\" *: *true"'
check "the chain has no fork: every prev_hash is used once" \
	eval '[ "$(it_psql "SELECT count(*) FROM (SELECT prev_hash FROM audit_log GROUP BY prev_hash HAVING count(*) > 1) f")" = 0 ]'
it_check_sanitizer_logs
