#!/usr/bin/env bash
# Least privilege in the local stack (scripts/up): modes of the files it
# writes, owners of lighttpd, Apache workers and responders, and a FastCGI
# socket that only the web server's group can use; serve refuses to keep root.
. "$(dirname "$0")/lib.sh"

it_up_private

if "${UP[@]}" >"$IT_DIR/up1.log" 2>&1; then ok "scripts/up starts the stack"; else
	not_ok "scripts/up starts the stack"; tail -n 30 "$IT_DIR/up1.log" | diag; exit 1
fi

# mode_is FILE MODE OWNER:GROUP
mode_is() {
	local got
	got=$(stat -c '%a %U:%G' "$1" 2>&1)
	[ "$got" = "$2 $3" ] || { echo "$1: $got, expected $2 $3" | diag; return 1; }
}
check "gateway.conf (DSN, Redis URL) is 0640 root:$GW_SERVICE_USER" mode_is "$VAR/gateway.conf" 640 "root:$GW_SERVICE_USER"
check "the TLS key is 0600 root (read by the web server before it drops root)" mode_is "$VAR/certs/tls.key" 600 root:root
check "lighttpd's certificate+key file is 0600 root" mode_is "$VAR/certs/tls.pem" 600 root:root
check "the development issuer key is 0600 root" mode_is "$VAR/dev-issuer.pem" 600 root:root
check "var/env (admin token) is 0600 root" mode_is "$VAR/env" 600 root:root
SOCK=$(sed -n 's/^socket = //p' "$VAR/gateway.conf")
[ -n "$SOCK" ] || SOCK=$(sed -n 's/.*"socket" => "\(.*\)",/\1/p' "$VAR/lighttpd/lighttpd.conf")
check "the FastCGI socket is 0660 root:$GW_WEB_GROUP" \
	eval '[ -S "$SOCK" ] && mode_is "$SOCK" 660 "root:$GW_WEB_GROUP"'

# can_connect USER: USER opens a connection to the FastCGI socket.
can_connect() { runuser -u "$1" -- socat -u /dev/null "UNIX-CONNECT:$SOCK" 2>"$IT_DIR/socat.err"; }
check "the web server's user ($GW_WEB_USER) can connect to the socket" can_connect "$GW_WEB_USER"
check "another local user (nobody) cannot connect to the socket" eval '! can_connect nobody && grep -qi "permission denied" "$IT_DIR/socat.err"'

# PostgreSQL listens on 127.0.0.1: a local user without the password gets no
# session there (the stack's own clients still do).
PG_PORT=$(cat "$VAR/pg/pg.port")
pg_as_nobody() {
	runuser -u nobody -- env -u PGPASSWORD -u PGPASSFILE "$(pg_bindir)/psql" -X -w -h 127.0.0.1 -p "$PG_PORT" \
		-U postgres -d mcpgw -tAc 'SELECT 1' >"$IT_DIR/pg-nobody.out" 2>&1
}
check "another local user (nobody) cannot log in to PostgreSQL on 127.0.0.1" \
	eval '! pg_as_nobody || { diag <"$IT_DIR/pg-nobody.out"; false; }'
check "the PostgreSQL password is in a file only root can read" mode_is "$VAR/pg/pg.secret" 600 root:root
check "the stack's DSN logs in to PostgreSQL" \
	eval '"$(pg_bindir)/psql" -X -w "$(sed -n "s/^dsn = //p" "$VAR/gateway.conf")" -tAc "SELECT 1" 2>&1 | grep -qx 1'

# owners PID...: the distinct users of those processes.
owners() { ps -o user= -p "$(echo "$@" | tr ' ' ',')" | sort -u | paste -sd, -; }
serve_pid=$(head -n1 "$VAR/run/gateway.pid")
responders=$(pgrep -P "$serve_pid" | tr '\n' ' ')
check "the responders run as $GW_SERVICE_USER (supervisor $serve_pid stays root)" \
	eval '[ -n "$responders" ] && [ "$(owners $responders)" = "$GW_SERVICE_USER" ] && [ "$(owners "$serve_pid")" = root ]'
check "a responder cannot regain root (real, effective and saved uid are $GW_SERVICE_USER's)" \
	eval 'uid=$(id -u "$GW_SERVICE_USER"); grep -q "^Uid:[[:space:]]*$uid[[:space:]]*$uid[[:space:]]*$uid" /proc/${responders%% *}/status'
lighttpd_pid=$(head -n1 "$VAR/lighttpd/lighttpd.pid")
check "lighttpd runs as $GW_WEB_USER" eval '[ "$(owners "$lighttpd_pid")" = "$GW_WEB_USER" ]'
API=https://127.0.0.1:$MCPGW_SERVER_API_PORT
mkdir -p "$IT_DIR/certs" && cp "$VAR/certs/ca.pem" "$IT_DIR/certs/ca.pem"
http GET "$API/health"
check "lighttpd as $GW_WEB_USER reaches the responders (GET /health 200)" eval '[ "$HTTP_CODE" = 200 ]'

"${UP[@]}" --web apache >"$IT_DIR/up2.log" 2>&1 || { tail -n 20 "$IT_DIR/up2.log" | diag; it_fatal "scripts/up --web apache"; }
apache_pid=$(head -n1 "$VAR/apache/apache.pid")
workers=$(pgrep -P "$apache_pid" | tr '\n' ' ')
check "Apache's workers run as $GW_WEB_USER (the parent stays root)" \
	eval '[ -n "$workers" ] && [ "$(owners $workers)" = "$GW_WEB_USER" ]'
http GET "$API/health"
check "Apache as $GW_WEB_USER reaches the responders (GET /health 200)" eval '[ "$HTTP_CODE" = 200 ]'

# serve started as root without fastcgi.user is refused, before any socket exists.
grep -v '^user = ' "$VAR/gateway.conf" >"$IT_DIR/root.conf"
out=$("$GATEWAY" serve --config "$IT_DIR/root.conf" --socket "$IT_DIR/root.sock" --workers 1 2>&1)
rc=$?
check "serve as root without fastcgi.user refuses to start (exit 1, says why)" \
	eval '[ "$rc" = 1 ] && grep -q "refusing to run responders as root" <<<"$out" && [ ! -e "$IT_DIR/root.sock" ]'
