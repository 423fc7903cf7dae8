#!/usr/bin/env bash
# The command line: every command listed by --help answers `COMMAND --help`
# with its own usage (exit 0, nothing started, no configuration needed), and an
# MCPGW_ variable that is no configuration key is a warning naming it.
. "$(dirname "$0")/lib.sh"

it_need_gateway
commands=$("$GATEWAY" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
check "mcp-gateway --help lists the commands" eval '[ "$(wc -w <<<"$commands")" -ge 8 ]'
for cmd in $commands setup; do
	out=$(cd "$IT_DIR" && env -u MCPGW_CONFIG timeout 5 "$GATEWAY" "$cmd" --help 2>"$IT_DIR/err")
	rc=$?
	want=$cmd
	[ "$cmd" = setup ] && want=migrate
	if [ "$rc" = 0 ] && grep -q "^usage: mcp-gateway $want" <<<"$out" && [ ! -s "$IT_DIR/err" ]; then
		ok "mcp-gateway $cmd --help prints its usage (exit 0)"
	else
		not_ok "mcp-gateway $cmd --help prints its usage (exit 0; got $rc)"
		{ echo "$out"; cat "$IT_DIR/err"; } | head -n 10 | diag
	fi
done
timeout 5 "$GATEWAY" serve --help --socket "$IT_DIR/help.sock" >/dev/null 2>&1
rc=$?
check "serve --help starts nothing" eval '[ "$rc" = 0 ] && [ ! -e "$IT_DIR/help.sock" ]'

out=$(env -u MCPGW_CONFIG MCPGW_SERVER_API_PROT=9100 MCPGW_API_URL=https://x MCPGW_SESSION_TTL=120 \
	"$GATEWAY" config 2>&1 >"$IT_DIR/config.out")
rc=$?
check "an unknown MCPGW_ variable is a warning naming it (the command still runs)" \
	eval '[ "$rc" = 0 ] && grep -q "^warning: environment MCPGW_SERVER_API_PROT is not a configuration key" <<<"$out" && grep -q "^api_port = 8000" "$IT_DIR/config.out"'
check "known MCPGW_ variables raise no warning" eval '[ "$(grep -c "^warning" <<<"$out")" = 1 ]'

# An unknown gate is exit 2 with an error that names it, not a bare usage line.
out=$(env -u MCPGW_CONFIG timeout 5 "$GATEWAY" gate pre_deploy 2>&1)
rc=$?
check "gate with an unknown name exits 2 naming the gate" \
	eval '[ "$rc" = 2 ] && grep -q "^error: unknown gate '"'"'pre_deploy'"'"'" <<<"$out"'

# Every option `token --help` documents is in the command list of --help too.
summary=$("$GATEWAY" --help | sed -n '/^  token /{n;p}')
missing=
for opt in $("$GATEWAY" token --help | grep -o -- '--[a-z-]*' | sort -u); do
	grep -q -- "$opt\b" <<<"$summary" || missing="$missing $opt"
done
check "mcp-gateway --help names every option of token (missing:${missing:- none})" eval '[ -z "$missing" ]'

# Usage errors of the API commands say what is wrong before the usage.
for c in "events raise|events raise needs the event TYPE" \
	"events show --json|events show needs the event ID" \
	"events list|events list is not an events command" \
	"events show X --data {}|events show takes no --data" \
	"import server.json --header X-Key|--header X-Key: give NAME=VALUE-FILE"; do
	out=$(env -u MCPGW_API_URL timeout 5 "$GATEWAY" ${c%%|*} 2>&1)
	rc=$?
	check "mcp-gateway ${c%%|*}: exit 2, says '${c#*|}'" eval '[ "$rc" = 2 ] && grep -qF -- "error: ${c#*|}" <<<"$out"'
done

# A mistyped option of config is named, not answered with the whole command list.
out=$(env -u MCPGW_CONFIG timeout 5 "$GATEWAY" config --examples 2>&1)
rc=$?
check "config --examples: exit 2 naming the option, with config's own usage" \
	eval '[ "$rc" = 2 ] && grep -q "^error: unknown option '"'"'--examples'"'"'" <<<"$out" && ! grep -q "^commands:" <<<"$out"'
