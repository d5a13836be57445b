#!/usr/bin/env bash
# Load benchmarks of issue 6 (never run in CI; nothing fails on a figure).
#
#   bash scripts/load.sh            # results in target/load/results.md
#
# What it does, bounded in time (6–10 minutes after the builds) and on
# loopback only:
#  1. installs Debian's `wrk` if it is missing; builds the release binary
#     and the criterion benches (crates/auth-bench) once;
#  2. measures the raw limits on the server's core: one BCrypt verification
#     at cost 10, one signature per algorithm (criterion, `raw` bench);
#  3. startup to ready with 100 seeded clients at cost 10 on SQLite (both
#     cores, as in production), and again with those clients present;
#  4. for SQLite, then PostgreSQL (a throwaway cluster from
#     scripts/pg-test-cluster.sh, pinned with the server): the release
#     server pinned to core SERVER_CPU, wrk pinned to core LOAD_CPU;
#     - warm path (one client, the same secret: cache hits) per signing
#       algorithm at several concurrency levels, then paced at 70 % of the
#       best rate measured;
#     - cold path (ES256; a fresh process per level, so its cache is empty,
#       and every request a different client: each one BCrypt-verified);
#     requests/s, p50/p99 latency, idle and peak RSS, each beside its raw
#     limit and the ratio.
#  5. draws the results (scripts/load_charts.py, matplotlib): throughput
#     and p50/p99 latency against concurrency, per algorithm and database,
#     into OUT/charts/*.png; docs/benchmarks.md shows a run's pictures
#     (copied to docs/images/). Redraw from a results file alone with
#     `python3 scripts/load_charts.py OUT/results.jsonl OUT/charts`.
#
# Environment: DURATION (seconds per wrk run, default 6), SERVER_CPU
# (default 0), LOAD_CPU (default 1), OUT (default target/load), SKIP_PG=1,
# ALGS (default "RS256 ES256 EdDSA"), BIN (the server binary to measure),
# SKIP_RAW=1 (no criterion limits: quicker, no ratios in results.md).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/target/load}
DURATION=${DURATION:-6}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-18480}
ALGS=${ALGS:-RS256 ES256 EdDSA}
COLD_CLIENTS=150
STARTUP_CLIENTS=100
WARM_SECRET="warm-secret-0123456789abcdefghijkl"
# BIN=path measures another build of the server (e.g. an older commit's,
# for an A/B); the default is built here.
BIN=${BIN:-$ROOT/target/release/auth-server}

log() { echo "load.sh: $*" >&2; }

mkdir -p "$OUT"
rm -rf "$OUT/run"
mkdir -p "$OUT/run"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

# --- Tools and builds -------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
fi
command -v curl >/dev/null || { apt-get update >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y curl >&2; }
log "building the release binary and the benches"
[ "$BIN" != "$ROOT/target/release/auth-server" ] || cargo build --release -p auth-server >&2
[ "${SKIP_RAW:-0}" = 1 ] || cargo bench -p auth-bench --bench raw --no-run >&2

record() { echo "$1" >>"$RESULTS"; }

{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cores=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "mem_kb=$(grep MemTotal /proc/meminfo | awk '{print $2}')"
  echo "uptime_before=$(uptime)"
} >"$OUT/machine.txt"

# --- Raw limits (criterion, pinned to the server's core) --------------------
# Measured before and after the server runs; the report uses the faster of
# the two (the least disturbed by other processes), so ratios err low.
estimate() { # group/name -> median in ns
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
    "$ROOT/target/criterion/$1/new/estimates.json"
}
raw_limits() { # WHEN
  log "raw limits on core $SERVER_CPU ($1)"
  taskset -c "$SERVER_CPU" cargo bench -p auth-bench --bench raw >"$OUT/raw-$1.txt" 2>&1
  local name
  for name in bcrypt_verify/cost_10 bcrypt_verify/cost_4 sign/RS256 sign/ES256 sign/EdDSA \
    bcrypt_verify_cpu/cost_10 bcrypt_verify_cpu/cost_4 sign_cpu/RS256 sign_cpu/ES256 sign_cpu/EdDSA; do
    record "{\"kind\":\"raw\",\"when\":\"$1\",\"name\":\"$name\",\"median_ns\":$(estimate "$name")}"
  done
}
# SKIP_RAW=1 leaves out the criterion limits (and the bench build): the
# figures and charts come out, the report of ratios to the limits does not.
[ "${SKIP_RAW:-0}" = 1 ] || raw_limits before

