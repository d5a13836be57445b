#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if missing:
# a C toolchain and headers for libpq/OpenSSL, and a PostgreSQL server.
set -euo pipefail
need=()
for pkg in pkg-config libssl-dev libpq-dev postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
