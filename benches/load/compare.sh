#!/usr/bin/env bash
# pulsecheck load against oha: throughput and latency at equal connections, memory (max RSS)
# from 10^5 to 10^7 requests, and a 1 s server stall in open and closed models.
# Same machine, same target (examples/load_target.rs: plain axum, 1 worker thread), runs
# interleaved. Needs oha (`cargo install oha`) and GNU time.
#
#   cargo build --release -p pulsecheck-cli --bin pulsecheck -p pulsecheck --example load_target
#   bash benches/load/compare.sh throughput|memory|stall|instructions   (results: benches/load/out/)
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-target}/release
PC=$T/pulsecheck
OUT=benches/load/out
mkdir -p "$OUT"
PORT=${PORT:-8099}
URL=http://127.0.0.1:$PORT/

start_target() { # env...
  env PORT=$PORT WORKERS=1 "$@" "$T/examples/load_target" >"$OUT/target.log" 2>&1 &
  TARGET_PID=$!
  for _ in $(seq 50); do grep -q listening "$OUT/target.log" 2>/dev/null && return; sleep 0.1; done
  echo "load_target did not start" >&2; exit 1
}
stop_target() { kill "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; }

summary() { # tool json
  python3 - "$1" "$2" <<'PY'
import json, sys
tool, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
if tool == "oha":
    s, p = d["summary"], d["latencyPercentiles"]
    print(f"oha rps={s['requestsPerSec']:.0f} p50={p['p50']*1e3:.3f} p99={p['p99']*1e3:.3f} max={s['slowest']*1e3:.1f}")
else:
    l = d["latency_ms"]
    print(f"pulsecheck rps={d['rps']:.0f} p50={l['p50']:.3f} p99={l['p99']:.3f} max={l['max']:.1f}")
PY
}

case "${1:-}" in
throughput)
  start_target
  N=${N:-200000}
  for c in ${CONNS:-10 50}; do
    for rep in $(seq "${REPS:-5}"); do
      oha -c "$c" -n "$N" --no-tui --output-format json "$URL" >"$OUT/oha-c$c-$rep.json"
      echo "c=$c rep=$rep $(summary oha "$OUT/oha-c$c-$rep.json")"
      "$PC" load "$URL" -c "$c" -n "$N" --no-progress --no-server-metrics --output "$OUT/pc-c$c-$rep.json" >/dev/null
      echo "c=$c rep=$rep $(summary pc "$OUT/pc-c$c-$rep.json")"
    done
  done | tee "$OUT/throughput.txt"
  stop_target ;;
memory)
  start_target
  for n in ${SIZES:-100000 1000000 10000000}; do
    /usr/bin/time -f "oha n=$n maxrss_kib=%M cpu_s=%U+%S wall_s=%e" \
      oha -c 10 -n "$n" --no-tui --output-format quiet "$URL"
    /usr/bin/time -f "pulsecheck n=$n maxrss_kib=%M cpu_s=%U+%S wall_s=%e" \
      "$PC" load "$URL" -c 10 -n "$n" --no-progress --no-server-metrics --output /dev/null >/dev/null
  done 2>&1 | grep maxrss | tee "$OUT/memory.txt"
  stop_target ;;
stall)
  # The target holds every request arriving 2 s to 3 s after its first one.
  for mode in open closed oha-corrected oha; do
    start_target STALL_AFTER_MS=2000 STALL_FOR_MS=1000
    case $mode in
      open) "$PC" load "$URL" --rate 1000 -c 10 -d 5s --no-progress --no-server-metrics --output "$OUT/stall-open.json" >/dev/null
            echo "open   $(summary pc "$OUT/stall-open.json")" ;;
      closed) "$PC" load "$URL" -c 10 -d 5s --no-progress --no-server-metrics --output "$OUT/stall-closed.json" >/dev/null
            echo "closed $(summary pc "$OUT/stall-closed.json")" ;;
      oha-corrected) oha -q 1000 --latency-correction -c 10 -z 5s --no-tui --output-format json "$URL" >"$OUT/stall-oha-corrected.json"
            echo "oha -q 1000 --latency-correction $(summary oha "$OUT/stall-oha-corrected.json")" ;;
      oha) oha -c 10 -z 5s --no-tui --output-format json "$URL" >"$OUT/stall-oha.json"
            echo "oha closed $(summary oha "$OUT/stall-oha.json")" ;;
    esac
    stop_target
  done | tee "$OUT/stall.txt" ;;
instructions)
  # CPU cost per request, free of the machine's noise: instructions under callgrind (all
  # threads), (I(2n) - I(n)) / n cancels start-up. 10 connections, HTTP/1.1.
  start_target
  n=${N:-5000}
  for tool in oha pulsecheck; do
    for k in 1 2; do
      if [ $tool = oha ]; then cmd=(oha -c 10 -n $((k * n)) --no-tui --output-format quiet "$URL")
      else cmd=("$PC" load "$URL" -c 10 -n $((k * n)) --no-progress --no-server-metrics); fi
      valgrind --tool=callgrind --callgrind-out-file="$OUT/cg-$tool-$k.out" "${cmd[@]}" >/dev/null 2>&1
    done
    i1=$(grep -m1 '^summary:' "$OUT/cg-$tool-1.out" | awk '{print $2}')
    i2=$(grep -m1 '^summary:' "$OUT/cg-$tool-2.out" | awk '{print $2}')
    echo "$tool instructions_per_request=$(( (i2 - i1) / n )) (I($n)=$i1, I($((2 * n)))=$i2)"
  done | tee "$OUT/instructions.txt"
  stop_target ;;
*) echo "usage: $0 throughput|memory|stall|instructions" >&2; exit 2 ;;
esac
