#!/usr/bin/env bash
# Scans a log (the whole CI run's output) for what must never be printed:
# the test suite's client secrets, BCrypt hashes, our access tokens (their
# header always encodes {"typ":"at+jwt"…}) and Authorization header values.
#   bash scripts/scan-log.sh FILE      exits 1 and names the kind of leak
set -euo pipefail
log=${1:?usage: scripts/scan-log.sh FILE}
cd "$(dirname "$0")/.."
patterns=(
  '\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{20}'
  'eyJ0eXAiOiJhdCtqd3Qi'
  '(Authorization|authorization): *(Basic|Bearer) +[A-Za-z0-9+/=._-]{8}'
)
# The fixed secrets the full-server tests seed with.
while IFS= read -r secret; do
  patterns+=("$(printf '%s' "$secret" | sed 's/[][\.*^$+?(){}|/]/\\&/g')")
done < <(sed -n 's/^pub const [A-Z_]*SECRET: &str = "\(.*\)";$/\1/p' bin/auth-server/tests/it/common.rs)
kinds=("a BCrypt hash" "an access token" "an Authorization header value")
found=0
for i in "${!patterns[@]}"; do
  if grep -Eq -- "${patterns[$i]}" "$log"; then
    echo "scan-log: the log contains ${kinds[$i]:-a test client secret} (not printed)" >&2
    found=1
  fi
done
if [ "$found" -eq 0 ]; then
  echo "scan-log: no secret, hash, token or Authorization value in $(wc -l <"$log") lines"
fi
exit "$found"
