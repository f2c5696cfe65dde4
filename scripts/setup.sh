#!/usr/bin/env bash
# scripts/setup.sh: installs the Debian packages that building, running and
# testing mctx-c need, and only those that are missing. `make run` and
# `make test` call it first; it is quick when everything is there.
#
# Set MCTX_SETUP_SKIP=1 to skip it (for a machine managed by other means).
set -euo pipefail
[ "${MCTX_SETUP_SKIP:-0}" = 1 ] && exit 0

# Build: compiler, CMake and the libraries the product links.
PKGS=(build-essential cmake pkg-config
      libmicrohttpd-dev libjwt-dev libssl-dev
      libsqlite3-dev libpq-dev unixodbc-dev odbc-postgresql libzstd-dev
      libopenblas-dev libopenmpi-dev openmpi-bin)
# Tests: a real PostgreSQL server, curl, a browser for the dashboard tests
# and a font for it (installed without recommends, chromium brings none, and
# the screenshots would show empty boxes for text), Python 3 for the
# service's black-box tests, wrk for its benchmarks.
PKGS+=(postgresql curl chromium fonts-dejavu-core wrk python3)

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/mctx-setup.log 2>&1; then
  $SUDO apt-get update -q >>/tmp/mctx-setup.log 2>&1
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/mctx-setup.log 2>&1 || {
    echo "setup: apt-get failed, see /tmp/mctx-setup.log" >&2; tail -20 /tmp/mctx-setup.log >&2; exit 1; }
fi
