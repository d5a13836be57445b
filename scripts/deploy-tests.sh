#!/usr/bin/env bash
# Deployment tests: the Helm chart (deploy/helm/auth-server), rendered
# offline with Helm's Go SDK and validated against the Kubernetes schemas;
# its seeds checked by `auth-server check`; and the container image
# (deploy/Containerfile) built with podman and run until it issues a token.
#
#   bash scripts/deploy-tests.sh            # builds the release binary first
#   AUTH_SERVER_BIN=target/debug/auth-server bash scripts/deploy-tests.sh
#
# Installs what is missing: podman, runc and mmdebstrap from Debian, and a
# virtualenv with deploy/tests/requirements.txt from PyPI. No registry is
# reachable, so the image's base is built here with mmdebstrap (Debian
# bookworm, essential packages plus libssl3, libpq5, ca-certificates) and
# imported into podman once; REBUILD_BASE=1 builds it again. Extra
# arguments go to pytest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

work="${DEPLOY_TESTS_DIR:-/tmp/auth-server-deploy-tests}"
venv="$work/venv"
base_image="${AUTH_SERVER_BASE_IMAGE:-localhost/auth-server-base:bookworm}"
# The Debian mirrors are the ones this machine's apt already uses (first the
# main archive, then the security archive), unless given explicitly.
host_uris=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | sed -n 's/^URIs:[[:space:]]*//p';
            { grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } | awk '{print $2}')
mirror="${DEBIAN_MIRROR:-$(printf '%s\n' $host_uris | grep -v -- '-security' | head -n 1)}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-$(printf '%s\n' $host_uris | grep -- '-security' | head -n 1)}"
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2
  exit 1
fi
mkdir -p "$work"

step() { echo "== deploy-tests: $*"; }

step "Debian packages (podman, runc, mmdebstrap)"
need=()
for pkg in podman runc mmdebstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "Python virtualenv ($venv)"
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv"; then
    # Debian's own python3 needs python3-venv for ensurepip.
    rm -rf "$venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check -r deploy/tests/requirements.txt

step "auth-server binary"
if [ -n "${AUTH_SERVER_BIN:-}" ]; then
  case "$AUTH_SERVER_BIN" in /*) ;; *) AUTH_SERVER_BIN="$repo/$AUTH_SERVER_BIN" ;; esac
  [ -x "$AUTH_SERVER_BIN" ] || { echo "AUTH_SERVER_BIN=$AUTH_SERVER_BIN is not an executable" >&2; exit 1; }
else
  cargo build --release -p auth-server
  AUTH_SERVER_BIN="$repo/target/release/auth-server"
fi
echo "using $AUTH_SERVER_BIN"

# Without this, podman asks runc to set RLIMIT_NOFILE and this sandbox
# refuses ("error setting rlimit type 7"). The tests also pass
# `--runtime runc` and `--network host` (the server is reached on 127.0.0.1).
export CONTAINERS_CONF="$work/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"

step "base image $base_image"
if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$base_image"; then
  tarball="$work/base.tar"
  if ! timeout 600 mmdebstrap --variant=essential \
      --include=libssl3,libpq5,ca-certificates \
      --aptopt='Acquire::Languages "none"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$tarball" \
      "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
      ${security_mirror:+"deb $security_mirror bookworm-security main"} >"$work/mmdebstrap.log" 2>&1; then
    tail -n 30 "$work/mmdebstrap.log" >&2
    echo "mmdebstrap failed (full log: $work/mmdebstrap.log)" >&2
    exit 1
  fi
  timeout 300 podman import --quiet "$tarball" "$base_image" >/dev/null
  rm -f "$tarball"
fi

step "pytest deploy/tests"
export AUTH_SERVER_BIN AUTH_SERVER_BASE_IMAGE="$base_image"
timeout 3600 "$venv/bin/python" -m pytest -p no:cacheprovider deploy/tests -ra "$@"
