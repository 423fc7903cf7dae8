#!/usr/bin/env bash
# `make install DESTDIR=...` and a deployment from what it installs: the file
# list, man pages that render and name every key and command, an example
# configuration that loads, a systemd unit, web server templates rendered for a
# non-default address and user (and served), and the least-privilege PostgreSQL roles.
. "$(dirname "$0")/lib.sh"

it_need_gateway
DEST=$IT_DIR/dest
# make_var NAME: a variable of the configured Makefile (as install uses it).
make_var() { make -s --no-print-directory -C "$top_builddir" -f Makefile -f - print-var <<<"print-var:"$'\n\t'"@echo \$($1)"; }
make -s -C "$top_builddir" install DESTDIR="$DEST" >"$IT_DIR/install.log" 2>&1 ||
	{ tail -n 30 "$IT_DIR/install.log" | diag; it_fatal "make install DESTDIR=$DEST"; }
BINDIR=$DEST$(make_var bindir)
DATADIR=$DEST$(make_var pkgdatadir)
MANDIR=$DEST$(make_var mandir)
UNITDIR=$DEST$(make_var systemdunitdir)

for f in "$BINDIR/mcp-gateway" "$DATADIR/migrations/001_registry.sql" \
	"$DATADIR/conf/apache/common.conf.in" "$DATADIR/conf/apache/proxy_fcgi.conf.in" \
	"$DATADIR/conf/apache/fcgid.conf.in" "$DATADIR/conf/apache/cgi.conf.in" \
	"$DATADIR/conf/lighttpd/lighttpd.conf.in" "$DATADIR/conf/postgres/roles.sql" \
	"$DATADIR/examples/gateway.conf.example" "$UNITDIR/mcp-gateway.service" \
	"$MANDIR/man1/mcp-gateway.1" "$MANDIR/man5/gateway.conf.5"; do
	check "make install puts ${f#"$DEST"}" test -s "$f"
done
GW=$BINDIR/mcp-gateway
check "the installed binary runs" eval '"$GW" version | grep -q "^mcp-registry-gateway "'

# Man pages: render without warnings and describe every key and every command.
for page in "$MANDIR/man1/mcp-gateway.1" "$MANDIR/man5/gateway.conf.5"; do
	MANWIDTH=200 man --warnings -l "$page" >"$IT_DIR/$(basename "$page").txt" 2>"$IT_DIR/man.err"
	check "man -l renders $(basename "$page") without warnings" \
		eval '[ -s "$IT_DIR/$(basename "$page").txt" ] && [ ! -s "$IT_DIR/man.err" ]'
done
"$GW" config --example >"$IT_DIR/example.conf"
missing=$(awk '/^\[/ {s=$0} /^#?[a-z_]+ =/ {sub(/^#/, ""); print $1}' "$IT_DIR/example.conf" |
	while read -r key; do grep -Eq "^ {7}$key( |\$)" "$IT_DIR/gateway.conf.5.txt" || echo "$key"; done | paste -sd, -)
check "gateway.conf(5) names every key of the configuration table (missing: ${missing:-none})" \
	eval '[ -z "$missing" ] && [ "$(grep -c "^#\?[a-z_]* =" "$IT_DIR/example.conf")" -gt 40 ]'
missing=$("$GW" --help | awk '/^  [a-z]/ {print $1}' |
	while read -r cmd; do grep -Eq "^ {7}$cmd( |\$)" "$IT_DIR/mcp-gateway.1.txt" || echo "$cmd"; done | paste -sd, -)
check "mcp-gateway(1) names every command of --help (missing: ${missing:-none})" eval '[ -z "$missing" ]'
check "the installed example configuration is what config --example prints" \
	cmp -s "$IT_DIR/example.conf" "$DATADIR/examples/gateway.conf.example"
check "the example configuration loads (config exits 0)" \
	eval 'env -u MCPGW_CONFIG "$GW" --config "$DATADIR/examples/gateway.conf.example" config >/dev/null'

# The systemd unit.
unit=$UNITDIR/mcp-gateway.service
check "the unit runs \`serve\` from bindir as mcpgw, reloads with SIGHUP, and is hardened" \
	eval 'grep -q "^ExecStart=$(make_var bindir)/mcp-gateway serve\$" "$unit" && grep -q "^Type=simple" "$unit" &&
	grep -q "^User=mcpgw" "$unit" && grep -q "^ExecReload=/bin/kill -HUP \$MAINPID" "$unit" &&
	grep -q "^ProtectSystem=strict" "$unit" && grep -q "^NoNewPrivileges=yes" "$unit" && ! grep -q "@[a-z]*@" "$unit"'
