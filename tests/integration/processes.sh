#!/usr/bin/env bash
# `mcp-gateway serve` as a process: it refuses a socket another serve still
# listens on, replaces a stale one, removes only its own; SIGHUP checks the new
# configuration first (a JWKS that cannot be read refuses it), applies the
# worker count and the log file, names what needs a restart; respawns and
# crash loops are logged; responders leave when their supervisor is killed.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_lighttpd "$FCGI_SOCKET"
LOG=$IT_DIR/gateway.log

http GET "$API/health"
[ "$HTTP_CODE" = 200 ] || it_fatal "the stack answers GET /health"

# logged EVENT [PATTERN]: a line of that event (and text) is in $LOG.
logged() { grep "\"event\":\"$1\"" "$LOG" | grep -q -- "${2:-}"; }
# hup_and_wait EVENT: SIGHUP the supervisor, wait for the EVENT line it causes.
hup_and_wait() {
	local before
	before=$(grep -c "\"event\":\"$1\"" "$LOG")
	kill -HUP "$SERVE_PID"
	wait_until 15 eval '[ "$(grep -c "\"event\":\"$1\"" "$LOG")" -gt "$before" ]'
}
# responders: how many children the supervisor has now.
responders() { pgrep -x mcp-gateway -P "$SERVE_PID" | wc -l; }

# --- HEAD through the web server -----------------------------------------------------
head_req() { curl -sS -I --max-time 5 --cacert "$CA" "$@" 2>&1 | tr -d '\r'; }
h=$(head_req "$API/health")
check "HEAD /health through lighttpd: 200 with Content-Length, no body" \
	eval 'grep -q "^HTTP/1.1 200" <<<"$h" && grep -qi "^content-length: [1-9]" <<<"$h"'
h=$(head_req "$API/no/such/route")
check "HEAD of an unknown route: 404 problem+json headers" \
	eval 'grep -q "^HTTP/1.1 404" <<<"$h" && grep -qi "^content-type: application/problem+json" <<<"$h"'

# --- the socket ------------------------------------------------------------------
out=$(timeout 10 "$GATEWAY" serve --config "$CONF" --socket "$FCGI_SOCKET" --workers 1 \
	--pid-file "$IT_DIR/second.pid" 2>&1)
rc=$?
check "a second serve on a live socket exits 1 naming it" \
	eval '[ "$rc" = 1 ] && grep -q "another serve is listening on $FCGI_SOCKET" <<<"$out"'
http GET "$API/health"
check "the first serve still answers after the refused takeover" \
	eval '[ "$HTTP_CODE" = 200 ] && test -S "$FCGI_SOCKET"'

# --- SIGHUP: checked before it applies ------------------------------------------
old_children=$(children "$SERVE_PID")
GOOD_JWKS=$JWKS_FILE
JWKS_FILE=$IT_DIR/no-such-jwks.json
it_write_conf
hup_and_wait reload_failed
check "SIGHUP with an unreadable JWKS is refused and the log names auth.jwks_uri" \
	eval 'logged reload_check "auth.jwks_uri" && logged reload_failed'
check "after the refused reload the responders are the same" \
	eval '[ "$(children "$SERVE_PID")" = "$old_children" ]'
echo '{"keys": "not a list"}' >"$IT_DIR/bad-jwks.json"
JWKS_FILE=$IT_DIR/bad-jwks.json
it_write_conf
n_failed=$(grep -c '"event":"reload_failed"' "$LOG")
hup_and_wait reload_failed
check "SIGHUP with a JWKS that holds no usable key is refused too" \
	eval '[ "$(grep -c "\"event\":\"reload_failed\"" "$LOG")" -gt "$n_failed" ] && [ "$(children "$SERVE_PID")" = "$old_children" ]'
http GET "$API/health"
check "requests are still answered after refused reloads" eval '[ "$HTTP_CODE" = 200 ]'

