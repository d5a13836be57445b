#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 machine, as a user with sudo.
#
#   bash scripts/fresh-machine.sh            # the whole check (two full builds)
#   bash scripts/fresh-machine.sh --smoke    # the machine only: user, sudo, toolchain
#   bash scripts/fresh-machine.sh --image    # only build the image (scripts/builder-image.sh)
#
# A clean Debian bookworm container (built here with mmdebstrap, since no
# container registry is reachable: minbase plus sudo, curl and
# ca-certificates, which is what a machine that installed rustup has)
# gets the host's Rust toolchain mounted read-only, a copy of the host's
# cargo registry cache (the downloaded .crate files and the index, so that
# nothing is downloaded twice; the host's copy is mounted read-only), a user `dev` with password-less
# sudo, and a copy of this repository without target/ and .git. As `dev`
# it then runs, verbatim as README.md has them:
#   1. the "Run it" command, in the background, until the README's curl
#      gets a token back;
#   2. the "Test it" command, which must exit 0.
# Nothing is prepared in the container beyond that: what the commands need
# they must install themselves. Each phase's duration is printed.
#
# Installs podman, runc and mmdebstrap on the host if missing (as
# scripts/deploy-tests.sh does). REBUILD_IMAGE=1 builds the image again.
# Needs root on the host (podman, as in the deploy tests).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

mode=full
case "${1:-}" in
  "") ;;
  --smoke) mode=smoke ;;
  --image) mode=image ;;
  *) echo "usage: $0 [--smoke|--image]" >&2; exit 2 ;;
esac

work="${FRESH_MACHINE_DIR:-/tmp/auth-server-fresh-machine}"
image="${FRESH_MACHINE_IMAGE:-localhost/auth-server-fresh:bookworm}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
nextest=$(command -v cargo-nextest || true)
# How long the run command may take to build and answer (a release build of
# the workspace from nothing).
run_timeout="${FRESH_MACHINE_RUN_TIMEOUT:-2400}"
mkdir -p "$work"
started=$(date +%s)
step() { echo "== fresh-machine [$(( $(date +%s) - started ))s]: $*"; }

# The Debian mirrors this machine's apt uses, as in scripts/deploy-tests.sh.
host_uris=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | sed -n 's/^URIs:[[:space:]]*//p';
            { grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } | awk '{print $2}')
mirror="${DEBIAN_MIRROR:-$(printf '%s\n' $host_uris | grep -v -- '-security' | grep -i debian | head -n 1)}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-$(printf '%s\n' $host_uris | grep -- '-security' | head -n 1)}"
[ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2; exit 1; }

[ -x "$cargo_home/bin/cargo" ] || { echo "no cargo in $cargo_home/bin (set CARGO_HOME)" >&2; exit 1; }
[ -d "$rustup_home/toolchains" ] || { echo "no rustup toolchains in $rustup_home (set RUSTUP_HOME)" >&2; exit 1; }

step "host packages (podman, runc, mmdebstrap)"
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
# As in the deploy tests: this sandbox refuses podman's RLIMIT_NOFILE.
export CONTAINERS_CONF="$work/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"

step "image $image"
if [ "${REBUILD_IMAGE:-0}" = 1 ] || ! podman image exists "$image"; then
  tarball="$work/fresh.tar"
  if ! timeout 900 mmdebstrap --variant=minbase \
      --include=sudo,curl,ca-certificates \
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
  timeout 300 podman import --quiet "$tarball" "$image" >/dev/null
  rm -f "$tarball"
fi
[ "$mode" != image ] || exit 0

