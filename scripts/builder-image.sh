#!/usr/bin/env bash
# A Debian bookworm image with the Rust toolchain, for the builder stage of
# deploy/Containerfile.source where no registry is reachable: the image of
# scripts/fresh-machine.sh (minbase, sudo, curl, CA certificates) plus this
# machine's stable toolchain, laid out as the official rust image lays it
# out (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo, cargo on
# PATH), and the host's additional CA certificates. Nothing else: the builder stage installs the C toolchain and
# headers itself (scripts/install-deps.sh).
#
#   bash scripts/builder-image.sh      # prints the image name on stdout
#
# Built once; REBUILD_IMAGE=1 builds it again. Needs root (podman).
set -euo pipefail
cd "$(dirname "$0")/.."
image="${AUTH_SERVER_BUILDER_IMAGE:-localhost/auth-server-rust:bookworm}"
fresh="${FRESH_MACHINE_IMAGE:-localhost/auth-server-fresh:bookworm}"
work="${FRESH_MACHINE_DIR:-/tmp/auth-server-fresh-machine}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

bash scripts/fresh-machine.sh --image >&2
export CONTAINERS_CONF="$work/containers.conf"
if [ "${REBUILD_IMAGE:-0}" = 1 ] || ! podman image exists "$image"; then
  # The toolchain rust-toolchain.toml selects (stable), wherever rustup keeps it.
  sysroot=$(rustc +stable --print sysroot)
  toolchain=$(basename "$sysroot")
  name="auth-server-builder-$$"
  # The host's additional CA certificates, if any (a TLS-inspecting proxy on
  # the way to crates.io), so that the builder reaches the network as the
  # host does.
  ca_mount=()
  if [ -d /usr/local/share/ca-certificates ]; then
    ca_mount=(-v /usr/local/share/ca-certificates:/host/ca:ro)
  fi
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  podman run --name "$name" --runtime runc --network none \
    -v "$sysroot:/host/toolchain:ro" -v "$cargo_home/bin:/host/cargo-bin:ro" \
    -v "$rustup_home/settings.toml:/host/settings.toml:ro" \
    ${ca_mount[@]+"${ca_mount[@]}"} \
    "$fresh" bash -c "set -eu
      mkdir -p /usr/local/rustup/toolchains /usr/local/cargo/bin
      cp -a /host/toolchain /usr/local/rustup/toolchains/$toolchain
      cp -a /host/cargo-bin/. /usr/local/cargo/bin/
      cp /host/settings.toml /usr/local/rustup/settings.toml
      if compgen -G '/host/ca/*.crt' >/dev/null; then
        cp /host/ca/*.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null 2>&1
      fi" >&2
  podman commit --quiet \
    --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$name" "$image" >/dev/null
  podman rm "$name" >/dev/null
fi
echo "$image"
