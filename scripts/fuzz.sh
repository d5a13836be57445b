#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails on the
# first crash, panic, overflow or timeout.
#
#   scripts/fuzz.sh SECONDS     # total time budget, shared by the targets
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install --locked
# cargo-fuzz`). Builds once (release, debug assertions and overflow checks
# on, no sanitizer: the server's crates forbid `unsafe`, so what is hunted
# is panics, overflows and hangs), then gives each target SECONDS divided
# by the number of targets (at least 1 s). The corpus grows in a temporary
# directory, seeded from fuzz/seeds/TARGET; a crashing input is kept in
# fuzz/artifacts/TARGET/ and printed.
set -euo pipefail

budget=${1:?usage: scripts/fuzz.sh SECONDS}
case "$budget" in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz with a nightly toolchain is required (cargo install --locked cargo-fuzz)" >&2
  exit 2
fi

targets=$(cargo +nightly fuzz list)
count=$(echo "$targets" | wc -l)
# About two seconds per target go to cargo, libFuzzer start-up and the
# final report, so that the whole run stays within SECONDS.
each=$((budget / count - 2))
[ "$each" -ge 1 ] || each=1

echo "fuzz.sh: building $count targets"
cargo +nightly fuzz build --sanitizer none

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for t in $targets; do
  mkdir -p "$work/$t"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  echo "fuzz.sh: $t for ${each}s"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds memory.
  if ! cargo +nightly fuzz run --sanitizer none "$t" "$work/$t" "${seeds[@]}" -- \
    -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$work/$t.log" 2>&1; then
    echo "fuzz.sh: $t FAILED" >&2
    tail -n 40 "$work/$t.log" >&2
    failed=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$t.log" | tail -n 2 || true
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: at least one target failed" >&2
  exit 1
fi
echo "fuzz.sh: all $count targets ran ${each}s each without a failure"
