#!/usr/bin/env bash
# The audit log through two responder pools (lighttpd and Apache) sharing one
# PostgreSQL: denied requests are audited, GET /api/v1/audit is filtered,
# paginated and tenant-scoped, the chain stays one line under 200 concurrent
# appends, tampering is named by /api/v1/audit/verify, the table is
# append-only, and a responder with PostgreSQL down still answers 401 at once.
. "$(dirname "$0")/lib.sh"

WORKERS=3
it_start_two_pools
PLATFORM=$(it_mint --sub it-root --tenant it-platform --roles platform_admin)
AUDITOR_A=$(it_mint --sub it-aud-a --tenant tenant-a --roles auditor)
ADMIN_A=$(it_mint --sub it-admin-a --tenant tenant-a --roles admin)
USER_A=$(it_mint --sub it-user-a --tenant tenant-a --roles user)
ADMIN_B=$(it_mint --sub it-admin-b --tenant tenant-b --roles admin)
USER_B=$(it_mint --sub it-user-b --tenant tenant-b --roles user)
bearer() { printf 'Authorization: Bearer %s' "$1"; }
# jbody FILTER: jq over the last answer's body.
jbody() { jq -r "$1" "$IT_DIR/last.body" 2>/dev/null; }
# audit_get QUERY TOKEN: GET /api/v1/audit?QUERY on pool A.
audit_get() { http GET "$API_A/api/v1/audit?$1" -H "$(bearer "$2")"; }

# --- denied requests are audited ----------------------------------------------
http GET "$API_A/api/v1/audit" -H "X-Request-Id: it-denied-anon"
check "no token: 401" eval '[ "$HTTP_CODE" = 401 ]'
http GET "$API_B/api/v1/audit" -H "$(bearer "$USER_A")" -H "X-Request-Id: it-denied-user-a"
check "user role on /api/v1/audit: 403 (through the second pool)" eval '[ "$HTTP_CODE" = 403 ]'
sig=${USER_A##*.}
case ${sig:0:1} in A) flip=B ;; *) flip=A ;; esac
http GET "$API_A/api/v1/audit" -H "$(bearer "${USER_A%.*}.$flip${sig:1}")" -H "X-Request-Id: it-denied-bad"
check "tampered token: 401" eval '[ "$HTTP_CODE" = 401 ]'
http GET "$API_A/health/components" -H "$(bearer "$USER_B")" -H "X-Request-Id: it-denied-user-b"
check "tenant-b user on /health/components: 403" eval '[ "$HTTP_CODE" = 403 ]'

audit_get "action=request.denied&limit=200" "$PLATFORM"
check "platform_admin lists the audit log" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".items|length")" -ge 4 ]'
cp "$IT_DIR/last.body" "$IT_DIR/denied.json"
row() { jq -c --arg r "$1" '.items[]|select(.request_id==$r)' "$IT_DIR/denied.json"; }
check "the 401 without a token is a denied row without an actor" \
	eval 'row it-denied-anon | jq -e ".outcome==\"denied\" and .actor_user==null and .tenant_id==null and .detail.status==401 and .detail.method==\"GET\" and .detail.path==\"/api/v1/audit\" and (.detail.reason|length>0) and .target_id==\"/api/v1/audit\"" >/dev/null'
check "the 403 names the user, the tenant and the missing role" \
	eval 'row it-denied-user-a | jq -e ".actor_user|test(\"it-user-a\")" >/dev/null && row it-denied-user-a | jq -e ".tenant_id==\"tenant-a\" and .actor_tenant==\"tenant-a\" and .detail.status==403 and (.detail.reason|test(\"auditor\"))" >/dev/null'
check "a rejected token gives no actor (its claims are not an identity)" \
	eval 'row it-denied-bad | jq -e ".actor_user==null and .detail.status==401" >/dev/null'
check "no audit row holds a bearer token or its signature" \
	eval 'it_psql "SELECT * FROM audit_log" >"$IT_DIR/audit.dump" && ! grep -qF -e "$sig" -e "${sig:1}" "$IT_DIR/audit.dump"'

