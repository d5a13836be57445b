#!/usr/bin/env bash
# Runs the whole test suite against SQLite and a real, throwaway PostgreSQL
# cluster. Installs what is missing (Debian packages) and starts PostgreSQL
# itself, so it works on a fresh machine:   bash scripts/test.sh
# Extra arguments go to `cargo nextest run` (e.g. -p auth-store).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test

pg_dir="${PG_TEST_DIR:-/tmp/auth-server-test-pg}"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  eval "$(bash scripts/pg-test-cluster.sh start "$pg_dir")"
  trap 'bash scripts/pg-test-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
fi
export TEST_DATABASE_URL
echo "TEST_DATABASE_URL=$TEST_DATABASE_URL"

if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast "$@"
fi

# The embedding example (README "Embed it") must keep running.
cargo run -q -p auth-service --example embedded

# auth-verify, the crate for resource servers, builds with each feature
# alone, and the snippets of docs/resource-servers.md compile.
if [ "$#" -eq 0 ]; then
  cargo check -p auth-verify --no-default-features
  cargo check -p auth-verify --no-default-features --features actix
  cargo test -p auth-verify --doc --features actix
fi
