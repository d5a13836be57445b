#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the server's own /openapi.json with
# an admin token: no 5xx, and no response that contradicts the document.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]      # default 20 per operation
#
# Uses AUTH_SERVER_BIN if set, else target/release/auth-server, else
# target/debug/auth-server (building the debug binary if neither exists).
# The venv is kept in target/schemathesis-venv (SCHEMATHESIS_VENV to move
# it). The server runs on a free loopback port with a fresh SQLite database
# and a seeded ADMIN_SYSTEM client; requests carry X-Forwarded-Proto: https
# as the mesh sidecar sends them. After the run the server's log is
# searched for the admin secret and token: finding either fails the run.
# Exits non-zero on any failure and prints schemathesis' summary.
set -euo pipefail

max_examples=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}
version=4.32.5

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  echo "schemathesis.sh: installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

bin=${AUTH_SERVER_BIN:-}
if [ -z "$bin" ]; then
  if [ -x "$root/target/release/auth-server" ]; then
    bin=$root/target/release/auth-server
  else
    [ -x "$root/target/debug/auth-server" ] || (cd "$root" && cargo build -p auth-server)
    bin=$root/target/debug/auth-server
  fi
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

admin_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
cat >"$work/clients.yaml" <<'YAML'
clients:
  confidential:
    - client_id: admin-cli
      client_secret_env_var_name: ADMIN_CLI_CLIENT_SECRET
    - client_id: my-service
      client_secret_env_var_name: MY_SERVICE_CLIENT_SECRET
      client_authentication_method: client_secret_post
      scope: read
YAML
cat >"$work/service-accounts.yaml" <<'YAML'
serviceAccounts:
  - id: svc-admin
    clientId: admin-cli
    roles: [ADMIN_SYSTEM]
  - id: svc-my-service
    clientId: my-service
    roles: [USER]
YAML
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

env -i PATH="$PATH" \
  APP_BIND="127.0.0.1:$port" \
  APP_DATABASE_URL="sqlite://$work/auth.db" \
  APP_SEED_CLIENTS_FILE="$work/clients.yaml" \
  APP_SEED_SERVICE_ACCOUNTS_FILE="$work/service-accounts.yaml" \
  ADMIN_CLI_CLIENT_SECRET="$admin_secret" \
  MY_SERVICE_CLIENT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')" \
  APP_BCRYPT_COST=4 \
  APP_TOKEN_FAILURE_LIMIT=0 \
  APP_TOKEN_FAILURE_LIMIT_PER_CLIENT=0 \
  APP_LOG_FORMAT=json \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 300); do
  if python3 - "$base" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=1)
PY
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis.sh: the server exited:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

token=$(python3 - "$base" "$admin_secret" <<'PY'
import base64, json, sys, urllib.parse, urllib.request
base, secret = sys.argv[1], sys.argv[2]
req = urllib.request.Request(
    base + "/oauth2/token",
    data=b"grant_type=client_credentials",
    headers={
        "Authorization": "Basic " + base64.b64encode(("admin-cli:" + urllib.parse.quote_plus(secret)).encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-Proto": "https",
    },
)
print(json.load(urllib.request.urlopen(req, timeout=10))["access_token"])
PY
)

status=0
# schemathesis keeps a cache in the working directory: keep it out of the
# repository.
cd "$work"
timeout 900 "$venv/bin/st" run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$max_examples" \
  --phases examples,coverage,fuzzing \
  --workers 2 \
  --seed 20260501 \
  --generation-database none \
  --request-timeout 30 \
  --header "Authorization: Bearer $token" \
  --header "X-Forwarded-Proto: https" \
  --no-color \
  --report junit --report-dir "$work/report" || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis.sh: the server died during the run:" >&2
  tail -n 50 "$work/server.log" >&2
  status=1
fi
for leak in "$admin_secret" "$token" '$2b$' '$2a$' '$2y$'; do
  if grep -qF -- "$leak" "$work/server.log"; then
    echo "schemathesis.sh: the server logged a secret, hash or token" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "schemathesis.sh: FAILED (exit $status)" >&2
else
  echo "schemathesis.sh: passed"
fi
exit "$status"
