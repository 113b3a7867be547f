#!/usr/bin/env bash
# Builds in release mode and prints the benchmark numbers (see README, "Performance").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ensure_rust
ensure_postgres
ensure_nats

# BENCH_PHASES picks phases: lag, appends, api (BENCH_API_RATE for its open loop) and growth (the
# store at 10,000,000 events; BENCH_GROWTH_EVENTS) run in gangway-bench, webhooks in
# gangway-webhook-bench, replay in gangway-replay-bench, messages (inbound WhatsApp messages at
# 1,000/s for 10 minutes; BENCH_MESSAGE_RATE, BENCH_MESSAGE_SECONDS) in gangway-message-bench,
# backlog (the dispatcher draining up to 1,000,000 pending messages; BENCH_BACKLOG_SIZES,
# BENCH_BACKLOG_ENDPOINTS, BENCH_BACKLOG_SECONDS) in gangway-backlog-bench, console (the links page
# with 100,000 links; BENCH_CONSOLE_LINKS, BENCH_CONSOLE_RATE, BENCH_CONSOLE_SECONDS) in
# gangway-console-bench.
export BENCH_PHASES=${BENCH_PHASES:-lag,appends,api,growth,webhooks,replay,messages,backlog,console}
export GANGWAY_TEST_LOG=${GANGWAY_TEST_LOG:-error}
if [[ $BENCH_PHASES == *appends* ]]; then
  command -v pgbench >/dev/null || { can_install && apt_install postgresql-contrib; } || die "pgbench not found"
fi

cargo build --release --bins --quiet
if [[ $BENCH_PHASES =~ lag|appends|api|growth ]]; then
  target/release/gangway-bench
fi
if [[ $BENCH_PHASES == *webhooks* ]]; then
  target/release/gangway-webhook-bench
fi
if [[ $BENCH_PHASES == *replay* ]]; then
  target/release/gangway-replay-bench
fi
if [[ $BENCH_PHASES == *messages* ]]; then
  target/release/gangway-message-bench
fi
if [[ $BENCH_PHASES == *backlog* ]]; then
  target/release/gangway-backlog-bench
fi
if [[ $BENCH_PHASES == *console* ]]; then
  target/release/gangway-console-bench
fi
