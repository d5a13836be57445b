#!/usr/bin/env bash
# Installs the Debian packages that building and running auth-server need,
# if missing: a C toolchain (build-essential: the Rust linker is cc, and
# the bundled SQLite is compiled from C), pkg-config, and the OpenSSL and
# libpq headers (diesel's PostgreSQL backend links libpq even when the
# server runs on SQLite).
#
#   bash scripts/install-deps.sh           # what building and running need
#   bash scripts/install-deps.sh --test    # and what the tests need: a PostgreSQL
#                                          # server, procps (the tests signal
#                                          # servers with kill(1)) and chromium
#                                          # (headless, it renders the /docs page)
#
# apt-get runs as root, or through sudo for any other user; without either
# the script names the missing packages and stops.
set -euo pipefail

packages=(build-essential pkg-config libssl-dev libpq-dev)
case "${1:-}" in
  "") ;;
  --test) packages+=(postgresql procps chromium) ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

need=()
for pkg in "${packages[@]}"; do
  # dpkg -s succeeds for removed packages whose configuration remains.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || need+=("$pkg")
done
[ "${#need[@]}" -gt 0 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps.sh: these Debian packages are missing: ${need[*]}" >&2
  echo "install-deps.sh: run this script as root, or install sudo, or install them yourself" >&2
  exit 1
fi
echo "install-deps.sh: installing ${need[*]}${as_root:+ (with sudo)}" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
