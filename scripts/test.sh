#!/usr/bin/env bash
# The full test suite, from a fresh Debian machine: installs and starts what the tests need
# (PostgreSQL with trust auth and database `test`, Redis, cargo-nextest), then checks format
# and lints and runs every test. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for_port() { # host port seconds
  for _ in $(seq 1 "$3"); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

ensure_postgres() {
  if wait_for_port 127.0.0.1 5432 1 && psql -h 127.0.0.1 -U postgres -d test -qtAc 'select 1' >/dev/null 2>&1; then
    return
  fi
  log "starting PostgreSQL"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, as on the CI machines.
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  wait_for_port 127.0.0.1 5432 30 || { echo "PostgreSQL did not start" >&2; exit 1; }
  psql -h 127.0.0.1 -U postgres -d postgres -qtAc "select 1 from pg_database where datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test'
}

ensure_redis() {
  if wait_for_port 127.0.0.1 6379 1; then return; fi
  log "starting Redis"
  command -v redis-server >/dev/null || apt_install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for_port 127.0.0.1 6379 30 || { echo "Redis did not start" >&2; exit 1; }
}

ensure_tools() {
  command -v psql >/dev/null || apt_install postgresql-client
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  # tests/grpc_health.rs checks our gRPC health server against Python's standard client.
  if ! python3 -c 'import grpc, grpc_health.v1.health_pb2_grpc' >/dev/null 2>&1; then
    log "installing grpcio and grpcio-health-checking"
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    python3 -m pip install --quiet grpcio grpcio-health-checking \
      || python3 -m pip install --quiet --break-system-packages grpcio grpcio-health-checking
  fi
  # tests/health_checks.rs: a real SMTP server (Python aiosmtpd), a throwaway CA made with the
  # openssl CLI, and private redis-server processes driven with redis-cli.
  command -v openssl >/dev/null || apt_install openssl
  { command -v redis-server && command -v redis-cli; } >/dev/null || apt_install redis-server redis-tools
  # tests/metrics_endpoint.rs (`promtool check metrics`, a real Prometheus server scraping
  # /metrics) and cli/tests/cli_rules.rs (`promtool check rules`, `promtool test rules`), both from
  # Debian's `prometheus` package.
  { command -v promtool && command -v prometheus; } >/dev/null || apt_install prometheus
  # tests/stack_config.rs: `docker-compose config` validates docker-compose.yml (no engine
  # needed) and `amtool check-config` collector/alertmanager.yml.
  command -v docker-compose >/dev/null || apt_install --no-install-recommends docker-compose
  # tests/alert_notify.rs also posts alerts to a real Alertmanager from the same package.
  { command -v amtool && command -v prometheus-alertmanager; } >/dev/null || apt_install prometheus-alertmanager
  # tests/dashboard.rs loads the HTML dashboard in headless Chromium (DevTools protocol).
  command -v chromium >/dev/null || apt_install chromium
  if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    log "installing aiosmtpd"
    command -v python3 >/dev/null || apt_install python3
    # pip where the python3 on PATH has it (pyenv), Debian's package otherwise.
    python3 -m pip install --quiet aiosmtpd >/dev/null 2>&1 \
      || apt_install python3-aiosmtpd
    python3 -c 'import aiosmtpd' || { echo "aiosmtpd did not install" >&2; exit 1; }
  fi
}

ensure_tools
ensure_postgres
ensure_redis

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
log "each feature alone, and none"
# The all-features build above hides a gate that is missing or too wide: each feature must
# also build (and lint) on its own, as a user who enables only that one compiles it.
for feature in "" grpc postgres redis http smtp testing; do
  cargo clippy -p pulsecheck --lib --no-default-features ${feature:+--features "$feature"} --quiet -- -D warnings
done
# The command line on the library's default features, as `cargo install --path cli` builds it.
cargo clippy -p pulsecheck-cli --lib --bins --quiet -- -D warnings
log "tests"
cargo nextest run --workspace --all-features --no-fail-fast
log "doctests"
cargo test --workspace --all-features --doc --quiet
