#!/usr/bin/env bash
# Starts the whole system on the local defaults: PostgreSQL and NATS (started or installed if
# needed), migrations, then the api (with the relay), the projector, the dispatcher and the
# meta sandbox.
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ensure_rust
ensure_postgres
ensure_nats
ensure_database gangway

say "building (release)"
cargo build --release --bins --quiet

mkdir -p .gangway
bin=target/release
# Local use: the development defaults (fixed admin token and encryption key, http webhooks, the
# meta sandbox). A binary started without this refuses to run on them.
export GANGWAY_ENVIRONMENT=development
say "GANGWAY_ENVIRONMENT=development: development defaults, not for exposing to a network"
"$bin/gangway" migrate >/dev/null

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

"$bin/gangway-api" >.gangway/api.log 2>&1 & pids+=($!)
# Each process its own /metrics address, whatever GANGWAY_METRICS_ADDR the shell has.
projector_metrics=127.0.0.1:8081
dispatcher_metrics=127.0.0.1:8082
GANGWAY_METRICS_ADDR="$projector_metrics" "$bin/gangway-projector" >.gangway/projector.log 2>&1 & pids+=($!)
GANGWAY_METRICS_ADDR="$dispatcher_metrics" "$bin/gangway-dispatcher" >.gangway/dispatcher.log 2>&1 & pids+=($!)
"$bin/gangway-meta-sandbox" >.gangway/meta-sandbox.log 2>&1 & pids+=($!)

api="${GANGWAY_PUBLIC_URL:-http://127.0.0.1:8080}"
for _ in $(seq 1 100); do
  curl -fsS "$api/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$api/readyz" >/dev/null || { tail -n 20 .gangway/*.log; die "the api did not become ready"; }

cat <<MSG

Gangway is running in development mode (GANGWAY_ENVIRONMENT=development).
  api         $api   (OpenAPI: $api/openapi.json)
  projector   consuming ${GANGWAY_NATS_STREAM:-GANGWAY_EVENTS}
  dispatcher  delivering webhooks (http and https; private addresses refused unless GANGWAY_WEBHOOK_ALLOW_PRIVATE=true)
  meta        sandbox (Graph API, Facebook SDK, signup dialog) on http://${GANGWAY_SANDBOX_ADDR:-127.0.0.1:8090}
  metrics     $api/metrics, http://$projector_metrics/metrics (projector), http://$dispatcher_metrics/metrics (dispatcher)
  logs        .gangway/api.log, .gangway/projector.log, .gangway/dispatcher.log, .gangway/meta-sandbox.log
  admin token ${GANGWAY_ADMIN_TOKEN:-dev-admin-token}

Create an organization:
  curl -s -X POST $api/admin/organizations -H 'Authorization: Bearer ${GANGWAY_ADMIN_TOKEN:-dev-admin-token}' \\
       -H 'content-type: application/json' -d '{"name":"Acme SaaS"}'

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
say "a process exited; stopping"
tail -n 20 .gangway/*.log
