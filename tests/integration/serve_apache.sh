#!/usr/bin/env bash
# `mcp-gateway serve` behind Apache mod_proxy_fcgi (workers run as www-data) over real HTTPS.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_setup_gateway
it_start_serve 2
it_start_apache proxy_fcgi

it_check_http_contract "serve+apache proxy_fcgi"
it_check_planes "serve+apache proxy_fcgi"
it_check_sanitizer_logs
