# Shell helpers shared by scripts/up, scripts/down, scripts/check, bench/ and
# tests/integration: packages, build, ports, private PostgreSQL/Redis, TLS, web servers.
# Source it; it defines functions only (and GW_ROOT, the top of the source tree).

GW_ROOT=${GW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Debian packages the build, the tests and the local stack need.
GW_PACKAGES=(build-essential autoconf automake libtool pkg-config git
	libfcgi-dev libhiredis-dev libpq-dev libjson-c-dev libjwt-dev libssl-dev
	libcurl4-openssl-dev libcriterion-dev apache2 libapache2-mod-fcgid lighttpd
	lighttpd-mod-openssl spawn-fcgi redis-server postgresql wrk openssl curl
	ca-certificates procps iproute2 util-linux socat redis-sentinel
	man-db groff-base)
GW_PACKAGES+=(jq) # integration tests read JSON answers
# Prometheus' own text parser checks /metrics in the tests.
GW_PACKAGES+=(python3 python3-prometheus-client)


# Least privilege: responders run as GW_SERVICE_USER (created on demand), the
# web servers' workers as GW_WEB_USER, which alone (by group) may use the socket.
GW_SERVICE_USER=${GW_SERVICE_USER:-mcpgw}
GW_WEB_USER=${GW_WEB_USER:-www-data}
GW_WEB_GROUP=${GW_WEB_GROUP:-www-data}

gw_log() { printf '%s\n' "$*" >&2; }
gw_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# wait_until SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_until() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@" >/dev/null 2>&1
}

