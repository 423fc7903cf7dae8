#!/usr/bin/env bash
# A build leaves the git checkout clean: every build product is ignored and no
# compiled program is committed. Skipped outside a git checkout (make distcheck).
. "$(dirname "$0")/lib.sh"

# (make distcheck builds an unpacked tarball that may sit inside a checkout.)
toplevel=$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)
if [ -z "$toplevel" ] || [ "$(cd "$toplevel" && pwd -P)" != "$(cd "$top_srcdir" && pwd -P)" ]; then
	echo "# not the top of a git checkout ($top_srcdir): nothing to check"
	exit 77
fi

git -C "$top_srcdir" status --porcelain --untracked-files=all | grep '^??' >"$IT_DIR/untracked"
if [ -s "$IT_DIR/untracked" ]; then
	not_ok "after the build, git status shows no untracked file (build products are ignored)"
	diag <"$IT_DIR/untracked"
else
	ok "after the build, git status shows no untracked file (build products are ignored)"
fi

# ELF or ar archives among the committed files: compiled programs belong to the build.
: >"$IT_DIR/binaries"
while IFS= read -r -d '' f; do
	[ -f "$top_srcdir/$f" ] || continue
	magic=$(head -c 4 "$top_srcdir/$f" | od -An -c | tr -d ' ')
	case $magic in '177ELF' | '!<ar') echo "$f" >>"$IT_DIR/binaries" ;; esac
done < <(git -C "$top_srcdir" ls-files -z)
if [ -s "$IT_DIR/binaries" ]; then
	not_ok "no compiled program or archive is committed"
	diag <"$IT_DIR/binaries"
else
	ok "no compiled program or archive is committed"
fi