step "the README's commands"
# Code blocks of README.md: the first two under "## Run it" (the run
# command, the curl that gets a token), the first under "## Test it".
readme_block() { # SECTION N
  awk -v section="$1" -v want="$2" '
    /^## / { in_section = ($0 == "## " section); n = 0; next }
    in_section && /^```/ { if (inside) { inside = 0; if (n == want) exit } else { inside = 1; n++ } ; next }
    in_section && inside && n == want { print }
  ' README.md
}
readme_block "Run it" 1 >"$work/run.cmd"
readme_block "Run it" 2 >"$work/token.cmd"
readme_block "Test it" 1 >"$work/test.cmd"
for f in run token test; do
  [ -s "$work/$f.cmd" ] || { echo "README.md: no $f command found" >&2; exit 1; }
  echo "-- $f:"; cat "$work/$f.cmd"
done

step "copy of the repository"
tar -C "$repo" --exclude=./target --exclude=./.git --exclude=./fuzz/target \
  --exclude=./fuzz/corpus --exclude=./fuzz/artifacts -cf "$work/repo.tar" .

# What runs inside the container, as root: make the user, then hand over.
cat >"$work/inside.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
mode=$1
# The host's own additional CA certificates, if it has any (a TLS-inspecting
# proxy on the way to crates.io): the container reaches the network as the
# host does. Not part of what is tested.
if compgen -G '/fresh/host-ca/*.crt' >/dev/null; then
  cp /fresh/host-ca/*.crt /usr/local/share/ca-certificates/
  update-ca-certificates >/dev/null 2>&1
fi
useradd --create-home --shell /bin/bash dev
echo 'dev ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/dev
chmod 0440 /etc/sudoers.d/dev
# The host's toolchain, as rustup would have put it on the user's PATH.
cat >/etc/profile.d/rust.sh <<'PROFILE'
export RUSTUP_HOME=/opt/rustup PATH=/opt/cargo/bin:$PATH
PROFILE
as_dev() { runuser -u dev -- bash -c "source /etc/profile.d/rust.sh && cd ~ && $1"; }
clock() { echo "== inside [$(( $(date +%s) - t0 ))s]: $*"; }
t0=$(date +%s)
as_dev 'mkdir -p .cargo/registry auth-server && cp -r /fresh/cargo-registry/cache /fresh/cargo-registry/index .cargo/registry/ && tar -C auth-server -xf /fresh/repo.tar'
if [ -x /fresh/cargo-nextest ]; then cp /fresh/cargo-nextest /usr/local/bin/; fi
if [ "$mode" = smoke ]; then
  as_dev 'id && sudo -n true && echo "sudo: ok" && cargo --version && rustc --version && (cd auth-server && cargo --version && rustup show active-toolchain) && curl --version | head -n 1 && du -sh .cargo/registry && curl -sSfI https://index.crates.io/config.json | head -n 1'
  # The test path's PostgreSQL as this user: installed with sudo, a
  # cluster of the user's own, a query, stopped.
  as_dev 'cd auth-server && out=$(bash scripts/pg-test-cluster.sh start /tmp/pg-smoke) && eval "$out" && echo "$TEST_DATABASE_URL" && /usr/lib/postgresql/*/bin/psql "$TEST_DATABASE_URL" -tAc "select current_user" && bash scripts/pg-test-cluster.sh stop /tmp/pg-smoke && type -P kill'
  exit 0
fi
clock "run command (README 'Run it'), in the background"
as_dev 'cd auth-server && exec bash /fresh/run.cmd' >/fresh/run.log 2>&1 &
server=$!
token=""
deadline=$(( $(date +%s) + $2 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$server" 2>/dev/null; then
    tail -n 40 /fresh/run.log
    echo "the run command exited before a token came back" >&2
    exit 1
  fi
  if out=$(as_dev 'bash /fresh/token.cmd' 2>/dev/null) && [[ "$out" == *'"access_token":"'* ]]; then
    token=$out
    break
  fi
  sleep 5
done
[ -n "$token" ] || { tail -n 40 /fresh/run.log; echo "no token within $2 s" >&2; exit 1; }
clock "token came back: $(printf '%s' "$token" | sed 's/"access_token":"[^"]*"/"access_token":"…"/')"
# The server started by `cargo run`: SIGTERM, and it must exit 0.
# (minbase has no procps: the process is found through /proc.)
for p in /proc/[0-9]*; do
  if [ "$(cat "$p/comm" 2>/dev/null)" = auth-server ]; then kill -TERM "${p#/proc/}"; fi
done
if wait "$server"; then clock "server stopped (exit 0)"; else rc=$?; echo "the server exited $rc after SIGTERM" >&2; exit 1; fi
clock "test command (README 'Test it')"
as_dev 'cd auth-server && bash /fresh/test.cmd' 2>&1
clock "test command passed"
EOF

mounts=(
  -v "$work:/fresh:rw"
  -v "$rustup_home:/opt/rustup:ro"
  -v "$cargo_home/bin:/opt/cargo/bin:ro"
  -v "$cargo_home/registry:/fresh/cargo-registry:ro"
)
if [ -d /usr/local/share/ca-certificates ]; then
  mounts+=(-v /usr/local/share/ca-certificates:/fresh/host-ca:ro)
fi
# cargo-nextest is what the README's test command prefers; without it the
# script falls back to cargo test.
if [ -n "$nextest" ]; then
  cp "$nextest" "$work/cargo-nextest"
fi

step "container ($mode)"
name="auth-server-fresh-$$"
# podman's default bridge network: the container has loopback of its own,
# so the README's 127.0.0.1:8080 and the tests' PostgreSQL ports never meet
# anything running on the host.
# Limits as on a machine rather than a container's defaults (64 MiB of
# /dev/shm, a pid cap): the tests start several PostgreSQL clusters and
# servers with many threads.
set +e
# CARGO_INCREMENTAL and CARGO_PROFILE_DEV_DEBUG pass through (CI turns the
# incremental caches and debug info off to save disk); they change what
# cargo keeps, not what the commands do.
podman run --rm --name "$name" --runtime runc --shm-size 1g --pids-limit -1 "${mounts[@]}" \
  ${CARGO_INCREMENTAL:+-e CARGO_INCREMENTAL="$CARGO_INCREMENTAL"} \
  ${CARGO_PROFILE_DEV_DEBUG:+-e CARGO_PROFILE_DEV_DEBUG="$CARGO_PROFILE_DEV_DEBUG"} \
  "$image" bash /fresh/inside.sh "$mode" "$run_timeout"
status=$?
set -e
step "done (exit $status)"
exit "$status"
