#!/usr/bin/env bash
# Instructions per request for each layer variant (see layer_instructions.rs), counted by
# `valgrind --tool=cachegrind --cache-sim=no` (instruction reads only: deterministic).
# Usage: bash benches/instructions.sh [N] [VARIANT...]   (default N=2000, every variant)
# Per request = (instructions(2N) - instructions(N)) / N, which cancels start-up and set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
shift || true
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 2; }
cargo bench --bench layer_instructions --no-run >/dev/null 2>&1
bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/layer_instructions-* | grep -v '\.d$' | head -1)
if [ $# -gt 0 ]; then variants=("$@"); else mapfile -t variants < <(PULSE_PROBE_LIST=1 "$bin"); fi
notes=$(mktemp)
count() {
  local out; out=$(mktemp)
  PULSE_PROBE_VARIANT="$1" PULSE_PROBE_N="$2" valgrind --tool=cachegrind --cache-sim=no \
    --cachegrind-out-file="$out" "$bin" >/dev/null 2>>"$notes.err"
  grep -F "$1 x$2:" "$notes.err" >>"$notes" || true
  awk '/^summary:/ {print $2}' "$out"
  rm -f "$out"
}
base=""
echo "| variant | instructions/request | vs ${variants[0]} | added to ${variants[0]} |"
echo "|---|---:|---:|---:|"
for v in "${variants[@]}"; do
  a=$(count "$v" "$n"); b=$(count "$v" $((2 * n)))
  per=$(( (b - a) / n ))
  [ -z "$base" ] && base=$per
  printf '| %s | %d | %.2f× | %d |\n' "$v" "$per" "$(echo "$per / $base" | bc -l)" $((per - base))
done
echo
sed 's/^/  /' "$notes"
rm -f "$notes" "$notes.err"
