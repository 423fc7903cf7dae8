#!/usr/bin/env bash
# `mcp-gateway validate` against a real PostgreSQL and Redis: a good setup passes;
# a bad port, an unreachable Redis, a wrong DSN and a missing certificate each
# fail with exit 1 and one clear line naming the problem.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

# validate_run [--config FILE] [VAR=VALUE...]: runs validate with those
# overrides (and $CONF unless another file is named); sets RC and OUT.
validate_run() {
	local conf=$CONF
	if [ "${1:-}" = --config ]; then conf=$2; shift 2; fi
	OUT=$(env "$@" "$GATEWAY" validate --config "$conf" 2>&1)
	RC=$?
}
says() { grep -Eq -- "$1" <<<"$OUT"; }
error_lines() { grep -c '^error: ' <<<"$OUT"; }
# expect NAME CONDITION: one case on the last validate run; on failure its
# output is shown (what validate said is what explains the failure).
expect() {
	if eval "$2"; then
		ok "$1"
	else
		not_ok "$1"
		diag <<<"$OUT"
	fi
}

validate_run
expect "validate: a complete local setup is valid (exit 0)" '[ "$RC" = 0 ]'
expect "validate: warns that the development issuer is on" 'says "^warning: auth.dev_issuer_key"'

free=$(free_port)
validate_run MCPGW_SERVER_API_PORT=70000
expect "validate: bad port from the environment -> exit 1 naming MCPGW_SERVER_API_PORT" \
	'[ "$RC" = 1 ] && says "MCPGW_SERVER_API_PORT.*server.api_port.*out of range"'

bad=$IT_DIR/bad-port.conf
{ cat "$CONF"; printf '[fastcgi]\nworkers = 2\n'; } | sed 's/^api_port = .*/api_port = 0/' >"$bad"
line=$(grep -n '^api_port = 0' "$bad" | cut -d: -f1)
validate_run --config "$bad"
expect "validate: bad port in the file -> exit 1 naming file, line $line and key" \
	'[ "$RC" = 1 ] && says "$bad:$line: server.api_port"'

validate_run MCPGW_REDIS_URL="redis://127.0.0.1:$free/0"
expect "validate: unreachable Redis -> exit 1 with one redis.url line" \
	'[ "$RC" = 1 ] && says "^error: redis.url: cannot connect to Redis" && [ "$(error_lines)" = 1 ]'

# A Redis 6+ ACL user: redis://user:password@host:port/db.
ACL_PORT=$(free_port)
mkdir -p "$IT_DIR/redis-acl"
redis-server --port "$ACL_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
	--dir "$IT_DIR/redis-acl" --pidfile "$IT_DIR/redis-acl/redis.pid" \
	--logfile "$IT_DIR/redis-acl/redis.log" --user default off --user gw on '>s3cret-pw' '~*' '+@all' >/dev/null
it_cleanup_add stop_by_pidfile "$IT_DIR/redis-acl/redis.pid"
wait_until 10 port_in_use "$ACL_PORT" || it_fatal "start an ACL Redis on $ACL_PORT"
validate_run MCPGW_REDIS_URL="redis://gw:s3cret-pw@127.0.0.1:$ACL_PORT/0"
expect "validate: a Redis ACL user (redis://user:password@...) authenticates" '[ "$RC" = 0 ]'
validate_run MCPGW_REDIS_URL="redis://gw:wrong-pw@127.0.0.1:$ACL_PORT/0"
expect "validate: a wrong Redis password fails, and the password is not printed" \
	'[ "$RC" = 1 ] && says "^error: redis.url: Redis AUTH failed" && ! says "wrong-pw"'
validate_run MCPGW_REDIS_URL="redis://gw:wrong-pw@127.0.0.1:notaport/0"
expect "validate: an unparsable Redis URL is named without echoing its password" \
	'[ "$RC" = 1 ] && says "redis.url is not" && ! says "wrong-pw"'

validate_run MCPGW_POSTGRES_DSN="host=127.0.0.1 port=$free dbname=mcpgw user=postgres"
expect "validate: wrong DSN (nothing listening) -> exit 1 with one postgres.dsn line" \
	'[ "$RC" = 1 ] && says "^error: postgres.dsn: cannot connect to PostgreSQL" && [ "$(error_lines)" = 1 ]'

validate_run MCPGW_POSTGRES_DSN="${PG_DSN/dbname=mcpgw/dbname=no_such_db}"
expect "validate: wrong DSN (no such database) -> exit 1 naming the database" \
	'[ "$RC" = 1 ] && says "^error: postgres.dsn:.*no_such_db"'

validate_run MCPGW_SERVER_TLS_CERT="$IT_DIR/certs/missing.crt"
expect "validate: missing certificate -> exit 1 naming server.tls_cert and the path" \
	'[ "$RC" = 1 ] && says "^error: server.tls_cert: $IT_DIR/certs/missing.crt: No such file"'

validate_run MCPGW_SERVER_TLS_KEY="$IT_DIR/dev-issuer.pem"
expect "validate: a key that does not match the certificate is refused" \
	'[ "$RC" = 1 ] && says "^error: server.tls_key: .* does not match"'

echo '{"keys": []}' >"$IT_DIR/empty-jwks.json"
validate_run MCPGW_AUTH_JWKS_URI="file://$IT_DIR/empty-jwks.json"
expect "validate: a JWKS with no usable key -> exit 1 naming auth.jwks_uri" \
	'[ "$RC" = 1 ] && says "^error: auth.jwks_uri: .*no key usable"'
