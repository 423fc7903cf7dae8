#!/usr/bin/env bash
# Apache mod_fcgid starting `mcp-gateway fcgi` itself (as the web server's user) over real HTTPS.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_shared_log
it_setup_gateway
it_gateway_for_apache
it_start_apache fcgid

it_check_http_contract "apache mod_fcgid"
it_check_planes "apache mod_fcgid"
it_check_apache_leaves_nothing "apache mod_fcgid"
it_check_sanitizer_logs