# --- Seed files -------------------------------------------------------------
secret_of() { printf 'cold-secret-%03d-0123456789abcdef' "$1"; }
write_seed() { # FILE N: N cold clients plus the warm client
  local file=$1 n=$2 i
  {
    echo "clients:"
    echo "  confidential:"
    echo "    - client_id: load-warm"
    echo "      client_secret_env_var_name: LOAD_WARM_SECRET"
    echo "      client_authentication_method: client_secret_post"
    echo "      scope: read"
    for ((i = 0; i < n; i++)); do
      printf '    - client_id: cold-%03d\n' "$i"
      printf '      client_secret_env_var_name: COLD_SECRET_%03d\n' "$i"
      echo "      client_authentication_method: client_secret_post"
      echo "      scope: read"
    done
  } >"$file"
}
seed_env() { # N -> env assignments
  local n=$1 i
  echo "LOAD_WARM_SECRET=$WARM_SECRET"
  for ((i = 0; i < n; i++)); do printf 'COLD_SECRET_%03d=%s\n' "$i" "$(secret_of "$i")"; done
}

# --- Server lifecycle --------------------------------------------------------
SERVER_PID=""
PG_DIR=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DIR" ]; then bash "$ROOT/scripts/pg-test-cluster.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# start_server CPUS DB_URL ALG SEED_FILE SEED_N LOGNAME -> sets SERVER_PID, STARTUP_MS
start_server() {
  local cpus=$1 url=$2 alg=$3 seed=$4 n=$5 name=$6
  local envs=(
    "PATH=$PATH"
    "APP_BIND=127.0.0.1:$PORT"
    "APP_DATABASE_URL=$url"
    "APP_SIGNING_ALG=$alg"
    "APP_SEED_CLIENTS_FILE=$seed"
    "APP_ISSUER=https://auth.load.test"
  )
  mapfile -t -O "${#envs[@]}" envs < <(seed_env "$n")
  local t0
  t0=$(date +%s%N)
  taskset -c "$cpus" env -i "${envs[@]}" "$BIN" serve >"$OUT/run/$name.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 120))
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "server $name died"; tail -5 "$OUT/run/$name.log" >&2; exit 1; fi
    [ $SECONDS -lt $deadline ] || { log "server $name not ready in 120 s"; exit 1; }
    sleep 0.02
  done
  STARTUP_MS=$((($(date +%s%N) - t0) / 1000000))
  STARTUP_CPU=$(cpu_s)
}
stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
TICK=$(getconf CLK_TCK)
cpu_s() { # the server's user + system CPU time so far, in seconds
  awk -v t="$TICK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$SERVER_PID/stat"
}
rss_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
metric() { # name{labels} -> value or 0
  curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2; found=1} END {if (!found) print 0}'
}

# --- wrk ---------------------------------------------------------------------
cat >"$OUT/run/warm.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=load-warm&client_secret=$WARM_SECRET&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Forwarded-Proto"] = "https"
local pause = tonumber(os.getenv("PAUSE_MS") or "0")
if pause > 0 then delay = function() return pause end end
EOF
cat >"$OUT/run/cold.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Forwarded-Proto"] = "https"
local n = tonumber(os.getenv("COLD_CLIENTS"))
local i = -1
request = function()
  i = i + 1
  local k = i % n
  local body = string.format(
    "grant_type=client_credentials&client_id=cold-%03d&client_secret=cold-secret-%03d-0123456789abcdef&scope=read", k, k)
  return wrk.format(nil, nil, nil, body)
end
EOF