validate_run MCPGW_AUTH_JWKS_URI="file://$IT_DIR/missing-jwks.json"
expect "validate: a JWKS file that is missing -> exit 1 naming auth.jwks_uri" \
	'[ "$RC" = 1 ] && says "^error: auth.jwks_uri: .*missing-jwks.json"'

validate_run MCPGW_AUTH_ROLE_MAP="Gateway.Admin=superuser"
expect "validate: a role map naming an unknown gateway role is refused" \
	'[ "$RC" = 1 ] && says "^error: .*MCPGW_AUTH_ROLE_MAP \(auth.role_map\): .*superuser"'

printf 'not-a-key\n' >"$IT_DIR/short.key"
validate_run MCPGW_SECURITY_SECRET_KEY_FILE="$IT_DIR/short.key"
expect "validate: a secret key file that is not 64 hex digits is refused, the content not shown" \
	'[ "$RC" = 1 ] && says "^error: security.secret_key_file: .*short.key: expected 64 hex digits" && ! says "not-a-key"'
validate_run MCPGW_SECURITY_SECRET_KEY_FILE="$IT_DIR/missing.key"
expect "validate: a missing secret key file is refused naming it" \
	'[ "$RC" = 1 ] && says "^error: security.secret_key_file: .*missing.key: No such file"'

# The responders (fastcgi.user) open the sealing key themselves, after serve
# dropped root: a key only root may read passes every check made as root and
# then fails every registration with credentials.
if [ "$(id -u)" = 0 ] && id "$GW_SERVICE_USER" >/dev/null 2>&1; then
	install -m 0600 -o root -g root "$SECRET_KEY_FILE" "$IT_DIR/root-only.key"
	validate_run MCPGW_SECURITY_SECRET_KEY_FILE="$IT_DIR/root-only.key" MCPGW_FASTCGI_USER="$GW_SERVICE_USER"
	expect "validate: a secret key file the responders' user cannot read is refused naming the user and the file" \
		'[ "$RC" = 1 ] && says "^error: security.secret_key_file: the responders \(fastcgi.user $GW_SERVICE_USER\) cannot read .*root-only.key"'
	chgrp "$GW_SERVICE_USER" "$IT_DIR/root-only.key" && chmod 0640 "$IT_DIR/root-only.key"
	validate_run MCPGW_SECURITY_SECRET_KEY_FILE="$IT_DIR/root-only.key" MCPGW_FASTCGI_USER="$GW_SERVICE_USER"
	expect "validate: the same key 0640 root:$GW_SERVICE_USER is accepted" '! says "secret_key_file"'
	# API and MCP gate runs sign their probe tokens in a responder.
	install -m 0600 -o root -g root "$DEV_KEY" "$IT_DIR/probe-root.pem"
	validate_run MCPGW_GATES_PROBE_KEY="$IT_DIR/probe-root.pem" MCPGW_FASTCGI_USER="$GW_SERVICE_USER"
	expect "validate: a gates probe key the responders cannot read is a warning naming the user, the file and what fails" \
		'says "^warning: gates.probe_key: the responders \(fastcgi.user $GW_SERVICE_USER\) cannot read .*probe-root.pem.*gate runs through the API and MCP cannot sign" && ! says "^error: gates.probe_key"'
	chgrp "$GW_SERVICE_USER" "$IT_DIR/probe-root.pem" && chmod 0640 "$IT_DIR/probe-root.pem"
	validate_run MCPGW_GATES_PROBE_KEY="$IT_DIR/probe-root.pem" MCPGW_FASTCGI_USER="$GW_SERVICE_USER"
	expect "validate: the same probe key 0640 root:$GW_SERVICE_USER raises nothing" '! says "gates.probe_key"'
fi

validate_run MCPGW_REDIS_URL="redis://127.0.0.1:$free/0" MCPGW_SERVER_TLS_CERT=/nonexistent/cert.pem \
	MCPGW_POSTGRES_DSN="host=127.0.0.1 port=$free dbname=x user=postgres"
expect "validate: several problems -> one line each (3 errors)" \
	'[ "$RC" = 1 ] && [ "$(error_lines)" = 3 ]'

validate_run --config /nonexistent/gateway.conf
expect "validate: a missing configuration file -> exit 1 naming it" \
	'[ "$RC" = 1 ] && says "/nonexistent/gateway.conf"'

# Secrets never reach the output: `config` masks passwords in the Redis URL and
# the DSN, and an error that quotes a rejected URL masks it too.
OUT=$(MCPGW_REDIS_URL="redis://:s3cret-r@127.0.0.1:$REDIS_PORT/0" \
	MCPGW_POSTGRES_DSN="$PG_DSN password=s3cret-p" "$GATEWAY" config --config "$CONF" 2>&1)
expect "config: passwords in redis.url and postgres.dsn are masked" \
	'! says s3cret && says "^url = redis://:\*\*\*@127.0.0.1:$REDIS_PORT/0" && says "^dsn = .*password=\*\*\*"'
validate_run MCPGW_REDIS_URL="http://:s3cret-r@127.0.0.1:$free/0" MCPGW_POSTGRES_DSN="$PG_DSN password=s3cret-p"
expect "validate: a rejected redis.url with a password is quoted masked" \
	'[ "$RC" = 1 ] && says "MCPGW_REDIS_URL" && ! says s3cret'

# Files with credentials or private keys open to every local user are refused.
for f in "$CONF" "$KEY" "$DEV_KEY"; do
	mode=$(stat -c %a "$f")
	chmod o+r "$f"
	validate_run
	chmod "$mode" "$f"
	expect "validate: $(basename "$f") readable by every local user -> exit 1 naming it" \
		'[ "$RC" = 1 ] && says "^error: .*$f is open to every local user"'
done
