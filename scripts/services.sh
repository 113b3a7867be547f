#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) answer on their local default ports, and that
# Chromium and ChromeDriver are there for the browser tests, installing (Debian/Ubuntu, as root)
# or starting them when that is possible, and saying clearly what is missing when it is not.
# Sourced by run.sh and test.sh.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
NATS_PORT=4222

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 50); do port_open "$host" "$port" && return 0; sleep 0.2; done
  die "$what did not come up on $host:$port"
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
  say "installing $*"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust from https://rustup.rs (stable toolchain)"
}

# A full build of the workspace and its tests needs about 3 GB in target/ (less what is already
# there): say so up front rather than let the linker die of a full disk.
ensure_disk_space() {
  local need_mb=$1 target=${CARGO_TARGET_DIR:-target}
  mkdir -p "$target"
  local free_mb built_mb
  free_mb=$(df -Pm "$target" | awk 'NR == 2 { print $4 }')
  built_mb=$(du -sm "$target" 2>/dev/null | cut -f1 || true)
  built_mb=${built_mb:-0}
  if [ $((free_mb + built_mb)) -lt "$need_mb" ]; then
    die "$((free_mb / 1024)) GB free where $target is; a full build needs about $((need_mb / 1024)) GB: free some space"
  fi
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    can_install || die "PostgreSQL is not running on $PG_HOST:$PG_PORT and cannot be installed here (need root and apt-get). Start one with trust auth for user postgres, or set GANGWAY_DATABASE_URL."
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
}

ensure_nats() {
  if port_open 127.0.0.1 "$NATS_PORT"; then return 0; fi
  if ! command -v nats-server >/dev/null; then
    can_install || die "NATS is not running on 127.0.0.1:$NATS_PORT and cannot be installed here (need root and apt-get). Run nats-server -js, or set GANGWAY_NATS_URL."
    apt_install nats-server
  fi
  say "starting nats-server with JetStream"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p "$NATS_PORT" -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 127.0.0.1 "$NATS_PORT" NATS
}

ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
  can_install || die "the browser tests need /usr/bin/chromium and /usr/bin/chromedriver, and they cannot be installed here (need root and apt-get). Install Debian's chromium and chromium-driver packages."
  apt_install chromium chromium-driver
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || die "chromium and chromium-driver were installed but /usr/bin/chromium or /usr/bin/chromedriver is still missing"
}

# The Python tools tests check Gangway with (the Standard Webhooks reference library, schemathesis);
# installed into the cargo target directory, never system-wide.
ensure_python_tools() {
  if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    can_install || die "the webhook signing and OpenAPI tests need python3 with pip, and they cannot be installed here (need root and apt-get). Install python3 and python3-pip."
    apt_install python3 python3-pip
  fi
  bash tests/support/install_python_tools.sh "${CARGO_TARGET_DIR:-target}/pyenv" \
    || die "could not install the Python tools the tests use (see above)"
}

psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

ensure_database() {
  local name=$1
  command -v psql >/dev/null || { can_install && apt_install postgresql-client; }
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]; then
    say "creating database $name"
    psql_admin -c "CREATE DATABASE $name"
  fi
}