# --- SIGHUP: workers, log file, restart-only keys --------------------------------
JWKS_FILE=$GOOD_JWKS
WORKERS=3
it_write_conf
hup_and_wait supervisor_reloaded
wait_until 10 eval '[ "$(responders)" = 3 ]'
check "SIGHUP applies fastcgi.workers 2 -> 3 (3 responders, change logged)" \
	eval '[ "$(responders)" = 3 ] && logged supervisor_workers "2 -> 3" && logged reload_changes "fastcgi.workers"'

FILE_LOG=$IT_DIR/file.log
LOG_FILE=$FILE_LOG
it_write_conf
hup_and_wait supervisor_reloaded
sleep 0.5 # the previous generation drains
http GET "$API/health?via=file"
check "SIGHUP opens a new server.log_file: requests are logged there" \
	eval 'wait_until 5 grep -q "via=file\\|/health" "$FILE_LOG"'
mv "$FILE_LOG" "$FILE_LOG.1"
hup_and_wait supervisor_reloaded
sleep 0.5
lines_rotated=$(wc -l <"$FILE_LOG.1")
http GET "$API/health"
check "SIGHUP after logrotate reopens the file (new lines in a new file, none in the old)" \
	eval 'wait_until 5 grep -q "\"event\":\"request\"" "$FILE_LOG" && [ "$(wc -l <"$FILE_LOG.1")" = "$lines_rotated" ]'
LOG_FILE=
it_write_conf
hup_and_wait supervisor_reloaded
sleep 0.5
lines_file=$(wc -l <"$FILE_LOG")
lines_err=$(grep -c '"event":"request"' "$LOG")
http GET "$API/health"
check "SIGHUP with server.log_file removed closes it: logging goes back to stderr" \
	eval 'wait_until 5 eval "[ \$(grep -c \"\\\"event\\\":\\\"request\\\"\" \"$LOG\") -gt $lines_err ]" && [ "$(wc -l <"$FILE_LOG")" = "$lines_file" ]'

it_write_conf
printf '\n[fastcgi]\nbacklog = 17\n' >>"$CONF"
hup_and_wait supervisor_reloaded
check "SIGHUP logs fastcgi.backlog by name as needing a restart" \
	logged reload_needs_restart "fastcgi.backlog changed"
it_write_conf
make_certs "$IT_DIR/certs2" && chmod 644 "$IT_DIR/certs2/tls.key" || it_fatal "a second certificate"
CERT=$IT_DIR/certs2/tls.crt KEY=$IT_DIR/certs2/tls.key
it_write_conf
hup_and_wait supervisor_reloaded
check "SIGHUP names a new server.tls_cert as the web server's business" \
	logged reload_web_server "server.tls_cert changed: the web server uses it too"
CERT=$IT_DIR/certs/tls.crt KEY=$IT_DIR/certs/tls.key
it_write_conf

# --- respawns and crash loops ----------------------------------------------------
victim=$(pgrep -x mcp-gateway -P "$SERVE_PID" | head -n1)
kill -KILL "$victim"
wait_until 5 logged responder_respawned
check "a responder killed with SIGKILL is replaced and the respawn logged" \
	eval 'logged responder_died "responder $victim killed by signal 9" && logged responder_respawned'
# Kill every responder as fast as they come for 1.5 s: more than 4 exits per
# responder within a second is a crash loop.
t_end=$(($(date +%s%N) + 1500000000))
while [ "$(date +%s%N)" -lt "$t_end" ]; do
	pkill -KILL -P "$SERVE_PID" 2>/dev/null
	sleep 0.02
done
check "a crash loop is logged with its count and the pause" \
	logged crash_loop "responders are crashing in a loop: [0-9]* exits in [0-9]* ms; pausing respawn for 1000 ms"
if wait_until 5 eval '[ "$(responders)" = "$WORKERS" ]'; then
	ok "after the pause the pool is back to $WORKERS responders (respawn_resumed logged: $(logged respawn_resumed && echo yes))"
else
	not_ok "after the pause the pool is back to $WORKERS responders ($(responders) now)"
