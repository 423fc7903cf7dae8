#!/usr/bin/env bash
# The MCP conformance suite's server scenarios of 2026-07-28 (the stateless
# revision) against the gateway through lighttpd, beside the 2025-11-25 run of
# conformance_gateway.sh: a fixture written with the official v2 server
# package (tests/node/conformance26.mjs, reached by the gateway in 2025-11-25)
# registered as server `conformance` and called through its virtual endpoint
# /servers/conformance/mcp (every scenario passes but those of the baseline,
# each with its reason), and the gateway's own /mcp for the scenarios it
# answers itself. The suite sends no Authorization header: tests/node/authproxy.mjs
# adds a user's token.
. "$(dirname "$0")/lib.sh"

CONFORMANCE_REQUIREMENTS=2026-07-28
it_conformance_gateway conformance26 4

CONFORMANCE_TIMEOUT=300 CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-stateless-virtual.txt \
	it_conformance gateway-stateless-virtual "$VIRTUAL"
CONFORMANCE_EXPECTED=$top_srcdir/tests/conformance/expected-failures-stateless-mcp.txt \
CONFORMANCE_SCENARIOS="server-stateless tools-list dns-rebinding-protection caching" \
	it_conformance gateway-stateless-mcp "$OWN"
it_check_sanitizer_logs
