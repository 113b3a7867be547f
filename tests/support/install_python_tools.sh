#!/usr/bin/env bash
# Installs the Python tools the tests use (the Standard Webhooks reference library, schemathesis),
# at the versions pinned in python-requirements.txt, into DIR (a project-local directory, never
# system-wide). Does nothing when DIR already holds exactly that. Used by tests/src (on first use)
# and scripts/services.sh.
set -euo pipefail

dir=${1:?usage: install_python_tools.sh DIR}
requirements="$(cd "$(dirname "$0")" && pwd)/python-requirements.txt"

if [ -f "$dir/.requirements" ] && cmp -s "$requirements" "$dir/.requirements"; then
  exit 0
fi

fail() { printf 'install_python_tools.sh: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || fail "python3 is not installed; the tests run the Standard Webhooks library and schemathesis with it"
python3 -m pip --version >/dev/null 2>&1 || fail "pip is not available for python3 (Debian: apt-get install python3-pip)"

# Installed beside the destination and moved into place, so an interrupted install is never
# mistaken for a finished one.
partial="$dir.partial.$$"
trap 'rm -rf "$partial"' EXIT
rm -rf "$partial"
mkdir -p "$partial"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-input --retries 2 --timeout 20 \
    --target "$partial" -r "$requirements" \
  || fail "could not install the tools in $requirements from PyPI into $dir; is PyPI (or the index in PIP_INDEX_URL) reachable?"
cp "$requirements" "$partial/.requirements"
rm -rf "$dir"
mv "$partial" "$dir"
