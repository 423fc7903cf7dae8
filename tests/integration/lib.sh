# Helpers for the integration tests: one private Redis, PostgreSQL, gateway and
# web server per test on free loopback ports, `ok`/`not ok` lines, cleanup on exit.
# Sourced by tests/integration/*.sh (run by `make check` or directly with bash).

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
GW_ROOT=$top_srcdir
# shellcheck source=../../scripts/lib.sh
. "$top_srcdir/scripts/lib.sh"

GATEWAY=$top_builddir/mcp-gateway
IT_NAME=$(basename "$0" .sh)
IT_DIR=$(mktemp -d "/tmp/mcpgw-$IT_NAME.XXXXXX")
# The web servers' workers, the responders and PostgreSQL must reach files in here.
chmod 755 "$IT_DIR"
IT_PASSED=0
IT_FAILED=0
IT_CLEANUP=()
AUDIENCE=mcp-registry-gateway
# The fleet leader's periodic upstream health probes and catalog refresh
# initialize upstreams and run SQL of their own: off by default in tests,
# which count upstream requests and statements; the leader's tests set them.
export MCPGW_LEADER_HEALTH_PERIOD_MS=${MCPGW_LEADER_HEALTH_PERIOD_MS:-86400000}
export MCPGW_LEADER_CATALOG_PERIOD_MS=${MCPGW_LEADER_CATALOG_PERIOD_MS:-86400000}

# --- reporting ---------------------------------------------------------------

ok() { IT_PASSED=$((IT_PASSED + 1)); echo "ok - $*"; }
not_ok() { IT_FAILED=$((IT_FAILED + 1)); echo "not ok - $*"; }
diag() { sed 's/^/# /'; }

# check NAME COMMAND...: one case; on failure the last response is shown.
check() {
	local name=$1
	shift
	if "$@"; then
		ok "$name"
	else
		not_ok "$name"
		show_response
	fi
}

# it_cleanup_add COMMAND...: run at exit, last added first.
it_cleanup_add() { IT_CLEANUP+=("$(printf '%q ' "$@")"); }

