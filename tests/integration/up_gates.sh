#!/usr/bin/env bash
# The deployment flow of scripts/up: the quality gates pre_deployment and
# post_deployment run on the stack just started, before it is reported ready;
# a failing gate prints its report, stops what the run started and exits 1;
# --skip-gates skips them and says so. Free ports, a private var directory.
. "$(dirname "$0")/lib.sh"

it_up_private
pids() { cat "$VAR"/run/gateway.pid "$VAR"/redis/redis.pid "$VAR"/lighttpd/lighttpd.pid 2>/dev/null | grep -Eo '^[0-9]+' | tr '\n' ' '; }
# none_alive PIDS: no process of the list runs.
none_alive() { local p; for p in $1; do pid_alive "$p" && return 1; done; return 0; }
ports_free() { ! port_listening "$MCPGW_SERVER_API_PORT" && ! port_listening "$MCPGW_SERVER_MCP_PORT"; }

# --- a correct stack passes both gates before it is reported ------------------------
rc=0; "${UP[@]}" >"$IT_DIR/up1.log" 2>&1 || rc=$?
check "scripts/up passes pre_deployment and post_deployment, then reports the stack" \
	eval '[ "$rc" = 0 ] && grep -q "pre_deployment passed (run " "$IT_DIR/up1.log" && grep -q "post_deployment passed (run " "$IT_DIR/up1.log" && grep -q "^Management API" "$IT_DIR/up1.log" || { diag <"$IT_DIR/up1.log"; false; }'
check "each gate's report is kept in var/log, every check passed" \
	eval '[ "$(grep -c "^  passed " "$VAR/log/gate-pre_deployment.log")" = 5 ] && [ "$(grep -c "^  passed " "$VAR/log/gate-post_deployment.log")" = 5 ]'
PG_SOCK=$(cat "$VAR/pg/pg.datadir")
runs=$("$(pg_bindir)/psql" -X -h "$PG_SOCK" -p "$(cat "$VAR/pg/pg.port")" -U postgres -d mcpgw -tAc \
	"SELECT string_agg(gate || ':' || status, ',' ORDER BY started_at) FROM gate_runs" 2>&1)
check "both runs are stored in gate_runs ($runs)" eval '[ "$runs" = "pre_deployment:passed,post_deployment:passed" ]'
bash "$top_srcdir/scripts/down" --var "$VAR" >/dev/null 2>&1

# --- a broken deployment: the MCP plane's public URL names a port nothing serves ----------
DEAD=$(free_port)
rc=0; MCPGW_SERVER_MCP_URL=https://127.0.0.1:$DEAD "${UP[@]}" >"$IT_DIR/up2.log" 2>&1 || rc=$?
check "a failing pre_deployment makes scripts/up exit 1 naming the gate" \
	eval '[ "$rc" = 1 ] && grep -q "quality gate pre_deployment FAILED" "$IT_DIR/up2.log" || { diag <"$IT_DIR/up2.log"; false; }'
check "it prints the gate's report: fastmcp_server_health failed on the unserved URL, the rest skipped" \
	eval 'grep -q "stopped at the critical check fastmcp_server_health" "$IT_DIR/up2.log" && grep -q "127.0.0.1:$DEAD" "$IT_DIR/up2.log" && grep -q "^  skipped fastapi_server_health" "$IT_DIR/up2.log"'
check "post_deployment did not run and no ready stack was reported" \
	eval '! grep -q "post_deployment" "$IT_DIR/up2.log" && ! grep -q "^Management API" "$IT_DIR/up2.log" && [ ! -f "$VAR/up.state" ]'
check "everything that run started is stopped: responders, web server, Redis, PostgreSQL; ports free" \
	eval '! pidfile_alive "$VAR/run/gateway.pid" && ! pidfile_alive "$VAR/lighttpd/lighttpd.pid" && ! pidfile_alive "$VAR/redis/redis.pid" && [ ! -f "$PG_SOCK/postmaster.pid" ] && ports_free'

# --- --skip-gates: the same broken deployment comes up, with a loud warning --------------
rc=0; MCPGW_SERVER_MCP_URL=https://127.0.0.1:$DEAD "${UP[@]}" --skip-gates >"$IT_DIR/up3.log" 2>&1 || rc=$?
check "--skip-gates starts it anyway and says the gates were NOT run" \
	eval '[ "$rc" = 0 ] && grep -q "WARNING: --skip-gates" "$IT_DIR/up3.log" && grep -q "Quality gates: SKIPPED" "$IT_DIR/up3.log" && ! grep -q "gate pre_deployment" "$IT_DIR/up3.log"'
all=$(pids)
bash "$top_srcdir/scripts/down" --var "$VAR" >/dev/null 2>&1
check "scripts/down stops it" eval 'none_alive "$all" && ports_free'
