#!/usr/bin/env bash
# Migrations on a real PostgreSQL: every numbered file applies once, a second run
# applies none, the registry schema is in place, and a database migrated by a
# newer binary is refused with a message naming both versions.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway

migrate() { OUT=$("$GATEWAY" migrate --config "$CONF" --dir "$top_srcdir/migrations" 2>&1); RC=$?; }

check "migrate: the registry tables of 002 exist" \
	eval '[ "$(it_psql "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('"'"'server_prompts'"'"', '"'"'server_resources'"'"')")" = 2 ]'
migrate
check "migrate: a second run applies nothing (exit 0, 0 migrations)" \
	eval '[ "$RC" = 0 ] && grep -q "^0 migrations applied" <<<"$OUT"'

# Names unique across what one tenant sees: shared 'x' clashes with tenant 'x'.
it_psql "INSERT INTO servers (tenant_id, name, url) VALUES (NULL, 'clash', 'https://a/mcp')" >/dev/null
if it_psql "INSERT INTO servers (tenant_id, name, url) VALUES ('t1', 'clash', 'https://b/mcp')" >/dev/null 2>"$IT_DIR/clash.err"; then
	not_ok "schema: a tenant server cannot take the name of a shared one"
else
	check "schema: a tenant server cannot take the name of a shared one (unique_violation)" \
		grep -q "already visible" "$IT_DIR/clash.err"
fi
it_psql "INSERT INTO servers (tenant_id, name, url) VALUES ('t1', 'own', 'https://b/mcp')" >/dev/null
check "schema: two tenants may use the same name" \
	it_psql "INSERT INTO servers (tenant_id, name, url) VALUES ('t2', 'own', 'https://c/mcp')"

last=$(ls "$top_srcdir"/migrations/[0-9][0-9][0-9]_*.sql | sort | tail -n1)
last=$(basename "$last")
last=${last%%_*}
it_psql "INSERT INTO schema_migrations (version, name, checksum) VALUES ('999', '999_future.sql', 'x')"
migrate
check "migrate: a schema newer than the binary is refused (exit 1)" eval '[ "$RC" = 1 ]'
check "migrate: the message names the database's version and ours ($last)" \
	eval 'grep -q "schema is at migration 999, newer than the newest this mcp-gateway knows ($last)" <<<"$OUT"'
echo "$OUT" | diag
