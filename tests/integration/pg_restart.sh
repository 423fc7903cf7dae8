#!/usr/bin/env bash
# PostgreSQL restarted under running responders: the registry's first request
# on each responder is answered from a new connection, not a 503 from the
# connection the restart closed while it sat idle.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
it_start_stores
it_setup_gateway
it_start_serve 1
it_start_lighttpd "$FCGI_SOCKET"

PLAIN=$(it_start_upstream plain) || it_fatal "the plain fixture starts"
http POST "$API/api/v1/servers" "${AUTH[@]}" -H 'Content-Type: application/json' \
	--data "{\"name\":\"one\",\"url\":\"$PLAIN\"}"
check "setup: a server registered" eval '[ "$HTTP_CODE" = 201 ]'
http GET "$API/api/v1/servers" "${AUTH[@]}"
check "the list answers before the restart" eval '[ "$HTTP_CODE" = 200 ]'

pg_stop "$IT_DIR/pg"
pg_start "$IT_DIR/pg" "$(cat "$IT_DIR/pg/pg.port")" mcpgw >/dev/null 2>&1 || it_fatal "restart postgres"

http GET "$API/api/v1/servers" "${AUTH[@]}"
check "PostgreSQL restarted: the first list on the responder is 200" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(it_json servers.0.name)" = one ] || { show_response; false; }'
http GET "$API/api/v1/servers/$(it_psql "SELECT id FROM servers WHERE name = 'one'")" "${AUTH[@]}"
check "and the next request too" eval '[ "$HTTP_CODE" = 200 ]'

it_check_sanitizer_logs
