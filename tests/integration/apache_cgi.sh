#!/usr/bin/env bash
# Apache mod_cgid running mcp-gateway as a plain CGI program (as the web server's user) over real HTTPS.
. "$(dirname "$0")/lib.sh"

it_start_stores
it_shared_log
it_setup_gateway
it_gateway_for_apache
it_start_apache cgi
# A CGI program that never answers must not stay behind: checked even when
# the HTTP cases cannot run.
trap 'it_check_apache_leaves_nothing "apache CGI"; it_cleanup' EXIT

it_check_http_contract "apache CGI"
it_check_planes "apache CGI"
it_check_sanitizer_logs