if command -v systemd-analyze >/dev/null 2>&1; then
	# Every directive known and well-formed; only the binary is not where the unit
	# will find it once installed for real.
	systemd-analyze --man=no verify "$unit" 2>&1 | grep -v "is not executable" >"$IT_DIR/verify.out"
	check "systemd-analyze verify finds nothing wrong in the unit" eval '[ ! -s "$IT_DIR/verify.out" ] || { diag <"$IT_DIR/verify.out"; false; }'
fi

# The installed templates for another address (127.0.0.2) and user (nobody),
# started behind `serve` whose socket belongs to nogroup.
make_certs "$IT_DIR/certs" || it_fatal "make certificates"
ensure_service_user || it_fatal "create $GW_SERVICE_USER"
BIND=127.0.0.2 API_PORT=$(free_port) MCP_PORT=$(free_port)
CONF=$IT_DIR/gateway.conf
REDIS_URL=redis://127.0.0.1:1/0 PG_DSN="host=127.0.0.1 port=1 dbname=x" FCGI_SOCKET=$IT_DIR/gw.sock
SERVE_USER=$GW_SERVICE_USER SOCKET_GROUP=nogroup WORKERS=1
gateway_conf >"$CONF" && secure_file "$CONF" "$GW_SERVICE_USER"
it_cleanup_add serve_stop "$IT_DIR/serve.pid"
serve_start "$GW" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve.pid" "$IT_DIR/gateway.log" 1 || it_fatal "serve starts"
mkdir -p "$IT_DIR/lighttpd/htdocs"
touch "$IT_DIR/lighttpd/lighttpd-error.log" "$IT_DIR/lighttpd/lighttpd-access.log" &&
	chown nobody:nogroup "$IT_DIR/lighttpd/lighttpd-error.log" "$IT_DIR/lighttpd/lighttpd-access.log"
render_template "$DATADIR/conf/lighttpd/lighttpd.conf.in" "$IT_DIR/lighttpd/lighttpd.conf" VAR="$IT_DIR/lighttpd" \
	BIND=$BIND API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" CERT_PEM="$IT_DIR/certs/tls.pem" \
	FCGI_SOCKET="$FCGI_SOCKET" BODY_MAX_KB=64 WEB_USER=nobody WEB_GROUP=nogroup || it_fatal "render lighttpd.conf"
check "lighttpd -tt accepts the rendered template" eval 'lighttpd -tt -f "$IT_DIR/lighttpd/lighttpd.conf" >/dev/null 2>&1'
check "the rendered lighttpd.conf binds $BIND and runs as nobody:nogroup" \
	eval 'grep -q "^server.bind = \"$BIND\"" "$IT_DIR/lighttpd/lighttpd.conf" && grep -q "== \"$BIND:$MCP_PORT\"" "$IT_DIR/lighttpd/lighttpd.conf" &&
	grep -q "^server.username = \"nobody\"" "$IT_DIR/lighttpd/lighttpd.conf"'
it_cleanup_add stop_by_pidfile "$IT_DIR/lighttpd/lighttpd.pid"
lighttpd_start "$IT_DIR/lighttpd/lighttpd.conf" >"$IT_DIR/lighttpd-start.log" 2>&1 || { diag <"$IT_DIR/lighttpd-start.log"; it_fatal "lighttpd starts"; }
wait_until 10 eval 'ss -Hltn "( sport = :$API_PORT )" | grep -q "$BIND:$API_PORT"'
check "lighttpd listens on $BIND:$API_PORT only" \
	eval '[ "$(ss -Hltn "( sport = :$API_PORT )" | awk "{print \$4}")" = "$BIND:$API_PORT" ]'
check "lighttpd runs as nobody" eval '[ "$(ps -o user= -p "$(head -n1 "$IT_DIR/lighttpd/lighttpd.pid")")" = nobody ]'
http GET "https://localhost:$API_PORT/health" --resolve "localhost:$API_PORT:$BIND"
check "GET /health through lighttpd on $BIND reaches the responders (socket group nogroup)" \
	eval '[ "$HTTP_CODE" != 000 ] && [ "$HTTP_CODE" != 502 ] && [ "$HTTP_CODE" != 503 ] && [ -n "$(header X-Request-Id)" ]'

