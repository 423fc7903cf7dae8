#!/usr/bin/env bash
# What the benches share: CPU pinning and a private gateway stack (Redis,
# PostgreSQL, TLS, development issuer, configuration, migrations) under $T.
# Sourced after scripts/lib.sh.

# bench_init: $BIN built and wrk present, CPU pinning (CLIENT and SERVER
# command prefixes and a PINNING sentence), and the bench's folder $T.
# PIN=split (the default): the client on CPU 0, the server side on CPU 1;
# PIN=none: nothing pinned, client and server share every CPU as one
# deployment on this machine would.
bench_init() {
	[ -x "$BIN" ] || gw_die "$BIN not built (run: autoreconf -fi && ./configure && make)"
	command -v wrk >/dev/null || gw_die "wrk is not installed (apt-get install wrk)"
	case ${PIN:-split} in
	split | none) ;;
	*) gw_die "PIN must be split or none, not $PIN" ;;
	esac
	if [ "${PIN:-split}" = none ]; then
		CLIENT=() SERVER=() PINNING="nothing pinned: client, lighttpd, responders, Redis, PostgreSQL share all $(nproc) CPUs"
	elif [ "$(nproc)" -ge 2 ]; then
		CLIENT=(taskset -c 0) SERVER=(taskset -c 1) PINNING="wrk on CPU 0; lighttpd, responders, Redis, PostgreSQL on CPU 1"
	else
		CLIENT=() SERVER=() PINNING="one CPU: no pinning (client and server share it)"
	fi
	T=$(mktemp -d /tmp/mcpgw-bench.XXXXXX)
	chmod 755 "$T"
}

# bench_stack: in $T (made by bench_init) the stores and a gateway
# configuration whose responders run as the service user, as scripts/up runs
# them. Sets API_PORT MCP_PORT REDIS_URL PG_DSN CERT KEY CA CONF FCGI_SOCKET
# AUDIENCE.
bench_stack() {
	ensure_service_user || gw_die "cannot create the service user $GW_SERVICE_USER"
	make_certs "$T/certs"
	API_PORT=$(free_port) MCP_PORT=$(free_port)
	# REDIS_SOCKET=unix (the default): the responders and the monitor reach
	# Redis through its Unix socket, as a host with everything local would;
	# REDIS_SOCKET=tcp: through 127.0.0.1.
	case ${REDIS_SOCKET:=unix} in
	unix | tcp) ;;
	*) gw_die "REDIS_SOCKET must be unix or tcp, not $REDIS_SOCKET" ;;
	esac
	"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; redis_start '$T/redis' $(free_port) \
		$([ "$REDIS_SOCKET" = unix ] && echo "'$GW_SERVICE_USER'")" || gw_die "redis did not start"
	if [ "$REDIS_SOCKET" = unix ]; then
		REDIS_URL=$(redis_unix_url "$T/redis")
	else
		REDIS_URL=$(redis_url "$T/redis")
	fi
	"${SERVER[@]}" bash -c ". '$GW_ROOT/scripts/lib.sh'; pg_start '$T/pg' $(free_port) mcpgw" >/dev/null ||
		gw_die "postgres did not start"
	PG_DSN=$(pg_dsn "$T/pg" mcpgw)
	CERT=$T/certs/tls.crt KEY=$T/certs/tls.key CA=$T/certs/ca.pem
	DEV_KEY=$T/dev-issuer.pem JWKS_FILE=$T/dev-jwks.json
	make_dev_issuer_key "$DEV_KEY"
	FLEET_KEY=$T/fleet.key
	make_secret "$FLEET_KEY" && secure_file "$FLEET_KEY" "$GW_SERVICE_USER"
	SECRET_KEY_FILE=$T/secret.key
	make_secret "$SECRET_KEY_FILE" 32 && secure_file "$SECRET_KEY_FILE" "$GW_SERVICE_USER"
	CONF=$T/gateway.conf
	FCGI_SOCKET=$T/gw.sock
	AUDIENCE=${AUDIENCE:-mcp-registry-gateway}
	SERVE_USER=$GW_SERVICE_USER SOCKET_GROUP=$GW_WEB_GROUP
	gateway_conf >"$CONF" && secure_file "$CONF" "$GW_SERVICE_USER"
	"$BIN" jwks --config "$CONF" >"$JWKS_FILE"
	"$BIN" migrate --config "$CONF" --dir "$GW_ROOT/migrations" >/dev/null 2>&1 || gw_die "migrate failed"
}

# bench_cleanup: stop what bench_stack and the bench started under $T.
bench_cleanup() {
	stop_by_pidfile "$T/lighttpd/lighttpd.pid"
	serve_stop "$T/serve.pid"
	redis_stop "$T/redis"
	pg_stop "$T/pg" --remove
	rm -rf "$T"
}

# bench_cpu: CPU time (user + system, clock ticks) so far of each server-side
# program of this bench, one "command ticks" line each: the processes whose
# command line or working directory lies under $T and their children (the
# responders, PostgreSQL's backends). Two readings around a load run give the
# server's CPU per call, which a shared machine disturbs far less than it
# disturbs latency.
bench_cpu() (
	set +e +o pipefail
	local p pids=()
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; readlink "$p/cwd"; } 2>/dev/null | grep -q "$T" && pids+=("${p#/proc/}")
	done
	for p in "${pids[@]}" $(for p in "${pids[@]}"; do pgrep -P "$p"; done); do
		# utime and stime: fields 14 and 15, counted after the ") " that ends the command name
		awk -v p="$p" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' "/proc/$p/stat" 2>/dev/null
	done | sort -u -k1,1n | while read -r p t; do
		echo "$(cat "/proc/$p/comm" 2>/dev/null) $t"
	done | awk '$1 != "" { s[$1] += $2 } END { for (k in s) print k, s[k] }' | sort
)

# bench_cpu_per_call BEFORE AFTER CALLS: microseconds of CPU per call for
# each program between two bench_cpu readings, and their total.
bench_cpu_per_call() {
	local hz
	hz=$(getconf CLK_TCK)
	join "$1" "$2" | awk -v n="$3" -v hz="$hz" '{ d = ($3 - $2) * 1e6 / hz / n; tot += d; printf "%s %.0f, ", $1, d }
		END { printf "total %.0f µs per call\n", tot }'
}
