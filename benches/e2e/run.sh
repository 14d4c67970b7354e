#!/usr/bin/env bash
# End to end, as users run it: server CPU time per request over loopback sockets for each
# instrumentation variant of benches/e2e/server.rs, every variant exporting OTLP/HTTP (batch
# processors) to a local sink that answers 200 (benches/e2e/sink.py).
#
#   bash benches/e2e/run.sh            # ROUNDS=3 N=20000 WARMUP=2000 C=8 SETTLE=6
#   BEFORE=path/to/e2e_server bash benches/e2e/run.sh   # adds `pulsecheck_before`: the
#                                      # `pulsecheck` variant of another build, in the same run
#
# Per variant and round: a fresh server, a warm-up of WARMUP requests, SETTLE seconds for its
# exports, utime+stime of the server process from /proc/PID/stat, `oha -n N -c C`, SETTLE
# seconds so the batch exports of the run complete, utime+stime again. CPU µs per request =
# the difference / N (it includes the server's background work during the run and the wait,
# as a user pays it). Rounds are interleaved (every variant once per round); the table gives
# the median of the rounds, the added CPU against `bare` and the ratio of that to
# TraceLayer's. Every response must be 200 and every variant must have reached the sink.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3} N=${N:-20000} WARMUP=${WARMUP:-2000} C=${C:-8} SETTLE=${SETTLE:-6}
PORT=${PORT:-18098} SINK_PORT=${SINK_PORT:-18318}
T=${CARGO_TARGET_DIR:-target}/release/examples/e2e_server
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"

if ! command -v oha >/dev/null; then
  echo "installing oha (cargo install oha --locked)" >&2
  cargo install oha --locked >&2
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release --example e2e_server >&2

# name | server argument | environment | OTLP paths the sink must receive during the run
# [| server binary, default $T]
VARIANTS=(
  "bare|bare||"
  "tracelayer|tracelayer||/v1/traces"
  "axum_tracing_otel|axum_tracing_otel||/v1/traces"
  "pulsecheck|pulsecheck||/v1/traces"
  "pulsecheck_access_records|pulsecheck|PULSE_ACCESS_LOG_OTLP=true|/v1/traces /v1/logs"
  "pulsecheck_no_access_log|pulsecheck|OTEL_LOGS_EXPORTER=none RUST_LOG=info,pulsecheck::access=off|/v1/traces"
  "pulsecheck_sdk_disabled|pulsecheck|OTEL_SDK_DISABLED=true RUST_LOG=info,pulsecheck::access=off|"
)
if [ -n "${BEFORE:-}" ]; then
  VARIANTS+=("pulsecheck_before|pulsecheck||/v1/traces /v1/logs|$BEFORE")
fi
if [ -n "${ONLY:-}" ]; then
  mapfile -t VARIANTS < <(printf '%s\n' "${VARIANTS[@]}" | grep -E "^(${ONLY// /|})\|")
fi

python3 benches/e2e/sink.py "$SINK_PORT" >"$OUT/sink.log" 2>&1 &
SINK=$!
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null || true
  kill "$SINK" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do grep -q listening "$OUT/sink.log" 2>/dev/null && break; sleep 0.1; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
url=http://127.0.0.1:$PORT/api/courses/7

oha_ok() { # n json -> fails unless every response was a 200
  oha -n "$1" -c "$C" --no-tui --output-format json "$url" >"$2"
  python3 - "$1" "$2" <<'PY'
import json, sys
n, d = int(sys.argv[1]), json.load(open(sys.argv[2]))
codes = d.get("statusCodeDistribution", {})
if codes.get("200", 0) != n:
    sys.exit(f"expected {n} responses 200, got {codes} errors {d.get('errorDistribution')}")
PY
}

for round in $(seq "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    IFS='|' read -r name arg envs expects bin <<<"$v"
    # A server that has not said `listening` within 20 s is reported (its threads and where
    # they wait) and started again, up to three times.
    for attempt in 1 2 3; do
      # shellcheck disable=SC2086
      env PORT="$PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
        OTEL_SERVICE_NAME=e2e $envs "${bin:-$T}" "$arg" >"$OUT/server-$name.log" 2>&1 &
      SERVER=$!
      for _ in $(seq 200); do grep -q listening "$OUT/server-$name.log" 2>/dev/null && break; sleep 0.1; done
      grep -q listening "$OUT/server-$name.log" && break
      echo "$name (attempt $attempt) did not start in 20 s: $(head -c 2000 "$OUT/server-$name.log")" >&2
      for task in /proc/"$SERVER"/task/*; do
        echo "  thread $(cat "$task/comm" 2>/dev/null) waits in $(cat "$task/wchan" 2>/dev/null)" >&2
      done
      kill -9 "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=
      [ "$attempt" = 3 ] && exit 1
    done
    oha_ok "$WARMUP" "$OUT/warmup.json"
    sleep "$SETTLE"
    curl -s "http://127.0.0.1:$SINK_PORT/stats" >/dev/null
    before=$(ticks "$SERVER")
    oha_ok "$N" "$OUT/run.json"
    sleep "$SETTLE"
    after=$(ticks "$SERVER")
    sink=$(curl -s "http://127.0.0.1:$SINK_PORT/stats")
    for path in $expects; do
      grep -qF "\"$path\"" <<<"$sink" || { echo "$name: nothing reached the sink at $path ($sink)" >&2; exit 1; }
    done
    rps=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['summary']['requestsPerSec']))" "$OUT/run.json")
    kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    us=$(echo "($after - $before) * 1000000 / $hz / $N" | bc -l)
    printf '%s %s %.2f %s %s\n' "$round" "$name" "$us" "$rps" "$sink" | tee -a "$OUT/rounds.txt" >&2
  done
done

python3 - "$OUT/rounds.txt" <<'PY'
import json, statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    rnd, name, us, rps, sink = line.split(" ", 4)
    if name not in rows:
        order.append(name)
    rows.setdefault(name, []).append(float(us))
med = {n: statistics.median(v) for n, v in rows.items()}
bare = med.get("bare")
tl = med.get("tracelayer")
print("| variant | CPU µs/request (median) | rounds | added to bare | added / TraceLayer's added |")
print("|---|---:|---|---:|---:|")
for n in order:
    added = med[n] - bare if bare is not None else None
    ratio = added / (tl - bare) if added is not None and tl is not None and tl != bare else None
    print(f"| {n} | {med[n]:.1f} | {', '.join(f'{x:.1f}' for x in rows[n])} | "
          + ("—" if n == "bare" or added is None else f"{added:.1f}") + " | "
          + ("—" if n == "bare" or ratio is None else f"{ratio:.2f}") + " |")
PY