mkdir -p "$IT_DIR/apache/htdocs"
render_template "$DATADIR/conf/apache/common.conf.in" "$IT_DIR/apache/apache-common.conf" VAR="$IT_DIR/apache" \
	BIND=$BIND SERVER_NAME=gw.example.test API_PORT="$(free_port)" MCP_PORT="$(free_port)" \
	CERT="$IT_DIR/certs/tls.crt" KEY="$IT_DIR/certs/tls.key" BODY_MAX=65536 WEB_USER=nobody WEB_GROUP=nogroup &&
	render_template "$DATADIR/conf/apache/proxy_fcgi.conf.in" "$IT_DIR/apache/apache.conf" VAR="$IT_DIR/apache" \
		FCGI_SOCKET="$FCGI_SOCKET" || it_fatal "render the Apache templates"
check "apache2 -t accepts the rendered templates (Listen $BIND, User nobody)" \
	eval 'apache2 -t -f "$IT_DIR/apache/apache.conf" >"$IT_DIR/apache-t.log" 2>&1 &&
	grep -q "^Listen $BIND:" "$IT_DIR/apache/apache-common.conf" && grep -q "^User nobody" "$IT_DIR/apache/apache-common.conf" ||
	{ diag <"$IT_DIR/apache-t.log"; false; }'

# Least-privilege PostgreSQL roles, in the README's order: roles.sql, migrate
# as the owner, roles.sql again.
pg_start "$IT_DIR/pg" "$(free_port)" mcpgw || it_fatal "start postgres"
it_cleanup_add pg_stop "$IT_DIR/pg" --remove
PGPORT=$(cat "$IT_DIR/pg/pg.port")
# Only the Unix socket (root and postgres) trusts a login without a password.
PGSOCK=$(cat "$IT_DIR/pg/pg.datadir")
psql_as() { psql -X -q -h "$PGSOCK" -p "$PGPORT" -U "$1" -d mcpgw -v ON_ERROR_STOP=1 "${@:2}"; }
roles() { psql_as postgres -v owner=mcpgw_owner -v app=mcpgw_app -v db=mcpgw -f "$DATADIR/conf/postgres/roles.sql" >"$IT_DIR/roles.log" 2>&1 || { diag <"$IT_DIR/roles.log"; false; }; }
check "roles.sql creates the owner and application roles" roles
env -u MCPGW_CONFIG MCPGW_POSTGRES_DSN="host=$PGSOCK port=$PGPORT dbname=mcpgw user=mcpgw_owner" \
	"$GW" migrate --dir "$DATADIR/migrations" >"$IT_DIR/migrate.log" 2>&1
rc=$?
check "the owner role applies the installed migrations" eval '[ "$rc" = 0 ] && psql_as mcpgw_owner -tAc "SELECT count(*) FROM schema_migrations" | grep -q "^[1-9]" ||
	{ diag <"$IT_DIR/migrate.log"; false; }'
check "roles.sql applies again after migrate" roles
check "the application role reads and writes rows (servers, audit_log with its sequence)" \
	eval 'psql_as mcpgw_app -c "INSERT INTO servers (name, url) VALUES ('"'it-one', 'https://u.example/mcp'"')" \
		-c "UPDATE servers SET description = '"'x'"' WHERE name = '"'it-one'"'" \
		-c "INSERT INTO audit_log (request_id, action, outcome, prev_hash, hash, detail_canonical) VALUES ('"'r', 'a', 'success', repeat('0', 64), repeat('a', 64), '{}'"')" \
		-c "SELECT count(*) FROM schema_migrations" >/dev/null'
check "the application role cannot create or drop tables" \
	eval '! psql_as mcpgw_app -c "CREATE TABLE x (i int)" 2>/dev/null && ! psql_as mcpgw_app -c "DROP TABLE servers" 2>/dev/null'
check "the application role cannot update or delete the audit log" \
	eval '! psql_as mcpgw_app -c "DELETE FROM audit_log" 2>"$IT_DIR/audit.err" && grep -q "permission denied" "$IT_DIR/audit.err"'
