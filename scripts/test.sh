#!/usr/bin/env bash
# Runs every check and test against local PostgreSQL and NATS, and headless Chromium for the
# browser tests (each started or installed if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ensure_rust
ensure_disk_space 3500
ensure_postgres
ensure_nats
ensure_browser
ensure_python_tools
psql_admin -c 'SELECT 1' >/dev/null 2>&1 || command -v psql >/dev/null || apt_install postgresql-client

# Test databases whose test was killed before it could drop them.
if command -v psql >/dev/null; then
  for db in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'gangway_test_%'"); do
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  done
fi

# A full run builds everything once: incremental caches would only take disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

say "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "building the binaries the end-to-end tests start"
cargo build --workspace --bins --quiet

say "running the tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Libraries' unit tests and the integration tests; the binaries' own mains hold no tests, and
# linking a test harness for each would only cost time and disk.
cargo test --workspace --lib --test '*' --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
exit "$status"
