#!/usr/bin/env bash
# RS256 verifications per second per core through the gateway's verify path,
# next to `openssl speed rsa2048` verify/s on the same CPU in the same run.
# Usage: bench/jwt_verify.sh [CPU] [SECONDS] [ROUNDS]  (from the build directory)
# Both sides count CPU time, as `openssl speed` does. On a shared machine the
# rounds alternate the two and the best of each is compared.
set -euo pipefail

cpu=${1:-0}
seconds=${2:-3}
rounds=${3:-3}
top_builddir=${top_builddir:-.}
bin="$top_builddir/bench/jwt_verify"

if [ ! -x "$bin" ]; then
    make -C "$top_builddir" bench >/dev/null
fi
command -v taskset >/dev/null || { echo "jwt_verify.sh: taskset (util-linux) is required" >&2; exit 2; }

best_gw=0
best_us=0
best_ossl=0
for round in $(seq 1 "$rounds"); do
    out=$(taskset -c "$cpu" "$bin" "$seconds")
    gw=$(awk '$1 == "gateway_rs256_verify_per_s" { print $2 }' <<<"$out")
    us=$(awk '$1 == "gateway_rs256_verify_us" { print $2 }' <<<"$out")
    # OpenSSL 3 prints: "rsa 2048 bits 0.000692s 0.000020s 1445.0 49046.4"
    ossl=$(taskset -c "$cpu" openssl speed -seconds 3 rsa2048 2>/dev/null |
        awk '/^rsa 2048 bits/ { print $NF }')
    if [ -z "$gw" ] || [ -z "$ossl" ]; then
        echo "jwt_verify.sh: could not read a figure (gateway '$gw', openssl '$ossl')" >&2
        exit 1
    fi
    printf 'round %d: gateway %s verify/s, openssl %s verify/s\n' "$round" "$gw" "$ossl"
    if awk -v a="$gw" -v b="$best_gw" 'BEGIN { exit !(a > b) }'; then best_gw=$gw; best_us=$us; fi
    if awk -v a="$ossl" -v b="$best_ossl" 'BEGIN { exit !(a > b) }'; then best_ossl=$ossl; fi
done
ratio=$(awk -v a="$best_gw" -v b="$best_ossl" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.6) ? "meets" : "BELOW" }')

echo "cpu                          $cpu"
echo "openssl                      $(openssl version)"
printf 'gateway RS256 verify/s       %s  (%s us each, claims checked, cached key)\n' "$best_gw" "$best_us"
printf 'openssl speed rsa2048 verify %s\n' "$best_ossl"
printf 'ratio                        %s  (%s the 0.6 target)\n' "$ratio" "$verdict"
