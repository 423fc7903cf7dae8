#!/usr/bin/env bash
# The audit chain under real mutations: 100 registrations (each a real MCP
# handshake with an SDK upstream) and their 100 deletions, run concurrently
# through two responder pools (lighttpd and Apache), leave one unbroken chain
# with exactly one success row per mutation, each in its tenant.
. "$(dirname "$0")/lib.sh"

UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
WORKERS=3
it_start_two_pools
ADMIN_A=$(it_mint --sub it-admin-a --tenant tenant-a --roles admin)
ADMIN_B=$(it_mint --sub it-admin-b --tenant tenant-b --roles admin)
PLATFORM=$(it_mint --sub it-root --tenant it-platform --roles platform_admin)
PLAIN=$(it_start_upstream plain) || it_fatal "the plain upstream fixture starts"

# One job per server: register it, then delete it. Jobs alternate pools and
# tenants and run 16 at a time, so registrations and deletions interleave.
# Each job prints "REGISTER-STATUS DELETE-STATUS".
t0=$(date +%s%N)
seq 1 100 | xargs -P 16 -I{} bash -c '
	n={} ca=$5 upstream=$6
	if [ $((n % 2)) = 0 ]; then base=$1 tok=$3; else base=$2 tok=$4; fi
	c() { curl -s --cacert "$ca" --max-time 60 -H "Authorization: Bearer $tok" "$@"; }
	out=$(c -w "\n%{http_code}" -X POST -H "Content-Type: application/json" \
		-H "X-Request-Id: it-reg-$n" "$base/api/v1/servers" \
		--data "{\"name\":\"conc-$n\",\"url\":\"$upstream\",\"timeout_ms\":20000}")
	reg=${out##*$'"'"'\n'"'"'}
	id=$(printf "%s" "${out%$'"'"'\n'"'"'*}" | jq -r ".server_id // empty" 2>/dev/null)
	del=none
	[ -n "$id" ] && del=$(c -o /dev/null -w "%{http_code}" -X DELETE -H "X-Request-Id: it-del-$n" \
		"$base/api/v1/servers/$id")
	echo "$reg $del"' _ "$API_A" "$API_B" "$ADMIN_A" "$ADMIN_B" "$CA" "$PLAIN" >"$IT_DIR/jobs.out"
secs=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
echo "# 100 registrations and 100 deletions, 16 at a time over two pools: ${secs} s"

check "100 concurrent registrations: all 201 ($(cut -d' ' -f1 "$IT_DIR/jobs.out" | sort | uniq -c | tr '\n' ' '))" \
	eval '[ "$(grep -c "^201 " "$IT_DIR/jobs.out")" = 100 ]'
check "100 concurrent deletions: all 204 ($(cut -d' ' -f2 "$IT_DIR/jobs.out" | sort | uniq -c | tr '\n' ' '))" \
	eval '[ "$(grep -c " 204$" "$IT_DIR/jobs.out")" = 100 ]'
check "no server is left behind" eval '[ "$(it_psql "SELECT count(*) FROM servers WHERE name LIKE '"'"'conc-%'"'"'")" = 0 ]'
check "one success row per registration and per deletion, by request id" \
	eval '[ "$(it_psql "SELECT count(*) FILTER (WHERE action = '"'"'server.register'"'"' AND request_id LIKE '"'"'it-reg-%'"'"') || '"'"'/'"'"' || count(*) FILTER (WHERE action = '"'"'server.delete'"'"' AND request_id LIKE '"'"'it-del-%'"'"') FROM audit_log WHERE outcome = '"'"'success'"'"'")" = 100/100 ]'
check "each row belongs to the tenant of its admin (even jobs tenant-a, odd tenant-b)" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE request_id ~ '"'"'^it-(reg|del)-'"'"' AND tenant_id IS DISTINCT FROM CASE WHEN substring(request_id from '"'"'[0-9]+$'"'"')::int % 2 = 0 THEN '"'"'tenant-a'"'"' ELSE '"'"'tenant-b'"'"' END")" = 0 ]'
check "the chain is one line: every prev_hash distinct and every hash but the head used once as a prev_hash" \
	eval '[ "$(it_psql "SELECT count(*) = count(DISTINCT prev_hash) AND count(*) - 1 = (SELECT count(*) FROM audit_log a JOIN audit_log b ON b.prev_hash = a.hash) FROM audit_log")" = t ]'
total=$(it_psql "SELECT count(*) FROM audit_log")
http GET "$API_B/api/v1/audit/verify" -H "Authorization: Bearer $PLATFORM"
check "verify: ok over all $total rows" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jq -r .ok "$IT_DIR/last.body")" = true ] && [ "$(jq -r .rows_checked "$IT_DIR/last.body")" = "$total" ]'
http GET "$API_A/api/v1/audit?action=server.register&limit=200" -H "Authorization: Bearer $ADMIN_A"
check "tenant-a's admin lists its 50 registrations and none of tenant-b's" \
	eval '[ "$(jq "[.items[]|select(.request_id|test(\"^it-reg-\"))]|length" "$IT_DIR/last.body")" = 50 ] && [ "$(jq "[.items[]|select(.tenant_id!=\"tenant-a\")]|length" "$IT_DIR/last.body")" = 0 ]'
it_check_sanitizer_logs
