#!/usr/bin/env bash
# Plane separation on both web servers at once, sharing one `serve` pool:
# management routes only on the api listener, MCP routes only on the mcp listener.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2

it_start_lighttpd "$FCGI_SOCKET"
it_check_planes "lighttpd"

# Apache on its own pair of ports, same responders.
API_PORT=$(free_port) MCP_PORT=$(free_port)
API=https://127.0.0.1:$API_PORT MCP=https://127.0.0.1:$MCP_PORT
it_start_apache proxy_fcgi
it_check_planes "apache"
it_check_sanitizer_logs