# --- tenant scoping -------------------------------------------------------------
audit_get "limit=200" "$AUDITOR_A"
check "auditor of tenant-a sees only tenant-a rows" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".items|length")" -ge 1 ] && [ "$(jbody "[.items[]|select(.tenant_id!=\"tenant-a\")]|length")" = 0 ]'
audit_get "tenant=tenant-b" "$ADMIN_A"
check "admin of tenant-a asking for tenant-b finds nothing" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".items|length")" = 0 ]'
audit_get "limit=200" "$ADMIN_B"
check "admin of tenant-b sees its own denied row and no tenant-a row" \
	eval '[ "$(jbody "[.items[]|select(.request_id==\"it-denied-user-b\")]|length")" = 1 ] && [ "$(jbody "[.items[]|select(.tenant_id!=\"tenant-b\")]|length")" = 0 ]'
audit_get "tenant=tenant-b" "$PLATFORM"
check "platform_admin filters by tenant" \
	eval '[ "$(jbody ".items|length")" -ge 1 ] && [ "$(jbody "[.items[]|select(.tenant_id!=\"tenant-b\")]|length")" = 0 ]'
http GET "$API_A/api/v1/audit/verify" -H "$(bearer "$ADMIN_A")"
check "verify is platform_admin's: a tenant admin gets 403" eval '[ "$HTTP_CODE" = 403 ]'

# --- filters and validation -------------------------------------------------------
audit_get "outcome=denied&actor=$(row it-denied-user-a | jq -r '.actor_user|@uri')" "$PLATFORM"
check "filter by actor and outcome" \
	eval '[ "$(jbody ".items|length")" -ge 1 ] && [ "$(jbody "[.items[]|select(.request_id!=\"it-denied-user-a\")]|length")" = 0 ]'
audit_get "target=/health/components" "$PLATFORM"
check "filter by target" eval '[ "$(jbody ".items|length")" -ge 1 ] && [ "$(jbody "[.items[]|select(.target_id!=\"/health/components\")]|length")" = 0 ]'
audit_get "outcome=success" "$PLATFORM"
check "filter by outcome: no successful rows yet" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".items|length")" = 0 ]'
audit_get "until=2000-01-01T00:00:00Z" "$PLATFORM"
check "until in the past: nothing" eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody ".items|length")" = 0 ]'
audit_get "since=2000-01-01T00:00:00%2B01:00&until=2999-01-01T00:00:00Z" "$PLATFORM"
check "since and until around now: rows" eval '[ "$(jbody ".items|length")" -ge 4 ]'
for bad in "since=yesterday:since" "until=2026-13-01T00:00:00Z:until" "outcome=maybe:outcome" \
	"limit=0:limit" "limit=201:limit" "cursor=bm9wZQ:cursor" "colour=red:colour" "action=a&action=b:action"; do
	audit_get "${bad%:*}" "$PLATFORM"
	check "bad query ${bad%:*}: 400 problem naming ${bad##*:}" \
		eval '[ "$HTTP_CODE" = 400 ] && is_problem_json && jbody .detail | grep -q "^${bad##*:}"'
done
# The problem says which rule was broken: a repeated parameter is not an unknown one.
for bad in "colour=red:colour: unknown" "action=a&action=b:action: repeated" \
	"limit=1&limit=2:limit: repeated"; do
	audit_get "${bad%%:*}" "$PLATFORM"
	check "bad query ${bad%%:*}: 400 saying '${bad#*:}'" \
		eval '[ "$HTTP_CODE" = 400 ] && jbody .detail | grep -q "^${bad#*:} query parameter"'
done