# ensure_packages [PKG...]: install what is missing (default: GW_PACKAGES).
# Daemons are not started by package scripts (policy-rc.d), we run our own.
ensure_packages() {
	local pkgs=("$@") missing=() p policy=/usr/sbin/policy-rc.d made_policy=
	[ ${#pkgs[@]} -gt 0 ] || pkgs=("${GW_PACKAGES[@]}")
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || gw_die "missing packages (run as root to install): ${missing[*]}"
	gw_log "installing: ${missing[*]}"
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	if [ -z "${_GW_APT_UPDATED:-}" ]; then
		apt-get update || { [ -n "$made_policy" ] && rm -f "$policy"; return 1; }
		_GW_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
	local rc=$?
	[ -n "$made_policy" ] && rm -f "$policy"
	return $rc
}

# ensure_node [DIR]: Node 22 and the official MCP SDK for the test upstreams,
# installed by npm from the committed DIR/package-lock.json (default
# tests/node) into DIR/node_modules (ignored by git); Debian's npm only when
# npm is missing. Reinstalls when the lock file is newer than the install.
ensure_node() {
	local dir=${1:-$GW_ROOT/tests/node}
	if [ -x "$dir/node_modules/node/bin/node" ] &&
		[ -d "$dir/node_modules/@modelcontextprotocol/sdk" ] &&
		[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || ensure_packages npm || return 1
	gw_log "installing the test upstreams' Node packages in $dir"
	(cd "$dir" && npm ci --no-audit --no-fund) >&2 || return 1
	[ -x "$dir/node_modules/node/bin/node" ] || gw_die "npm ci left no node binary in $dir/node_modules/node/bin"
}

# ensure_service_user: the unprivileged system user (and group) of the responders.
# Retried: another useradd may hold /etc/passwd's lock at the same moment.
ensure_service_user() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		id -u "$GW_SERVICE_USER" >/dev/null 2>&1 && return 0
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$GW_SERVICE_USER" 2>/dev/null && return 0
		sleep 0.5
	done
	id -u "$GW_SERVICE_USER" >/dev/null 2>&1 || { gw_log "cannot create user $GW_SERVICE_USER"; return 1; }
}

# secure_file FILE GROUP: readable by root and GROUP only (credentials, keys).
secure_file() { chown "root:$2" "$1" && chmod 640 "$1"; }

# build [SRCDIR [CONFIGURE-ARGS...]]: autoreconf, configure and make, each only when needed.
build() {
	local dir=${1:-$GW_ROOT}
	[ $# -gt 0 ] && shift
	(
		cd "$dir" || exit 1
		if [ ! -x configure ] || [ ! -f Makefile.in ]; then
			autoreconf -fi || exit 1
		fi
		if [ ! -f Makefile ] || [ ! -f config.status ]; then
			./configure "$@" || exit 1
		fi
		make -j2
	)
}

port_in_use() { ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }
port_listening() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }

# port_held_by PORT PIDFILE: the process of PIDFILE listens on PORT.
port_held_by() {
	local pid
	pidfile_alive "$2" || return 1
	pid=$(grep -Eo '^[0-9]+' "$2" | head -n1)
	ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep -q "pid=$pid,"
}

# port_user PORT: the program listening on PORT, as ss names it.
port_user() { ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep -o '(("[^)]*' | head -n1 | tr -d '("'; }

# free_port: an unused TCP port on loopback, never 8000/8001.
free_port() {
	local p i
	for i in $(seq 1 500); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$p" || { echo "$p"; return 0; }
	done
	return 1
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	[ -n "$1" ] && [ "$1" -gt 1 ] 2>/dev/null || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	return 0
}

# pidfile_alive FILE: some pid listed in FILE is running.
pidfile_alive() {
	local pid
	[ -f "$1" ] || return 1
	for pid in $(grep -Eo '^[0-9]+' "$1"); do pid_alive "$pid" && return 0; done
	return 1
}

# stop_by_pidfile FILE [TIMEOUT=10] [SIGNAL=TERM]: signal every pid in FILE (one a
# line), wait for them to exit, SIGKILL what is left, remove FILE.
stop_by_pidfile() {
	local f=$1 timeout=${2:-10} sig=${3:-TERM} pids=() pid t
	[ -f "$f" ] || return 0
	for pid in $(grep -Eo '^[0-9]+' "$f"); do
		[ "$pid" -gt 1 ] && [ "$pid" != $$ ] && pid_alive "$pid" && pids+=("$pid")
	done
	for pid in "${pids[@]}"; do kill "-$sig" "$pid" 2>/dev/null; done
	for ((t = 0; t < timeout * 10; t++)); do
		local left=0
		for pid in "${pids[@]}"; do pid_alive "$pid" && left=1; done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		pid_alive "$pid" && { gw_log "pid $pid ($f) did not stop, SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
	done
	rm -f "$f"
}

# --- PostgreSQL ------------------------------------------------------------

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

# pg_start STATE_DIR PORT DBNAME: a private cluster owned by postgres, on
# 127.0.0.1:PORT; the data directory is STATE_DIR/pgdata, or a private
# directory under /tmp when postgres cannot reach STATE_DIR. Idempotent.
# Records STATE_DIR/pg.datadir and STATE_DIR/pg.port.
pg_start() {
	local state=$1 port=$2 db=$3 bin data sock
	bin=$(pg_bindir)
	[ -n "$bin" ] || gw_die "PostgreSQL binaries not found under /usr/lib/postgresql"
	mkdir -p "$state"
	if [ -f "$state/pg.datadir" ] && [ -d "$(cat "$state/pg.datadir")" ]; then
		data=$(cat "$state/pg.datadir")
	else
		data=$state/pgdata
		mkdir -p "$data" && chown postgres:postgres "$data" && chmod 700 "$data"
		if [ ${#data} -gt 80 ] || ! runuser -u postgres -- test -w "$data" 2>/dev/null; then
			rmdir "$data" 2>/dev/null
			data=$(mktemp -d /tmp/mcpgw-pg.XXXXXX)/data
			mkdir -p "$data" && chown postgres:postgres "$data" "$(dirname "$data")" && chmod 700 "$data"
			gw_log "postgres cannot use $state; data directory is $data"
		fi
		echo "$data" >"$state/pg.datadir"
	fi
	sock=$data
	if [ ! -f "$data/PG_VERSION" ]; then
		runuser -u postgres -- "$bin/initdb" -D "$data" -A trust -U postgres \
			-E UTF8 --no-locale --no-sync >"$state/initdb.log" 2>&1 ||
			{ cat "$state/initdb.log" >&2; return 1; }
	fi
	if runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		port=$(cat "$state/pg.port" 2>/dev/null || echo "$port")
	else
		runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/postgres.log" -w -t 30 \
			-o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c max_connections=${GW_PG_MAX_CONNECTIONS:-600} -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
			start >/dev/null || { tail -n 20 "$data/postgres.log" >&2; return 1; }
		echo "$port" >"$state/pg.port"
	fi
	pg_lock_host "$state" "$data" "$port" || return 1
	if ! "$bin/psql" -X -h "$sock" -p "$port" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
		"$bin/createdb" -h "$sock" -p "$port" -U postgres "$db" || return 1
	fi
}

# pg_lock_host STATE_DIR DATA PORT: every local user can reach 127.0.0.1, so a
# TCP login needs the password in STATE_DIR/pg.secret (made once, 0600 root);
# only the Unix socket in DATA (mode 0700, postgres) stays trusted, for root
# and postgres. Also converts a cluster made before this rule. Idempotent.
pg_lock_host() {
	local state=$1 data=$2 port=$3 bin hba
	bin=$(pg_bindir)
	make_secret "$state/pg.secret" 24 || return 1
	# The password goes through stdin: never on a command line.
	printf "ALTER ROLE postgres PASSWORD '%s';\n" "$(cat "$state/pg.secret")" |
		"$bin/psql" -X -q -h "$data" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -f - >/dev/null ||
		return 1
	hba=$data/pg_hba.conf
	if grep -Eq '^[[:space:]]*host.*[[:space:]]trust[[:space:]]*$' "$hba"; then
		printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 scram-sha-256" \
			"host all all ::1/128 scram-sha-256" >"$hba.tmp" &&
			chown postgres:postgres "$hba.tmp" && chmod 600 "$hba.tmp" && mv "$hba.tmp" "$hba" || return 1
		"$bin/psql" -X -q -h "$data" -p "$port" -U postgres -d postgres -tAc 'SELECT pg_reload_conf()' >/dev/null ||
			return 1
	fi
}

# pg_dsn STATE_DIR DBNAME: holds the password, like redis_url.
pg_dsn() {
	echo "host=127.0.0.1 port=$(cat "$1/pg.port") dbname=$2 user=postgres password=$(cat "$1/pg.secret") connect_timeout=5"
}

# pg_stop STATE_DIR [--remove]: fast shutdown through the cluster's pid file.
pg_stop() {
	local state=$1 data bin
	[ -f "$state/pg.datadir" ] || return 0
	data=$(cat "$state/pg.datadir")
	bin=$(pg_bindir)
	if [ -f "$data/postmaster.pid" ]; then
		runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			kill -INT "$(head -n1 "$data/postmaster.pid")" 2>/dev/null
	fi
	if [ "${2:-}" = --remove ]; then
		case $data in /tmp/mcpgw-pg.*/data) rm -rf "$(dirname "$data")" ;; *) rm -rf "$data" ;; esac
		rm -f "$state/pg.datadir" "$state/pg.port"
	fi
}

# --- Redis -------------------------------------------------------------------

# make_secret FILE [BYTES=32]: FILE (mode 0600) holding BYTES random bytes as
# hex; an existing FILE is kept, so that a second run changes nothing.
make_secret() {
	[ -s "$1" ] && return 0
	(umask 077 && openssl rand -hex "${2:-32}" >"$1.tmp" && mv "$1.tmp" "$1")
}

# redis_start DIR PORT: daemonized, loopback only, no persistence, and only for
# clients with the password in DIR/redis.secret (made once, 0600). The server
# reads it from DIR/redis.conf (0600), never from its command line, which every
# local user can read. DIR/redis.pid, DIR/redis.port.
# A third argument GROUP also opens the Unix socket DIR/redis.sock, for its
# owner and GROUP only (the password is still required on it).
redis_start() {
	local dir=$1 port=$2 group=${3:-}
	mkdir -p "$dir"
	make_secret "$dir/redis.secret" 24 || return 1
	if pidfile_alive "$dir/redis.pid"; then
		# One started without a password (by an older scripts/up) is started
		# again with one: nothing in it persists.
		redis_cli "$dir" ping 2>&1 | grep -q 'without any password' || return 0
		redis_stop "$dir"
	fi
	(umask 077 && printf 'requirepass %s\n' "$(cat "$dir/redis.secret")" >"$dir/redis.conf") || return 1
	local unix=()
	[ -z "$group" ] || unix=(--unixsocket "$dir/redis.sock" --unixsocketperm 770)
	redis-server "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --daemonize yes \
		--pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" \
		--save '' --appendonly no "${unix[@]}" >/dev/null || return 1
	echo "$port" >"$dir/redis.port"
	wait_until 10 redis_ping "$dir" || { tail -n 20 "$dir/redis.log" >&2; return 1; }
	[ -z "$group" ] || chgrp "$group" "$dir/redis.sock"
}

# redis_cli DIR ARGS...: redis-cli to the Redis of DIR, the password passed in
# the environment (REDISCLI_AUTH), not on the command line.
redis_cli() {
	local dir=$1
	shift
	REDISCLI_AUTH=$(cat "$dir/redis.secret") redis-cli -h 127.0.0.1 -p "$(cat "$dir/redis.port")" "$@"
}

redis_ping() { [ "$(redis_cli "$1" ping 2>/dev/null)" = PONG ]; }

# redis_url DIR: redis.url for the Redis of DIR. It holds the password: a file
# it goes into is readable by its owner (and the web server's group) only.
redis_url() { printf 'redis://:%s@127.0.0.1:%s/0\n' "$(cat "$1/redis.secret")" "$(cat "$1/redis.port")"; }
# redis_unix_url DIR: the same Redis through its Unix socket (redis_start with a group).
redis_unix_url() { printf 'unix://:%s@%s/redis.sock?db=0\n' "$(cat "$1/redis.secret")" "$1"; }

redis_stop() { stop_by_pidfile "$1/redis.pid" 10; }

# redis_replica_start DIR PORT PRIMARY_DIR: like redis_start, replicating the
# Redis of PRIMARY_DIR with its password (masterauth), and asking the same one
# of its own clients, so that it can take over as primary after a failover.
redis_replica_start() {
	local dir=$1 port=$2 primary=$3 pw
	mkdir -p "$dir"
	pw=$(cat "$primary/redis.secret") || return 1
	(umask 077 && printf '%s\n' "$pw" >"$dir/redis.secret" &&
		printf 'requirepass %s\nmasterauth %s\nreplicaof 127.0.0.1 %s\n' "$pw" "$pw" \
			"$(cat "$primary/redis.port")" >"$dir/redis.conf") || return 1
	redis-server "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --daemonize yes \
		--pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" \
		--save '' --appendonly no >/dev/null || return 1
	echo "$port" >"$dir/redis.port"
	wait_until 10 redis_ping "$dir" || { tail -n 20 "$dir/redis.log" >&2; return 1; }
}

# sentinel_start DIR PORT NAME PRIMARY_DIR [DOWN_AFTER_MS=1000]: one redis-sentinel
# (quorum 1) watching the Redis of PRIMARY_DIR as NAME, with its password;
# the sentinel itself asks none. DIR/redis.pid.
sentinel_start() {
	local dir=$1 port=$2 name=$3 primary down=${5:-1000}
	primary=$(cat "$4/redis.port") || return 1
	mkdir -p "$dir"
	: >"$dir/redis.secret"
	echo "$port" >"$dir/redis.port"
	# Sentinel rewrites its configuration file: it must be its own, writable.
	cat >"$dir/sentinel.conf" <<-EOF
		port $port
		bind 127.0.0.1
		daemonize yes
		pidfile $dir/redis.pid
		logfile $dir/sentinel.log
		dir $dir
		sentinel monitor $name 127.0.0.1 $primary 1
		sentinel down-after-milliseconds $name $down
		sentinel failover-timeout $name 2000
		sentinel parallel-syncs $name 1
		sentinel auth-pass $name $(cat "$4/redis.secret")
	EOF
	chmod 600 "$dir/sentinel.conf"
	redis-sentinel "$dir/sentinel.conf" >/dev/null || return 1
	wait_until 10 redis_ping "$dir" || { tail -n 20 "$dir/sentinel.log" >&2; return 1; }
}

# sentinel_primary_port SENTINEL_PORT NAME: the port the sentinel names as primary.
sentinel_primary_port() {
	env -u REDISCLI_AUTH redis-cli -h 127.0.0.1 -p "$1" SENTINEL get-master-addr-by-name "$2" 2>/dev/null | sed -n 2p
}

# --- TLS -----------------------------------------------------------------------

# make_certs DIR: DIR/ca.pem (the CA clients trust), DIR/tls.crt, DIR/tls.key
# (server certificate for 127.0.0.1 and localhost) and DIR/tls.pem (both, for lighttpd).
make_certs() {
	local d=$1
	mkdir -p "$d"
	[ -f "$d/tls.pem" ] && [ -f "$d/ca.pem" ] && return 0
	(
		set -e
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/ca.key" -out "$d/ca.pem" -days 825 -subj "/CN=mcp-registry-gateway local CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/tls.key" -out "$d/tls.csr" -subj "/CN=127.0.0.1" 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >"$d/tls.ext"
		openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
			-days 825 -extfile "$d/tls.ext" -out "$d/tls.crt" 2>/dev/null
		cat "$d/tls.crt" "$d/tls.key" >"$d/tls.pem"
		rm -f "$d/tls.csr" "$d/tls.ext"
		chmod 644 "$d/ca.pem" "$d/tls.crt"
	)
}

# make_dev_issuer_key FILE: RSA key of the development token issuer.
make_dev_issuer_key() {
	[ -f "$1" ] && return 0
	(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null)
}

# --- templates and configuration ------------------------------------------

# render_template IN OUT NAME=VALUE...: replace @NAME@; fails on any placeholder left.
render_template() {
	local in=$1 out=$2 kv k v args=()
	shift 2
	for kv in "$@"; do
		k=${kv%%=*}
		v=$(printf '%s' "${kv#*=}" | sed -e 's/[\\&|]/\\&/g')
		args+=(-e "s|@${k}@|${v}|g")
	done
	sed "${args[@]}" "$in" >"$out.tmp" || return 1
	if grep -n '@[A-Z][A-Z0-9_]*@' "$out.tmp" >&2; then
		rm -f "$out.tmp"
		gw_log "render_template: placeholders left in $in"
		return 1
	fi
	mv "$out.tmp" "$out"
}

# gateway_conf: print a gateway.conf from these variables (empty ones omitted):
# API_PORT MCP_PORT CERT KEY CA LOG_FILE FCGI_SOCKET WORKERS REDIS_URL PG_DSN
# DEV_KEY JWKS_FILE AUDIENCE BODY_MAX LOG_LEVEL REDIS_TIMEOUT_MS DRAIN_TIMEOUT
# UPSTREAM_ALLOWED_NETWORKS FLEET_KEY SECRET_KEY_FILE INPUT_STATE_KEY SERVE_USER SOCKET_GROUP
# REDIS_SENTINELS REDIS_MASTER_NAME
gateway_conf() {
	local kv
	_conf_kv() { [ -n "$2" ] && printf '%s = %s\n' "$1" "$2"; return 0; }
	echo "[server]"
	_conf_kv api_url "https://127.0.0.1:$API_PORT"
	_conf_kv mcp_url "https://127.0.0.1:$MCP_PORT"
	_conf_kv api_port "$API_PORT"
	_conf_kv mcp_port "$MCP_PORT"
	_conf_kv tls_cert "${CERT:-}"
	_conf_kv tls_key "${KEY:-}"
	_conf_kv ca_file "${CA:-}"
	_conf_kv log_level "${LOG_LEVEL:-info}"
	_conf_kv log_file "${LOG_FILE:-}"
	echo
	echo "[fastcgi]"
	_conf_kv socket "${FCGI_SOCKET:-}"
	_conf_kv workers "${WORKERS:-}"
	_conf_kv max_workers "${MAX_WORKERS:-}"
	_conf_kv plane both
	_conf_kv drain_timeout "${DRAIN_TIMEOUT:-}"
	_conf_kv user "${SERVE_USER:-}"
	_conf_kv socket_group "${SOCKET_GROUP:-}"
	echo
	echo "[redis]"
	_conf_kv url "$REDIS_URL"
	_conf_kv sentinels "${REDIS_SENTINELS:-}"
	_conf_kv master_name "${REDIS_MASTER_NAME:-}"
	_conf_kv prefix "mreg:"
	_conf_kv timeout_ms "${REDIS_TIMEOUT_MS:-}"
	echo
	echo "[postgres]"
	_conf_kv dsn "$PG_DSN"
	echo
	echo "[auth]"
	_conf_kv issuer "https://127.0.0.1:$API_PORT/dev-issuer"
	_conf_kv jwks_uri "${JWKS_FILE:+file://$JWKS_FILE}"
	_conf_kv audiences "${AUDIENCE:-mcp-registry-gateway}"
	_conf_kv allowed_tenants "*"
	_conf_kv role_map "platform_admin=platform_admin,admin=admin,operator=operator,auditor=auditor,user=user"
	_conf_kv dev_issuer_key "${DEV_KEY:-}"
	echo
	echo "[session]"
	_conf_kv ttl 3600
	echo
	echo "[limits]"
	_conf_kv body_max "${BODY_MAX:-}"
	if [ -n "${UPSTREAM_ALLOWED_NETWORKS:-}" ]; then
		echo
		echo "[upstream]"
		_conf_kv allowed_networks "$UPSTREAM_ALLOWED_NETWORKS"
	fi
	echo
	echo "[security]"
	_conf_kv allowed_origins "https://127.0.0.1:$API_PORT,https://127.0.0.1:$MCP_PORT"
	_conf_kv fleet_key_file "${FLEET_KEY:-}"
	_conf_kv secret_key_file "${SECRET_KEY_FILE:-}"
	_conf_kv input_state_key_file "${INPUT_STATE_KEY:-}"
}

# body_max_kb BYTES: the web server's body ceiling in KiB (at least the gateway's).
body_max_kb() { echo $((($1 + 1023) / 1024)); }

# --- processes -------------------------------------------------------------

# serve_start BIN CONFIG SOCKET PIDFILE LOGFILE WORKERS [MAX_WORKERS]: the pre-fork
# supervisor in its own session, stderr appended to LOGFILE; waits until it
# has opened SOCKET and written PIDFILE (serve itself replaces a stale socket
# and refuses one that another serve still listens on).
serve_start() {
	local bin=$1 conf=$2 sock=$3 pidf=$4 logf=$5 workers=$6 max=${7:-} pid
	if pidfile_alive "$pidf"; then return 0; fi
	rm -f "$pidf"
	setsid "$bin" serve --config "$conf" --plane both --socket "$sock" \
		--workers "$workers" ${max:+--max-workers "$max"} --pid-file "$pidf" </dev/null >>"$logf" 2>&1 &
	pid=$!
	echo "$pid" >"$pidf.launch"
	wait_until 10 eval '[ -s "$pidf" ] || ! pid_alive "$pid"'
	if ! pidfile_alive "$pidf" || ! test -S "$sock"; then
		gw_log "serve did not start on $sock; last log lines:"
		tail -n 20 "$logf" >&2
		return 1
	fi
}

# serve_reload PIDFILE LOGFILE: SIGHUP the supervisor and wait for its verdict
# in LOGFILE; on a refusal its error lines go to stderr.
serve_reload() {
	local pid log=$2 before
	pid=$(grep -Eo '^[0-9]+' "$1" | head -n1)
	before=$(wc -l <"$log" 2>/dev/null || echo 0)
	kill -HUP "$pid" || return 1
	_reload_verdict() {
		tail -n +$((before + 1)) "$log" | grep -Eo '"event":"(supervisor_reloaded|reload_failed)"' | head -n1
	}
	wait_until 20 eval '[ -n "$(_reload_verdict)" ]'
	[ "$(_reload_verdict)" = '"event":"supervisor_reloaded"' ] && return 0
	tail -n +$((before + 1)) "$log" | grep '"level":"error"' >&2
	return 1
}

# MCPGW_ variables that are not configuration overrides (set by var/env).
GW_ENV_NOT_CONFIG=" MCPGW_CONFIG MCPGW_API_URL MCPGW_MCP_URL MCPGW_CA_FILE MCPGW_ADMIN_TOKEN MCPGW_TOKEN MCPGW_PLANE "

# mcpgw_env_dump: the exported MCPGW_<SECTION>_<KEY> overrides, NAME=quoted-value, sorted.
mcpgw_env_dump() {
	local name
	for name in $(compgen -e | grep '^MCPGW_' | sort); do
		[[ $GW_ENV_NOT_CONFIG == *" $name "* ]] && continue
		printf '%s=%q\n' "$name" "${!name}"
	done
}

# mcpgw_env_restore FILE: export the overrides of FILE (from mcpgw_env_dump)
# that are not set now.
mcpgw_env_restore() {
	local line name value
	while IFS= read -r line; do
		name=${line%%=*}
		[[ $name =~ ^MCPGW_[A-Z0-9_]+$ ]] || continue
		[ -n "${!name+x}" ] && continue
		eval "value=${line#*=}"
		export "$name=$value"
	done <"$1"
}

serve_stop() { stop_by_pidfile "$1" "${2:-20}"; [ -f "$1.launch" ] && stop_by_pidfile "$1.launch" 5; return 0; }

# lighttpd_start CONF: check, start (daemonizes), wait for its pid file.
lighttpd_start() {
	local conf=$1 pidf
	pidf=$(sed -n 's/^server.pid-file *= *"\(.*\)"/\1/p' "$conf")
	pidfile_alive "$pidf" && return 0
	local out
	out=$(lighttpd -tt -f "$conf" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
	lighttpd -f "$conf" || return 1
	wait_until 10 test -s "$pidf"
}

# apache_pidfile CONF: the PidFile of CONF or of the file it includes.
apache_pidfile() {
	local f
	for f in "$1" $(sed -n 's/^Include *"\(.*\)"/\1/p' "$1"); do
		sed -n 's/^PidFile *"\(.*\)"/\1/p' "$f"
	done | head -n1
}

# apache_start CONF: a self-contained Apache (apache2 -f), pid file from the config.
apache_start() {
	local conf=$1 pidf
	pidf=$(apache_pidfile "$conf")
	pidfile_alive "$pidf" && return 0
	local out
	out=$(apache2 -t -f "$conf" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
	apache2 -f "$conf" -k start || return 1
	wait_until 10 test -s "$pidf"
}

# apache_render VARIANT DIR NAME=VALUE...: conf/apache/common.conf.in and
# conf/apache/VARIANT.conf.in into DIR (DIR is @VAR@); prints the config path.
apache_render() {
	local variant=$1 dir=$2
	shift 2
	mkdir -p "$dir/htdocs" "$dir/fcgid"
	chown "$GW_WEB_USER:$GW_WEB_GROUP" "$dir/fcgid"
	# The first value given for a name wins: callers may override the users.
	render_template "$GW_ROOT/conf/apache/common.conf.in" "$dir/apache-common.conf" VAR="$dir" "$@" \
		WEB_USER="$GW_WEB_USER" WEB_GROUP="$GW_WEB_GROUP" BIND=127.0.0.1 SERVER_NAME=127.0.0.1 &&
		render_template "$GW_ROOT/conf/apache/$variant.conf.in" "$dir/apache.conf" VAR="$dir" "$@" &&
		echo "$dir/apache.conf"
}

# lighttpd_render DIR NAME=VALUE...: conf/lighttpd/lighttpd.conf.in into DIR.
lighttpd_render() {
	local dir=$1
	shift
	mkdir -p "$dir/htdocs"
	# lighttpd opens its logs after switching to the web server's user; the
	# directory (and the configuration in it) stays root's.
	touch "$dir/lighttpd-error.log" "$dir/lighttpd-access.log" &&
		chown "$GW_WEB_USER:$GW_WEB_GROUP" "$dir/lighttpd-error.log" "$dir/lighttpd-access.log"
	render_template "$GW_ROOT/conf/lighttpd/lighttpd.conf.in" "$dir/lighttpd.conf" VAR="$dir" "$@" \
		WEB_USER="$GW_WEB_USER" WEB_GROUP="$GW_WEB_GROUP" BIND=127.0.0.1 &&
		echo "$dir/lighttpd.conf"
}

# nobody_can_run PATH: the web server's user can reach and execute PATH.
nobody_can_run() { runuser -u "$GW_WEB_USER" -- test -x "$1" 2>/dev/null; }
