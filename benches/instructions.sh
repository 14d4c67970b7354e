#!/usr/bin/env bash
# Instructions per request for each layer variant, from callgrind (see layer_instructions.rs).
# Usage: bash benches/instructions.sh [N]   (default N=2000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 2; }
cargo bench --bench layer_instructions --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/layer_instructions-* | grep -v '\.d$' | head -1)
count() {
  local out; out=$(mktemp)
  PULSE_PROBE_VARIANT="$1" PULSE_PROBE_N="$2" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" >/dev/null 2>&1
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'
  rm -f "$out"
}
base=""
printf '%-38s %14s %10s\n' variant instr/request vs_bare
for v in bare axum_tracing_opentelemetry/sampled layer/no_tracer layer/not_sampled layer/sampled layer/sampled_json_log; do
  a=$(count "$v" "$n"); b=$(count "$v" $((2 * n)))
  per=$(( (b - a) / n ))
  [ -z "$base" ] && base=$per
  printf '%-38s %14d %9.2fx\n' "$v" "$per" "$(echo "$per / $base" | bc -l)"
done
