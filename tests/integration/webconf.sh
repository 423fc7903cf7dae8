#!/usr/bin/env bash
# The shipped web server configurations with a bare libfcgi responder
# (bench/hello.c) behind them: loopback only, plane per listener, Authorization
# passed, bodies limited, SSE not buffered. Independent of the gateway's code.
. "$(dirname "$0")/lib.sh"

cc -O2 -o "$IT_DIR/hello" "$top_srcdir/bench/hello.c" -lfcgi 2>"$IT_DIR/cc.log" ||
	{ diag <"$IT_DIR/cc.log"; it_fatal "build bench/hello.c"; }
make_certs "$IT_DIR/certs" || it_fatal "make certificates"
CERT=$IT_DIR/certs/tls.crt KEY=$IT_DIR/certs/tls.key
BODY_MAX=32768
# The web servers limit bodies themselves (in front of the gateway's own limit).
WEB_BODY_MAX=$BODY_MAX
FCGI_SOCKET=$IT_DIR/hello.sock
it_cleanup_add stop_by_pidfile "$IT_DIR/hello.pid"
spawn-fcgi -s "$FCGI_SOCKET" -M 0666 -F 2 -P "$IT_DIR/hello.pid" -- "$IT_DIR/hello" >/dev/null ||
	it_fatal "spawn-fcgi starts the hello responder"
echo x >"$IT_DIR/gateway.conf" && chmod 644 "$IT_DIR/gateway.conf"
CONF=$IT_DIR/gateway.conf
GATEWAY=$IT_DIR/hello

# sse_gap_ms URL: milliseconds between the arrival of the two events of /stream.
sse_gap_ms() {
	curl -sS -N --max-time 10 --cacert "$IT_DIR/certs/ca.pem" "$1" | while IFS= read -r line; do
		case $line in data:*) echo "$(date +%s%N)" ;; esac
	done >"$IT_DIR/sse.times"
	[ "$(wc -l <"$IT_DIR/sse.times")" -eq 2 ] || { echo -1; return; }
	echo $((($(sed -n 2p "$IT_DIR/sse.times") - $(sed -n 1p "$IT_DIR/sse.times")) / 1000000))
}

webconf_cases() {
	local l=$1 gap port
	for port in "$API_PORT" "$MCP_PORT"; do
		ss -Hltn "( sport = :$port )" | awk '{print $4}' >"$IT_DIR/listen"
		check "$l: port $port listens on 127.0.0.1 only" \
			eval '[ -s "$IT_DIR/listen" ] && ! grep -vq "^127.0.0.1:$port\$" "$IT_DIR/listen"'
	done
	http GET "$API/env" -H 'Authorization: Bearer it-token-123'
	check "$l: api listener sets MCPGW_PLANE=api" body_has '^plane=api$'
	check "$l: Authorization reaches the responder" body_has '^authorization=Bearer it-token-123$'
	http GET "$MCP/env?q=1"
	check "$l: mcp listener sets MCPGW_PLANE=mcp" body_has '^plane=mcp$'
	check "$l: REQUEST_URI is the full request path" body_has '^request_uri=/env\?q=1$'
	head -c 20000 /dev/zero | tr '\0' x >"$IT_DIR/small"
	http POST "$API/body" --data-binary "@$IT_DIR/small"
	check "$l: a 20000-byte body reaches the responder whole" body_has '^body=20000$'
	head -c $((BODY_MAX + 1)) /dev/zero | tr '\0' x >"$IT_DIR/big"
	http POST "$API/body" -H 'Expect: 100-continue' --data-binary "@$IT_DIR/big"
	check "$l: a body over the web server's limit ($BODY_MAX) is 413" eval '[ "$HTTP_CODE" = 413 ]'
	gap=$(sse_gap_ms "$MCP/stream")
	check "$l: SSE events are not buffered (second event ${gap} ms after the first)" \
		eval '[ "$gap" -ge 700 ]'
}

API_PORT=$(free_port) MCP_PORT=$(free_port)
API=https://127.0.0.1:$API_PORT MCP=https://127.0.0.1:$MCP_PORT
conf=$(lighttpd_render "$IT_DIR/lighttpd" API_PORT="$API_PORT" MCP_PORT="$MCP_PORT" \
	CERT_PEM="$IT_DIR/certs/tls.pem" FCGI_SOCKET="$FCGI_SOCKET" \
	BODY_MAX_KB="$(body_max_kb "$WEB_BODY_MAX")") || it_fatal "render lighttpd.conf"
it_cleanup_add stop_by_pidfile "$IT_DIR/lighttpd/lighttpd.pid"
lighttpd_start "$conf" >"$IT_DIR/lighttpd-start.log" 2>&1 || it_fatal "lighttpd starts"
webconf_cases "lighttpd"

for variant in proxy_fcgi fcgid; do
	API_PORT=$(free_port) MCP_PORT=$(free_port)
	API=https://127.0.0.1:$API_PORT MCP=https://127.0.0.1:$MCP_PORT
	it_start_apache "$variant" "$IT_DIR/apache-$variant"
	webconf_cases "apache $variant"
	stop_by_pidfile "$IT_DIR/apache-$variant/apache.pid"
done
http GET "$API/env" --max-time 2
check "fcgid: stopping Apache stops the responders it started" \
	eval '! pgrep -f "^$IT_DIR/hello fcgi" >/dev/null'
