#!/usr/bin/env bash
# Builds in release mode and prints the benchmark numbers (see README, "Performance").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ensure_rust
ensure_postgres
ensure_nats
command -v pgbench >/dev/null || { can_install && apt_install postgresql-contrib; } || die "pgbench not found"

cargo build --release --bins --quiet
GANGWAY_TEST_LOG=${GANGWAY_TEST_LOG:-error} exec target/release/gangway-bench
