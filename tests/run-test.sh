#!/usr/bin/env bash
# Runs one compiled test (Criterion suite or fuzz replay) for `make check` and
# fails it when its output holds a sanitizer report: Criterion runs each test
# in a worker whose LeakSanitizer report does not change the exit status.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out"; then
	echo "not ok - $(basename "$1"): sanitizer report above"
	[ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
