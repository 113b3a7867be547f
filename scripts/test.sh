#!/usr/bin/env bash
# Runs every check and test against local PostgreSQL and NATS (started or installed if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ensure_rust
ensure_postgres
ensure_nats
psql_admin -c 'SELECT 1' >/dev/null 2>&1 || command -v psql >/dev/null || apt_install postgresql-client

# Test databases whose test was killed before it could drop them.
if command -v psql >/dev/null; then
  for db in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'gangway_test_%'"); do
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  done
fi

say "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

say "building the binaries the end-to-end tests start"
cargo build --workspace --bins --quiet

say "running the tests"
cargo test --workspace --no-fail-fast