# --- 200 concurrent appends from two pools ---------------------------------------
# Denied requests are the mutation every responder performs without a
# registry; half go through lighttpd's pool, half through Apache's.
# burst PATH PREFIX: 200 requests, 24 at a time, alternating the pools; codes
# in $IT_DIR/conc.codes, seconds in BURST_S.
burst() {
	local t0=$(date +%s%N)
	seq 1 200 | xargs -P 24 -I{} sh -c '
	n={}; if [ $((n % 2)) = 0 ]; then base=$1; else base=$2; fi
	curl -s -o /dev/null -w "%{http_code}\n" --cacert "$3" --max-time 30 \
		-H "X-Request-Id: $5-$n" "$base$4"' _ "$API_A" "$API_B" "$CA" "$1" "$2" \
	>"$IT_DIR/conc.codes"
	BURST_S=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }')
}
burst /health it-health
health_s=$BURST_S
burst /api/v1/audit it-conc
echo "# 200 requests, 24 concurrent, two pools: /health ${health_s} s, denied and audited ${BURST_S} s"
check "200 concurrent unauthenticated requests: all 401 ($(sort "$IT_DIR/conc.codes" | uniq -c | tr '\n' ' '))" \
	eval '[ "$(grep -c "^401$" "$IT_DIR/conc.codes")" = 200 ]'
check "200 concurrent appends: 200 rows, each committed before its 401 was answered" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE request_id LIKE '"'"'it-conc-%'"'"'")" = 200 ]'
check "both pools appended: 100 rows through lighttpd, 100 through Apache" \
	eval '[ "$(it_psql "SELECT count(*) FILTER (WHERE substr(request_id, 9)::int % 2 = 0) || '"'"' '"'"' || count(*) FROM audit_log WHERE request_id LIKE '"'"'it-conc-%'"'"'")" = "100 200" ]'
check "the chain is one line: every prev_hash distinct and every hash used once as a prev_hash" \
	eval '[ "$(it_psql "SELECT count(*) = count(DISTINCT prev_hash) AND count(*) - 1 = (SELECT count(*) FROM audit_log a JOIN audit_log b ON b.prev_hash = a.hash) FROM audit_log")" = t ]'
total=$(it_psql "SELECT count(*) FROM audit_log")
http GET "$API_B/api/v1/audit/verify" -H "$(bearer "$PLATFORM")"
check "verify: ok over all $total rows" \
	eval '[ "$HTTP_CODE" = 200 ] && [ "$(jbody .ok)" = true ] && [ "$(jbody .rows_checked)" = "$total" ]'
head_hash=$(jbody .head_hash)
echo "# verify over $total rows: ${HTTP_TIME} s"
check "verify: the head hash is the newest row's hash" \
	eval '[ "$head_hash" = "$(it_psql "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")" ]'

# --- cursor pagination: stable, complete, no duplicates -----------------------------
: >"$IT_DIR/pages.ids"
cursor= pages=0
while :; do
	audit_get "limit=37${cursor:+&cursor=$cursor}" "$PLATFORM"
	[ "$HTTP_CODE" = 200 ] || break
	jbody '.items[].id' >>"$IT_DIR/pages.ids"
	pages=$((pages + 1))
	cursor=$(jbody '.next_cursor // empty')
	[ -n "$cursor" ] && [ "$pages" -lt 50 ] || break
done
check "pagination: $pages pages of 37 walk every row once, newest first" \
	eval '[ "$(wc -l <"$IT_DIR/pages.ids")" = "$total" ] && [ "$(sort -u "$IT_DIR/pages.ids" | wc -l)" = "$total" ] && sort -rn -c "$IT_DIR/pages.ids"'

# --- append-only, and tampering found by verify --------------------------------------
for sql in "UPDATE audit_log SET action = 'x' WHERE id = 1" "DELETE FROM audit_log WHERE id = 1" \
	"TRUNCATE audit_log"; do
	check "append-only: '$sql' is refused" \
		eval '! it_psql "$sql" >/dev/null 2>"$IT_DIR/psql.err" && grep -q "append-only" "$IT_DIR/psql.err"'
done
verify() { http GET "$API_A/api/v1/audit/verify" -H "$(bearer "$PLATFORM")"; }
victim=$(it_psql "SELECT id FROM audit_log WHERE request_id = 'it-conc-77'")
it_psql "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update" >/dev/null
it_psql "UPDATE audit_log SET outcome = 'success' WHERE id = $victim" >/dev/null
verify
check "verify names row $victim after its outcome was changed in PostgreSQL" \
	eval '[ "$(jbody .ok)" = false ] && [ "$(jbody .broken_id)" = "$victim" ] && jbody .reason | grep -q "content"'