fi
wait_until 5 eval 'http GET "$API/health"; [ "$HTTP_CODE" = 200 ]'
check "requests are answered after the crash loop" eval '[ "$HTTP_CODE" = 200 ]'

# --- the supervisor dies ---------------------------------------------------------
orphans=$(pgrep -P "$SERVE_PID" | tr '\n' ' ')
kill -KILL "$SERVE_PID"
t0=$(date +%s%N)
gone=
while [ $((($(date +%s%N) - t0) / 1000000)) -le 1000 ]; do
	left=
	for p in $orphans; do pid_alive "$p" && left="$left $p"; done
	if [ -z "$left" ]; then gone=$((($(date +%s%N) - t0) / 1000000)); break; fi
	sleep 0.02
done
if [ -n "$gone" ]; then
	ok "SIGKILL of the supervisor: its ${WORKERS} responders are gone within 1 s (${gone} ms)"
else
	not_ok "SIGKILL of the supervisor: its responders are gone within 1 s (left:$left)"
	left=${left# }
	ps -o pid,ppid,user,stat,args -p "${left// /,}" | diag
fi

# --- stale socket, and a socket that is not ours ---------------------------------
check "the killed supervisor left its socket file behind" test -S "$FCGI_SOCKET"
rm -f "$SERVE_PIDFILE"
it_start_serve 2
check "a new serve replaces the stale socket (logged) and answers" \
	eval 'logged socket_stale "$FCGI_SOCKET" && { http GET "$API/health"; [ "$HTTP_CODE" = 200 ]; }'

# serve A's socket file is removed behind its back and serve B takes the path:
# when A stops it must leave B's socket alone.
rm -f "$FCGI_SOCKET"
it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway-b.log" 1 ||
	it_fatal "serve B starts on the freed path"
serve_stop "$SERVE_PIDFILE"
check "a stopping serve leaves a socket it did not create in place (and says so)" \
	eval 'test -S "$FCGI_SOCKET" && logged socket_replaced "$FCGI_SOCKET"'
http GET "$API/health"
check "serve B still answers through that socket" eval '[ "$HTTP_CODE" = 200 ]'
serve_stop "$IT_DIR/serve-b.pid"
check "serve B removes its own socket when it stops" eval '! test -e "$FCGI_SOCKET"'

# --- a refused reload changes nothing, not even the plane of respawned responders ---
# (serve without --plane, so that the file's fastcgi.plane counts)
SOCK3=$IT_DIR/p3.sock CONF3=$IT_DIR/p3.conf
cp "$CONF" "$CONF3"
it_cleanup_add stop_by_pidfile "$IT_DIR/p3.pid"
setsid "$GATEWAY" serve --config "$CONF3" --socket "$SOCK3" --workers 1 --pid-file "$IT_DIR/p3.pid" \
	</dev/null >>"$IT_DIR/p3.log" 2>&1 &
wait_until 10 test -s "$IT_DIR/p3.pid" || it_fatal "a third serve starts"
P3=$(head -n1 "$IT_DIR/p3.pid")
mcp_meta() {
	"$top_builddir/tests/integration/fcgi_client" "unix:$SOCK3" 0 0 REQUEST_METHOD=GET \
		REQUEST_URI=/.well-known/oauth-protected-resource/mcp MCPGW_PLANE=mcp 2>/dev/null | head -n1 | tr -d '\r'
}
sed -e 's/^plane = .*/plane = api/' -e "s|^jwks_uri = .*|jwks_uri = file://$IT_DIR/no-such-jwks.json|" "$CONF" >"$CONF3"
kill -HUP "$P3"
wait_until 15 grep -q '"event":"reload_failed"' "$IT_DIR/p3.log"
pkill -KILL -P "$P3"
wait_until 5 eval '[ "$(pgrep -x mcp-gateway -P "$P3" | wc -l)" = 1 ]'
check "after a refused reload (plane = api in it), respawned responders keep serving the mcp plane" \
	eval '[ "$(mcp_meta)" = "Status: 200 OK" ]'

it_check_sanitizer_logs
