#!/usr/bin/env bash
# `mcp-gateway validate` against a real PostgreSQL and Redis: a good setup passes;
# a bad port, an unreachable Redis, a wrong DSN and a missing certificate each
# fail with exit 1 and one clear line naming the problem.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

# validate_run [VAR=VALUE...]: runs validate with those overrides; sets RC and OUT.
validate_run() {
	OUT=$(env "$@" "$GATEWAY" validate --config "$CONF" 2>&1)
	RC=$?
}
says() { grep -Eq -- "$1" <<<"$OUT"; }
error_lines() { grep -c '^error: ' <<<"$OUT"; }
report() { diag <<<"$OUT"; }

validate_run
check "validate: a complete local setup is valid (exit 0)" eval '[ "$RC" = 0 ]' || report
check "validate: warns that the development issuer is on" says '^warning: auth.dev_issuer_key'

free=$(free_port)
validate_run MCPGW_SERVER_API_PORT=70000
check "validate: bad port from the environment -> exit 1 naming MCPGW_SERVER_API_PORT" \
	eval '[ "$RC" = 1 ] && says "MCPGW_SERVER_API_PORT.*server.api_port.*out of range"' || report

bad=$IT_DIR/bad-port.conf
{ cat "$CONF"; printf '[fastcgi]\nworkers = 2\n'; } | sed 's/^api_port = .*/api_port = 0/' >"$bad"
line=$(grep -n '^api_port = 0' "$bad" | cut -d: -f1)
OUT=$("$GATEWAY" validate --config "$bad" 2>&1); RC=$?
check "validate: bad port in the file -> exit 1 naming file, line $line and key" \
	eval '[ "$RC" = 1 ] && says "$bad:$line: server.api_port"' || report

validate_run MCPGW_REDIS_URL="redis://127.0.0.1:$free/0"
check "validate: unreachable Redis -> exit 1 with one redis.url line" \
	eval '[ "$RC" = 1 ] && says "^error: redis.url: cannot connect to Redis" && [ "$(error_lines)" = 1 ]' || report

# A Redis 6+ ACL user: redis://user:password@host:port/db.
ACL_PORT=$(free_port)
mkdir -p "$IT_DIR/redis-acl"
redis-server --port "$ACL_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
	--dir "$IT_DIR/redis-acl" --pidfile "$IT_DIR/redis-acl/redis.pid" \
	--logfile "$IT_DIR/redis-acl/redis.log" --user default off --user gw on '>s3cret-pw' '~*' '+@all' >/dev/null
it_cleanup_add stop_by_pidfile "$IT_DIR/redis-acl/redis.pid"
wait_until 10 port_in_use "$ACL_PORT" || it_fatal "start an ACL Redis on $ACL_PORT"
validate_run MCPGW_REDIS_URL="redis://gw:s3cret-pw@127.0.0.1:$ACL_PORT/0"
check "validate: a Redis ACL user (redis://user:password@...) authenticates" eval '[ "$RC" = 0 ]' || report
validate_run MCPGW_REDIS_URL="redis://gw:wrong-pw@127.0.0.1:$ACL_PORT/0"
check "validate: a wrong Redis password fails, and the password is not printed" \
	eval '[ "$RC" = 1 ] && says "^error: redis.url: Redis AUTH failed" && ! says "wrong-pw"' || report
validate_run MCPGW_REDIS_URL="redis://gw:wrong-pw@127.0.0.1:notaport/0"
check "validate: an unparsable Redis URL is named without echoing its password" \
	eval '[ "$RC" = 1 ] && says "redis.url is not" && ! says "wrong-pw"' || report

validate_run MCPGW_POSTGRES_DSN="host=127.0.0.1 port=$free dbname=mcpgw user=postgres"
check "validate: wrong DSN (nothing listening) -> exit 1 with one postgres.dsn line" \
	eval '[ "$RC" = 1 ] && says "^error: postgres.dsn: cannot connect to PostgreSQL" && [ "$(error_lines)" = 1 ]' || report

validate_run MCPGW_POSTGRES_DSN="${PG_DSN/dbname=mcpgw/dbname=no_such_db}"
check "validate: wrong DSN (no such database) -> exit 1 naming the database" \
	eval '[ "$RC" = 1 ] && says "^error: postgres.dsn:.*no_such_db"' || report

validate_run MCPGW_SERVER_TLS_CERT="$IT_DIR/certs/missing.crt"
check "validate: missing certificate -> exit 1 naming server.tls_cert and the path" \
	eval '[ "$RC" = 1 ] && says "^error: server.tls_cert: $IT_DIR/certs/missing.crt: No such file"' || report

validate_run MCPGW_SERVER_TLS_KEY="$IT_DIR/dev-issuer.pem"
check "validate: a key that does not match the certificate is refused" \
	eval '[ "$RC" = 1 ] && says "^error: server.tls_key: .* does not match"' || report

validate_run MCPGW_AUTH_ROLE_MAP="Gateway.Admin=superuser"
check "validate: a role map naming an unknown gateway role is refused" \
	eval '[ "$RC" = 1 ] && says "^error: .*MCPGW_AUTH_ROLE_MAP \(auth.role_map\): .*superuser"' || report

validate_run MCPGW_REDIS_URL="redis://127.0.0.1:$free/0" MCPGW_SERVER_TLS_CERT=/nonexistent/cert.pem \
	MCPGW_POSTGRES_DSN="host=127.0.0.1 port=$free dbname=x user=postgres"
check "validate: several problems -> one line each (3 errors)" \
	eval '[ "$RC" = 1 ] && [ "$(error_lines)" = 3 ]' || report

OUT=$(env -i PATH="$PATH" "$GATEWAY" validate --config /nonexistent/gateway.conf 2>&1); RC=$?
check "validate: a missing configuration file -> exit 1 naming it" \
	eval '[ "$RC" = 1 ] && says "/nonexistent/gateway.conf"' || report