it_cleanup() {
	local rc=$? i
	for ((i = ${#IT_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${IT_CLEANUP[$i]}" >/dev/null 2>&1
	done
	if [ "$IT_FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
		local f
		for f in "$IT_DIR"/*.log "$IT_DIR"/*/*error.log; do
			[ -s "$f" ] || continue
			echo "# --- last lines of $f"
			tail -n 25 "$f" | diag
		done
	fi
	[ -n "${IT_KEEP:-}" ] || rm -rf "$IT_DIR"
	# 77: the test does not apply here (automake's SKIP).
	[ "$rc" -eq 77 ] && [ "$IT_FAILED" -eq 0 ] && exit 77
	echo "# $IT_NAME: $IT_PASSED passed, $IT_FAILED failed"
	[ "$IT_FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
	exit 1
}
trap it_cleanup EXIT

# it_fatal MESSAGE: a setup step failed; nothing after it can run.
it_fatal() { not_ok "$*"; exit 1; }

# --- HTTP ----------------------------------------------------------------------

# http METHOD URL [CURL-ARGS...]: sets HTTP_CODE, HTTP_TIME; headers and body
# of the answer are in $IT_DIR/last.headers and $IT_DIR/last.body.
http() {
	local method=$1 url=$2 out
	shift 2
	: >"$IT_DIR/last.headers"
	: >"$IT_DIR/last.body"
	HTTP_REQ="$method $url"
	out=$(curl -sS --cacert "$IT_DIR/certs/ca.pem" --max-time "${HTTP_MAX_TIME:-10}" \
		-X "$method" -D "$IT_DIR/last.headers" -o "$IT_DIR/last.body" \
		-w '%{http_code} %{time_total}' "$@" "$url" 2>"$IT_DIR/last.curl")
	HTTP_CODE=${out%% *}
	HTTP_TIME=${out#* }
	[ -n "$HTTP_CODE" ] || HTTP_CODE=000
}

# header NAME: value of a header of the last answer (last occurrence).
header() {
	grep -i "^$1:" "$IT_DIR/last.headers" | tail -n1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

body_has() { grep -Eq -- "$1" "$IT_DIR/last.body"; }

show_response() {
	{
		echo "request: ${HTTP_REQ:-none}"
		echo "status: ${HTTP_CODE:-none}  time: ${HTTP_TIME:-}"
		cat "$IT_DIR/last.curl" 2>/dev/null
		tr -d '\r' <"$IT_DIR/last.headers" 2>/dev/null | head -n 20
		head -c 600 "$IT_DIR/last.body" 2>/dev/null
		echo
	} | diag
}

is_problem_json() {
	case $(header Content-Type) in application/problem+json*) ;; *) return 1 ;; esac
	body_has '"request_id"'
}

# --- stack -------------------------------------------------------------------

it_need_gateway() {
	[ -x "$GATEWAY" ] || it_fatal "gateway binary exists ($GATEWAY)"
}

# it_start_stores: private Redis and PostgreSQL; sets REDIS_PORT REDIS_URL PG_DSN.
it_start_stores() {
	REDIS_PORT=$(free_port)
	redis_start "$IT_DIR/redis" "$REDIS_PORT" || it_fatal "start redis on $REDIS_PORT"
	it_cleanup_add redis_stop "$IT_DIR/redis"
	REDIS_URL=$(redis_url "$IT_DIR/redis")
	# The tests' own redis-cli calls authenticate through the environment.
	REDISCLI_AUTH=$(cat "$IT_DIR/redis/redis.secret")
	export REDISCLI_AUTH
	pg_start "$IT_DIR/pg" "$(free_port)" mcpgw || it_fatal "start postgres"
	it_cleanup_add pg_stop "$IT_DIR/pg" --remove
	PG_DSN=$(pg_dsn "$IT_DIR/pg" mcpgw)
}

# rcli ARGS...: redis-cli to the test's Redis (it_start_stores; the password
# comes from REDISCLI_AUTH). A function: in the background, $! is not redis-cli's.
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# it_write_conf: $CONF from the current variables (see gateway_conf), readable
# by root and CONF_GROUP only (the responders' group, or the web server's when
# Apache runs the gateway itself).
it_write_conf() {
	gateway_conf >"$CONF.tmp" && mv "$CONF.tmp" "$CONF" && secure_file "$CONF" "${CONF_GROUP:-$GW_SERVICE_USER}"
}

# it_setup_gateway: certificates, development issuer, config, JWKS, migrations,
# an admin token. Sets API_PORT MCP_PORT CONF TOKEN API MCP and friends.
it_setup_gateway() {
	it_need_gateway
	API_PORT=$(free_port)
	MCP_PORT=$(free_port)
	API=https://127.0.0.1:$API_PORT
	MCP=https://127.0.0.1:$MCP_PORT
	# The public URLs in the configuration (a second web server may use other ports).
	PUBLIC_API=$API PUBLIC_MCP=$MCP
	ensure_service_user || it_fatal "create the responders' user $GW_SERVICE_USER"
	# Responders drop to this user; only the web server's group may use the socket.
	SERVE_USER=${SERVE_USER-$GW_SERVICE_USER}
	SOCKET_GROUP=${SOCKET_GROUP-$GW_WEB_GROUP}
	make_certs "$IT_DIR/certs" || it_fatal "make certificates"
	CERT=$IT_DIR/certs/tls.crt KEY=$IT_DIR/certs/tls.key CA=$IT_DIR/certs/ca.pem
	DEV_KEY=$IT_DIR/dev-issuer.pem
	make_dev_issuer_key "$DEV_KEY" || it_fatal "make development issuer key"
	SECRET_KEY_FILE=$IT_DIR/secret.key
	make_secret "$SECRET_KEY_FILE" 32 || it_fatal "make the credential sealing key"
	secure_file "$SECRET_KEY_FILE" "${CONF_GROUP:-$GW_SERVICE_USER}"
	JWKS_FILE=$IT_DIR/dev-jwks.json
	FLEET_KEY=$IT_DIR/fleet.key
	make_secret "$FLEET_KEY" && secure_file "$FLEET_KEY" "${CONF_GROUP:-$GW_SERVICE_USER}" || it_fatal "make the fleet key"
	INPUT_STATE_KEY=$IT_DIR/input-state.key
	make_secret "$INPUT_STATE_KEY" && secure_file "$INPUT_STATE_KEY" "${CONF_GROUP:-$GW_SERVICE_USER}" ||
		it_fatal "make the input state key"
	FCGI_SOCKET=$IT_DIR/gw.sock
	BODY_MAX=${BODY_MAX:-65536}
	WORKERS=${WORKERS:-2}
	REDIS_TIMEOUT_MS=${REDIS_TIMEOUT_MS:-3000}
	DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-10}
	CONF=$IT_DIR/gateway.conf
	it_write_conf
	if "$GATEWAY" jwks --config "$CONF" >"$JWKS_FILE" 2>"$IT_DIR/jwks.err" && grep -q '"keys"' "$JWKS_FILE"; then
		ok "mcp-gateway jwks prints the development issuer's JWKS"
	else
		not_ok "mcp-gateway jwks prints the development issuer's JWKS"
		diag <"$IT_DIR/jwks.err"
	fi
	chmod 644 "$JWKS_FILE"
	if "$GATEWAY" migrate --config "$CONF" --dir "$top_srcdir/migrations" >"$IT_DIR/migrate.out" 2>&1; then
		ok "mcp-gateway migrate"
	else
		not_ok "mcp-gateway migrate"
		diag <"$IT_DIR/migrate.out"
	fi
	TOKEN=$("$GATEWAY" token --config "$CONF" --sub it-admin --tenant it-tenant --roles admin \
		--scopes "openid" --ttl 3600 --aud "$AUDIENCE" 2>"$IT_DIR/token.err")
	if [ -n "$TOKEN" ]; then
		ok "mcp-gateway token mints an admin token"
	else
		not_ok "mcp-gateway token mints an admin token"
		diag <"$IT_DIR/token.err"
	fi
	AUTH=(-H "Authorization: Bearer $TOKEN")
}

# it_start_serve [WORKERS]: the pre-fork supervisor on $FCGI_SOCKET; sets SERVE_PID.
it_start_serve() {
	SERVE_PIDFILE=$IT_DIR/serve.pid
	it_cleanup_add serve_stop "$SERVE_PIDFILE"
	serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$SERVE_PIDFILE" "$IT_DIR/gateway.log" \
		"${1:-$WORKERS}" || it_fatal "mcp-gateway serve starts and creates its socket"
	SERVE_PID=$(head -n1 "$SERVE_PIDFILE")
}

# it_start_lighttpd SOCKET [DIR]
it_start_lighttpd() {
	local dir=${2:-$IT_DIR/lighttpd} conf
	conf=$(lighttpd_render "$dir" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
		CERT_PEM="$IT_DIR/certs/tls.pem" FCGI_SOCKET="$1" \
		BODY_MAX_KB="$(body_max_kb "${WEB_BODY_MAX:-$((BODY_MAX * 2))}")") || it_fatal "render lighttpd.conf"
	it_cleanup_add stop_by_pidfile "$dir/lighttpd.pid"
	lighttpd_start "$conf" >"$IT_DIR/lighttpd-start.log" 2>&1 || {
		diag <"$IT_DIR/lighttpd-start.log"
		it_fatal "lighttpd starts"
	}
	wait_until 10 port_in_use "$MCP_PORT"
}

# it_start_apache VARIANT [DIR]: proxy_fcgi (to $FCGI_SOCKET), fcgid or cgi.
it_start_apache() {
	local variant=$1 dir=${2:-$IT_DIR/apache} conf
	conf=$(apache_render "$variant" "$dir" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
		CERT="$CERT" KEY="$KEY" BODY_MAX="${WEB_BODY_MAX:-$((BODY_MAX * 2))}" FCGI_SOCKET="$FCGI_SOCKET" \
		GATEWAY="$GATEWAY" CONFIG="$CONF") || it_fatal "render apache $variant config"
	it_cleanup_add stop_by_pidfile "$(apache_pidfile "$conf")"
	apache_start "$conf" >"$IT_DIR/apache-start.log" 2>&1 || {
		diag <"$IT_DIR/apache-start.log"
		it_fatal "apache ($variant) starts"
	}
	wait_until 10 port_in_use "$MCP_PORT"
}

# it_start_host_b LOGFILE: a second host's worth of gateway, its own `serve`
# pool (2 responders on $IT_DIR/gw-b.sock) behind Apache mod_proxy_fcgi on two
# new ports, same configuration and stores; sets API_B MCP_B (and the ports).
it_start_host_b() {
	API_PORT=$(free_port) MCP_PORT=$(free_port)
	API_B=https://127.0.0.1:$API_PORT MCP_B=https://127.0.0.1:$MCP_PORT
	FCGI_SOCKET=$IT_DIR/gw-b.sock
	it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
	serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$1" 2 ||
		it_fatal "second responder pool starts"
	it_start_apache proxy_fcgi "$IT_DIR/apache-b"
}

# it_gateway_for_apache: Apache-run modes (mod_fcgid, CGI) execute a private copy
# of the binary as the web server's user, so that whatever Apache leaves running
# can be found by its path and stopped, and a clone under a private folder still
# works; that user's group reads the configuration and the key files it names.
it_gateway_for_apache() {
	CONF_GROUP=$GW_WEB_GROUP
	# The configuration and the keys it names: the gateway reads them itself.
	secure_file "$CONF" "$CONF_GROUP" && secure_file "$FLEET_KEY" "$CONF_GROUP" &&
		secure_file "$SECRET_KEY_FILE" "$CONF_GROUP" && secure_file "$INPUT_STATE_KEY" "$CONF_GROUP" || it_fatal "give the configuration to group $CONF_GROUP"
	mkdir -p "$IT_DIR/bin"
	cp "$GATEWAY" "$IT_DIR/bin/mcp-gateway" && chmod 755 "$IT_DIR/bin/mcp-gateway" ||
		it_fatal "copy the gateway binary for Apache"
	GATEWAY=$IT_DIR/bin/mcp-gateway
	it_cleanup_add it_kill_private_gateways
}

# Processes of the private copy still running (pids, one a line).
it_private_gateways() { pgrep -f "^$IT_DIR/bin/mcp-gateway( |\$)"; }
it_kill_private_gateways() {
	local pid
	for pid in $(it_private_gateways); do kill -KILL "$pid" 2>/dev/null; done
}

# it_check_apache_leaves_nothing LABEL: stop Apache; no gateway process may outlive it.
it_check_apache_leaves_nothing() {
	local left
	stop_by_pidfile "$IT_DIR/apache/apache.pid" 20
	sleep 0.5
	left=$(it_private_gateways | paste -sd, -)
	if [ -z "$left" ]; then
		ok "$1: no gateway process outlives Apache"
	else
		not_ok "$1: no gateway process outlives Apache"
		ps -o pid,user,stat,etime,time,args -p "$left" | diag
	fi
}

# A log file the gateway may write to even when Apache runs it as another user.
it_shared_log() {
	LOG_FILE=$IT_DIR/gateway.log
	touch "$LOG_FILE" && chmod 666 "$LOG_FILE"
}

# --- shared cases --------------------------------------------------------------

# it_check_http_contract LABEL: the HTTP behaviour every mode must show.
it_check_http_contract() {
	local l=$1 rid sent big

	http GET "$API/health"
	check "$l: GET /health on the api port is 200 with status ok" \
		eval '[ "$HTTP_CODE" = 200 ] && body_has "\"status\" *: *\"ok\""'
	[ "$HTTP_CODE" != 000 ] || it_fatal "$l: the stack answers at all (remaining cases not run)"
	check "$l: every response carries X-Request-Id" eval '[ -n "$(header X-Request-Id)" ]'

	sent=it-req-$RANDOM-0001
	http GET "$API/health" -H "X-Request-Id: $sent"
	check "$l: a sane X-Request-Id is echoed" eval '[ "$(header X-Request-Id)" = "$sent" ]'

	sent='bad id <script>;'
	http GET "$API/health" -H "X-Request-Id: $sent"
	rid=$(header X-Request-Id)
	check "$l: an insane X-Request-Id is replaced by a generated one" \
		eval '[ -n "$rid" ] && [ "$rid" != "$sent" ]'

	http GET "$API/health" -H "X-Request-Id: $(head -c 300 /dev/zero | tr '\0' a)"
	rid=$(header X-Request-Id)
	check "$l: an overlong X-Request-Id is replaced" eval '[ -n "$rid" ] && [ ${#rid} -lt 300 ]'

	http GET "$MCP/health"
	check "$l: GET /health on the mcp port is 404 problem+json" \
		eval '[ "$HTTP_CODE" = 404 ] && is_problem_json'

	http GET "$API/no/such/route"
	rid=$(header X-Request-Id)
	check "$l: unknown route is 404 problem+json with the request id" \
		eval '[ "$HTTP_CODE" = 404 ] && is_problem_json && [ -n "$rid" ] && body_has "$rid"'

	http DELETE "$API/health"
	check "$l: DELETE /health is 405 with Allow" \
		eval '[ "$HTTP_CODE" = 405 ] && header Allow | grep -q GET && is_problem_json'

	big=$IT_DIR/body.big
	head -c $((BODY_MAX + 1)) /dev/zero | tr '\0' x >"$big"
	http POST "$API/health" -H 'Content-Type: application/json' --data-binary "@$big"
	check "$l: a body over limits.body_max ($BODY_MAX) is 413 problem+json" \
		eval '[ "$HTTP_CODE" = 413 ] && is_problem_json'

	http GET "$API/health/components"
	check "$l: /health/components without a token is 401 with WWW-Authenticate" \
		eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "^Bearer"'

	# Large tokens pass the web server and get the gateway's own answer: 12 KB
	# is under limits.token_max (a bad signature), 17 KB is over it. Apache
	# mod_proxy_fcgi cannot pass a variable over 16384 bytes and drops it, so
	# there the gateway sees no token: still 401, never access.
	local size tok
	for size in 12000 17000; do
		tok=$(head -c $((size / 2)) /dev/zero | tr '\0' a).$(head -c $((size / 2 - 2)) /dev/zero | tr '\0' b).c
		http GET "$API/health/components" -H "Authorization: Bearer $tok"
		if [ "$size" -gt 16384 ] && [[ $l == *proxy_fcgi* ]]; then
			check "$l: a $size-byte bearer token is refused 401 (mod_proxy_fcgi drops it)" \
				eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "^Bearer"'
		else
			check "$l: a $size-byte bearer token reaches the gateway and is refused 401 invalid_token" \
				eval '[ "$HTTP_CODE" = 401 ] && header WWW-Authenticate | grep -q "error=\"invalid_token\""'
		fi
	done

	http GET "$API/health/components" "${AUTH[@]}"
	check "$l: Authorization reaches the gateway (/health/components with a token is answered)" \
		eval '[ "$HTTP_CODE" != 401 ] && [ "$HTTP_CODE" != 000 ] && body_has "\"overall_status\""'
}

# it_check_planes LABEL: management routes only on api, MCP routes only on mcp.
it_check_planes() {
	local l=$1 path
	for path in /health /health/ready /health/components /metrics /api/v1/servers; do
		http GET "$MCP$path" "${AUTH[@]}"
		check "$l: management route $path is 404 on the mcp port" eval '[ "$HTTP_CODE" = 404 ]'
	done
	http GET "$API/health/ready"
	check "$l: /health/ready is answered on the api port" \
		eval '[ "$HTTP_CODE" = 200 ] || [ "$HTTP_CODE" = 503 ]'
	http GET "$MCP/.well-known/oauth-protected-resource/mcp"
	check "$l: /.well-known/oauth-protected-resource/mcp is 200 JSON on the mcp port" \
		eval '[ "$HTTP_CODE" = 200 ] && header Content-Type | grep -q "^application/json" && body_has "\"resource\" *: *\"$PUBLIC_MCP"'
	http GET "$API/.well-known/oauth-protected-resource/mcp"
	check "$l: /.well-known/oauth-protected-resource/mcp is 404 on the api port" \
		eval '[ "$HTTP_CODE" = 404 ]'
	# Both planes are protected resources: each may describe itself, never the other.
	# (The resource named is the configured public URL of the plane.)
	http GET "$API/.well-known/oauth-protected-resource"
	check "$l: /.well-known/oauth-protected-resource on the api port describes the api plane (or is 404)" \
		eval '[ "$HTTP_CODE" = 404 ] || { [ "$HTTP_CODE" = 200 ] && body_has "\"resource\" *: *\"$PUBLIC_API\""; }'
	http POST "$API/mcp" -H 'Content-Type: application/json' --data '{}'
	check "$l: /mcp is 404 on the api port" eval '[ "$HTTP_CODE" = 404 ]'
}

# it_check_sanitizer_logs: no AddressSanitizer/UBSan report in what the gateway logged.
it_check_sanitizer_logs() {
	local f found=
	for f in "$IT_DIR"/gateway.log "$IT_DIR"/*/apache-error.log "$IT_DIR"/*/lighttpd-error.log; do
		[ -f "$f" ] || continue
		if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
			found=1
			grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -n 40 | diag
		fi
	done
	if [ -z "$found" ]; then
		ok "no sanitizer reports in the gateway's logs"
	else
		not_ok "no sanitizer reports in the gateway's logs"
	fi
}

# children PID: the responders among the direct children of PID (not the
# monitor, mcpgw-monitor), sorted.
children() { pgrep -x mcp-gateway -P "$1" | sort -n | tr '\n' ' '; }

# --- upstream MCP servers (tests/node, official TypeScript SDK) ----------------

IT_NODE=$top_srcdir/tests/node/node_modules/node/bin/node

# it_start_upstream KIND [FIXTURE-ARGS...]: tests/node/KIND.mjs (plain, bearer,
# hang, notmcp, oauth) on a free loopback port; prints its MCP URL
# http://127.0.0.1:PORT/mcp (https:// with --tls-cert and --tls-key). Its files are $IT_DIR/upstream-PORT.pid, .log and
# .rec (one JSON line per request it saw; see it_upstream_file). Stopped at
# exit, so it may be called as url=$(it_start_upstream plain).
it_start_upstream() {
	local kind=$1 port base
	shift
	[ -x "$IT_NODE" ] || { gw_log "no Node 22 at $IT_NODE: run scripts/check (ensure_node)"; return 1; }
	port=$(free_port) || return 1
	base=$IT_DIR/upstream-$port
	setsid "$IT_NODE" "$top_srcdir/tests/node/$kind.mjs" --port "$port" --pid-file "$base.pid" \
		--record "$base.rec" "$@" </dev/null >>"$base.log" 2>&1 &
	if ! wait_until 30 eval "test -s '$base.pid' && port_in_use $port"; then
		gw_log "upstream fixture $kind did not start on $port:"
		tail -n 20 "$base.log" >&2
		return 1
	fi
	case " $* " in *" --tls-cert "*) echo "https://127.0.0.1:$port/mcp" ;; *) echo "http://127.0.0.1:$port/mcp" ;; esac
}

# it_upstream_file URL EXT: the fixture's .rec, .log or .pid file.
it_upstream_file() {
	local port=${1#*://127.0.0.1:}
	echo "$IT_DIR/upstream-${port%%/*}.$2"
}

it_stop_upstreams() {
	local f
	for f in "$IT_DIR"/upstream-*.pid; do [ -f "$f" ] && stop_by_pidfile "$f" 5; done
	return 0
}
it_cleanup_add it_stop_upstreams
# it_psql SQL: run SQL on the test's PostgreSQL (from it_start_stores); rows
# unaligned, one a line; non-zero status on an SQL error.
it_psql() {
	"$(pg_bindir)/psql" -X -h "$(cat "$IT_DIR/pg/pg.datadir")" -p "$(cat "$IT_DIR/pg/pg.port")" -U postgres -d mcpgw \
		-v ON_ERROR_STOP=1 -tAc "$1"
}

# it_json PATH: a value of the last answer's JSON body by dotted path
# (servers.0.name); strings raw, anything else as compact JSON.
it_json() { jq -c -r --arg p "$1" 'getpath($p | split(".") | map(tonumber? // .))' "$IT_DIR/last.body" 2>/dev/null; }

# it_start_two_pools: stores, gateway, and two responder pools of $WORKERS
# sharing them, as two hosts would: one behind lighttpd (API_A), one with its
# own supervisor and socket behind Apache mod_proxy_fcgi (API_B).
it_start_two_pools() {
	it_start_stores
	it_setup_gateway
	it_start_serve
	it_start_lighttpd "$FCGI_SOCKET"
	API_A=$API
	API_PORT=$(free_port) MCP_PORT=$(free_port)
	API_B=https://127.0.0.1:$API_PORT
	FCGI_SOCKET=$IT_DIR/gw-b.sock
	it_cleanup_add serve_stop "$IT_DIR/serve-b.pid"
	serve_start "$GATEWAY" "$CONF" "$FCGI_SOCKET" "$IT_DIR/serve-b.pid" "$IT_DIR/gateway.log" \
		"$WORKERS" || it_fatal "second responder pool starts"
	it_start_apache proxy_fcgi "$IT_DIR/apache-b"
}

# it_fleet_metric NAME: the fleet's value of mcpgw_NAME, the sum of both hosts'
# /metrics ($API_A, $API_B), as Prometheus would add them up.
it_fleet_metric() {
	local base sum=0 v
	for base in "$API_A" "$API_B"; do
		http GET "$base/metrics"
		v=$(sed -n "s/^mcpgw_$1 //p" "$IT_DIR/last.body")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# it_up_private: scripts/up on free ports (exported MCPGW_SERVER_API_PORT and
# MCP_PORT) with a private var directory: sets VAR and UP (the command, two
# responders, nothing installed or built), and runs scripts/down at exit.
it_up_private() {
	it_need_gateway
	VAR=$IT_DIR/var
	MCPGW_SERVER_API_PORT=$(free_port)
	MCPGW_SERVER_MCP_PORT=$(free_port)
	export MCPGW_SERVER_API_PORT MCPGW_SERVER_MCP_PORT
	it_cleanup_add bash "$top_srcdir/scripts/down" --var "$VAR"
	UP=(bash "$top_srcdir/scripts/up" --var "$VAR" --bin "$GATEWAY" --no-install --no-build --workers 2)
}

# --- what a request does in Redis ----------------------------------------------

# it_redis_monitored LABEL COMMAND...: run COMMAND while redis-cli MONITOR
# records; $IT_DIR/LABEL.monitor holds it all. LABEL.redis: the commands of
# every connection but the audit monitor's, which drains the spool on its
# own, in batches, apart from any request (its commands are the only
# XREADGROUPs). LABEL.lua: the commands run inside scripts, the fleet
# leader's lease script (which the monitor may run meanwhile) left out.
it_redis_monitored() {
	local label=$1 mon=$IT_DIR/$1.monitor pid
	shift
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" MONITOR >"$mon" 2>&1 &
	pid=$!
	wait_until 5 grep -q '^OK' "$mon" || { kill "$pid"; it_fatal "redis-cli MONITOR starts"; }
	"$@"
	sleep 0.5 # MONITOR's lines trail the answers
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -E '^[0-9.]+ \[[0-9]+ [0-9.]+:[0-9]+\] ' "$mon" | grep -v '"MONITOR"' |
		awk '{ line[NR] = $0; addr[NR] = $3 } $4 == "\"XREADGROUP\"" { mon[$3] = 1 }
			END { for (i = 1; i <= NR; i++) if (!(addr[i] in mon)) print line[i] }' >"$IT_DIR/$label.redis" || true
	grep -E '^[0-9.]+ \[[0-9]+ lua\] ' "$mon" | grep -v '"mreg:leader:' >"$IT_DIR/$label.lua" || true
}

# it_redis_written LABEL: the keys the commands of LABEL wrote, inside scripts
# or not, each once, sorted, on one line.
it_redis_written() {
	cat "$IT_DIR/$1.redis" "$IT_DIR/$1.lua" |
		awk '{ v = toupper($4); gsub(/"/, "", v); k = $5; gsub(/"/, "", k) }
			v ~ /^(SET|SETEX|PSETEX|GETDEL|DEL|UNLINK|EXPIRE|PEXPIRE|PEXPIREAT|HSET|HMSET|HDEL|HINCRBY|INCR|INCRBY|DECRBY|ZADD|ZREM|ZREMRANGEBYSCORE|SADD|SREM|XADD|XDEL|RPUSH|LPUSH|LPOP|RPOP)$/ { print k }' |
		sort -u | paste -sd' '
}

# --- MCP clients ---------------------------------------------------------------

ACCEPT='application/json, text/event-stream'

# it_mcp URL TOKEN BODY [CURL-ARGS...]: POST one JSON-RPC message to the MCP
# endpoint URL as a 2025-11-25 client holding TOKEN.
it_mcp() {
	local url=$1 token=$2 body=$3
	shift 3
	http POST "$url" -H "Authorization: Bearer $token" -H "Accept: $ACCEPT" -H 'Content-Type: application/json' \
		-H 'MCP-Protocol-Version: 2025-11-25' --data-binary "$body" "$@"
}

# it_mcp_open URL TOKEN [CAPABILITIES]: a 2025-11-25 session on URL (initialize
# with CAPABILITIES, default {}, then notifications/initialized); sets SID.
it_mcp_open() {
	local url=$1 token=$2 caps=${3:-'{}'}
	it_mcp "$url" "$token" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":'"$caps"',"clientInfo":{"name":"it-client","version":"1.0"}}}'
	SID=$(header Mcp-Session-Id)
	[ -n "$SID" ] || { show_response; it_fatal "initialize opens a 2025-11-25 session on $url"; }
	it_mcp "$url" "$token" '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $SID"
}

# it_mcp_answer: the JSON-RPC response of the last answer (compact), whether it
# came as JSON or as SSE (then the last result or error on the stream).
it_mcp_answer() {
	if header Content-Type | grep -q text/event-stream; then
		sed -n 's/^data: //p' "$IT_DIR/last.body" | jq -c 'select(has("result") or has("error"))' | tail -n1
	else
		jq -c . "$IT_DIR/last.body"
	fi
}

# it_mint ARGS...: a development token (mcp-gateway token ARGS).
it_mint() { "$GATEWAY" token --config "$CONF" "$@" 2>>"$IT_DIR/token.err"; }
# it_cast: tokens of two tenants' callers: ADMIN_A, OPER_A, USER_A (tenant ta),
# ADMIN_B, USER_B (tenant tb) and PLATFORM (platform_admin).
it_cast() {
	ADMIN_A=$(it_mint --sub admin-a --tenant ta --roles admin)
	ADMIN_B=$(it_mint --sub admin-b --tenant tb --roles admin)
	USER_B=$(it_mint --sub user-b --tenant tb --roles user)
	OPER_A=$(it_mint --sub oper-a --tenant ta --roles operator)
	USER_A=$(it_mint --sub user-a --tenant ta --roles user)
	PLATFORM=$(it_mint --sub root --tenant ops --roles platform_admin)
}

# --- MCP conformance suite (@modelcontextprotocol/conformance, tests/node) --------

CONFORMANCE_CLI=$top_srcdir/tests/node/node_modules/@modelcontextprotocol/conformance/dist/index.js
CONFORMANCE_REQUIREMENTS=2025-11-25

# it_conformance_gateway KIND WORKERS: the stack a conformance run through
# the gateway needs: the stores, the gateway (serve with WORKERS responders,
# lighttpd), a user's token added by two loopback authproxies ($VIRTUAL to
# /servers/conformance/mcp, $OWN to /mcp; the suite sends no Authorization,
# and its dns-rebinding scenario sends their origins, which are allowed),
# and the fixture tests/node/KIND.mjs registered as server `conformance`.
it_conformance_gateway() {
	local kind=$1 workers=$2 token_file admin fixture
	[ -f "$CONFORMANCE_CLI" ] || it_fatal "the conformance suite is installed ($CONFORMANCE_CLI; run scripts/check)"
	UPSTREAM_ALLOWED_NETWORKS=${UPSTREAM_ALLOWED_NETWORKS-127.0.0.0/8}
	it_start_stores
	it_setup_gateway
	token_file=$IT_DIR/proxy.token
	(umask 077 && it_mint --sub conf-user --tenant tc --roles user --ttl 3600 >"$token_file")
	VIRTUAL=$(it_start_upstream authproxy --target "$MCP/servers/conformance" --ca-file "$CA" \
		--token-file "$token_file") || it_fatal "authproxy to the virtual server starts"
	OWN=$(it_start_upstream authproxy --target "$MCP" --ca-file "$CA" --token-file "$token_file") ||
		it_fatal "authproxy to /mcp starts"
	export MCPGW_SECURITY_ALLOWED_ORIGINS="${VIRTUAL%/mcp},${OWN%/mcp}"
	it_start_serve "$workers"
	it_start_lighttpd "$FCGI_SOCKET"
	fixture=$(it_start_upstream "$kind") || it_fatal "the conformance fixture $kind starts"
	admin=$(it_mint --sub conf-admin --tenant tc --roles admin)
	http POST "$API/api/v1/servers" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
		--data "{\"name\":\"conformance\",\"url\":\"$fixture\",\"timeout_ms\":15000}"
	check "the conformance fixture ($kind) registers as server conformance" eval '[ "$HTTP_CODE" = 201 ]'
	TOKEN_FILE=$token_file
}

# it_conformance LABEL URL: `conformance server --requirements` against the MCP
# endpoint URL, bounded by CONFORMANCE_TIMEOUT seconds (default 60) and 10 s a
# scenario (the fixture needs well under one). One ok/not ok line per server
# scenario the revision requires and, unless CONFORMANCE_UNSCORED=0, per
# server scenario the suite runs without scoring it; then a summary. The
# suite's own results (checks.json per scenario) stay in $IT_DIR/conformance-LABEL.
# CONFORMANCE_SCENARIOS="a b": run only these (each a required one).
# CONFORMANCE_EXPECTED=FILE: lines "scenario: why it cannot pass here"; such a
# scenario failing is ok (and not counted), passing is not ok (stale baseline).
it_conformance() {
	local label=$1 url=$2 out=$IT_DIR/conformance-$1 list required unscored= note name mark p f rc start secs passed=0 total=0
	local expected=${CONFORMANCE_EXPECTED:-/dev/null} reason nexp=0
	list=$("$IT_NODE" "$CONFORMANCE_CLI" list --server --requirements "$CONFORMANCE_REQUIREMENTS")
	required=$(sed -n '/^Server scenarios/,/^$/s/^ *- //p' <<<"$list")
	[ -n "$required" ] || { not_ok "$label: conformance list names the required server scenarios"; return 1; }
	[ "${CONFORMANCE_UNSCORED:-1}" = 0 ] || [ -n "${CONFORMANCE_SCENARIOS:-}" ] ||
		unscored=$(sed -n '/^Run and reported/,$s/^ *- \([a-z0-9/-]*\) \[server\]$/\1/p' <<<"$list")
	start=$(date +%s)
	if [ -n "${CONFORMANCE_SCENARIOS:-}" ]; then
		# Only these, one run each (each of them must be one the revision requires).
		for name in $CONFORMANCE_SCENARIOS; do
			grep -qx -- "$name" <<<"$required" || not_ok "$label: $name is a scenario $CONFORMANCE_REQUIREMENTS requires"
		done
		required=$CONFORMANCE_SCENARIOS
		rc=0
		: >"$out.log"
		: >"$out.summary"
		for name in $CONFORMANCE_SCENARIOS; do
			timeout "${CONFORMANCE_TIMEOUT:-60}" "$IT_NODE" "$CONFORMANCE_CLI" server --url "$url" \
				--scenario "$name" --timeout 10000 -o "$out" >"$out.one" 2>&1 || rc=$?
			cat "$out.one" >>"$out.log"
			# One scenario ends with "Passed: P/T, F failed".
			sed 's/\x1b\[[0-9;]*m//g' "$out.one" |
				sed -n "s|^Passed: \([0-9]*\)/[0-9]*, \([0-9]*\) failed.*|$name \1 \2|p" |
				awk '{ print $1, ($3 == 0 ? "✓" : "✗"), $2, $3 }' >>"$out.summary"
		done
	else
		timeout "${CONFORMANCE_TIMEOUT:-60}" "$IT_NODE" "$CONFORMANCE_CLI" server --url "$url" \
			--requirements "$CONFORMANCE_REQUIREMENTS" --timeout 10000 -o "$out" >"$out.log" 2>&1
		rc=$?
	fi
	secs=$(($(date +%s) - start))
	# The summary holds one line per scenario: "✓ NAME: P passed, F failed" (✗ when failing).
	[ -n "${CONFORMANCE_SCENARIOS:-}" ] ||
	sed 's/\x1b\[[0-9;]*m//g' "$out.log" | sed -n '/^=== SUMMARY/,$s/^\([^ ]*\) \([a-z0-9/-]*\): \([0-9]*\) passed, \([0-9]*\) failed$/\2 \1 \3 \4/p' >"$out.summary"
	# The suite accepts any text block, so a call that failed with isError (an
	# unknown tool, say) would pass tools-call-*: only tools-call-error may.
	"$IT_NODE" -e 'const fs = require("fs"), d = process.argv[1];
		for (const s of fs.readdirSync(d)) {
			const n = (s.match(/^server-(.*)-\d{4}-\d\d-\d\dT/) || [])[1];
			if (!n || n === "tools-call-error" || !fs.existsSync(`${d}/${s}/checks.json`)) continue;
			if (JSON.parse(fs.readFileSync(`${d}/${s}/checks.json`, "utf8")).some((c) => c.details?.result?.isError === true))
				console.log(n);
		}' "$out" >"$out.iserror" 2>&1
	for name in $required $unscored; do
		total=$((total + 1))
		note=
		case " $(echo $unscored) " in *" $name "*) note=", not scored for $CONFORMANCE_REQUIREMENTS" ;; esac
		read -r mark p f < <(sed -n "s|^$name ||p" "$out.summary")
		if grep -qx -- "$name" "$out.iserror"; then
			not_ok "$label: conformance $name (passed the suite, but its tool call answered isError$note)"
		elif [ "${mark:-}" = "✓" ] && [ "${f:-1}" = 0 ]; then
			passed=$((passed + 1))
			if grep -q "^$name:" "$expected"; then
				not_ok "$label: conformance $name passes: take it out of $(basename "$expected")"
			else
				ok "$label: conformance $name ($p checks$note)"
			fi
		elif reason=$(sed -n "s|^$name: *||p" "$expected") && [ -n "$reason" ]; then
			total=$((total - 1)) nexp=$((nexp + 1))
			ok "$label: conformance $name fails as expected (${p:-0} passed, ${f:-?} failed): $reason"
		else
			if [ -z "${mark:-}" ]; then
				not_ok "$label: conformance $name (not run$note)"
			else
				not_ok "$label: conformance $name ($p passed, $f failed$note)"
			fi
			"$IT_NODE" -e 'const fs = require("fs"), d = process.argv[1], n = process.argv[2];
				for (const s of fs.readdirSync(d).filter((e) => e.startsWith(`server-${n.replace(/\//g, "-")}-`)))
					for (const c of JSON.parse(fs.readFileSync(`${d}/${s}/checks.json`, "utf8")))
						if (c.status === "FAILURE") console.log(`${c.id}: ${c.errorMessage ?? ""}`);' "$out" "$name" 2>&1 | head -n 10 | diag
		fi
	done
	[ "$rc" -eq 124 ] && not_ok "$label: the conformance suite finished within ${CONFORMANCE_TIMEOUT:-60} s"
	echo "# $label: $passed/$total conformance server scenarios passed, $nexp failed as expected ($(echo $required | wc -w) required by $CONFORMANCE_REQUIREMENTS, $(echo $unscored | wc -w) not scored) in ${secs}s (suite exit $rc)"
	[ "$passed" -eq "$total" ]
}