# run_wrk LABEL SCRIPT CONNECTIONS [PAUSE_MS] -> prints the wrk output file
run_wrk() { # LABEL SCRIPT CONNECTIONS [PAUSE_MS] [PATH]; SCRIPT "" = plain GET
  local label=$1 script=$2 conns=$3 pause=${4:-0} path=${5:-/oauth2/token}
  local file="$OUT/run/wrk-$label.txt"
  local cpu0
  cpu0=$(cpu_s)
  local with_script=()
  [ -z "$script" ] || with_script=(-s "$script")
  PAUSE_MS=$pause COLD_CLIENTS=$COLD_CLIENTS taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s --latency "${with_script[@]}" \
    "http://127.0.0.1:$PORT$path" >"$file" 2>&1
  echo "server_cpu_s=$(python3 -c "print(round($(cpu_s) - $cpu0, 3))")" >>"$file"
  echo "$file"
}
parse_wrk() { # FILE -> JSON fields
  python3 - "$1" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
def dur(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
lat = {m.group(1): dur(m.group(2), m.group(3))
       for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = re.search(r"Socket errors:.*", text)
total = re.search(r"(\d+) requests in", text)
cpu = re.search(r"server_cpu_s=([\d.]+)", text)
print(json.dumps({
    "rps": float(rps.group(1)) if rps else 0.0,
    "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
    "requests": int(total.group(1)) if total else 0,
    "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    "socket_errors": errors.group(0) if errors else None,
    "server_cpu_s": float(cpu.group(1)) if cpu else None,
})[1:-1])
EOF
}

# --- Per database -------------------------------------------------------------
bench_db() { # DBNAME URL
  local db=$1 url=$2 alg conns file
  write_seed "$OUT/run/seed-$db.yaml" "$COLD_CLIENTS"
  for alg in $ALGS; do
    start_server "$SERVER_CPU" "$url" "$alg" "$OUT/run/seed-$db.yaml" "$COLD_CLIENTS" "$db-$alg"
    log "$db $alg: ready in ${STARTUP_MS} ms"
    sleep 1
    local idle
    idle=$(rss_kb VmRSS)
    # One request first, so the series measures cache hits only: without
    # it the first requests of a level all miss at once and each pays a
    # BCrypt verification (72 ms of the one core), which is the cold path.
    curl -fs -o /dev/null -H 'X-Forwarded-Proto: https' \
      -d "grant_type=client_credentials&client_id=load-warm&client_secret=$WARM_SECRET&scope=read" \
      "http://127.0.0.1:$PORT/oauth2/token"
    if [ "$alg" = ES256 ]; then
      # The HTTP floor: GET /healthz through the same middleware and access
      # log, no body, no database, no signature.
      file=$(run_wrk "$db-floor-healthz" "" 16 0 /healthz)
      record "{\"kind\":\"floor\",\"db\":\"$db\",\"conns\":16,$(parse_wrk "$file")}"
    fi
    local best=0
    for conns in 1 16 64 256; do
      file=$(run_wrk "$db-warm-$alg-c$conns" "$OUT/run/warm.lua" "$conns")
      local fields
      fields=$(parse_wrk "$file")
      record "{\"kind\":\"warm\",\"db\":\"$db\",\"alg\":\"$alg\",\"conns\":$conns,$fields,\"idle_rss_kb\":$idle,\"peak_rss_kb\":$(rss_kb VmHWM)}"
      best=$(python3 -c "import json,sys; r=json.loads('{'+sys.argv[1]+'}')['rps']; print(max(float(sys.argv[2]), r))" "$fields" "$best")
      log "$db $alg c=$conns: $fields"
    done
    # Paced at 70 % of the best rate: each connection waits PAUSE_MS between
    # requests, so the rate is about conns * 1000 / (PAUSE_MS + latency).
    local pause=10 target
    target=$(python3 -c "print(0.7 * float('$best'))")
    conns=$(python3 -c "import math; print(max(1, math.ceil(float('$target') * ($pause + 0.3) / 1000)))")
    file=$(run_wrk "$db-paced-$alg" "$OUT/run/warm.lua" "$conns" "$pause")
    record "{\"kind\":\"paced\",\"db\":\"$db\",\"alg\":\"$alg\",\"conns\":$conns,\"target_rps\":$target,\"best_rps\":$best,$(parse_wrk "$file")}"
    record "{\"kind\":\"cache\",\"db\":\"$db\",\"alg\":\"$alg\",\"hits\":$(metric 'auth_server_verified_secret_cache_lookups_total{result="hit"}'),\"misses\":$(metric 'auth_server_verified_secret_cache_lookups_total{result="miss"}')}"
    stop_server
  done
  # Cold: a fresh process per level, every request a client not seen yet.
  for conns in 1 2 4; do
    start_server "$SERVER_CPU" "$url" ES256 "$OUT/run/seed-$db.yaml" "$COLD_CLIENTS" "$db-cold-c$conns"
    sleep 1
    file=$(run_wrk "$db-cold-c$conns" "$OUT/run/cold.lua" "$conns")
    record "{\"kind\":\"cold\",\"db\":\"$db\",\"alg\":\"ES256\",\"conns\":$conns,$(parse_wrk "$file"),\"hits\":$(metric 'auth_server_verified_secret_cache_lookups_total{result="hit"}'),\"misses\":$(metric 'auth_server_verified_secret_cache_lookups_total{result="miss"}'),\"peak_rss_kb\":$(rss_kb VmHWM)}"
    log "cold $db c=$conns done"
    stop_server
  done
}

# --- Startup to ready with 100 new clients (SQLite, both cores) ----------------
log "startup with $STARTUP_CLIENTS seeded clients"
write_seed "$OUT/run/seed-startup.yaml" "$STARTUP_CLIENTS"
rm -f "$OUT/run/startup.db"*
start_server "0-$(($(nproc) - 1))" "sqlite://$OUT/run/startup.db" ES256 "$OUT/run/seed-startup.yaml" "$STARTUP_CLIENTS" startup-new
record "{\"kind\":\"startup\",\"clients\":$((STARTUP_CLIENTS + 1)),\"new\":true,\"cores\":$(nproc),\"ms\":$STARTUP_MS,\"cpu_s\":$STARTUP_CPU,\"idle_rss_kb\":$(rss_kb VmRSS)}"
stop_server
start_server "0-$(($(nproc) - 1))" "sqlite://$OUT/run/startup.db" ES256 "$OUT/run/seed-startup.yaml" "$STARTUP_CLIENTS" startup-existing
record "{\"kind\":\"startup\",\"clients\":$((STARTUP_CLIENTS + 1)),\"new\":false,\"cores\":$(nproc),\"ms\":$STARTUP_MS,\"cpu_s\":$STARTUP_CPU}"
stop_server

log "SQLite"
rm -f "$OUT/run/load.db"*
bench_db sqlite "sqlite://$OUT/run/load.db"

if [ "${SKIP_PG:-0}" != 1 ]; then
  log "PostgreSQL"
  PG_DIR=$OUT/run/pg
  eval "$(taskset -c "$SERVER_CPU" bash "$ROOT/scripts/pg-test-cluster.sh" start "$PG_DIR")"
  bench_db postgres "$TEST_DATABASE_URL"
fi

[ "${SKIP_RAW:-0}" = 1 ] || raw_limits after
echo "uptime_after=$(uptime)" >>"$OUT/machine.txt"
if [ "${SKIP_RAW:-0}" = 1 ]; then
  printf '# Load results\n\nRaw limits skipped (SKIP_RAW=1): see %s and the charts.\n' "$RESULTS" >"$OUT/results.md"
else
python3 - "$RESULTS" "$OUT/machine.txt" >"$OUT/results.md" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
machine = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]) if "=" in l)
raw = {}
for r in rows:
    if r["kind"] == "raw":
        raw.setdefault(r["name"], {})[r["when"]] = r["median_ns"]
