#!/usr/bin/env bash
# Flat memory at saturation: one variant of benches/e2e/server.rs (default `pulsecheck`, as
# the README integrates it, exporting OTLP/HTTP to benches/e2e/sink.py) driven by
# `oha -c C -z DURATION` over loopback; the server's RSS (VmRSS of /proc/PID/status) sampled
# every INTERVAL seconds. Prints every sample, then the growth from the sample at WARM
# seconds to the last sample and to the largest one after WARM, in per cent.
#
#   bash benches/e2e/memory.sh          # VARIANT=pulsecheck DURATION=600 INTERVAL=10 WARM=60 C=8
set -euo pipefail
cd "$(dirname "$0")/../.."
VARIANT=${VARIANT:-pulsecheck} DURATION=${DURATION:-600} INTERVAL=${INTERVAL:-10} WARM=${WARM:-60} C=${C:-8}
PORT=${PORT:-18099} SINK_PORT=${SINK_PORT:-18319}
T=${CARGO_TARGET_DIR:-target}/release/examples/e2e_server
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
command -v oha >/dev/null || { echo "installing oha (cargo install oha --locked)" >&2; cargo install oha --locked >&2; }
[ -n "${NO_BUILD:-}" ] || cargo build --release --example e2e_server >&2

python3 benches/e2e/sink.py "$SINK_PORT" >"$OUT/sink.log" 2>&1 &
SINK=$!
env PORT="$PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" OTEL_SERVICE_NAME=e2e \
  "$T" "$VARIANT" >/dev/null 2>"$OUT/server.err" &
SERVER=$!
LOAD=
cleanup() {
  [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null || true
  kill -9 "$SERVER" 2>/dev/null || true
  kill "$SINK" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1
oha -c "$C" -z "${DURATION}s" --no-tui --output-format json "http://127.0.0.1:$PORT/api/courses/7" >"$OUT/oha.json" &
LOAD=$!
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status"; }
start=$(date +%s)
: >"$OUT/rss.txt"
while kill -0 "$LOAD" 2>/dev/null; do
  t=$(( $(date +%s) - start ))
  echo "$t $(rss)" | tee -a "$OUT/rss.txt"
  sleep "$INTERVAL"
done
wait "$LOAD"; LOAD=
sleep 6
echo "$(( $(date +%s) - start )) $(rss) (after the run and 6 s for exports)" | tee -a "$OUT/rss.txt"
python3 - "$OUT/rss.txt" "$OUT/oha.json" "$WARM" "$(curl -s "http://127.0.0.1:$SINK_PORT/stats")" <<'PY'
import json, sys
rows = [l.split()[:2] for l in open(sys.argv[1])]
rows = [(int(t), int(kib)) for t, kib in rows]
warm = int(sys.argv[3])
during = [r for r in rows[:-1] if r[0] >= warm]
base = during[0][1]
last = during[-1][1]
peak = max(k for _, k in during)
d = json.load(open(sys.argv[2]))
s = d["summary"]
codes = d.get("statusCodeDistribution", {})
print(f"requests: {sum(int(v) for v in codes.values())} {codes}, {s['requestsPerSec']:.0f}/s")
print(f"sink: {sys.argv[4]}")
print(f"RSS at {during[0][0]} s: {base} KiB; at {during[-1][0]} s: {last} KiB ({(last - base) / base * 100:+.2f} %); "
      f"largest after {warm} s: {peak} KiB ({(peak - base) / base * 100:+.2f} %); first sample {rows[0][1]} KiB")
PY