it_psql "UPDATE audit_log SET outcome = 'denied' WHERE id = $victim" >/dev/null
verify
check "verify is ok again once the row is restored" eval '[ "$(jbody .ok)" = true ]'
it_psql "UPDATE audit_log SET detail = jsonb_set(detail, '{status}', '200') WHERE id = $victim" >/dev/null
verify
check "verify names row $victim after only its jsonb detail was changed" \
	eval '[ "$(jbody .ok)" = false ] && [ "$(jbody .broken_id)" = "$victim" ] && jbody .reason | grep -q "detail"'
it_psql "UPDATE audit_log SET detail = detail_canonical::jsonb WHERE id = $victim" >/dev/null
it_psql "UPDATE audit_log SET ts = ts + interval '1 microsecond' WHERE id = $victim" >/dev/null
verify
check "verify names row $victim after its time moved by one microsecond" \
	eval '[ "$(jbody .broken_id)" = "$victim" ]'
it_psql "UPDATE audit_log SET ts = ts - interval '1 microsecond' WHERE id = $victim" >/dev/null
next=$(it_psql "SELECT min(id) FROM audit_log WHERE id > $victim")
it_psql "DELETE FROM audit_log WHERE id = $victim" >/dev/null
verify
check "verify names row $next, the one after a deleted row" \
	eval '[ "$(jbody .ok)" = false ] && [ "$(jbody .broken_id)" = "$next" ] && jbody .reason | grep -q "removed"'
it_psql "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update" >/dev/null

# --- PostgreSQL restarted: connections that died are noticed, no row is lost ----------
pg_stop "$IT_DIR/pg"
pg_start "$IT_DIR/pg" "$(cat "$IT_DIR/pg/pg.port")" mcpgw >/dev/null 2>&1 || it_fatal "restart postgres"
for i in $(seq 1 12); do
	if [ $((i % 2)) = 0 ]; then base=$API_A; else base=$API_B; fi
	http GET "$base/api/v1/audit" -H "X-Request-Id: it-restart-$i"
done
check "PostgreSQL restarted: the next 12 denied requests on every responder are all audited" \
	eval '[ "$(it_psql "SELECT count(*) FROM audit_log WHERE request_id LIKE '"'"'it-restart-%'"'"'")" = 12 ]'

# --- PostgreSQL down: 401 stays fast, the lost row is logged and counted ------------------
failed_before=$(it_fleet_metric audit_denied_failed_total)
pg_stop "$IT_DIR/pg"
slow=0 worst=0
for i in 1 2 3 4 5 6; do
	for base in "$API_A" "$API_B"; do
		http GET "$base/api/v1/audit"
		[ "$HTTP_CODE" = 401 ] || slow=$((slow + 100))
		# Generous for a shared machine: a blocked audit would wait for the
		# connect or statement timeout (seconds), a refused connect costs ms.
		awk -v t="$HTTP_TIME" 'BEGIN { exit !(t > 1.5) }' && slow=$((slow + 1))
		worst=$(awk -v a="$worst" -v b="$HTTP_TIME" 'BEGIN { print (b > a ? b : a) }')
	done
done
echo "# PostgreSQL down: slowest of 12 answers ${worst} s"
check "PostgreSQL down: 12 requests without a token all 401 within 1.5 s" eval '[ "$slow" = 0 ]'
failed_after=$(it_fleet_metric audit_denied_failed_total)
check "PostgreSQL down: lost audit rows are counted (${failed_before:-0} -> ${failed_after:-0})" \
	eval '[ "${failed_after:-0}" -ge $(( ${failed_before:-0} + 12 )) ]'
check "PostgreSQL down: the loss is logged" eval 'grep -q "audit_denied_failed" "$IT_DIR/gateway.log"'
audit_get "" "$PLATFORM"
check "PostgreSQL down: GET /api/v1/audit is 503 with Retry-After" \
	eval '[ "$HTTP_CODE" = 503 ] && [ -n "$(header Retry-After)" ] && is_problem_json'
it_check_sanitizer_logs