best = {k: min(v.values()) for k, v in raw.items()}
wall = lambda what: best[what]
cpu = lambda what: best[what.replace("/", "_cpu/", 1)]
out = []
p = out.append
def f(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)
p("# Load results\n")
for k in ("date", "cpu", "cores", "kernel", "uptime_before", "uptime_after"):
    p(f"- {k}: {machine.get(k, '?')}")
p("\nThe server runs on one core (taskset), wrk on the other. \"per CPU-s\" divides the")
p("requests of a run by the CPU time the server process spent in it (user + system),")
p("so it is the throughput of one fully used core whatever else ran on the machine;")
p("its limit is the raw figure measured in CPU time of one thread.\n")
p("## Raw limits (criterion medians on the server's core; before / after the runs)\n")
p("| what | wall before | wall after | CPU before | CPU after | used: per wall-s | per CPU-s |")
p("|---|---|---|---|---|---|---|")
for name in ("bcrypt_verify/cost_10", "bcrypt_verify/cost_4", "sign/RS256", "sign/ES256", "sign/EdDSA"):
    w, c = raw[name], raw[name.replace("/", "_cpu/", 1)]
    ms = lambda d, k: f"{d[k]/1e6:.3f} ms" if k in d else "-"
    p(f"| {name} | {ms(w,'before')} | {ms(w,'after')} | {ms(c,'before')} | {ms(c,'after')} | "
      f"{1e9/wall(name):,.1f} | {1e9/cpu(name):,.1f} |")
p("\n## Warm path (one client, cache hits)\n")
p("| db | alg | conns | req/s | p50 ms | p99 ms | server CPU use | req per CPU-s | raw sig per CPU-s | ratio | non-2xx | idle RSS MB | peak RSS MB |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] != "warm":
        continue
    lim = 1e9 / cpu("sign/" + r["alg"])
    per_cpu = r["requests"] / r["server_cpu_s"] if r["server_cpu_s"] else None
    use = r["server_cpu_s"] * r["rps"] / r["requests"] if r["requests"] else None
    p(f"| {r['db']} | {r['alg']} | {r['conns']} | {r['rps']:,.0f} | {f(r['p50_ms'])} | {f(r['p99_ms'])} | "
      f"{f(use)} | {f(per_cpu, '{:,.0f}')} | {lim:,.0f} | {f(per_cpu / lim if per_cpu else None)} | "
      f"{r['non_2xx']} | {r['idle_rss_kb']/1024:.1f} | {r['peak_rss_kb']/1024:.1f} |")
p("\n## HTTP floor: GET /healthz, 16 connections, same server and core\n")
p("What a request costs with no body, database read or signature: HTTP over loopback,")
p("the middleware and the access-log line. The best a warm token request can reach is")
p("one floor plus one signature, so the attainable ratio is sign / (floor + sign).\n")
p("| db | req/s | req per CPU-s | µs of CPU per request | attainable ratio ES256 | attainable ratio EdDSA | attainable ratio RS256 |")
p("|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "floor" and r["server_cpu_s"]:
        us = r["server_cpu_s"] / r["requests"] * 1e6
        att = lambda alg: (cpu("sign/" + alg) / 1e3) / (us + cpu("sign/" + alg) / 1e3)
        p(f"| {r['db']} | {r['rps']:,.0f} | {r['requests']/r['server_cpu_s']:,.0f} | {us:.1f} | "
          f"{att('ES256'):.2f} | {att('EdDSA'):.2f} | {att('RS256'):.2f} |")
p("\n## Warm path paced at 70 % of the best rate\n")
p("| db | alg | best req/s | target req/s | achieved req/s | conns | p50 ms | p99 ms | p99 < 5 ms |")
p("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "paced":
        ok = r["p99_ms"] is not None and r["p99_ms"] < 5
        p(f"| {r['db']} | {r['alg']} | {r['best_rps']:,.0f} | {r['target_rps']:,.0f} | {r['rps']:,.0f} | {r['conns']} | "
          f"{f(r['p50_ms'])} | {f(r['p99_ms'])} | {'yes' if ok else 'no'} |")
bw, bc = wall("bcrypt_verify/cost_10"), cpu("bcrypt_verify/cost_10")
p("\n## Cold path (ES256; every request a new client, BCrypt cost 10)\n")
p(f"One verification: {bw/1e6:.1f} ms wall, {bc/1e6:.1f} ms CPU; limit {1e9/bw:.2f}/s per wall-s, {1e9/bc:.2f}/s per CPU-s on one core.\n")
p("| db | conns | req/s | ratio (wall) | req per CPU-s | ratio (CPU) | p50 ms | p50 / one verification (wall) | p99 ms | cache hits | misses | non-2xx |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "cold":
        per_cpu = r["requests"] / r["server_cpu_s"] if r["server_cpu_s"] else None
        p50 = r["p50_ms"]
        p(f"| {r['db']} | {r['conns']} | {r['rps']:.2f} | {r['rps']*bw/1e9:.2f} | {f(per_cpu)} | "
          f"{f(per_cpu*bc/1e9 if per_cpu else None)} | {f(p50)} | {f(p50*1e6/bw if p50 else None)} | "
          f"{f(r['p99_ms'])} | {r['hits']} | {r['misses']} | {r['non_2xx']} |")
p("\n## Cache counters after each warm series\n")
p("| db | alg | hits | misses |\n|---|---|---|---|")
for r in rows:
    if r["kind"] == "cache":
        p(f"| {r['db']} | {r['alg']} | {r['hits']} | {r['misses']} |")
p("\n## Startup to ready (SQLite, all cores; one extra BCrypt hash is the dummy hash)\n")
p("| seeded clients | new | wall ms | server CPU s | hashing CPU s (n+1 hashes) | CPU / hashing | cores used (CPU / wall) |")
p("|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] == "startup":
        hashes = (r["clients"] + 1) if r["new"] else 1
        hcpu = hashes * bc / 1e9
        p(f"| {r['clients']} | {r['new']} | {r['ms']} | {r['cpu_s']:.2f} | {hcpu:.2f} | {r['cpu_s']/hcpu:.2f} | {r['cpu_s']*1000/r['ms']:.2f} |")
print("\n".join(out))
EOF
fi

# --- Charts --------------------------------------------------------------------
# matplotlib comes from Debian (python3-matplotlib), in the system python,
# which need not be the python3 first on PATH.
chart_py=python3
if ! python3 -c 'import matplotlib' 2>/dev/null; then
  if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    log "installing python3-matplotlib"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-matplotlib >&2
  fi
  chart_py=/usr/bin/python3
fi
"$chart_py" "$ROOT/scripts/load_charts.py" "$RESULTS" "$OUT/charts" "$OUT/machine.txt" >&2

log "done: $OUT/results.md and $OUT/charts/*.png"
cat "$OUT/results.md"
